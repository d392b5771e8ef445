"""The use cases of Harmony's OTA developer guide as runnable examples: each guide change
(`harness.native.guide_changes`) applied to a temporary copy of the user's Harmony application, built for the host
with real gcc and run on the virtual board, with what the C code really does asserted (console lines, the version
after reset, the DB row, boot control). Needs `OTALOOP_HARMONY_APPS` (skipped with that reason otherwise); one build
per distinct set of changes, shared by the module. The anchor checks of the change module run without Harmony."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootloader_model.board.virtual_board import BoardConfig, VirtualBoard
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, HEADER_SIZE, BootControl
from bootloader_model.storage.external_flash import ExternalFlash
from conftest import harmony_apps, publish_app_v2, require_tool
from harness.image.server import ImageServer
from harness.native import guide_changes as gc
from harness.native.build import build_application, locate_application
from harness.native.programs import application_from_spec

DB = "/mnt/myDrive1/ota/image_database.csv"


def _harmony_root() -> str:
    root = harmony_apps()
    require_tool("cc", "gcc")
    return root


def _build(tmp: Path, changes: list[gc.GuideChange], flags: list[str] | None = None) -> Path:
    src = gc.copy_application(_harmony_root(), tmp / "tree")
    gc.apply_changes(src, changes)
    cache = tmp / "cache"
    build_application(locate_application(tmp / "tree"), cache, extra_flags=flags or [])
    return cache


@pytest.fixture(scope="module")
def app_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cases 1, 2, 5, 8, 9: callback flags, SWITCH1 -> update check, reset after the DB entry, download status."""
    changes = [gc.CALLBACK_REGISTRATION, gc.SWITCH1_UPDATE_CHECK, gc.SYSTEM_RESET_AFTER_DB_ENTRY, gc.DOWNLOAD_STATUS]
    return _build(tmp_path_factory.mktemp("guide-app"), changes)


@pytest.fixture(scope="module")
def factory_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Case 4: SWITCH1 -> SYS_OTA_TRIGGER_FACTORY_RESET, then SYS_OTA_TRIGGER_SYSTEM_RESET once it succeeded."""
    changes = [gc.CALLBACK_REGISTRATION, gc.SWITCH1_FACTORY_RESET, gc.SYSTEM_RESET_AFTER_FACTORY_RESET]
    return _build(tmp_path_factory.mktemp("guide-factory"), changes)


@pytest.fixture(scope="module")
def periodic_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cases 6 and 7: sys_ota.c stops the periodic check after 2 checks; SYS_OTA_UPDATECHCK switches it on."""
    changes = [gc.CALLBACK_REGISTRATION, gc.SWITCH1_UPDATE_CHECK, gc.STOP_PERIODIC_AFTER_N, gc.PERIODIC_AFTER_TRIGGER]
    return _build(tmp_path_factory.mktemp("guide-periodic"), changes)


@pytest.fixture(scope="module")
def status_value_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Case 6 with a SYS_OTA_STATUS value (SYS_OTA_IDLE) assigned to the service's state variable."""
    changes = [gc.CALLBACK_REGISTRATION, gc.SWITCH1_UPDATE_CHECK, gc.STOP_PERIODIC_AFTER_N_STATUS_VALUE]
    return _build(tmp_path_factory.mktemp("guide-status-value"), changes)


@pytest.fixture(scope="module")
def manual(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ImageServer, str, str]]:
    """Case 3: SYS_OTA_SET_PARAMETERS with v2's URL and digest given at build time, SWITCH1 -> INITIATE_OTA."""
    _harmony_root()  # skip before starting a server when OTALOOP_HARMONY_APPS is unset
    with ImageServer() as server:
        v2 = build_app(AppDescriptor(version=2, manifest_url=server.url("/ota.json"), periodic_check=False), 30_000)
        url, digest = server.put_image("app_v2.bin", v2)
        flags = [f'-DAPP_OTA_URL="{url}"', "-DAPP_OTA_VERSION=2", f'-DAPP_OTA_DIGEST="{digest}"']
        changes = [gc.CALLBACK_REGISTRATION, gc.MANUAL_PARAMETERS, gc.SWITCH1_INITIATE_OTA]
        yield _build(tmp_path_factory.mktemp("guide-manual"), changes, flags), server, url, digest


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with ImageServer() as srv:
        yield srv


