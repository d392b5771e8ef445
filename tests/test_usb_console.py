"""The vanishing console: a virtual board whose console behaves like a USB serial port behind a switchable
hub (a stable symlink that disappears at power-off and points at a new pty at power-on), its control
channel, `otaloop power`, and the real-board path running a scenario through a power cycle."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootloader_model.board.virtual_board import VirtualBoard
from bootloader_model.errors import BoardError, CallerError
from harness.board_link.console import Console
from harness.board_link.driver import BoardDriver
from harness.board_link.transport import open_port
from harness.scenarios import CONFIGS
from harness.scenarios.base import SyntheticImages
from harness.served_board.power_channel import (
    ANSWER_TIMEOUT,
    ChannelPower,
    ControlServer,
    answer_timeout,
    send_command,
)
from harness.served_board.power_switch import DEFAULT_OFF_TIME, BoardPower
from harness.served_board.runner import BoardRunner
from harness.served_board.usb_console import UsbConsoleLink

CLI = [sys.executable, "-m", "harness.cli"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
URL = "http://127.0.0.1:9/ota.json"  # never fetched: the manual configuration does not check on its own


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[VirtualBoard, UsbConsoleLink, Path]]:
    """A virtual board served in this process behind a USB-like console link, with a control socket."""
    board = VirtualBoard()
    board.provision(SyntheticImages(URL).app(CONFIGS["manual"], 1))
    link = UsbConsoleLink(tmp_path / "board.tty", hold=30)
    runner = BoardRunner(board, link, speed=1000)
    power = BoardPower(runner, link)
    control = ControlServer(tmp_path / "board.ctl", power.command).start()
    runner.start()
    try:
        yield board, link, control.path
    finally:
        control.close()
        runner.stop()
        link.close()


def test_power_off_removes_the_port_and_power_on_brings_a_new_one(
    served: tuple[VirtualBoard, UsbConsoleLink, Path], tmp_path: Path
) -> None:
    _, link, ctl = served
    power = ChannelPower(ctl)
    assert not link.path.exists() and power.status() == "off"
    power.on()
    assert link.path.is_symlink() and power.status() == "held"  # in reset until a host opens the port
    first = os.readlink(link.path)
    log = tmp_path / "console.log"
    con = Console(open_port(str(link.path)), url=str(link.path), reconnect=30, log=log)
    drv = BoardDriver(con, boot_timeout=30)
    assert drv.wait_boot().app_version == 1  # nothing lost: the board started once the port was open
    assert power.status() == "on"
    con.drain(quiet=0.3)
    power.off()
    assert not os.path.lexists(link.path) and power.status() == "off"
    power.on()
    assert os.path.lexists(link.path)
    # The driver resumes waiting for the boot lines: its console reopens the path and the board then starts.
    assert drv.wait_boot().app_version == 1
    assert len(con.gaps) == 1 and con.gaps[0].waited > 0
    assert link.dropped == 0
    con.close()
    assert "was gone for" in log.read_text()
    assert first.startswith("/dev/pts/") and os.readlink(link.path).startswith("/dev/pts/")


def test_without_a_hold_what_the_board_prints_before_the_port_opens_is_lost_and_counted(tmp_path: Path) -> None:
    """In process; `otaloop board --hold 0` reports the count on stderr (see the test below)."""
    board = VirtualBoard()
    board.provision(SyntheticImages(URL).app(CONFIGS["manual"], 1))
    link = UsbConsoleLink(tmp_path / "board.tty", hold=0)
    runner = BoardRunner(board, link, speed=1000)
    power = BoardPower(runner, link)
    with runner:
        power.on()
        while power.status() == "held":  # hold 0: the runner's next turn lets the board run
            time.sleep(0.01)
        assert runner.call(lambda b: b.run_until(lambda: b"APP: version 1" in b.transcript, 300))
        runner.call(lambda b: None)  # one more turn moves the output into the (unopened) port
        assert power.status() == "on"
    link.close()
    assert link.dropped >= len(b"BOOTLOADER Build") and link.dropped == len(board.transcript)


def test_control_channel_refuses_bad_commands_with_a_clear_error(
    served: tuple[VirtualBoard, UsbConsoleLink, Path],
) -> None:
    _, _, ctl = served
    with pytest.raises(CallerError, match="unknown command 'explode'"):
        send_command(ctl, ["explode"])
    with pytest.raises(CallerError, match="bad time 'soon'"):
        send_command(ctl, ["cycle", "soon"])
    with pytest.raises(CallerError, match="no board answers"):
        send_command(ctl.with_name("nobody.ctl"), ["on"])
    # A raw line that is not shell words is refused too, and the channel keeps answering.
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(ctl))
        s.sendall(b"on 'unclosed\n")
        assert s.recv(200).startswith(b"error cannot split")
    assert send_command(ctl, ["status"]) == "off"


@pytest.fixture
def silent_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, Path]]:
    """A Unix socket that listens and never accepts: a board process stopped with SIGSTOP, as the kernel sees it."""
    path = tmp_path / "silent.ctl"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(1)
        yield listener, path


def test_a_control_socket_that_never_answers_is_a_board_error_naming_it_and_the_timeout(
    silent_socket: tuple[socket.socket, Path],
) -> None:
    _, path = silent_socket
    where = re.escape(str(path))
    with pytest.raises(BoardError, match=rf"control channel {where}: no answer to 'status' within 0\.2 s"):
        send_command(path, ["status"], timeout=0.2)
    with pytest.raises(BoardError, match=r"no answer to 'off' within 0\.2 s"):
        ChannelPower(path, timeout=0.2).off()


def test_a_control_socket_whose_queue_is_full_is_a_board_error(silent_socket: tuple[socket.socket, Path]) -> None:
    _, path = silent_socket
    held: list[socket.socket] = []
    try:
        while True:  # fill the listen queue, as clients of a stopped board do
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            held.append(s)
            s.connect(str(path))
    except BlockingIOError:
        pass
    try:
        with pytest.raises(BoardError, match=rf"control channel {re.escape(str(path))}: not accepting connections"):
            send_command(path, ["status"], timeout=5)
    finally:
        for s in held:
            s.close()


def test_an_answer_that_trickles_without_end_is_bounded_by_one_deadline(tmp_path: Path) -> None:
    path = tmp_path / "trickle.ctl"
    stop = threading.Event()

    def serve(listener: socket.socket) -> None:
        conn, _ = listener.accept()
        with conn:
            while not stop.wait(0.05):  # a byte at a time, never a newline: each read gets something
                with contextlib.suppress(OSError):
                    conn.sendall(b"o")

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(1)
        thread = threading.Thread(target=serve, args=(listener,), daemon=True)
        thread.start()
        try:
            with pytest.raises(BoardError, match=r"no answer to 'status' within 0\.5 s"):
                send_command(path, ["status"], timeout=0.5)
        finally:
            stop.set()
            thread.join(10)


def test_the_default_bound_covers_a_cycles_off_time() -> None:
    assert answer_timeout(["status"]) == ANSWER_TIMEOUT
    assert answer_timeout(["cycle"]) == ANSWER_TIMEOUT + DEFAULT_OFF_TIME
    assert answer_timeout(["cycle", "30"]) == ANSWER_TIMEOUT + 30
    assert answer_timeout(["cycle", "soon"]) == ANSWER_TIMEOUT  # refused by the board at once


def test_otaloop_power_against_a_silent_socket_fails_in_one_line(silent_socket: tuple[socket.socket, Path]) -> None:
    _, path = silent_socket
    run = subprocess.run(
        [*CLI, "power", "status", "--control", str(path), "--timeout", "0.3"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    assert run.stderr.splitlines() == [
        f"otaloop power: board error: control channel {path}: no answer to 'status' within 0.3 s "
        "(is the board process stopped?)"
    ]
    run = subprocess.run(
        [*CLI, "power", "status", "--control", str(path), "--timeout", "nan"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        "otaloop power: error: control channel timeout must be a positive number of seconds, got nan"
    ]


@pytest.mark.parametrize("hold", [float("nan"), float("inf"), -1.0, 3601.0])
def test_console_link_refuses_a_hold_that_is_not_0_to_3600_seconds(tmp_path: Path, hold: float) -> None:
    with pytest.raises(CallerError, match=r"--hold must be 0\.\.3600 seconds"):
        UsbConsoleLink(tmp_path / "board.tty", hold=hold)
    assert not os.path.lexists(tmp_path / "board.tty")


def test_console_link_refuses_a_regular_file(tmp_path: Path) -> None:
    f = tmp_path / "not-a-link"
    f.write_text("data")
    with pytest.raises(CallerError, match="exists and is not a symlink"):
        UsbConsoleLink(f)


# --------------------------------------------------------------------------------- as a user runs it
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def usb_board(tmp_path: Path) -> Iterator[tuple[Path, Path, Path, int]]:
    """`otaloop board --console-link --control --off` with a manual-noreset factory app; a fixed HTTP port."""
    port = _free_port()
    images = tmp_path / "images"
    images.mkdir()
    synth = SyntheticImages(f"http://127.0.0.1:{port}/ota.json")
    config = CONFIGS["manual-noreset"]
    for v in (1, 2):
        (images / f"{config.name}_v{v}.bin").write_bytes(synth.app(config, v))
    link, ctl = tmp_path / "board1.tty", tmp_path / "board1.ctl"
    argv = [*CLI, "board", "--factory", str(images / "manual-noreset_v1.bin"), "--state", str(tmp_path / "state")]
    argv += ["--console-link", str(link), "--control", str(ctl), "--off"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"console: {link}"
        assert proc.stdout.readline().strip() == f"control: {ctl}"
        yield link, ctl, images, port
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert not os.path.lexists(link) and not ctl.exists()  # both removed on exit


def _power_cmd(ctl: Path, action: str) -> str:
    return f"{sys.executable} -m harness.cli power {action} --control {ctl}"


def test_scenario_with_a_power_cycle_runs_green_through_the_vanishing_port(
    usb_board: tuple[Path, Path, Path, int], tmp_path: Path
) -> None:
    link, ctl, images, port = usb_board
    logs = tmp_path / "logs"
    argv = [*CLI, "run", "--port", str(link), "--images", str(images), "--factory-config", "manual-noreset"]
    argv += ["--http", f"127.0.0.1:{port}", "--only", "power_cycle_install", "--log-dir", str(logs)]
    argv += ["--power-on", _power_cmd(ctl, "on"), "--power-off", _power_cmd(ctl, "off"), "--reconnect", "30"]
    done = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "power_cycle_install" in done.stdout and "1 passed, 0 failed" in done.stdout
    log = (logs / "console.log").read_text()
    # Two power cycles (the bench's start, the scenario's own): two gaps, each marked in the log.
    assert log.count(f"-- port {link} was gone for ") == 2


def test_a_port_that_never_comes_back_fails_the_scenario_with_port_lost(
    usb_board: tuple[Path, Path, Path, int],
) -> None:
    link, ctl, images, port = usb_board
    argv = [*CLI, "run", "--port", str(link), "--images", str(images), "--factory-config", "manual-noreset"]
    argv += ["--http", f"127.0.0.1:{port}", "--only", "power_cycle_install", "--reconnect", "1"]
    # The power-on command does nothing: the board stays off and its port never reappears.
    argv += ["--power-on", f"{sys.executable} -c pass", "--power-off", _power_cmd(ctl, "off")]
    send_command(ctl, ["on"])
    done = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 1
    # The scenario that lost its port fails, with the reason, and the summary table is still printed.
    row = next(line for line in done.stdout.splitlines() if line.startswith("power_cycle_install "))
    assert row.split()[1] == "FAIL"
    assert f"PortLost: console {link} did not come back within 1.0 s" in row
    assert "0 passed, 1 failed" in done.stdout
    assert "Traceback" not in done.stderr


def test_otaloop_board_reports_the_bytes_nobody_received(tmp_path: Path) -> None:
    factory = tmp_path / "v1.bin"
    factory.write_bytes(SyntheticImages(URL).app(CONFIGS["manual"], 1))
    link = tmp_path / "board.tty"
    argv = [*CLI, "board", "--factory", str(factory), "--state", str(tmp_path / "state")]
    argv += ["--console-link", str(link), "--hold", "0"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    assert proc.stderr is not None
    try:
        line = proc.stderr.readline()  # the board boots at once; nobody opens its port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert re.fullmatch(
        rf"otaloop board: console: \d+ bytes printed while no host had {re.escape(str(link))} open "
        r"were dropped \(\d+ in all\)\n",
        line,
    ), line
