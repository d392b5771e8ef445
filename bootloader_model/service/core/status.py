"""The OTA core's DB entry, image status, factory reset and erase tasks.

``OTA_Task_DataEntry`` (new DB row through :func:`bootloader_model.formats.image_database.new_entry`),
``OTA_Task_SetImageStatus`` (DB status plus an erase and rewrite of the boot control page, as ``int_flash.c``
does it: one page erase, four 1 KiB row writes), ``OTA_Task_FactoryReset`` and ``OTA_Task_EraseImage``.
One state per call; the shared ``task_state`` integer is used as the C code uses it.
"""

from __future__ import annotations

from bootloader_model.formats import image_database
from bootloader_model.formats.boot_control import APP_BOOT_ADDR, BOOT_CTL_PHYS, PAGE_SIZE, BootControl, ImgType
from bootloader_model.formats.image_database import DB_PATH, DbField
from bootloader_model.service.core.state import (
    BUSY,
    ERROR,
    F_DISABLE_IMAGE,
    F_DONE,
    F_INIT,
    F_INVALIDATE_BOOT_CTL,
    READY,
    ROW,
    S_DONE,
    S_INIT,
    S_UPDATE_DB,
    S_WRITE_BOOT_CONTROL,
    CoreBase,
    CoreTask,
    OtaResult,
)
from bootloader_model.storage.file_api import OTA_DIR, FsError


class StatusTasks(CoreBase):
    """The DB entry, status, factory reset and erase task bodies."""

    # ------------------------------------------------------------------------------------ DB entry
    def _db_entry(self) -> bool:
        """``OTA_Task_DataEntry`` / ``OTADbNewEntry``."""
        code, db = self._load()
        row = db.height
        if code == 0 and self.db_full:  # the row OTADbNewEntry will overwrite (for the corrected status step)
            lowest = image_database.APP_MIN_VERSION_START
            for i in range(db.height & 0xFF):
                ver = db.field_value_32(DbField.VERSION, i)
                if ver is not None and lowest > ver:
                    lowest, row = ver, i
        self.written_row = row if code == 0 else 0
        try:
            rc = image_database.new_entry(
                self.fs,
                self.image_name or "/",
                self.params.version,
                self.params.serv_app_digest_string,  # the C string: 64 characters unless a long URL ran on
                db_full=self.db_full,
                profile=self.profile,
            )
        except FsError:
            return False
        return rc == 0

    # --------------------------------------------------------------------------- set image status
    def _task_set_image_status(self) -> None:
        self.idle = False
        status = self._set_image_status()
        if status == BUSY:
            return
        self.result = OtaResult.NONE
        if self.new_downloaded_img:
            self.result = OtaResult.IMAGE_STATUS_SET
        if self.rollback_initiated:
            self.result = OtaResult.ROLLBACK_DONE
        if status == ERROR and not self.profile.on("core-status-error-reported-as-success"):
            if self.rollback_initiated:
                self.result = OtaResult.ROLLBACK_FAILED
            elif self.new_downloaded_img:
                self.result = OtaResult.IMAGE_DB_ENTRY_FAILED
        if not self.profile.on("core-task-state-not-reset"):
            self.rollback_initiated = False
        self.current_task, self.task_state = CoreTask.UPDATE_USER, 0

    def _set_image_status(self) -> str:
        st = self.task_state
        if st == S_INIT:
            self.ctx_buf = self._boot_control_buffer()
            code, self.db = self._load()
            if code > 1:
                return ERROR
            if not self.new_downloaded_img or self.rollback_initiated:
                self.selected_row = self.db.image_row(self.param_version, uint8_cast=False)
                if self.selected_row == -1:
                    return ERROR
            elif self.profile.on("core-dbfull-status-wrong-row"):
                self.selected_row = (self.db.height & 0xFF) - 1
            else:
                self.selected_row = self.written_row
            self.task_state = S_UPDATE_DB
        elif st == S_UPDATE_DB:
            row = self.selected_row & 0xFF
            status = self.db.field_value(DbField.STATUS, row)
            version = self.db.field_value_32(DbField.VERSION, row)
            if status is None or version is None:
                return ERROR
            self.ctx_version = version
            if status != self.img_status:
                self.db.set_field_value(DbField.STATUS, row, image_database.status_text(self.img_status))
                self._save(self.db)
            self.task_state = S_WRITE_BOOT_CONTROL
        elif st == S_WRITE_BOOT_CONTROL:
            if self.ctx_buf is None:
                self._hang()  # memcpy into the freed, NULLed context buffer
                return BUSY
            header = BootControl(
                status=int(self.pfm_status),
                slot=0,
                order=0xFF,
                type=ImgType.PRODUCTION,
                sz=0,
                version=self.ctx_version,
                boot_addr=APP_BOOT_ADDR,
                digest=bytes(32),
                rsvd=bytes(208),
            )
            encoded = bytearray(header.encode())
            if self.profile.on("core-boot-control-stale-buffer"):
                # ctx->img shares ota.task.context with the digest check's context: its img_sz lies under
                # digest[0..3]; slot is a byte of that context's SHA-256 pointer (a heap address), left 0
                encoded[16:20] = (self.img_sz & 0xFFFF_FFFF).to_bytes(4, "little")
            self.ctx_buf[:256] = encoded
            before = self.internal.busy_s
            self.internal.erase(BOOT_CTL_PHYS)
            for off in range(0, PAGE_SIZE, ROW):
                self.internal.program(BOOT_CTL_PHYS + off, bytes(self.ctx_buf[off : off + ROW]))
            self._flash_busy(before)
            self.task_state = S_DONE
        elif st == S_DONE:
            self.ctx_buf = None
            return READY
        else:
            return ERROR  # the switch's default
        return BUSY

    def _boot_control_buffer(self) -> bytearray:
        """``OSAL_Malloc(FLASH_SECTOR_SIZE)`` of ``TASK_STATE_S_INIT``, never initialised.

        Quirk ``core-boot-control-stale-buffer``: the allocator hands back the 4 KiB block the digest check
        (or the download) freed in this run, still holding the image's last chunk; a run that freed none gets
        fresh, zeroed heap memory. Profile ``corrected``: an erased-looking page (0xFF).
        """
        if not self.profile.on("core-boot-control-stale-buffer"):
            return bytearray(b"\xff" * PAGE_SIZE)
        return bytearray(bytes(self.buf[:PAGE_SIZE]).ljust(PAGE_SIZE, b"\0"))

    # ------------------------------------------------------------------------------ factory, erase
    def _factory_reset(self) -> str:
        st = self.task_state
        if st == F_INIT:
            self.task_state = F_DISABLE_IMAGE
        elif st == F_DISABLE_IMAGE:
            self._remove(DB_PATH)
            self.task_state = F_INVALIDATE_BOOT_CTL
        elif st == F_INVALIDATE_BOOT_CTL:
            before = self.internal.busy_s
            self.internal.erase(BOOT_CTL_PHYS)
            self._flash_busy(before)
            self.task_state = F_DONE
        elif st == F_DONE:
            return READY
        else:
            return ERROR
        return BUSY

    def _erase(self) -> bool:
        """``OTA_Task_EraseImage``: delete the DB row of ``erase_ver`` and its file."""
        code, db = self._load()
        if code > 1:
            return False
        row = db.image_row(self.erase_ver, uint8_cast=False)
        if row == -1:
            return False
        name = db.field_string(DbField.NAME, row)
        if name is None or db.remove_row(row) != 0:
            return False
        self._save(db)
        return self._remove(f"{OTA_DIR}/{name}")
