"""The pytest plugin, tested with pytest's own ``pytester``: users' test files run by a real inner pytest that
loads the plugin through its ``pytest11`` entry point, against virtual boards and, through pyserial, an
``otaloop board`` process on a pty (the real-board path end to end)."""

from __future__ import annotations

import importlib.metadata
import os
import re
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootloader_model.bootloader.program import MODEL
from bootloader_model.quirks import PROFILE_NAMES
from conftest import require_tool
from harness.native.build import build_example
from harness.pytest_plugin import options
from harness.scenarios import CONFIGS, REGISTRY
from harness.scenarios.base import SyntheticImages
from harness.scenarios.benches import DEFAULT_BOOT_TIMEOUT, DEFAULT_RECONNECT
from harness.scenarios.rig_check import START_MODES

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


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in this process on the test's files. labgrid's own pytest plugin, which pytest also loads when
    labgrid is installed, is left out: it takes seconds per run and plays no part unless ``--lg-env`` is
    given (``tests/test_labgrid.py`` covers ``--otaloop-port labgrid:ROLE``)."""
    return pytester.runpytest(*args, "-p", "no:labgrid")


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
    assert options.DEFAULT_BOOT_TIMEOUT == DEFAULT_BOOT_TIMEOUT
    assert options.START_MODES == START_MODES
    assert "harmony-3.9.1" in PROFILE_NAMES and options.Settings().quirks == "harmony-3.9.1"
    assert options.DEFAULT_BOOTLOADER == MODEL and options.Settings().bootloader == MODEL


def test_the_plugin_is_silent_when_nothing_asks_for_it(pytester: pytest.Pytester) -> None:
    # In a fresh process: the plugin is loaded, yet no board module is imported and no thread started.
    pytester.makepyfile(
        "import sys, threading\n"
        "def test_plain():\n"
        "    assert 'harness.pytest_plugin' in sys.modules\n"
        "    assert 'harness.scenarios.benches' not in sys.modules\n"
        "    assert 'harness.native.programs' not in sys.modules\n"  # the default bootloader needs no check
        "    assert 'bootloader_model.bootloader' not in sys.modules\n"
        "    assert [t.name for t in threading.enumerate()] == ['MainThread']\n"
    )
    result = pytester.runpytest_subprocess("-v", "-rA")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["plugins: *otaloop-0.1.0*"])
    result.stdout.no_fnmatch_line("otaloop:*")  # no header line
    result.stdout.no_fnmatch_line("*otaloop console*")  # no report section
    result = _run(pytester, "--otaloop-speed", "500")
    result.stdout.fnmatch_lines(["otaloop: virtual boards (pty console, speed 500, *"])
    # -p no:otaloop turns it off altogether.
    pytester.makepyfile(test_board="def test_board(ota_board):\n    pass\n")
    result = _run(pytester, "-p", "no:otaloop", "test_board.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'ota_board' not found*"])


def test_importing_the_plugin_does_not_import_labgrid() -> None:
    # labgrid is imported only for --otaloop-port labgrid:ROLE (its own pytest plugin is labgrid's business).
    code = "import sys, harness.pytest_plugin; print(sorted(m for m in sys.modules if m.split('.')[0] == 'labgrid'))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr


def test_a_users_file_on_virtual_boards(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = _run(pytester)
    result.assert_outcomes(passed=5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--otaloop-speed", "0"], "--otaloop-speed must be > 0 and at most * virtual seconds per wall second, got 0"),
        (["--otaloop-speed", "fast"], "--otaloop-speed 'fast': expected a number"),
        (["--otaloop-link", "usb"], "--otaloop-link 'usb': choose pty or inproc"),
        (["--otaloop-quirks", "newest"], "--otaloop-quirks: unknown quirk profile 'newest'*"),
        (["--otaloop-factory-config", "fast"], "--otaloop-factory-config 'fast': choose one of auto, *"),
        (["--otaloop-port", "/dev/ttyACM0"], "--otaloop-port needs --otaloop-http HOST:PORT*"),
        (["--otaloop-port", "/dev/ttyACM0", "--otaloop-http", "10.0.0.1"], "--otaloop-http '10.0.0.1': expected*"),
        (["--otaloop-reconnect", "-1"], "--otaloop-reconnect must be >= 0 seconds, got -1"),
        (["--otaloop-boot-timeout", "0"], "--otaloop-boot-timeout must be > 0 seconds, got 0"),
        (["--otaloop-power-on", "relay on"], "give both --otaloop-power-on and --otaloop-power-off, or neither"),
        (["--otaloop-start", "clean"], "--otaloop-start 'clean': choose factory or keep"),
    ],
)
def test_bad_options_are_one_line_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = _run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert "Traceback" not in result.stderr.str()


@pytest.mark.parametrize("case", ["a file", "under a file", "read-only", "unwritable for root"])
def test_an_unusable_log_dir_is_a_usage_error_before_any_test(pytester: pytest.Pytester, case: str) -> None:
    if case == "read-only" and os.geteuid() == 0:
        pytest.skip("root writes in a read-only folder; 'unwritable for root' covers the write check")
    pytester.makepyfile("import pathlib\ndef test_plain():\n    pathlib.Path('ran').touch()\n")
    target = pytester.path / "logs"
    if case == "a file":
        target.write_text("not a folder")
    elif case == "under a file":
        (pytester.path / "file").write_text("not a folder")
        target = pytester.path / "file" / "logs"
    elif case == "read-only":
        target.mkdir()
        target.chmod(0o500)
    else:
        target = Path("/proc")  # a folder in which no one, root included, can create a file
    messages = {
        "a file": f"--otaloop-log-dir {target}: exists and is not a directory",
        "under a file": f"--otaloop-log-dir {target}: cannot create it: *",
        "read-only": f"--otaloop-log-dir {target}: cannot write in it: Permission denied",
        "unwritable for root": f"--otaloop-log-dir {target}: cannot write in it: *",
    }
    result = _run(pytester, "--otaloop-log-dir", str(target))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {messages[case]}"])
    assert not (pytester.path / "ran").exists()  # refused before any test ran
    assert "Traceback" not in result.stderr.str()


def test_ini_keys_set_the_options(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\notaloop_quirks = corrected\notaloop_log_dir = board-logs\notaloop_link = inproc\n")
    pytester.makepyfile(
        "def test_profile(virtual_board, ota_bench):\n"
        "    assert virtual_board.call(lambda b: b.config.profile.name) == 'corrected'\n"
        "    assert type(ota_bench.console.port).__name__ == 'VirtualPort'\n"
    )
    result = _run(pytester)
    result.assert_outcomes(passed=1)
    assert (pytester.path / "board-logs" / "test_ini_keys_set_the_options.py__test_profile.log").is_file()
    # The command line wins over the ini file.
    result = _run(pytester, "--otaloop-quirks", "harmony-3.9.1")
    result.assert_outcomes(failed=1)


# ------------------------------------------------------------------------------- the real-board path
@dataclass
class RealBoard:
    """An `otaloop board` process on a pty, standing in for a board on /dev/ttyACM0."""

    tty: str
    images: Path
    http: str
    pid: int


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
        yield RealBoard(line.split(" ", 1)[1].strip(), images, f"127.0.0.1:{port}", proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_the_same_file_on_a_real_board_through_pyserial(pytester: pytest.Pytester, real_board: RealBoard) -> None:
    pytester.makepyfile(test_user=USER_TESTS, test_markers=MARKER_TESTS)
    # OPTION=VALUE for paths: pytest takes any argument naming an existing path into account for its rootdir.
    args = [f"--otaloop-port={real_board.tty}", "--otaloop-http", real_board.http]
    args += [f"--otaloop-images={real_board.images}", "--junitxml", "report.xml", "-rs"]
    # Three library scenarios too: one runs, two need what this board lacks.
    args += ["--otaloop-scenarios", "-k", "not otaloop-scenarios or first_boot or k_factory_reset or c_update"]
    result = _run(pytester, *args)
    result.stdout.fnmatch_lines(
        [f"otaloop: real board(s) at {real_board.tty}; image server {real_board.http};*", f"rootdir: {pytester.path}"]
    )
    # The update, the images and the console work as on the virtual board; what needs the virtual board
    # or power control is skipped, each with its reason.
    result.assert_outcomes(passed=4, skipped=8)
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
            "SKIPPED * needs provision (provision: only the virtual board starts from freshly programmed flash)",
            "SKIPPED * needs a board flashed with the 'manual' factory app (this one: 'auto')*",
        ]
    )
    props = _properties(pytester.path / "report.xml")
    assert props["test_periodic_check_installs_v2"]["otaloop_board"] == f"real:{real_board.tty}"
    assert props["test_periodic_check_installs_v2"]["otaloop_app_version"] == "2"
    # The next test found the board on v2 and brought it back to its factory app first.
    assert props["test_images_differ_by_version"]["otaloop_app_version"] == "1"
    assert props["c_update"]["otaloop_observation"] == "v1 -> v2 in one reset"
    assert "otaloop_board_seconds" not in props["c_update"]  # a real board has no virtual clock


def test_a_lost_console_port_stops_the_run_after_that_test(pytester: pytest.Pytester, real_board: RealBoard) -> None:
    pytester.makepyfile(
        test_unplugged=f"""
