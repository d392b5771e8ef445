"""One test per decision of spec section 7, from on-flash states (boot control x database rows x files)."""

from __future__ import annotations

import hashlib

import pytest

from bootloader_model.bootloader.provisioning import synthetic_app_bin
from bootloader_model.bootloader.result import Check, Outcome
from bootloader_model.bootloader.step_machine import (
    FACTORY_PATH,
    FILE_OPEN_ERROR,
    SLOT_PAGES,
    STUCK_REPEATS,
    Bootloader,
)
from bootloader_model.errors import CallerError
from bootloader_model.formats import image_database
from bootloader_model.formats.boot_control import APP_BOOT_ADDR, BOOT_CTL_PHYS, PAGE_SIZE, BootControl, placeholder_page
from bootloader_model.quirks import CORRECTED, HARMONY, QuirkProfile
from bootloader_model.storage.file_api import OTA_DIR, MemoryFileSystem, read_file, write_file
from bootloader_model.storage.nor_flash import SST26VF032B, NorFlash
from harness.sweeps.bootloader import BootRig, app_write_boot_control, new_rig, promote

BANNER = b"\nBOOTLOADER Build Nov 26 2026 16:13:00\r\n"
PROFILES = [HARMONY, CORRECTED]


def ids(p: QuirkProfile) -> str:
    return p.name


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ctl(board: BootRig) -> BootControl:
    return BootControl.decode(board.flash.read(BOOT_CTL_PHYS, 256))


def db_rows(board: BootRig) -> list[list[str]] | None:
    rc, table = image_database.load_db(board.volume.mount())
    return table.rows if rc == image_database.LOAD_OK else None


def with_v2_running(profile: QuirkProfile = HARMONY, size: int = 12 * 1024) -> BootRig:
    """Factory backed up, v2 downloaded, programmed and confirmed by the application (row and ctl F8)."""
    board = new_rig(profile=profile)
    board.boot()
    board.store_image("app_v2.bin", synthetic_app_bin(size, 2), 2)
    app_write_boot_control(board.flash, status=0xF0, version=2)
    assert board.boot().outcome is Outcome.JUMP
    promote(board, 2)
    return board


# --------------------------------------------------------------------------------------------- INIT


def test_first_boot_backs_up_factory_image_and_resets() -> None:
    board = new_rig(backup=False)
    fs = board.volume.mount()
    res = board.boot()
    assert res.outcome is Outcome.RESET and res.software_reset_requested and res.factory_backup
    assert res.steps == ["INIT", "FACTORY_RESET"]
    assert res.console == BANNER
    backup = read_file(fs, FACTORY_PATH)
    assert len(backup) == 0xDF000
    window = board.flash.read(BOOT_CTL_PHYS, 0xDF000)
    # chunk 0 carries the patched header (status F8, type 3, boot_addr); the rest is flash as it was
    assert backup[0] == 0xF8 and backup[3] == 3 and backup[12:16] == APP_BOOT_ADDR.to_bytes(4, "little")
    assert backup[1:3] == window[1:3] and backup[4:12] == window[4:12] and backup[16:] == window[16:]
    # boot control: placeholder AND (last page 0x100FE000 with the patched header) -> F8 / 03 / v1
    header = ctl(board)
    assert (header.status, header.type, header.version, header.boot_addr) == (0xF8, 3, 1, APP_BOOT_ADDR)
    assert board.flash.read(BOOT_CTL_PHYS + PAGE_SIZE - 1, 1) == b"\xf8"
    assert fs.listdir(OTA_DIR) == ["factory_reset.bin"]


def test_backup_formats_the_volume() -> None:
    board = new_rig(backup=False)
    fs = board.volume.mount()
    fs.format()
    write_file(fs, "/mnt/myDrive1/old.txt", b"x")
    board.boot()
    assert fs.listdir("/mnt/myDrive1") == ["ota"]


def test_second_boot_jumps_straight_to_factory_app() -> None:
    board = new_rig()
    ops = board.flash.op_count
    res = board.boot()
    assert res.steps == ["INIT", "JUMP_TO_APP"] and res.jump_addr == APP_BOOT_ADDR
    assert board.flash.op_count == ops  # nothing written
    assert board.running() == "factory"


