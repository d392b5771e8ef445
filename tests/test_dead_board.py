"""`otaloop run` against a dead board: the session start finds it dead at the boot timeout and every scenario
fails at once with the reason, and a console port that goes away mid-run still gives the summary table
(that scenario FAIL, the rest NOT RUN). Real subprocesses on real ptys: a silent one, one printing garbage,
and a virtual board whose process is killed while the suite runs."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from harness.served_board.uart_link import PtyLink
from tests.test_board_cli import CLI, ENV

SCENARIOS = ["b_no_update", "c_update", "d_http_404", "g_truncated"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(port: str, images: Path, http: int, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [*CLI, "run", "--port", port, "--images", str(images), "--http", f"127.0.0.1:{http}", "--reconnect", "0"]
    return subprocess.run(
        [*argv, *extra, "--only", *SCENARIOS], capture_output=True, text=True, env=ENV, timeout=240
    )  # a run that waits minutes per scenario fails here


def _rows(stdout: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in stdout.splitlines():
        name = line.split(" ", 1)[0]
        if name in SCENARIOS:
            parts = line.split(None, 4)
            status = "NOT RUN" if parts[1:3] == ["NOT", "RUN"] else parts[1]
            rows[name] = (status, line)
    return rows


@pytest.fixture
def pty() -> Iterator[PtyLink]:
    link = PtyLink()
    yield link
    link.close()


@pytest.mark.parametrize("talks", [False, True], ids=["silent", "garbage"])
def test_a_dead_board_is_found_at_the_session_start_and_every_scenario_fails_at_once(
    tmp_path: Path, pty: PtyLink, talks: bool
) -> None:
    stop = threading.Event()

    def garbage() -> None:  # a board stuck printing noise (wrong baud rate, crashed firmware)
        rng = random.Random(1)
        while not stop.wait(0.01):
            pty.write(bytes(rng.randrange(256) for _ in range(64)))
            pty.read()

    (tmp_path / "auto_v1.bin").write_bytes(b"an image of the declared configuration")
    noise = threading.Thread(target=garbage, daemon=True)
    if talks:
        noise.start()
    try:
        done = _run(pty.url, tmp_path, _free_port(), "--boot-timeout", "2")
    finally:
        stop.set()
        if talks:
            noise.join()  # before the fixture closes the pty the thread writes to
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stdout + done.stderr
    rows = _rows(done.stdout)
    assert list(rows) == SCENARIOS and all(status == "FAIL" for status, _ in rows.values()), done.stdout
    # The session start found it dead at the boot timeout; every scenario then fails at once with the reason.
    assert "Session start: the board did not boot: no bootloader banner within 2 s: is the board powered" in done.stdout
    for name in SCENARIOS:
        assert "BoardDead: the board is still dead (no bootloader banner within 2 s); not tried again" in rows[name][1]
    assert "0 passed, 4 failed, 0 skipped" in done.stdout


def test_a_console_port_lost_mid_run_still_prints_the_table(tmp_path: Path) -> None:
    http = _free_port()
    factory = tmp_path / "auto_v1.bin"
    factory.write_bytes(build_app(AppDescriptor(version=1, manifest_url=f"http://127.0.0.1:{http}/ota.json"), 60_000))
    board = subprocess.Popen(
        [*CLI, "board", "--state", str(tmp_path / "state"), "--factory", str(factory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert board.stdout is not None
        tty = board.stdout.readline().split(" ", 1)[1].strip()
        argv = [*CLI, "run", "--port", tty, "--images", str(tmp_path), "--http", f"127.0.0.1:{http}"]
        run = subprocess.Popen(
            [*argv, "--reconnect", "0", "--only", *SCENARIOS],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        assert run.stderr is not None
        first = run.stderr.readline()  # the progress line of the first scenario
        assert first.split()[1:] == ["b_no_update"], first
        board.send_signal(signal.SIGKILL)  # the board and its pty vanish
        out, err = run.communicate(timeout=120)
    finally:
        for proc in (board,):
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    assert run.returncode == 1 and "Traceback" not in err, out + err
    rows = _rows(out)
    assert list(rows) == SCENARIOS, out
    assert rows["c_update"][0] == "FAIL" and "PortLost" in rows["c_update"][1]
    for name in SCENARIOS[2:]:
        assert rows[name][0] == "NOT RUN" and "the console port was lost in c_update" in rows[name][1]
    assert "2 not run" in out
    assert os.path.exists(tmp_path / "state" / "internal.bin")
