"""The control channel of a served virtual board: a Unix socket that takes one command line per connection.

``otaloop board --control PATH`` listens on ``PATH``; ``otaloop power on|off|cycle|status --control PATH``
(or :func:`send_command`, or :class:`ChannelPower`) connects, sends one line and reads one answer line:
``ok <power state>`` or ``error <message>``. Arguments are shell-quoted words, so a pattern with spaces
survives. That makes the board switchable by the same kind of command a lab uses for a real one
(``uhubctl -a off -p 2``), e.g. as ``otaloop run --power-off "otaloop power off --control board1.ctl"``.

``otaloop switch press|release|click --control PATH`` (or :class:`ChannelSwitch`) presses the board's
SWITCH1 the same way.
This module only carries lines; :class:`~harness.served_board.power_switch.BoardPower` decides what they do.
"""

from __future__ import annotations

import contextlib
import shlex
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bootloader_model.errors import BoardError, CallerError
from harness.served_board.power_switch import DEFAULT_OFF_TIME

MAX_LINE = 4096
#: Seconds a client waits, in all, for a board to take a command and answer it; a ``cycle`` answers after its
#: off time, which :func:`answer_timeout` adds.
ANSWER_TIMEOUT = 10.0

Handler = Callable[[list[str]], str]


class ControlServer:
    """Serve ``handler(words) -> text`` on a Unix socket at ``path``, one command per connection, in a thread.

    A :class:`CallerError` from the handler becomes ``error <message>``; so does a line that is not
    shell-quoted words. Any other exception stops the server and is kept in :attr:`error`.
    """

    def __init__(self, path: Path, handler: Handler) -> None:
        if path.exists() and not path.is_socket():
            raise CallerError(f"--control {path} exists and is not a socket; choose another path")
        path.unlink(missing_ok=True)  # a socket left by an earlier run that was killed
        self.path = path
        self._handler = handler
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.bind(str(path))
        except OSError as exc:
            self._sock.close()
            raise CallerError(f"cannot listen on {path}: {exc.strerror}") from None
        self._sock.listen(4)
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> ControlServer:
        self._thread = threading.Thread(target=self._serve, name="otaloop-control", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    conn, _ = self._sock.accept()
                except TimeoutError:
                    continue
                with conn:
                    self._answer(conn)
        except BaseException as exc:  # kept for the owner to report; a control thread must not die silently
            self.error = exc

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(5.0)
        data = b""
        try:
            while b"\n" not in data and len(data) <= MAX_LINE:
                chunk = conn.recv(1024)
                if not chunk:
                    break
                data += chunk
        except OSError:
            return  # the client went away before finishing its line
        line = data.partition(b"\n")[0].decode("utf-8", "replace")
        try:
            if len(data) > MAX_LINE:
                raise CallerError(f"command line longer than {MAX_LINE} bytes")
            try:
                words = shlex.split(line)
            except ValueError as exc:
                raise CallerError(f"cannot split {line!r}: {exc}") from None
            answer = "ok " + self._handler(words)
        except CallerError as exc:
            answer = f"error {exc}"
        with contextlib.suppress(OSError):
            conn.sendall(answer.replace("\n", " ").encode() + b"\n")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()
        self.path.unlink(missing_ok=True)


def answer_timeout(words: list[str]) -> float:
    """The default bound on one command: :data:`ANSWER_TIMEOUT`, plus the off time of a ``cycle``."""
    if words and words[0] == "cycle":
        try:
            return ANSWER_TIMEOUT + max(0.0, float(words[1]) if len(words) > 1 else DEFAULT_OFF_TIME)
        except ValueError:
            pass  # the board refuses the bad time at once
    return ANSWER_TIMEOUT


def send_command(path: Path, words: list[str], *, timeout: float | None = None) -> str:
    """Send one command to the board at ``path`` and wait, at most ``timeout`` seconds in all, for its answer.

    Args:
        path: the board's control socket (``otaloop board --control PATH``).
        words: the command and its arguments, e.g. ``["cycle", "0.5"]``.
        timeout: seconds for the whole exchange (connect, send, answer); default :func:`answer_timeout`.

    Returns:
        The text after ``ok`` in the board's answer (its power state for on/off/cycle/status).

    Raises:
        CallerError: nothing listens on ``path``, ``timeout`` is not a positive number, or the board refused
            the command (``error ...``).
        BoardError: the board did not answer within ``timeout`` (a stopped or hung board process, or a socket
            that is no board's), its connection queue is full, or it answered something else.
    """
    if timeout is None:
        timeout = answer_timeout(words)
    if not 0 < timeout < float("inf"):
        raise CallerError(f"control channel timeout must be a positive number of seconds, got {timeout!r}")
    line = shlex.join(words) + "\n"
    deadline = time.monotonic() + timeout
    silent = f"control channel {path}: no answer to {words[0]!r} within {timeout:g} s (is the board process stopped?)"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise CallerError(
                f"no board answers on control channel {path} (is `otaloop board --control` running?)"
            ) from None
        except BlockingIOError:
            # A Unix socket whose listen queue is full refuses at once: nothing has been accepting for a while.
            raise BoardError(
                f"control channel {path}: not accepting connections, its queue is full (is the board process stopped?)"
            ) from None
        except TimeoutError:
            raise BoardError(silent) from None
        except OSError as exc:
            raise CallerError(f"cannot connect to control channel {path}: {exc.strerror or exc}") from None
        try:
            sock.sendall(line.encode())
            data = b""
            while not data.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)  # one deadline for the whole answer, however it trickles in
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            raise BoardError(silent) from None
        except OSError as exc:
            raise BoardError(f"control channel {path}: {exc.strerror or exc}") from None
    answer = data.decode("utf-8", "replace").strip()
    status, _, text = answer.partition(" ")
    if status == "ok":
        return text
    if status == "error":
        raise CallerError(f"board refused {shlex.join(words)!r}: {text}")
    raise BoardError(f"control channel {path}: unexpected answer {answer!r}")


