"""Misusing the public Python API gets a CallerError that says what was wrong, never a raw Python error."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from bootloader_model.board.virtual_board import AppState, BoardConfig, VirtualBoard
from bootloader_model.bootloader import Bootloader, BootResult
from bootloader_model.bootloader.program import ModelProgram
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
        (lambda: VirtualBoard().arm_moment_cut("APP", "0.3"), "delay_s must be a number"),  # type: ignore[arg-type]
        (lambda: VirtualBoard().arm_moment_cut("APP", float("nan")), "delay_s must be finite"),
        (lambda: VirtualBoard().arm_moment_cut("", 0.3), "pattern to cut after is empty"),
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


# ------------------------------------------------------------------------- BoardConfig, checked on the value
class _Program:
    """The smallest object a board takes as its bootloader: a label and a boot."""

    label = "stub"

    def boot(self, internal: NorFlash, external: NorFlash, console: Callable[[bytes], None]) -> BootResult:
        return ModelProgram().boot(internal, external, console)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("profile", "corrected", r"a QuirkProfile .*QuirkProfile\.named\('corrected'\)"),
        ("profile", None, "a QuirkProfile"),
        ("ext_size", "2M", "'4M' or '8M'"),
        ("ext_size", 4, "'4M' or '8M'"),
        ("network", "internet", "'loopback' or 'open'"),
        ("network", None, "'loopback' or 'open'"),
        ("transcript_window", 0, "a positive whole number of bytes"),
        ("transcript_window", -5, "a positive whole number of bytes"),
        ("transcript_window", 1.5, "a positive whole number of bytes"),
        ("transcript_window", True, "a positive whole number of bytes"),
        ("network_delay_s", -0.1, "a finite number of virtual seconds >= 0"),
        ("network_delay_s", NAN, "a finite number of virtual seconds >= 0"),
        ("network_delay_s", "1.5", "a finite number of virtual seconds >= 0"),
        ("crash_delay_s", INF, "a finite number of virtual seconds >= 0"),
        ("crash_delay_s", -1, "a finite number of virtual seconds >= 0"),
        ("network_patience_s", -INF, "a finite number of wall seconds >= 0"),
        ("network_patience_s", False, "a finite number of wall seconds >= 0"),
        ("timed_flash", 1, "True or False"),
        ("timed_flash", "yes", "True or False"),
        ("build_stamp", "Nov 26 2026 16:13:00", r"a pair of strings \(date, time\)"),
        ("build_stamp", ("Nov 26 2026",), r"a pair of strings \(date, time\)"),
        ("build_stamp", ("Nov 26 2026", 1613), r"a pair of strings \(date, time\)"),
        ("bootloader_variant", "wolfssl", "'wolfcrypt' or 'trustflex'"),
        ("bootloader_variant", None, "'wolfcrypt' or 'trustflex'"),
        ("bootloader", 5, r"None \(the Python model\) or a BootProgram"),
        ("bootloader", "model", r"None \(the Python model\) or a BootProgram"),
        ("bootloader", "native:/tmp/cache", r"None \(the Python model\) or a BootProgram"),
        ("bootloader", object(), r"None \(the Python model\) or a BootProgram"),
        ("application", 5, r"None \(the Python model\) or an ApplicationProgram"),
        ("application", "native:/tmp/cache", r"None \(the Python model\) or an ApplicationProgram"),
    ],
)
def test_a_bad_config_field_is_a_caller_error_naming_field_value_and_choices(
    field: str, value: object, accepted: str
) -> None:
    with pytest.raises(CallerError) as raised:
        BoardConfig(**{field: value})  # type: ignore[arg-type]
    message = str(raised.value)
    assert message.startswith(f"BoardConfig.{field} must be ")
    assert re.search(accepted, message), message
    assert f"not {value!r}" in message


@pytest.mark.parametrize("value", [5, "model", "native:CACHE"])
def test_a_bootloader_that_is_not_a_program_points_to_bootloader_from_spec(value: object) -> None:
    with pytest.raises(CallerError, match=r"harness\.native\.programs\.bootloader_from_spec turns text"):
        BoardConfig(bootloader=value)  # type: ignore[arg-type]


def test_a_program_without_a_callable_boot_is_refused() -> None:
    class NoBoot:
        label = "stub"
        boot = "not callable"

    with pytest.raises(CallerError, match=r"BoardConfig\.bootloader must be"):
        BoardConfig(bootloader=NoBoot())  # type: ignore[arg-type]


def test_every_accepted_edge_value_makes_a_board() -> None:
    program = _Program()
    cfg = BoardConfig(
        profile=CORRECTED,
        ext_size="8M",
        build_stamp=["Jan  1 2030", "00:00:00"],  # type: ignore[arg-type]
        bootloader_variant="trustflex",
        network_delay_s=0,
        crash_delay_s=0.0,
        timed_flash=False,
        network="open",
        transcript_window=1,
        network_patience_s=0.25,
        bootloader=program,
    )
    assert cfg.build_stamp == ("Jan  1 2030", "00:00:00")  # held as a tuple
    board = VirtualBoard(cfg)
    assert board.bootloader is program and board.external.geometry.size == 8 << 20
    board.provision(APP)
    board.power_on()
    assert board.state is AppState.RUNNING


def test_a_config_cannot_be_changed_after_it_was_checked() -> None:
    cfg = BoardConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.network = "internet"  # type: ignore[misc]
    assert dataclasses.replace(cfg, network="open").network == "open"
    with pytest.raises(CallerError, match=r"BoardConfig\.network"):
        dataclasses.replace(cfg, network="internet")


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
