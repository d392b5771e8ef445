"""Native bootloaders: C code built for the host with otaloop's shims, run as the virtual board's bootloader.

CI has no Harmony sources, so most tests build otaloop's own example bootloader
(``harness/native/c/example``: SYS_FS calls, NVM plib calls, printf, the software-reset register
sequence, a call through boot control's ``boot_addr``) and take it through the whole path: build, boot on
the virtual board, a power cut at operation k, the update sweep, the compare mode. The last tests build
the user's real Harmony bootloader from ``$OTALOOP_HARMONY_APPS`` and skip, saying so, when it is unset.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from bootloader_model.board.virtual_board import AppState, BoardConfig, VirtualBoard
from bootloader_model.bootloader.program import ModelProgram
from bootloader_model.bootloader.result import Outcome
from bootloader_model.bootloader.state import DEFAULT_BUILD_STAMP
from bootloader_model.errors import CallerError
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import OTA_DIR
from bootloader_model.storage.nor_flash import FaultPlan
from conftest import harmony_apps, require_tool
from harness.cli import main as cli_main
from harness.image.server import ImageServer
from harness.native import bootloader_program
from harness.native.bootloader_program import NativeProgram
from harness.native.build import SHIM_DIR, build, build_example, locate, stamp_of
from harness.native.compare import Case, compare_case, power_up, run_compare, scenario_cases, sweep_cases
from harness.native.programs import bootloader_from_spec
from harness.native.remote_fs import RemoteFiles
from harness.scenarios.runner import run_suite, select, virtual_provider
from harness.sweeps.bootloader import build_scene
from harness.sweeps.executor import InProcess
from harness.sweeps.fault_ids import Params
from harness.sweeps.update import UpdateRig, plan_sweep, record, run_sweep

URL = "http://127.0.0.1:9/ota.json"


def _factory() -> bytes:
    return build_app(AppDescriptor(version=1, manifest_url=URL), 16 * 1024)


def _board(spec: str) -> VirtualBoard:
    board = VirtualBoard(BoardConfig(bootloader=bootloader_from_spec(spec), timed_flash=False))
    board.provision(_factory())
    return board


def test_build_describes_itself(example: Path) -> None:
    native = NativeProgram(example)
    assert native.build.kind == "example"
    assert native.build.remote_fs
    assert native.build_stamp == DEFAULT_BUILD_STAMP  # SOURCE_DATE_EPOCH default: the model's banner date
    assert stamp_of(0) == ("Jan  1 1970", "00:00:00")  # GCC pads the day with a space


def test_source_date_epoch_sets_the_banner(tmp_path: Path) -> None:
    require_tool("cc", "gcc")
    build_example(tmp_path, epoch=1_700_000_000)
    board = _board(f"native:{tmp_path}")
    board.power_on()
    assert board.transcript.startswith(b"\nBOOTLOADER Build Nov 14 2023 22:13:20\r\n")


def test_first_boot_matches_the_model_byte_for_byte(example: Path) -> None:
    native, model = _board(f"native:{example}"), _board("model")
    for board in (native, model):
        board.power_on()
        assert board.state is AppState.RUNNING
    assert [b.outcome for b in native.boots] == [Outcome.RESET, Outcome.JUMP]
    assert native.boots[1].jump_addr == 0xB002_1000
    assert native.boots[0].factory_backup
    assert native.transcript == model.transcript  # banner twice, then the application's first line
    assert native.internal.data == model.internal.data
    assert native.external.data == model.external.data
    assert ExternalFlash(native.external).file_size(f"{OTA_DIR}/factory_reset.bin") == 0xDF000


@pytest.mark.parametrize("device,k", [("external", 700), ("internal", 2)])
def test_power_cut_stops_the_c_code_at_operation_k(example: Path, device: str, k: int) -> None:
    native, model = _board(f"native:{example}"), _board("model")
    for board in (native, model):
        flash = board.internal if device == "internal" else board.external
        start = flash.op_count
        board.arm_cut(device, FaultPlan(k))
        board.power_on()
        assert board.last_cut is not None and board.state is AppState.OFF
        assert flash.op_count == start + k + 1  # nothing ran after the cut operation
    assert native.transcript == model.transcript
    assert native.internal.data == model.internal.data
    assert native.external.data == model.external.data
    native.power_on()  # RAM was lost: the backup starts over and completes
    assert native.state is AppState.RUNNING


def test_a_loop_for_ever_is_reported(example: Path) -> None:
    board = _board(f"native:{example}")
    board.power_on()
    board.power_off()
    board.internal.erase(0x1002_0000)  # boot control blank: "Uninitialized sector", factory path
    ExternalFlash(board.external).remove(f"{OTA_DIR}/factory_reset.bin")  # ... and nothing to restore
    board.transcript.clear()
    board.power_on()
    result = board.boots[-1]
    assert board.state is AppState.BOOTLOADER_STUCK
    assert result.outcome is Outcome.STUCK
    assert "cycle of 1 pass" in (result.stuck_reason or "")
    # The cycle (one pass printing the line) runs three times from its first state: the failed open
    # changed no flash, so the state the pass that tried it left is the cycle's first. compare counts
    # the repeats of a stuck run's last line once.
    tail = result.console.split(b"Uninitialized sector\n", 1)[1]
    assert tail == b"file open error\n" * 3
    model = power_up(ModelProgram(), bytes(board.internal.data), bytes(board.external.data))
    assert model.boots[-1].outcome is Outcome.STUCK and model.console.endswith(b"file open error\n" * 3)


def test_a_cycle_that_starts_late_is_found_by_the_sparse_checks(tmp_path: Path) -> None:
    """After 2048 quiet passes the runner looks the state up every 16th pass only: a cycle of three passes
    entered at pass 3000 is still found (as a cycle of a multiple of three passes), long before the
    20,000-pass bound for loops whose RAM keeps changing."""
    build_example(tmp_path, defines=["EXAMPLE_LATE_CYCLE"])
    board = _board(f"native:{tmp_path}")
    board.power_on()
    result = board.boots[-1]
    assert result.outcome is Outcome.STUCK
    found = re.search(r"repeats a cycle of (\d+) pass", result.stuck_reason or "")
    assert found is not None, result.stuck_reason
    assert int(found[1]) % 3 == 0
    assert 3000 < result.iterations < 3000 + 4 * int(found[1]) + 16


def test_reads_answered_ahead_change_no_verdict(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An example build's seek and the read after it cost one round trip (the read is answered ahead):
    the whole default sweep of an 8 KiB update is judged the same with and without that."""
    taken: list[int] = []
    boots: list[int] = []
    take, boot = RemoteFiles.take_ahead, NativeProgram.boot
    monkeypatch.setattr(RemoteFiles, "take_ahead", lambda self, h, w: taken.append(h) or take(self, h, w))
    monkeypatch.setattr(NativeProgram, "boot", lambda self, *a: boots.append(1) or boot(self, *a))
    with ImageServer() as server:
        ref = record(UpdateRig(Params(size=8 * 1024, bootloader=f"native:{example}"), server))
        ahead = run_sweep(plan_sweep(ref), InProcess())
        assert taken and boots
        first_taken, first_boots = len(taken), len(boots)
        monkeypatch.setattr(bootloader_program, "ANSWER_AHEAD", False)
        plain = run_sweep(plan_sweep(ref), InProcess())
    assert len(taken) == first_taken and len(boots) > first_boots  # booted again, every call answered alone
    assert [(c.fault, c.judgement) for c in ahead] == [(c.fault, c.judgement) for c in plain]


