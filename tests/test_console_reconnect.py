"""A console that survives its port vanishing: a pty behind a stable symlink that goes away and comes back
(as a USB CDC port re-enumerates), a ``socket://`` peer that restarts, and a port that never returns."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import socket
import struct
import termios
import threading
import time
import tty
from pathlib import Path

import pytest

from bootloader_model.errors import PortLost
from harness.board_link.console import Console
from harness.board_link.transport import open_port


def _pty_behind(link: Path) -> tuple[int, int]:
    master, slave = pty.openpty()
    tty.setraw(slave)
    tmp = link.with_name(link.name + ".new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(os.ttyname(slave))
    os.replace(tmp, link)
    return master, slave


def _wait_for_open_and_flush(master: int) -> None:
    """Block until a host has opened the slave and flushed its input (pyserial does at open)."""
    fcntl.ioctl(master, termios.TIOCPKT, struct.pack("i", 1))
    while True:
        select.select([master], [], [], 0.05)
        try:
            packet = os.read(master, 64)
        except OSError:  # EIO: nobody has the slave open yet
            time.sleep(0.01)
            continue
        if packet[:1] != b"\x00" and packet[0] & termios.TIOCPKT_FLUSHREAD:
            return


def test_console_reopens_a_vanished_pty_link_and_keeps_expecting(tmp_path: Path) -> None:
    link = tmp_path / "board.tty"
    log = tmp_path / "console.log"
    master, slave = _pty_behind(link)
    con = Console(open_port(str(link)), url=str(link), reconnect=10, log=log)
    os.write(master, b"SYS_OTA_DOWNLOAD_START\r\nhalf a li")
    con.expect("SYS_OTA_DOWNLOAD_START", timeout=5)
    con.drain(quiet=0.1)
    os.close(master)  # power off: the port disappears ...
    os.close(slave)
    link.unlink()
    fds: list[int] = []

    def power_on() -> None:
        time.sleep(0.2)
        m2, s2 = _pty_behind(link)  # ... and power on: a new device node behind the same path
        os.close(s2)
        fds.append(m2)
        _wait_for_open_and_flush(m2)
        os.write(m2, b"\r\nBOOTLOADER Build Jan  1 2026 00:00:00\r\n")

    t = threading.Thread(target=power_on)
    t.start()
    try:
        con.expect("BOOTLOADER Build", timeout=10)
    finally:
        t.join()
        for fd in fds:
            os.close(fd)
    assert len(con.gaps) == 1
    gap = con.gaps[0]
    assert gap.offset == len(b"SYS_OTA_DOWNLOAD_START\r\nhalf a li")  # the gap sits where the bytes stopped
    assert gap.waited > 0
    # Nothing was invented: the buffer holds exactly the bytes the two ptys delivered.
    assert bytes(con.buffer) == b"SYS_OTA_DOWNLOAD_START\r\nhalf a li\r\nBOOTLOADER Build Jan  1 2026 00:00:00\r\n"
    con.close()
    text = log.read_text()
    assert f"-- port {link} lost (" in text
    assert f"-- port {link} was gone for " in text and "what the board sent meanwhile was not received" in text


def test_a_port_that_never_comes_back_raises_port_lost_naming_url_and_wait(tmp_path: Path) -> None:
    link = tmp_path / "board.tty"
    master, slave = _pty_behind(link)
    con = Console(open_port(str(link)), url=str(link), reconnect=0.5)
    os.close(master)
    os.close(slave)
    link.unlink()
    with pytest.raises(PortLost) as err:
        con.expect("BOOTLOADER Build", timeout=30)
    msg = str(err.value)
    assert str(link) in msg and "did not come back within 0.5 s" in msg
    assert con.gaps == []


def test_without_a_reconnect_wait_a_vanished_port_fails_at_once(tmp_path: Path) -> None:
    link = tmp_path / "board.tty"
    master, slave = _pty_behind(link)
    con = Console(open_port(str(link)), url=str(link))
    os.close(master)
    os.close(slave)
    with pytest.raises(PortLost, match="failed while reading"):
        con.expect("BOOTLOADER Build", timeout=30)


def test_write_to_a_vanished_port_goes_to_the_port_that_comes_back(tmp_path: Path) -> None:
    link = tmp_path / "board.tty"
    master, slave = _pty_behind(link)
    con = Console(open_port(str(link)), url=str(link), reconnect=10)
    os.close(master)
    os.close(slave)
    m2, s2 = _pty_behind(link)
    try:
        con.send_line("otactl status")
        assert os.read(m2, 100) == b"otactl status\r"
    finally:
        os.close(m2)
        os.close(s2)
    assert len(con.gaps) == 1


def test_socket_peer_restart_is_survived() -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    url = f"socket://127.0.0.1:{port}"
    con = Console(open_port(url), url=url, reconnect=10)
    peer, _ = listener.accept()
    peer.sendall(b"APP: version 1\r\n")
    con.expect("APP: version 1", timeout=5)
    peer.close()  # the ser2net-like peer restarts: connection dropped ...
    listener.close()
    restarted = threading.Event()
    got: list[socket.socket] = []

    def restart() -> None:
        time.sleep(0.2)
        again = socket.socket()
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))  # ... and listens again on the same port
        again.listen(1)
        conn, _ = again.accept()
        conn.sendall(b"APP: version 2\r\n")
        got.extend((again, conn))
        restarted.set()

    t = threading.Thread(target=restart)
    t.start()
    try:
        con.expect("APP: version 2", timeout=10)
    finally:
        t.join()
        for s in got:
            s.close()
    assert restarted.is_set() and len(con.gaps) == 1
