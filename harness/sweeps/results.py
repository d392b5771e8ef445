"""The results of an update sweep as a value a user keeps: :class:`SweepRun`, its JSON file, and merging shards.

A :class:`SweepRun` holds what was swept (scenario, the operations without their bytes, cut modes, stride,
seed, which shard) and every case (fault id, operation, verdict and its facts). :func:`dump` writes it as
JSON, one case per line, whole or not at all (:mod:`harness.output_files`); :func:`load` reads it back to
an equal value (``load(dump(run)) == run``), with bounds (a regular file of at most :data:`MAX_FILE_BYTES`),
checking every field, and refuses anything else with a one-line :class:`~bootloader_model.errors.CallerError`.
A run knows the cases its sweep (or shard) must hold (:meth:`SweepRun.expected`); :func:`check_whole`
refuses one that lacks some (``PARTIAL``), and :func:`merge` joins the shard files of one sweep
(``--shard i/N``) into the whole, checking that they belong together and that no case is missing or doubled:
a partial result never passes for a whole one.

The format (``"format": "otaloop-sweep/1"``)::

    {"format": ..., "scenario": "update/size=900000", "size": ..., "quirks": ..., "v2": ...,
     "modes": ["before", "after", "torn"], "stride": 1, "seed": 1, "shard": [1, 4] or null,
     "reset_at": 15339,
     "ops": [{"index": 0, "device": "external", "count": 12, "kind": "erase:sector", "address": 53248,
              "length": 0, "phase": "app v1"}, ...],
     "cases": [{"fault": "update:ext@op0:before", "op": 0, "mode": "before", "phase": "app v1",
                "operation": "external erase at 0x0000D000", "outcome": "old-image", "running": 1,
                "database": "absent", "boot_control": "status F8 type 03 version 1", "detail": ""}, ...]}

It runs nothing and draws nothing (:mod:`harness.sweeps.plot` draws).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bootloader_model.errors import CallerError
from bootloader_model.storage.nor_flash import CutMode
from harness.output_files import read_json, write_atomic
from harness.sweeps.fault_ids import FaultId, Params
from harness.sweeps.update import MODE_ORDER, CaseResult, OpInfo, SweepPlan, shard_spans
from harness.sweeps.verdicts import Judgement, Verdict

FORMAT = "otaloop-sweep/1"
#: The largest result file :func:`load` reads (a whole-slot update sweep in three modes is about 40 MB).
MAX_FILE_BYTES = 256 * 1024 * 1024
#: The most shards a sweep may be split into.
MAX_SHARDS = 100_000
_MODES = tuple(m.value for m in CutMode)


def _no_constant(name: str) -> Any:
    raise CallerError(f"not JSON: {name}")


@dataclass
class SweepRun:
    """One update sweep (or one shard of it): what was swept and every case, in operation order."""

    params: Params
    ops: tuple[OpInfo, ...]
    reset_at: int
    modes: tuple[CutMode, ...]
    stride: int
    seed: int
    cases: list[CaseResult] = field(default_factory=list)
    shard: tuple[int, int] | None = None  # (i, N), 1-based, when this holds one shard of N

    @classmethod
    def of(cls, plan: SweepPlan, cases: list[CaseResult], shard: tuple[int, int] | None = None) -> SweepRun:
        ops = tuple(op.info() for op in plan.ops)
        return cls(plan.params, ops, plan.reset_at, plan.modes, plan.stride, plan.seed, cases, shard)

    @property
    def scenario(self) -> str:
        return self.params.scenario

    def expected(self) -> list[tuple[int, CutMode]]:
        """Every (operation, cut mode) this run must hold: its shard's operations (all without one), each mode."""
        chosen = [k for lo, hi in shard_spans(len(self.ops), self.shard) for k in range(lo, hi)]
        last = len(self.ops) - 1
        return [(k, m) for k in chosen if k % self.stride == 0 or k == last for m in self.modes]

    def missing(self) -> list[tuple[int, CutMode]]:
        """The cases :meth:`expected` names that this run does not hold (empty: it is whole)."""
        held = {(c.op.index, c.fault.mode) for c in self.cases}
        return [e for e in self.expected() if e not in held]

    def same_sweep(self, other: SweepRun) -> bool:
        """Both hold cases of the same sweep (scenario, operations, modes, stride, seed)."""
        mine = (self.params, self.ops, self.reset_at, self.modes, self.stride, self.seed)
        return mine == (other.params, other.ops, other.reset_at, other.modes, other.stride, other.seed)


