"""Two power cuts: a second cut at every flash operation of the recovery run that follows a first cut.

A first cut at operation k of the update leaves state S1 (:mod:`harness.sweeps.update`). Judging S1
powers the board up twice (:func:`~harness.sweeps.verdicts.settle`); that *recovery run* has its own flash
operations (the bootloader reprogramming the factory image, the DB deleted, v2's confirm step redone ...).
:func:`recovery` records them, in one global order over both flashes, and a second cut at recovery
operation j (before, after or torn) leaves S2; S2 is judged like any cut state. Fault ids are
``first+second``: ``update:int@op437:after+int@op12:torn:s1`` (``j`` counts recovery operations), and
:func:`replay` re-runs both cuts with real fault plans.

:class:`DoubleWorker` reuses the sweep's machinery: ranges of first cuts on any executor, states rebuilt
from recorded operations, verdicts and recovery recordings cached on the flash blocks they read
(:mod:`harness.sweeps.memo`). ``stride`` samples both the first cuts and the recovery operations (every
stride-th and the last). :func:`worse_windows` is the table of ``docs/power-cut-sweeps.md``: for each
phase and one-cut outcome, how many second cuts end worse.

It does not cut a third time, and it does not record the update (``record`` does).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby

from bootloader_model.board.virtual_board import VirtualBoard
from bootloader_model.errors import CallerError
from bootloader_model.storage.nor_flash import CutMode, FaultPlan, NorFlash, Snapshot
from harness.sweeps.executor import Executor, InProcess, Work
from harness.sweeps.fault_ids import FaultId, SecondCut
from harness.sweeps.memo import ReadSet, VerdictMemo, learn, learnt
from harness.sweeps.report import ordinal
from harness.sweeps.update import (
    MODE_ORDER,
    Cursor,
    OpInfo,
    RecordedOp,
    Reference,
    SweepPlan,
    SweepWorker,
    UpdateRig,
    blank_board,
    board_failed,
    fault_op,
    judge_cached,
    judge_state,
    synthesize,
    tasks,
)
from harness.sweeps.verdicts import SETTLE_S, Judgement, Verdict

RECOVERY_PHASES = ("recovery 1", "recovery 2")  # the two power-ons of the judging run
DOUBLE_FORMAT = "otaloop-double-sweep/1"


@dataclass(frozen=True, slots=True)  # slots, and only shared objects: an exhaustive double sweep holds millions
class DoubleCase:
    """One double cut: the first cut's own verdict, the second cut's operation, the final verdict."""

    first_fault: FaultId  # the first cut alone (one object for all its second cuts)
    first_op: OpInfo
    first: Judgement  # the verdict after the first cut alone
    second_op: OpInfo  # index = position in the recovery run, phase = recovery 1 or 2
    second_mode: CutMode
    judgement: Judgement

    @property
    def fault(self) -> FaultId:
        """Both cuts (``first+second``), made when asked for."""
        f, op = self.first_fault, self.second_op
        second = SecondCut(op.short_device, op.index, self.second_mode, f.seed)
        return FaultId(f.params, f.device, f.op, f.mode, f.seed, second)

    @property
    def worse(self) -> bool:
        return self.judgement.verdict.severity < self.first.verdict.severity


def recovery(board: VirtualBoard, watch: Sequence[ReadSet] = ()) -> list[RecordedOp]:
    """Run the judging power-ups (network down, on, 0.1 s, cycle, 0.1 s) recording every flash operation;
    ``watch`` (one :class:`ReadSet` per flash) also learns which blocks the run depended on."""
    ops: list[RecordedOp] = []
    phase = [RECOVERY_PHASES[0]]
    sets = {id(w.flash): w for w in watch}
    for w in watch:
        w.watch()

    def observe(flash: NorFlash, kind: str, address: int, data: bytes) -> None:
        device = "internal" if flash is board.internal else "external"
        ops.append(RecordedOp(len(ops), device, flash.op_count, kind, address, len(data), phase[0], data=data))
        w = sets.get(id(flash))
        if w is not None:
            w.on_op(flash, kind, address, data)

    board.internal.observer = board.external.observer = observe
    try:
        board.set_network(False)
        for name in RECOVERY_PHASES:
            phase[0] = name
            board.power_cycle()
            board.run_for(SETTLE_S)
    finally:
        for w in watch:
            w.release()
        board.internal.observer = board.external.observer = None
    return ops


def _snapshot(flash: NorFlash) -> Snapshot:
    return Snapshot(bytes(flash.data), 0, [0] * len(flash.wear), 0, 0.0)


Found = tuple[int, CutMode, Judgement, list[tuple[int, CutMode, Judgement]], tuple[OpInfo, ...]]


class DoubleWorker:
    """Per worker: the update's cursor and a cursor over one recovery run, verdicts and recordings cached."""

    def __init__(self, plan: SweepPlan) -> None:
        self.plan = plan
        self.outer = SweepWorker(plan)
        self.memo = self.outer.memo  # one verdict cache for first and second cut states
        self.recordings = VerdictMemo() if plan.fast else None
        board = blank_board(plan.params)
        blank = {"internal": _snapshot(board.internal), "external": _snapshot(board.external)}
        self.inner = Cursor(plan.params, blank, digests=plan.fast)

    def _recovery(self, views: list[list[bytes]] | None) -> list[RecordedOp]:
        """The recovery run of the outer cursor's current state, recorded (or reused from the cache)."""
        memo = self.recordings
        if memo is not None and views is not None:
            found = memo.lookup(views)
            if found is not None:
                return found  # type: ignore[return-value]
        board = blank_board(self.plan.params)
        self.outer.cursor.fill(board)
        if memo is None or views is None:
            return recovery(board)
        watched = [ReadSet(board.internal), ReadSet(board.external)]
        ops = recovery(board, watched)
        memo.store((watched[0].blocks(), watched[1].blocks()), views, ops)
        return ops

    def _seconds(
        self, ops: Sequence[RecordedOp], views: list[list[bytes]] | None
    ) -> list[tuple[int, CutMode, Judgement]]:
        """Judge a second cut at every stride-th recovery operation (and the last) of the current first cut."""
        plan, inner = self.plan, self.inner
        out: list[tuple[int, CutMode, Judgement]] = []
        if not ops:
            return out
        inner.load(self.outer.cursor, views)
        judge_inner = _Judge(self, inner)
        last = len(ops) - 1
        for op in ops:
            j = op.index
            chosen = j % plan.stride == 0 or j == last
            if chosen:
                if CutMode.BEFORE in plan.modes:
                    out.append((j, CutMode.BEFORE, judge_inner.untorn(j)))
                if CutMode.TORN in plan.modes:
                    tv = inner.tear(op, plan.seed)
                    try:
                        out.append((j, CutMode.TORN, judge_inner.judge(tv)))
                    finally:
                        inner.untear()
            inner.apply(op)
            if chosen and CutMode.AFTER in plan.modes:
                out.append((j, CutMode.AFTER, judge_inner.untorn(j + 1)))
        return out

    def run(self, span: tuple[int, int]) -> list[Found]:
        lo, hi = span
        plan, outer = self.plan, self.outer
        outer.seek(lo)
        found: list[Found] = []

        def first_cut(k: int, mode: CutMode, views: list[list[bytes]] | None) -> None:
            verdict = outer.judge(views)
            ops = self._recovery(views)
            seconds = self._seconds(ops, views)
            found.append((k, mode, verdict, seconds, tuple(op.info() for op in ops)))

        for op in plan.ops[lo:hi]:
            k = op.index
            chosen = plan.chosen(k)
            if chosen:
                if CutMode.BEFORE in plan.modes:
                    first_cut(k, CutMode.BEFORE, outer.cursor.views() if plan.fast else None)
                if CutMode.TORN in plan.modes:
                    views = outer.cursor.tear(op, plan.seed)
                    try:
                        first_cut(k, CutMode.TORN, views)
                    finally:
                        outer.cursor.untear()
            outer.cursor.apply(op)
            if chosen and CutMode.AFTER in plan.modes:
                first_cut(k, CutMode.AFTER, outer.cursor.views() if plan.fast else None)
        return found


