"""Whole-board power-cut sweep of one OTA update, with stable, replayable fault ids.

The update: a board provisioned with factory v1 has booted once (first-boot backup done) and is off. An
:class:`~harness.image.server.ImageServer` on 127.0.0.1 advertises v2. Power on: v1 runs its periodic
check, downloads v2 into ``ota/``, verifies it, adds the DB row, writes boot control and resets; the
bootloader erases and programs internal flash, verifies, jumps; v2 confirms itself (DB row and boot
control to F8). :func:`record` runs that once and records every flash operation of BOTH flashes in one
global order (the k-th operation of the update is ``ops[k]``) with its bytes, its phase, and what it
writes in which step of the update (:mod:`harness.sweeps.writes`).

A cut at operation k leaves the flash holding operations ``0..k-1`` (``before``), ``0..k`` (``after``),
or ``0..k-1`` plus a seeded torn operation k (``torn``), and RAM lost. So :func:`sweep` rebuilds each
state by applying the recorded operations to the starting snapshot (a torn operation is re-run on a flash
whose counters match the reference, so the tear is the same bytes), then judges it with
:mod:`harness.sweeps.verdicts`. :func:`replay` does it the direct way: the same update from the same
snapshot (for bootloader-phase cuts, the snapshot taken at the software reset: RAM is lost at reset, so
flash is the whole state) with a real :class:`~bootloader_model.storage.nor_flash.FaultPlan` armed; the tests check
that both ways give the same bytes.

Fault ids (:mod:`harness.sweeps.fault_ids`): ``<scenario>:<int|ext>@op<k>:<before|after|torn>[:s<seed>]`` where
``k`` is the global operation index of the reference run, e.g. ``update:int@op437:before`` or
``update/v2=crash:int@op400:after``. The images embed the server's URL, so the flash bytes (not the
operation stream) differ between server instances.

It does not model network faults during the update (see the scenario tests) or cuts during the
provisioning and first-boot backup (``otaloop sweep bootloader --scene backup`` covers those).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from bootloader_model.board.virtual_board import AppState, BoardConfig, VirtualBoard
from bootloader_model.bootloader.program import MODEL
from bootloader_model.errors import BoardError, CallerError, PowerCut
from bootloader_model.formats.app_descriptor import AppDescriptor, Behaviour
from bootloader_model.formats.app_image import build_app
from bootloader_model.quirks import QuirkProfile
from bootloader_model.storage.nor_flash import CutMode, FaultPlan, NorFlash, Snapshot
from harness.image.server import ImageServer
from harness.native.programs import application_from_spec, bootloader_from_spec
from harness.sweeps.executor import Executor, InProcess, Work
from harness.sweeps.fault_ids import DEFAULT_SEED, FaultId, Params
from harness.sweeps.memo import BLOCK, BlockDigests, ReadSet, VerdictMemo, learn, learnt, touched
from harness.sweeps.verdicts import Judgement, Verdict, judge, settle
from harness.sweeps.writes import classify

MODES = (CutMode.BEFORE, CutMode.AFTER, CutMode.TORN)
OLD, NEW = 1, 2
IMAGE_NAME = "wifi_ota_app_upgrade_ver2.bin"
#: Virtual seconds the update may take from power-on to v2's confirm step (the check comes after 60 s).
UPDATE_BUDGET_S = 600.0
#: Virtual seconds the reference run continues after the reset: the bootloader run and v2's confirm step.
SETTLE_S_REF = 20.0


@dataclass(frozen=True)
class OpInfo:
    """One flash operation of the update, without its bytes: what reports and saved results keep."""

    index: int  # global position in the update
    device: str  # "internal" or "external"
    count: int  # the device's op_count when it ran (what seeds a torn operation)
    kind: str  # "erase:<unit>" or "program"
    address: int
    length: int  # bytes programmed; 0 for an erase
    phase: str  # "app v1", "bootloader" or "app v2"
    writes: str = ""  # what it writes, e.g. "image file data" (harness.sweeps.writes); "" if not classified
    step: str = ""  # the update step, e.g. "download" (harness.sweeps.writes); "" if not classified

    @property
    def short_device(self) -> str:
        return "int" if self.device == "internal" else "ext"

    def label(self) -> str:
        what = "erase" if self.kind.startswith("erase") else f"program {self.length} B"
        return f"{self.device} {what} at 0x{self.address:08X}"


@dataclass(frozen=True)
class RecordedOp(OpInfo):
    """One flash operation of the reference run, with the bytes it programmed (empty for an erase)."""

    data: bytes = b""

    def info(self) -> OpInfo:
        return OpInfo(
            self.index,
            self.device,
            self.count,
            self.kind,
            self.address,
            self.length,
            self.phase,
            self.writes,
            self.step,
        )


State = tuple[bytes, bytes]  # internal, external flash contents


@dataclass
class Reference:
    """The recorded update: starting and reset snapshots, every operation, and where the reset falls."""

    params: Params
    start: dict[str, Snapshot]
    reset: dict[str, Snapshot]
    reset_at: int  # global index of the first operation after the software reset
    ops: list[RecordedOp]
    final: State
    transcript: str


@dataclass(frozen=True)
class CaseResult:
    fault: FaultId
    op: OpInfo
    judgement: Judgement

    @property
    def verdict(self) -> Verdict:
        return self.judgement.verdict


@dataclass
class UpdateRig:
    """The images, the server serving them, and boards made to the same recipe."""

    params: Params
    server: ImageServer
    factory: bytes = field(init=False)
    image: bytes = field(init=False)

    def __post_init__(self) -> None:
        url = self.server.url("/ota.json")  # always 127.0.0.1: never the MHC default address
        self.factory = build_app(AppDescriptor(version=OLD, manifest_url=url), self.params.size)
        behaviour = Behaviour.named(self.params.v2)
        self.image = build_app(AppDescriptor(version=NEW, manifest_url=url, behaviour=behaviour), self.params.size)
        image_url, digest = self.server.put_image(IMAGE_NAME, self.image)
        self.server.put_manifest(NEW, image_url, digest)

    def board(self) -> VirtualBoard:
        return blank_board(self.params)

    def restored(self, snaps: dict[str, Snapshot]) -> VirtualBoard:
        board = self.board()
        board.internal.restore(snaps["internal"])
        board.external.restore(snaps["external"])
        return board


def blank_board(params: Params) -> VirtualBoard:
    """A board made to the recipe of ``params`` (its quirk profile, bootloader and application), holding blank
    flash."""
    profile = QuirkProfile.named(params.quirks)
    return VirtualBoard(
        BoardConfig(
            profile=profile,
            network="loopback",
            bootloader=bootloader_from_spec(params.bootloader, profile),
            application=application_from_spec(params.application),
        )
    )


def board_failed(what: str, board: VirtualBoard) -> BoardError:
    """The error for a board that did not do what the update needs: ``what``, and the end of its console on
    the same line (the board misbehaved, or a native bootloader behaves unlike the recording)."""
    return BoardError(f"{what}; its console ended with {board.text[-300:]!r}")


def _snapshots(board: VirtualBoard) -> dict[str, Snapshot]:
    return {"internal": board.internal.snapshot(), "external": board.external.snapshot()}


def _phase(board: VirtualBoard) -> str:
    if board.state is AppState.CRASHING:  # powered, the bootloader is running
        return "bootloader"
    version = board.app_version
    return f"app v{version}" if version is not None else "bootloader"


def record(rig: UpdateRig) -> Reference:
    """Run the update once, recording every flash operation of both flashes in order."""
    board = rig.board()
    board.provision(rig.factory)
    board.set_network(False)  # the first boot only backs the factory image up and starts v1
    board.power_on()
    if not board.run_until(lambda: board.state is AppState.RUNNING, UPDATE_BUDGET_S):
        raise board_failed("factory v1 did not start", board)
    board.power_off()
    start = _snapshots(board)
    ops: list[RecordedOp] = []

    def observe(flash: NorFlash, kind: str, address: int, data: bytes) -> None:
        device = "internal" if flash is board.internal else "external"
        ops.append(RecordedOp(len(ops), device, flash.op_count, kind, address, len(data), _phase(board), data=data))

    board.internal.observer = board.external.observer = observe
    board.transcript.clear()
    board.set_network(True)
    board.power_on()
    svc_reset = board.run_until(lambda: board.app_run is not None and board.app_run.reset_requested, UPDATE_BUDGET_S)
    if not svc_reset:
        raise board_failed("v1 never asked for the reset after the download", board)
    reset = _snapshots(board)
    reset_at = len(ops)
    board.set_network(False)  # from here on the update needs no network; replays from `reset` run without
    boots = len(board.boots)
    board.run_until(lambda: len(board.boots) > boots, UPDATE_BUDGET_S)  # the reset and the bootloader run
    chosen = board.boots[-1].chosen if len(board.boots) > boots else None
    if chosen is None or chosen.version != NEW:
        raise board_failed("the bootloader did not install v2 after the reset", board)
    if rig.params.v2 == "healthy":
        board.run_for(SETTLE_S_REF)  # v2's confirm step; a crashing or hanging v2 ends the update at its jump
        if board.app_version != NEW:
            raise board_failed("v2 is not running after the update", board)
    board.internal.observer = board.external.observer = None
    final = (bytes(board.internal.data), bytes(board.external.data))
    labels = classify(ops, start["external"].data, final[1])
    ops = [dataclasses.replace(op, writes=w, step=st) for op, (w, st) in zip(ops, labels, strict=True)]
    return Reference(rig.params, start, reset, reset_at, ops, final, board.text)


class Cursor:
    """Both flashes at 'after operations 0..pos-1', advanced one recorded operation at a time.

    The sweeps rebuild the state a cut leaves with it instead of re-running the update (its flash objects
    belong to a board that never runs).

    With ``digests`` it also keeps per-block digests of both flashes (:mod:`harness.sweeps.memo`), updated
    where each operation wrote, so the verdict cache can look a state up without hashing 5 MiB.
    """

    def __init__(self, params: Params, start: dict[str, Snapshot], *, digests: bool = False) -> None:
        board = blank_board(params)  # a board only for its two flash objects
        self.flash = {"internal": board.internal, "external": board.external}
        self.start = start
        self._torn: tuple[str, int, bytes] | None = None
        self.keep_digests = digests
        self.digests: dict[str, BlockDigests] = {}
        self.pos = 0
        self.rewind(start, 0)

    def rewind(self, snaps: dict[str, Snapshot], pos: int) -> None:
        """Load the flash state after operation ``pos - 1`` (``snaps`` holds it)."""
        for name, flash in self.flash.items():
            flash.restore(snaps[name])
            if self.keep_digests:
                self.digests[name] = BlockDigests(flash.data)
        self.pos = pos

    def load(self, other: Cursor, views: list[list[bytes]] | None = None) -> None:
        """Start from ``other``'s current flash (position 0); ``views`` are its block digests."""
        for name, flash in self.flash.items():
            flash.data[:] = other.flash[name].data
        if self.keep_digests:
            source = views if views is not None else other.views()
            for name, digests in zip(("internal", "external"), source, strict=True):
                self.digests[name] = BlockDigests.of(digests)
        self._torn = None
        self.pos = 0

    def apply(self, op: RecordedOp, mode: CutMode = CutMode.AFTER, seed: int = 0) -> None:
        """Run ``op`` on its flash: whole (``after``), not at all (``before``) or torn with ``seed``."""
        flash = self.flash[op.device]
        _run_op(flash, op, mode, seed)
        if mode is CutMode.AFTER:
            self.pos = op.index + 1
        if self.keep_digests and mode is not CutMode.BEFORE:
            self.digests[op.device].refresh(flash.data, *touched(flash, op.kind, op.address, op.length))

    def state(self) -> State:
        """Copies of both flashes' bytes: internal, external."""
        return bytes(self.flash["internal"].data), bytes(self.flash["external"].data)

    def views(self) -> list[list[bytes]]:
        """Block digests of the cursor's state: internal, external."""
        return [self.digests["internal"].digests, self.digests["external"].digests]

    def fill(self, board: VirtualBoard) -> None:
        """Copy the cursor's state into ``board``'s flash."""
        board.internal.data[:] = self.flash["internal"].data
        board.external.data[:] = self.flash["external"].data

    def tear(self, op: RecordedOp, seed: int) -> list[list[bytes]] | None:
        """Tear op k in place ('ops 0..k-1 plus op k torn') until :meth:`untear`; the block digests of that
        state if the cursor keeps them. Only the blocks op k touches are saved, not the whole flash."""
        flash = self.flash[op.device]
        offset, length = touched(flash, op.kind, op.address, op.length)
        lo = offset - offset % BLOCK
        hi = min(len(flash.data), -(-(offset + length) // BLOCK) * BLOCK)
        self._torn = (op.device, lo, bytes(flash.data[lo:hi]))
        _run_op(flash, op, CutMode.TORN, seed)
        if not self.keep_digests:
            return None
        mine = self.digests[op.device].copy()
        mine.refresh(flash.data, lo, hi - lo)
        views = self.views()
        views[0 if op.device == "internal" else 1] = mine.digests
        return views

    def untear(self) -> None:
        """Put back the blocks :meth:`tear` changed."""
        if self._torn is not None:
            device, lo, saved = self._torn
            self.flash[device].data[lo : lo + len(saved)] = saved
            self._torn = None

    def torn(self, op: RecordedOp, seed: int) -> State:
        """The state after ops 0..k-1 plus op k torn (the cursor itself does not move)."""
        self.tear(op, seed)
        try:
            return self.state()
        finally:
            self.untear()


def _run_op(flash: NorFlash, op: RecordedOp, mode: CutMode, seed: int) -> None:
    """Perform ``op`` on ``flash`` exactly as the board did; with a cut mode other than AFTER, torn/skipped."""
    if mode is CutMode.BEFORE:
        return
    flash.op_count = op.count  # a torn operation seeds its damage with the device's operation number
    if mode is CutMode.TORN:
        flash.arm(FaultPlan(0, CutMode.TORN, seed))
    try:
        if op.kind.startswith("erase"):
            flash.erase(op.address, op.kind.partition(":")[2])
        else:
            flash.program(op.address, op.data)
    except PowerCut:
        pass
    finally:
        flash.arm(None)


def judge_state(rig: UpdateRig, state: State) -> tuple[Judgement, VirtualBoard]:
    """Load ``state`` into a fresh board (RAM lost), power it up twice and judge what it does."""
    return judge_params(rig.params, state)


def judge_params(params: Params, state: State) -> tuple[Judgement, VirtualBoard]:
    """:func:`judge_state` for boards made to the recipe of ``params``."""
    board = blank_board(params)
    board.internal.data[:] = state[0]
    board.external.data[:] = state[1]
    runs = settle(board)
    return judge(board, runs, OLD, NEW), board


def judge_cached(
    params: Params,
    memo: VerdictMemo | None,
    fill: Callable[[VirtualBoard], None],
    views: list[list[bytes]] | None,
) -> Judgement:
    """The verdict of the flash state ``fill`` writes into a fresh board made to ``params``.

    With ``memo`` (and ``views``, the state's block digests) a verdict stored for a state that agrees on
    every block a judgement read is reused; otherwise the board is judged with the short settling and the
    verdict stored on the blocks it read. Without a memo it is judged in full.
    """
    if memo is not None and views is not None:
        found = memo.lookup(views)
        if found is not None:
            return found  # type: ignore[return-value]
    board = blank_board(params)
    fill(board)
    if memo is None or views is None:
        return judge(board, settle(board), OLD, NEW)
    watched = [ReadSet(board.internal).watch(), ReadSet(board.external).watch()]
    try:
        judgement = judge(board, settle(board, shortcut=True), OLD, NEW)
    finally:
        for w in watched:
            w.release()
    memo.store((watched[0].blocks(), watched[1].blocks()), views, judgement)
    return judgement


# ------------------------------------------------------------------------------------------ sweeping

#: A sweep is cut into ranges of this many operations at least (and at most :data:`MAX_TASKS` ranges), the
#: same for any number of workers, so ``--shard`` and ``--jobs`` never change which cases exist.
MIN_TASK_OPS = 8
MAX_TASKS = 256
#: The order of a case's cut modes in results: the order in which those flash states exist in time.
MODE_ORDER = {CutMode.BEFORE: 0, CutMode.TORN: 1, CutMode.AFTER: 2}


@dataclass(frozen=True)
class SweepPlan:
    """Everything a worker needs to judge any range of a sweep (sent once to each worker)."""

    params: Params
    start: dict[str, Snapshot]
    reset: dict[str, Snapshot]
    reset_at: int
    ops: tuple[RecordedOp, ...]
    modes: tuple[CutMode, ...]
    stride: int
    seed: int
    fast: bool = True  # verdict cache and shortened judging (False: judge every state in full)

    def chosen(self, k: int) -> bool:
        return k % self.stride == 0 or k == len(self.ops) - 1

    def cases(self, lo: int = 0, hi: int | None = None) -> int:
        """How many cases the operations ``lo..hi-1`` give."""
        hi = len(self.ops) if hi is None else hi
        return sum(1 for k in range(lo, hi) if self.chosen(k)) * len(self.modes)


def plan_sweep(
    ref: Reference, modes: Iterable[CutMode] = MODES, *, stride: int = 1, seed: int = DEFAULT_SEED, fast: bool = True
) -> SweepPlan:
    if stride < 1:
        raise CallerError("--stride must be at least 1")
    if seed < 0:
        raise CallerError("--seed must be >= 0")
    modes = tuple(dict.fromkeys(modes))
    if not modes:
        raise CallerError("--modes is empty")
    # The verdict cache learns what a judgement read through NorFlash.read (a native bootloader reports the
    # first touch of each block it maps instead); a native application's sockets are outside the flash, so
    # its judgements are always run in full.
    fast = fast and ref.params.application == MODEL
    return SweepPlan(ref.params, ref.start, ref.reset, ref.reset_at, tuple(ref.ops), modes, stride, seed, fast)


def tasks(n_ops: int) -> list[tuple[int, int]]:
    """The operation ranges ``[lo, hi)`` a sweep of ``n_ops`` operations is cut into (independent of workers)."""
    size = max(MIN_TASK_OPS, -(-n_ops // MAX_TASKS))
    return [(lo, min(lo + size, n_ops)) for lo in range(0, n_ops, size)]


#: On several workers each range is judged in pieces of at least this many operations (at most
#: :data:`PIECES` per range): the judgements cluster (the bootloader's start, the DB entry, v2's confirm
#: step), and a worker left idle at the end waits at most for one piece, not one range. (A double sweep's
#: ranges are not cut: there each piece's messages cost more CPU time than the better balance saved.)
MIN_PIECE_OPS = 8
PIECES = 4


def pieces(spans: Sequence[tuple[int, int]], workers: int, min_ops: int = MIN_PIECE_OPS) -> list[tuple[int, int]]:
    """``spans`` cut for ``workers`` workers: as they are for one, else each in up to :data:`PIECES` pieces of at
    least ``min_ops`` operations. The pieces of a range are consecutive, so a worker's cursor still moves
    forward, and the cases are those of the ranges."""
    if workers <= 1:
        return list(spans)
    out: list[tuple[int, int]] = []
    for lo, hi in spans:
        n = max(1, min(PIECES, (hi - lo) // max(1, min_ops)))
        out.extend((lo + (hi - lo) * i // n, lo + (hi - lo) * (i + 1) // n) for i in range(n))
    return out


def shard_spans(n_ops: int, shard: tuple[int, int] | None = None) -> list[tuple[int, int]]:
    """The ranges shard ``(i, N)`` judges: every N-th range from the i-th (all ranges without a shard)."""
    spans = tasks(n_ops)
    if shard is None:
        return spans
    i, n = shard
    if not 1 <= i <= n:
        raise CallerError(f"shard {i}/{n}: expected 1 <= i <= N")
    return spans[i - 1 :: n]


Case = tuple[int, CutMode, Judgement]  # operation index, cut mode, verdict: what a worker sends back


class SweepWorker:
    """A flash cursor, a verdict cache and the last verdict, kept across the ranges one worker judges.

    With ``plan.fast`` (the default) a state is judged only if no earlier state that agrees with it on
    every block its judgement reads was judged (:class:`~harness.sweeps.memo.VerdictMemo`), and the second
    power-on is skipped when the first wrote nothing (it would repeat the first exactly). Without it,
    every state is judged in full: the reference the tests compare the fast path with.
    """

    def __init__(self, plan: SweepPlan) -> None:
        self.plan = plan
        self.cursor = Cursor(plan.params, plan.start, digests=plan.fast)
        self.memo = VerdictMemo(journal=True) if plan.fast else None  # journalled: shared with other workers
        self._last: tuple[int, Judgement] | None = None  # (cursor position, verdict of that untorn state)

    def seek(self, pos: int) -> None:
        """Move the cursor to 'after operations 0..pos-1' (forward, or from the nearest snapshot)."""
        cursor, plan = self.cursor, self.plan
        if pos < cursor.pos:
            cursor.rewind(plan.start, 0)
        if pos >= plan.reset_at > cursor.pos:
            cursor.rewind(plan.reset, plan.reset_at)  # RAM is lost at the reset: flash is the whole state
        for op in plan.ops[cursor.pos : pos]:
            cursor.apply(op)

    def judge(self, views: list[list[bytes]] | None = None) -> Judgement:
        """The verdict of the cursor's state (``views``: its block digests, if not the cursor's own)."""
        if self.memo is not None and views is None:
            views = self.cursor.views()
        return judge_cached(self.plan.params, self.memo, self.cursor.fill, views)

    def untorn(self) -> Judgement:
        """The verdict of the cursor's own state ('after k-1' is 'before k': judged once)."""
        pos = self.cursor.pos
        if self._last is None or self._last[0] != pos:
            self._last = (pos, self.judge())
        return self._last[1]

    def run(self, span: tuple[int, int]) -> list[Case]:
        lo, hi = span
        plan = self.plan
        self.seek(lo)
        out: list[Case] = []
        for op in plan.ops[lo:hi]:
            k = op.index
            chosen = plan.chosen(k)
            if chosen:
                if CutMode.BEFORE in plan.modes:
                    out.append((k, CutMode.BEFORE, self.untorn()))
                if CutMode.TORN in plan.modes:
                    views = self.cursor.tear(op, plan.seed)
                    try:
                        out.append((k, CutMode.TORN, self.judge(views)))
                    finally:
                        self.cursor.untear()
            self.cursor.apply(op)
            if chosen and CutMode.AFTER in plan.modes:
                out.append((k, CutMode.AFTER, self.untorn()))
        return out


def sweep_work(
    plan: SweepPlan, spans: Sequence[tuple[int, int]] | None = None
) -> Work[SweepPlan, SweepWorker, tuple[int, int], list[Case]]:
    """The sweep as executor work: one task per operation range; the workers share the verdicts they learn."""
    spans = tasks(len(plan.ops)) if spans is None else list(spans)
    return Work(SweepWorker, SweepWorker.run, plan, spans, learnt=learnt, learn=learn)


def run_sweep(
    plan: SweepPlan,
    executor: Executor | None = None,
    *,
    spans: Sequence[tuple[int, int]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[CaseResult]:
    """Judge every case of ``plan`` (or of ``spans`` only) on ``executor``; results in operation order."""
    executor = executor or InProcess()
    work = sweep_work(plan, pieces(tasks(len(plan.ops)) if spans is None else spans, executor.workers))
    found: list[Case] = []
    for _, cases in executor.run(work):
        found.extend(cases)
        if progress is not None:
            progress(len(cases))
    found.sort(key=lambda c: (c[0], MODE_ORDER[c[1]]))
    ops = plan.ops
    return [
        CaseResult(FaultId(plan.params, ops[k].short_device, k, mode, plan.seed), ops[k].info(), j)
        for k, mode, j in found
    ]


def sweep(
    rig: UpdateRig,
    ref: Reference,
    modes: Iterable[CutMode] = MODES,
    *,
    stride: int = 1,
    seed: int = DEFAULT_SEED,
    executor: Executor | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[CaseResult]:
    """Judge a cut at every ``stride``-th operation of the update (and the last), in each mode."""
    return run_sweep(plan_sweep(ref, modes, stride=stride, seed=seed), executor, progress=progress)


def synthesize(rig: UpdateRig, ref: Reference, fault: FaultId) -> State:
    """The flash state a cut at ``fault`` leaves, rebuilt from the recorded operations (what :func:`sweep` judges)."""
    op = fault_op(ref, fault)
    cursor = Cursor(ref.params, ref.start)
    for earlier in ref.ops[: op.index]:
        cursor.apply(earlier)
    if fault.mode is CutMode.TORN:
        return cursor.torn(op, fault.seed)
    if fault.mode is CutMode.AFTER:
        cursor.apply(op)
    return cursor.state()


def fault_op(ref: Reference, fault: FaultId) -> RecordedOp:
    """The recorded operation a cut at ``fault`` hits, after checking that ``fault`` belongs to ``ref``.

    Args:
        ref: the recorded reference update.
        fault: a fault id of the same scenario.

    Returns:
        ``ref.ops[fault.op]``.

    Raises:
        CallerError: ``fault`` was made for another scenario, names an operation the update does not
            have, or names the other flash than the operation is on.
    """
    if fault.params != ref.params:
        raise CallerError(f"fault id {fault} was made for {fault.params.scenario}, not {ref.params.scenario}")
    if not 0 <= fault.op < len(ref.ops):
        raise CallerError(f"fault id {fault}: the update has operations 0..{len(ref.ops) - 1}")
    op = ref.ops[fault.op]
    if op.short_device != fault.device:
        raise CallerError(f"fault id {fault}: operation {fault.op} is on {op.device} flash ({op.short_device}@)")
    return op


@dataclass
class Replayed:
    case: CaseResult
    state: State  # the flash contents the real cut left
    cut_transcript: str  # what the board printed from power-on until the cut
    settle_transcript: str  # what it printed after power came back


def replay(rig: UpdateRig, ref: Reference, fault: FaultId) -> Replayed:
    """Re-run the update from its snapshot with ``fault`` armed as a real FaultPlan, then judge."""
    op = fault_op(ref, fault)
    after_reset = fault.op >= ref.reset_at
    snaps = ref.reset if after_reset else ref.start
    board = rig.restored(snaps)
    board.set_network(not after_reset)
    board.arm_cut(op.device, FaultPlan(op.count - snaps[op.device].op_count, fault.mode, fault.seed))
    board.power_on()
    board.run_until(lambda: board.last_cut is not None, UPDATE_BUDGET_S)
    cut = board.last_cut
    if cut is None or cut.op_index != op.count:
        raise board_failed(f"replay of {fault} did not cut at {op.label()} as the recording did (cut: {cut})", board)
    state = (bytes(board.internal.data), bytes(board.external.data))
    judgement, after = judge_state(rig, state)
    return Replayed(CaseResult(fault, op.info(), judgement), state, board.text, after.text)
