"""The virtual clock the device models run on.

Time is a float of virtual seconds that only moves when a model calls :meth:`VirtualClock.advance`
(one service tick, a flash busy period, a fast-forward over idle ticks). Alarms fire, in deadline order,
when the clock passes them; that is how the RTCC alarm of the OTA service and other timeouts are modelled.

The clock never reads or waits on wall time. Mapping virtual time to wall time with a speed factor is the
job of whatever runs the board (see :mod:`bootloader_model.service.tick_runner`), not of this module.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

#: One FreeRTOS task delay of the demo's OTA task (``OTA_RTOS_TASK_DELAY`` = 1 ms): one service tick.
TICK_S = 0.001


@dataclass(order=True)
class Alarm:
    """A pending callback at ``deadline`` (virtual seconds). Cancel it with :meth:`VirtualClock.cancel`."""

    deadline: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class VirtualClock:
    """Monotonic virtual time with one-shot alarms."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._alarms: list[Alarm] = []
        self._seq = itertools.count()

    def now(self) -> float:
        """Virtual seconds since the clock was made."""
        return self._now

    def call_at(self, deadline: float, callback: Callable[[], None]) -> Alarm:
        """Run ``callback`` once the clock reaches ``deadline``."""
        alarm = Alarm(deadline, next(self._seq), callback)
        heapq.heappush(self._alarms, alarm)
        return alarm

    def call_later(self, delay: float, callback: Callable[[], None]) -> Alarm:
        return self.call_at(self._now + delay, callback)

    def cancel(self, alarm: Alarm | None) -> None:
        if alarm is not None:
            alarm.cancelled = True

    def next_deadline(self) -> float | None:
        """The earliest pending alarm, or ``None``."""
        while self._alarms and self._alarms[0].cancelled:
            heapq.heappop(self._alarms)
        return self._alarms[0].deadline if self._alarms else None

    def advance(self, dt: float) -> None:
        """Move time forward by ``dt`` seconds, firing every alarm whose deadline is passed."""
        if dt < 0:
            raise ValueError(f"cannot move the clock backwards ({dt} s)")
        target = self._now + dt
        while True:
            nxt = self.next_deadline()
            if nxt is None or nxt > target:
                break
            alarm = heapq.heappop(self._alarms)
            self._now = max(self._now, alarm.deadline)
            alarm.callback()
        self._now = target

    def advance_to(self, t: float) -> None:
        if t > self._now:
            self.advance(t - self._now)
