"""Whatever is typed, the board holds a bounded amount of memory.

UART1 has a 128-byte receive ring; bytes arriving while it is full are lost, as on the board. The console
output the board keeps for hosts (``transcript``, ``print_times``) is a window of the latest bytes, and the
records of boots and events keep the latest entries. Bounds are checked on the data structures, after
flooding a real pty with command lines and with 64 KiB chunks that hold no line end."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from bootloader_model.application.model import ModelRun
from bootloader_model.board import virtual_board
from bootloader_model.board.virtual_board import TRANSCRIPT_WINDOW, UART_RX_BYTES, BoardConfig, VirtualBoard
from bootloader_model.errors import CallerError
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from harness.board_link.console import Console
from harness.board_link.transport import open_port
from harness.served_board.runner import BoardRunner
from harness.served_board.uart_link import PtyLink

FLOOD = 4 << 20  # bytes typed: four times the transcript window


def _board() -> VirtualBoard:
    board = VirtualBoard()
    # No periodic check: the console is the only thing printing.
    board.provision(build_app(AppDescriptor(version=1, periodic_check=False), 8192))
    return board


@pytest.fixture
def served() -> Iterator[tuple[VirtualBoard, BoardRunner, Console]]:
    board = _board()
    pty = PtyLink()
    port = open_port(pty.url)
    runner = BoardRunner(board, pty)
    runner.call(lambda b: b.power_on())
    runner.start()
    try:
        con = Console(port)
        con.expect(b"IP address obtained", 30)
        yield board, runner, con
    finally:
        runner.stop()
        port.close()
        pty.close()


@pytest.mark.parametrize(
    "chunk", [b"otactl status\r" * 4681, b"x" * 65536], ids=["status-lines", "64KiB-without-newline"]
)
def test_a_console_flood_over_a_pty_keeps_memory_bounded(
    served: tuple[VirtualBoard, BoardRunner, Console], chunk: bytes
) -> None:
    _, runner, con = served
    reader_stop = threading.Event()

    def read_everything() -> None:  # a terminal that reads what the board prints, keeping none of it
        while not reader_stop.is_set():
            con.port.read(65536)

    def flood() -> None:
        sent = 0
        while sent < FLOOD:
            con.port.write(chunk)
            sent += len(chunk)

    reader = threading.Thread(target=read_everything, daemon=True)
    writer = threading.Thread(target=flood, daemon=True)
    reader.start()
    writer.start()
    writer.join(timeout=300)  # a hung board fails here
    assert not writer.is_alive()
    reader_stop.set()
    reader.join(timeout=10)

    def sizes(b: VirtualBoard) -> tuple[int, int, int, int, int, int]:
        return len(b.transcript), len(b.print_times), len(b._rx), len(b._out), b.printed, b.uart_overruns

    transcript, times, rx, out, printed, overruns = runner.call(sizes)
    assert transcript <= TRANSCRIPT_WINDOW + TRANSCRIPT_WINDOW // 4
    assert times <= transcript + 1 and rx <= UART_RX_BYTES and out <= TRANSCRIPT_WINDOW
    assert overruns > 0  # the receive ring overflowed: what it could not hold was lost
    # The board still answers, and knows when its latest bytes were printed (not the trimmed ones).
    con.buffer.clear()
    con.pos = 0
    con.send_line("")
    con.send_line("otactl status")
    con.expect(b"otactl: state=", 30)
    assert runner.call(lambda b: b.printed_at(b.printed - 1)) is not None
    if printed > TRANSCRIPT_WINDOW + TRANSCRIPT_WINDOW // 4:
        assert runner.call(lambda b: b.printed_at(0)) is None


def test_the_receive_ring_keeps_127_bytes_and_counts_the_rest() -> None:
    board = _board()
    board.power_on()
    assert board.run_until(lambda: b"IP address obtained" in board.transcript, 30)
    board.uart_rx(b"otactl status\r" + b"y" * 500)
    assert len(board._rx) == UART_RX_BYTES and board.uart_overruns == 14 + 500 - UART_RX_BYTES
    board.step(0.05)  # the console task empties the ring
    assert board._rx == b"" and b"otactl: state=" in board.transcript


def test_transcript_window_and_records_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(virtual_board, "KEEP_RECORDS", 5)
    board = VirtualBoard(BoardConfig(transcript_window=1024))
    board.provision(build_app(AppDescriptor(version=1, periodic_check=False), 8192))
    board.power_on()
    first = board.event_count
    for _ in range(30):  # each reset: a boot, a banner, events
        board.uart_rx(b"reset\r")
        board.run_for(3)
    assert len(board.boots) <= 10 and len(board.history) <= 10
    assert board.event_count >= first + 30 * 3 and board.events_since(board.event_count) == []
    assert board.events_since(board.event_count - 2) == board.history[-2:]
    assert len(board.transcript) <= 1024 + 256 < board.printed
    assert board.printed_at(0) is None and board.printed_at(board.printed - 1) is not None
    assert board.text.endswith(bytes(board.transcript).decode("utf-8", "replace"))
    with pytest.raises(CallerError, match="transcript_window"):
        VirtualBoard(BoardConfig(transcript_window=0))


def test_a_line_longer_than_the_receive_ring_is_typed_in_echoed_pieces(
    served: tuple[VirtualBoard, BoardRunner, Console],
) -> None:
    """Sent at once, a 200-byte line would lose its tail in the 127-byte ring; send_line paces it by the echo.

    The board's line buffer is widened, as firmware built with a larger SYS_CMD_MAX_LENGTH has it."""
    board, runner, con = served
    run = board.app_run
    assert isinstance(run, ModelRun)
    run.console.max_length = 256  # as an app descriptor with cmd_max_length=256 sets it
    url = "http://127.0.0.1:9/" + "d" * 60 + ".bin"
    line = f"otactl start {url} 7 {'ab' * 32}"  # 171 bytes
    assert len(line) > 127
    before = runner.call(lambda b: b.uart_overruns)
    con.send_line(line)
    con.expect(line.encode() + b"\r\n", 30)  # the whole line was echoed, then ended
    con.expect(b"otactl: SYS_OTA_", 30)  # and answered as one command
    assert runner.call(lambda b: b.uart_overruns) == before