def test_update_scenario_runs_on_the_native_bootloader(example: Path) -> None:
    provider = virtual_provider(link="inproc", bootloader=f"native:{example}")
    results = run_suite(select(["c_update", "k_factory_reset"]), provider)
    assert [r.status for r in results] == ["PASS", "PASS"], [r.detail for r in results]


def test_compare_reports_an_injected_bug(example: Path, tmp_path: Path) -> None:
    build_example(tmp_path, defines=["EXAMPLE_SKIP_VERIFY"])
    scene = build_scene("verify-failure", fat=True)
    ext = scene.board.volume.flash
    assert ext is not None
    case = Case("verify-failure", bytes(scene.board.flash.data), bytes(ext.data))
    model = ModelProgram()
    buggy = compare_case(case, model, NativeProgram(tmp_path))
    assert buggy is not None
    assert "console" in buggy.aspects and "internal flash" in buggy.aspects
    report = buggy.report()
    assert "DIVERGENCE verify-failure" in report
    assert "Broken Image" in report and "internal flash differs at 0x1002" in report
    assert b"Broken Image" not in buggy.native.console
    faithful = power_up(NativeProgram(example), case.internal, case.external)
    assert b"Broken Image" in faithful.console  # the unmodified example verifies


def test_compare_over_scenarios_and_a_sampled_sweep(example: Path) -> None:
    native = NativeProgram(example)
    cases = scenario_cases(["first_boot", "c_update"])
    assert len(cases) >= 4
    n, divergences = run_compare(cases, native)
    assert n == len(cases)
    assert divergences == [], "\n".join(d.report() for d in divergences)
    n, divergences = run_compare(sweep_cases(Params(size=8192), stride=40), native)
    assert n > 20
    for d in divergences:  # every report names the case and what differs
        assert d.case.startswith("update/size=8192:") and d.aspects


