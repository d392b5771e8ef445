"""The virtual UART links carry raw bytes to pyserial clients over a real pty and real TCP."""

from __future__ import annotations

import os
import time

import pytest

from bootloader_model.errors import CallerError
from harness.board_link.transport import open_port
from harness.served_board.uart_link import PtyLink, TcpLink, open_link


def pump(link, want: bytes, limit: float = 5.0) -> bytes:  # type: ignore[no-untyped-def]
    got = b""
    end = time.monotonic() + limit
    while want not in got and time.monotonic() < end:
        link.wait(0.05)
        got += link.read()
    return got


@pytest.mark.parametrize("spec", ["pty", "tcp:0"])
def test_bytes_pass_untouched_both_ways(spec: str) -> None:
    link = open_link(spec)
    try:
        port = open_port(link.url, timeout=0.1)
        if isinstance(link, TcpLink):
            end = time.monotonic() + 5
            while not link.connected and time.monotonic() < end:
                link.wait(0.05)
            assert link.connected
        port.write(b"reset\r\n\x00\xff")
        assert pump(link, b"\xff") == b"reset\r\n\x00\xff"  # raw: no CR/LF translation, no echo
        link.write(b"\nBOOTLOADER Build Nov 26 2026 16:13:00\r\n")
        data = b""
        end = time.monotonic() + 5
        while b"16:13:00\r\n" not in data and time.monotonic() < end:
            data += port.read(100)
        assert data == b"\nBOOTLOADER Build Nov 26 2026 16:13:00\r\n"
        port.close()
    finally:
        link.close()


def test_pty_output_without_a_reader_is_dropped_not_blocking() -> None:
    link = PtyLink()
    try:
        written = 200 * 4096
        for _ in range(200):
            link.write(b"x" * 4096)  # far more than the pty buffer holds; must neither block nor raise
        fd = os.open(link.url, os.O_RDONLY | os.O_NONBLOCK)  # raw read: pyserial would flush on open
        kept = b""
        try:
            while chunk := os.read(fd, 65536):
                kept += chunk
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
        assert 0 < len(kept) < written and set(kept) == {ord("x")}  # the overflow was dropped
    finally:
        link.close()


@pytest.mark.parametrize("spec", ["serial", "tcp:", "tcp:99999", "tcp:abc"])
def test_bad_console_specs_are_caller_errors(spec: str) -> None:
    with pytest.raises(CallerError, match="bad console"):
        open_link(spec)
