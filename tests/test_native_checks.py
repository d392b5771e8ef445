"""Native builds that find memory errors: ``otaloop native build --sanitize`` end to end on the example.

The example bootloader carries a planted stack buffer overflow (SELECT copies the chosen version as
decimal text into ``char ver[4]``): only a database row with a version above 999 reaches it. These tests
build the example with AddressSanitizer and UndefinedBehaviorSanitizer (real gcc, ``-m32`` when the
multilib runtimes are there), show that the scenario boots stay clean, that the planted input ends the
boot with the report and its C stack in the example's file, that ``otaloop run`` fails the scenario with
it and that the fuzzer names the hazard with a replay token that reproduces it.
"""

from __future__ import annotations

import pickle
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bootloader_model.board.virtual_board import VirtualBoard
from bootloader_model.bootloader.program import BootProgram
from bootloader_model.bootloader.result import BootResult, Outcome
from bootloader_model.errors import CallerError
from bootloader_model.storage.nor_flash import NorFlash
from conftest import (
    NATIVE_URL,
    assert_checked_scenarios_pass,
    assert_memory_error_hazard,
    booted_native_board,
    plant_db_version,
    require_sanitizers,
    require_tool,
)
from harness.cli import main as cli_main
from harness.fuzzing.machine import BoardStateMachine
from harness.fuzzing.strategies import ImageSpec
from harness.native.build import EXAMPLE_DIR, Instrumentation, build_example
from harness.native.build_record import NativeBuild
from harness.native.sanitizers import EXIT_CODE, NativeMemoryError, parse_report, parse_sanitize, runtime_env
from harness.scenarios.runner import run_suite, select, virtual_provider

URL = NATIVE_URL
EXAMPLE_C = str(EXAMPLE_DIR / "example_bootloader.c")


def _sanitizer_runtime() -> None:
    require_sanitizers()


@pytest.fixture(scope="module")
def sanitized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _sanitizer_runtime()
    cache = tmp_path_factory.mktemp("example-asan")
    build_example(cache, checks=Instrumentation.of("address,undefined"))
    return cache


def _plant_version(board: VirtualBoard, version: int) -> None:
    plant_db_version(board.internal, board.external, version)


def test_sanitize_names_are_checked() -> None:
    assert parse_sanitize("undefined, address") == ("address", "undefined")
    assert parse_sanitize("") == ()
    with pytest.raises(CallerError, match="unknown sanitizer memory"):
        parse_sanitize("address,memory")
    assert cli_main(["native", "build", "--example", "--sanitize", "thread"]) == 2


def test_the_build_records_its_sanitizers(sanitized: Path) -> None:
    build = NativeBuild.load(sanitized)
    assert build.sanitize == ("address", "undefined")
    assert b"__asan_init" in build.executable.read_bytes()
    env = runtime_env(build.sanitize)
    assert f"exitcode={EXIT_CODE}" in env["ASAN_OPTIONS"] and "handle_segv=0" in env["ASAN_OPTIONS"]


def test_scenario_boots_run_clean_under_the_sanitizers(sanitized: Path) -> None:
    assert_checked_scenarios_pass(f"native:{sanitized}")


def test_version_999_fits(sanitized: Path) -> None:
    board = booted_native_board(sanitized)
    _plant_version(board, 999)
    board.power_on()
    assert board.boots[-1].outcome is Outcome.JUMP  # "999" and its NUL fill ver[4] exactly


def test_the_planted_overflow_is_reported_with_its_c_stack(sanitized: Path) -> None:
    board = booted_native_board(sanitized)
    _plant_version(board, 1000)
    with pytest.raises(NativeMemoryError) as caught:
        board.power_on()
    report = caught.value.report
    assert (report.tool, report.kind, report.access) == ("AddressSanitizer", "stack-buffer-overflow", "WRITE of size 1")
    own = report.own_frames
    assert [f.function for f in own[:3]] == ["version_text", "select_image", "SYS_Tasks"]
    assert all(f.file == EXAMPLE_C and f.line > 0 for f in own)
    lines = Path(EXAMPLE_C).read_text().splitlines()
    assert "*out = 0;" in lines[own[0].line - 1]  # the NUL of the fifth character
    assert "version_text(ver, best_version)" in lines[own[1].line - 1]
    assert f"in version_text at {EXAMPLE_C}:{own[0].line}" in str(caught.value)
    assert "'ver'" in report.text  # ASan names the variable
    again = pickle.loads(pickle.dumps(caught.value))  # a sweep worker's error crosses back whole
    assert isinstance(again, NativeMemoryError) and str(again) == str(caught.value) and again.report == report


