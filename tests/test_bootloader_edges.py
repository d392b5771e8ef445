"""Edges of the bootloader model: provisioning, oversized images, failing file systems, stuck bounds."""

from __future__ import annotations

import pytest

from bootloader_model.bootloader.provisioning import (
    BOOTLOADER_REGION,
    bootloader_filler,
    provision_unified,
    synthetic_app_bin,
)
from bootloader_model.bootloader.result import Outcome
from bootloader_model.bootloader.step_machine import FILE_OPEN_ERROR, STUCK_REPEATS, Bootloader
from bootloader_model.errors import CallerError
from bootloader_model.formats import image_database
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, PAGE_SIZE, placeholder_page
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import FsError, MemoryFileSystem, OpenFile, write_file
from bootloader_model.storage.nor_flash import PIC32MZ1025W104132, SST26VF032B, NorFlash
from harness.sweeps.bootloader import BootRig, app_write_boot_control, new_rig

BANNER = b"\nBOOTLOADER Build Nov 26 2026 16:13:00\r\n"


# ------------------------------------------------------------------------------------- provisioning


def test_provision_writes_bootloader_filler_and_factory_app() -> None:
    flash = NorFlash(PIC32MZ1025W104132)
    app = synthetic_app_bin(3 * PAGE_SIZE + 10, seed=4)
    provision_unified(flash, app)
    lo, hi = BOOTLOADER_REGION
    assert flash.read(lo, hi - lo) == bootloader_filler() and bootloader_filler() != b"\xff" * (hi - lo)
    assert flash.read(BOOT_CTL_PHYS, len(app)) == app
    assert flash.read(BOOT_CTL_PHYS, PAGE_SIZE) == placeholder_page()
    assert flash.read(BOOT_CTL_PHYS + len(app), 100) == b"\xff" * 100


def test_provision_rejects_wrong_part_and_sizes() -> None:
    with pytest.raises(CallerError):
        provision_unified(NorFlash(SST26VF032B), synthetic_app_bin(PAGE_SIZE))
    flash = NorFlash(PIC32MZ1025W104132)
    with pytest.raises(CallerError):
        provision_unified(flash, b"\0" * 100)
    with pytest.raises(CallerError):
        provision_unified(flash, b"\0" * (0xDF000 + 1))
    with pytest.raises(CallerError):
        synthetic_app_bin(100)


# ---------------------------------------------------------------------------------- oversized image


def test_image_larger_than_window_runs_off_the_end_of_flash() -> None:
    board = new_rig()
    board.boot()
    big = synthetic_app_bin(921_600, seed=8)  # "900 KiB": larger than the 0xDF000 window
    board.store_image("big.bin", big, 2)
    app_write_boot_control(board.flash, status=0xF0, version=2)
    res = board.boot()
    assert any("past the end of program flash" in n for n in res.notes)
    assert res.outcome is Outcome.STUCK and "past the end" in (res.stuck_reason or "")
    # the never-erased page 0x100FF000 was programmed (AND) with the image's bytes
    assert board.flash.read(0x100F_F000, 1024) == big[0xDF000 : 0xDF000 + 1024]


# ------------------------------------------------------------------------------ failing file system


class FlakyFs(MemoryFileSystem):
    """A volume whose chosen calls fail, as a damaged or absent one would."""

    def __init__(self, *, fail: set[str]) -> None:
        super().__init__(formatted=False)
        self.fail = fail

    def mount(self) -> None:
        if "mount" in self.fail:
            raise FsError("no medium")

    def format(self) -> None:
        if "format" in self.fail:
            raise FsError("format failed")
        super().format()

    def mkdir(self, path: str) -> None:
        if "mkdir" in self.fail:
            raise FsError("mkdir failed")
        super().mkdir(path)

    def open(self, path: str, mode: str) -> OpenFile:
        if f"open:{mode}" in self.fail:
            raise FsError("open failed")
        fh = super().open(path, mode)
        if "read" in self.fail and path.endswith(".csv"):

            def broken(n: int) -> bytes:
                raise FsError("read failed")

            fh.read = broken  # type: ignore[method-assign]
        return fh


def fresh_flash() -> NorFlash:
    flash = NorFlash(PIC32MZ1025W104132)
    provision_unified(flash, synthetic_app_bin(2 * PAGE_SIZE))
    return flash


def test_mount_that_never_succeeds_is_stuck() -> None:
    res = Bootloader(fresh_flash(), FlakyFs(fail={"mount"})).boot()
    assert res.outcome is Outcome.STUCK and "Mount" in (res.stuck_reason or "") and res.console == BANNER


