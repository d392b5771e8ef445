"""BoardDriver against an in-process virtual board: argument refusals and the console line limit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bootloader_model.board.virtual_board import VirtualBoard
from bootloader_model.errors import CallerError
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