import os, signal, time


def test_the_cable_is_pulled(ota_board):
    os.kill({real_board.pid}, signal.SIGTERM)  # the board process exits and its pty goes away
    time.sleep(1.0)
    ota_board.status()


def test_never_reached(ota_board):
    pass
"""
    )
    args = [f"--otaloop-port={real_board.tty}", "--otaloop-http", real_board.http, "--otaloop-reconnect", "0"]
    result = _run(pytester, *args, f"--otaloop-images={real_board.images}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["E   *PortLost: *", "*Interrupted: otaloop: the board's console port was lost: *", "*1 failed*"]
    )


def test_a_dead_board_fails_the_first_test_at_the_boot_timeout_and_the_rest_at_once(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    from harness.served_board.uart_link import PtyLink

    pytester.makepyfile(test_dead="def test_one(ota_board):\n    pass\n\n\ndef test_two(ota_board):\n    pass\n")
    silent = PtyLink()  # a port with nothing behind it: an unpowered or unflashed board
    (tmp_path / "auto_v1.bin").write_bytes(b"an image of the declared configuration")
    try:
        args = [f"--otaloop-port={silent.url}", "--otaloop-http", f"127.0.0.1:{_free_port()}"]
        args.append(f"--otaloop-images={tmp_path}")
        result = _run(pytester, *args, "--otaloop-boot-timeout", "1")
    finally:
        silent.close()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*otaloop: the board did not boot: BoardDead: no bootloader banner within 1 s: is the board powered*",
            "*otaloop: cannot set up the board: BoardDead: the board is still dead (no bootloader banner within 1 s);"
            " not tried again",
        ]
    )


def test_markers_on_virtual_boards(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_markers=MARKER_TESTS)
    result = _run(pytester)
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
    result = _run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{message}"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_library_names_are_collected(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "--otaloop-scenarios", "--collect-only", "-q")
    result.stdout.fnmatch_lines([f"otaloop-scenarios::{name}" for name in REGISTRY])


# ------------------------------------------------------------------------------------------------ reports
FAILING_TEST = """
import pytest