# ------------------------------------------------------------------------------------------ writing


def _op_json(op: OpInfo) -> dict[str, Any]:
    return {
        "index": op.index,
        "device": op.device,
        "count": op.count,
        "kind": op.kind,
        "address": op.address,
        "length": op.length,
        "phase": op.phase,
        **({"writes": op.writes, "step": op.step} if op.writes else {}),
    }


def _case_json(case: CaseResult) -> dict[str, Any]:
    j = case.judgement
    return {
        "fault": str(case.fault),
        "op": case.op.index,
        "mode": case.fault.mode.value,
        "phase": case.op.phase,
        "operation": case.op.label(),
        "outcome": j.verdict.value,
        "running": j.running,
        "database": j.database,
        "boot_control": j.boot_control,
        "detail": j.detail,
    }


def dumps(run: SweepRun) -> str:
    """The JSON text of ``run``: a header, then one operation and one case per line."""
    head = {
        "format": FORMAT,
        "scenario": run.scenario,
        "size": run.params.size,
        "quirks": run.params.quirks,
        "v2": run.params.v2,
        "modes": [m.value for m in run.modes],
        "stride": run.stride,
        "seed": run.seed,
        "shard": list(run.shard) if run.shard else None,
        "reset_at": run.reset_at,
    }
    lines = [json.dumps(head)[:-1] + ","]
    lines.append(' "ops": [')
    lines.append(",\n".join("  " + json.dumps(_op_json(op)) for op in run.ops))
    lines.append(" ],")
    lines.append(' "cases": [')
    lines.append(",\n".join("  " + json.dumps(_case_json(c)) for c in run.cases))
    lines.append(" ]")
    lines.append("}")
    return "\n".join(line for line in lines if line) + "\n"


def dump(run: SweepRun, path: str | os.PathLike[str]) -> None:
    """Write ``run`` to ``path``, whole or not at all (:func:`harness.output_files.write_atomic`)."""
    write_atomic(path, dumps(run))


# ------------------------------------------------------------------------------------------ reading


