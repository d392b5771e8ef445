"""Robustness of the whole virtual board under random use: the ``BoardStateMachine`` base plus three invariants.

The rules are the base's (power, cuts at random flash operations, console lines valid and garbage, control
messages also while a check or download runs, good and broken images and manifests, server faults, the
network, time passing); Harmony's hazards are tolerated here (``tests/test_fuzz_hazards.py`` finds them).
Invariants after every rule: a running healthy application with a live console answers ``otactl status``
with a well-formed line at once; every bootloader run ended in a jump, a reset, or a stuck loop with a
reason; boot control decodes and the DB either loads or reports a load status. The board never raising
out of its API is checked by every rule.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, settings
from hypothesis.stateful import invariant

from bootloader_model.board.virtual_board import AppState
from bootloader_model.bootloader.result import Outcome
from bootloader_model.formats import image_database
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, HEADER_SIZE, BootControl
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import FsError
from harness.fuzzing import HAZARDS, BoardStateMachine

STATUS = re.compile(rb"otactl: state=SYS_OTA_\w+ downloaded=\d+ total=\d+ version=\d+\r\n")


class RobustBoard(BoardStateMachine):
    tolerate = frozenset(HAZARDS)

    @invariant()
    def running_app_answers_status(self) -> None:
        board = self.board
        board.run_for(0.01)  # a pending reset or a crash happens first
        app = getattr(board, "_app", None)
        console = getattr(app, "console", None)
        if board.state is not AppState.RUNNING or console is None or console.stopped:
            return
        board.take_output()
        board.uart_rx(b"\r\r\rotactl status\r")  # end whatever half line or escape sequence is pending
        board.step(0.01)
        assert STATUS.search(board.take_output()), board.text[-400:]

    @invariant()
    def bootloader_runs_end_cleanly(self) -> None:
        for result in self.board.boots:
            assert result.outcome in (Outcome.JUMP, Outcome.RESET, Outcome.STUCK)
            if result.outcome is Outcome.STUCK:
                assert result.stuck_reason
        if self.board.state is AppState.BOOTLOADER_STUCK and self.board.boots:
            last = self.board.boots[-1]
            assert last.stuck_reason or last.outcome is Outcome.RESET  # a reset loop is reported as such

    @invariant()
    def boot_control_and_db_decode(self) -> None:
        BootControl.decode(self.board.internal.read(BOOT_CTL_PHYS, HEADER_SIZE))
        try:
            status, _ = image_database.load_db(ExternalFlash(self.board.external))
        except FsError:
            return  # an unmountable volume: the bootloader's mount retry handles it
        assert status in (image_database.LOAD_OK, image_database.LOAD_NOT_FOUND, image_database.LOAD_READ_HANG)


RobustBoard.TestCase.settings = settings(
    max_examples=50,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRobustBoard = RobustBoard.TestCase
