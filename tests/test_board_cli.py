"""`otaloop board` as a subprocess: its console line, a live pty, SIGTERM saves state, a second run reuses
it, and bad arguments give a one-line error with exit status 2. Also `otaloop run` as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from harness.board_link.console import Console
from harness.board_link.driver import BoardDriver
from harness.board_link.transport import open_port
from harness.image.server import ImageServer
from harness.served_board.power_channel import ChannelPower

CLI = [sys.executable, "-m", "harness.cli"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with ImageServer() as srv:
        yield srv


def _start(state: Path, factory: Path | None = None) -> tuple[subprocess.Popen[str], serial.SerialBase]:
    """`otaloop board` on a pty, switched on through its control socket once the console is open.

    As on a bench, the port is opened before the board is powered: opening a serial port discards what
    the board printed before (pyserial flushes the input queue), so a board that boots before a slow host
    opens its console loses its banner to nobody.
    """
    ctl = state.parent / f"{state.name}.ctl"
    argv = [*CLI, "board", "--state", str(state), "--control", str(ctl), "--off"]
    argv += ["--factory", str(factory)] if factory else []
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("console: /dev/pts/"), first
    assert proc.stdout.readline().strip() == f"control: {ctl}"
    port = open_port(first.split(" ", 1)[1].strip())
    ChannelPower(ctl).on()
    return proc, port


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    return proc.returncode, out, err


def test_board_serves_a_pty_saves_on_sigterm_and_resumes(tmp_path: Path, server: ImageServer) -> None:
    url = server.url("/ota.json")
    factory = tmp_path / "app_v1.bin"
    factory.write_bytes(build_app(AppDescriptor(version=1, manifest_url=url), 80_000))
    v2 = build_app(AppDescriptor(version=2, manifest_url=url), 90_000)
    iu, digest = server.put_image("app_v2.bin", v2)
    server.put_manifest(2, iu, digest)
    state = tmp_path / "state"

    proc, port = _start(state, factory)
    try:
        drv = BoardDriver(Console(port), boot_timeout=20)
        assert drv.wait_boot().app_version == 1
        assert drv.wait_boot().app_version == 2  # the periodic check found v2 and the board reset into it
        drv.console.expect(b"IP address obtained", 10)
        assert drv.status().version == 2  # the pty answers commands
    finally:
        port.close()
    code, out, err = _stop(proc)
    assert code == 0 and out == "" and "Traceback" not in err
    assert (state / "internal.bin").stat().st_size == 1 << 20

    server.put_manifest(1, server.url("/none.bin"), "00" * 32)  # nothing newer: the board must stay on v2
    proc, port = _start(state)  # no --factory: the saved board is reused
    try:
        drv = BoardDriver(Console(port), boot_timeout=20)
        drv.console.send_line("reset")
        info = drv.wait_boot()
        assert info.app_version == 2 and info.bootloader_lines == ()
    finally:
        port.close()
    code, out, _ = _stop(proc)
    assert code == 0 and out == ""


def test_board_prints_its_paths_as_given_and_ends_without_resaving_an_unchanged_state(tmp_path: Path) -> None:
    """`console: ./board1.tty` as docs/real-boards.md shows it; SIGTERM of a board whose state is already
    saved writes nothing more (an exit save of 5 MiB, fsynced, is what made a stop slow on a busy disk)."""
    app = tmp_path / "app.bin"
    app.write_bytes(build_app(AppDescriptor(version=1, manifest_url="http://127.0.0.1:1/ota.json"), 8192))
    argv = [*CLI, "board", "--factory", str(app), "--state", "./board1", "--console-link", "./board1.tty"]
    argv += ["--control", "./board1.ctl", "--off"]  # off: no flash operation after the first save
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=tmp_path)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "console: ./board1.tty\n"
    assert proc.stdout.readline() == "control: ./board1.ctl\n"
    saved = {name: (tmp_path / "board1" / name).stat() for name in ("internal.bin", "external.bin", "board.json")}
    code, _, err = _stop(proc)
    assert code == 0, err
    for name, before in saved.items():
        after = (tmp_path / "board1" / name).stat()  # a save replaces each file (a new inode)
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--state", "{tmp}/empty"], "holds no board yet: give --factory"),
        (["--state", "{tmp}/s", "--factory", "{tmp}/missing.bin"], "cannot read"),
        (["--state", "{tmp}/s", "--factory", "{app}", "--quirks", "nonsense"], "nonsense"),
        (["--state", "{tmp}/s", "--factory", "{app}", "--console", "serial9"], "bad console 'serial9'"),
        (["--state", "{tmp}/s", "--factory", "{app}", "--speed", "0"], "--speed must be > 0"),
        (["--state", "{tmp}/s", "--factory", "{app}", "--console", "serial"], "bad console 'serial'"),
        (["--state", "{tmp}/s", "--factory", "{tmp}", "--console", "pty"], "cannot read"),
        (["--state", "{tmp}/s", "--factory", "{app}", "--hold", "2"], "--hold applies to --console-link only"),
        (["--state", "{tmp}/s", "--factory", "{app}", "--console-link", "{tmp}/l", "--hold", "nan"], "got nan"),
        (["--state", "{tmp}/s", "--factory", "{app}", "--console-link", "{tmp}/l", "--hold", "inf"], "got inf"),
        (["--state", "{tmp}/s", "--factory", "{app}", "--console-link", "{tmp}/l", "--hold", "-1"], "got -1"),
    ],
)
def test_board_bad_arguments_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    app = tmp_path / "app.bin"
    app.write_bytes(build_app(AppDescriptor(version=1, manifest_url="http://127.0.0.1:1/ota.json"), 8192))
    argv = [a.format(tmp=tmp_path, app=app) for a in args]
    done = subprocess.run([*CLI, "board", *argv], capture_output=True, text=True, env=ENV, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("otaloop board: error: ") and message in lines[0], done.stderr
    assert not (tmp_path / "s").exists() and not (tmp_path / "empty").exists()  # a failed start leaves nothing


def test_a_factory_variant_image_is_provisioned_as_its_application(tmp_path: Path) -> None:
    from harness.cli import main

    factory = tmp_path / "factory.bin"  # what `otaloop image --factory` writes: full slot, byte 0 = F8
    url = "http://127.0.0.1:1/ota.json"
    assert main(["image", "--synthetic", "--factory", "--manifest-url", url, "-o", str(factory)]) == 0
    state = tmp_path / "state"
    proc, port = _start(state, factory)
    try:
        drv = BoardDriver(Console(port), boot_timeout=20)
        assert drv.wait_boot().app_version == 1
    finally:
        port.close()
        code, _, err = _stop(proc)  # stopped whatever happened, so no board outlives the test
    assert code == 0 and "factory-reset variant" in err and "Traceback" not in err
    # The first boot made the factory backup on a freshly formatted volume, as after MPLAB programming.
    listed = subprocess.run(
        [*CLI, "flash", "ls", str(state / "external.bin"), "/ota"], capture_output=True, text=True, env=ENV, timeout=60
    )
    assert listed.returncode == 0 and "factory_reset.bin" in listed.stdout, listed.stdout + listed.stderr


def test_an_f8_image_short_of_the_full_slot_is_refused_in_one_line(tmp_path: Path) -> None:
    from harness.cli import main

    factory = tmp_path / "factory.bin"
    url = "http://127.0.0.1:1/ota.json"
    assert main(["image", "--synthetic", "--factory", "--manifest-url", url, "-o", str(factory)]) == 0
    short = tmp_path / "short.bin"
    short.write_bytes(factory.read_bytes()[:-1])
    argv = [*CLI, "board", "--state", str(tmp_path / "s"), "--factory", str(short)]
    done = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "otaloop board: error: image of 913407 bytes has byte 0 = 0xF8, the mark of hex2bin's factory variant, "
        "but a factory variant is the whole slot: exactly 0xDF000 = 913408 bytes (otaloop image --factory); give "
        "that, or the application .bin as hex2bin writes it (byte 0 = 0xFF)"
    ]
    assert not (tmp_path / "s").exists()  # nothing provisioned, no state directory left behind


def test_run_with_a_bootloader_cache_that_holds_no_build_is_one_error_before_any_scenario(tmp_path: Path) -> None:
    argv = [*CLI, "run", "--bootloader", f"native:{tmp_path / 'nonexistent'}", "--only", "c_update", "d_http_404"]
    done = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=120)
    assert done.returncode == 2 and done.stdout == ""  # no scenario ran, no summary
    assert done.stderr.splitlines() == [
        f"otaloop run: error: {tmp_path / 'nonexistent'} holds no native build (build.json missing): "
        "run otaloop native build first"
    ]


def test_run_two_scenarios_exit_zero_and_summary() -> None:
    done = subprocess.run(
        [*CLI, "run", "--only", "c_update", "d_http_404"], capture_output=True, text=True, env=ENV, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split()[:2] for line in done.stdout.splitlines() if line.startswith(("c_update", "d_http_404"))]
    assert rows == [["c_update", "PASS"], ["d_http_404", "PASS"]]
    assert "2 passed, 0 failed, 0 skipped" in done.stdout


def test_run_unknown_scenario_and_list() -> None:
    bad = subprocess.run([*CLI, "run", "--only", "zz"], capture_output=True, text=True, env=ENV, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "otaloop run: error: unknown scenario zz; `otaloop run --list` shows them"
    )
    listed = subprocess.run([*CLI, "run", "--list"], capture_output=True, text=True, env=ENV, timeout=60)
    assert listed.returncode == 0
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert names[:3] == ["first_boot", "b_no_update", "c_update"] and "small_image" in names


def test_run_fails_with_exit_one_when_a_scenario_fails() -> None:
    # The corrected profile lets a 3 KiB image download (quirk core-image-min-4k off): the
    # Harmony-faithful small_image scenario must then fail and the exit status say so.
    done = subprocess.run(
        [*CLI, "run", "--only", "small_image", "--quirks", "corrected", "--link", "inproc"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout
    assert "0 passed, 1 failed" in done.stdout and "Failures:" in done.stdout


def test_demo_checks_fixtures_then_runs_scenarios(tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "demo", "--only", "c_update", "--log-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.index("ELF-built and HEX-built .bin are byte-identical") < out.index("c_update  ")
    assert "1 passed, 0 failed, 0 skipped" in out
    log = (tmp_path / "c_update.log").read_text()
    assert "APP: version 2" in log  # the raw console log of the scenario


def test_a_killed_board_keeps_its_flash_writes(tmp_path: Path, server: ImageServer) -> None:
    """SIGKILL right after a download (no reset: autoreset off) must not lose the downloaded image."""
    url = server.url("/ota.json")
    factory = tmp_path / "app_v1.bin"
    # The first check comes 602 board seconds (0.6 s wall) after boot, well after the save of the first
    # boot's reset: only a save after the download itself can keep it.
    desc = AppDescriptor(version=1, manifest_url=url, autoreset=False, interval_s=600)
    factory.write_bytes(build_app(desc, 60_000))
    iu, digest = server.put_image("wifi_ota_app_upgrade_ver2.bin", build_app(AppDescriptor(version=2), 60_000))
    server.put_manifest(2, iu, digest)
    state = tmp_path / "state"
    proc, port = _start(state, factory)
    try:
        drv = BoardDriver(Console(port), boot_timeout=20)
        drv.wait_event("SYS_OTA_UPDATE_CHECK_START", timeout=30)
        drv.events_until({"SYS_OTA_DB_ENTRY_SUCCESS"}, timeout=30)
        drv.status()  # a full command round trip: the board has run well past the last flash write
        drv.console.drain(quiet=0.6)  # and at least one 0.2 s save turn has passed
    finally:
        port.close()
    proc.kill()
    proc.wait(timeout=10)
    proc, port = _start(state)
    try:
        drv = BoardDriver(Console(port), boot_timeout=20)
        # The download, its DB row and boot control F0 survived the kill: power-on programs v2.
        assert drv.wait_boot().app_version == 2
        rows = drv.image_db()
        assert rows is not None and [r[0] for r in rows] == ["wifi_ota_app_upgrade_ver2.bin"]
    finally:
        port.close()
        assert _stop(proc)[0] == 0