def test_debug_type_jumps_without_checking() -> None:
    board = new_rig()
    page = bytearray(placeholder_page())
    page[3], page[12:16] = 2, (0xB003_0000).to_bytes(4, "little")
    board.flash.erase(BOOT_CTL_PHYS)
    for i in range(0, PAGE_SIZE, 1024):
        board.flash.program(BOOT_CTL_PHYS + i, bytes(page[i : i + 1024]))
    res = board.boot()
    assert res.steps == ["INIT", "JUMP_TO_APP"] and res.jump_addr == 0xB003_0000


@pytest.mark.parametrize("type_", [0x00, 0x01, 0x07, 0xFF])
def test_production_or_unknown_type_goes_to_check(type_: int) -> None:
    board = with_v2_running()
    app_write_boot_control(board.flash, status=0xF8, version=2, type_=type_)
    res = board.boot()
    assert res.steps[:2] == ["INIT", "CHECK_IMAGE"] and res.checked is Check.VALID


# -------------------------------------------------------------------------------------------- CHECK


def test_blank_boot_control_prints_uninitialized_and_restores_factory() -> None:
    board = with_v2_running()
    board.flash.erase(BOOT_CTL_PHYS)
    res = board.boot()
    assert res.console == BANNER + b"Uninitialized sector\n"
    assert res.checked is Check.UNINITIALIZED
    assert res.chosen is not None and res.chosen.factory
    assert res.db_deleted and db_rows(board) is None
    assert res.verified[0].skipped
    assert board.running() == "factory" and res.jump_addr == APP_BOOT_ADDR
    assert ctl(board).type == 3 and ctl(board).status == 0xF8


def test_one_programmed_byte_in_first_16_is_not_blank() -> None:
    board = with_v2_running()
    board.flash.erase(BOOT_CTL_PHYS)
    board.flash.program(BOOT_CTL_PHYS + 8, b"\x02\x00\x00\x00\xff\xff\xff\xff")  # only the version
    res = board.boot()
    assert b"Uninitialized" not in res.console
    assert res.checked is Check.NOT_VALID  # status FF: reprogram v2
    assert res.chosen is not None and res.chosen.name == "app_v2.bin"


def test_missing_database_restores_factory_silently() -> None:
    board = with_v2_running()
    board.volume.mount().remove(image_database.DB_PATH)
    res = board.boot()
    assert res.checked is Check.NO_DATABASE and res.console == BANNER
    assert res.chosen is not None and res.chosen.factory and board.running() == "factory"


def test_valid_boot_control_and_row_jump_without_programming() -> None:
    board = with_v2_running()
    ops = board.flash.op_count
    res = board.boot()
    assert res.steps == ["INIT", "CHECK_IMAGE", "JUMP_TO_APP"] and res.checked is Check.VALID
    assert board.flash.op_count == ops


def test_newer_fe_row_alone_does_not_trigger_programming() -> None:
    board = with_v2_running()
    board.store_image("app_v3.bin", synthetic_app_bin(8192, 3), 3)
    res = board.boot()
    assert res.checked is Check.VALID and board.running() == "app_v2.bin"


@pytest.mark.parametrize(("ctl_status", "row_status"), [(0xF8, "FE"), (0xF0, "f8"), (0xFC, "f8"), (0xFE, "f8")])
def test_anything_but_f8_twice_reselects(ctl_status: int, row_status: str) -> None:
    board = with_v2_running()
    image_database.set_status(board.volume.mount(), 0, int(row_status, 16))
    app_write_boot_control(board.flash, status=ctl_status, version=2)
    res = board.boot()
    assert res.checked is Check.NOT_VALID
    assert [p.path for p in res.programmed] == [OTA_DIR + "/app_v2.bin"]


def test_row_not_found_reselects() -> None:
    board = with_v2_running()
    app_write_boot_control(board.flash, status=0xF8, version=9)
    res = board.boot()
    assert res.checked is Check.ROW_NOT_FOUND and res.chosen is not None and res.chosen.version == 2


