"""The labgrid farm path for real: a labgrid coordinator and an exporter on 127.0.0.1 export a served
virtual board's console (a NetworkSerialPort: `otaloop board --console tcp:PORT`, raw TCP as a farm's
ser2net serves a port) and its power (a NetworkPowerPort of labgrid's `rest` model, answered by a small
HTTP bridge to `otaloop board --control`); the test creates and acquires a place with `labgrid-client`,
then `otaloop run --lg-env` and a user's pytest file run through an environment that names only the
`RemotePlace`.

labgrid's own RawSerialPort export is not used: its exporter starts ser2net listening on every interface,
and the tests use the loopback network only. Skips, saying why, where labgrid's coordinator cannot start."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("labgrid", reason="labgrid is not installed (pip install 'otaloop[labgrid]'; `make test` does)")

from conftest import write_board_images
from harness.served_board.power_channel import send_command

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "harness.cli"]
BIN = Path(sys.executable).parent  # labgrid's console scripts sit beside the interpreter that has labgrid


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not found beside {sys.executable} or on PATH (pip install 'otaloop[labgrid]')")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[str], what: str, seconds: float = 30.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.skip(f"{what} exited with status {proc.returncode}: {_tail(proc.args)}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.skip(f"{what} did not listen on 127.0.0.1:{port} within {seconds:g} s")


LOGS: dict[str, Path] = {}  # the log file of each started program, by its argv


def _tail(argv: object) -> str:
    """The last lines a program wrote (its output goes to a file: an undrained pipe could block it)."""
    path = LOGS.get(str(argv))
    text = path.read_text(errors="replace") if path is not None and path.exists() else ""
    return " | ".join(text.strip().splitlines()[-3:])


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


class _PowerBridge(BaseHTTPRequestHandler):
    """labgrid's `rest` power model: GET answers 1 or 0, PUT with 1 or 0 switches (here: `otaloop board`'s
    control socket, as a lab's relay box would switch a board)."""

    control: Path
    switched: list[str]  # "on"/"off", every switch asked for

    def do_GET(self) -> None:  # http.server's naming
        self._answer(b"0" if send_command(self.control, ["status"]).startswith("off") else b"1")

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        action = "on" if body.strip() == b"1" else "off"
        send_command(self.control, [action])
        self.switched.append(action)
        self._answer(b"")

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Farm:
    env_file: Path
    images: Path
    http_port: int
    env: dict[str, str]
    switched: list[str]  # what the power bridge was asked to do


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[Farm]:
    """Coordinator, exporter, served board and power bridge on 127.0.0.1; place `board1` acquired."""
    coordinator_bin, exporter_bin, client_bin = (
        _tool(n) for n in ("labgrid-coordinator", "labgrid-exporter", "labgrid-client")
    )
    http_port, console_port, lg_port = _free_port(), _free_port(), _free_port()
    coordinator = f"127.0.0.1:{lg_port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LG_COORDINATOR": coordinator, "LG_HOSTNAME": "127.0.0.1"}
    images = write_board_images(tmp_path / "images", http_port)
    ctl = tmp_path / "board1.ctl"
    procs: list[subprocess.Popen[str]] = []
    bridge: ThreadingHTTPServer | None = None

    def start(argv: list[str], *, pipe: bool = False) -> subprocess.Popen[str]:
        log = tmp_path / f"{Path(argv[0]).name}-{len(procs)}.log"
        LOGS[str(argv)] = log
        with open(log, "w") as out:
            stdout = subprocess.PIPE if pipe else out
            proc = subprocess.Popen(argv, stdout=stdout, stderr=out, text=True, env=env, cwd=tmp_path)
        procs.append(proc)
        return proc

    try:
        lg = start([coordinator_bin, "--listen", coordinator])
        _wait_port(lg_port, lg, "labgrid-coordinator")
        argv = [*CLI, "board", "--factory", str(images / "auto_v1.bin"), "--state", str(tmp_path / "state")]
        board = start([*argv, "--console", f"tcp:{console_port}", "--control", str(ctl)], pipe=True)
        assert board.stdout is not None
        assert board.stdout.readline().strip() == f"console: socket://127.0.0.1:{console_port}"
        board.stdout.readline()
        switched: list[str] = []
        handler = type("Bridge", (_PowerBridge,), {"control": ctl, "switched": switched})
        bridge = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=bridge.serve_forever, daemon=True).start()
        exported = tmp_path / "exporter.yaml"
        exported.write_text(
            f"""\
board1:
  NetworkSerialPort:
    host: 127.0.0.1
    port: {console_port}
    protocol: raw
    speed: 115200
  NetworkPowerPort:
    model: rest
    host: "http://127.0.0.1:{bridge.server_address[1]}/relay/{{index}}/value"
    index: 0
"""
        )
        exporter = start(
            [exporter_bin, "--coordinator", coordinator, "--name", "exp1", "--hostname", "127.0.0.1", str(exported)]
        )
        place = [client_bin, "-x", coordinator, "-p", "board1"]
        for argv, seconds in (
            ([*place, "create"], 30.0),
            ([*place, "add-match", "exp1/board1/*"], 30.0),
        ):
            done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=seconds)
            assert done.returncode == 0, done.stdout + done.stderr
        # The exporter registers its resources a moment after it starts: acquire once they are there.
        end = time.monotonic() + 30
        while True:
            if exporter.poll() is not None:
                pytest.skip(f"labgrid-exporter exited with status {exporter.returncode}: {_tail(exporter.args)}")
            shown = subprocess.run(
                [client_bin, "-x", coordinator, "resources"], capture_output=True, text=True, env=env, timeout=30
            )
            if "exp1/board1/NetworkPowerPort" in shown.stdout and "exp1/board1/NetworkSerialPort" in shown.stdout:
                break
            assert time.monotonic() < end, f"the exporter's resources never appeared: {shown.stdout}{shown.stderr}"
            time.sleep(0.3)
        done = subprocess.run([*place, "acquire"], capture_output=True, text=True, env=env, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr
        env_file = tmp_path / "env.yaml"
        env_file.write_text(
            """\
targets:
  main:
    resources:
      RemotePlace:
        name: board1
    drivers:
      SerialDriver: {}
      NetworkPowerDriver:
        delay: 0.5
"""
        )
        yield Farm(env_file, images, http_port, env, switched)
        subprocess.run([*place, "release"], capture_output=True, text=True, env=env, timeout=30)
    finally:
        if bridge is not None:
            bridge.shutdown()
            bridge.server_close()
        for proc in reversed(procs):
            _stop(proc)


def test_otaloop_run_through_a_remote_place(farm: Farm) -> None:
    argv = [*CLI, "run", "--lg-env", str(farm.env_file), "--images", str(farm.images), "--factory-config", "auto"]
    argv += ["--http", f"127.0.0.1:{farm.http_port}", "--only", "c_update"]
    done = subprocess.run(argv, capture_output=True, text=True, env=farm.env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 0 failed" in done.stdout and "labgrid target main" in done.stdout
    assert farm.switched[:2] == ["off", "on"]  # the bench power-cycled the board through the exported port


def test_a_users_pytest_file_through_a_remote_place(farm: Farm, tmp_path: Path) -> None:
    user = tmp_path / "test_my_board.py"
    user.write_text(
        f"""\
from pathlib import Path

from harness.scenarios import CONFIGS, REGISTRY
from harness.scenarios.labgrid_bench import target_bench
from harness.scenarios.runner import run_one, serial_provider


def test_update_on_the_farm_board(target):
    assert type(target.get_resource("NetworkSerialPort")).__name__ == "NetworkSerialPort"  # from the place
    bench = target_bench(target, Path({str(farm.images)!r}), CONFIGS["auto"], http_host="127.0.0.1",
                         http_port={farm.http_port})
    try:
        assert type(bench.power.driver).__name__ == "NetworkPowerDriver"
        result = run_one(REGISTRY["c_update"], serial_provider(bench))
    finally:
        bench.close()
    assert result.status == "PASS", result.detail
"""
    )
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(user), "--lg-env", str(farm.env_file)]
    done = subprocess.run(argv, capture_output=True, text=True, env=farm.env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert "off" in farm.switched and "on" in farm.switched
