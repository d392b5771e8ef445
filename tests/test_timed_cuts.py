"""Power cuts at a moment: "N ms after the console shows PATTERN" on the model (exact, mapped to the flash
operation it hits and checked against the exact sweep's own flash bytes), on the in-process virtual bench, on a
board served by `otaloop board --control` (the board cuts itself) and with power commands (the host cuts), and
`otaloop sweep timed` on the model and on a served board."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootloader_model.board.virtual_board import BoardConfig, VirtualBoard
from bootloader_model.errors import CallerError
from bootloader_model.storage.nor_flash import CutMode
from conftest import write_board_images
from harness.image.server import ImageServer
from harness.scenarios import CONFIGS
from harness.scenarios.benches import SerialBench, virtual_bench
from harness.served_board.power_channel import ChannelPower
from harness.sweeps.fault_ids import Params
from harness.sweeps.timed.cut import arm_cut
from harness.sweeps.timed.sweep import CONSOLE_VERDICTS, bench_case, console_verdict, delays_ms, model_case
from harness.sweeps.update import Reference, UpdateRig, judge_state, record, synthesize
from harness.sweeps.verdicts import Verdict

CLI = [sys.executable, "-m", "harness.cli"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
BANNER = "BOOTLOADER Build"


@pytest.fixture(scope="module")
def update() -> Iterator[tuple[UpdateRig, Reference]]:
    with ImageServer() as server:
        rig = UpdateRig(Params(), server)
        yield rig, record(rig)


@pytest.mark.parametrize(
    ("pattern", "delay_ms", "mode", "phase"),
    [
        (BANNER, 5, CutMode.TORN, "bootloader"),  # inside the first page erase (20 ms each)
        (BANNER, 20, CutMode.BEFORE, "bootloader"),  # exactly between the first and the second erase
        (BANNER, 2345, CutMode.TORN, "bootloader"),
        ("SYS_OTA_DOWNLOAD_START", 0, CutMode.BEFORE, "app v1"),  # no flash busy: before the first write
        ("SYS_OTA_DOWNLOAD_START", 300, CutMode.TORN, "app v1"),
    ],
)
def test_a_moment_on_the_model_is_the_exact_sweeps_case(
    update: tuple[UpdateRig, Reference], pattern: str, delay_ms: float, mode: CutMode, phase: str
) -> None:
    rig, ref = update
    case = model_case(rig, ref, pattern, delay_ms)
    assert case.cut is not None and case.cut.exact and case.fault is not None
    assert case.fault.mode is mode and case.phase == phase
    # The flash bytes the timed cut left are those the exact sweep rebuilds for that fault id ...
    assert case.state == synthesize(rig, ref, case.fault)
    # ... so the verdict is the exact sweep's verdict of that case.
    assert case.verdict is judge_state(rig, synthesize(rig, ref, case.fault))[0].verdict


def test_moments_across_the_programming_window_walk_the_erases_in_order(update: tuple[UpdateRig, Reference]) -> None:
    rig, ref = update
    cases = [model_case(rig, ref, BANNER, d) for d in (10, 30, 50, 70)]
    ops = [c.fault.op for c in cases if c.fault is not None]
    assert len(ops) == 4 and ops == sorted(ops) and len(set(ops)) == 4  # 20 ms page erases: one apart each
    assert all(c.verdict is Verdict.FACTORY_FALLBACK for c in cases[1:])  # boot control erased: factory


def test_a_moment_after_the_update_cuts_nothing_that_matters(update: tuple[UpdateRig, Reference]) -> None:
    rig, ref = update
    case = model_case(rig, ref, BANNER, 60_000)
    assert case.verdict is Verdict.NEW_IMAGE
    assert case.fault is None  # past the last flash operation of the update (or never reached)


def test_a_pattern_split_across_console_writes_still_times_the_cut() -> None:
    board = VirtualBoard()
    board.arm_moment_cut("version 7", 0.5)
    board._print(b"APP: vers")  # the console writes the pattern in two pieces
    board._print(b"ion 7\r\n")
    cut = board._moment_cut
    assert cut is not None and cut.at == pytest.approx(0.5)
    with pytest.raises(CallerError, match="empty"):
        board.arm_moment_cut("", 0.1)


def test_the_pattern_is_found_after_the_bounded_transcript_was_trimmed() -> None:
    board = VirtualBoard(BoardConfig(transcript_window=64))
    board.arm_moment_cut("SYS_OTA_DOWNLOAD_START", 0.25)
    for _ in range(40):
        board._print(b"SYS_OTA_UPDATE_CHECK_START\r\n")  # far more than the window keeps
    assert board._moment_cut is not None and board._moment_cut.at is None
    board._print(b"SYS_OTA_DOWNLOAD_START\r\n")
    assert board._moment_cut.at == pytest.approx(0.25)


def test_console_verdicts_from_what_a_rig_would_see() -> None:
    banner = b"\nBOOTLOADER Build Jan  1 2026 00:00:00\r\n"
    app = b"APP: version %d\r\n"
    assert console_verdict([banner + app % 2, banner + app % 2])[0] is Verdict.NEW_IMAGE
    assert console_verdict([banner + b"Uninitialized sector\n" + app % 1, banner + app % 1])[0] is (
        Verdict.FACTORY_FALLBACK
    )
    assert console_verdict([banner + b"file open error\n" * 5, banner + b"file open error\n" * 5])[0] is Verdict.STUCK
    assert console_verdict([banner + banner + app % 1, banner + app % 1])[0] is Verdict.REPEATED_BACKUP
    assert console_verdict([b"", b""])[0] is Verdict.SILENT
    assert console_verdict([banner * 4, banner * 4])[0] is Verdict.CRASH_LOOP
    with pytest.raises(CallerError):
        delays_ms(10, 5, 1)
    assert delays_ms(0, 30, 10) == [0, 10, 20, 30]


def test_cut_after_on_the_in_process_virtual_bench() -> None:
    with virtual_bench(CONFIGS["manual-noreset"], link="inproc") as bench:
        bench.start()
        bench.console.expect(b"IP address obtained", bench.wall(60))
        bench.publish(2)
        armed = arm_cut(bench, "SYS_OTA_DOWNLOAD_START", 0.2)
        assert bench.driver.check_update()
        report = armed.wait(60)
        assert report.exact and report.hit is not None
        assert report.hit.at - report.hit.pattern_at == pytest.approx(0.2)
        assert bench.virtual is not None and not bench.virtual.call(lambda b: b.powered)


# ------------------------------------------------------------------------------------- a served board
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, Path, Path, int]]:
    """`otaloop board --console-link --control` with an `auto` factory app and its v1/v2 images."""
    port = _free_port()
    images = write_board_images(tmp_path / "images", port)
    link, ctl = tmp_path / "board.tty", tmp_path / "board.ctl"
    argv = [*CLI, "board", "--factory", str(images / "auto_v1.bin"), "--state", str(tmp_path / "state")]
    argv += ["--console-link", str(link), "--control", str(ctl)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        proc.stdout.readline()
        yield link, ctl, images, port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


def test_served_board_cuts_itself_exactly_and_the_console_names_the_outcome(
    served: tuple[Path, Path, Path, int],
) -> None:
    link, ctl, images, port = served
    serial = SerialBench(
        str(link), images, CONFIGS["auto"], http_host="127.0.0.1", http_port=port, power=ChannelPower(ctl)
    )
    try:
        case = bench_case(serial, BANNER, 30)
    finally:
        serial.close()
    assert case.cut is not None and case.cut.exact and case.cut.hit is not None
    assert case.cut.hit.mode == "torn" and case.cut.hit.kind == "erase:page"  # the second page erase
    assert case.verdict is Verdict.FACTORY_FALLBACK, case.detail  # as the model says for 30 ms


def test_power_commands_cut_on_the_hosts_clock(served: tuple[Path, Path, Path, int]) -> None:
    from harness.board_link.power import CommandPower

    link, ctl, images, port = served
    power = CommandPower(*(f"{sys.executable} -m harness.cli power {a} --control {ctl}" for a in ("on", "off")))
    serial = SerialBench(str(link), images, CONFIGS["auto"], http_host="127.0.0.1", http_port=port, power=power)
    try:
        case = bench_case(serial, "SYS_OTA_DOWNLOAD_START", 0)
    finally:
        serial.close()
    assert case.cut is not None and not case.cut.exact and case.cut.hit is None
    assert case.cut.command_s is not None and case.cut.command_s > 0
    # Where a host-timed cut lands depends on the host; whatever it hit, the board came back with an app.
    assert case.verdict in CONSOLE_VERDICTS and not case.verdict.bricked, case.detail


def test_otaloop_sweep_timed_on_the_model_names_fault_ids() -> None:
    done = subprocess.run(
        [*CLI, "sweep", "timed", "--after", BANNER, "--from", "10", "--to", "30", "--step", "20"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(
        r"\n\s+10  during internal erase:page at 0x10020000\s+new-image\s+update:int@op\d+:torn:s1", done.stdout
    )
    assert "factory-fallback: 1, new-image: 1" in done.stdout


def test_otaloop_sweep_timed_on_a_served_board(served: tuple[Path, Path, Path, int]) -> None:
    link, ctl, images, port = served
    argv = [*CLI, "sweep", "timed", "--after", BANNER, "--from", "30", "--to", "30", "--port", str(link)]
    argv += ["--control", str(ctl), "--images", str(images), "--http", f"127.0.0.1:{port}"]
    done = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "during internal erase:page" in done.stdout and "factory-fallback" in done.stdout


def test_sweep_timed_bad_arguments_are_one_line_errors() -> None:
    for args, message in (
        (["--from", "50", "--to", "10"], "need 0 <= from <= to"),
        (["--from", "0", "--to", "10", "--images", "."], "--images needs --port or --lg-env"),
        (["--from", "0", "--to", "10", "--port", "/dev/null"], "needs --images DIR"),
    ):
        done = subprocess.run(
            [*CLI, "sweep", "timed", "--after", BANNER, *args], capture_output=True, text=True, env=ENV, timeout=60
        )
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
