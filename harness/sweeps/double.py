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
(:mod:`harness.sweeps.memo`). A first cut whose recovery repeats a recording already met shares the
verdicts of the last such first cut from the recovery operation on after which both states hold the same
bytes (the recovery has erased every block where they differed). ``stride`` samples both the first cuts
and the recovery operations (every stride-th and the last).

:func:`run_double` gives a :class:`DoubleSweep`: one :class:`FirstCut` per first cut (its recording and
the verdicts of its second cuts, shared objects), a sequence of :class:`DoubleCase` made on demand, so
millions of double cuts cost a few bytes each. :func:`worse_windows` is the table of
``docs/power-cut-sweeps.md``: for each phase and one-cut outcome, how many second cuts end worse;
:func:`write_double` streams the ``otaloop-double-sweep/1`` JSON one first cut at a time.

It does not cut a third time, and it does not record the update (``record`` does).
"""

from __future__ import annotations

import json
import os
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate, compress, count, groupby
from operator import ne
from typing import overload

from bootloader_model.board.virtual_board import VirtualBoard
from bootloader_model.errors import CallerError
from bootloader_model.storage.nor_flash import CutMode, FaultPlan, NorFlash, Snapshot
from harness.output_files import atomic_file
from harness.sweeps.executor import Executor, InProcess, Work
from harness.sweeps.fault_ids import FaultId, SecondCut
from harness.sweeps.memo import BLOCK, ReadSet, VerdictMemo, learn, learnt, touched
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
DEVICES = ("internal", "external")  # the order of a state's block digests


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


Slot = tuple[int, CutMode]  # a second cut: recovery operation index, cut mode


@lru_cache(maxsize=256)
def second_cuts(n_ops: int, stride: int, modes: tuple[CutMode, ...]) -> tuple[tuple[Slot, ...], tuple[int, ...]]:
    """The second cuts of a recovery run of ``n_ops`` operations, in the order a sweep judges and reports
    them (by operation, then before, torn, after), and for each how many recovery operations its state
    holds whole (``j`` before or torn, ``j + 1`` after): a non-decreasing list."""
    slots: list[Slot] = []
    holds: list[int] = []
    last = n_ops - 1
    for j in range(n_ops):
        if j % stride and j != last:
            continue
        for mode in (CutMode.BEFORE, CutMode.TORN, CutMode.AFTER):
            if mode in modes:
                slots.append((j, mode))
                holds.append(j + 1 if mode is CutMode.AFTER else j)
    return tuple(slots), tuple(holds)


@dataclass(frozen=True, slots=True)
class FirstCut:
    """One first cut and the verdicts of all its second cuts (in :func:`second_cuts` order).

    ``recording`` (the recovery run's operations) and the verdicts are objects shared with other first
    cuts: a sweep's millions of double cuts are held as these few thousand, and made into
    :class:`DoubleCase` objects only when asked for.
    """

    fault: FaultId
    op: OpInfo
    first: Judgement
    recording: tuple[OpInfo, ...]
    seconds: tuple[Judgement, ...]


# What a worker sends back for a range of first cuts: the recordings it met (each once), then per first cut
# its operation, mode, verdict, which recording, and its second cuts' verdicts.
Found = tuple[list[tuple[OpInfo, ...]], list[tuple[int, CutMode, Judgement, int, list[Judgement]]]]


@dataclass
class _Prior:
    """The last first cut whose recovery ran as one recording: its state's block digests and verdicts."""

    views: list[list[bytes]]
    seconds: list[Judgement]


class DoubleWorker:
    """Per worker: the update's cursor and a cursor over one recovery run, verdicts and recordings cached.

    With ``plan.fast``, a first cut whose recovery is a recording met before (the recovery read the same
    blocks) is compared block by block (by digest) with the last first cut of that recording: once the
    recovery has erased every block where the two differ, every later second cut leaves the same bytes in
    both, so those verdicts are copied, not looked up (nor the recovery replayed that far); ``shared``
    counts them, and ``share=False`` looks every one up instead. Without ``plan.fast`` every second cut is judged in
    full: the reference the tests compare the fast path with.
    """

    def __init__(self, plan: SweepPlan, *, share: bool = True) -> None:
        self.plan = plan
        self.share = share and plan.fast
        self.shared = 0  # second-cut verdicts copied from an earlier first cut
        self.outer = SweepWorker(plan)
        self.memo = self.outer.memo  # one verdict cache for first and second cut states
        self.recordings = VerdictMemo() if plan.fast else None
        board = blank_board(plan.params)
        blank = {"internal": _snapshot(board.internal), "external": _snapshot(board.external)}
        self.inner = Cursor(plan.params, blank, digests=plan.fast)
        self._priors: dict[int, _Prior] = {}  # id(recording) -> its last first cut
        self._erases: dict[int, list[tuple[int, int, range]]] = {}  # id(recording) -> what it erases whole
        self._keep: dict[int, list[RecordedOp]] = {}  # the recordings those ids name, kept alive

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

    def _erased(self, ops: list[RecordedOp]) -> list[tuple[int, int, range]]:
        """(operation index, flash 0 internal / 1 external, blocks) of every erase of a recording."""
        found = self._erases.get(id(ops))
        if found is None:
            found = []
            for op in ops:
                if op.kind.startswith("erase"):
                    offset, length = touched(self.inner.flash[op.device], op.kind, op.address, 0)
                    found.append(
                        (op.index, DEVICES.index(op.device), range(offset // BLOCK, (offset + length) // BLOCK))
                    )
            self._erases[id(ops)] = found
            self._keep[id(ops)] = ops
        return found

    def _same_from(self, ops: list[RecordedOp], views: list[list[bytes]], prior: _Prior) -> int | None:
        """How many recovery operations after which this first cut's state equals ``prior``'s (both ran
        ``ops``): every block where they differ has been erased whole by then. None if that never happens."""
        differ = {
            (dev, b)
            for dev, (mine, theirs) in enumerate(zip(views, prior.views, strict=True))
            for b in compress(count(), map(ne, mine, theirs))
        }
        if not differ:
            return 0
        for index, dev, blocks in self._erased(ops):
            differ.difference_update((dev, b) for b in blocks)
            if not differ:
                return index + 1
        return None

    def _seconds(self, ops: list[RecordedOp], views: list[list[bytes]] | None) -> list[Judgement]:
        """The verdicts of the current first cut's second cuts, in :func:`second_cuts` order."""
        plan, inner = self.plan, self.inner
        if not ops:
            return []
        slots, holds = second_cuts(len(ops), plan.stride, plan.modes)
        todo, prior = len(slots), None
        if self.share and views is not None:
            prior = self._priors.get(id(ops))
            views = [list(v) for v in views]  # the outer cursor's digests change as it moves on
            if prior is not None:
                same = self._same_from(ops, views, prior)
                if same is not None:
                    todo = bisect_left(holds, same)
                    self.shared += len(slots) - todo
        out: list[Judgement] = []
        if todo:
            inner.load(self.outer.cursor, views)
            judge_inner = _Judge(self, inner)
            wanted = iter(slots[:todo])
            j, mode = next(wanted)
            for op in ops:
                if op.index == j and mode is CutMode.BEFORE:
                    out.append(judge_inner.untorn(j))
                    j, mode = next(wanted, (-1, mode))
                if op.index == j and mode is CutMode.TORN:
                    tv = inner.tear(op, plan.seed)
                    try:
                        out.append(judge_inner.judge(tv))
                    finally:
                        inner.untear()
                    j, mode = next(wanted, (-1, mode))
                if j < 0:
                    break
                inner.apply(op)
                if op.index == j and mode is CutMode.AFTER:
                    out.append(judge_inner.untorn(j + 1))
                    j, mode = next(wanted, (-1, mode))
                    if j < 0:
                        break
        if prior is not None:
            out.extend(prior.seconds[todo:])
        if self.share and views is not None:
            self._erased(ops)  # keeps the recording alive while its id names a prior
            self._priors[id(ops)] = _Prior(views, out)
        return out

    def run(self, span: tuple[int, int]) -> Found:
        lo, hi = span
        plan, outer = self.plan, self.outer
        outer.seek(lo)
        recordings: dict[int, int] = {}  # id(recording) -> its index in what this range sends back
        infos: list[tuple[OpInfo, ...]] = []
        found: list[tuple[int, CutMode, Judgement, int, list[Judgement]]] = []

        def first_cut(k: int, mode: CutMode, views: list[list[bytes]] | None) -> None:
            verdict = outer.judge(views)
            ops = self._recovery(views)
            seconds = self._seconds(ops, views)
            index = recordings.get(id(ops))
            if index is None:
                index = recordings[id(ops)] = len(infos)
                infos.append(tuple(op.info() for op in ops))
            found.append((k, mode, verdict, index, seconds))

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
        return infos, found


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


class DoubleSweep(Sequence[DoubleCase]):
    """The double cuts of a sweep in order (first cut by operation and mode, then second cut), held as
    :class:`FirstCut` records; indexing and iterating make :class:`DoubleCase` objects as they go."""

    def __init__(self, plan: SweepPlan, firsts: Sequence[FirstCut]) -> None:
        self.plan = plan
        self.firsts = list(firsts)
        self._ends = list(accumulate(len(f.seconds) for f in self.firsts))

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    @overload
    def __getitem__(self, index: int) -> DoubleCase: ...

    @overload
    def __getitem__(self, index: slice) -> list[DoubleCase]: ...

    def __getitem__(self, index: int | slice) -> DoubleCase | list[DoubleCase]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        n = bisect_right(self._ends, index)
        f = self.firsts[n]
        i = index - (self._ends[n - 1] if n else 0)
        j, mode = self.slots(f)[i]
        return DoubleCase(f.fault, f.op, f.first, f.recording[j], mode, f.seconds[i])

    def __iter__(self) -> Iterator[DoubleCase]:
        for f in self.firsts:
            for (j, mode), judgement in zip(self.slots(f), f.seconds, strict=True):
                yield DoubleCase(f.fault, f.op, f.first, f.recording[j], mode, judgement)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DoubleSweep):
            return self.firsts == other.firsts
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def slots(self, f: FirstCut) -> tuple[Slot, ...]:
        """The second cuts of ``f`` (recovery operation, mode), one per verdict in ``f.seconds``."""
        return second_cuts(len(f.recording), self.plan.stride, self.plan.modes)[0]


def run_double(
    plan: SweepPlan,
    executor: Executor | None = None,
    *,
    spans: Sequence[tuple[int, int]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> DoubleSweep:
    """Every double cut of ``plan`` (first cuts as the sweep picks them, second cuts in its modes)."""
    spans = tasks(len(plan.ops)) if spans is None else list(spans)
    work = Work(DoubleWorker, DoubleWorker.run, plan, spans, learnt=learnt, learn=learn)  # verdicts shared
    firsts: list[FirstCut] = []
    recordings: dict[tuple[OpInfo, ...], tuple[OpInfo, ...]] = {}  # equal recordings of different tasks, once
    same: dict[Judgement, Judgement] = {}  # equal first-cut verdicts of different tasks, kept once
    for _, (infos, part) in (executor or InProcess()).run(work):
        mine = [recordings.setdefault(r, r) for r in infos]
        for k, mode, first, index, seconds in part:
            op = plan.ops[k]
            fault = FaultId(plan.params, op.short_device, k, mode, plan.seed)
            firsts.append(FirstCut(fault, op.info(), same.setdefault(first, first), mine[index], tuple(seconds)))
        if progress is not None:
            progress(len(part))  # first cuts done (each with all its second cuts)
    firsts.sort(key=lambda f: (f.fault.op, MODE_ORDER[f.fault.mode]))
    return DoubleSweep(plan, firsts)


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


@dataclass(frozen=True, slots=True)
class _Group:
    """The double cuts of one first cut: its id, operation and verdict, its recovery's operations, then per
    second cut (recovery operation, mode) and verdict (the report's unit: one first cut's verdicts are
    counted, not walked)."""

    fault: FaultId  # the first cut alone
    op: OpInfo
    first: Judgement
    recording: Sequence[OpInfo]
    slots: Sequence[Slot]
    judgements: Sequence[Judgement]

    def case(self, i: int) -> DoubleCase:
        j, mode = self.slots[i]
        return DoubleCase(self.fault, self.op, self.first, self.recording[j], mode, self.judgements[i])

    def outcomes(self) -> list[tuple[Judgement, int]]:
        """Each distinct verdict object of the second cuts and how many hold it (counted without hashing)."""
        held = dict(zip(map(id, self.judgements), self.judgements, strict=True))
        return [(held[i], n) for i, n in Counter(map(id, self.judgements)).items()]


def _groups(cases: Iterable[DoubleCase]) -> Iterator[_Group]:
    """The cases one first cut at a time (from a :class:`DoubleSweep` without making them)."""
    if isinstance(cases, DoubleSweep):
        for f in cases.firsts:
            if f.seconds:  # a recovery that writes nothing has no double cuts
                yield _Group(f.fault, f.op, f.first, f.recording, cases.slots(f), f.seconds)
        return
    # Cases come in runs of one first cut (they share its objects): the first cut's part once per run.
    for _, run in groupby(cases, key=lambda c: id(c.first_fault)):
        group = list(run)
        head = group[0]
        if all(c.first_op is head.first_op and c.first is head.first for c in group):
            ops = [c.second_op for c in group]
            slots = [(i, c.second_mode) for i, c in enumerate(group)]
            yield _Group(head.first_fault, head.first_op, head.first, ops, slots, [c.judgement for c in group])
        else:  # not one first cut's shared objects: each case on its own
            for c in group:
                yield _Group(c.first_fault, c.first_op, c.first, [c.second_op], [(0, c.second_mode)], [c.judgement])


Key = tuple[str, Verdict]  # phase of the first cut, its outcome alone


@dataclass
class _Tally:
    """What the report counts, per phase and one-cut outcome."""

    seconds: Counter[Key] = field(default_factory=Counter)
    firsts: dict[Key, set[tuple[int, CutMode]]] = field(default_factory=lambda: defaultdict(set))
    worse_by: dict[Key, Counter[Verdict]] = field(default_factory=lambda: defaultdict(Counter))
    examples: dict[Key, tuple[int, int, DoubleCase]] = field(default_factory=dict)


def _tally(cases: Iterable[DoubleCase]) -> _Tally:
    t = _Tally()
    severity = {v: v.severity for v in Verdict}
    for g in _groups(cases):
        key = (g.op.phase, g.first.verdict)
        t.seconds[key] += len(g.judgements)
        t.firsts[key].add((g.op.index, g.fault.mode))
        bar = severity[g.first.verdict]
        worst: Verdict | None = None
        for judgement, n in g.outcomes():
            v = judgement.verdict
            if severity[v] < bar:
                t.worse_by[key][v] += n
                if worst is None or severity[v] < severity[worst]:
                    worst = v
        if worst is None:
            continue
        rank = (severity[worst], g.op.index)
        best = t.examples.get(key)
        if best is None or rank < best[:2]:  # the earliest case of the worst outcome
            i = next(i for i, j in enumerate(g.judgements) if j.verdict is worst)
            t.examples[key] = (*rank, g.case(i))
    return t


def worse_windows(cases: Iterable[DoubleCase]) -> list[str]:
    """Markdown: per phase and one-cut outcome, the second cuts and how many end worse, with an example."""
    return _windows(_tally(cases))


def _windows(t: _Tally) -> list[str]:
    order = {"app v1": 0, "bootloader": 1, "app v2": 2}
    lines = [
        "| first cut in | outcome of the first cut alone | first cuts | second cuts | worse after two | "
        "worst outcomes after two cuts | example |",
        "|---|---|---|---|---|---|---|",
    ]
    for key in sorted(t.seconds, key=lambda k: (order.get(k[0], 9), k[1].severity)):
        ops = sorted(index for index, _ in t.firsts[key])
        span = f"{key[0]} (ops {ops[0]}..{ops[-1]})"
        tally = t.worse_by.get(key)
        if tally:
            names = ", ".join(f"{v.value} {n}" for v, n in sorted(tally.items(), key=lambda t: t[0].severity))
            example = f"`{t.examples[key][2].fault}`"
        else:
            names, example = "none", ""
        n_worse = sum(tally.values()) if tally else 0
        lines.append(
            f"| {span} | {key[1].value} | {len(t.firsts[key])} | {t.seconds[key]} | {n_worse} | {names} | {example} |"
        )
    return lines


def double_report(plan: SweepPlan, cases: Sequence[DoubleCase]) -> list[str]:
    """The markdown of ``otaloop sweep update --double``: a heading sentence, then :func:`worse_windows`."""
    t = _tally(cases)
    firsts = sum(len(f) for f in t.firsts.values())
    worse = sum(sum(c.values()) for c in t.worse_by.values())
    where = "every operation" if plan.stride == 1 else f"every {ordinal(plan.stride)} operation and the last"
    head = (
        f"Double power cuts of `{plan.params.scenario}`: a first cut at {where} of the update's {len(plan.ops)}, "
        f"then a second cut at {where.replace('operation', 'recovery operation')} of the power-ups that follow "
        f"(modes {', '.join(m.value for m in plan.modes)} for both): {firsts} first cuts with a recovery "
        f"that writes, {sum(t.seconds.values())} double cuts, {worse} of them worse than the first cut alone."
    )
    return [head, "", *_windows(t)]


def double_json(plan: SweepPlan, cases: Iterable[DoubleCase]) -> Iterator[str]:
    """The JSON of a double sweep in pieces (what was swept, then one case per line), so that millions of
    cases are written without holding the whole text: ``"".join`` of the pieces is :func:`dumps_double`."""
    head = {
        "format": DOUBLE_FORMAT,
        "scenario": plan.params.scenario,
        "modes": [m.value for m in plan.modes],
        "stride": plan.stride,
        "seed": plan.seed,
    }
    yield json.dumps(head)[:-1] + ',\n "cases": [\n'
    dumps = json.dumps
    tails: dict[tuple[Judgement, bool], str] = {}  # outcome, worse, detail: a few distinct ones
    # Per recording and second-cut layout (shared by many first cuts): each second cut's fault id part and
    # its phase and operation, as JSON.
    seconds: dict[tuple[int, int], tuple[Sequence[OpInfo], Sequence[Slot], list[tuple[str, str]]]] = {}
    sep = ""
    for g in _groups(cases):
        # A row is json.dumps of {fault, first_phase, first_operation, first_outcome, second_phase,
        # second_operation, outcome, worse, detail}, put together from pieces shared by many rows.
        first = f'{{"fault": {dumps(str(g.fault))[:-1]}+'
        middle = (
            f', "first_phase": {dumps(g.op.phase)}, "first_operation": {dumps(g.op.label())}, '
            f'"first_outcome": {dumps(g.first.verdict.value)}, '
        )
        known = seconds.get((id(g.recording), id(g.slots)))
        if known is None or known[0] is not g.recording or known[1] is not g.slots:
            pieces = []
            for j, mode in g.slots:
                op = g.recording[j]
                second = SecondCut(op.short_device, op.index, mode, g.fault.seed)
                pieces.append(
                    (f'{second}"', f'"second_phase": {dumps(op.phase)}, "second_operation": {dumps(op.label())}, ')
                )
            known = seconds[(id(g.recording), id(g.slots))] = (g.recording, g.slots, pieces)
        bar = g.first.verdict.severity
        tail_of: dict[int, str] = {}
        for judgement, _ in g.outcomes():
            worse = judgement.verdict.severity < bar
            tail = tails.get((judgement, worse))
            if tail is None:
                tail = tails[(judgement, worse)] = (
                    f'"outcome": {dumps(judgement.verdict.value)}, "worse": {dumps(worse)}, '
                    f'"detail": {dumps(judgement.line())}}}'
                )
            tail_of[id(judgement)] = tail
        rows = ",\n".join(
            f"  {first}{a}{middle}{b}{tail_of[id(judgement)]}"
            for (a, b), judgement in zip(known[2], g.judgements, strict=True)
        )
        yield sep + rows
        sep = ",\n"
    yield "\n ]\n}\n"


def dumps_double(plan: SweepPlan, cases: Iterable[DoubleCase]) -> str:
    """JSON of a double sweep: what was swept, then one case per line."""
    return "".join(double_json(plan, cases))


def write_double(path: str | os.PathLike[str], plan: SweepPlan, cases: Iterable[DoubleCase]) -> None:
    """Write the JSON of :func:`dumps_double` to ``path`` one first cut at a time, whole or not at all.

    Args:
        path: the file to write (see :func:`harness.output_files.check_output`).
        plan: what was swept.
        cases: its double cuts.

    Raises:
        CallerError: ``path`` is unusable or could not be written (an earlier file is then unchanged).
    """
    with atomic_file(path, "--json") as fh:
        for piece in double_json(plan, cases):
            fh.write(piece.encode())
