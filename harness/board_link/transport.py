"""Open a board's console by pyserial URL: a device path, ``socket://``, ``rfc2217://``, ``spy://``, a pty.

The transport only opens and wraps the port; expecting text is :mod:`harness.board_link.console`'s job. Opening
failures (no such device, bad URL) are the caller's error; failures of an open port are the board's.
:func:`reopen_port` opens the same URL again after it failed (a board power-cycled behind a switchable
USB hub re-enumerates its USB serial port; a ``socket://`` peer restarts), polling for a bounded time.
"""

from __future__ import annotations

import time

import serial

from bootloader_model.errors import CallerError, PortLost

BAUDRATE = 115200  # UART1, 8N1, no flow control, for bootloader and application alike


def open_port(url: str, *, baudrate: int = BAUDRATE, timeout: float = 0.05) -> serial.SerialBase:
    """Open ``url`` with :func:`serial.serial_for_url` at 115200 8N1 and a short read timeout."""
    if not url or not url.strip():
        raise CallerError("empty console URL: give a device path (/dev/ttyACM0) or a pyserial URL (socket://host:port)")
    try:
        return serial.serial_for_url(url, baudrate=baudrate, bytesize=8, parity="N", stopbits=1, timeout=timeout)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise CallerError(f"cannot open console {url!r}: {exc}") from None


def reopen_port(
    url: str, wait: float, *, baudrate: int = BAUDRATE, timeout: float = 0.05, poll: float = 0.05
) -> serial.SerialBase:
    """Open ``url`` again, retrying every ``poll`` seconds for at most ``wait`` seconds.

    Raises :class:`PortLost` naming the URL, the time waited and the last reason when it does not come back.
    """
    start = time.monotonic()
    why = "not tried"
    while True:
        try:
            return serial.serial_for_url(url, baudrate=baudrate, bytesize=8, parity="N", stopbits=1, timeout=timeout)
        except (serial.SerialException, ValueError, OSError) as exc:
            why = str(exc) or type(exc).__name__
        waited = time.monotonic() - start
        if waited >= wait:
            raise PortLost(f"console {url} did not come back within {waited:.1f} s (last error: {why})")
        time.sleep(min(poll, max(0.0, wait - waited)))


def read_some(port: serial.SerialBase, limit: int = 4096) -> bytes:
    """Read what is waiting (at least one byte or the port's timeout); turn I/O failures into PortLost."""
    try:
        waiting = int(getattr(port, "in_waiting", 0))
        return bytes(port.read(min(max(waiting, 1), limit)))
    except (serial.SerialException, OSError) as exc:
        raise PortLost(f"console port failed while reading: {exc}") from None


def write_all(port: serial.SerialBase, data: bytes) -> None:
    try:
        port.write(data)
        port.flush()
    except (serial.SerialException, OSError) as exc:
        raise PortLost(f"console port failed while writing: {exc}") from None
