"""Console expect/death-string/log behaviour over pyserial's loop:// and a real pty."""

from __future__ import annotations

import os
import pty
import threading
from pathlib import Path

import pytest
import serial

from bootloader_model.errors import CallerError, ConsoleTimeout, DeathString, PortLost
from harness.board_link.console import Console
from harness.board_link.transport import open_port


def test_expect_moves_past_each_match_over_loop() -> None:
    port = open_port("loop://")
    con = Console(port)
    con.write(b"SYS_OTA_UPDATE_CHECK_START\r\nSYS_OTA_UPDATE_NOTAVAILABLE\r\n")
    assert con.expect("UPDATE_CHECK_START").group(0) == b"UPDATE_CHECK_START"
    i, _ = con.expect_any(["UPDATE_AVAILABLE\r", "NOTAVAILABLE"], timeout=1)
    assert i == 1
    with pytest.raises(ConsoleTimeout) as ei:
        con.expect("UPDATE_CHECK_START", timeout=0.1)
    assert "UPDATE_CHECK_START" in str(ei.value)
    assert con.lines() == ["SYS_OTA_UPDATE_CHECK_START", "SYS_OTA_UPDATE_NOTAVAILABLE"]


def test_timeout_message_shows_the_tail() -> None:
    con = Console(open_port("loop://"))
    con.write(b"file open error\n")
    with pytest.raises(ConsoleTimeout, match="file open error"):
        con.expect("BOOTLOADER Build", timeout=0.1)


def test_death_string_fails_at_once() -> None:
    con = Console(open_port("loop://"), death=["Broken Image"])
    con.write(b"Broken Image\n")
    with pytest.raises(DeathString, match="Broken Image"):
        con.expect("never", timeout=5)


def test_raw_log_is_timestamped(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    con = Console(open_port("loop://"), log=log)
    con.send_line("sysota get info")
    con.expect("info")
    con.close()
    text = log.read_text()
    assert "> b'sysota get info\\r'" in text and "< b'sysota get info\\r'" in text


def test_real_pty_round_trip_and_vanished_port() -> None:
    master, slave = pty.openpty()
    port = open_port(os.ttyname(slave))
    con = Console(port)

    def board() -> None:
        data = os.read(master, 100)
        os.write(master, b"echo:" + data)

    t = threading.Thread(target=board)
    t.start()
    con.send_line("ping")
    assert con.expect("echo:ping\r", timeout=5)
    t.join()
    os.close(master)  # the board side goes away, as when a USB serial adapter is pulled
    with pytest.raises(PortLost):
        con.expect("more", timeout=0.5)
    os.close(slave)


def test_opening_a_missing_port_is_a_caller_error() -> None:
    with pytest.raises(CallerError, match="cannot open console"):
        open_port("/dev/does-not-exist-otaloop")
    with pytest.raises(CallerError, match="empty console URL"):
        open_port(" ")
    assert issubclass(serial.SerialException, OSError)
