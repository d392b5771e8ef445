"""Two power cuts: ids of the form ``first+second`` that replay, and the fast path equal to full judging."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bootloader_model.errors import CallerError
from bootloader_model.storage.nor_flash import CutMode
from harness.cli import main
from harness.sweeps.double import (
    DoubleSweep,
    DoubleWorker,
    double_report,
    dumps_double,
    replay,
    run_double,
    synthesize_double,
    worse_windows,
    write_double,
)
from harness.sweeps.executor import InProcess, Processes
from harness.sweeps.fault_ids import FaultId, SecondCut
from harness.sweeps.update import Reference, UpdateRig, plan_sweep
from harness.sweeps.verdicts import Verdict

STRIDE = 25  # first cuts 400 (programming) and 728 (the last); every 25th recovery operation


def _spans(ref: Reference) -> list[tuple[int, int]]:
    # The start of the bootloader's programming (the factory-fallback window) and v2's confirm step.
    return [(ref.reset_at, ref.reset_at + 5), (len(ref.ops) - 2, len(ref.ops))]


@pytest.fixture(scope="module")
def cases(ref: Reference) -> DoubleSweep:
    return run_double(plan_sweep(ref, stride=STRIDE), InProcess(), spans=_spans(ref))


def test_fast_double_cuts_equal_full_judging(ref: Reference, cases: DoubleSweep) -> None:
    full = run_double(plan_sweep(ref, stride=STRIDE, fast=False), InProcess(), spans=_spans(ref))
    assert cases == full and len(cases) > 50


def test_worker_processes_give_the_same_double_cuts(ref: Reference, cases: DoubleSweep) -> None:
    assert run_double(plan_sweep(ref, stride=STRIDE), Processes(2), spans=_spans(ref)) == cases


def test_a_second_cut_can_make_things_worse(cases: DoubleSweep) -> None:
    worse = [c for c in cases if c.worse]
    assert worse, "no second cut made any first cut worse"
    assert all(c.judgement.verdict.severity < c.first.verdict.severity for c in worse)
    table = "\n".join(worse_windows(cases))
    assert "| bootloader (ops " in table and "factory-fallback" in table


def test_double_fault_ids_replay_to_the_same_bytes_and_verdict(
    rig: UpdateRig, ref: Reference, cases: DoubleSweep
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


def test_the_uncut_recovery_of_the_factory_window_is_the_fallback(cases: DoubleSweep) -> None:
    first = [c for c in cases if c.first_op.phase == "bootloader" and c.fault.mode is CutMode.AFTER]
    assert first and all(c.first.verdict is Verdict.FACTORY_FALLBACK for c in first)


def test_shared_second_cuts_equal_looking_each_up(ref: Reference) -> None:
    # Neighbouring first cuts of every phase, every 3rd recovery operation: later first cuts of one
    # recording copy the verdicts of second cuts whose state equals the previous first cut's.
    plan = plan_sweep(ref, stride=3)
    spans = [(30, 36), (ref.reset_at, ref.reset_at + 6), (len(ref.ops) - 12, len(ref.ops))]
    sharing, looking = DoubleWorker(plan), DoubleWorker(plan, share=False)
    for span in spans:
        assert sharing.run(span) == looking.run(span)
    assert sharing.shared > 1000 and looking.shared == 0


def test_a_double_sweep_is_a_sequence_of_its_cases(ref: Reference, cases: DoubleSweep, tmp_path: Path) -> None:
    listed = list(cases)
    assert len(listed) == len(cases) and [cases[i] for i in range(len(cases))] == listed
    assert cases[-1] == listed[-1] and cases[3:9:2] == listed[3:9:2] and cases == listed
    with pytest.raises(IndexError):
        cases[len(cases)]
    # The report and the JSON count one first cut at a time; from plain cases they come out the same.
    plan = plan_sweep(ref, stride=STRIDE)
    assert double_report(plan, cases) == double_report(plan, listed)
    text = dumps_double(plan, cases)
    assert text == dumps_double(plan, listed)
    write_double(tmp_path / "double.json", plan, cases)
    assert (tmp_path / "double.json").read_text() == text
    doc = json.loads(text)
    assert doc["format"] == "otaloop-double-sweep/1" and len(doc["cases"]) == len(cases)
    row, case = doc["cases"][-1], listed[-1]
    assert row == {
        "fault": str(case.fault),
        "first_phase": case.first_op.phase,
        "first_operation": case.first_op.label(),
        "first_outcome": case.first.verdict.value,
        "second_phase": case.second_op.phase,
        "second_operation": case.second_op.label(),
        "outcome": case.judgement.verdict.value,
        "worse": case.worse,
        "detail": case.judgement.line(),
    }
