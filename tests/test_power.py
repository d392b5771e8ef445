"""CommandPower runs real commands and reports their failures clearly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bootloader_model.errors import BoardError, CallerError
from harness.board_link.power import CommandPower


def test_on_off_cycle_run_the_commands(tmp_path: Path) -> None:
    log = tmp_path / "power.log"
    py = sys.executable
    on = f"{py} -c \"open(r'{log}','a').write('on\\n')\""
    off = f"{py} -c \"open(r'{log}','a').write('off\\n')\""
    p = CommandPower(on, off)
    p.on()
    p.cycle(off_time=0)
    assert log.read_text().split() == ["on", "off", "on"]


def test_failing_command_is_a_board_error_with_its_message() -> None:
    p = CommandPower(f"{sys.executable} -c \"import sys; sys.exit('relay 2 not found')\"", "true")
    with pytest.raises(BoardError, match=r"exit 1.*relay 2 not found"):
        p.on()


def test_missing_command_and_empty_command_are_caller_errors() -> None:
    with pytest.raises(CallerError, match="not found"):
        CommandPower("/nonexistent/relayctl on", "true").on()
    with pytest.raises(CallerError):
        CommandPower("", "true")
