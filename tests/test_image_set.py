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


def _run_on_served_board(
    tmp_path: Path, *names: str, config: str = "manual", versions: int = 3
) -> subprocess.CompletedProcess[str]:
    """Make a set of ``config``, start `otaloop board` on its v1 and run ``names`` on it in one `otaloop run`."""
    port, images = _free_port(), tmp_path / "images"
    http = f"127.0.0.1:{port}"
    made = _otaloop("image", "set", "--config", config, "--versions", str(versions), "--http", http, str(images))
    assert made.returncode == 0, made.stderr
    argv = [*CLI, "board", "--factory", str(images / f"{config}_v1.bin"), "--state", str(tmp_path / "board1")]
    board = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        assert board.stdout is not None
        console = board.stdout.readline().removeprefix("console: ").strip()
        done = _otaloop(
            *("run", "--port", console, "--images", str(images), "--factory-config", config),
            *("--http", http, "--only", *names),
            timeout=300,
        )
    finally:
        board.send_signal(signal.SIGTERM)
        _, err = board.communicate(timeout=20)
    assert board.returncode == 0, err
    return done


def _results(done: subprocess.CompletedProcess[str], names: tuple[str, ...]) -> list[list[str]]:
    return [line.split()[:2] for line in done.stdout.splitlines() if line.startswith(names)]


def test_a_served_board_runs_scenarios_with_an_image_set(tmp_path: Path) -> None:
    """The workflow of docs/real-boards.md: make a set, start the board on v1, run the library on it."""
    names = ("k_factory_reset", "l_rollback")
    done = _run_on_served_board(tmp_path, *names)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _results(done, names) == [[n, "PASS"] for n in names]  # l_rollback serves v2 and v3 of the set
    assert "2 passed, 0 failed, 0 skipped" in done.stdout


def test_the_manual_scenarios_pass_in_one_run_on_a_served_board(tmp_path: Path) -> None:
    """Every scenario of the `manual` factory app, in the library's order, on one served board.

    After l_rollback the restore factory-resets a board holding the files of v2 and v3; the boot after that
    reset deletes them (OTA_CleanUp). Unless the restore lets that boot finish, rollback_to_factory's reset cuts
    it short and the scenario's first boot prints `SYS OTA : Removed file` where a fresh board prints its IP
    line. m_sysreset_refused counts banners from the refusal on: a served board's first boot prints one, not
    the fresh virtual board's two."""
    names = ("k_factory_reset", "l_rollback", "rollback_to_factory", "rollback_on_factory", "m_sysreset_refused")
    done = _run_on_served_board(tmp_path, *names)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _results(done, names) == [[n, "PASS"] for n in names]
    assert "5 passed, 0 failed, 0 skipped" in done.stdout


def test_a_scenario_after_the_periodic_restore_of_a_full_database_starts_as_on_a_fresh_board(tmp_path: Path) -> None:
    """With periodic checking the restore erases the running version's row first (spec 1.6 J). After i_db_full
    the board runs v4 with v3's row and file still there; the boot after the factory reset deletes v3's file,
    and j_erase_version's first boot must not be the one that does."""
    names = ("i_db_full", "j_erase_version")
    done = _run_on_served_board(tmp_path, *names, config="auto", versions=4)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _results(done, names) == [[n, "PASS"] for n in names]