def test_the_plain_build_does_not_notice(tmp_path: Path) -> None:
    require_tool("cc", "gcc")
    build_example(tmp_path)
    board = booted_native_board(tmp_path)
    _plant_version(board, 1000)
    board.power_on()
    assert board.boots[-1].outcome is Outcome.JUMP  # the overflow is silent without the sanitizer


def test_otaloop_run_fails_the_scenario_with_the_report(sanitized: Path) -> None:
    class Planting:
        """The board's native bootloader; before the boot after the factory backup, the planted DB row."""

        def __init__(self, inner: BootProgram) -> None:
            self.inner, self.boots = inner, 0
            self.label = "planting"

        def boot(self, internal: NorFlash, external: NorFlash, console: Callable[[bytes], None]) -> BootResult:
            self.boots += 1
            if self.boots == 2:
                plant_db_version(internal, external, 1000)
            return self.inner.boot(internal, external, console)

    def plant(board: VirtualBoard) -> None:
        board.bootloader = Planting(board.bootloader)

    provider = virtual_provider(link="inproc", bootloader=f"native:{sanitized}", on_board=plant)
    (result,) = run_suite(select(["b_no_update"]), provider)
    assert result.status == "FAIL"
    assert result.detail.startswith("NativeMemoryError: memory error found by AddressSanitizer: stack-buffer-overflow")
    assert "example_bootloader.c:" in result.detail.splitlines()[0]


def test_fuzz_names_the_hazard_and_its_token_replays_it(sanitized: Path) -> None:
    machine = BoardStateMachine.with_bootloader(f"native:{sanitized}")()
    machine.setup()
    machine.wait(200)
    machine.serve(ImageSpec(1000, size=8192))  # the service installs it; the next boot selects v1000
    machine.wait(200)
    assert_memory_error_hazard(machine, "version_text")


def test_undefined_behaviour_report_is_parsed(tmp_path: Path) -> None:
    _sanitizer_runtime()
    source = tmp_path / "shift.c"
    source.write_text(
        "int shift(int v, int n) { return v << n; }\nint main(int c, char **v) { return shift(c, 31 + c); }\n"
    )
    exe = tmp_path / "shift"
    subprocess.run(
        ["gcc", "-m32", "-g", "-fsanitize=undefined", "-fno-sanitize-recover=all", str(source), "-o", str(exe)],
        check=True,
    )
    run = subprocess.run([str(exe)], capture_output=True, text=True, env=runtime_env(("undefined",)))
    assert run.returncode == EXIT_CODE
    report = parse_report(run.stderr, [tmp_path])
    assert report is not None and report.tool == "UndefinedBehaviorSanitizer"
    assert report.kind == "runtime error: shift exponent 32 is too large for 32-bit type 'int'"
    assert [(f.function, f.line) for f in report.own_frames] == [("shift", 1), ("main", 2)]
    assert report.own_frames[0].file == str(source)


def test_frames_without_file_and_line_are_resolved_with_addr2line(tmp_path: Path) -> None:
    require_tool("cc", "gcc")
    require_tool("addr2line", "binutils")
    require_tool("nm", "binutils")
    source = tmp_path / "two.c"
    source.write_text("int twice(int v) {\n    return v * 2;\n}\nint main(int c, char **v) { return twice(c); }\n")
    exe = tmp_path / "two"
    subprocess.run(["gcc", "-g", "-O0", str(source), "-o", str(exe)], check=True)
    symbols = subprocess.run(["nm", str(exe)], capture_output=True, text=True, check=True).stdout
    (offset,) = [int(line.split()[0], 16) for line in symbols.splitlines() if line.endswith(" twice")]
    stderr = (
        "==1==ERROR: AddressSanitizer: SEGV on unknown address 0x00000000\n"
        f"    #0 0x56555{offset:03x}  ({exe}+0x{offset:x})\n"
        "    #1 0xf7d8a2d4  (/lib32/libc.so.6+0x232d4)\n"
    )
    report = parse_report(stderr, [tmp_path])
    assert report is not None and (report.tool, report.kind) == ("AddressSanitizer", "SEGV")
    first = report.frames[0]
    assert (first.function, first.file, first.line, first.own) == ("twice", str(source), 1, True)
    assert report.headline() == f"memory error found by AddressSanitizer: SEGV in twice at {source}:1"
