"""Emulated NOR flash: the one storage primitive every other part of the virtual board stands on.

A :class:`NorFlash` owns a ``bytearray`` and obeys NOR rules:

* an erase sets a whole erase unit to the erased value (0xFF);
* a program can only clear bits: the cell keeps ``old AND data``. In *strict* mode (the default in tests)
  a request that would need a 0 -> 1 transition raises :class:`FlashProgramError`, so firmware models that
  forget an erase are caught; *lenient* mode does what silicon does and silently ANDs;
* every erase and every program is one counted operation, logged as ``(kind, address, length)``. A
  :class:`FaultPlan` cuts power at operation *k* -- before it, after it, or tearing it -- and raises
  :class:`PowerCut`.

It also keeps per-unit erase counts (wear), an optional timing model, and cheap snapshots for sweeps.

What it does not do: interpret the bytes (file systems, boot control and images live elsewhere), model
read disturb or data retention, or model the SST26's 8/32 KiB parameter blocks (its 64 KiB block erase is
modelled as uniform, see :data:`SST26VF032B`).
"""

from __future__ import annotations

import functools
import os
import random
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from bootloader_model.errors import CallerError, FlashAddressError, FlashProgramError, PowerCut

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Timing:
    """Per-operation durations in seconds, with where each number comes from."""

    erase_s: dict[str, float]
    program_s: float
    source: str


@dataclass(frozen=True)
class Geometry:
    """What a flash part looks like to the software that drives it.

    ``erase_units`` maps an erase kind to its size in bytes (``"chip"`` spans the device).
    ``program_sizes`` lists the accepted program lengths; each must be aligned to its own length
    (PIC32 NVM double-word, quad double-word and row). ``page_wrap`` instead describes an SPI NOR page
    program: any length up to the page, starting anywhere, wrapping inside its page.
    """

    name: str
    size: int
    base: int
    erase_units: dict[str, int]
    program_sizes: tuple[int, ...] = ()
    page_wrap: int = 0
    erased_value: int = 0xFF
    jedec_id: bytes = b""
    timing: Timing | None = None

    @property
    def min_erase(self) -> int:
        """Size of the smallest erase unit, the granularity of wear counting."""
        return min(self.erase_units.values())

    def smallest_erase_kind(self) -> str:
        return min(self.erase_units, key=self.erase_units.__getitem__)


#: PIC32MZ1025W104132 (WFI32E01) program flash. Page erase and row program per the NVM plib (NVMOP 4 and
#: 3), double-word and quad double-word per NVMOP 1 and 2. Timing: the PIC32MZ W1 datasheet values were not
#: found (spec section 8, [X]); the numbers below are ASSUMPTIONS of the same order as PIC32MZ EF parts
#: (page erase 20 ms, row program 1.5 ms), to be replaced by measurements.
PIC32MZ1025W104132 = Geometry(
    name="PIC32MZ1025W104132",
    size=1 * MIB,
    base=0x1000_0000,
    erase_units={"page": 4 * KIB, "chip": 1 * MIB},
    program_sizes=(8, 32, 1 * KIB),
    timing=Timing(
        erase_s={"page": 0.020, "chip": 0.020},
        program_s=0.0015,
        source="assumption: PIC32MZ W1 flash timings not found in the datasheet corpus (spec section 8)",
    ),
)

_SST26_TIMING = Timing(
    # Sector/block erase 18 ms typical, chip erase 35 ms typical: SST26VF032B datasheet (spec section 8).
    # Page program 1.5 ms is the commonly quoted maximum and is an ASSUMPTION (spec marks TPP as [X]).
    erase_s={"sector": 0.018, "block": 0.018, "chip": 0.035},
    program_s=0.0015,
    source="SST26VF032B datasheet: erase 18 ms typ, chip erase 35 ms typ; page program 1.5 ms assumed",
)

#: SST26VF032B, the 4 MiB serial flash on the WFI32E Curiosity board (JEDEC BF 26 42).
SST26VF032B = Geometry(
    name="SST26VF032B",
    size=4 * MIB,
    base=0,
    erase_units={"sector": 4 * KIB, "block": 64 * KIB, "chip": 4 * MIB},
    page_wrap=256,
    jedec_id=bytes((0xBF, 0x26, 0x42)),
    timing=_SST26_TIMING,
)