@pytest.mark.otaloop_config("manual")  # no periodic checks: the board is quiet after the status answer
def test_expects_the_wrong_version(ota_board):
    assert ota_board.status().version == 3
"""


def test_a_failure_shows_the_console_tail_and_the_console_section(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fails=FAILING_TEST)
    result = _run(pytester, "--otaloop-tail", "6")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    # The tail follows the assertion inside the failure text, then the whole console as its own section.
    assert out.index("AssertionError") < out.index("last 6 console lines (virtual)") < out.index("otaloop console")
    result.stdout.fnmatch_lines(
        [
            "*- last 6 console lines (virtual) -*",
            "otactl status",
            "otactl: state=* downloaded=0 total=0 version=1",
            "*- otaloop console (virtual) -*",
            "BOOTLOADER Build *",
        ]
    )
    tail = out.split("last 6 console lines (virtual)", 1)[1].split("otaloop console (virtual)", 1)[0]
    assert len([line for line in tail.splitlines()[1:] if line.strip() and not line.startswith("-")]) == 6


def test_a_scenario_failure_shows_expected_and_seen_not_a_traceback(pytester: pytest.Pytester) -> None:
    # Profile `corrected` downloads a 3 KiB image that Harmony refuses, so `small_image` fails on purpose.
    result = _run(pytester, "--otaloop-scenarios", "--otaloop-quirks", "corrected", "-k", "small_image")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ small_image _*",
            "small_image: ScenarioFailed: within * board seconds the console did not show:",
            "  != expected 'SYS OTA : Download error'",
            "     seen     (nothing)",
            "*- last 20 console lines (virtual) -*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*def run(*")


def test_junitxml_properties_and_log_files(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS, test_fails=FAILING_TEST)
    result = _run(pytester, "--junitxml", "report.xml", "--otaloop-log-dir", "logs", "-k", "v2 or wrong")
    result.assert_outcomes(passed=1, failed=1)
    props = _properties(pytester.path / "report.xml")
    update = props["test_periodic_check_installs_v2"]
    assert (update["otaloop_board"], update["otaloop_app_version"]) == ("virtual", "2")
    log = Path(update["otaloop_log"])
    assert log == Path("logs/test_user.py__test_periodic_check_installs_v2.log")
    raw = (pytester.path / log).read_bytes()
    assert b"APP: version 1\r\n" in raw and b"APP: version 2\r\n" in raw  # the raw bytes, CR LF and all
    failed = props["test_expects_the_wrong_version"]
    assert failed["otaloop_app_version"] == "1"
    assert (pytester.path / failed["otaloop_log"]).read_bytes().count(b"otactl status") == 1
    # The failure element carries the console tail too, for CI systems that show only the XML.
    failure = (
        ET.parse(pytester.path / "report.xml")
        .getroot()
        .find(".//testcase[@name='test_expects_the_wrong_version']/failure")
    )
    assert failure is not None and "console lines (virtual) ---" in (failure.text or "")
    assert "otactl: state=SYS_OTA_STATE_IDLE downloaded=0 total=0 version=1" in (failure.text or "")


def test_log_names_are_file_names() -> None:
    from harness.pytest_plugin.reports import log_name

    assert log_name("tests/test_a.py::test_b[v2-http 404]") == "tests_test_a.py__test_b[v2-http_404].log"
    assert log_name("otaloop-scenarios::c_update") == "otaloop-scenarios__c_update.log"
    long = log_name("t.py::test[" + "x" * 400 + "]")
    assert len(long) < 200 and long != log_name("t.py::test[" + "x" * 399 + "y]")


# ------------------------------------------------------------------------------------- scenario items
def test_the_library_runs_as_tests_with_k_junitxml_x_and_lf(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "--otaloop-scenarios", "-k", "c_update or first_boot", "--junitxml", "lib.xml")
    result.assert_outcomes(passed=2)
    props = _properties(pytester.path / "lib.xml")
    assert props["c_update"]["otaloop_observation"] == "v1 -> v2 in one reset"
    assert props["c_update"]["otaloop_app_version"] == "2" and float(props["c_update"]["otaloop_board_seconds"]) > 60
    # -x stops at the first failure: with profile `corrected`, small_image fails and big_manifest never runs.
    args = ["--otaloop-scenarios", "--otaloop-quirks", "corrected", "-k", "c_update or small_image or big_manifest"]
    result = _run(pytester, *args, "-x")
    result.assert_outcomes(passed=1, failed=1)
    # --lf runs only what failed last time.
    result = _run(pytester, *args, "--lf", "-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*otaloop-scenarios::small_image FAILED*"])


def test_a_scenarios_needs_are_its_markers(pytester: pytest.Pytester) -> None:
    # The markers carry each scenario's needs, so -m selects by them (and a real board skips by them).
    result = _run(pytester, "--otaloop-scenarios", "-m", "otaloop_requires", "--collect-only", "-q")
    needs = [name for name, sc in REGISTRY.items() if sc.requires]
    result.stdout.fnmatch_lines([f"otaloop-scenarios::{name}" for name in needs])
    assert f"{len(needs)}/{len(REGISTRY)} tests collected" in result.stdout.str()


def test_k_selects_the_library_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mine="def test_mine():\n    pass\n")
    result = _run(pytester, "--otaloop-scenarios", "-k", "otaloop-scenarios", "--collect-only", "-q")
    result.stdout.no_fnmatch_line("*test_mine*")
    assert f"{len(REGISTRY)}/{len(REGISTRY) + 1} tests collected" in result.stdout.str()


# ---------------------------------------------------------------------------------------------- reuse
REUSE_TESTS = """
import pytest


