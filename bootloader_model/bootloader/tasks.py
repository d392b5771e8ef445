"""The steps of the OTA bootloader's tasks, CHECK_IMAGE to FACTORY_RESET, one main-loop pass each.

:class:`TaskSteps` is mixed into :class:`~bootloader_model.bootloader.step_machine.Bootloader`: each method is one
call of the matching ``Bootloader_Task_*()`` function of ``bootloader_wolfcrypt.c`` and returns its
status (``SUCCESS``, ``MORE``, ``ERROR``). The decisions follow spec section 7 line by line; the quirks
switch here. The driver (main loop, console, flash and file helpers) is in ``step_machine.py``.
"""

from __future__ import annotations

import contextlib
import hashlib

from bootloader_model.bootloader.result import Check, Outcome, Programming, Selection, Verification
from bootloader_model.bootloader.state import (
    BROKEN_IMAGE,
    ERROR,
    FACTORY_PATH,
    FACTORY_RESET_IMG_SIZE,
    FLASH_END,
    MORE,
    SLOT_PAGES,
    SUCCESS,
    U32,
    UNINITIALIZED,
    RunState,
    Stuck,
)
from bootloader_model.formats.boot_control import (
    APP_BOOT_ADDR,
    BOOT_CTL_PHYS,
    HEADER_SIZE,
    PAGE_SIZE,
    BootControl,
    ImgStatus,
    ImgType,
)
from bootloader_model.formats.image_database import DB_PATH, DbField, c_strtol16, save_db, status_text
from bootloader_model.quirks import QuirkProfile
from bootloader_model.storage.file_api import MOUNT_POINT, FileSystem, FsError
from bootloader_model.storage.nor_flash import NorFlash


