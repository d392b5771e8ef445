"""``otaloop image set``: one command writes a served board's image directory (``<config>_v1..vN.bin`` and
``ota.json``), and ``otaloop run --images DIR`` runs the library's scenarios on a served board with it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from bootloader_model.formats.app_descriptor import read_descriptor
from harness.image import digest, read_manifest
from harness.scenarios import CONFIGS, DirImages

CLI = [sys.executable, "-m", "harness.cli"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _otaloop(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *argv], capture_output=True, text=True, env=ENV, timeout=timeout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_image_set_writes_every_version_of_the_configuration_and_a_manifest(tmp_path: Path) -> None:
    images = tmp_path / "images"
    done = _otaloop("image", "set", "--config", "manual", "--versions", "3", "--http", "127.0.0.1:8123", str(images))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in images.iterdir()) == ["manual_v1.bin", "manual_v2.bin", "manual_v3.bin", "ota.json"]
    config = CONFIGS["manual"]
    for version in (1, 2, 3):
        path = DirImages(images).path(config, version)  # the layout --images reads
        desc = read_descriptor(path.read_bytes())
        assert desc == config.descriptor(version, "http://127.0.0.1:8123/ota.json")
        assert f"Wrote {path}: manual v{version}" in done.stdout
    manifest = read_manifest((images / "ota.json").read_bytes()).effective
    assert manifest.version == 3 and manifest.url == "http://127.0.0.1:8123/manual_v3.bin"
    assert manifest.digest == digest((images / "manual_v3.bin").read_bytes())


def test_image_set_refuses_a_bad_address_in_one_line(tmp_path: Path) -> None:
    done = _otaloop("image", "set", "--config", "auto", "--http", "8123", str(tmp_path / "images"))
    assert done.returncode == 2
    assert done.stderr == "otaloop image: error: bad --http '8123': expected HOST:PORT, e.g. 127.0.0.1:8000\n"
    assert not (tmp_path / "images").exists()
    done = _otaloop("image", "--synthetic")
    assert done.returncode == 2 and done.stderr == "otaloop image: error: -o/--output OUT.bin is required\n"


def test_a_served_board_runs_scenarios_with_an_image_set(tmp_path: Path) -> None:
    """The workflow of docs/real-boards.md: make a set, start the board on v1, run the library on it."""
    port, images = _free_port(), tmp_path / "images"
    made = _otaloop("image", "set", "--config", "manual", "--versions", "3", "--http", f"127.0.0.1:{port}", str(images))
    assert made.returncode == 0, made.stderr
    argv = [*CLI, "board", "--factory", str(images / "manual_v1.bin"), "--state", str(tmp_path / "board1")]
    board = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        assert board.stdout is not None
        console = board.stdout.readline().removeprefix("console: ").strip()
        done = _otaloop(
            *("run", "--port", console, "--images", str(images), "--factory-config", "manual"),
            *("--http", f"127.0.0.1:{port}", "--only", "k_factory_reset", "l_rollback"),
            timeout=300,
        )
    finally:
        board.send_signal(signal.SIGTERM)
        _, err = board.communicate(timeout=20)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split()[:2] for line in done.stdout.splitlines() if line.startswith(("k_factory", "l_rollback"))]
    assert rows == [["k_factory_reset", "PASS"], ["l_rollback", "PASS"]]  # l_rollback serves v2 and v3 of the set
    assert "2 passed, 0 failed, 0 skipped" in done.stdout
    assert board.returncode == 0, err
