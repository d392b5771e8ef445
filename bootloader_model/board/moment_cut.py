"""Power lost at a moment: a chosen delay after the console shows a pattern, in board time.

A real board cannot be cut at flash operation k, only at a moment ("300 ms after SYS_OTA_DOWNLOAD_START").
:class:`MomentCut` gives the virtual board the same kind of cut and says which flash operation that
moment hits, so a timed sweep on a real board can be set beside the exact sweep on the model.

Board time here includes the flash busy time the board has not yet charged to its clock (the bootloader
runs in one piece and its erase and program time is charged when it ends), so a moment inside the
bootloader's programming window lands on the operation that was under way then. A moment inside an
operation tears that operation (its damage seeded as a ``torn`` fault plan's); a moment between operations
cuts before the next one; a moment in which no flash is busy cuts at that moment.

The board (:class:`~bootloader_model.board.virtual_board.VirtualBoard`) calls :meth:`MomentCut.printed`
for each console write and :meth:`MomentCut.before_operation` before each flash operation, and turns the
:class:`~bootloader_model.errors.PowerCut` this module raises into a power-off. It does not choose
patterns or delays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bootloader_model.errors import CallerError, PowerCut
from bootloader_model.storage.nor_flash import CutMode, FaultPlan, NorFlash


@dataclass(frozen=True)
class MomentHit:
    """Where a moment cut landed."""

    at: float  # the cut moment (board seconds)
    pattern_at: float  # when the console showed the pattern
    mode: str  # "torn": inside an operation; "before": between operations (before ``device``'s next one)
    device: str | None  # the flash of the operation torn or not begun; None: no operation followed
    op_counts: tuple[int, int]  # operations completed on internal and external flash at the cut
    kind: str = ""  # that operation's kind ("erase:page", "program"), "" when none
    address: int | None = None

    def describe(self) -> str:
        """Where the cut fell, e.g. ``during internal erase:page at 0x10021000``."""
        where = f"{self.device} {self.kind} at 0x{self.address:08X}" if self.device and self.address is not None else ""
        if self.mode == "torn":
            return f"during {where}"
        return f"before {where}" if where else "with no flash busy"


def compile_pattern(pattern: str | bytes | re.Pattern[bytes]) -> re.Pattern[bytes]:
    """A literal text or bytes, or a compiled bytes regular expression."""
    if isinstance(pattern, re.Pattern):
        return pattern
    raw = pattern.encode() if isinstance(pattern, str) else pattern
    if not raw:
        raise CallerError("the pattern to cut after is empty")
    return re.compile(re.escape(raw))


class MomentCut:
    """Cut power ``delay_s`` board seconds after ``pattern`` is printed (from byte ``search_from`` on, counted
    over everything the board ever printed)."""

    def __init__(self, pattern: re.Pattern[bytes], delay_s: float, *, search_from: int, seed: int = 0) -> None:
        if not 0 <= delay_s < 1e6:
            raise CallerError(f"cut delay must be >= 0 seconds, got {delay_s:g}")
        self.pattern = pattern
        self.delay_s = delay_s
        self.seed = seed
        self.search_from = search_from
        self.pattern_at: float | None = None
        self.at: float | None = None  # the cut moment, once the pattern has been printed
        self.hit: MomentHit | None = None

    @property
    def pending(self) -> bool:
        return self.at is not None and self.hit is None

    def printed(self, transcript: bytes | bytearray, total: int, moment: float) -> bool:
        """After a console write at ``moment``: True if the pattern has just completed (the cut is now timed).

        ``transcript`` holds the last bytes printed, ``total`` counts every byte ever printed (the board keeps
        a bounded window); :attr:`search_from` is an offset in that total.
        """
        if self.at is not None:
            return False
        base = total - len(transcript)
        m = self.pattern.search(transcript, max(0, self.search_from - base))
        if m is None:
            # Keep a tail so a pattern split across writes is still found.
            self.search_from = max(self.search_from, total - 256)
            return False
        self.pattern_at = moment
        self.at = moment + self.delay_s
        return True

    def before_operation(
        self, flash: NorFlash, device: str, kind: str, address: int, start: float, op_counts: tuple[int, int]
    ) -> None:
        """Before a flash operation that starts at board moment ``start``: cut now, tear it, or let it run."""
        if not self.pending:
            return
        assert self.at is not None and self.pattern_at is not None
        if start >= self.at:
            self.hit = MomentHit(self.at, self.pattern_at, "before", device, op_counts, kind, address)
            raise PowerCut(f"moment@{self.at:.6f}", flash.op_count)
        if start + _duration(flash, kind) > self.at:
            self.hit = MomentHit(self.at, self.pattern_at, "torn", device, op_counts, kind, address)
            flash.arm(FaultPlan(0, CutMode.TORN, self.seed))  # this operation is the one the plan tears

    def reached(self, op_counts: tuple[int, int], op_index: int) -> None:
        """The clock reached the moment with no flash operation under way: cut now."""
        if not self.pending:
            return
        assert self.at is not None and self.pattern_at is not None
        self.hit = MomentHit(self.at, self.pattern_at, "before", None, op_counts)
        raise PowerCut(f"moment@{self.at:.6f}", op_index)


def _duration(flash: NorFlash, kind: str) -> float:
    timing = flash.geometry.timing
    if not flash.timed or timing is None:
        return 0.0
    if kind.startswith("erase"):
        return timing.erase_s.get(kind.partition(":")[2], 0.0)
    return timing.program_s