class TaskSteps:
    """CHECK_IMAGE .. FACTORY_RESET. The host class provides the flash, the volume and the helpers."""

    flash: NorFlash
    fs: FileSystem
    profile: QuirkProfile
    variant: str

    def _print(self, data: bytes) -> None:
        raise NotImplementedError

    def _stuck(self, reason: str, each_pass: bytes = b"") -> Stuck:
        raise NotImplementedError

    def _write_rows(self, r: RunState, address: int, data: bytes | bytearray, *, and_bits: bool = False) -> None:
        raise NotImplementedError

    def _read_file(self, r: RunState, n: int) -> int:
        raise NotImplementedError

    def _seek(self, r: RunState, pos: int) -> None:
        raise NotImplementedError

    def _load_db(self, r: RunState) -> int:
        raise NotImplementedError

    def _open_file(self, r: RunState) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------ CHECK_IMAGE
    def _check(self, r: RunState) -> int:
        if r.ts == 0:  # TASK_STATE_C_INIT
            if self.flash.read(BOOT_CTL_PHYS, 16) == b"\xff" * 16:
                r.factory_reset = True
                self._print(UNINITIALIZED)
                r.res.checked = Check.UNINITIALIZED
                return ERROR
            r.factory_reset = False
            rc = self._load_db(r)
            if rc == 1:
                r.database_found = False
                r.factory_reset = True
                r.res.checked = Check.NO_DATABASE
                return ERROR
            r.database_found = True
            r.ts = 1
            return MORE
        if r.ts == 1:  # TASK_STATE_C_PARSE_DATABASE
            ctl = BootControl.decode(self.flash.read(BOOT_CTL_PHYS, HEADER_SIZE))
            r.selected_row = r.db.image_row(ctl.version, uint8_cast=self.profile.on("bootloader-row-lookup-uint8"))
            if r.selected_row == -1:
                r.res.checked = Check.ROW_NOT_FOUND
                return ERROR
            status = r.db.field_value(DbField.STATUS, r.selected_row)
            version = r.db.field_value_32(DbField.VERSION, r.selected_row)
            if status is None or version is None:
                r.res.checked = Check.FIELD_ERROR
                return ERROR
            r.buf[0] = status  # GetFieldValue writes through a header pointer into the shared buffer
            r.buf[8:12] = U32.pack(version)
            if ctl.status == ImgStatus.VALID and version == ctl.version and status == ImgStatus.VALID:
                r.res.checked = Check.VALID
                return SUCCESS
            r.res.checked = Check.NOT_VALID
            r.ts = 4
            return MORE
        return ERROR  # TASK_STATE_C_DONE

    # ----------------------------------------------------------------------------------- SELECT_IMAGE
    def _field_error(self, r: RunState, what: str, *, one_row: bool) -> int:
        """An unreadable database field in SELECT (quirk ``select-field-error-loop``)."""
        if one_row or not self.profile.on("select-field-error-loop"):
            r.factory_reset = True
            return ERROR
        raise self._stuck(f"SELECT: {what} unreadable in a {r.db.height}-row database; retried silently for ever")

    def _select(self, r: RunState) -> int:
        if r.factory_reset:
            if not r.file_opened:
                r.reading_file = True
                self._open_file(r)
                return MORE
            r.reading_file = False
            with contextlib.suppress(FsError):
                self.fs.remove(DB_PATH)  # on every pass of the factory path; only the first one finds it
                r.res.db_deleted = True
        if r.ts == 0:  # TASK_STATE_S_INIT
            r.ts = 1
            return MORE
        if r.ts == 1:  # TASK_STATE_S_PARSE_DB
            if not r.factory_reset:
                return self._select_row(r)
            assert r.fh is not None
            self._seek(r, 0)
            if r.fh.tell() == r.fh.size():  # SYS_FS_FileEOF (a latched failure leaves the position alone)
                raise self._stuck(
                    f"{FACTORY_PATH} reads as empty (EOF after the seek to 0); SELECT retries silently for ever"
                )
            self._read_file(r, PAGE_SIZE)
            r.ts = 2
            return MORE
        if r.ts == 2:  # TASK_STATE_S_CHECK_IMAGE
            if r.factory_reset:
                r.param[:] = r.buf[:HEADER_SIZE]
                if r.param[0] != ImgStatus.VALID:
                    raise self._stuck(
                        f"{FACTORY_PATH} header status is 0x{r.param[0]:02X}, not F8; SELECT retries silently for ever"
                    )
                if self.variant == "trustflex":
                    self._print(b"Valid image\n")
                if not self.profile.on("bootloader-stale-new-image"):
                    r.new_image = False
                r.res.selections.append(
                    Selection(True, FACTORY_PATH, version=r.get32(8), header_status=r.param[0]),
                )
            r.ts = 4
            return MORE
        return SUCCESS  # TASK_STATE_S_DONE

    def _select_row(self, r: RunState) -> int:
        db = r.db
        total = db.height & 0xFF  # uint8_t total_images
        r.selected_row = -1
        r.put32(8, 0)
        chosen_status = 0
        for i in range(total):
            ver = db.field_value_32(DbField.VERSION, i)
            if ver is None:
                return self._field_error(r, f"version of row {i}", one_row=total == 1)
            if r.get32(8) < ver:
                status = db.field_value(DbField.STATUS, i)
                if status is None:
                    return self._field_error(r, f"status of row {i}", one_row=False)
                r.put8(0, status)  # the shared header takes every examined row's status
                if status in (ImgStatus.DOWNLOADED, ImgStatus.VALID):
                    r.selected_row, chosen_status = i, status
                    r.put32(8, ver)
        if r.selected_row == -1:
            r.ts = 1
            r.factory_reset = True
            r.res.notes.append("no FE or F8 row: factory image")
            return MORE
        name = db.field_string(DbField.NAME, r.selected_row)
        if name is None:
            return self._field_error(r, f"name of row {r.selected_row}", one_row=False)
        digest = db.field_string(DbField.DIGEST, r.selected_row)
        if digest is None:
            return self._field_error(r, f"digest of row {r.selected_row}", one_row=False)
        raw = digest.encode("latin-1") + b"\0"
        r.digest_str[: len(raw)] = raw  # strcpy: bytes past the terminator keep older contents
        if not self.profile.on("select-header-status"):
            r.put8(0, chosen_status)
        path = MOUNT_POINT + "/ota/" + name
        try:
            r.fh = self.fs.open(path, "r+")
        except FsError:
            r.ts = 1
            r.factory_reset = True
            r.res.notes.append(f"{path} cannot be opened: factory image")
            return MORE
        r.new_image = True
        r.res.selections.append(Selection(False, path, r.selected_row, name, r.get32(8), r.param[0]))
        r.ts = 2
        return MORE

    # ---------------------------------------------------------------------------------- PROGRAM_IMAGE
    def _program(self, r: RunState) -> int:
        assert r.fh is not None
        new_image = r.new_image and not (r.factory_reset and not self.profile.on("bootloader-stale-new-image"))
        if r.ts == 0:  # TASK_STATE_P_INIT
            r.len = r.offset = PAGE_SIZE
            if new_image:
                r.copy_len = r.fh.size()
                r.put32(4, r.copy_len)
            else:
                r.copy_len = FACTORY_RESET_IMG_SIZE
            self._seek(r, 0)
            self._read_file(r, r.len)
            r.boot_ctl[:] = r.buf
            r.ts = 1
        elif r.ts == 1:  # TASK_STATE_P_ERASE_SLOT: the boot control page goes first
            for page in range(SLOT_PAGES):
                self.flash.erase(BOOT_CTL_PHYS + page * PAGE_SIZE)
            r.ts = 2
        elif r.ts == 2:  # TASK_STATE_P_READ_IMAGE
            self._seek(r, r.offset)
            n = self._read_file(r, r.len)
            if n < r.len and not self.profile.on("program-stale-tail"):
                r.buf[n:] = b"\xff" * (r.len - n)
            r.ts = 3
        elif r.ts == 3:  # TASK_STATE_P_PROGRAM_IMAGE
            self._write_rows(r, BOOT_CTL_PHYS + r.offset, r.buf)
            r.offset += r.len
            r.ts = 4 if r.offset >= r.copy_len else 2
        elif r.ts == 4:  # TASK_STATE_P_FORMULATE_BOOT_CTL
            if new_image:
                r.put8(3, ImgType.PRODUCTION)
                r.put32(12, APP_BOOT_ADDR)
                if not self.profile.on("program-stale-tail"):
                    r.buf[:] = r.boot_ctl
                r.buf[:HEADER_SIZE] = r.param
            else:
                self._seek(r, 0)
                self._read_file(r, PAGE_SIZE)
            r.ts = 5
        elif r.ts == 5:  # TASK_STATE_P_PROGRAM_BOOT_CTL
            self._write_rows(r, BOOT_CTL_PHYS, r.buf)
            header = BootControl.decode(r.buf)
            path = r.res.chosen.path if r.res.chosen else FACTORY_PATH
            r.res.programmed.append(Programming(path, r.copy_len, BOOT_CTL_PHYS + r.offset, header))
            r.ts = 6
        else:  # TASK_STATE_P_DONE
            if r.factory_reset:
                with contextlib.suppress(FsError):
                    r.fh.close()
            return SUCCESS
        return MORE

    # ----------------------------------------------------------------------------------- VERIFY_IMAGE
    def _verify(self, r: RunState) -> int:
        if r.ts == 0:  # TASK_STATE_V_INIT
            if r.factory_reset:  # non-secure build: the factory image is not verified
                r.res.verified.append(Verification(skipped=True, ok=True))
                return SUCCESS
            r.offset, r.len, r.img_sz = 0, PAGE_SIZE, r.get32(4)
            r.sha = hashlib.sha256()
            r.buf[:] = self.flash.read(BOOT_CTL_PHYS, PAGE_SIZE)
            r.digest_g = self._formulate_digest(r)
            r.ts = 1
            return MORE
        if r.ts == 1:  # TASK_STATE_V_READ_IMG
            if r.offset == 0:
                r.buf[:] = r.boot_ctl  # the file's own first page, not the boot control now in flash
            r.sha.update(memoryview(r.buf)[: r.len])
            r.offset += r.len
            if r.offset < r.img_sz:
                if r.offset + r.len > r.img_sz:
                    r.len = r.img_sz - r.offset
                if BOOT_CTL_PHYS + r.offset + r.len > FLASH_END:
                    raise self._stuck("VERIFY reads past the end of program flash: bus error exception")
                r.buf[: r.len] = self.flash.read(BOOT_CTL_PHYS + r.offset, r.len)
            else:
                r.ts = 2
            return MORE
        actual = r.sha.digest()  # TASK_STATE_V_DONE
        r.param[16:48] = r.digest_g
        ok = actual == r.digest_g
        r.res.verified.append(Verification(skipped=False, ok=ok, expected=r.digest_g, actual=actual))
        if not ok:
            self._print(BROKEN_IMAGE)
            if not self.profile.on("verify-failure-file-leak") and r.fh is not None:
                with contextlib.suppress(FsError):
                    r.fh.close()  # the fix: free the one SYS_FS file object before INVALIDATE saves the DB
            return ERROR
        return SUCCESS

    @staticmethod
    def _formulate_digest(r: RunState) -> bytes:
        """Two characters at a time through ``strncpy`` + ``strtol(.., 16)``; short strings read stale bytes."""
        out = bytearray(32)
        for i in range(32):
            pair = bytes(r.digest_str[2 * i : 2 * i + 2]).split(b"\0", 1)[0]
            out[i] = c_strtol16(pair.decode("latin-1")) & 0xFF
        return bytes(out)

    # -------------------------------------------------------------------- SET_IMAGE_STATUS / INVALIDATE
    def _set_status(self, r: RunState) -> int:
        if r.ts == 0:
            r.buf[:] = self.flash.read(BOOT_CTL_PHYS, PAGE_SIZE)
            r.ts = 1
            return MORE
        if r.ts == 1:
            r.put8(0, r.param[0] & ImgStatus.UNBOOTED)  # FE -> FC (UNBOOTED), F8 stays F8
            r.buf[:HEADER_SIZE] = r.param
            self._write_rows(r, BOOT_CTL_PHYS, r.buf, and_bits=True)  # rewritten without an erase
            r.ts = 2
            return MORE
        return SUCCESS

    def _invalidate(self, r: RunState) -> int:
        if r.ts == 0:
            r.put8(0, ImgStatus.DISABLED)
            name = r.db.field_string(DbField.NAME, r.selected_row) or ""
            r.db.set_field_value(DbField.STATUS, r.selected_row, status_text(ImgStatus.DISABLED))
            r.db.remove_row(r.selected_row)
            if save_db(self.fs, DB_PATH, r.db.rows, self.profile) != 0:
                r.res.notes.append(f"INVALIDATE could not open {DB_PATH}: the file keeps the row")
            r.res.invalidated.append(name)
            r.ts = 2
            return MORE
        return SUCCESS

    # ---------------------------------------------------------------------------------- FACTORY_RESET
    def _factory_backup(self, r: RunState) -> None:
        """First boot after the unified hex: copy 0xDF000 bytes of internal flash to ota/factory_reset.bin."""
        if not r.file_opened:
            self._open_file(r)
            return
        assert r.fh is not None
        if r.ts == 0:  # TASK_STATE_FR_INIT
            r.copy_len, r.offset = FACTORY_RESET_IMG_SIZE, 0
            r.ts = 1
        elif r.ts == 1:  # TASK_STATE_FR_READ_IMAGE
            r.buf[:] = self.flash.read(BOOT_CTL_PHYS + r.offset, PAGE_SIZE)
            r.ts = 2
        elif r.ts == 2:  # TASK_STATE_FR_PROGRAM_IMAGE
            if r.offset == 0:
                _patch_factory_header(r.buf)
            with contextlib.suppress(FsError):  # SYS_FS_FileWrite's result is not checked
                r.fh.write(bytes(r.buf))
            r.offset += PAGE_SIZE
            r.ts = 3 if r.offset >= r.copy_len else 1
        elif r.ts == 3:  # TASK_STATE_FR_ERASE_BOOT_CTL (it does not erase)
            _patch_factory_header(r.buf)  # the buffer still holds the last page read, 0x100F_E000
            self._write_rows(r, BOOT_CTL_PHYS, r.buf, and_bits=True)
            r.ts = 4
        else:  # TASK_STATE_FR_DONE
            with contextlib.suppress(FsError):
                r.fh.close()
            r.res.factory_backup = True
            r.res.outcome = Outcome.RESET


def _patch_factory_header(buf: bytearray) -> None:
    buf[3] = ImgType.FACTORY_RESET
    buf[0] = ImgStatus.VALID
    U32.pack_into(buf, 12, APP_BOOT_ADDR)