@pytest.mark.parametrize("profile", PROFILES, ids=ids)
def test_quirk_bootloader_row_lookup_uint8(profile: QuirkProfile) -> None:
    board = new_rig(profile=profile)
    board.boot()
    image = synthetic_app_bin(8192, 5)
    board.store_image("app_v100.bin", image, 100)
    version = 0x100 if profile is HARMONY else 100  # "100" reads as 0x100; corrected writes "64"
    app_write_boot_control(board.flash, status=0xF0, version=version)
    board.boot()
    promote(board, version)
    res = board.boot()
    if profile is HARMONY:
        assert res.checked is Check.ROW_NOT_FOUND and len(res.programmed) == 1
    else:
        assert res.checked is Check.VALID and not res.programmed


# ------------------------------------------------------------------------------------------- SELECT


def test_select_takes_highest_fe_or_f8_version() -> None:
    board = with_v2_running(CORRECTED)  # four rows: keep csv-seek-wrap from corrupting the file
    fs = board.volume.mount()
    for name, version in (("a5.bin", 5), ("a3.bin", 3), ("a7.bin", 7)):
        board.store_image(name, synthetic_app_bin(8192, version), version)
    image_database.set_status(fs, 3, 0xF0, profile=CORRECTED)  # a7 disabled
    app_write_boot_control(board.flash, status=0xF0, version=2)
    res = board.boot()
    assert res.chosen is not None and (res.chosen.name, res.chosen.version) == ("a5.bin", 5)
    assert board.running() == "a5.bin"


@pytest.mark.parametrize("profile", PROFILES, ids=ids)
def test_quirk_select_header_status(profile: QuirkProfile) -> None:
    board = new_rig(profile=profile)
    board.boot()
    board.store_image("a2.bin", synthetic_app_bin(8192, 2), 2)
    board.store_image("a3.bin", synthetic_app_bin(8192, 3), 3)
    image_database.set_status(board.volume.mount(), 1, 0xF0)
    app_write_boot_control(board.flash, status=0xF0, version=2)
    res = board.boot()
    assert res.chosen is not None and res.chosen.name == "a2.bin"
    if profile is HARMONY:  # the skipped f0 row's status reached boot control
        assert res.chosen.header_status == 0xF0 and ctl(board).status == 0xF0
    else:
        assert res.chosen.header_status == 0xFE and ctl(board).status == 0xFC


def test_missing_image_file_falls_back_to_factory_and_deletes_database() -> None:
    board = with_v2_running()
    board.store_image("a3.bin", synthetic_app_bin(8192, 3), 3)
    board.volume.mount().remove(OTA_DIR + "/a3.bin")
    app_write_boot_control(board.flash, status=0xF0, version=3)
    res = board.boot()
    assert res.chosen is not None and res.chosen.factory and res.db_deleted
    assert board.running() == "factory" and db_rows(board) is None
    assert board.volume.mount().exists(OTA_DIR + "/app_v2.bin")  # files stay; the DB is gone


def test_no_fe_or_f8_row_selects_factory() -> None:
    board = with_v2_running()
    image_database.set_status(board.volume.mount(), 0, 0xF0)
    app_write_boot_control(board.flash, status=0xF0, version=2)
    res = board.boot()
    assert res.chosen is not None and res.chosen.factory and board.running() == "factory"


def test_empty_database_file_selects_factory() -> None:
    board = with_v2_running()
    write_file(board.volume.mount(), image_database.DB_PATH, b"")
    app_write_boot_control(board.flash, status=0xF0, version=2)
    res = board.boot()
    assert res.chosen is not None and res.chosen.factory and res.db_deleted