class _Judge:
    """Judging the inner cursor's states with the worker's verdict cache."""

    def __init__(self, worker: DoubleWorker, cursor: Cursor) -> None:
        self.worker = worker
        self.cursor = cursor
        self._last: tuple[int, Judgement] | None = None

    def judge(self, views: list[list[bytes]] | None = None) -> Judgement:
        memo = self.worker.memo
        if memo is not None and views is None:
            views = self.cursor.views()
        return judge_cached(self.worker.plan.params, memo, self.cursor.fill, views)

    def untorn(self, pos: int) -> Judgement:
        if self._last is None or self._last[0] != pos:
            self._last = (pos, self.judge())
        return self._last[1]


def run_double(
    plan: SweepPlan,
    executor: Executor | None = None,
    *,
    spans: Sequence[tuple[int, int]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[DoubleCase]:
    """Every double cut of ``plan`` (first cuts as the sweep picks them, second cuts in its modes)."""
    spans = tasks(len(plan.ops)) if spans is None else list(spans)
    work = Work(DoubleWorker, DoubleWorker.run, plan, spans, learnt=learnt, learn=learn)  # verdicts shared
    found: list[Found] = []
    for _, part in (executor or InProcess()).run(work):
        found.extend(part)
        if progress is not None:
            progress(len(part))  # first cuts done (each with all its second cuts)
    found.sort(key=lambda f: (f[0], MODE_ORDER[f[1]]), reverse=True)
    out: list[DoubleCase] = []
    same: dict[Judgement, Judgement] = {}  # equal verdicts of different tasks, kept once
    while found:  # popped as they are turned into cases, so both lists are never whole at once
        k, mode, first, seconds, ops = found.pop()
        op = plan.ops[k]
        info = op.info()
        first = same.setdefault(first, first)
        fault = FaultId(plan.params, op.short_device, k, mode, plan.seed)
        for j, mode2, judgement in sorted(seconds, key=lambda s: (s[0], MODE_ORDER[s[1]])):
            out.append(DoubleCase(fault, info, first, ops[j], mode2, same.setdefault(judgement, judgement)))
    return out


# ------------------------------------------------------------------------------------------- replay


@dataclass
class DoubleReplayed:
    fault: FaultId
    first: Judgement
    judgement: Judgement
    state: tuple[bytes, bytes]  # flash after the second cut
    recovery_transcript: str  # the console from power-on after the first cut until the second


def replay(rig: UpdateRig, ref: Reference, fault: FaultId) -> DoubleReplayed:
    """Both cuts with real fault plans: the first as :func:`harness.sweeps.update.replay` does it, the second
    armed on a fresh board (RAM lost) holding the first cut's flash, through the judging power-ups."""
    from harness.sweeps.update import replay as replay_first

    second = fault.second
    if second is None:
        raise CallerError(f"fault id {fault} has no second cut")
    first = replay_first(rig, ref, fault.first)
    board = blank_board(ref.params)
    board.internal.data[:], board.external.data[:] = first.state
    ops = recovery(board_holding(ref, first.state))
    if not 0 <= second.op < len(ops):
        raise CallerError(f"fault id {fault}: the recovery run has operations 0..{len(ops) - 1}")
    op = ops[second.op]
    if op.short_device != second.device:
        raise CallerError(f"fault id {fault}: recovery operation {second.op} is on {op.device} flash")
    board.arm_cut(op.device, FaultPlan(op.count, second.mode, second.seed))
    board.set_network(False)
    for _ in RECOVERY_PHASES:
        board.power_cycle()
        board.run_for(SETTLE_S)
        if board.last_cut is not None:
            break
    cut = board.last_cut
    if cut is None or cut.op_index != op.count:
        raise board_failed(f"replay of {fault} did not cut at recovery operation {second.op} as recorded", board)
    state = (bytes(board.internal.data), bytes(board.external.data))
    judgement, _ = judge_state(rig, state)
    return DoubleReplayed(fault, first.case.judgement, judgement, state, board.text)


def board_holding(ref: Reference, state: tuple[bytes, bytes]) -> VirtualBoard:
    """A board made to the recipe of ``ref.params``, powered off, its flash holding ``state`` (internal, external)."""
    board = blank_board(ref.params)
    board.internal.data[:], board.external.data[:] = state
    return board


def synthesize_double(rig: UpdateRig, ref: Reference, fault: FaultId) -> tuple[bytes, bytes]:
    """The flash a double cut leaves, rebuilt from recorded operations (what the sweep judges)."""
    second = fault.second
    if second is None:
        raise CallerError(f"fault id {fault} has no second cut")
    fault_op(ref, fault.first)
    s1 = synthesize(rig, ref, fault.first)
    ops = recovery(board_holding(ref, s1))
    board = blank_board(ref.params)
    blank = {"internal": _snapshot(board.internal), "external": _snapshot(board.external)}
    cursor = Cursor(ref.params, blank)
    cursor.flash["internal"].data[:], cursor.flash["external"].data[:] = s1
    for op in ops[: second.op]:
        cursor.apply(op)
    op = ops[second.op]
    if second.mode is CutMode.TORN:
        return cursor.torn(op, second.seed)
    if second.mode is CutMode.AFTER:
        cursor.apply(op)
    return cursor.state()


# ------------------------------------------------------------------------------------------ reporting


def worse_windows(cases: Iterable[DoubleCase]) -> list[str]:
    """Markdown: per phase and one-cut outcome, the second cuts and how many end worse, with an example."""
    seconds: Counter[tuple[str, Verdict]] = Counter()
    firsts: dict[tuple[str, Verdict], set[tuple[int, CutMode]]] = defaultdict(set)
    worse_by: dict[tuple[str, Verdict], Counter[Verdict]] = defaultdict(Counter)
    examples: dict[tuple[str, Verdict], tuple[int, int, DoubleCase]] = {}
    severity: dict[Verdict, int] = {v: v.severity for v in Verdict}
    # Cases come in runs of one first cut (they share its objects): the first cut's part once per run.
    for _, run in groupby(cases, key=lambda c: id(c.first_fault)):
        group = list(run)
        head = group[0]
        if all(c.first_op is head.first_op and c.first is head.first for c in group):
            _tally(group, seconds, firsts, worse_by, examples, severity)
        else:  # not one first cut's shared objects: each case on its own
            for c in group:
                _tally([c], seconds, firsts, worse_by, examples, severity)
    order = {"app v1": 0, "bootloader": 1, "app v2": 2}
    lines = [
        "| first cut in | outcome of the first cut alone | first cuts | second cuts | worse after two | "
        "worst outcomes after two cuts | example |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in sorted(seconds, key=lambda k: (order.get(k[0], 9), k[1].severity)):
        ops = sorted(index for index, _ in firsts[key])
        span = f"{key[0]} (ops {ops[0]}..{ops[-1]})"
        tally = worse_by.get(key)
        if tally:
            names = ", ".join(f"{v.value} {n}" for v, n in sorted(tally.items(), key=lambda t: t[0].severity))
            example = f"`{examples[key][2].fault}`"
        else:
            names, example = "none", ""
        n_worse = sum(tally.values()) if tally else 0
        lines.append(
            f"| {span} | {key[1].value} | {len(firsts[key])} | {seconds[key]} | {n_worse} | {names} | {example} |"
        )
    return lines


def _tally(
    group: list[DoubleCase],
    seconds: Counter[tuple[str, Verdict]],
    firsts: dict[tuple[str, Verdict], set[tuple[int, CutMode]]],
    worse_by: dict[tuple[str, Verdict], Counter[Verdict]],
    examples: dict[tuple[str, Verdict], tuple[int, int, DoubleCase]],
    severity: dict[Verdict, int],
) -> None:
    """Count the second cuts of one first cut into the tables of :func:`worse_windows`."""
    head = group[0]
    key = (head.first_op.phase, head.first.verdict)
    seconds[key] += len(group)
    firsts[key].add((head.first_op.index, head.first_fault.mode))
    bar = severity[head.first.verdict]
    for c in group:
        v = c.judgement.verdict
        if severity[v] < bar:
            worse_by[key][v] += 1
            rank = (severity[v], c.first_op.index)
            best = examples.get(key)
            if best is None or rank < best[:2]:
                examples[key] = (*rank, c)


def double_report(plan: SweepPlan, cases: Sequence[DoubleCase]) -> list[str]:
    """The markdown of ``otaloop sweep update --double``: a heading sentence, then :func:`worse_windows`."""
    firsts = len({(c.first_op.index, c.first_fault.mode) for c in cases})
    where = "every operation" if plan.stride == 1 else f"every {ordinal(plan.stride)} operation and the last"
    worse = sum(1 for c in cases if c.worse)
    head = (
        f"Double power cuts of `{plan.params.scenario}`: a first cut at {where} of the update's {len(plan.ops)}, "
        f"then a second cut at {where.replace('operation', 'recovery operation')} of the power-ups that follow "
        f"(modes {', '.join(m.value for m in plan.modes)} for both): {firsts} first cuts with a recovery that "
        f"writes, {len(cases)} double cuts, {worse} of them worse than the first cut alone."
    )
    return [head, "", *worse_windows(cases)]


def dumps_double(plan: SweepPlan, cases: Sequence[DoubleCase]) -> str:
    """JSON of a double sweep: what was swept, then one case per line."""
    head = {
        "format": DOUBLE_FORMAT,
        "scenario": plan.params.scenario,
        "modes": [m.value for m in plan.modes],
        "stride": plan.stride,
        "seed": plan.seed,
    }
    rows = [
        json.dumps(
            {
                "fault": str(c.fault),
                "first_phase": c.first_op.phase,
                "first_operation": c.first_op.label(),
                "first_outcome": c.first.verdict.value,
                "second_phase": c.second_op.phase,
                "second_operation": c.second_op.label(),
                "outcome": c.judgement.verdict.value,
                "worse": c.worse,
                "detail": c.judgement.line(),
            }
        )
        for c in cases
    ]
    return json.dumps(head)[:-1] + ',\n "cases": [\n' + ",\n".join("  " + r for r in rows) + "\n ]\n}\n"
