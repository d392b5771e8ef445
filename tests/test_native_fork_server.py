"""The native helper as a fork server: one set-up, one forked child per boot, RAM lost between boots, no
descriptor or process left behind, and the first touch of each flash block reported as a read."""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path

import pytest

from bootloader_model.board.virtual_board import AppState, BoardConfig, VirtualBoard
from bootloader_model.bootloader.result import Outcome
from bootloader_model.errors import BoardError
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS
from bootloader_model.storage.nor_flash import FaultPlan
from harness.native import protocol
from harness.native.bootloader_program import NativeProgram, close_servers
from harness.native.programs import bootloader_from_spec

URL = "http://127.0.0.1:9/ota.json"


def _board(cache: Path) -> VirtualBoard:
    board = VirtualBoard(BoardConfig(bootloader=bootloader_from_spec(f"native:{cache}"), timed_flash=False))
    board.provision(build_app(AppDescriptor(version=1, manifest_url=URL), 16 * 1024))
    return board


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _serves(pid: int, build: Path) -> bool:
    """Whether process ``pid`` is a fork server of the build in ``build``."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"--serve" in argv and any(arg.startswith(str(build).encode()) for arg in argv)


def _children() -> set[int]:
    me = str(os.getpid())
    found = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[1] == me:
                found.add(int(pid))
    return found


def test_many_boots_leave_no_descriptor_and_no_process(example: Path) -> None:
    close_servers()
    fds_before, children_before = _fds(), _children()
    board = _board(example)
    board.power_on()  # the first boot starts the server (its socket, shared memory and stderr pipe)
    assert board.state is AppState.RUNNING
    with_server = _fds()
    assert len(with_server) > len(fds_before)
    for i in range(60):
        board = _board(example)
        if i % 3 == 0:
            board.arm_cut("external", FaultPlan(5 * (i % 7)))  # power cuts: the host kills the child mid-boot
        board.power_on()
        if i % 3 == 0:
            assert board.last_cut is not None
    assert _fds() == with_server
    assert len(_children() - children_before) == 1  # the server; every boot's child is gone
    close_servers()
    assert _fds() == fds_before
    assert _children() == children_before


def test_each_boot_starts_with_fresh_ram(example: Path) -> None:
    # The first power-up backs the factory image up and resets (a static "backed up" flag would survive
    # into the next child if RAM were kept); a second board after it must do exactly the same, and so
    # must a board whose first boot was cut in the middle of the backup.
    board = _board(example)
    board.power_on()
    assert [b.outcome for b in board.boots] == [Outcome.RESET, Outcome.JUMP]
    cut = _board(example)
    cut.arm_cut("external", FaultPlan(20))
    cut.power_on()
    assert cut.last_cut is not None
    again = _board(example)
    again.power_on()
    assert [b.outcome for b in again.boots] == [Outcome.RESET, Outcome.JUMP]
    assert again.text == board.text


def test_a_killed_server_is_started_again(example: Path) -> None:
    board = _board(example)
    board.power_on()
    # this build's server (other tests' servers may live on in this process)
    (server,) = [pid for pid in _children() if _serves(pid, example)]
    os.kill(server, signal.SIGKILL)
    with pytest.raises(BoardError, match=r"native helper .* ended"):
        _board(example).power_on()
    board = _board(example)
    board.power_on()  # a new server
    assert board.state is AppState.RUNNING
    close_servers()


def test_first_touches_reach_the_read_observer(example: Path) -> None:
    program = NativeProgram(example)
    board = _board(example)
    board.power_on()  # the first power-up's backup done: the next boot verifies and jumps
    board.power_off()
    reads: list[tuple[str, int, int]] = []
    board.internal.read_observer = lambda address, length: reads.append(("internal", address, length))
    res = program.boot(board.internal, board.external, lambda _: None)
    assert res.outcome is Outcome.JUMP
    blocks = {a for device, a, n in reads if device == "internal" and n == 4096}
    assert BOOT_CTL_PHYS in blocks  # the bootloader reads boot control through the mapping
    assert all(a % 4096 == 0 for a in blocks)
    assert len(blocks) < 256  # only what it touched, not the whole flash


def test_messages_are_parsed_out_of_reads_that_split_them() -> None:
    # The helper writes many messages at a time; a read may end inside a header or a payload.
    sent = [(protocol.MSG_PROGRAM, 0, 0x9000_0000 + i, bytes([i]) * (i * 37 % 300)) for i in range(40)]
    sent.append((protocol.MSG_END, protocol.END_JUMP, 0x9000_1000, b""))
    wire = b"".join(protocol.HEADER.pack(k, a, b, len(p)) + p for k, a, b, p in sent)
    for chunk in (1, 7, 16, 17, 4096):
        reader = protocol.MessageReader(io.BufferedReader(io.BytesIO(wire)), chunk=chunk)
        assert [reader.next() for _ in sent] == sent
        with pytest.raises(EOFError):
            reader.next()
    cut = protocol.MessageReader(io.BufferedReader(io.BytesIO(wire[:-3])), chunk=5)  # a power cut mid-message
    assert [cut.next() for _ in sent[:-1]] == sent[:-1]
    with pytest.raises(EOFError):
        cut.next()