@pytest.mark.parametrize("profile", PROFILES, ids=ids)
def test_quirk_select_field_error_loop(profile: QuirkProfile) -> None:
    board = with_v2_running(profile)
    fs = board.volume.mount()
    write_file(fs, image_database.DB_PATH, read_file(fs, image_database.DB_PATH) + b"\nbroken.bin,FE")
    app_write_boot_control(board.flash, status=0xF0, version=2)
    res = board.boot()
    if profile is HARMONY:
        assert res.outcome is Outcome.STUCK and "retried silently" in (res.stuck_reason or "")
        assert res.console == BANNER
    else:
        assert res.outcome is Outcome.JUMP and board.running() == "factory"


# ------------------------------------------------------------------------------------- factory path


def test_factory_path_needs_f8_header_else_silent_loop() -> None:
    board = with_v2_running()
    fs = board.volume.mount()
    backup = bytearray(read_file(fs, FACTORY_PATH))
    backup[0] = 0xFE
    write_file(fs, FACTORY_PATH, bytes(backup))
    board.flash.erase(BOOT_CTL_PHYS)
    res = board.boot()
    assert res.outcome is Outcome.STUCK and "not F8" in (res.stuck_reason or "")
    assert res.console == BANNER + b"Uninitialized sector\n" and res.db_deleted


def test_missing_factory_file_prints_file_open_error_for_ever() -> None:
    board = with_v2_running()
    board.volume.mount().remove(FACTORY_PATH)
    board.flash.erase(BOOT_CTL_PHYS)
    res = board.boot()
    assert res.outcome is Outcome.STUCK
    assert res.console == BANNER + b"Uninitialized sector\n" + FILE_OPEN_ERROR * STUCK_REPEATS
    assert db_rows(board) is not None  # the DB is deleted only once the file opened


def test_empty_factory_file_loops_silently() -> None:
    board = with_v2_running()
    write_file(board.volume.mount(), FACTORY_PATH, b"")
    board.flash.erase(BOOT_CTL_PHYS)
    res = board.boot()
    assert res.outcome is Outcome.STUCK and "empty" in (res.stuck_reason or "")


# ------------------------------------------------------------------------------------------ PROGRAM


def test_program_erases_223_pages_then_writes_rows_from_0x1000_then_boot_control() -> None:
    board = with_v2_running()
    board.flash.program(0x100F_F000, b"\x12" * 1024)  # the page OTA never touches
    image = synthetic_app_bin(3 * PAGE_SIZE, 3)
    board.store_image("a3.bin", image, 3)
    app_write_boot_control(board.flash, status=0xF0, version=3)
    start = len(board.flash.log)
    res = board.boot()
    log = board.flash.log[start:]
    erases = [op.address for op in log if op.kind.startswith("erase")]
    assert erases == [BOOT_CTL_PHYS + i * PAGE_SIZE for i in range(SLOT_PAGES)]
    programs = [(op.address, op.length) for op in log if op.kind == "program"]
    body = [(BOOT_CTL_PHYS + off, 1024) for off in range(PAGE_SIZE, 3 * PAGE_SIZE, 1024)]
    ctl_rows = [(BOOT_CTL_PHYS + off, 1024) for off in range(0, PAGE_SIZE, 1024)]
    assert programs == body + ctl_rows + ctl_rows  # image rows, boot control, SET_IMAGE_STATUS rewrite
    assert board.flash.read(0x100F_F000, 1024) == b"\x12" * 1024
    assert board.running() == "a3.bin"
    header = res.programmed[0].header
    assert (header.status, header.type, header.version, header.sz) == (0xFE, 1, 3, len(image))
    assert (header.slot, header.order, header.digest, header.boot_addr) == (0, 0, bytes(32), APP_BOOT_ADDR)


@pytest.mark.parametrize("profile", PROFILES, ids=ids)
def test_quirk_program_stale_tail(profile: QuirkProfile) -> None:
    board = with_v2_running(profile, size=5 * PAGE_SIZE)
    image = synthetic_app_bin(2 * PAGE_SIZE + 100, 3)
    board.store_image("a3.bin", image, 3)
    app_write_boot_control(board.flash, status=0xF0, version=3)
    board.boot()
    assert board.running() == "a3.bin"
    tail = board.flash.read(BOOT_CTL_PHYS + len(image), PAGE_SIZE - 100)
    filler = board.flash.read(BOOT_CTL_PHYS + 256, PAGE_SIZE - 256)
    if profile is HARMONY:  # the previous chunk's bytes follow the image, and fill boot control
        assert tail == image[PAGE_SIZE + 100 : 2 * PAGE_SIZE]
        assert filler == image[PAGE_SIZE + 256 : 2 * PAGE_SIZE]  # bytes 256.. of the last full buffer
    else:
        assert tail == b"\xff" * (PAGE_SIZE - 100)
        assert filler == image[256:PAGE_SIZE]


