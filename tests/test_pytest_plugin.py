"""The pytest plugin, tested with pytest's own ``pytester``: users' test files run by a real inner pytest that
loads the plugin through its ``pytest11`` entry point, against virtual boards and, through pyserial, an
``otaloop board`` process on a pty (the real-board path end to end)."""

from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootloader_model.quirks import PROFILE_NAMES
from harness.pytest_plugin import options
from harness.scenarios import CONFIGS, REGISTRY
from harness.scenarios.base import SyntheticImages
from harness.scenarios.benches import DEFAULT_RECONNECT

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "harness.cli"]

#: A user's own tests: nothing in them says whether the board is virtual or real.
USER_TESTS = """
def test_factory_app_runs(ota_board):
    status = ota_board.status()
    assert (status.version, status.downloaded) == (1, 0)


def test_periodic_check_installs_v2(ota_bench, ota_board, ota_server):
    ota_bench.publish(2)
    events = ota_board.events_until({"SYS_OTA_DB_ENTRY_SUCCESS"}, ota_bench.wall(200))
    assert "SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS" in events
    assert ota_board.wait_boot(ota_bench.wall(200)).app_version == 2
    assert any(r.path.endswith("_ver2.bin") for r in ota_server.requests)


def test_images_differ_by_version(ota_bench, ota_images):
    assert ota_images.app(ota_bench.factory, 1) != ota_images.app(ota_bench.factory, 2)


def test_power_cycle_boots_the_board_again(ota_bench, ota_board, ota_power):
    ota_power.cycle(off_time=0.1)
    assert ota_board.wait_boot(ota_bench.wall(200)).app_version == 1


def test_the_volume_holds_the_factory_backup(virtual_board, ota_board):
    assert virtual_board.ota_files() == ["factory_reset.bin"]
"""

#: Tests whose markers a real board without power commands cannot satisfy.
MARKER_TESTS = """
import pytest


@pytest.mark.otaloop_requires("power_cut", "flash_inspect")
def test_needs_cuts(ota_bench):
    assert {"power-cut", "inspect"} <= ota_bench.capabilities


@pytest.mark.otaloop_config("manual")
def test_manual_board_accepts_a_check(ota_bench, ota_board):
    assert ota_bench.factory.name == "manual"
    assert ota_board.check_update()


@pytest.mark.otaloop_quirks("corrected")
def test_corrected_profile(virtual_board, ota_board):
    assert virtual_board.call(lambda board: board.config.profile.name) == "corrected"


@pytest.mark.otaloop_requires("power")
def test_needs_power(ota_power):
    ota_power.off()
    ota_power.on()
"""


def _properties(xml: Path) -> dict[str, dict[str, str]]:
    """JUnit XML test case name -> its properties."""
    out = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        out[case.get("name", "")] = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
    return out


# ------------------------------------------------------------------------------------------ plugin basics
def test_the_entry_point_names_the_plugin_module() -> None:
    points = [ep for ep in importlib.metadata.entry_points(group="pytest11") if ep.name == "otaloop"]
    assert [ep.value for ep in points] == ["harness.pytest_plugin"]


def test_option_choices_match_the_library() -> None:
    assert sorted(options.CONFIG_NAMES) == sorted(CONFIGS)
    assert options.DEFAULT_RECONNECT == DEFAULT_RECONNECT
    assert "harmony-3.9.1" in PROFILE_NAMES and options.Settings().quirks == "harmony-3.9.1"


def test_the_plugin_is_silent_when_nothing_asks_for_it(pytester: pytest.Pytester) -> None:
    # In a fresh process: the plugin is loaded, yet no board module is imported and no thread started.
    pytester.makepyfile(
        "import sys, threading\n"
        "def test_plain():\n"
        "    assert 'harness.pytest_plugin' in sys.modules\n"
        "    assert 'harness.scenarios.benches' not in sys.modules\n"
        "    assert [t.name for t in threading.enumerate()] == ['MainThread']\n"
    )
    result = pytester.runpytest_subprocess("-v", "-rA")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["plugins: *otaloop-0.1.0*"])
    result.stdout.no_fnmatch_line("otaloop:*")  # no header line
    result.stdout.no_fnmatch_line("*otaloop console*")  # no report section
    result = pytester.runpytest("--otaloop-speed", "500")
    result.stdout.fnmatch_lines(["otaloop: virtual boards (pty console, speed 500, *"])


def test_a_users_file_on_virtual_boards(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--otaloop-speed", "0"], "--otaloop-speed must be > 0, got 0"),
        (["--otaloop-speed", "fast"], "--otaloop-speed 'fast': expected a number"),
        (["--otaloop-link", "usb"], "--otaloop-link 'usb': choose pty or inproc"),
        (["--otaloop-quirks", "newest"], "--otaloop-quirks: unknown quirk profile 'newest'*"),
        (["--otaloop-factory-config", "fast"], "--otaloop-factory-config 'fast': choose one of auto, *"),
        (["--otaloop-port", "/dev/ttyACM0"], "--otaloop-port needs --otaloop-http HOST:PORT*"),
        (["--otaloop-port", "/dev/ttyACM0", "--otaloop-http", "10.0.0.1"], "--otaloop-http '10.0.0.1': expected*"),
        (["--otaloop-reconnect", "-1"], "--otaloop-reconnect must be >= 0 seconds, got -1"),
        (["--otaloop-power-on", "relay on"], "give both --otaloop-power-on and --otaloop-power-off, or neither"),
    ],
)
def test_bad_options_are_one_line_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stderr.str()


