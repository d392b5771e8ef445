"""Run a virtual board against wall time and connect its UART to a pty, a TCP port or an in-process port.

:class:`BoardRunner` owns the pacing: every few milliseconds of wall time it moves typed bytes into the
board, lets the board run ``wall elapsed x speed`` seconds of virtual time (idle stretches are skipped
inside the board), and writes what the board printed to the link. With the default speed of 1000, a
60 s periodic check interval passes in about 60 ms.

A turn never waits long: the board's step is limited to :data:`TURN_WALL_S` of wall time, so a slow or
silent server delays the download (as it would on the board) but never the console, the pacing or the
caller's periodic work such as saving state. Speeds are finite and at most :data:`MAX_SPEED`; above a few
thousand the board simply runs as fast as the host allows whenever it is not idle.

The runner can serve in a background thread (in-process tests, the scenario suite) or in the foreground
(``otaloop board``). Every access to the board from another thread goes through :meth:`BoardRunner.call`,
which holds the runner's lock, because the board model is single-threaded by design.

:class:`VirtualPort` is an in-process link with pyserial's ``read``/``write``/``in_waiting`` surface, so
:class:`~harness.board_link.console.Console` can drive a board without any OS device.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from bootloader_model.board.virtual_board import VirtualBoard
from bootloader_model.errors import CallerError
from harness.served_board.uart_link import UartLink

T = TypeVar("T")

DEFAULT_SPEED = 1000.0
#: The highest speed accepted: one virtual second per wall microsecond.
MAX_SPEED = 1e6
#: Wall seconds one turn may spend inside the board (waiting on the network included).
TURN_WALL_S = 0.02


def check_speed(speed: float, what: str = "speed") -> float:
    """``speed`` if it is a number in (0, MAX_SPEED]; a :class:`CallerError` naming ``what`` otherwise."""
    if not (math.isfinite(speed) and 0 < speed <= MAX_SPEED):
        raise CallerError(
            f"{what} must be > 0 and at most {MAX_SPEED:g} virtual seconds per wall second, got {speed:g}"
        )
    return speed


class VirtualPort:
    """Both ends of an in-process UART: the runner side (:class:`UartLink`) and the host side (pyserial-like)."""

    url = "virtual://in-process"

    def __init__(self, timeout: float = 0.05) -> None:
        self.timeout = timeout
        self._to_host = bytearray()
        self._to_board = bytearray()
        self._cond = threading.Condition()
        self.closed = False

    # runner side ------------------------------------------------------------------------------------
    def read(self, size: int = 1 << 30) -> bytes:
        """Host side read (pyserial semantics): up to ``size`` bytes, waiting at most ``timeout``."""
        with self._cond:
            if not self._to_host:
                self._cond.wait(self.timeout)
            out = bytes(self._to_host[:size])
            del self._to_host[:size]
            return out

    def write(self, data: bytes) -> int:
        """Host side write: bytes typed into the board's UART."""
        with self._cond:
            self._to_board += data
            self._cond.notify_all()
        return len(data)

    def flush(self) -> None:
        pass

    @property
    def in_waiting(self) -> int:
        with self._cond:
            return len(self._to_host)

    def close(self) -> None:
        self.closed = True

    # the UartLink protocol, used by the runner -----------------------------------------------------------
    def link(self) -> _RunnerSide:
        return _RunnerSide(self)


class _RunnerSide:
    def __init__(self, port: VirtualPort) -> None:
        self._p = port
        self.url = port.url

    def read(self) -> bytes:
        with self._p._cond:
            out = bytes(self._p._to_board)
            self._p._to_board.clear()
            return out

    def write(self, data: bytes) -> None:
        if data:
            with self._p._cond:
                self._p._to_host += data
                self._p._cond.notify_all()

    def wait(self, timeout: float) -> None:
        with self._p._cond:
            if not self._p._to_board:
                self._p._cond.wait(timeout)

    def close(self) -> None:
        pass


class BoardRunner:
    """Pace a :class:`VirtualBoard` against wall time and shuttle its UART bytes."""

    def __init__(self, board: VirtualBoard, link: UartLink | _RunnerSide, *, speed: float = DEFAULT_SPEED) -> None:
        check_speed(speed)
        self.board = board
        self.link = link
        self.speed = speed
        self.slice_s = 0.005  # wall seconds between I/O turns
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self._pace: tuple[float, float] | None = None  # (wall, virtual) reference for pacing
        self._last = 0.0

    def call(self, fn: Callable[[VirtualBoard], T]) -> T:
        """Run ``fn(board)`` between two runner turns (thread-safe access to the board)."""
        with self._lock:
            result = fn(self.board)
            self.link.write(self.board.take_output())
            return result

    def turn(self, wall_budget: float) -> None:
        """One I/O turn: input in, ``wall_budget x speed`` virtual seconds, output out."""
        with self._lock:
            data = self.link.read()
            if data:
                self.board.uart_rx(data)
            budget = min(max(wall_budget, 1e-4), 1.0) * self.speed  # a stalled host does not make up lost time
            self.board.step(budget, speed=self.speed, wall_limit_s=TURN_WALL_S)
            self.link.write(self.board.take_output())

    def serve(self, stop: threading.Event | None = None) -> None:
        """Serve until ``stop`` (or :meth:`stop`) is set."""
        while not (stop or self._stop).is_set():
            self.serve_for(0.5, stop)

    def serve_for(self, duration: float, stop: threading.Event | None = None) -> None:
        """Serve for ``duration`` wall seconds, or until ``stop`` is set."""
        stop = stop or self._stop
        end = time.monotonic() + duration
        if self._pace is None:
            self._pace = (time.monotonic(), self.board.clock.now())
            self._last = time.monotonic()
        while not stop.is_set() and time.monotonic() < end:
            now = time.monotonic()
            self.turn(now - self._last)
            self._last = now
            wall0, virt0 = self._pace
            # If the board ran ahead of wall x speed, wait for wall time to catch up (waking for input).
            ahead = (self.board.clock.now() - virt0) / self.speed - (time.monotonic() - wall0)
            self.link.wait(min(max(ahead, self.slice_s), 0.05))
            if ahead < -1.0:  # fell behind (slow host): do not try to catch up on lost wall time
                self._pace = (time.monotonic(), self.board.clock.now())

    def start(self) -> BoardRunner:
        def target() -> None:
            try:
                self.serve()
            except BaseException as exc:  # reported by stop(); a runner thread must not die silently
                self.error = exc

        self._thread = threading.Thread(target=target, name="otaloop-board", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self.error is not None:
            raise self.error

    def __enter__(self) -> BoardRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