def _board(cache: Path, url: str, **descriptor: object) -> VirtualBoard:
    board = VirtualBoard(BoardConfig(application=application_from_spec(f"native:{cache}")))
    board.provision(build_app(AppDescriptor(version=1, manifest_url=url, **descriptor), 30_000))  # type: ignore[arg-type]
    return board


def _lines_of(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _lines(board: VirtualBoard) -> list[str]:
    return _lines_of(board.text)


def _db(board: VirtualBoard) -> bytes:
    fs = ExternalFlash(board.external)
    fs.mount()
    return fs.open(DB, "r").read(4096)


def _boot_control(board: VirtualBoard) -> BootControl:
    return BootControl.decode(board.internal.read(BOOT_CTL_PHYS, HEADER_SIZE))


def _at(board: VirtualBoard, needle: str, nth: int = 0) -> float:
    """Board time at which the ``nth`` occurrence of ``needle`` was printed."""
    t = board.transcript
    base = board.printed - len(t)
    pos = -1
    for _ in range(nth + 1):
        pos = t.find(needle.encode(), pos + 1)
        assert pos >= 0, needle
    when = board.printed_at(base + pos)
    assert when is not None
    return when


# ------------------------------------------------------------------------------ the change module itself
def test_a_tree_without_the_anchor_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.c").write_text('#include "app.h"\nvoid APP_Tasks(void) {}\n')
    with pytest.raises(
        gc.GuideChangeError, match=r"'callback-registration': app\.c: anchor line 'ota_app_reg_cb\(\);'"
    ):
        gc.apply_change(src, gc.CALLBACK_REGISTRATION)
    (src / "app.c").write_text('#include "app.h"\n#include "app.h"\n')
    with pytest.raises(gc.GuideChangeError, match=r"found 2 times \(lines 1, 2\)"):
        gc.apply_change(src, gc.SWITCH1_UPDATE_CHECK)
    with pytest.raises(gc.GuideChangeError, match=r"sys_ota\.c: no such file"):
        gc.apply_change(src, gc.PERIODIC_AFTER_TRIGGER)


def test_edits_insert_after_before_and_in_place_keeping_crlf(tmp_path: Path) -> None:
    (tmp_path / "f.c").write_bytes(b"a\r\n  b;\r\n    {\r\nc\r\n")
    change = gc.GuideChange(
        "t",
        "test",
        (
            gc.TextEdit("f.c", "b;\n{", "x"),
            gc.TextEdit("f.c", "a", "y", "before"),
            gc.TextEdit("f.c", "c", "z", "replace"),
        ),
    )
    gc.apply_change(tmp_path, change)
    assert (tmp_path / "f.c").read_bytes() == b"y\r\na\r\n  b;\r\n    {\r\nx\r\nz\r\n"


def test_on_harmonys_tree_a_change_applied_twice_or_out_of_order_is_refused(tmp_path: Path) -> None:
    src = gc.copy_application(_harmony_root(), tmp_path)
    with pytest.raises(
        gc.GuideChangeError, match=r"'switch1-sys_ota_updatechck': app\.c: anchor line 'static bool db_"
    ):
        gc.apply_change(src, gc.SWITCH1_UPDATE_CHECK)  # needs CALLBACK_REGISTRATION's lines
    assert gc.apply_changes(src, [gc.CALLBACK_REGISTRATION]) == ["callback-registration"]
    with pytest.raises(gc.GuideChangeError, match=r"app\.c: anchor line 'ota_app_reg_cb\(\);' not found"):
        gc.apply_change(src, gc.CALLBACK_REGISTRATION)
    assert "bool registered = ota_app_reg_cb();" in (src / "app.c").read_text()  # the first one replaced the line


# --------------------------------------------------------------------------------------- the use cases
def test_1_callback_registration_and_flags(app_build: Path, server: ImageServer) -> None:
    url = server.url("/ota.json")
    digest = publish_app_v2(server, url)
    board = _board(app_build, url)
    board.power_on()
    assert board.run_until(lambda: board.app_version == 2, 400), board.text
    board.run_for(5)
    lines = _lines(board)
    lines = lines[lines.index("APP: version 1") :]
    # The service takes one callback: a second SYS_OTA_REGCALLBACK is refused (SYS_OTA_REGCB keeps the first).
    assert lines[:2] == ["APP: version 1", "APP: callback registered 1, again 0"]
    tail = lines[lines.index("SYS_OTA_UPDATE_AVAILABLE") :]
    assert [x for x in tail if x.startswith("SYS_OTA_")][:6] == [
        "SYS_OTA_UPDATE_AVAILABLE",
        "SYS_OTA_DOWNLOAD_START",
        "SYS_OTA_DOWNLOAD_SUCCESS",
        "SYS_OTA_IMAGE_DIGEST_VERIFY_START",
        "SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS",
        "SYS_OTA_DB_ENTRY_SUCCESS",
    ]
    # app.c reads the flag in the same pass of the main loop (the shim runs SYS_OTA_Tasks, then APP_Tasks); the
    # service's autoreset comes on its next pass, so the line is printed before the reset.
    at = lines.index("SYS_OTA_DB_ENTRY_SUCCESS")
    assert lines[at + 1] == "APP: OTA DB entry done" and lines[at + 2].startswith("BOOTLOADER")
    assert _db(board) == f"app_v2.bin,f8,2,0x01,{digest}".encode()
    board.power_off()


def test_2_switch1_starts_an_update_check(app_build: Path, server: ImageServer) -> None:
    url = server.url("/ota.json")
    publish_app_v2(server, url, periodic_check=False)
    board = _board(app_build, url, periodic_check=False)
    board.power_on()
    assert board.run_until(lambda: "IP address obtained" in board.text, 100), board.text
    board.run_for(120)
    assert "SYS_OTA_UPDATE_CHECK_START" not in board.text
    board.click_switch()
    assert board.run_until(lambda: board.app_version == 2, 300), board.text
    lines = _lines(board)
    at = lines.index("APP: SWITCH1 pressed")
    assert lines[at + 1] == "SYS_OTA_UPDATE_CHECK_START"
    assert _boot_control(board).version == 2
    board.power_off()


def test_3_manual_ota_with_set_parameters(manual: tuple[Path, ImageServer, str, str]) -> None:
    cache, server, url, digest = manual
    # The manifest offers nothing: the parameters come from the build (out of band), not from a check.
    board = _board(cache, server.url("/none.json"), periodic_check=False, auto_update=False)
    board.power_on()
    assert board.run_until(lambda: "IP address obtained" in board.text, 100), board.text
    board.run_for(5)
    assert "APP: OTA parameters set, version 2" in board.text
    board.click_switch()
    assert board.run_until(lambda: board.app_version == 2, 300), board.text
    board.run_for(5)  # v2's confirm step
    lines = _lines(board)
    at = lines.index("APP: SWITCH1 pressed")
    assert lines[at + 1] == f"SYS OTA : Starting OTA with server: {url}"
    assert "SYS_OTA_UPDATE_CHECK_START" not in lines[:at]  # no manifest was read
    assert _db(board) == f"app_v2.bin,f8,2,0x01,{digest}".encode()
    board.power_off()


def test_4_factory_reset_on_switch1(factory_build: Path, server: ImageServer) -> None:
    url = server.url("/ota.json")
    publish_app_v2(server, url, periodic_check=False)
    board = _board(factory_build, url)
    board.power_on()
    assert board.run_until(lambda: board.app_version == 2, 400), board.text
    assert board.run_until(lambda: "IP address obtained" in board.text.split("APP: version 2")[-1], 100)
    board.run_for(5)
    mark = len(board.text)
    board.click_switch()
    assert board.run_until(lambda: "SYS_OTA_FACTORY_RESET_SUCCESS" in board.text[mark:], 60), board.text[mark:]
    # The guide's trigger resets nothing: the service reports success, erases boot control and goes IDLE. The
    # application's SYS_OTA_TRIGGER_SYSTEM_RESET is accepted as a message but not honoured (no download this run),
    # so v2 keeps running until the board is reset by other means.
    board.run_for(120)
    after = _lines_of(board.text[mark:])
    at = after.index("SYS_OTA_FACTORY_RESET_SUCCESS")
    assert after[at + 1 : at + 3] == [
        "APP: system reset after factory reset accepted",
        "SYS OTA : OTA DB entry is not yet done",
    ]
    assert board.app_version == 2
    assert [e.kind for e in board.history].count("software-reset") == 1  # the update's autoreset only
    assert board.internal.read(BOOT_CTL_PHYS, HEADER_SIZE) == b"\xff" * HEADER_SIZE  # boot control erased
    board.power_off()
    mark = len(board.text)
    board.power_on()  # the user's other means: the bootloader finds no boot control and programs the factory image
    assert board.run_until(lambda: board.app_version == 1, 300), board.text[mark:]
    board.run_for(5)
    after = _lines_of(board.text[mark:])
    assert after[1:4] == ["Uninitialized sector", "APP: version 1", "APP: callback registered 1, again 0"]
    assert "SYS OTA : Removed file : app_v2.bin" in after  # v2's file, no longer named by the DB, is deleted
    board.power_off()


def test_5_system_reset_after_the_db_entry_with_autoreset_off(app_build: Path, server: ImageServer) -> None:
    url = server.url("/ota.json")
    publish_app_v2(server, url)
    board = _board(app_build, url, autoreset=False)
    board.power_on()
    assert board.run_until(lambda: board.app_version == 2, 400), board.text
    lines = _lines(board)
    at = lines.index("SYS_OTA_DB_ENTRY_SUCCESS")
    assert lines[at + 1] == "APP: OTA DB entry done"
    # The callback runs in the service's SYS_OTA_UPDATE_USER pass, which then moves to SYS_OTA_AUTORESET, not
    # IDLE: the first request is refused; the next pass (AUTORESET with autoreset off -> IDLE) accepts it.
    assert lines[at + 2] == "APP: system reset accepted after 1 refused"
    assert [e.kind for e in board.history].count("software-reset") == 1
    board.power_off()


def test_6_the_periodic_check_stops_after_two_checks(periodic_build: Path, server: ImageServer) -> None:
    url = server.url("/ota.json")
    server.put_manifest(1, server.url("/app_v1.bin"), "00" * 32)  # nothing newer: each check finds no update
    board = _board(periodic_build, url, interval_s=30)
    board.power_on()
    assert board.run_until(lambda: "periodic check stopped" in board.text, 300), board.text
    board.run_for(200)
    lines = _lines(board)
    assert lines.count("SYS_OTA_UPDATE_CHECK_START") == 2
    assert lines.count("SYS_OTA_UPDATE_NOTAVAILABLE") == 2
    assert lines[-1] == "SYS OTA : periodic check stopped after 2 checks"
    board.power_off()


def test_6_with_a_status_value_the_service_starts_over(status_value_build: Path, server: ImageServer) -> None:
    url = server.url("/ota.json")
    server.put_manifest(1, server.url("/app_v1.bin"), "00" * 32)
    board = _board(status_value_build, url, interval_s=30)
    board.power_on()
    assert board.run_until(lambda: board.text.count("periodic check stopped") >= 3, 400), board.text
    lines = _lines(board)
    lines = lines[lines.index("APP: version 1") :]
    # SYS_OTA_IDLE is 0 in SYS_OTA_STATUS; as a SYS_OTA_STATES value 0 is SYS_OTA_REGWIFISRVCALLBCK: the service
    # starts over (network wait, OTA core callback, configuration check), re-arms the periodic timer, and the
    # counter stops it again at every alarm -- no more checks, but the service never rests in IDLE.
    assert lines.count("SYS_OTA_UPDATE_CHECK_START") == 2
    stops = [i for i, x in enumerate(lines) if x == "SYS OTA : periodic check stopped after 2 checks"]
    assert len(stops) >= 3
    for i in stops[:-1]:
        assert lines[i + 1] == "SYS OTA : IP address obtained for preferred interface for OTA"
    first, second = _at(board, "periodic check stopped"), _at(board, "periodic check stopped", 1)
    assert 31.5 <= second - first <= 32.5
    board.click_switch()  # SYS_OTA_CtrlMsg needs SYS_OTA_STATE_IDLE, which this service never reaches again
    assert board.run_until(lambda: "APP: SYS_OTA_CtrlMsg refused" in board.text, 10), board.text[-2000:]
    board.power_off()


def test_7_the_periodic_check_starts_only_after_switch1(periodic_build: Path, server: ImageServer) -> None:
    url = server.url("/ota.json")
    server.put_manifest(1, server.url("/app_v1.bin"), "00" * 32)
    board = _board(periodic_build, url, periodic_check=False, interval_s=30)
    board.power_on()
    assert board.run_until(lambda: "IP address obtained" in board.text, 100), board.text
    board.run_for(120)
    assert "SYS_OTA_UPDATE_CHECK_START" not in board.text
    board.click_switch()
    assert board.run_until(lambda: "periodic check stopped" in board.text, 300), board.text
    pressed = _at(board, "APP: SWITCH1 pressed")
    first = _at(board, "SYS_OTA_UPDATE_CHECK_START")
    second = _at(board, "SYS_OTA_UPDATE_CHECK_START", 1)
    # No check at the press: the first comes when the RTCC alarm set by SYS_OTA_AUTO_CONFIGURATION_CHECK fires,
    # the next one alarm after the first check ends, and the third alarm meets the counter of change 6.
    stopped = _at(board, "periodic check stopped")
    # SYS_OTA_RTCset sets the RTCC to 23:59:58 and the alarm to the interval past midnight: interval + 2 s.
    assert 31.5 <= first - pressed <= 32.5, (pressed, first)
    assert 31.5 <= second - first <= 33, (first, second)
    assert 31.5 <= stopped - second <= 33, (second, stopped)
    board.power_off()


def test_8_a_wrong_digest_fails_and_the_service_goes_idle(app_build: Path, server: ImageServer) -> None:
    url = server.url("/ota.json")
    v2 = build_app(AppDescriptor(version=2, manifest_url=url), 30_000)
    image_url, _ = server.put_image("app_v2.bin", v2)
    server.put_manifest(2, image_url, "ab" * 32)
    board = _board(app_build, url, interval_s=30)
    board.power_on()
    assert board.run_until(lambda: "APP: OTA digest failed" in board.text, 300), board.text
    board.run_for(200)
    lines = _lines(board)
    at = lines.index("SYS_OTA_IMAGE_DIGEST_VERIFY_START")
    # sys_ota_cb prints its own name for SYS_OTA_IMAGE_DIGEST_VERIFY_FAILED; the flag reaches app.c the same pass.
    assert lines[at + 1 : at + 4] == [
        "SYS OTA : digest mismatch",
        "SYS_OTA_IMAGE_VERIFICATION_FAILED",
        "APP: OTA digest failed",
    ]
    # The service is IDLE: no periodic check after the failure (200 s, interval 30 s), the board still runs v1,
    # the downloaded image is deleted and no DB row was written.
    assert lines.count("SYS_OTA_UPDATE_CHECK_START") == 1
    assert board.app_version == 1
    assert _boot_control(board).version == 1
    fs = ExternalFlash(board.external)
    fs.mount()
    assert fs.listdir("/mnt/myDrive1/ota") == ["factory_reset.bin"]
    board.power_off()


def test_9_download_status_during_a_download(app_build: Path, server: ImageServer) -> None:
    url = server.url("/ota.json")
    publish_app_v2(server, url, size=60_000)
    board = _board(app_build, url)
    board.power_on()
    assert board.run_until(lambda: board.app_version == 2, 400), board.text
    lines = _lines(board)
    progress = [x for x in lines if x.startswith("APP: downloaded ")]
    counts = [int(x.split()[2]) for x in progress]
    totals = {int(x.split()[4]) for x in progress}
    # From SYS_OTA_DOWNLOAD_START to SYS_OTA_DOWNLOAD_SUCCESS, the total is the server's Content-Length from the
    # first line on, and the count reaches it, in steps of at least 8 KiB (the change's threshold) but the last.
    assert lines.index(progress[0]) > lines.index("SYS_OTA_DOWNLOAD_START")
    assert lines.index(progress[-1]) < lines.index("SYS_OTA_DOWNLOAD_SUCCESS")
    assert totals == {60_000} and counts[-1] == 60_000
    assert len(progress) >= 7 and all(b - a >= 8192 for a, b in itertools.pairwise(counts[:-1]))
    board.power_off()