def test_ini_keys_set_the_options(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\notaloop_quirks = corrected\notaloop_log_dir = board-logs\notaloop_link = inproc\n")
    pytester.makepyfile(
        "def test_profile(virtual_board, ota_bench):\n"
        "    assert virtual_board.call(lambda b: b.config.profile.name) == 'corrected'\n"
        "    assert type(ota_bench.console.port).__name__ == 'VirtualPort'\n"
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert (pytester.path / "board-logs" / "test_ini_keys_set_the_options.py__test_profile.log").is_file()
    # The command line wins over the ini file.
    result = pytester.runpytest("--otaloop-quirks", "harmony-3.9.1")
    result.assert_outcomes(failed=1)


# ------------------------------------------------------------------------------- the real-board path
@dataclass
class RealBoard:
    """An `otaloop board` process on a pty, standing in for a board on /dev/ttyACM0."""

    tty: str
    images: Path
    http: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def real_board(tmp_path: Path) -> Iterator[RealBoard]:
    """A board flashed with the `auto` factory app whose SYS_OTA_URL is a fixed 127.0.0.1 port, with its
    images laid out as `--otaloop-images` expects them."""
    port = _free_port()
    images = tmp_path / "images"
    images.mkdir()
    synthetic = SyntheticImages(f"http://127.0.0.1:{port}/ota.json", default_size=64 * 1024)
    for version in (1, 2):
        (images / f"auto_v{version}.bin").write_bytes(synthetic.app(CONFIGS["auto"], version))
    proc = subprocess.Popen(
        [*CLI, "board", "--factory", str(images / "auto_v1.bin"), "--state", str(tmp_path / "state")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("console: /dev/pts/"), line
        yield RealBoard(line.split(" ", 1)[1].strip(), images, f"127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_the_same_file_on_a_real_board_through_pyserial(pytester: pytest.Pytester, real_board: RealBoard) -> None:
    pytester.makepyfile(test_user=USER_TESTS, test_markers=MARKER_TESTS)
    args = ["--otaloop-port", real_board.tty, "--otaloop-http", real_board.http]
    args += ["--otaloop-images", str(real_board.images), "--junitxml", "report.xml", "-rs"]
    result = pytester.runpytest(*args)
    result.stdout.fnmatch_lines([f"otaloop: real board(s) at {real_board.tty}; image server {real_board.http};*"])
    # The update, the images and the console work as on the virtual board; what needs the virtual board
    # or power control is skipped, each with its reason.
    result.assert_outcomes(passed=3, skipped=6)
    result.stdout.fnmatch_lines_random(
        [
            "SKIPPED * virtual_board: this run drives a real board (--otaloop-port); it needs the virtual board",
            "SKIPPED * ota_power: this real board has no power control (give --otaloop-power-on and*",
            "SKIPPED * needs power_cut, flash_inspect (power_cut: only the virtual board can cut power at a chosen "
            "flash operation; flash_inspect: only the virtual board can look into its flash)",
            "SKIPPED * needs a board flashed with the 'manual' factory app (this one: 'auto'); see "
            "--otaloop-factory-config",
            "SKIPPED * otaloop_quirks('corrected') applies to the virtual board only;*",
            "SKIPPED * needs power (power: this real board has no power control*",
        ]
    )
    props = _properties(pytester.path / "report.xml")
    assert props["test_periodic_check_installs_v2"]["otaloop_board"] == f"real:{real_board.tty}"
    assert props["test_periodic_check_installs_v2"]["otaloop_app_version"] == "2"
    # The next test found the board on v2 and brought it back to its factory app first.
    assert props["test_images_differ_by_version"]["otaloop_app_version"] == "1"


def test_markers_on_virtual_boards(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_markers=MARKER_TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=4)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('otaloop_requires("teleport")', "otaloop_requires: unknown capability 'teleport'; choose power, *"),
        ('otaloop_config("fastest")', "otaloop_config: unknown configuration 'fastest'; choose auto, *"),
        ('otaloop_quirks("newest")', "otaloop_quirks: unknown quirk profile 'newest'*"),
        ("otaloop_config()", "otaloop_config takes one name*"),
    ],
)
def test_a_bad_marker_errors_the_test_in_one_line(pytester: pytest.Pytester, marker: str, message: str) -> None:
    pytester.makepyfile(f"import pytest\n\n@pytest.mark.{marker}\ndef test_x(ota_bench):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{message}"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_library_names_are_collected(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--otaloop-scenarios", "--collect-only", "-q")
    result.stdout.fnmatch_lines([f"otaloop-scenarios::{name}" for name in REGISTRY])