def test_sweep_cli_takes_the_native_bootloader(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli_main(["sweep", "update", "--size", "8192", "--stride", "60", "--bootloader", f"native:{example}"])
    out = capsys.readouterr().out
    assert rc == 0
    assert f"native:{example}" in out and "new-image" in out


def test_cli_build_info_and_bad_choices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("cc", "gcc")
    assert cli_main(["native", "build", "--example", "--cache", str(tmp_path / "c")]) == 0
    assert "use it with: --bootloader native:" in capsys.readouterr().out
    assert cli_main(["native", "info", str(tmp_path / "c")]) == 0
    assert '"kind": "example"' in capsys.readouterr().out
    assert cli_main(["native", "info", str(tmp_path / "none")]) == 2
    assert "run otaloop native build first" in capsys.readouterr().err
    with pytest.raises(CallerError, match="unknown bootloader"):
        bootloader_from_spec("python")
    assert cli_main(["native", "build", "--harmony", str(tmp_path)]) == 2
    assert "holds no Harmony OTA bootloader" in capsys.readouterr().err


def test_locate_refuses_unsupported_configurations(tmp_path: Path) -> None:
    src = tmp_path / "apps/ota_bootloader/firmware/src"
    (src / "bootloader").mkdir(parents=True)
    (src / "config/pic32mz_w1_curiosity_freertos").mkdir(parents=True)
    with pytest.raises(CallerError, match=r"wolfcrypt build .* TrustFlex build .* pic32mz_w1_curiosity_freertos"):
        locate(tmp_path)
    (src / "config/pic32mz_w1_curiosity_wolfcrypt").mkdir()
    (src / "bootloader/bootloader_wolfcrypt.c").write_text("")
    with pytest.raises(CallerError, match=r"no trustflex build"):
        locate(tmp_path, "trustflex")
    with pytest.raises(CallerError, match=r"lacks initialization\.c"):
        locate(src)


HEAP_CHECK = r"""
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    void *p = malloc(24);
    void *q = realloc(p, 0);           /* newlib: a minimum block, p kept; glibc: NULL */
    int big = 0;
    while (malloc(512) != NULL) big++; /* the 8 KiB arena runs out */
    printf("%d %d %d\n", q != NULL, q == p, big);
    return 0;
}
"""


def test_heap_follows_newlib_and_runs_out_like_the_target(tmp_path: Path) -> None:
    require_tool("cc", "gcc")
    (tmp_path / "check.c").write_text(HEAP_CHECK)
    exe = tmp_path / "check"
    wrap = "-Wl,--wrap=malloc,--wrap=free,--wrap=calloc,--wrap=realloc"
    cmd = ["cc", "-O1", str(tmp_path / "check.c"), str(SHIM_DIR / "otaloop_heap.c"), wrap, "-o", str(exe)]
    subprocess.run(cmd, check=True)
    nonnull, same, blocks = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert (nonnull, same) == ("1", "1")
    assert 14 <= int(blocks) <= 15  # 8192 bytes of 520-byte blocks, less the first allocation


# ------------------------------------------------------------------------------- the real sources
def _harmony() -> Path:
    path = harmony_apps()
    return Path(path)


@pytest.fixture(scope="module")
def harmony(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = _harmony()
    require_tool("cc", "gcc")
    cache = tmp_path_factory.mktemp("harmony")
    build(locate(path), cache)
    return cache


def test_harmony_build_boots_and_survives_a_cut(harmony: Path) -> None:
    board = _board(f"native:{harmony}")
    board.power_on()
    assert [b.outcome for b in board.boots] == [Outcome.RESET, Outcome.JUMP]
    assert board.state is AppState.RUNNING
    cut = _board(f"native:{harmony}")
    cut.arm_cut("external", FaultPlan(500))
    cut.power_on()
    assert cut.last_cut is not None
    cut.power_on()
    assert cut.state is AppState.RUNNING


def test_harmony_scenarios_pass(harmony: Path) -> None:
    provider = virtual_provider(link="inproc", bootloader=f"native:{harmony}")
    results = run_suite(select(), provider)
    assert all(r.status == "PASS" for r in results), [(r.name, r.detail) for r in results if r.status != "PASS"]


def test_harmony_compare_reports_each_case(harmony: Path) -> None:
    n, divergences = run_compare(scenario_cases(), NativeProgram(harmony))
    assert n > 0
    for d in divergences:
        assert d.report().startswith(f"DIVERGENCE {d.case}")


PLUGIN_TESTS = """
def test_update_on_my_bootloader(ota_bench, ota_board, virtual_board):
    assert virtual_board.call(lambda b: b.bootloader.label).startswith("native:")
    ota_bench.publish(2)
    ota_board.events_until({"SYS_OTA_DB_ENTRY_SUCCESS"}, ota_bench.wall(200))
    assert ota_board.wait_boot(ota_bench.wall(200)).app_version == 2
"""


def test_pytest_plugin_option_runs_users_tests_on_the_native_bootloader(
    example: Path, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(test_user=PLUGIN_TESTS)
    result = pytester.runpytest("--otaloop-bootloader", f"native:{example}", "--otaloop-link", "inproc")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"otaloop: virtual boards (*bootloader native:{example}*"])
    bad = pytester.runpytest("--otaloop-bootloader", f"native:{example}-missing")
    bad.stderr.fnmatch_lines(["*--otaloop-bootloader: *run otaloop native build first*"])


def test_harmony_fuzz_search_finds_what_the_model_finds(harmony: Path) -> None:
    from harness.fuzzing.report import DOC_BUDGET, DOC_SEED
    from harness.fuzzing.search import find_hazards

    model = find_hazards(budget=DOC_BUDGET, seed_value=DOC_SEED)
    native = find_hazards(budget=DOC_BUDGET, seed_value=DOC_SEED, bootloader=f"native:{harmony}")
    assert native.names == model.names
    for ours, theirs in zip(model.findings, native.findings, strict=True):
        assert ours.error.steps == theirs.error.steps, ours.name


def test_an_example_helper_runs_on_the_callers_cpu() -> None:
    """An example build's helper is put on the CPU the caller runs on (its file calls are a conversation)."""
    child = subprocess.Popen(["sleep", "30"])
    try:
        bootloader_program._beside_caller(child.pid)
        mask = os.sched_getaffinity(child.pid)
        assert len(mask) == 1 and mask <= os.sched_getaffinity(0)
    finally:
        child.kill()
        child.wait()
    bootloader_program._beside_caller(child.pid)  # gone: nothing to do, and no error
