"""The scenario library on a labgrid target: labgrid's real Environment, SerialDriver (on a RawSerialPort)
and ExternalPowerDriver, against `otaloop board` whose console vanishes at every power cycle as a USB serial
port behind a switchable hub does. Also `otaloop run --lg-env` and a user's pytest file that uses labgrid's
own `target` fixture with otaloop's bench."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("labgrid", reason="labgrid is not installed (pip install 'otaloop[labgrid]'; `make test` does)")

from bootloader_model.errors import CallerError
from conftest import write_board_images
from harness.scenarios import CONFIGS, REGISTRY
from harness.scenarios.labgrid_bench import environment_bench
from harness.scenarios.runner import run_one, serial_provider

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "harness.cli"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@dataclass
class Rig:
    env_file: Path
    images: Path
    http_port: int
    link: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _power(ctl: Path, action: str) -> str:
    return shlex.join([*CLI, "power", action, "--control", str(ctl)])


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """`otaloop board` (auto factory app) behind a vanishing console link, and a labgrid env YAML for it."""
    port = _free_port()
    images = write_board_images(tmp_path / "images", port)
    link, ctl = tmp_path / "board1.tty", tmp_path / "board1.ctl"
    env_file = tmp_path / "env.yaml"
    env_file.write_text(
        f"""\
targets:
  main:
    resources:
      RawSerialPort:
        port: "{link}"
        speed: 115200
    drivers:
      SerialDriver: {{}}
      ExternalPowerDriver:
        cmd_on: "{_power(ctl, "on")}"
        cmd_off: "{_power(ctl, "off")}"
        delay: 0.5
"""
    )
    argv = [*CLI, "board", "--factory", str(images / "auto_v1.bin"), "--state", str(tmp_path / "state")]
    argv += ["--console-link", str(link), "--control", str(ctl)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("console: ")
        assert proc.stdout.readline().startswith("control: ")
        yield Rig(env_file, images, port, link)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


def test_update_scenario_through_labgrid_environment_serial_and_power_drivers(rig: Rig, tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    with environment_bench(
        rig.env_file, rig.images, CONFIGS["auto"], http_host="127.0.0.1", http_port=rig.http_port, log=log
    ) as serial:
        assert serial.power is not None
        assert type(serial.power.driver).__name__ == "ExternalPowerDriver"  # labgrid's, not a copy
        console_driver = serial._console.port.driver  # type: ignore[attr-defined]
        assert type(console_driver).__name__ == "SerialDriver"
        result = run_one(REGISTRY["c_update"], serial_provider(serial))
    assert result.status == "PASS", result.detail
    assert result.trace is not None and "APP: version 2" in result.trace.lines
    # The bench power-cycled the board through ExternalPowerDriver; the port vanished and was reactivated.
    text = log.read_text()
    assert f"-- port labgrid:main/{rig.link} was gone for " in text


def test_otaloop_run_on_a_labgrid_environment(rig: Rig) -> None:
    argv = [*CLI, "run", "--lg-env", str(rig.env_file), "--images", str(rig.images), "--factory-config", "auto"]
    argv += ["--http", f"127.0.0.1:{rig.http_port}", "--only", "c_update"]
    done = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 0 failed" in done.stdout
    assert "labgrid target main" in done.stdout


def test_a_users_pytest_file_on_labgrids_target_fixture(rig: Rig, tmp_path: Path) -> None:
    user = tmp_path / "test_my_board.py"
    user.write_text(
        f"""\
from pathlib import Path

from harness.scenarios.labgrid_bench import target_bench
from harness.scenarios import CONFIGS, REGISTRY
from harness.scenarios.runner import run_one, serial_provider


def test_update_on_my_board(target):  # labgrid's pytest plugin gives the target of --lg-env
    bench = target_bench(target, Path({str(rig.images)!r}), CONFIGS["auto"], http_host="127.0.0.1",
                         http_port={rig.http_port})
    try:
        result = run_one(REGISTRY["c_update"], serial_provider(bench))
    finally:
        bench.close()
    assert result.status == "PASS", result.detail
"""
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(user), "--lg-env", str(rig.env_file)],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_environment_errors_are_one_line_caller_errors(tmp_path: Path) -> None:
    images = tmp_path
    with (
        pytest.raises(CallerError, match="does not exist"),
        environment_bench(tmp_path / "missing.yaml", images, CONFIGS["auto"], http_host="127.0.0.1", http_port=1),
    ):
        pass
    env_file = tmp_path / "env.yaml"
    env_file.write_text("targets:\n  main:\n    resources:\n      RawSerialPort:\n        port: /dev/nothing-here\n")
    with (
        pytest.raises(CallerError, match="no console driver"),
        environment_bench(env_file, images, CONFIGS["auto"], http_host="127.0.0.1", http_port=1),
    ):
        pass
    with (
        pytest.raises(CallerError, match="has no target 'other'"),
        environment_bench(env_file, images, CONFIGS["auto"], role="other", http_host="127.0.0.1", http_port=1),
    ):
        pass


def test_otaloop_pytest_plugin_on_a_labgrid_target(rig: Rig, tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text("def test_nothing_here():\n    pass\n")
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--lg-env", str(rig.env_file)]
    argv += ["--otaloop-port", "labgrid:main", "--otaloop-http", f"127.0.0.1:{rig.http_port}"]
    argv += ["--otaloop-images", str(rig.images), "--otaloop-scenarios", "-k", "c_update or nothing_here", "-rA"]
    done = subprocess.run(argv, capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout and "c_update" in done.stdout


def test_update_scenario_over_a_network_serial_port(tmp_path: Path) -> None:
    """A NetworkSerialPort (raw TCP, as ser2net serves a remote exporter's port) instead of a local device."""
    http_port, tcp_port = _free_port(), _free_port()
    images = write_board_images(tmp_path / "images", http_port)
    ctl = tmp_path / "board1.ctl"
    env_file = tmp_path / "env.yaml"
    env_file.write_text(
        f"""\
targets:
  main:
    resources:
      NetworkSerialPort:
        host: 127.0.0.1
        port: {tcp_port}
        protocol: raw
    drivers:
      SerialDriver: {{}}
      ExternalPowerDriver:
        cmd_on: "{_power(ctl, "on")}"
        cmd_off: "{_power(ctl, "off")}"
        delay: 0.5
"""
    )
    argv = [*CLI, "board", "--factory", str(images / "auto_v1.bin"), "--state", str(tmp_path / "state")]
    argv += ["--console", f"tcp:{tcp_port}", "--control", str(ctl)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"console: socket://127.0.0.1:{tcp_port}"
        proc.stdout.readline()
        with environment_bench(env_file, images, CONFIGS["auto"], http_host="127.0.0.1", http_port=http_port) as serial:
            assert serial._console.port.url == f"labgrid:main/{tcp_port}"  # type: ignore[attr-defined]
            result = run_one(REGISTRY["c_update"], serial_provider(serial))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert result.status == "PASS", result.detail


def test_timed_sweep_on_a_labgrid_target(rig: Rig) -> None:
    argv = [*CLI, "sweep", "timed", "--after", "BOOTLOADER Build", "--from", "30", "--to", "30"]
    argv += ["--lg-env", str(rig.env_file), "--images", str(rig.images), "--http", f"127.0.0.1:{rig.http_port}"]
    done = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    # labgrid's ExternalPowerDriver switches off on the host's clock: the report says how late and how long.
    assert re.search(r"\n\s+30  power-off issued [\d.]+ ms late, command took [\d.]+ ms\s+\S+", done.stdout)