#: SST26VF064B, the 8 MiB variant found on some boards (JEDEC BF 26 43).
SST26VF064B = Geometry(
    name="SST26VF064B",
    size=8 * MIB,
    base=0,
    erase_units={"sector": 4 * KIB, "block": 64 * KIB, "chip": 8 * MIB},
    page_wrap=256,
    jedec_id=bytes((0xBF, 0x26, 0x43)),
    timing=_SST26_TIMING,
)

GEOMETRIES = {g.name: g for g in (PIC32MZ1025W104132, SST26VF032B, SST26VF064B)}


class CutMode(str, Enum):
    """Where, relative to the planned operation, power is lost."""

    BEFORE = "before"  # the operation never happens
    AFTER = "after"  # the operation completes, then power is lost
    TORN = "torn"  # the operation is interrupted half way


class OpRecord(NamedTuple):
    """One logged flash operation."""

    kind: str  # "erase:<unit>" or "program"
    address: int
    length: int


_FAULT_ID = re.compile(r"^(?:(?P<dev>[A-Za-z0-9_]+)@)?op(?P<op>\d+):(?P<mode>before|after|torn)(?::s(?P<seed>\d+))?$")


@dataclass(frozen=True)
class FaultPlan:
    """Cut power at operation ``op_index`` (0-based, counted from when the plan is armed).

    ``fault_id`` is a short, stable text (``"op17:torn:s3"``, optionally prefixed ``"ext@"`` by callers
    that drive several flashes) that :meth:`parse` turns back into the same plan, so any failure a sweep
    finds can be replayed exactly.
    """

    op_index: int
    mode: CutMode = CutMode.BEFORE
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.op_index, int) or isinstance(self.op_index, bool):
            raise CallerError(f"fault plan op index must be a whole number, got {self.op_index!r}")
        if self.op_index < 0:
            raise CallerError(f"fault plan op index must be >= 0, got {self.op_index}")
        try:
            object.__setattr__(self, "mode", CutMode(self.mode))
        except ValueError:
            raise CallerError(f"fault plan mode must be before, after or torn, got {self.mode!r}") from None

    @property
    def fault_id(self) -> str:
        tail = f":s{self.seed}" if self.mode is CutMode.TORN else ""
        return f"op{self.op_index}:{self.mode.value}{tail}"

    @classmethod
    def parse(cls, fault_id: str) -> FaultPlan:
        """Parse ``op<k>:<before|after|torn>[:s<seed>]``, ignoring a ``<device>@`` prefix."""
        m = _FAULT_ID.match(fault_id.strip())
        if not m:
            raise CallerError(
                f"bad fault id {fault_id!r}: expected op<k>:<before|after|torn>[:s<seed>], e.g. op12:torn:s3"
            )
        return cls(int(m["op"]), CutMode(m["mode"]), int(m["seed"] or 0))


@functools.cache
def _erased_unit(value: int, size: int) -> bytes:
    """An erased unit's bytes, shared by every flash object (a chip-sized one is megabytes: sweeps build
    thousands of boards)."""
    return bytes([value]) * size


@dataclass
class Snapshot:
    """A saved flash state (contents, counters, log length); see :meth:`NorFlash.snapshot`."""

    data: bytes
    op_count: int
    wear: list[int]
    log_len: int
    busy_s: float


