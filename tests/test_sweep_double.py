"""Two power cuts: ids of the form ``first+second`` that replay, and the fast path equal to full judging."""

from __future__ import annotations

import pytest

from bootloader_model.errors import CallerError
from bootloader_model.storage.nor_flash import CutMode
from harness.cli import main
from harness.sweeps.double import DoubleCase, replay, run_double, synthesize_double, worse_windows
from harness.sweeps.executor import InProcess, Processes
from harness.sweeps.fault_ids import FaultId, SecondCut
from harness.sweeps.update import Reference, UpdateRig, plan_sweep
from harness.sweeps.verdicts import Verdict

STRIDE = 25  # first cuts 400 (programming) and 728 (the last); every 25th recovery operation


def _spans(ref: Reference) -> list[tuple[int, int]]:
    # The start of the bootloader's programming (the factory-fallback window) and v2's confirm step.
    return [(ref.reset_at, ref.reset_at + 5), (len(ref.ops) - 2, len(ref.ops))]


@pytest.fixture(scope="module")
def cases(ref: Reference) -> list[DoubleCase]:
    return run_double(plan_sweep(ref, stride=STRIDE), InProcess(), spans=_spans(ref))


def test_fast_double_cuts_equal_full_judging(ref: Reference, cases: list[DoubleCase]) -> None:
    full = run_double(plan_sweep(ref, stride=STRIDE, fast=False), InProcess(), spans=_spans(ref))
    assert cases == full and len(cases) > 50


def test_worker_processes_give_the_same_double_cuts(ref: Reference, cases: list[DoubleCase]) -> None:
    assert run_double(plan_sweep(ref, stride=STRIDE), Processes(2), spans=_spans(ref)) == cases


def test_a_second_cut_can_make_things_worse(cases: list[DoubleCase]) -> None:
    worse = [c for c in cases if c.worse]
    assert worse, "no second cut made any first cut worse"
    assert all(c.judgement.verdict.severity < c.first.verdict.severity for c in worse)
    table = "\n".join(worse_windows(cases))
    assert "| bootloader (ops " in table and "factory-fallback" in table


def test_double_fault_ids_replay_to_the_same_bytes_and_verdict(
    rig: UpdateRig, ref: Reference, cases: list[DoubleCase]
) -> None:
    worst = min(cases, key=lambda c: (c.judgement.verdict.severity, c.fault.op))
    picks = [worst, cases[0], cases[len(cases) // 2], next(c for c in cases if c.fault.second.mode is CutMode.TORN)]  # type: ignore[union-attr]
    for case in picks:
        fault = FaultId.parse(str(case.fault))
        assert fault == case.fault
        done = replay(rig, ref, fault)
        assert done.state == synthesize_double(rig, ref, fault), str(fault)
        assert done.judgement == case.judgement and done.first == case.first, str(fault)


@pytest.mark.parametrize(
    "text",
    [
        "update:int@op437:after+ext@op12:torn:s1",
        "update/size=65536:ext@op3:torn:s9+int@op0:before",
        "update/quirks=corrected,+csv-seek-wrap:ext@op2:torn:s1+int@op3:after",
    ],
)
def test_double_fault_id_round_trip(text: str) -> None:
    fault = FaultId.parse(text)
    assert str(fault) == text and isinstance(fault.second, SecondCut)
    assert str(fault.first) == text.rpartition("+")[0]


@pytest.mark.parametrize(
    "text", ["update:int@op1:before+", "update:int@op1:before+op2:after", "update:int@op1:before+int@op2:x"]
)
def test_bad_double_ids_are_caller_errors(text: str) -> None:
    with pytest.raises(CallerError, match="bad fault id"):
        FaultId.parse(text)


def test_replay_refuses_a_second_cut_past_the_recovery(rig: UpdateRig, ref: Reference) -> None:
    fault = FaultId(ref.params, "int", ref.reset_at, CutMode.AFTER, 1, SecondCut("int", 10**6, CutMode.BEFORE))
    with pytest.raises(CallerError, match="the recovery run has operations"):
        replay(rig, ref, fault)


def test_cli_double(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "update", "--double", "--stride", "250", "--modes", "after", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Double power cuts of update:") and "| first cut in |" in out
    assert main(["sweep", "update", "--double", "--plot", "x.svg"]) == 2
    assert "--double prints its own table" in capsys.readouterr().err


def test_the_uncut_recovery_of_the_factory_window_is_the_fallback(cases: list[DoubleCase]) -> None:
    first = [c for c in cases if c.first_op.phase == "bootloader" and c.fault.mode is CutMode.AFTER]
    assert first and all(c.first.verdict is Verdict.FACTORY_FALLBACK for c in first)