def _need(obj: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in obj:
        raise CallerError(f"missing {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise CallerError(f"{key!r} has the wrong type ({type(value).__name__})")
    return value


def _count(obj: dict[str, Any], key: str, lo: int, hi: int) -> int:
    value: int = _need(obj, key, int)
    if not lo <= value <= hi:
        raise CallerError(f"{key!r} must be {lo}..{hi}, got {value}")
    return value


def _op(obj: Any, index: int) -> OpInfo:
    if not isinstance(obj, dict):
        raise CallerError(f"operation {index} is not an object")
    if _need(obj, "index", int) != index:
        raise CallerError("'ops' must list operations 0, 1, 2, ... in order")
    device = _need(obj, "device", str)
    if device not in ("internal", "external"):
        raise CallerError(f"operation {index}: device must be internal or external, not {device[:40]!r}")
    return OpInfo(
        index,
        device,
        _count(obj, "count", 0, 2**63),
        _need(obj, "kind", str),
        _count(obj, "address", 0, 2**32 - 1),
        _count(obj, "length", 0, 2**32 - 1),
        _need(obj, "phase", str),
        _need(obj, "writes", str) if "writes" in obj else "",
        _need(obj, "step", str) if "step" in obj else "",
    )


def _case(obj: Any, params: Params, ops: Sequence[OpInfo], seed: int) -> CaseResult:
    if not isinstance(obj, dict):
        raise CallerError("a case is not an object")
    fault = FaultId.parse(_need(obj, "fault", str))
    k = _need(obj, "op", int)
    if fault.params != params or fault.op != k or not 0 <= k < len(ops) or fault.device != ops[k].short_device:
        raise CallerError(f"case {fault} does not match the file's scenario and operations")
    if fault.second is not None:
        raise CallerError(f"case {fault} has a second cut; a sweep result holds single cuts")
    if fault.mode.value != _need(obj, "mode", str) or (fault.mode is CutMode.TORN and fault.seed != seed):
        raise CallerError(f"case {fault} does not match its mode or the file's seed")
    outcome = _need(obj, "outcome", str)
    try:
        verdict = Verdict(outcome)
    except ValueError:
        raise CallerError(f"case {fault}: unknown outcome {outcome[:40]!r}") from None
    running = obj.get("running")
    if running is not None and (not isinstance(running, int) or isinstance(running, bool) or running < 0):
        raise CallerError(f"case {fault}: 'running' must be a version number or null")
    judgement = Judgement(
        verdict, running, _need(obj, "database", str), _need(obj, "boot_control", str), _need(obj, "detail", str)
    )
    return CaseResult(fault, ops[k], judgement)


def _run(doc: Any) -> SweepRun:
    """The :class:`SweepRun` a parsed result file holds, every field checked."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CallerError(f'not an otaloop sweep result (expected "format": "{FORMAT}")')
    params = Params(_need(doc, "size", int), _need(doc, "quirks", str), _need(doc, "v2", str))
    if params.scenario != _need(doc, "scenario", str):
        raise CallerError(f"scenario {doc['scenario'][:80]!r} does not match size, quirks and v2")
    names = _need(doc, "modes", list)
    if not names or not all(isinstance(m, str) and m in _MODES for m in names) or len(set(names)) != len(names):
        raise CallerError(f"'modes' must list some of {', '.join(_MODES)}, each once")
    modes = tuple(CutMode(m) for m in names)
    stride, seed = _count(doc, "stride", 1, 2**31), _count(doc, "seed", 0, 2**63)
    shard_raw = doc.get("shard")
    shard: tuple[int, int] | None = None
    if shard_raw is not None:
        if not (
            isinstance(shard_raw, list)
            and len(shard_raw) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in shard_raw)
            and 1 <= shard_raw[0] <= shard_raw[1] <= MAX_SHARDS
        ):
            raise CallerError(f"'shard' must be [i, N] with 1 <= i <= N <= {MAX_SHARDS}, or null")
        shard = (shard_raw[0], shard_raw[1])
    ops = tuple(_op(o, i) for i, o in enumerate(_need(doc, "ops", list)))
    reset_at = _count(doc, "reset_at", 0, len(ops))
    run = SweepRun(params, ops, reset_at, modes, stride, seed, [], shard)
    cases = [_case(c, params, ops, seed) for c in _need(doc, "cases", list)]
    expected = set(run.expected())
    held: set[tuple[int, CutMode]] = set()
    for case in cases:
        key = (case.op.index, case.fault.mode)
        if key not in expected:
            where = f"shard {shard[0]}/{shard[1]}" if shard else "the sweep"
            raise CallerError(f"case {case.fault} is not part of {where} (operations, stride, modes)")
        if key in held:
            raise CallerError(f"case {case.fault} appears twice")
        held.add(key)
    run.cases = sorted(cases, key=case_key)
    return run


def loads(text: str) -> SweepRun:
    """A :class:`SweepRun` from JSON text written by :func:`dumps` (checked as :func:`load` checks a file).

    It may hold only part of its sweep's cases (:meth:`SweepRun.missing` names the others).
    """
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise CallerError("not an otaloop sweep result (JSON nested too deeply)") from None
    except json.JSONDecodeError as exc:
        raise CallerError(f"not JSON: {exc}") from None
    return _run(doc)


def load(path: str | os.PathLike[str]) -> SweepRun:
    """Read a sweep result file, with bounds, checking every field.

    Args:
        path: a file written by ``otaloop sweep update --json`` (or :func:`dump`).

    Returns:
        The :class:`SweepRun`; it may hold only part of its sweep (see :meth:`SweepRun.missing`).

    Raises:
        CallerError: the file is missing, unreadable, not a regular file, larger than
            :data:`MAX_FILE_BYTES`, not JSON, or not a sweep result (a field of the wrong type or range, a
            case that belongs to another sweep or shard, a case twice); one line that names ``path``.
    """
    doc = read_json(path, "an otaloop sweep result", MAX_FILE_BYTES)
    try:
        return _run(doc)
    except CallerError as exc:
        raise CallerError(f"{path}: {exc}") from None


def check_whole(run: SweepRun, name: str = "") -> None:
    """Refuse a run that lacks cases of its sweep (or of its shard): a partial result never passes for a whole.

    Args:
        run: a loaded or merged run.
        name: the file it came from, for the message.

    Raises:
        CallerError: ``PARTIAL``, with how many cases are missing and the first missing fault id.
    """
    missing = run.missing()
    if not missing:
        return
    k, mode = missing[0]
    first = FaultId(run.params, run.ops[k].short_device, k, mode, run.seed)
    part = f"shard {run.shard[0]}/{run.shard[1]}" if run.shard else "the sweep"
    total = len(run.expected())
    raise CallerError(
        f"{name + ': ' if name else ''}PARTIAL: {part} holds {total - len(missing)} of its {total} cases "
        f"({len(missing)} missing, the first {first}); was the sweep cut short?"
    )


# ------------------------------------------------------------------------------------------ merging


def case_key(case: CaseResult) -> tuple[int, int, str]:
    """Where a case sorts: operation, cut mode in time order, then the rest of its fault id."""
    return case.op.index, MODE_ORDER[case.fault.mode], str(case.fault)


def merge(runs: Iterable[SweepRun]) -> SweepRun:
    """Join the shards of one sweep into the whole: every shard 1..N exactly once, every case of the sweep once.

    Args:
        runs: the loaded shards (a whole run alone is returned as it is, once checked).

    Returns:
        The whole sweep, its cases in operation order.

    Raises:
        CallerError: the runs belong to different sweeps, a shard is missing or given twice, cases overlap,
            or a case of the sweep is missing (``PARTIAL``).
    """
    runs = list(runs)
    if not runs:
        raise CallerError("nothing to merge")
    first = runs[0]
    for other in runs[1:]:
        if not first.same_sweep(other):
            raise CallerError(
                f"these files hold different sweeps ({first.scenario}, stride {first.stride}, seed {first.seed} "
                f"vs {other.scenario}, stride {other.stride}, seed {other.seed})"
            )
    shards = [r.shard for r in runs]
    counts = {s[1] if s else 1 for s in shards}
    if len(counts) != 1:
        raise CallerError("these files split the sweep in different numbers of shards")
    n = counts.pop()
    seen = sorted(s[0] if s else 1 for s in shards)
    if len(set(seen)) != len(seen):
        raise CallerError(f"shard given twice: {', '.join(f'{i}/{n}' for i in seen)}")
    if seen != list(range(1, n + 1)):
        missing = sorted(set(range(1, n + 1)) - set(seen))
        raise CallerError(f"missing shard(s) {', '.join(f'{i}/{n}' for i in missing)}")
    for run in runs:
        check_whole(run)  # a shard cut short is named as such
    cases = sorted((c for r in runs for c in r.cases), key=case_key)
    faults = [str(c.fault) for c in cases]
    if len(set(faults)) != len(faults):
        raise CallerError("the shards overlap: a fault id appears twice")
    whole = SweepRun(first.params, first.ops, first.reset_at, first.modes, first.stride, first.seed, cases)
    check_whole(whole)
    return whole