def test_update_on_the_shared_board(ota_bench, ota_board):
    ota_bench.publish(2)
    assert ota_board.events_until({"SYS_OTA_DB_ENTRY_SUCCESS"}, ota_bench.wall(200))
    assert ota_board.wait_boot(ota_bench.wall(200)).app_version == 2


def test_the_next_test_finds_v2_running(ota_board, ota_bench):
    assert ota_board.status().version == 2
    assert "BOOTLOADER" not in ota_bench.console.lines(ota_bench.start_offset)  # no boot for this test


@pytest.mark.otaloop_config("manual")
def test_another_configuration_gets_its_own_board(ota_board):
    assert ota_board.status().version == 1
"""


def test_reuse_keeps_one_board_per_configuration(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_reuse=REUSE_TESTS)
    result = _run(pytester, "--otaloop-reuse", "-p", "no:randomly")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["otaloop: virtual boards (*); one board per configuration, reused; *"])
    # Without reuse every test gets a fresh board, so the second one finds the factory app.
    result = _run(pytester)
    result.assert_outcomes(passed=2, failed=1)


def test_reuse_on_a_real_board_skips_the_factory_restore(pytester: pytest.Pytester, real_board: RealBoard) -> None:
    pytester.makepyfile(test_reuse=REUSE_TESTS)
    args = [f"--otaloop-port={real_board.tty}", "--otaloop-http", real_board.http, "--otaloop-reuse"]
    result = _run(pytester, *args, f"--otaloop-images={real_board.images}", "-rs")
    result.assert_outcomes(passed=2, skipped=1)  # the `manual` test needs another factory app
    result.stdout.fnmatch_lines(["otaloop: real board(s) at *; reusing the board between tests; *"])


# ----------------------------------------------------------------------------------------- pytest-xdist
def test_two_xdist_workers_each_get_their_own_boards(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is not installed (pip install otaloop[pytest])")
    pytester.makepyfile(
        test_parallel="""
