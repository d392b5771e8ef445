"""VirtualBoard.printed_at: the board time at which each transcript byte was printed."""

from __future__ import annotations

from bootloader_model.board.virtual_board import VirtualBoard
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app


def test_printed_at_follows_the_virtual_clock() -> None:
    board = VirtualBoard()
    board.provision(build_app(AppDescriptor(version=1, manifest_url="http://127.0.0.1:1/ota.json"), 16384))
    board.power_on()
    board.run_until(lambda: b"IP address obtained" in board.transcript, 300)
    text = bytes(board.transcript)
    second_banner = text.index(b"BOOTLOADER", 5)
    app = text.index(b"APP: version 1")
    ip = text.index(b"SYS OTA : IP address")
    assert board.printed_at(0) == 0.0  # the first banner: power on at t = 0
    # The factory backup takes flash time; the second banner and the app line come after it, together.
    assert board.printed_at(second_banner) == board.printed_at(app) > 1.0
    # The IP line comes on the service's first 1 ms tick after the network delay.
    delay = board.printed_at(ip) - board.printed_at(app)  # type: ignore[operator]
    assert board.config.network_delay_s <= delay <= board.config.network_delay_s + 0.002
    assert board.printed_at(len(text)) is None and board.printed_at(-1) is None