# ------------------------------------------------------------------------------ VERIFY / INVALIDATE


def test_verify_hashes_file_first_page_plus_flash() -> None:
    board = with_v2_running()
    image = synthetic_app_bin(20_000, 3)
    board.store_image("a3.bin", image, 3)
    app_write_boot_control(board.flash, status=0xF0, version=3)
    res = board.boot()
    v = res.verified[0]
    assert not v.skipped and v.ok and v.actual == hashlib.sha256(image).digest() == v.expected


LEAK_FIXED = QuirkProfile.named("harmony-3.9.1,-verify-failure-file-leak")


@pytest.mark.parametrize("profile", PROFILES, ids=ids)
def test_quirk_verify_failure_file_leak(profile: QuirkProfile) -> None:
    board = with_v2_running(profile)
    image = synthetic_app_bin(8192, 3)
    board.store_image("a3.bin", image, 3, digest=digest(b"something else"))
    app_write_boot_control(board.flash, status=0xF0, version=3)
    res = board.boot()
    rows = db_rows(board)
    assert rows is not None
    if profile is HARMONY:
        # SYS_FS_MAX_FILES is 1 and VERIFY never closed a3.bin: INVALIDATE's save and every open after it
        # fail. SELECT falls to the factory image and open_file() prints "file open error" for ever.
        assert res.outcome is Outcome.STUCK and "file open error" in (res.stuck_reason or "")
        assert res.console == BANNER + b"Broken Image\n" + FILE_OPEN_ERROR * STUCK_REPEATS
        assert [r[0] for r in rows] == ["app_v2.bin", "a3.bin"] and not res.db_deleted  # DB kept as it was
        assert board.running() == "a3.bin" and ctl(board).status == 0xFE  # the broken image stays programmed
        again = board.boot()  # ... and every later boot programs and rejects it again
        assert again.console == res.console and len(again.programmed) == 1
        return
    assert res.console == BANNER + b"Broken Image\n"
    assert res.invalidated == ["a3.bin"] and [v.ok for v in res.verified] == [False, True]
    assert res.steps[3:8] == ["PROGRAM_IMAGE", "VERIFY_IMAGE", "INVALIDATE_IMAGE", "SELECT_IMAGE", "PROGRAM_IMAGE"]
    assert [r[0] for r in rows] == ["app_v2.bin"]
    assert board.volume.mount().exists(OTA_DIR + "/a3.bin")  # left for the application's CleanUp
    assert board.running() == "app_v2.bin"


@pytest.mark.parametrize("profile", PROFILES, ids=ids)
def test_broken_only_image_hangs_on_file_open_error_else_falls_back_to_factory(profile: QuirkProfile) -> None:
    board = new_rig(profile=profile)
    board.boot()
    board.store_image("a3.bin", synthetic_app_bin(8192, 3), 3, digest="00" * 32)
    app_write_boot_control(board.flash, status=0xF0, version=3)
    res = board.boot()
    if profile is HARMONY:
        assert res.outcome is Outcome.STUCK and res.console.endswith(b"Broken Image\n" + FILE_OPEN_ERROR * 3)
        rows = db_rows(board)
        assert not res.db_deleted and rows is not None and [r[0] for r in rows] == ["a3.bin"]
        assert board.running() == "a3.bin"
        return
    assert res.invalidated == ["a3.bin"] and res.chosen is not None and res.chosen.factory
    assert res.db_deleted and board.running() == "factory"