import os
import pytest


@pytest.mark.parametrize("n", range(4))
def test_board(n, ota_board, ota_server, tmp_path_factory):
    assert ota_board.status().version == 1
    where = f"{os.environ['PYTEST_XDIST_WORKER']} {ota_server.port} {ota_board.console.port.port}"
    (tmp_path_factory.getbasetemp().parent.parent / f"board-{n}.txt").write_text(where)
"""
    )
    # Two library scenarios join them: the items go to the workers like any test.
    result = _run(pytester, "-n", "2", "-v", "--otaloop-scenarios", "-k", "test_board or c_update or b_no_update")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines_random(
        ["*PASSED otaloop-scenarios::c_update*", "*PASSED otaloop-scenarios::b_no_update*"]
    )
    seen = [path.read_text().split() for path in sorted(pytester.path.parent.glob("**/board-*.txt"))]
    assert len(seen) == 4
    assert {worker for worker, _, _ in seen} == {"gw0", "gw1"}
    assert len({port for _, port, _ in seen}) == 4  # an image server per test, on a free port
    assert len({tty for _, _, tty in seen}) >= 2 and all(tty.startswith("/dev/pts/") for _, _, tty in seen)


def test_xdist_on_one_real_board_is_refused(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is not installed (pip install otaloop[pytest])")
    pytester.makepyfile("def test_x(ota_board):\n    pass\n")
    args = ["--otaloop-port", "/dev/ttyACM0", "--otaloop-http", "192.168.43.10:8000", "--otaloop-images", str(tmp_path)]
    result = _run(pytester, "-n", "2", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: otaloop: 2 pytest-xdist workers but 1 real board(s): a real board serves one worker at a time. "
            "Give --otaloop-port (and --otaloop-http) once per worker, run fewer workers (-n 1), or drop "
            "--otaloop-port to run on virtual boards."
        ]
    )


def test_one_port_per_worker_picks_each_workers_board() -> None:
    settings = options.Settings(
        ports=("/dev/ttyACM0", "/dev/ttyACM1"),
        http=(("10.0.0.1", 8000), ("10.0.1.1", 8000)),
        images=(Path("imgs"),),
        power_on="uhubctl -a on -p {index}",
        power_off="uhubctl -a off -p {index}",
    )
    second = settings.real_board(1)
    assert (second.port, second.http_host, second.images) == ("/dev/ttyACM1", "10.0.1.1", Path("imgs"))
    assert settings.power_commands(1) == ("uhubctl -a on -p 1", "uhubctl -a off -p 1")
    with pytest.raises(pytest.UsageError, match="worker 2 has no board"):
        settings.real_board(2)


# ----------------------------------------------------------------------------------- docs and examples
DOC = (ROOT / "docs" / "pytest.md").read_text()
EXAMPLES = sorted((ROOT / "examples").glob("test_*.py"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_the_docs_show_each_example_file_whole(example: Path) -> None:
    assert f"`examples/{example.name}`" in DOC
    assert f"```python\n{example.read_text()}```" in DOC


def test_the_docs_name_every_option_fixture_and_marker() -> None:
    from harness import pytest_plugin
    from harness.pytest_plugin.markers import CAPABILITIES, MARKERS

    for key in [*options._HELP, "scenarios"]:
        assert f"`--otaloop-{key.replace('_', '-')}" in DOC, key
        assert key == "scenarios" or f"`otaloop_{key}`" in DOC, key
    for fixture in pytest_plugin.__all__:
        assert fixture.startswith("_") or f"| `{fixture}` |" in DOC, fixture
    for marker in MARKERS:
        assert f"@pytest.mark.{marker}(" in DOC, marker
    assert all(f"`{name}`" in DOC for name in CAPABILITIES)


def test_the_examples_run_on_a_real_board_too(pytester: pytest.Pytester, real_board: RealBoard) -> None:
    for example in EXAMPLES:  # renamed: this process may have imported examples/ under the same names
        pytester.makepyfile(**{f"{example.stem}_copy": example.read_text()})
    args = [f"--otaloop-port={real_board.tty}", "--otaloop-http", real_board.http]
    result = _run(pytester, *args, f"--otaloop-images={real_board.images}", "-rs")
    result.assert_outcomes(passed=3, skipped=2)
    result.stdout.fnmatch_lines_random(
        [
            "SKIPPED * needs flash_inspect (flash_inspect: only the virtual board can look*",
            "SKIPPED * needs virtual (virtual: it runs on the virtual board only)*",
        ]
    )


# ------------------------------------------------------------------------- BoardStateMachine tests
MACHINE_TESTS = """
import pytest
from hypothesis import settings
from hypothesis.stateful import initialize, invariant, rule

