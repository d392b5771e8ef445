"""The virtual board's own behaviour: what runs after the jump, resets, power cuts, state, network policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bootloader_model.board.virtual_board import AppState, BoardConfig, VirtualBoard, provisioned_board
from bootloader_model.errors import CallerError
from bootloader_model.formats.app_descriptor import AppDescriptor, Behaviour
from bootloader_model.formats.app_image import build_app
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, BootControl
from bootloader_model.storage.nor_flash import CutMode, FaultPlan
from harness.image.server import ImageServer

SIZE = 40_000


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with ImageServer() as srv:
        yield srv


def app(version: int, server: ImageServer | None = None, **opts: object) -> bytes:
    url = server.url("/ota.json") if server else "http://127.0.0.1:9/ota.json"
    return build_app(AppDescriptor(version=version, manifest_url=url, **opts), SIZE)  # type: ignore[arg-type]


def booted(factory: bytes, **cfg: object) -> VirtualBoard:
    board = VirtualBoard(BoardConfig(**cfg))  # type: ignore[arg-type]
    board.provision(factory)
    board.power_on()
    return board


def test_first_boot_backs_up_the_factory_image_then_runs_it() -> None:
    board = booted(app(1, periodic_check=False))
    assert board.state is AppState.RUNNING
    assert board.text.count("BOOTLOADER Build Nov 26 2026 16:13:00") == 2  # backup, software reset, boot
    assert board.text.endswith("APP: version 1\r\n")
    assert [b.outcome.value for b in board.boots if b.outcome] == ["reset", "jump"]
    assert board.boots[0].factory_backup


def test_healthy_app_brings_up_the_network_and_answers_commands() -> None:
    board = booted(app(1, periodic_check=False))
    assert board.run_until(lambda: b"IP address obtained" in board.transcript, 10)
    board.run_for(0.5)  # the core finishes its boot-time init; the service parks in STATE_IDLE
    board.take_output()
    board.uart_rx(b"otactl status\r")
    board.run_for(0.01)
    assert board.take_output() == (
        b"otactl status\r\notactl: state=SYS_OTA_STATE_IDLE downloaded=0 total=0 version=1\r\n>"
    )


def test_reset_command_reboots_through_the_bootloader() -> None:
    board = booted(app(1, periodic_check=False))
    board.take_output()
    board.uart_rx(b"reset\r")
    board.run_for(0.5)
    out = board.take_output()
    assert out.startswith(b"reset\r\n\r\n *** System Reboot ***\r\n>")
    assert b"\nBOOTLOADER Build Nov 26 2026 16:13:00\r\nAPP: version 1\r\n" in out
    assert [e.kind for e in board.history].count("software-reset") == 1


def test_hang_at_boot_is_silent_and_ignores_input() -> None:
    board = booted(app(1, behaviour=Behaviour.HANG_AT_BOOT))
    assert board.state is AppState.HUNG
    board.take_output()
    board.uart_rx(b"otactl status\r")
    board.run_for(5)
    assert board.take_output() == b""


def test_crash_at_boot_resets_again_and_again() -> None:
    board = booted(app(1, behaviour=Behaviour.CRASH_AT_BOOT), crash_delay_s=0.1)
    board.run_for(1.0)
    banners = board.text.count("BOOTLOADER Build")
    assert banners >= 5  # first boot backup + one reboot per crash
    assert "APP: version" not in board.text


def test_garbage_in_internal_flash_behaves_like_garbage_code() -> None:
    board = VirtualBoard()
    board.provision(app(1))
    # Corrupt one byte of the application body after provisioning: the descriptor's body CRC fails.
    addr = BOOT_CTL_PHYS + 0x3000
    board.internal.program(addr, bytes(8))
    board.power_on()
    assert board.state is AppState.SILENT
    assert "APP: version" not in board.text
    assert any(e.kind == "app-invalid" for e in board.history)


def test_power_cut_turns_the_board_off_and_keeps_flash(tmp_path: Path) -> None:
    board = VirtualBoard()
    board.provision(app(1))
    board.arm_cut("external", FaultPlan(40, CutMode.AFTER))  # during the first-boot factory backup
    board.power_on()
    assert board.state is AppState.OFF and board.last_cut is not None
    assert board.last_cut.fault_id == "op40:after"
    # Status was never set: the next power-on repeats the whole backup, as the spec predicts.
    assert BootControl.decode(board.internal.read(BOOT_CTL_PHYS, 256)).status == 0xFF
    board.power_on()
    assert board.state is AppState.RUNNING and board.boots[-2].factory_backup


def test_state_round_trip_keeps_the_installed_image(tmp_path: Path, server: ImageServer) -> None:
    url, digest = server.put_image("app_v2.bin", app(2, server))
    server.put_manifest(2, url, digest)
    board = booted(app(1, server, interval_s=5))
    assert board.run_until(lambda: b"APP: version 2" in board.transcript, 300)
    board.power_off()
    board.save(tmp_path)
    assert VirtualBoard.has_state(tmp_path)
    again = VirtualBoard()
    again.load(tmp_path)
    again.power_on()
    assert again.text.count("BOOTLOADER Build") == 1 and "APP: version 2" in again.text


def test_loopback_only_network_refuses_lan_hosts() -> None:
    lan = AppDescriptor(version=1, manifest_url="http://192.168.43.173:8000/ota.json", interval_s=1)
    board = booted(build_app(lan, SIZE))
    started = board.clock.now()
    assert board.run_until(lambda: b"SYS_OTA_UPDATE_CHECK_FAILED" in board.transcript, 120)
    assert board.blocked_hosts and set(board.blocked_hosts) == {"192.168.43.173"}
    # As Harmony's C code meets a LAN address with no server: the connect never completes, the check stalls
    # and is aborted (not refused at once).
    assert b"SYS_OTA : DOWNLOADER_HTTPClient_Abort" in board.transcript
    assert board.clock.now() - started > 60


def test_bad_configuration_is_a_caller_error() -> None:
    with pytest.raises(CallerError, match="network"):
        VirtualBoard(BoardConfig(network="internet"))
    with pytest.raises(CallerError, match="external flash size"):
        VirtualBoard(BoardConfig(ext_size="2M"))
    board = booted(app(1))
    with pytest.raises(CallerError, match="powered off"):
        board.provision(app(1))
    with pytest.raises(CallerError, match="unknown flash"):
        board.arm_cut("eeprom", FaultPlan(0))


@pytest.mark.parametrize("cmd_max_length", [80, 256])
def test_console_line_length_comes_from_the_app_descriptor(cmd_max_length: int) -> None:
    board = booted(app(1, periodic_check=False, cmd_max_length=cmd_max_length))
    assert board.run_until(lambda: b"IP address obtained" in board.transcript, 10)
    board.run_for(0.5)
    board.take_output()
    line = b"otactl start http://127.0.0.1:9/app_v2.bin 2 " + b"ab" * 32
    board.uart_rx(line + b"\r")
    board.run_for(0.01)
    out = board.take_output()
    if cmd_max_length == 80:
        assert b" *** Command Processor buffer exceeded. Retry. ***" in out and b"otactl:" not in out
    else:
        assert out.startswith(line + b"\r\notactl: SYS_OTA_SUCCESS\r\n")


def test_quit_silences_the_console_until_the_next_reset_while_the_service_runs_on() -> None:
    board = booted(app(1, interval_s=5))
    assert board.run_until(lambda: b"IP address obtained" in board.transcript, 10)
    board.take_output()
    board.uart_rx(b"q\r")
    board.run_for(0.01)
    assert board.take_output() == b"q\r\n\r\n *** Quitting the Command Processor. Bye ***\r\n>"
    board.uart_rx(b"otactl status\r")
    board.run_for(10)  # typed input is neither echoed nor answered; the periodic check still prints
    out = board.take_output()
    assert b"otactl" not in out and b"SYS_OTA_UPDATE_CHECK_START" in out
    board.power_cycle()
    assert board.run_until(lambda: b"IP address obtained" in board.transcript, 10)
    board.take_output()
    board.uart_rx(b"otactl status\r")
    board.run_for(0.01)
    assert board.take_output().startswith(b"otactl status\r\notactl: state=")


def test_a_factory_variant_is_provisioned_as_the_application_it_holds() -> None:
    from bootloader_model.formats.app_image import build_factory_bin

    plain = app(1, periodic_check=False)
    board = VirtualBoard()
    assert board.provision(build_factory_bin(plain)) is True  # hex2bin -f: full slot, byte 0 = F8
    reference = VirtualBoard()
    assert reference.provision(plain) is False
    assert board.internal.data == reference.internal.data  # byte 0 back to the placeholder's FF
    board.power_on()
    assert board.boots[0].factory_backup and board.state is AppState.RUNNING
    assert "factory-reset variant" in board.history[0].detail


def test_provisioned_board_is_programmed_and_off() -> None:
    board = provisioned_board(app(1, periodic_check=False), BoardConfig(network="open"))
    assert board.state is AppState.OFF and board.config.network == "open"
    board.power_on()
    assert board.state is AppState.RUNNING and "APP: version 1" in board.text


@pytest.mark.parametrize("case", ["one byte short", "a small app patched to F8"])
def test_an_f8_image_that_is_not_the_whole_factory_variant_is_refused(case: str) -> None:
    from bootloader_model.formats.app_image import SLOT_SIZE, build_factory_bin

    plain = app(1, periodic_check=False)
    image = build_factory_bin(plain)[:-1] if case == "one byte short" else b"\xf8" + plain[1:]
    board = VirtualBoard()
    blank = bytes(board.internal.data)
    with pytest.raises(CallerError, match=rf"has byte 0 = 0xF8.*exactly 0x{SLOT_SIZE:X} = {SLOT_SIZE} bytes"):
        board.provision(image)
    assert board.internal.data == blank  # refused before anything was programmed
