"""Progress of a long command on stderr: a one-line bar on a terminal, plain lines every few seconds elsewhere.

:class:`Progress` counts what a sweep or a search has done. On a terminal it redraws a bar at most ten times
a second and erases it when the work ends, so what stays on screen is the report. When the stream is not a
terminal (a CI log, a pipe) it writes a plain line every :data:`INTERVAL` seconds instead, e.g. ``sweep
update: 1200/2187 cases, 610/s, 2 s left``, so a log never goes silent for minutes; the environment variable
:data:`INTERVAL_ENV` sets that interval (0: a line at every step). It counts and prints; it runs nothing.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

from bootloader_model.errors import CallerError

WIDTH = 24  # characters of the bar itself
INTERVAL = 10.0  # seconds between plain progress lines when the stream is not a terminal
INTERVAL_ENV = "OTALOOP_PROGRESS_SECONDS"


def _clock(seconds: float) -> str:
    s = int(seconds + 0.5)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _left(seconds: float) -> str:
    return f"{int(seconds + 0.5)} s" if seconds < 60 else _clock(seconds)


def interval_from_env() -> float:
    """Seconds between plain progress lines: :data:`INTERVAL_ENV` if set, else :data:`INTERVAL`.

    Raises:
        CallerError: the variable is set but is not a number of seconds >= 0.
    """
    text = os.environ.get(INTERVAL_ENV, "").strip()
    if not text:
        return INTERVAL
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise CallerError(f"{INTERVAL_ENV}={text!r}: expected seconds >= 0, e.g. 10")
    return value


class Progress:
    """``with Progress(total, "sweep update") as bar: bar.advance(n)``.

    A bar when ``stream`` (stderr by default) is a terminal, a plain line every ``interval`` seconds when it
    is not; ``enabled=False`` silences both. ``unit`` names what is counted; ``note`` is appended to each
    line (e.g. the hazards found so far).
    """

    def __init__(
        self,
        total: int,
        label: str = "",
        stream: TextIO | None = None,
        *,
        enabled: bool | None = None,
        interval: float | None = None,
        unit: str = "cases",
    ):
        self.total = total
        self.label = label
        self.unit = unit
        self.note = ""
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = bool(isatty and isatty())
        self.enabled = self.terminal if enabled is None else enabled
        self.plain = enabled is None and not self.terminal  # plain lines instead of a bar
        self.interval = interval_from_env() if interval is None else interval
        self.done = 0
        self.start = time.monotonic()
        self._drawn = 0.0
        self._shown = 0  # cases done at the last plain line

    def __enter__(self) -> Progress:
        self.start = self._drawn = time.monotonic()
        self._draw(force=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[2K")  # erase the bar: what remains on the terminal is the report
            self.stream.flush()

    def advance(self, n: int) -> None:
        """Count ``n`` more done, and draw (or print a line) if it is time to."""
        self.done += n
        self._draw(force=self.done >= self.total)

    def _numbers(self) -> tuple[float, float | None]:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 and self.done else None
        return rate, left

    def line(self) -> str:
        """The bar as text, e.g. ``sweep [#######.....]  912/2187 cases  430/s  0:03 left``."""
        rate, left = self._numbers()
        frac = min(1.0, self.done / self.total) if self.total else 1.0
        fill = int(frac * WIDTH)
        head = f"{self.label} " if self.label else ""
        bar = "#" * fill + "." * (WIDTH - fill)
        note = f"  {self.note}" if self.note else ""
        clock = _clock(left) if left is not None else "?"
        return f"{head}[{bar}] {self.done}/{self.total} {self.unit}  {rate:,.0f}/s  {clock} left{note}"

    def plain_line(self) -> str:
        """The line written where there is no terminal, e.g. ``sweep update: 1200/2187 cases, 610/s, 2 s left``."""
        rate, left = self._numbers()
        head = f"{self.label}: " if self.label else ""
        note = f", {self.note}" if self.note else ""
        clock = _left(left) if left is not None else "?"
        return f"{head}{self.done}/{self.total} {self.unit}, {rate:,.0f}/s, {clock} left{note}"

    def _draw(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.plain:
            if now - self._drawn >= self.interval and self.done != self._shown:
                self._drawn, self._shown = now, self.done
                self.stream.write(self.plain_line() + "\n")
                self.stream.flush()
            return
        if not self.enabled:
            return
        if not force and now - self._drawn < 0.1:
            return
        self._drawn = now
        self.stream.write("\r\x1b[2K" + self.line())
        self.stream.flush()