from harness.fuzzing import HAZARDS, BoardStateMachine


def machine(name, **attributes):
    class Machine(BoardStateMachine):
        tolerate = frozenset(HAZARDS)

        @initialize()
        def setup_rule(self):
            self.setup("manual")

        @rule()
        def a_check(self):
            self.control("check")

        @invariant()
        def report(self):
            with open("seen.txt", "a") as out:
                out.write(f"{name} {type(self).quirks} {self.profile.name} {self.board.bootloader.label}\\n")

    for rule_name in ("power_rule", "cut_power_rule", "control_rule", "type_rule", "start_update_rule",
                      "serve_rule", "serve_release_rule", "server_fault_rule", "network_rule", "wait_rule",
                      "during_rule"):
        setattr(Machine, rule_name, lambda self: None)
    for key, value in attributes.items():
        setattr(Machine, key, value)
    Machine.TestCase.settings = settings(max_examples=1, stateful_step_count=1, deadline=None, database=None)
    return Machine.TestCase


TestPlain = machine("plain")
TestOwnProfile = machine("own", quirks="corrected")
TestMarked = pytest.mark.otaloop_quirks("corrected")(machine("marked"))
"""


def _seen(pytester: pytest.Pytester) -> set[tuple[str, ...]]:
    return {tuple(line.split()) for line in (pytester.path / "seen.txt").read_text().splitlines()}


def test_state_machine_tests_take_the_runs_quirks_and_bootloader(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pytester.makepyfile(test_machines=MACHINE_TESTS)
    _run(pytester).assert_outcomes(passed=3)
    assert _seen(pytester) == {
        ("plain", "harmony-3.9.1", "harmony-3.9.1", "model"),
        ("own", "corrected", "corrected", "model"),
        ("marked", "corrected", "corrected", "model"),
    }
    (pytester.path / "seen.txt").unlink()
    require_tool("cc", "gcc")
    cache = tmp_path_factory.mktemp("example")
    build_example(cache)
    _run(pytester, "--otaloop-quirks", "corrected", f"--otaloop-bootloader=native:{cache}").assert_outcomes(passed=3)
    native = f"native:{cache}"
    assert _seen(pytester) == {
        ("plain", "corrected", "corrected", native),
        ("own", "corrected", "corrected", native),
        ("marked", "corrected", "corrected", native),
    }


# ------------------------------------------------------------------- pytest-embedded conveniences, logs, skips
EXPECT_TESTS = """
import re