@dataclass
class NorFlash:
    """A NOR flash array with counted, loggable, interruptible operations.

    Addresses are absolute: they include ``geometry.base`` (0x1000_0000 for PIC32 program flash).
    """

    geometry: Geometry
    strict: bool = True
    timed: bool = False
    keep_log: bool = True
    data: bytearray = field(init=False, repr=False)
    op_count: int = field(init=False, default=0)
    log: list[OpRecord] = field(init=False, default_factory=list, repr=False)
    wear: list[int] = field(init=False, repr=False)
    busy_s: float = field(init=False, default=0.0)
    _plan: FaultPlan | None = field(init=False, default=None, repr=False)
    _plan_base: int = field(init=False, default=0, repr=False)
    #: Called as ``observer(flash, kind, address, data)`` before each counted operation (``data`` is empty for
    #: an erase; ``kind`` is ``"erase:<unit>"`` or ``"program"``), so sweeps can record the exact operation
    #: stream of a whole board without subclassing the flash the board built.
    observer: Callable[[NorFlash, str, int, bytes], None] | None = field(init=False, default=None, repr=False)
    #: Called as ``read_observer(address, length)`` on each :meth:`read`, so a sweep can learn which bytes a
    #: run depended on (and reuse its verdict for any state that agrees on them).
    read_observer: Callable[[int, int], None] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        g = self.geometry
        self.data = bytearray([g.erased_value]) * g.size
        self.wear = [0] * (g.size // g.min_erase)
        self._erased = {size: _erased_unit(g.erased_value, size) for size in g.erase_units.values()}

    # ----------------------------------------------------------------------------------------- helpers
    def _offset(self, address: int, length: int) -> int:
        g = self.geometry
        off = address - g.base
        if length < 0 or off < 0 or off + length > g.size:
            raise FlashAddressError(
                f"{g.name}: range 0x{address:08X}+{length} is outside 0x{g.base:08X}..0x{g.base + g.size - 1:08X}"
            )
        return off

    def arm(self, plan: FaultPlan | None) -> None:
        """Arm (or with ``None`` disarm) a fault plan; its op index counts from now."""
        if plan is not None and not isinstance(plan, FaultPlan):
            raise CallerError(f"arm takes a FaultPlan or None, not {plan!r}")
        self._plan = plan
        self._plan_base = self.op_count

    @property
    def plan(self) -> FaultPlan | None:
        return self._plan

    def _begin(self, kind: str, address: int, length: int) -> FaultPlan | None:
        """Count one operation; return the armed plan if power is lost at this one."""
        index = self.op_count
        self.op_count = index + 1
        if self.keep_log:
            self.log.append(OpRecord(kind, address, length))
        plan = self._plan
        if plan is not None and index - self._plan_base == plan.op_index:
            self._plan = None
            return plan
        return None

    def _rng(self, seed: int, index: int) -> random.Random:
        return random.Random((seed << 32) ^ index ^ 0x5EED)

    # --------------------------------------------------------------------------------------- operations
    def read(self, address: int, length: int) -> bytes:
        """Read bytes; reads are not counted and never cut."""
        off = self._offset(address, length)
        if self.read_observer is not None:
            self.read_observer(address, length)
        return bytes(self.data[off : off + length])

    def erase(self, address: int, kind: str | None = None) -> None:
        """Erase the unit of ``kind`` (default: the smallest) that starts at ``address``."""
        g = self.geometry
        kind = kind or g.smallest_erase_kind()
        try:
            size = g.erase_units[kind]
        except KeyError:
            raise FlashAddressError(f"{g.name}: no erase unit {kind!r}; it has {sorted(g.erase_units)}") from None
        off = self._offset(address, size)
        if off % size:
            raise FlashAddressError(f"{g.name}: {kind} erase at 0x{address:08X} is not aligned to 0x{size:X}")
        if self.observer is not None:
            self.observer(self, f"erase:{kind}", address, b"")
        hit = self._begin(f"erase:{kind}", address, size)
        if hit is not None and hit.mode is not CutMode.AFTER:
            if hit.mode is CutMode.TORN:
                self._tear_erase(off, size, hit.seed)
            raise PowerCut(hit.fault_id, self.op_count - 1)
        self.data[off : off + size] = self._erased[size]
        unit = g.min_erase
        for i in range(off // unit, (off + size) // unit):
            self.wear[i] += 1
        if self.timed and g.timing:
            self.busy_s += g.timing.erase_s.get(kind, 0.0)
        if hit is not None:
            raise PowerCut(hit.fault_id, self.op_count - 1)

    def _tear_erase(self, off: int, size: int, seed: int) -> None:
        # An interrupted erase leaves cells part way to 1: each byte gains a random subset of its bits,
        # and a seeded RNG makes the damage reproducible from the fault id.
        rng = self._rng(seed, self.op_count - 1)
        noise = rng.randbytes(size)
        before = bytes(self.data[off : off + size])
        torn = bytearray((int.from_bytes(before, "little") | int.from_bytes(noise, "little")).to_bytes(size, "little"))
        if torn == self._erased[size] and before != torn:
            # Keep the unit visibly unfinished: one cell still holds its old value.
            i = next(i for i, b in enumerate(before) if b != 0xFF)
            torn[i] = before[i]
        elif torn == before and before != self._erased[size]:
            i = next(i for i, b in enumerate(before) if b != 0xFF)
            torn[i] = 0xFF
        self.data[off : off + size] = torn

    def program(self, address: int, data: bytes | bytearray | memoryview) -> None:
        """Program ``data`` at ``address`` as one operation (one NVM row/word, or one SPI page program)."""
        g = self.geometry
        n = len(data)
        off = self._offset(address, n)
        if g.page_wrap:
            if not 1 <= n <= g.page_wrap:
                raise FlashAddressError(f"{g.name}: page program of {n} bytes; must be 1..{g.page_wrap}")
        elif n not in g.program_sizes:
            raise FlashAddressError(f"{g.name}: program of {n} bytes; supported sizes are {g.program_sizes}")
        elif off % n:
            raise FlashAddressError(f"{g.name}: {n}-byte program at 0x{address:08X} is not aligned to {n}")
        if self.observer is not None:
            self.observer(self, "program", address, bytes(data))
        hit = self._begin("program", address, n)
        if hit is not None and hit.mode is not CutMode.AFTER:
            if hit.mode is CutMode.TORN:
                # A torn program lands a seeded prefix of the bytes, as if power fell mid-transfer.
                keep = self._rng(hit.seed, self.op_count - 1).randrange(0, n)
                self._store(off, bytes(data[:keep]), check=False)
            raise PowerCut(hit.fault_id, self.op_count - 1)
        self._store(off, data, check=self.strict)
        if self.timed and g.timing:
            self.busy_s += g.timing.program_s
        if hit is not None:
            raise PowerCut(hit.fault_id, self.op_count - 1)

    def _store(self, off: int, data: bytes | bytearray | memoryview, *, check: bool) -> None:
        n = len(data)
        if not n:
            return
        page = self.geometry.page_wrap
        if page and (off % page) + n > page:
            # SPI NOR page program: bytes past the end of the page wrap to its start.
            start = off - off % page
            first = page - off % page
            self._store(off, data[:first], check=check)
            self._store(start, data[first:], check=check)
            return
        cur = self.data[off : off + n]
        if cur.count(0xFF) == n:
            # Fast path: programming erased cells is a plain copy.
            self.data[off : off + n] = data
            return
        old = int.from_bytes(cur, "little")
        new = int.from_bytes(data, "little")
        if check and new & ~old:
            bad = (new & ~old).to_bytes(n, "little")
            first = next(i for i, b in enumerate(bad) if b)
            addr = self.geometry.base + off + first
            raise FlashProgramError(
                f"{self.geometry.name}: program at 0x{addr:08X} would set bits 0->1 "
                f"(cell 0x{cur[first]:02X}, data 0x{data[first]:02X}); erase first"
            )
        self.data[off : off + n] = (old & new).to_bytes(n, "little")

    # ------------------------------------------------------------------------------------- bookkeeping
    def snapshot(self) -> Snapshot:
        """Save contents and counters; cheap enough to take once per sweep step."""
        return Snapshot(bytes(self.data), self.op_count, list(self.wear), len(self.log), self.busy_s)

    def restore(self, snap: Snapshot) -> None:
        """Return to a :meth:`snapshot`; the fault plan is disarmed."""
        self.data[:] = snap.data
        self.op_count = snap.op_count
        self.wear[:] = snap.wear
        del self.log[snap.log_len :]
        self.busy_s = snap.busy_s
        self._plan = None

    def dump(self, path: str | os.PathLike[str]) -> None:
        """Write the whole array to ``path`` as a raw image, atomically (temp file, then rename)."""
        target = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=target.name + ".", dir=target.parent or ".")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, path: str | os.PathLike[str]) -> None:
        """Replace the contents with a raw image of exactly the device size (not counted as an operation)."""
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise CallerError(f"cannot read flash image {path}: {exc.strerror}") from None
        if len(raw) != self.geometry.size:
            raise CallerError(
                f"flash image {path} has {len(raw)} bytes; {self.geometry.name} needs {self.geometry.size}"
            )
        self.data[:] = raw
