"""BoardDriver against an in-process virtual board: argument refusals, the console line limit, resets during a
command, the periodic service at rest, and pytest-embedded's expect/write."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest

from bootloader_model.board.virtual_board import VirtualBoard
from bootloader_model.errors import CallerError, ConsoleTimeout
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from harness.board_link.console import Console
from harness.board_link.driver import BoardDriver
from harness.served_board.runner import BoardRunner, VirtualPort


@pytest.fixture
def driver() -> Iterator[BoardDriver]:
    board = VirtualBoard()
    board.provision(
        build_app(AppDescriptor(version=1, periodic_check=False, manifest_url="http://127.0.0.1:9/o"), 20_000)
    )
    port = VirtualPort()
    with BoardRunner(board, port.link()) as runner:
        runner.call(lambda b: b.power_on())
        drv = BoardDriver(Console(port))
        assert drv.wait_boot().app_version == 1
        yield drv


def test_refused_arguments_are_caller_errors(driver: BoardDriver) -> None:
    with pytest.raises(CallerError, match="bad version"):
        driver.start_ota("http://127.0.0.1:9/a.bin", -1, "00")
    with pytest.raises(CallerError, match="over 80"):
        driver.start_ota("http://127.0.0.1:9/" + "a" * 60 + ".bin", 2, "0" * 64)
    with pytest.raises(CallerError, match="together"):
        driver.start_ota("http://127.0.0.1:9/a.bin")
    # The console is still in step: a normal command answers as usual.
    assert driver.status().version == 1


def test_line_limit_follows_the_firmware_build() -> None:
    board = VirtualBoard()
    desc = AppDescriptor(version=1, periodic_check=False, manifest_url="http://127.0.0.1:9/o", cmd_max_length=200)
    board.provision(build_app(desc, 20_000))
    port = VirtualPort()
    with BoardRunner(board, port.link()) as runner:
        runner.call(lambda b: b.power_on())
        drv = BoardDriver(Console(port), max_line=200)
        assert drv.wait_boot().app_version == 1
        # 123 characters: refused by an 80-character driver before sending; this build reads the line and
        # otactl answers (SUCCESS once the service is idle; an 80-character build would drop the line instead).
        answer = drv.start_ota("http://127.0.0.1:9/" + "a" * 20 + ".bin", 2, "0" * 64)
        assert answer in (True, False)
        assert b"buffer exceeded" not in drv.console.buffer
    with pytest.raises(CallerError, match="max_line"):
        BoardDriver(Console(VirtualPort()), max_line=0)


def _board(periodic: bool) -> VirtualBoard:
    board = VirtualBoard()
    desc = AppDescriptor(version=1, periodic_check=periodic, manifest_url="http://127.0.0.1:9/o")
    board.provision(build_app(desc, 20_000))
    return board


def test_status_survives_a_reset_that_swallows_the_command() -> None:
    port = VirtualPort()
    with BoardRunner(_board(periodic=False), port.link()) as runner:
        runner.call(lambda b: b.power_on())
        drv = BoardDriver(Console(port))
        drv.wait_boot()
        banners = drv.console.buffer.count(b"BOOTLOADER Build")
        for survived in (1, 2):
            # Power goes off; the command is typed into the unpowered board and lost; power returns meanwhile.
            runner.call(lambda b: b.power_off())
            threading.Timer(0.3, lambda: runner.call(lambda b: b.power_on())).start()
            status = drv.wait_idle(20) if survived == 2 else drv.status()
            assert (status.version, status.state) == (1, "SYS_OTA_STATE_IDLE")
            assert drv.resets_survived == survived
        assert drv.console.buffer.count(b"BOOTLOADER Build") == banners + 2
        # Every answer was read: the next command gets its own, and nothing is left over.
        assert drv.status().version == 1
        assert drv.console.buffer.count(b"otactl: state=") == 3
        assert not drv.console.buffer[drv.console.pos :].strip(b"\r\n>")


def test_wait_idle_takes_the_periodic_timer_wait_as_rest() -> None:
    # Factory configuration auto: periodic checking on, so the service never reaches IDLE by itself.
    port = VirtualPort()
    with BoardRunner(_board(periodic=True), port.link()) as runner:
        runner.call(lambda b: b.power_on())
        drv = BoardDriver(Console(port))
        drv.wait_boot()
        drv.console.expect(b"IP address obtained", 10)
        status = drv.wait_idle(10)
        assert status.state == "SYS_OTA_WAIT_FOR_OTA_TIMER_TRIGGER"
        assert not status.takes_control
        assert drv.check_update() is False  # refused there, as the service refuses every control message


def test_expect_and_write_as_pytest_embedded_has_them(driver: BoardDriver) -> None:
    driver.wait_idle(10)
    driver.write("otactl status")
    literal = driver.expect("state=SYS_OTA_STATE_IDLE", timeout=5)  # a str is matched literally
    assert literal.group(0) == b"state=SYS_OTA_STATE_IDLE"
    driver.write("otactl status")
    text = driver.expect(re.compile(r"version=(\d+)"), timeout=5)  # a str expression gives str groups
    assert text.group(1) == "1"
    driver.write("otactl status")
    raw = driver.expect(re.compile(rb"downloaded=(\d+)"), timeout=5)
    assert raw.group(1) == b"0"
    with pytest.raises(ConsoleTimeout) as caught:
        driver.expect("no such line (.*)", timeout=0.3)  # literal: the parentheses are not a group
    assert "no such line" in str(caught.value)
    assert caught.value.tail.endswith(b">")  # the console's tail: the prompt after the last answer
