"""The results of an update sweep as a value a user keeps: :class:`SweepRun`, its JSON file, and merging shards.

A :class:`SweepRun` holds what was swept (scenario, the operations without their bytes, cut modes, stride,
seed, which shard) and every case (fault id, operation, verdict and its facts). :func:`dump` writes it as
JSON, one case per line; :func:`load` reads it back to an equal value (``load(dump(run)) == run``) and
refuses anything else with a one-line :class:`~bootloader_model.errors.CallerError`. :func:`merge` joins
the shard files of one sweep (``--shard i/N``) into the whole, checking that they belong together and that
no case is missing or doubled.

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
from pathlib import Path
from typing import Any

from bootloader_model.errors import CallerError
from bootloader_model.storage.nor_flash import CutMode
from harness.sweeps.fault_ids import FaultId, Params
from harness.sweeps.update import MODE_ORDER, CaseResult, OpInfo, SweepPlan
from harness.sweeps.verdicts import Judgement, Verdict

FORMAT = "otaloop-sweep/1"


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
    """Write ``run`` to ``path`` (atomically: a temporary file, then a rename)."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(dumps(run))
    os.replace(tmp, target)


# ------------------------------------------------------------------------------------------ reading


def _need(obj: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in obj:
        raise CallerError(f"missing {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise CallerError(f"{key!r} has the wrong type ({type(value).__name__})")
    return value


def _op(obj: Any) -> OpInfo:
    if not isinstance(obj, dict):
        raise CallerError("an operation is not an object")
    return OpInfo(
        _need(obj, "index", int),
        _need(obj, "device", str),
        _need(obj, "count", int),
        _need(obj, "kind", str),
        _need(obj, "address", int),
        _need(obj, "length", int),
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
    if fault.mode.value != _need(obj, "mode", str) or (fault.mode is CutMode.TORN and fault.seed != seed):
        raise CallerError(f"case {fault} does not match its mode or the file's seed")
    try:
        verdict = Verdict(_need(obj, "outcome", str))
    except ValueError:
        raise CallerError(f"case {fault}: unknown outcome {obj['outcome']!r}") from None
    running = obj.get("running")
    if running is not None and (not isinstance(running, int) or isinstance(running, bool)):
        raise CallerError(f"case {fault}: 'running' must be a version number or null")
    judgement = Judgement(
        verdict, running, _need(obj, "database", str), _need(obj, "boot_control", str), _need(obj, "detail", str)
    )
    return CaseResult(fault, ops[k], judgement)


def loads(text: str) -> SweepRun:
    """A :class:`SweepRun` from JSON text written by :func:`dumps`."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CallerError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CallerError(f'not an otaloop sweep result (expected "format": "{FORMAT}")')
    params = Params(_need(doc, "size", int), _need(doc, "quirks", str), _need(doc, "v2", str))
    if params.scenario != _need(doc, "scenario", str):
        raise CallerError(f"scenario {doc['scenario']!r} does not match size, quirks and v2")
    try:
        modes = tuple(CutMode(m) for m in _need(doc, "modes", list))
    except ValueError:
        raise CallerError("'modes' holds an unknown cut mode") from None
    stride, seed = _need(doc, "stride", int), _need(doc, "seed", int)
    shard_raw = doc.get("shard")
    shard: tuple[int, int] | None = None
    if shard_raw is not None:
        if not (isinstance(shard_raw, list) and len(shard_raw) == 2 and all(isinstance(x, int) for x in shard_raw)):
            raise CallerError("'shard' must be [i, N] or null")
        shard = (shard_raw[0], shard_raw[1])
    ops = tuple(_op(o) for o in _need(doc, "ops", list))
    if [op.index for op in ops] != list(range(len(ops))):
        raise CallerError("'ops' must list operations 0, 1, 2, ... in order")
    cases = [_case(c, params, ops, seed) for c in _need(doc, "cases", list)]
    return SweepRun(params, ops, _need(doc, "reset_at", int), modes, stride, seed, cases, shard)


def load(path: str | os.PathLike[str]) -> SweepRun:
    """Read a sweep result file; a missing, unreadable or malformed file is a one-line caller error."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise CallerError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CallerError(f"{path}: not an otaloop sweep result (not text)") from None
    try:
        return loads(text)
    except CallerError as exc:
        raise CallerError(f"{path}: {exc}") from None


# ------------------------------------------------------------------------------------------ merging


def case_key(case: CaseResult) -> tuple[int, int, str]:
    """Where a case sorts: operation, cut mode in time order, then the rest of its fault id."""
    return case.op.index, MODE_ORDER[case.fault.mode], str(case.fault)


def merge(runs: Iterable[SweepRun]) -> SweepRun:
    """Join the shards of one sweep: every shard 1..N exactly once, no case twice."""
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
    cases = sorted((c for r in runs for c in r.cases), key=case_key)
    faults = [str(c.fault) for c in cases]
    if len(set(faults)) != len(faults):
        raise CallerError("the shards overlap: a fault id appears twice")
    return SweepRun(first.params, first.ops, first.reset_at, first.modes, first.stride, first.seed, cases)
