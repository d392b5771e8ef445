"""The virtual board's console as a USB CDC port: a stable path that exists only while the board has power.

A board whose USB serial port is switched with its power (a switchable USB hub, ``uhubctl``) loses the
port at power-off and enumerates it again, as a new device node, at power-on; a udev rule gives it a
stable name. :class:`UsbConsoleLink` does the same with a pty: :meth:`plug` makes a new pty and points
the chosen symlink at it, :meth:`unplug` removes the symlink and closes the pty, so a host that still
holds it open gets an I/O error, as with a pulled USB device.

The master side runs in packet mode (``TIOCPKT``), which tells the link when a host has opened the port
and flushed its input (pyserial does both in ``open()``): :meth:`host_ready` turns true then, or once
``hold`` seconds have passed, whichever comes first, so the caller can hold the board in reset until a host
listens (as a debugger that releases reset once its virtual COM port is enumerated). What the board prints
while no host has the port open is dropped and counted in :attr:`dropped`, never queued for later.

This module only moves bytes and manages the device node; :mod:`harness.served_board.power_switch` decides when the
board is powered.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pty
import select
import struct
import termios
import time
import tty
from collections.abc import Callable
from pathlib import Path

from bootloader_model.errors import CallerError

#: Seconds a freshly plugged port waits for a host to open it before the board is let run regardless.
DEFAULT_HOLD = 5.0
#: The longest hold: a board always boots in the end, as a real one does whether a host listens or not.
MAX_HOLD = 3600.0
#: Seconds after a host opened the port without flushing its input before it counts as listening.
HOST_GRACE = 0.2


class UsbConsoleLink:
    """A UART link (:class:`~harness.served_board.uart_link.UartLink`) behind ``path``, plugged and unplugged."""

    def __init__(self, path: Path, *, hold: float = DEFAULT_HOLD) -> None:
        if not 0 <= hold <= MAX_HOLD:  # nan fails too: a hold that never ends would keep the board in reset
            raise CallerError(f"--hold must be 0..{MAX_HOLD:g} seconds, got {hold:g}")
        if path.exists() and not path.is_symlink():
            raise CallerError(f"--console-link {path} exists and is not a symlink; choose another path")
        if not path.parent.is_dir():
            raise CallerError(f"--console-link {path}: directory {path.parent} does not exist")
        self.path = path
        self.url = str(path)
        self.hold = hold
        self.dropped = 0  # bytes the board printed while no host had the port open
        self._master: int | None = None
        self._device = ""
        self._plugged_at = 0.0
        self._opened = False  # a host has opened the port and flushed its input
        self._host_seen: float | None = None  # when reads first showed a host holding the port
        #: Called once per plug, from :meth:`read`, when :meth:`host_ready` first holds.
        self.on_host_ready: Callable[[], None] | None = None
        self._announced = False
        path.unlink(missing_ok=True)  # a stale link from an earlier run points at nothing

    # ------------------------------------------------------------------------------------- device node
    @property
    def present(self) -> bool:
        return self._master is not None

    @property
    def device(self) -> str:
        """The pty the link points at now (``""`` while unplugged)."""
        return self._device

    def plug(self) -> None:
        """A new device node behind the stable path, as a USB serial port enumerates at power-on."""
        if self._master is not None:
            return
        master, slave = pty.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: the firmware's bytes pass untouched
        device = os.ttyname(slave)
        os.close(slave)  # only a host holds the slave: reads then tell whether one has the port open
        fcntl.ioctl(master, termios.TIOCPKT, struct.pack("i", 1))
        os.set_blocking(master, False)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(device)
        os.replace(tmp, self.path)  # atomic: a host never sees a half-made link
        self._master, self._device = master, device
        self._plugged_at = time.monotonic()
        self._opened = False
        self._host_seen = None
        self._announced = False

    def unplug(self) -> None:
        """Remove the path and the pty; a host holding it open gets an I/O error, as with a pulled device."""
        with contextlib.suppress(FileNotFoundError):
            if self.path.is_symlink() and os.readlink(self.path) == self._device:
                self.path.unlink()
        if self._master is not None:
            with contextlib.suppress(OSError):
                os.close(self._master)
        self._master, self._device, self._opened = None, "", False

    def host_ready(self) -> bool:
        """True once a host has opened the port (and flushed its input), or ``hold`` seconds after plugging."""
        if self._master is None:
            return False
        if not self._opened:
            self._pump()
        return self._opened or time.monotonic() - self._plugged_at >= self.hold

    # ------------------------------------------------------------------------------------ UartLink side
    def _pump(self) -> bytes:
        """Read every packet waiting on the master: data typed by the host, and its open/flush status."""
        if self._master is None:
            return b""
        data = bytearray()
        while True:
            try:
                packet = os.read(self._master, 4097)
            except BlockingIOError:
                # A host holds the port. One that never flushes its input (``cat``) counts as ready soon.
                now = time.monotonic()
                if self._host_seen is None:
                    self._host_seen = now
                elif now - self._host_seen >= HOST_GRACE:
                    self._opened = True
                break
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                # EIO: no host has the port open (never opened, or closed again).
                self._opened, self._host_seen = False, None
                break
            if not packet:
                break
            if packet[0] == 0:
                data += packet[1:]
            elif packet[0] & termios.TIOCPKT_FLUSHREAD:
                self._opened = True  # the host opened the port and flushed what was queued before
        return bytes(data)

    def read(self) -> bytes:
        data = self._pump()
        if not self._announced and self._master is not None and self.host_ready():
            self._announced = True
            if self.on_host_ready is not None:
                self.on_host_ready()
        return data

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._master is None or not self._opened:
            self.dropped += len(data)
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._master, view)
            except OSError:
                # The host stopped reading (full buffer) or closed the port: like a UART, drop the rest.
                self.dropped += len(view)
                return
            view = view[n:]

    def wait(self, timeout: float) -> None:
        master = self._master
        if master is None or not self._opened:
            time.sleep(min(timeout, 0.01))  # a closed pty polls as readable for ever; do not spin on it
            return
        try:
            select.select([master], [], [], timeout)
        except (OSError, ValueError):
            # The runner waits outside its lock, so power-off may close the pty meanwhile: nothing to wait for.
            return

    def close(self) -> None:
        self.unplug()