class ChannelPower:
    """A :class:`~harness.board_link.power.PowerControl` for a virtual board served with ``--control PATH``."""

    def __init__(self, path: Path, *, timeout: float | None = None) -> None:
        self.path = path
        #: Bound on each command (None: :func:`answer_timeout`); a board that does not answer is a BoardError.
        self.timeout = timeout

    def _send(self, words: list[str]) -> str:
        return send_command(self.path, words, timeout=self.timeout)

    def on(self) -> None:
        self._send(["on"])

    def off(self) -> None:
        self._send(["off"])

    def cycle(self, off_time: float = 1.0) -> None:
        self._send(["cycle", f"{off_time:g}"])

    def status(self) -> str:
        return self._send(["status"])

    def arm_cut_after(self, pattern: str, delay_s: float, seed: int = 0) -> None:
        """Have the board cut its own power ``delay_s`` board seconds after its console next shows ``pattern``."""
        self._send(["cut-after", pattern, repr(delay_s), str(seed)])

    def cut_status(self) -> str:
        """``pending``, ``none``, or the JSON of where the last timed cut landed."""
        return self._send(["cut-status"])


class ChannelSwitch:
    """A :class:`~harness.board_link.switch.SwitchControl` for SWITCH1 of a board served with ``--control PATH``."""

    def __init__(self, path: Path, *, timeout: float | None = None) -> None:
        self.path = path
        #: Bound on each command (None: :func:`answer_timeout`); a board that does not answer is a BoardError.
        self.timeout = timeout

    def _send(self, words: list[str]) -> str:
        return send_command(self.path, words, timeout=self.timeout)

    def press(self) -> None:
        self._send(["switch", "press"])

    def release(self) -> None:
        self._send(["switch", "release"])

    def click(self, hold_s: float = 0.1) -> None:
        """Press now; the board lets go ``hold_s`` board seconds later."""
        self._send(["switch", "click", repr(hold_s)])

    def status(self) -> str:
        """``pressed`` or ``released``."""
        return self._send(["switch", "status"])
