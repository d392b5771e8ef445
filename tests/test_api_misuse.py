"""Misusing the public Python API gets a CallerError that says what was wrong, never a raw Python error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bootloader_model.board.virtual_board import BoardConfig, VirtualBoard
from bootloader_model.bootloader import Bootloader
from bootloader_model.errors import CallerError
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from bootloader_model.quirks import CORRECTED
from bootloader_model.storage.external_flash import new_external
from bootloader_model.storage.nor_flash import PIC32MZ1025W104132, FaultPlan, NorFlash

APP = build_app(AppDescriptor(periodic_check=False, manifest_url="http://127.0.0.1:9/o"), 20_000)


def _running() -> VirtualBoard:
    board = VirtualBoard()
    board.provision(APP)
    board.power_on()
    return board


def _bootloader(*args: object) -> Callable[[], object]:
    return lambda: Bootloader(NorFlash(PIC32MZ1025W104132), new_external("4M"), *args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: VirtualBoard("x"), "BoardConfig"),  # type: ignore[arg-type]
        (lambda: VirtualBoard(BoardConfig(profile="corrected")), "QuirkProfile"),  # type: ignore[arg-type]
        (lambda: _running().uart_rx("help\r"), "bytes"),  # type: ignore[arg-type]
        (lambda: VirtualBoard().uart_rx("help\r"), "bytes"),  # type: ignore[arg-type]
        (_bootloader(42), "QuirkProfile"),
        (_bootloader("nonsense"), "nonsense"),
        (lambda: Bootloader("flash", new_external("4M")), "NorFlash"),  # type: ignore[arg-type]
        (lambda: _running().step(float("nan")), "finite"),
        (lambda: _running().step(-1.0), ">= 0"),
        (lambda: _running().step(1.0, speed=0), "speed"),
        (lambda: _running().run_for(float("inf")), "finite"),
        (lambda: _running().run_until(lambda: False, float("nan")), "finite"),
        (lambda: _running().run_until("done", 1.0), "callable"),  # type: ignore[arg-type]
        (lambda: VirtualBoard().provision("factory.bin"), "bytes"),  # type: ignore[arg-type]
        (lambda: VirtualBoard().provision(None), "bytes"),  # type: ignore[arg-type]
        (lambda: VirtualBoard().set_network("up"), "True or False"),  # type: ignore[arg-type]
        (lambda: VirtualBoard().save(None), r"save's state_dir must be a directory path \(str or os.PathLike\)"),  # type: ignore[arg-type]
        (lambda: VirtualBoard().save(""), "save's state_dir must be a directory path"),
        (lambda: VirtualBoard().load(None), "load's state_dir must be a directory path"),  # type: ignore[arg-type]
        (lambda: VirtualBoard.has_state(None), "has_state's state_dir must be a directory path"),  # type: ignore[arg-type]
        (lambda: _running().printed_at("x"), r"printed_at's offset must be a byte offset \(int\)"),  # type: ignore[arg-type]
        (lambda: _running().events_since("x"), "events_since's count must be a whole number >= 0"),  # type: ignore[arg-type]
        (lambda: _running().events_since(-1), "events_since's count must be a whole number >= 0"),
        (lambda: VirtualBoard().arm_cut("external", 5), "arm_cut's plan must be a FaultPlan"),  # type: ignore[arg-type]
        (lambda: VirtualBoard().arm_cut(["external"], FaultPlan(5)), "unknown flash"),  # type: ignore[arg-type]
        (lambda: NorFlash(PIC32MZ1025W104132).arm(5), "arm takes a FaultPlan or None"),  # type: ignore[arg-type]
        (lambda: FaultPlan("5"), "op index must be a whole number"),  # type: ignore[arg-type]
        (lambda: FaultPlan(5, "sideways"), "mode must be before, after or torn"),  # type: ignore[arg-type]
    ],
)
def test_misuse_is_a_caller_error(call: Callable[[], object], match: str) -> None:
    with pytest.raises(CallerError, match=match):
        call()


def test_bootloader_takes_a_profile_name_too() -> None:
    assert _bootloader("corrected")().profile == CORRECTED  # type: ignore[attr-defined]


def test_provision_takes_any_bytes_like_object() -> None:
    board = VirtualBoard()
    board.provision(memoryview(APP))
    other = VirtualBoard()
    other.provision(bytearray(APP))
    assert board.internal.read(0x1002_0000, len(APP)) == other.internal.read(0x1002_0000, len(APP)) == APP


def test_save_onto_a_file_is_a_caller_error(tmp_path: Path) -> None:
    target = tmp_path / "state"
    target.write_text("not a directory")
    with pytest.raises(CallerError, match="not a directory"):
        VirtualBoard().save(target)
    assert target.read_text() == "not a directory"


def test_load_of_a_missing_state_is_a_caller_error(tmp_path: Path) -> None:
    with pytest.raises(CallerError, match="cannot read flash image"):
        VirtualBoard().load(tmp_path / "nowhere")


def test_a_refused_cut_plan_leaves_the_board_working() -> None:
    # arm_cut('external', 5) used to be taken and to crash at the next flash operation; refused, it arms
    # nothing and the board boots as before.
    board = VirtualBoard()
    board.provision(APP)
    with pytest.raises(CallerError):
        board.arm_cut("external", 5)  # type: ignore[arg-type]
    assert board.external.plan is None
    board.power_on()
    assert board.boots[0].factory_backup
