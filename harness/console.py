"""Line-oriented view of a board console: expect with timeouts, death strings, and a raw timestamped log.

:class:`Console` reads bytes from anything with pyserial's ``read``/``write``/``in_waiting`` (a real
port, the virtual board's pty, ``loop://``) and keeps every byte it ever saw. ``expect`` searches from
the end of the previous match, so a test reads the console as a sequence of events. Death strings (for
example a line the firmware only prints when broken) fail at once instead of waiting for a timeout.

It does not know what the lines mean; :mod:`harness.driver` parses OTA events on top of it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Protocol

from bootloader_model.errors import ConsoleTimeout, DeathString
from harness.transport import read_some, write_all


class Port(Protocol):
    @property
    def in_waiting(self) -> int: ...
    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...
    def flush(self) -> None: ...


Pattern = str | bytes | re.Pattern[bytes]


def _compile(pattern: Pattern) -> re.Pattern[bytes]:
    if isinstance(pattern, re.Pattern):
        return pattern
    raw = pattern.encode() if isinstance(pattern, str) else pattern
    return re.compile(re.escape(raw))


class Console:
    """Accumulating reader over a console port."""

    def __init__(self, port: Port, *, log: str | Path | None = None, death: Iterable[Pattern] = ()) -> None:
        self.port = port
        self.buffer = bytearray()
        self.pos = 0  # end of the last match
        self._death = [_compile(d) for d in death]
        self._t0 = time.monotonic()
        self._log: IO[str] | None = open(log, "a", encoding="utf-8") if log else None  # noqa: SIM115

    def close(self) -> None:
        if self._log:
            self._log.close()
            self._log = None

    def _record(self, direction: str, data: bytes) -> None:
        if self._log and data:
            self._log.write(f"{time.monotonic() - self._t0:10.3f} {direction} {data!r}\n")
            self._log.flush()

    def poll(self) -> bytes:
        """Read what is available now (waits at most the port's read timeout)."""
        data = read_some(self.port)  # type: ignore[arg-type]
        if data:
            self._record("<", data)
            start = max(0, len(self.buffer) - 200)
            self.buffer += data
            for d in self._death:
                m = d.search(self.buffer, start)
                if m:
                    raise DeathString(f"board printed {m.group(0)!r}: {bytes(self.buffer[-300:])!r}")
        return data

    def write(self, data: bytes) -> None:
        self._record(">", data)
        write_all(self.port, data)  # type: ignore[arg-type]

    def send_line(self, line: str) -> None:
        """Type a command line as a terminal would: the text then CR."""
        self.write(line.encode() + b"\r")

    def expect(self, pattern: Pattern, timeout: float = 10.0) -> re.Match[bytes]:
        """Wait until ``pattern`` appears after the previous match; return the match and move past it."""
        rx = _compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buffer, self.pos)
            if m:
                self.pos = m.end()
                return m
            if time.monotonic() >= deadline:
                raise ConsoleTimeout(repr(rx.pattern), timeout, bytes(self.buffer[self.pos :]))
            self.poll()

    def expect_any(self, patterns: list[Pattern], timeout: float = 10.0) -> tuple[int, re.Match[bytes]]:
        """Wait for the earliest of several patterns; return its index and match."""
        rxs = [_compile(p) for p in patterns]
        deadline = time.monotonic() + timeout
        while True:
            hits = [(m.start(), i, m) for i, rx in enumerate(rxs) if (m := rx.search(self.buffer, self.pos))]
            if hits:
                _, i, m = min(hits, key=lambda h: (h[0], h[1]))
                self.pos = m.end()
                return i, m
            if time.monotonic() >= deadline:
                shown = " or ".join(repr(r.pattern) for r in rxs)
                raise ConsoleTimeout(shown, timeout, bytes(self.buffer[self.pos :]))
            self.poll()

    def drain(self, quiet: float = 0.2, limit: float = 5.0) -> bytes:
        """Read until the board has been silent for ``quiet`` seconds; return what arrived."""
        start = len(self.buffer)
        end = time.monotonic() + limit
        last = time.monotonic()
        while time.monotonic() < end:
            if self.poll():
                last = time.monotonic()
            elif time.monotonic() - last >= quiet:
                break
        return bytes(self.buffer[start:])

    def lines(self, since: int = 0) -> list[str]:
        """Complete lines seen since byte offset ``since``, decoded leniently, CR/LF stripped."""
        text = bytes(self.buffer[since:]).decode("utf-8", "replace")
        parts = re.split(r"\r\n|\n\r|\r|\n", text)
        return [p for p in parts[:-1] if p]