import pytest

from bootloader_model.errors import ConsoleTimeout


def test_expect_and_write(ota_board, ota_bench, virtual_board):
    ota_board.wait_idle(ota_bench.wall(10))
    ota_board.write("otactl status")
    assert ota_board.expect("otactl: state=", timeout=5).group(0) == b"otactl: state="
    assert ota_board.expect(re.compile(r"version=(\\d+)"), timeout=5).group(1) == "1"
    ota_bench.write("sysota get info")
    assert ota_bench.expect(re.compile(rb"Periodic check : (\\d)"), timeout=5).group(1) == b"1"
    virtual_board.write("otactl status")
    assert virtual_board.expect(re.compile(r"downloaded=(\\d+)"), timeout=5).group(1) == "0"


def test_a_missing_line_times_out_with_the_tail(ota_board):
    with pytest.raises(ConsoleTimeout) as caught:
        ota_board.expect("SYS_OTA_DOWNLOAD_START", timeout=0.5)
    assert "no 'SYS_OTA_DOWNLOAD_START' within 0.5 s; last bytes seen:" in str(caught.value)
    assert b"SYS_OTA_UPDATE_CHECK" in caught.value.tail  # what the board printed meanwhile
"""


def test_expect_and_write_on_the_board_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_expect=EXPECT_TESTS)
    result = _run(pytester)
    result.assert_outcomes(passed=2)


def test_each_tests_console_is_logged_by_default_without_the_backlog(pytester: pytest.Pytester) -> None:
    # One reused board with a periodic check every 60 board seconds (60 ms at speed 1000): between the tests it
    # keeps printing, and the second test's log starts with a line that says how much was left out.
    pytester.makepyfile(
        test_logged="def test_one(ota_board):\n    pass\n\n\ndef test_two(ota_board):\n    ota_board.status()\n"
    )
    result = _run(pytester, "--otaloop-reuse", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    folder = Path(pytester.path.parent / "basetemp" / "otaloop-logs")
    result.stdout.fnmatch_lines([f"otaloop: console logs of 2 test(s) in {folder}"])
    first = (folder / "test_logged.py__test_one.log").read_bytes()
    second = (folder / "test_logged.py__test_two.log").read_bytes()
    assert first.startswith(b"\nBOOTLOADER Build")  # a fresh board: nothing before its first banner
    head, _, rest = second.partition(b"\n")
    assert re.fullmatch(rb"\[otaloop\] [1-9]\d* bytes the port buffered before this test were discarded", head), head
    assert b"otactl: state=" in rest and b"BOOTLOADER" not in rest
    # --otaloop-log-dir moves them.
    result = _run(pytester, "--otaloop-log-dir=elsewhere")
    result.stdout.fnmatch_lines([f"otaloop: console logs of 2 test(s) in {pytester.path / 'elsewhere'}"])


def test_the_plugins_skips_point_at_the_test(pytester: pytest.Pytester, real_board: RealBoard) -> None:
    pytester.makepyfile(
        test_where="""
import pytest


def test_needs_the_virtual_board(virtual_board):
    pass


@pytest.mark.otaloop_requires("power_cut")
def test_needs_cuts(ota_bench):
    pass


def test_needs_power(ota_power):
    pass
"""
    )
    args = [f"--otaloop-port={real_board.tty}", "--otaloop-http", real_board.http]
    result = _run(pytester, *args, f"--otaloop-images={real_board.images}", "-rs")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines_random(
        [
            "SKIPPED [[]1] test_where.py:4: virtual_board: this run drives a real board*",
            "SKIPPED [[]1] test_where.py:8: needs power_cut*",
            "SKIPPED [[]1] test_where.py:13: ota_power: this real board has no power control*",
        ]
    )
    result.stdout.no_fnmatch_line("SKIPPED * harness/*")
