"""Differential runs: the Python bootloader model and a native build, booted from the same flash states.

A :class:`Case` is a starting flash state (both arrays) with a name. :func:`compare_case` powers it up
twice -- once with :class:`~bootloader_model.bootloader.program.ModelProgram`, once with the
:class:`~harness.native.bootloader_program.NativeProgram` -- booting until a jump or a loop for ever and
following software resets as the board does, and compares what each printed, how each run ended (and the
jump address), and every byte of both flashes afterwards. A :class:`Divergence` says which of those
differ, with the console lines side by side and the differing flash ranges, like a test failure.

Where the states come from:

* :func:`scenario_cases` -- every bootloader run of the scenario library on model boards (each state
  the board held when the bootloader started);
* :func:`sweep_cases` -- every state a power cut leaves in the whole-update sweep
  (:mod:`harness.sweeps.update`), identical states once.

The model gets the native build's banner date and variant, so the banners agree by construction. This
module decides nothing about which side is right: a divergence is a fact to read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from bootloader_model.board.virtual_board import MAX_RESETS_PER_STEP, VirtualBoard
from bootloader_model.bootloader.program import BootProgram, ModelProgram
from bootloader_model.bootloader.result import BootResult, Outcome
from bootloader_model.quirks import HARMONY, QuirkProfile
from bootloader_model.storage.external_flash import SIZES
from bootloader_model.storage.nor_flash import PIC32MZ1025W104132, CutMode, NorFlash
from harness.native.bootloader_program import NativeProgram
from harness.sweeps.fault_ids import DEFAULT_SEED, FaultId, Params
from harness.sweeps.update import MODES, Cursor, UpdateRig, record

D = TypeVar("D")  # a divergence of either comparison

#: Differing byte ranges listed per flash before "... and N more".
MAX_RANGES = 8


@dataclass(frozen=True)
class Case:
    name: str
    internal: bytes
    external: bytes


@dataclass
class PowerUp:
    """What one implementation did from one state: its boots and the flash afterwards."""

    boots: list[BootResult]
    internal: bytes
    external: bytes
    cut: str | None = None  # never set by compare (no fault plan), kept for completeness

    @property
    def console(self) -> bytes:
        return b"".join(b.console for b in self.boots)

    def ending(self) -> str:
        parts = []
        for b in self.boots:
            if b.outcome is Outcome.JUMP:
                parts.append(f"jump 0x{b.jump_addr or 0:08X}")
            elif b.outcome is Outcome.RESET:
                parts.append("reset")
            else:
                parts.append("stuck")
        return ", ".join(parts) or "no boot"

    def stuck_reason(self) -> str:
        last = self.boots[-1] if self.boots else None
        return last.stuck_reason or "" if last is not None and last.outcome is Outcome.STUCK else ""


@dataclass
class Divergence:
    case: str
    aspects: list[str]  # "console", "outcome", "internal flash", "external flash"
    model: PowerUp
    native: PowerUp
    ranges: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def report(self, max_lines: int = 40) -> str:
        out = [f"DIVERGENCE {self.case}: {', '.join(self.aspects)} differ"]
        out.append(f"  ended: model {self.model.ending()} | native {self.native.ending()}")
        for side, run in (("model", self.model), ("native", self.native)):
            if run.stuck_reason():
                out.append(f"  {side} stuck: {run.stuck_reason()}")
        if "console" in self.aspects:
            out.append("  console (model | native):")
            out += side_by_side(self.model.console, self.native.console, max_lines)
        for device, ranges in self.ranges.items():
            shown = ", ".join(f"0x{a:08X}..0x{b - 1:08X} ({b - a} B)" for a, b in ranges[:MAX_RANGES])
            more = f" ... and {len(ranges) - MAX_RANGES} more" if len(ranges) > MAX_RANGES else ""
            out.append(f"  {device} flash differs at {shown}{more}")
        return "\n".join(out)


def side_by_side(left: bytes, right: bytes, max_lines: int = 40, width: int = 52) -> list[str]:
    """Console lines of both runs next to each other, differing lines marked with '!'."""
    a = left.decode("latin-1").replace("\r", "").split("\n")
    b = right.decode("latin-1").replace("\r", "").split("\n")
    rows = []
    first_diff = next((i for i in range(max(len(a), len(b))) if a[i : i + 1] != b[i : i + 1]), 0)
    start = max(0, first_diff - 3)
    for i in range(start, max(len(a), len(b))):
        la = a[i] if i < len(a) else "<end>"
        lb = b[i] if i < len(b) else "<end>"
        mark = " " if la == lb else "!"
        rows.append(f"   {mark} {la[:width]:<{width}} | {lb[:width]}")
        if len(rows) >= max_lines:
            rows.append(f"     ... {max(len(a), len(b)) - i - 1} more lines")
            break
    return rows


def differing_ranges(a: bytes, b: bytes, base: int = 0) -> list[tuple[int, int]]:
    """``[start, end)`` address ranges where ``a`` and ``b`` differ (compared 256 bytes at a time)."""
    ranges: list[tuple[int, int]] = []
    if a == b:
        return ranges
    n = len(a)
    chunk = 256
    i = 0
    while i < n:
        if a[i : i + chunk] == b[i : i + chunk]:
            i += chunk
            continue
        j = i
        end = min(i + chunk, n)
        while j < end and a[j] == b[j]:
            j += 1
        k = end
        while k > j and a[k - 1] == b[k - 1]:
            k -= 1
        if ranges and ranges[-1][1] >= base + j - 16:
            ranges[-1] = (ranges[-1][0], base + k)
        else:
            ranges.append((base + j, base + k))
        i = end
    return ranges


def power_up(program: BootProgram, internal: bytes, external: bytes) -> PowerUp:
    """Boot ``program`` from the given flash contents until a jump or a loop, following software resets."""
    geometry = next(g for g in SIZES.values() if g.size == len(external))
    int_flash = NorFlash(PIC32MZ1025W104132, strict=False, keep_log=False)
    ext_flash = NorFlash(geometry, strict=False, keep_log=False)
    int_flash.data[:] = internal
    ext_flash.data[:] = external
    boots: list[BootResult] = []
    for _ in range(MAX_RESETS_PER_STEP):
        result = program.boot(int_flash, ext_flash, lambda data: None)
        boots.append(result)
        if result.outcome is not Outcome.RESET:
            break
    return PowerUp(boots, bytes(int_flash.data), bytes(ext_flash.data))


def _console_key(run: PowerUp) -> bytes:
    """The console, with a stuck run's trailing repeats of one line counted once.

    A loop for ever prints its line without end; the model stops after three passes, the native runner
    after three turns of the cycle it detected, which can include one more pass. How many of the endless
    repeats were shown is not a difference between the two bootloaders.
    """
    text = run.console
    if not run.boots or run.boots[-1].outcome is not Outcome.STUCK:
        return text
    lines = text.split(b"\n")
    tail = lines[-1]
    body = lines[:-1]
    while len(body) >= 2 and body[-1] == body[-2]:
        body.pop()
    return b"\n".join([*body, tail])


def compare_case(case: Case, model: BootProgram, native: BootProgram) -> Divergence | None:
    a = power_up(model, case.internal, case.external)
    b = power_up(native, case.internal, case.external)
    aspects = []
    if _console_key(a) != _console_key(b):
        aspects.append("console")
    if a.ending() != b.ending():
        aspects.append("outcome")
    ranges = {}
    if a.internal != b.internal:
        aspects.append("internal flash")
        ranges["internal"] = differing_ranges(a.internal, b.internal, PIC32MZ1025W104132.base)
    if a.external != b.external:
        aspects.append("external flash")
        ranges["external"] = differing_ranges(a.external, b.external)
    return Divergence(case.name, aspects, a, b, ranges) if aspects else None


def model_for(native: NativeProgram, profile: QuirkProfile = HARMONY) -> ModelProgram:
    """The Python model set up like the native build: same banner date and variant."""
    return ModelProgram(profile, native.build.build_stamp, native.build.variant)


# ------------------------------------------------------------------------------------------- cases
class _Recorder:
    """A BootProgram wrapper that keeps the flash state at the start of every boot."""

    def __init__(self, inner: BootProgram, sink: Callable[[bytes, bytes], None]) -> None:
        self.inner, self.sink, self.label = inner, sink, inner.label

    def boot(self, internal: NorFlash, external: NorFlash, console: Callable[[bytes], None]) -> BootResult:
        self.sink(bytes(internal.data), bytes(external.data))
        return self.inner.boot(internal, external, console)


def scenario_cases(names: Iterable[str] | None = None, profile: QuirkProfile = HARMONY) -> list[Case]:
    """The state at the start of every bootloader run of the scenario library (model boards, in-process)."""
    from harness.scenarios.runner import run_suite, select, virtual_provider

    cases: list[Case] = []
    seen: set[bytes] = set()
    current = [""]

    def sink(internal: bytes, external: bytes) -> None:
        key = hashlib.sha256(internal + external).digest()
        if key in seen:
            return
        seen.add(key)
        n = sum(1 for c in cases if c.name.startswith(current[0] + "#"))
        cases.append(Case(f"{current[0]}#boot{n + 1}", internal, external))

    def hook(board: VirtualBoard) -> None:
        board.bootloader = _Recorder(board.bootloader, sink)

    scenarios = select(names)
    provider = virtual_provider(link="inproc", profile=profile, on_board=hook)
    for sc in scenarios:
        current[0] = f"scenario:{sc.name}"
        run_suite([sc], provider)
    return cases


def sweep_cases(
    params: Params | None = None,
    modes: Iterable[CutMode] = MODES,
    *,
    stride: int = 1,
    seed: int = DEFAULT_SEED,
) -> Iterator[Case]:
    """Every distinct flash state a cut leaves in the whole-update sweep, named by its first fault id."""
    from harness.image.server import ImageServer

    params = params or Params()
    modes = tuple(dict.fromkeys(modes))
    server = ImageServer().start()
    try:
        rig = UpdateRig(params, server)
        ref = record(rig)
    finally:
        server.stop()
    cursor = Cursor(params, ref.start)
    seen: set[bytes] = set()
    last = len(ref.ops) - 1

    def case(fault: FaultId, state: tuple[bytes, bytes]) -> Case | None:
        key = hashlib.sha256(state[0] + state[1]).digest()
        if key in seen:
            return None
        seen.add(key)
        return Case(str(fault), state[0], state[1])

    for op in ref.ops:
        k = op.index
        chosen = k % stride == 0 or k == last
        if chosen:
            for mode in modes:
                fault = FaultId(params, op.short_device, k, mode, seed)
                c = None
                if mode is CutMode.BEFORE:
                    c = case(fault, cursor.state())
                elif mode is CutMode.TORN:
                    c = case(fault, cursor.torn(op, seed))
                if c is not None:
                    yield c
        cursor.apply(op)
        if chosen and CutMode.AFTER in modes:
            c = case(FaultId(params, op.short_device, k, CutMode.AFTER, seed), cursor.state())
            if c is not None:
                yield c


def run_compare(
    cases: Iterable[Case],
    native: NativeProgram,
    model: BootProgram | None = None,
    progress: Callable[[int, Divergence | None], None] | None = None,
) -> tuple[int, list[Divergence]]:
    """Compare every case; returns (cases compared, divergences)."""
    judge = model or model_for(native)
    return tally((compare_case(case, judge, native) for case in cases), progress)


def tally(verdicts: Iterable[D | None], progress: Callable[[int, D | None], None] | None = None) -> tuple[int, list[D]]:
    """Count ``verdicts`` (a divergence, or None where two runs agreed) as they come, telling ``progress``
    of each; returns (how many, the divergences)."""
    count = 0
    found: list[D] = []
    for d in verdicts:
        count += 1
        if d is not None:
            found.append(d)
        if progress:
            progress(count, d)
    return count, found
