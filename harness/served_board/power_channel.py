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
from collections.abc import Callable
from pathlib import Path

from bootloader_model.errors import BoardError, CallerError

MAX_LINE = 4096
#: Seconds a client waits for the board's answer (a ``cycle`` answers after its off time).
ANSWER_TIMEOUT = 60.0

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


def send_command(path: Path, words: list[str], *, timeout: float = ANSWER_TIMEOUT) -> str:
    """Send one command to the board at ``path``; return the text after ``ok`` (``error`` -> CallerError)."""
    line = shlex.join(words) + "\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise CallerError(
                f"no board answers on control channel {path} (is `otaloop board --control` running?)"
            ) from None
        except OSError as exc:
            raise CallerError(f"cannot connect to control channel {path}: {exc.strerror or exc}") from None
        try:
            sock.sendall(line.encode())
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            raise BoardError(f"control channel {path}: no answer to {words[0]!r} within {timeout:g} s") from None
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

    def __init__(self, path: Path) -> None:
        self.path = path

    def on(self) -> None:
        send_command(self.path, ["on"])

    def off(self) -> None:
        send_command(self.path, ["off"])

    def cycle(self, off_time: float = 1.0) -> None:
        send_command(self.path, ["cycle", f"{off_time:g}"])

    def status(self) -> str:
        return send_command(self.path, ["status"])

    def arm_cut_after(self, pattern: str, delay_s: float, seed: int = 0) -> None:
        """Have the board cut its own power ``delay_s`` board seconds after its console next shows ``pattern``."""
        send_command(self.path, ["cut-after", pattern, repr(delay_s), str(seed)])

    def cut_status(self) -> str:
        """``pending``, ``none``, or the JSON of where the last timed cut landed."""
        return send_command(self.path, ["cut-status"])


class ChannelSwitch:
    """A :class:`~harness.board_link.switch.SwitchControl` for SWITCH1 of a board served with ``--control PATH``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def press(self) -> None:
        send_command(self.path, ["switch", "press"])

    def release(self) -> None:
        send_command(self.path, ["switch", "release"])

    def click(self, hold_s: float = 0.1) -> None:
        """Press now; the board lets go ``hold_s`` board seconds later."""
        send_command(self.path, ["switch", "click", repr(hold_s)])

    def status(self) -> str:
        """``pressed`` or ``released``."""
        return send_command(self.path, ["switch", "status"])
