"""Whole-board power-cut sweep of one update: the outcomes spec section 7 predicts, and replayable fault ids.

One exhaustive sweep (every operation of both flashes, cut before, after and torn) runs once per module;
the tests read its results. Replays re-run the update with a real FaultPlan and must leave the same flash
bytes and the same verdict as the sweep's rebuilt state.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bootloader_model.errors import CallerError
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS
from bootloader_model.storage.nor_flash import CutMode
from harness.image.server import ImageServer
from harness.sweeps.fault_ids import FaultId, Params
from harness.sweeps.report import report
from harness.sweeps.results import SweepRun
from harness.sweeps.update import (
    MODES,
    CaseResult,
    Reference,
    UpdateRig,
    judge_state,
    plan_sweep,
    record,
    replay,
    sweep,
    synthesize,
)
from harness.sweeps.verdicts import Verdict

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def results(rig: UpdateRig, ref: Reference) -> list[CaseResult]:
    return list(sweep(rig, ref))


def _in_phase(ref: Reference, phase: str) -> list[int]:
    return [op.index for op in ref.ops if op.phase == phase]


def test_reference_covers_both_flashes_in_three_phases(ref: Reference) -> None:
    phases = [op.phase for op in ref.ops]
    assert phases == sorted(phases, key=["app v1", "bootloader", "app v2"].index)  # no phase comes back
    assert {op.device for op in ref.ops} == {"internal", "external"}
    assert [op.index for op in ref.ops] == list(range(len(ref.ops)))
    assert ref.ops[ref.reset_at].phase == "bootloader" and ref.ops[ref.reset_at - 1].phase == "app v1"
    # PROGRAM_IMAGE erases boot control plus the 222 application pages (spec section 7).
    boot_erases = [op for op in ref.ops if op.phase == "bootloader" and op.kind.startswith("erase")]
    assert len(boot_erases) == 223 and boot_erases[0].address == BOOT_CTL_PHYS
    assert "APP: version 2" in ref.transcript


def test_uncut_update_ends_with_v2(rig: UpdateRig, ref: Reference) -> None:
    judgement, _ = judge_state(rig, ref.final)
    assert judgement.verdict is Verdict.NEW_IMAGE and judgement.running == 2


def test_every_operation_and_mode_was_judged(ref: Reference, results: list[CaseResult]) -> None:
    assert len(results) == 3 * len(ref.ops)
    assert {(r.op.index, r.fault.mode) for r in results} == {(k, m) for k in range(len(ref.ops)) for m in MODES}


def test_no_cut_leaves_a_board_that_is_silent_without_a_reason(results: list[CaseResult]) -> None:
    for r in results:
        j = r.judgement
        assert j.verdict not in (Verdict.HUNG, Verdict.CRASH_LOOP), (str(r.fault), j.line())
        if j.verdict is Verdict.SILENT:
            # A cut in v2's DB save that erased the FAT block: factory_reset.bin's first 4 KiB read fails after
            # its header cluster, FatFs latches the failure, PROGRAM writes that one stale buffer everywhere and
            # the (unverified) factory path jumps into it.
            assert r.op.phase == "app v2" and r.op.device == "external", (str(r.fault), j.line())
            assert "no valid application" in j.detail and "DB deleted by the bootloader" in j.detail, j.line()
            continue
        if j.verdict is Verdict.STUCK:
            assert j.detail, str(r.fault)  # the bootloader loops for a reason the report names
        else:
            assert j.running in (1, 2), (str(r.fault), j.line())


def test_cut_between_bootloader_erase_and_boot_control_write_falls_back_to_factory(
    ref: Reference, results: list[CaseResult]
) -> None:
    # Spec section 7 "Power loss" and hazard 11: the page erase also clears boot control, so the next boot
    # takes the "Uninitialized sector" path, runs the factory image and deletes the DB.
    boot = _in_phase(ref, "bootloader")
    erase = boot[0]
    header = next(k for k in boot if ref.ops[k].kind == "program" and ref.ops[k].address == BOOT_CTL_PHYS)
    window = [
        r
        for r in results
        if (erase < r.op.index < header)
        or (r.op.index == erase and r.fault.mode is CutMode.AFTER)
        or (r.op.index == header and r.fault.mode is CutMode.BEFORE)
    ]
    assert len(window) == 3 * (header - erase - 1) + 2
    for r in window:
        j = r.judgement
        assert j.verdict is Verdict.FACTORY_FALLBACK, (str(r.fault), j.line())
        assert "DB deleted by the bootloader" in j.detail and j.database == "absent" and j.running == 1


def test_cut_before_the_bootloader_touches_flash_still_installs_v2(ref: Reference, results: list[CaseResult]) -> None:
    first = _in_phase(ref, "bootloader")[0]
    r = next(r for r in results if r.op.index == first and r.fault.mode is CutMode.BEFORE)
    assert r.verdict is Verdict.NEW_IMAGE


def test_cuts_before_the_db_entry_leave_v1_running(ref: Reference, results: list[CaseResult]) -> None:
    # Until the application erases boot control at DB-entry time, the factory header (type 03, F8) makes
    # the bootloader jump straight to v1, whatever the download left on the external volume.
    first_internal = next(op.index for op in ref.ops if op.device == "internal")
    early = [r for r in results if r.op.index < first_internal]
    assert early
    for r in early:
        assert r.judgement.running == 1, (str(r.fault), r.judgement.line())
        assert r.verdict in (Verdict.OLD_IMAGE, Verdict.DB_DAMAGED, Verdict.VOLUME_DAMAGED)
    assert all(r.verdict is Verdict.OLD_IMAGE for r in early if r.op.index == 0 and r.fault.mode is CutMode.BEFORE)


@pytest.mark.parametrize("phase", ["app v1", "app v2"])
def test_cut_after_the_application_erases_boot_control_falls_back_to_factory(
    ref: Reference, results: list[CaseResult], phase: str
) -> None:
    # Spec section 7: the same fallback when power is lost while the application rewrites boot control,
    # at DB-entry time (v1) and at the first boot's confirm step (v2).
    erase = next(
        op.index for op in ref.ops if op.phase == phase and op.device == "internal" and op.kind.startswith("erase")
    )
    r = next(r for r in results if r.op.index == erase and r.fault.mode is CutMode.AFTER)
    assert r.verdict is Verdict.FACTORY_FALLBACK and "DB deleted by the bootloader" in r.judgement.detail


def test_cut_after_the_last_operation_is_the_finished_update(ref: Reference, results: list[CaseResult]) -> None:
    last = len(ref.ops) - 1
    r = next(r for r in results if r.op.index == last and r.fault.mode is CutMode.AFTER)
    assert r.verdict is Verdict.NEW_IMAGE and r.judgement.database == "1 rows"


def _samples(ref: Reference, results: list[CaseResult]) -> list[FaultId]:
    picks: list[FaultId] = []
    for phase in ("app v1", "bootloader", "app v2"):
        ks = _in_phase(ref, phase)
        for k in (ks[0], ks[len(ks) // 2], ks[-1]):
            for mode in MODES:
                picks.append(next(r.fault for r in results if r.op.index == k and r.fault.mode is mode))
    worst = sorted(results, key=lambda r: r.verdict.severity)[0].fault
    return [*picks, worst]


def test_replaying_fault_ids_gives_the_same_bytes_and_verdict(
    rig: UpdateRig, ref: Reference, results: list[CaseResult]
) -> None:
    by_id = {str(r.fault): r for r in results}
    for fault in _samples(ref, results):
        again = FaultId.parse(str(fault))
        done = replay(rig, ref, again)
        assert done.state == synthesize(rig, ref, again), str(fault)
        assert done.case.verdict is by_id[str(fault)].verdict, str(fault)
        assert done.case.judgement == by_id[str(fault)].judgement


def test_replay_is_repeatable_and_prints_the_transcript(rig: UpdateRig, ref: Reference) -> None:
    fault = FaultId(ref.params, "int", ref.reset_at + 5, CutMode.TORN, 7)
    a, b = replay(rig, ref, fault), replay(rig, ref, fault)
    assert a.state == b.state and a.case.judgement == b.case.judgement
    assert "BOOTLOADER Build" in a.cut_transcript and "APP: version 1" in a.settle_transcript


def test_torn_seed_changes_the_damage(rig: UpdateRig, ref: Reference) -> None:
    k = ref.reset_at  # the bootloader's erase of the boot control page
    states = {synthesize(rig, ref, FaultId(ref.params, "int", k, CutMode.TORN, seed)) for seed in (1, 2, 3)}
    assert len(states) == 3


@pytest.mark.parametrize(
    "text",
    [
        "update:int@op12:before",
        "update:ext@op0:after",
        "update:ext@op3:torn:s9",
        "update/size=65536:int@op1:before",
        "update/quirks=corrected,+csv-seek-wrap:ext@op2:torn:s1",
        "update/size=9000/v2=crash:int@op7:after",
    ],
)
def test_fault_id_round_trip(text: str) -> None:
    assert str(FaultId.parse(text)) == text


@pytest.mark.parametrize(
    "text",
    ["", "update:op1:before", "update:int@op1:sideways", "boot:int@op1:before", "update/size=x:int@op1:before",
     "update/colour=red:int@op1:before", "update/size=100:int@op1:before", "update/quirks=nope:int@op1:before",
     "update/v2=sleepy:int@op1:before", "update/size=9000/size=9000:int@op1:before"],
)  # fmt: skip
def test_bad_fault_ids_are_caller_errors(text: str) -> None:
    with pytest.raises(CallerError):
        FaultId.parse(text)


def test_fault_id_must_match_the_recorded_update(rig: UpdateRig, ref: Reference) -> None:
    ext = next(op.index for op in ref.ops if op.device == "external")
    with pytest.raises(CallerError, match="external flash"):
        replay(rig, ref, FaultId(ref.params, "int", ext, CutMode.BEFORE))
    with pytest.raises(CallerError, match="operations 0"):
        replay(rig, ref, FaultId(ref.params, "ext", len(ref.ops), CutMode.BEFORE))
    with pytest.raises(CallerError, match="was made for"):
        replay(rig, ref, FaultId(Params(size=65536), "ext", ext, CutMode.BEFORE))


def test_docs_hold_the_default_outcome_table(ref: Reference, results: list[CaseResult]) -> None:
    text = "\n".join(report(SweepRun.of(plan_sweep(ref), results)))
    doc = (ROOT / "docs" / "power-cut-sweeps.md").read_text()
    assert text in doc, "regenerate the table in docs/power-cut-sweeps.md with: otaloop sweep update --markdown"


@pytest.mark.parametrize(("v2", "expected"), [("crash", Verdict.REPROGRAM_LOOP), ("hang", Verdict.HUNG)])
def test_a_v2_that_dies_at_boot(v2: str, expected: Verdict) -> None:
    # Spec hazard 10 and section 7 "Failed-boot protection": no boot counter, no watchdog. A v2 that resets
    # before its OTA core starts leaves boot control at FC, so every boot reprograms it; one that hangs stays hung.
    with ImageServer() as server:
        rig = UpdateRig(Params(v2=v2), server)
        ref = record(rig)
        assert {op.phase for op in ref.ops} == {"app v1", "bootloader"}
        judgement, _ = judge_state(rig, ref.final)
        assert judgement.verdict is expected, judgement.line()
        assert judgement.running is None
        if v2 == "crash":
            assert judgement.boot_control.startswith("status FC") and "programmed 2+2" in judgement.detail
        # A cut in the middle of programming the dying image still ends in the factory image (hazard 11).
        middle = FaultId(ref.params, "int", ref.reset_at + 100, CutMode.BEFORE)
        done = replay(rig, ref, middle)
        assert done.case.verdict is Verdict.FACTORY_FALLBACK
        assert done.state == synthesize(rig, ref, middle)
        assert str(FaultId.parse(str(middle))) == f"update/v2={v2}:int@op{ref.reset_at + 100}:before"
