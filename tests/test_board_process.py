"""`otaloop board` as a process: speeds it cannot honour are refused, SIGTERM ends it and saves its state
at any speed and in the middle of a download."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootloader_model.board.virtual_board import VirtualBoard
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import OTA_DIR
from harness.board_link.console import Console
from harness.board_link.transport import open_port
from harness.image.server import Fault, FaultKind, ImageServer
from harness.served_board.runner import MAX_SPEED
from tests.test_board_cli import CLI, ENV


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with ImageServer(max_hold=60) as srv:
        yield srv


def _factory(tmp_path: Path, url: str) -> Path:
    app = tmp_path / "app_v1.bin"
    app.write_bytes(build_app(AppDescriptor(version=1, manifest_url=url), 80_000))
    return app


@pytest.mark.parametrize("speed", ["inf", "nan", "-inf", "1e9", f"{MAX_SPEED * 2:g}"])
def test_speeds_the_runner_cannot_honour_are_refused(tmp_path: Path, speed: str) -> None:
    app = _factory(tmp_path, "http://127.0.0.1:1/ota.json")
    argv = [*CLI, "board", "--state", str(tmp_path / "s"), "--factory", str(app), f"--speed={speed}"]
    done = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("otaloop board: error: --speed must be > 0 and at most"), lines
    assert not (tmp_path / "s" / "internal.bin").exists()  # refused before anything was provisioned


def test_sigterm_at_the_highest_speed_during_a_slow_download_exits_and_saves(
    tmp_path: Path, server: ImageServer
) -> None:
    url = server.url("/ota.json")
    app = _factory(tmp_path, url)
    image = build_app(AppDescriptor(version=2, manifest_url=url), 300_000)
    iu, digest = server.put_image("app_v2.bin", image)
    server.put_manifest(2, iu, digest)
    server.fault("/app_v2.bin", Fault(FaultKind.SLOW, seconds=0.02))
    state = tmp_path / "state"
    argv = [*CLI, "board", "--state", str(state), "--factory", str(app), f"--speed={MAX_SPEED:g}"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        assert proc.stdout is not None
        tty = proc.stdout.readline().split(" ", 1)[1].strip()
        port = open_port(tty)
        try:
            con = Console(port)
            con.expect(b"SYS_OTA_DOWNLOAD_START", 60)
            for _ in range(100):  # wait until the first KiB reached flash
                con.send_line("otactl status")
                if int(con.expect(re.compile(rb"downloaded=(\d+)"), 30).group(1)) > 0:
                    break
        finally:
            port.close()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)  # a hung board fails here
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "Traceback" not in err, err
    # What the download had written was saved on the way out: the image file exists in /ota on the volume.
    board = VirtualBoard()
    board.load(state)
    fs = ExternalFlash(board.external)
    fs.mount()
    assert any(name.lower().endswith(".bin") for name in fs.listdir(OTA_DIR)), fs.listdir(OTA_DIR)


@pytest.fixture
def running_board(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, Path]]:
    """An `otaloop board --state DIR --control SOCKET` process, up and serving: (process, state, socket)."""
    app = _factory(tmp_path, "http://127.0.0.1:1/ota.json")
    state, ctl = tmp_path / "state", tmp_path / "board.ctl"
    argv = [*CLI, "board", "--state", str(state), "--factory", str(app), "--control", str(ctl)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("console: ")
        assert proc.stdout.readline().strip() == f"control: {ctl}"
        yield proc, state, ctl
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.communicate(timeout=60)


def test_otaloop_power_against_a_stopped_board_fails_naming_the_socket_and_the_timeout(
    running_board: tuple[subprocess.Popen[str], Path, Path],
) -> None:
    proc, _, ctl = running_board
    status = [*CLI, "power", "status", "--control", str(ctl), "--timeout", "0.5"]
    done = subprocess.run(status, capture_output=True, text=True, env=ENV, timeout=120)
    assert (done.returncode, done.stdout) == (0, "on\n"), done.stderr
    proc.send_signal(signal.SIGSTOP)
    done = subprocess.run(status, capture_output=True, text=True, env=ENV, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"otaloop power: board error: control channel {ctl}: no answer to 'status' within 0.5 s "
        "(is the board process stopped?)"
    ]
    proc.send_signal(signal.SIGCONT)  # the board answers again, the abandoned request does it no harm
    done = subprocess.run(status, capture_output=True, text=True, env=ENV, timeout=120)
    assert (done.returncode, done.stdout) == (0, "on\n"), done.stderr


def test_flash_commands_refuse_the_state_directory_of_a_running_board(
    running_board: tuple[subprocess.Popen[str], Path, Path], tmp_path: Path
) -> None:
    proc, state, _ = running_board
    image = state / "external.bin"
    before = image.read_bytes()
    note = tmp_path / "note.txt"
    note.write_bytes(b"hello")
    copy = tmp_path / "copy.bin"
    copy.write_bytes(before)
    for argv in (
        ["flash", "put", str(image), str(note), "/ota/note.txt"],
        ["flash", "format", str(image)],
        ["flash", "load", str(state), str(copy)],
    ):
        done = subprocess.run([*CLI, *argv], capture_output=True, text=True, env=ENV, timeout=120)
        assert done.returncode == 2 and done.stdout == "", argv
        assert done.stderr.splitlines() == [
            f"otaloop flash: error: state directory {state} is in use by another otaloop board (PID {proc.pid}); "
            "stop that board or use another directory (nothing changed: a running board would overwrite "
            "external.bin at its next save)"
        ], argv
    # Stopped, the board has saved its state and released the lock: the same put now lands and stays.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    put = subprocess.run(
        [*CLI, "flash", "put", str(image), str(note), "/ota/note.txt"], capture_output=True, env=ENV, timeout=120
    )
    assert put.returncode == 0, put.stderr
    board = VirtualBoard()
    board.load(state)
    fs = ExternalFlash(board.external)
    fs.mount()
    assert "note.txt" in fs.listdir(OTA_DIR)
