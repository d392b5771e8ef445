"""The scenario library on the in-process port (no OS device): the same checks, faster, plus a run of the
real-board path (SerialBench: images from a directory, `reset` typed to restart) against `otaloop board`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from harness.scenarios import CONFIGS, REGISTRY
from harness.scenarios.benches import SerialBench, virtual_bench
from harness.scenarios.runner import run_suite, select, serial_provider

CLI = [sys.executable, "-m", "harness.cli", "board"]


@pytest.mark.parametrize("name", list(REGISTRY))
def test_scenario_in_process(name: str) -> None:
    sc = REGISTRY[name]
    # Faster than the pty runs: timing checks use board print times, so host latency does not matter.
    with virtual_bench(sc.factory, link="inproc", speed=3000) as bench:
        trace = sc.func(bench)
    assert trace.observation and trace.lines


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def board_on_pty(tmp_path: Path) -> Iterator[tuple[str, Path, int]]:
    """`otaloop board` with an `auto` factory app whose manifest URL is a fixed 127.0.0.1 port."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/ota.json"
    images = tmp_path / "images"
    images.mkdir()
    auto = CONFIGS["auto"]
    for v in (1, 2):
        desc = AppDescriptor(version=v, manifest_url=url, interval_s=auto.interval_s)
        (images / f"auto_v{v}.bin").write_bytes(build_app(desc, 64 * 1024 + 4096 * v))
    proc = subprocess.Popen(
        [*CLI, "--factory", str(images / "auto_v1.bin"), "--state", str(tmp_path / "state")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("console: ")
        yield line.split(" ", 1)[1].strip(), images, port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_real_board_path_against_otaloop_board(board_on_pty: tuple[str, Path, int]) -> None:
    tty, images, port = board_on_pty
    serial = SerialBench(tty, images, CONFIGS["auto"], http_host="127.0.0.1", http_port=port)
    try:
        names = ["first_boot", "c_update", "b_no_update", "k_factory_reset"]
        results = run_suite(select(names), serial_provider(serial))
    finally:
        serial.close()
    by_name = {r.name: r for r in results}
    assert by_name["first_boot"].status == "SKIP" and "provision" in by_name["first_boot"].detail
    assert by_name["k_factory_reset"].status == "SKIP" and "'manual' factory app" in by_name["k_factory_reset"].detail
    assert by_name["c_update"].status == "PASS", by_name["c_update"].detail
    assert by_name["c_update"].board_s is None  # a real board has no virtual clock to report
    # b_no_update needs the factory app again: the bench erased v2's row and factory-reset the board.
    assert by_name["b_no_update"].status == "PASS", by_name["b_no_update"].detail


def test_the_parameter_start_says_why_it_skips_on_an_80_character_console() -> None:
    from harness.scenarios import ScenarioSkipped
    from harness.scenarios.updates import start_with_parameters

    with virtual_bench(CONFIGS["manual"], link="inproc", speed=3000) as bench:
        assert bench.driver.max_line == 80
        with pytest.raises(ScenarioSkipped, match=r"is 1\d\d characters .* takes 80 \(SYS_CMD_MAX_LENGTH\)"):
            start_with_parameters(bench)
