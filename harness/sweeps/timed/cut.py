"""Cut a board's power a chosen time after its console shows a pattern, on any bench that can switch power.

"Cut 300 ms after ``SYS_OTA_DOWNLOAD_START``" is what a lab can do to a real board. :func:`cut_after` does it
with whatever the bench has:

* the in-process virtual board, and a board served by ``otaloop board --control`` (through
  :class:`~harness.served_board.power_channel.ChannelPower`): the board cuts itself in board time, exactly, and reports
  the flash operation the moment hit (:class:`~bootloader_model.board.moment_cut.MomentHit`);
* any other power backend (power commands, a labgrid power driver): the host watches the console, waits
  the rest of the delay on its own clock and switches power off. The report says how late the command was
  issued and how long it took, which bounds when the supply actually dropped.

It does not power the board back on or judge what the cut did (:mod:`harness.sweeps.timed.sweep` does).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bootloader_model.board.moment_cut import MomentHit, compile_pattern
from bootloader_model.errors import BoardError, CallerError

if TYPE_CHECKING:
    from harness.scenarios.base import Bench

#: Seconds between two looks at a board that cuts itself.
POLL_S = 0.01


@dataclass(frozen=True)
class CutReport:
    """What one timed cut did."""

    pattern: str
    delay_s: float
    exact: bool  # True: the board cut itself in board time; False: the host switched power on its clock
    hit: MomentHit | None = None  # exact cuts: the flash operation the moment hit
    late_s: float | None = None  # host cuts: how long after the asked moment the power-off command started
    command_s: float | None = None  # host cuts: how long the power-off command took

    def describe(self) -> str:
        if self.hit is not None:
            return self.hit.describe()
        late = f"{(self.late_s or 0.0) * 1000:.1f}"
        took = f"{(self.command_s or 0.0) * 1000:.1f}"
        return f"power-off issued {late} ms late, command took {took} ms"


class ArmedCut:
    """A timed cut armed on a bench: trigger what should happen on the board, then :meth:`wait` for the cut."""

    def __init__(self, bench: Bench, pattern: str, delay_s: float, seed: int) -> None:
        if delay_s < 0:
            raise CallerError(f"cut delay must be >= 0, got {delay_s:g} s")
        compile_pattern(pattern)  # the same check for every backend
        self.bench, self.pattern, self.delay_s = bench, pattern, delay_s
        self._from = len(bench.console.buffer)  # the pattern counts from here
        self._read: Callable[[], MomentHit | None] | None = None
        if bench.virtual is not None:
            virtual = bench.virtual
            virtual.call(lambda b: b.arm_moment_cut(pattern, delay_s, seed=seed))
            self._read = lambda: virtual.call(lambda b: b.moment_hit)
            self._disarm: Callable[[], None] = lambda: virtual.call(lambda b: b.disarm_moment_cut())
            return
        power = bench.power
        if power is None:
            raise CallerError(
                "this bench cannot switch power: give power commands, a labgrid power driver or --control"
            )
        arm = getattr(power, "arm_cut_after", None)
        status = getattr(power, "cut_status", None)
        if arm is not None and status is not None:
            arm(pattern, delay_s, seed)
            self._read = lambda: _parse_hit(status())
        self._disarm = lambda: None

    def wait(self, timeout: float) -> CutReport:
        """Wait (at most ``timeout`` wall seconds) for the pattern and the cut; raise BoardError if none came."""
        bench = self.bench
        if self._read is not None:
            hit = _wait(self._read, timeout, bench)
            if hit is None:
                self._disarm()
                raise _never(self.pattern, timeout, bench)
            return CutReport(self.pattern, self.delay_s, exact=True, hit=hit)
        con = bench.console
        rx = re.compile(re.escape(self.pattern.encode()))
        deadline = time.monotonic() + timeout
        while (m := rx.search(con.buffer, self._from)) is None:
            if time.monotonic() >= deadline:
                raise _never(self.pattern, timeout, bench)
            con.poll()
        con.pos = max(con.pos, m.end())
        arrived = con.arrived_at(m.end() - 1) or time.monotonic()
        target = arrived + self.delay_s
        time.sleep(max(0.0, target - time.monotonic()))
        issued = time.monotonic()
        assert bench.power is not None
        bench.power.off()
        done = time.monotonic()
        return CutReport(
            self.pattern, self.delay_s, exact=False, late_s=max(0.0, issued - target), command_s=done - issued
        )


def arm_cut(bench: Bench, pattern: str, delay_s: float, *, seed: int = 0) -> ArmedCut:
    """Arm a cut ``delay_s`` seconds after the console next shows ``pattern``; see :class:`ArmedCut`.

    Arm before triggering what prints the pattern: a board that cuts itself only sees what comes after.
    Raises :class:`CallerError` if the bench cannot switch power.
    """
    return ArmedCut(bench, pattern, delay_s, seed)


def cut_after(bench: Bench, pattern: str, delay_s: float, *, timeout: float, seed: int = 0) -> CutReport:
    """:func:`arm_cut`, then wait for the cut (for a pattern the board prints on its own)."""
    return arm_cut(bench, pattern, delay_s, seed=seed).wait(timeout)


def _wait(read: Callable[[], MomentHit | None], timeout: float, bench: Bench) -> MomentHit | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hit = read()
        if hit is not None:
            return hit
        bench.console.poll()  # keep reading: the console shows what led up to the cut
    return None


def _parse_hit(answer: str) -> MomentHit | None:
    if answer in ("pending", "none"):
        return None
    try:
        d = json.loads(answer)
        d["op_counts"] = tuple(d["op_counts"])
        return MomentHit(**d)
    except (ValueError, TypeError, KeyError):
        raise BoardError(f"the board answered cut-status with {answer!r}") from None


def _never(pattern: str, timeout: float, bench: Bench) -> BoardError:
    tail = bytes(bench.console.buffer[-200:])
    return BoardError(f"the console did not show {pattern!r} within {timeout:g} s; last bytes: {tail!r}")