@pytest.mark.parametrize("what", ["format", "open:w+"])
def test_backup_that_cannot_create_its_file_prints_file_open_error(what: str) -> None:
    res = Bootloader(fresh_flash(), FlakyFs(fail={what})).boot()
    assert res.outcome is Outcome.STUCK
    assert res.console == BANNER + FILE_OPEN_ERROR * STUCK_REPEATS


def test_backup_mkdir_failure_retries_silently() -> None:
    res = Bootloader(fresh_flash(), FlakyFs(fail={"mkdir"})).boot()
    assert res.outcome is Outcome.STUCK and "DirectoryMake" in (res.stuck_reason or "")
    assert res.console == BANNER


def test_database_read_error_hangs_in_csv_load() -> None:
    flash = fresh_flash()
    fs = FlakyFs(fail=set())
    bl = Bootloader(flash, fs)
    assert bl.boot().outcome is Outcome.RESET
    write_file(fs, image_database.DB_PATH, b"a.bin,FE,2,0x01,00")
    app_write_boot_control(flash, status=0xF0, version=2)
    fs.fail = {"read"}
    res = bl.boot()
    assert res.outcome is Outcome.STUCK and "csv_load" in (res.stuck_reason or "")
    rc, _ = image_database.load_db(fs)
    assert rc == image_database.LOAD_READ_HANG


def test_step_budget_is_a_stuck_reason_not_an_exception() -> None:
    board = new_rig(backup=False)
    res = Bootloader(board.flash, board.volume.mount(), max_iterations=10).boot()
    assert res.outcome is Outcome.STUCK and "10 main-loop passes" in (res.stuck_reason or "")


def test_flash_busy_time_is_reported_in_timed_mode() -> None:
    board = new_rig()
    board.flash.timed = True
    board.flash.erase(BOOT_CTL_PHYS)  # blank boot control: the factory image is programmed again
    start, busy0 = len(board.flash.log), board.flash.busy_s
    res = board.boot()
    timing = PIC32MZ1025W104132.timing
    assert timing is not None and busy0 > 0
    ops = board.flash.log[start:]
    expected = sum(timing.erase_s["page"] if op.kind == "erase:page" else timing.program_s for op in ops)
    assert res.flash_busy_s == pytest.approx(expected) and res.flash_busy_s > 223 * timing.erase_s["page"]


# ------------------------------------------------------------------ FatFs's error latch, seen by the bootloader


def _factory_first_cluster(fat_rig: BootRig) -> tuple[ExternalFlash, int]:
    x = fat_rig.volume.mount()
    assert isinstance(x, ExternalFlash)
    core = x.core()
    ota = core.find(0, "ota")
    assert ota is not None
    entry = core.find(ota.cluster, "factory_reset.bin")
    assert entry is not None
    return x, entry.cluster


def test_a_read_that_fails_after_the_header_latches_and_the_stale_buffer_is_programmed() -> None:
    """factory_reset.bin's first cluster links to a free entry (a cut while its FAT block was rewritten).

    SELECT's 4 KiB read copies the first 1 KiB (the F8 header) and fails; every later seek and read of that
    open file fails at once, so PROGRAM writes the same stale buffer everywhere, boot control included,
    and the board jumps to it (the factory image is not verified).
    """
    board = new_rig(fat=True)
    x, first = _factory_first_cluster(board)
    core = x.core()
    core.put_fat(first, 0)
    core.sync_window()
    board.flash.erase(BOOT_CTL_PHYS)
    res = board.boot()
    assert res.outcome is Outcome.JUMP and res.console == BANNER + b"Uninitialized sector\n"
    head = board.factory[:1024]  # what the failed read had copied: the backup's header cluster
    stale = bytearray(PAGE_SIZE)  # the rest of the shared buffer: never filled since reset
    stale[:1024] = head
    stale[0], stale[3] = 0xF8, 3  # factory_reset.bin's header as the backup wrote it
    assert board.flash.read(BOOT_CTL_PHYS, PAGE_SIZE)[256:] == bytes(stale[256:])
    assert board.flash.read(BOOT_CTL_PHYS + PAGE_SIZE, PAGE_SIZE) == bytes(stale)
    assert board.flash.read(BOOT_CTL_PHYS + 100 * PAGE_SIZE, PAGE_SIZE) == bytes(stale)
    assert res.boot_control is not None and (res.boot_control.status, res.boot_control.type) == (0xF8, 3)
    assert any("failed after 1024 bytes" in n for n in res.notes)