@pytest.mark.parametrize("profile", PROFILES, ids=ids)
def test_quirk_bootloader_stale_new_image(profile: QuirkProfile) -> None:
    if profile is HARMONY:  # only reachable once the broken image's file handle is closed
        profile = LEAK_FIXED
    board = new_rig(profile=profile)
    board.boot()
    board.store_image("a3.bin", synthetic_app_bin(8192, 3), 3, digest="00" * 32)
    app_write_boot_control(board.flash, status=0xF0, version=3)
    board.boot()
    header = ctl(board)
    nxt = board.boot()
    assert board.running() == "factory"
    if profile.on("bootloader-stale-new-image"):  # the factory image went in as a PRODUCTION image
        assert (header.type, header.sz) == (1, 0xDF000)
        assert nxt.checked is Check.NO_DATABASE and len(nxt.programmed) == 1
    else:
        assert header.type == 3 and nxt.steps == ["INIT", "JUMP_TO_APP"]


# ------------------------------------------------------------------------------------ SET / JUMP


def test_set_image_status_fe_to_fc_without_erase() -> None:
    board = with_v2_running()
    board.store_image("a3.bin", synthetic_app_bin(8192, 3), 3)
    app_write_boot_control(board.flash, status=0xF0, version=3)
    res = board.boot()
    assert res.programmed[0].header.status == 0xFE and ctl(board).status == 0xFC
    assert res.steps[-2:] == ["SET_IMAGE_STATUS", "JUMP_TO_APP"]


def test_set_image_status_keeps_f8_row_status() -> None:
    board = with_v2_running()
    app_write_boot_control(board.flash, status=0xF0, version=2)  # e.g. a failed rollback left F0
    board.boot()
    assert ctl(board).status == 0xF8


def test_jump_goes_to_boot_addr_in_flash() -> None:
    board = with_v2_running()
    res = board.boot()
    assert res.outcome is Outcome.JUMP and res.jump_addr == ctl(board).boot_addr == APP_BOOT_ADDR


def test_fc_after_early_crash_reprograms_same_image() -> None:
    board = with_v2_running()
    board.store_image("a3.bin", synthetic_app_bin(8192, 3), 3)
    app_write_boot_control(board.flash, status=0xF0, version=3)
    board.boot()  # programs a3, boot control FC; the application crashes before confirming
    again = board.boot()
    assert again.checked is Check.NOT_VALID and again.chosen is not None and again.chosen.name == "a3.bin"


# -------------------------------------------------------------------------------------- console


def test_trustflex_variant_traces() -> None:
    board = new_rig()
    res = board.boot(variant="trustflex")
    star = b"*" * 59 + b"\n"
    assert res.console == (
        b"\n" + star + b"BOOTLOADER Build Nov 26 2026 16:13:00\nOTA VERSION 1.0.0\n" + star
        + b"status    :F8\nversion   :01\ntype      :03\nboot_addr :B0021000\n\n"
        + b"BOOTLOADER_TASK_JUMP_TO_APP\n"
    )  # fmt: skip


def test_trustflex_traces_transitions_and_valid_image() -> None:
    board = with_v2_running()
    board.flash.erase(BOOT_CTL_PHYS)
    text = board.boot(variant="trustflex").console.decode()
    for line in ("BOOTLOADER_TASK_CHECK_IMAGE", "Uninitialized sector", "Valid image", "BOOTLOADER_TASK_SIGN_BOOT_CTL"):
        assert line + "\n" in text
    assert text.endswith("boot_addr :B0021000\n\n" + "*" * 59 + "\n")


def test_console_callback_gets_the_same_bytes() -> None:
    board = new_rig()
    seen: list[bytes] = []
    res = Bootloader(board.flash, board.volume.mount(), console=seen.append).boot()
    assert b"".join(seen) == res.console == BANNER


def test_bad_arguments_are_caller_errors() -> None:
    with pytest.raises(CallerError):
        Bootloader(NorFlash(SST26VF032B), MemoryFileSystem())
    board = new_rig()
    with pytest.raises(CallerError):
        Bootloader(board.flash, MemoryFileSystem(), variant="nope")
