"""The virtual board's UART as the host sees it: a pseudo-terminal or a TCP port.

A real board shows up as ``/dev/ttyACM0``; the virtual one shows up as a pty slave (``/dev/pts/N``) or a
``socket://127.0.0.1:PORT`` that pyserial opens the same way, so harness code cannot tell the difference.
Both ends are raw byte pipes: the pty is put in raw mode so the kernel neither echoes nor translates CR/LF
(the firmware does its own echo). Output written while no TCP client is connected is dropped, as bytes
sent by a UART with nothing on the other end are.

This module only moves bytes; the board decides what they mean.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import tty
from typing import Protocol

from bootloader_model.errors import CallerError


class UartLink(Protocol):
    url: str

    def read(self) -> bytes: ...
    def write(self, data: bytes) -> None: ...
    def wait(self, timeout: float) -> None: ...
    def close(self) -> None: ...


class PtyLink:
    """A pseudo-terminal pair; the board owns the master, users open :attr:`url` (the slave path)."""

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/LF translation: the firmware's bytes pass untouched
        os.set_blocking(self._master, False)
        self.url = os.ttyname(self._slave)

    def read(self) -> bytes:
        try:
            return os.read(self._master, 4096)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:  # no reader on the slave side right now
                return b""
            raise

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._master, view)
            except BlockingIOError:
                # The pty buffer is full because nobody reads the console; like a UART, drop the rest.
                return
            view = view[n:]

    def wait(self, timeout: float) -> None:
        select.select([self._master], [], [], timeout)

    def close(self) -> None:
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class TcpLink:
    """A one-client TCP console on 127.0.0.1 (or ``host``), like ser2net in raw mode."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._listener.bind((host, port))
        except OSError as exc:
            self._listener.close()
            raise CallerError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        self._listener.listen(1)
        self._listener.setblocking(False)
        self._client: socket.socket | None = None
        bound = self._listener.getsockname()
        self.url = f"socket://{bound[0]}:{bound[1]}"

    @property
    def connected(self) -> bool:
        """Whether a client is attached (accepting any waiting one first)."""
        self._accept()
        return self._client is not None

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        if self._client is not None:
            self._client.close()  # a new connection replaces the old one
        client.setblocking(False)
        self._client = client

    def read(self) -> bytes:
        self._accept()
        if self._client is None:
            return b""
        try:
            data = self._client.recv(4096)
        except BlockingIOError:
            return b""
        except OSError:
            data = b""
        if not data:
            self._client.close()
            self._client = None
        return data

    def write(self, data: bytes) -> None:
        if self._client is None:
            return
        try:
            self._client.sendall(data)
        except OSError:
            self._client.close()
            self._client = None

    def wait(self, timeout: float) -> None:
        socks = [self._listener] + ([self._client] if self._client else [])
        select.select(socks, [], [], timeout)

    def close(self) -> None:
        if self._client:
            self._client.close()
        self._listener.close()


def open_link(spec: str) -> UartLink:
    """``pty`` or ``tcp:PORT`` (``tcp:0`` picks a free port)."""
    if spec == "pty":
        return PtyLink()
    if spec.startswith("tcp:"):
        try:
            port = int(spec[4:])
        except ValueError:
            port = -1
        if not 0 <= port <= 65535:
            raise CallerError(f"bad console {spec!r}: expected tcp:PORT with PORT 0..65535")
        return TcpLink(port)
    raise CallerError(f"bad console {spec!r}: expected 'pty' or 'tcp:PORT'")
