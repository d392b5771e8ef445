"""A one-line progress bar for long sweeps: cases done, cases per second, time left.

:class:`Progress` draws on a stream (stderr) only when that stream is a terminal, at most ten times a
second, and erases its line when the sweep ends, so piped or captured output stays exactly the report.
It counts; it does not run anything.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 24  # characters of the bar itself


def _clock(seconds: float) -> str:
    s = int(seconds + 0.5)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """``with Progress(total, "sweep") as bar: bar.advance(n)``; silent unless ``stream`` is a terminal."""

    def __init__(self, total: int, label: str = "", stream: TextIO | None = None, *, enabled: bool | None = None):
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.done = 0
        self.start = time.monotonic()
        self._drawn = 0.0

    def __enter__(self) -> Progress:
        self.start = time.monotonic()
        self._draw(force=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[2K")  # erase the bar: what remains on the terminal is the report
            self.stream.flush()

    def advance(self, n: int) -> None:
        self.done += n
        self._draw(force=self.done >= self.total)

    def line(self) -> str:
        """The bar as text, e.g. ``sweep [#######.....]  912/2187 cases  430/s  0:03 left``."""
        elapsed = max(time.monotonic() - self.start, 1e-9)
        frac = min(1.0, self.done / self.total) if self.total else 1.0
        fill = int(frac * WIDTH)
        rate = self.done / elapsed
        left = _clock((self.total - self.done) / rate) if rate > 0 and self.done else "?"
        head = f"{self.label} " if self.label else ""
        bar = "#" * fill + "." * (WIDTH - fill)
        return f"{head}[{bar}] {self.done}/{self.total} cases  {rate:,.0f}/s  {left} left"

    def _draw(self, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._drawn < 0.1:
            return
        self._drawn = now
        self.stream.write("\r\x1b[2K" + self.line())
        self.stream.flush()
