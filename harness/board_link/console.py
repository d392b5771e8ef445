"""Line-oriented view of a board console: expect with timeouts, death strings, and a raw timestamped log.

:class:`Console` reads bytes from anything with pyserial's ``read``/``write``/``in_waiting`` (a real
port, the virtual board's pty, ``loop://``) and keeps every byte it ever saw. ``expect`` searches from
the end of the previous match, so a test reads the console as a sequence of events. Death strings (for
example a line the firmware only prints when broken) fail at once instead of waiting for a timeout.

Given the port's URL and a reconnect wait, a console survives its port vanishing (a board power-cycled
through a USB hub re-enumerates its USB serial port; a ``socket://`` peer restarts): the next read or
write reopens the same URL, waiting at most that long, and an ``expect`` in progress carries on. The gap
is recorded in :attr:`Console.gaps` and as a marker line in the log; nothing is added to the buffer, so
bytes the board sent while the port was gone are reported as missing, never invented. A port that does not
come back raises :class:`~bootloader_model.errors.PortLost` naming the URL and the time waited.

It does not know what the lines mean; :mod:`harness.board_link.driver` parses OTA events on top of it.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, overload

from bootloader_model.errors import ConsoleTimeout, DeathString, PortLost
from harness.board_link.transport import read_some, reopen_port, write_all


class Port(Protocol):
    @property
    def in_waiting(self) -> int: ...
    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...
    def flush(self) -> None: ...


@dataclass(frozen=True)
class Gap:
    """A stretch during which the console port was gone.

    ``offset`` is the buffer offset where the gap sits (everything before it arrived before the loss),
    ``lost_at`` the console time (seconds since the console was made) when the failure was seen,
    ``waited`` how long the port took to come back, ``reason`` what the port reported.
    """

    offset: int
    lost_at: float
    waited: float
    reason: str

    def marker(self, url: str) -> str:
        return (
            f"port {url} was gone for {self.waited:.3f} s ({self.reason}); "
            "what the board sent meanwhile was not received"
        )


Pattern = str | bytes | re.Pattern[bytes]

#: Bytes :meth:`Console.send_line` sends without waiting for the echo: fits the board's 127-byte receive ring.
TYPE_AHEAD = 120


def _compile(pattern: Pattern) -> re.Pattern[bytes]:
    if isinstance(pattern, re.Pattern):
        return pattern
    raw = pattern.encode() if isinstance(pattern, str) else pattern
    return re.compile(re.escape(raw))


class Console:
    """Accumulating reader over a console port."""

    def __init__(
        self,
        port: Port,
        *,
        log: str | Path | None = None,
        death: Iterable[Pattern] = (),
        url: str | None = None,
        reconnect: float = 0.0,
        reopen: Callable[[float], Port] | None = None,
    ) -> None:
        """``url`` and ``reconnect`` (seconds, 0 = never) let the console reopen a port that failed.

        ``reopen(wait)`` replaces the default reopening of ``url`` with pyserial (a labgrid driver
        reactivates instead); it returns the new port or raises PortLost after ``wait`` seconds.
        """
        self.port = port
        self.url = url
        self.reconnect = reconnect
        self._reopen = reopen
        self.buffer = bytearray()
        self.pos = 0  # end of the last match
        self.gaps: list[Gap] = []
        self._text = ""  # the buffer decoded as latin-1, as far as a str regular expression needed it
        #: (buffer offset, time.monotonic()) of every chunk read: when each byte arrived on this host.
        self.arrivals: list[tuple[int, float]] = []
        self._death = [_compile(d) for d in death]
        self._t0 = time.monotonic()
        self._log: IO[str] | None = open(log, "a", encoding="utf-8") if log else None  # noqa: SIM115

    def close(self) -> None:
        if self._log:
            self._log.close()
            self._log = None

    def _stamp(self) -> float:
        return time.monotonic() - self._t0

    def _record(self, direction: str, data: bytes) -> None:
        if self._log and data:
            self._log.write(f"{self._stamp():10.3f} {direction} {data!r}\n")
            self._log.flush()

    def _mark(self, text: str) -> None:
        if self._log:
            self._log.write(f"{self._stamp():10.3f} -- {text}\n")
            self._log.flush()

    @contextlib.contextmanager
    def without_reconnect(self) -> Iterator[None]:
        """Within the block a failed port raises PortLost at once (e.g. reading what is left before power-on)."""
        saved, self.reconnect = self.reconnect, 0.0
        try:
            yield
        finally:
            self.reconnect = saved

    def _recover(self, lost: PortLost) -> None:
        """Reopen the URL after the port failed, or re-raise ``lost`` if this console cannot reconnect."""
        if self.url is None or self.reconnect <= 0:
            raise lost
        reason = str(lost).partition(": ")[2] or str(lost)
        lost_at = self._stamp()
        self._mark(f"port {self.url} lost ({reason}); reopening for up to {self.reconnect:g} s")
        close = getattr(self.port, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):  # the port is already broken; closing it only frees the fd
                close()
        try:
            if self._reopen is not None:
                self.port = self._reopen(self.reconnect)
            else:
                self.port = reopen_port(self.url, self.reconnect)  # type: ignore[assignment]  # stubs lack in_waiting
        except PortLost as exc:
            self._mark(str(exc))
            raise
        gap = Gap(len(self.buffer), lost_at, self._stamp() - lost_at, reason)
        self.gaps.append(gap)
        self._mark(gap.marker(self.url))

    def poll(self) -> bytes:
        """Read what is available now (waits at most the port's read timeout); reopen a failed port."""
        try:
            data = read_some(self.port)  # type: ignore[arg-type]
        except PortLost as lost:
            self._recover(lost)
            return b""
        if data:
            self.arrivals.append((len(self.buffer), time.monotonic()))
            self._record("<", data)
            start = max(0, len(self.buffer) - 200)
            self.buffer += data
            for d in self._death:
                m = d.search(self.buffer, start)
                if m:
                    raise DeathString(f"board printed {m.group(0)!r}: {bytes(self.buffer[-300:])!r}")
        return data

    def arrived_at(self, offset: int) -> float | None:
        """``time.monotonic()`` when buffer byte ``offset`` was read (None past the end)."""
        if not 0 <= offset < len(self.buffer):
            return None
        i = bisect.bisect_right(self.arrivals, (offset, float("inf"))) - 1
        return self.arrivals[i][1]

    def write(self, data: bytes) -> None:
        """Send ``data``; if the port has failed, reopen it first (bounded) and send to the new one."""
        self._record(">", data)
        try:
            write_all(self.port, data)  # type: ignore[arg-type]
        except PortLost as lost:
            self._recover(lost)
            write_all(self.port, data)  # type: ignore[arg-type]

    def send_line(self, line: str, *, echo_timeout: float = 10.0) -> None:
        """Type a command line as a terminal would: the text then CR.

        The board's UART receive ring holds 127 bytes (``UART1_READ_BUFFER_SIZE``) and its console task
        takes one character per 10 ms, so a longer line sent at once loses its tail. A line of more than
        :data:`TYPE_AHEAD` bytes is therefore typed in pieces, each after the board has echoed the one
        before (waiting at most ``echo_timeout`` seconds for an echo, or as many bytes of other output).
        """
        data = line.encode() + b"\r"
        if len(data) <= TYPE_AHEAD:
            self.write(data)
            return
        for i in range(0, len(data), TYPE_AHEAD // 2):
            piece = data[i : i + TYPE_AHEAD // 2]
            mark = len(self.buffer)
            self.write(piece)
            echo = piece.rstrip(b"\r").replace(b"\0", b"")
            deadline = time.monotonic() + echo_timeout
            # The echo, or as many bytes of other output (a "buffer exceeded" notice splits an over-long echo).
            while echo and echo not in self.buffer[mark:] and len(self.buffer) - mark < len(echo):
                if time.monotonic() >= deadline:
                    break
                self.poll()

    @overload
    def expect(self, pattern: re.Pattern[str], timeout: float = 10.0) -> re.Match[str]: ...
    @overload
    def expect(self, pattern: Pattern, timeout: float = 10.0) -> re.Match[bytes]: ...
    def expect(self, pattern: Pattern | re.Pattern[str], timeout: float = 10.0) -> re.Match[bytes] | re.Match[str]:
        """Wait until ``pattern`` appears after the previous match; return the match and move past it.

        ``pattern`` is text (``str`` or ``bytes``, matched literally) or a compiled regular expression. A
        ``str`` expression is matched against the console decoded one character per byte (latin-1, so its
        offsets are the buffer's) and gives a ``re.Match[str]``; everything else gives a ``re.Match[bytes]``.
        No match within ``timeout`` seconds raises :class:`~bootloader_model.errors.ConsoleTimeout` with the
        console's tail.
        """
        if isinstance(pattern, re.Pattern) and isinstance(pattern.pattern, str):
            return self._expect_text(pattern, timeout)
        rx = _compile(pattern)
        shown = repr(rx.pattern if isinstance(pattern, re.Pattern) else pattern)  # text as given, not escaped
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buffer, self.pos)
            if m:
                self.pos = m.end()
                return m
            if time.monotonic() >= deadline:
                raise ConsoleTimeout(shown, timeout, bytes(self.buffer[self.pos :]))
            self.poll()

    def _expect_text(self, rx: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            if len(self._text) < len(self.buffer):  # latin-1: one character per byte, decoded once
                self._text += bytes(self.buffer[len(self._text) :]).decode("latin-1")
            m = rx.search(self._text, self.pos)
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
