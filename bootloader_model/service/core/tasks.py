"""The OTA core (``ota.c.ftl``, ``OTA_Tasks``): boot-time init, download, verify, DB entry, boot control,
factory reset, rollback and erase, one step per call, as Harmony v3.9.1 runs them (spec sections 1.3, 1.6, 6).

Every call of :meth:`OtaCore.tasks` is one ``OTA_Tasks()``: it advances the current task by one state, then
runs the downloader (``DOWNLOADER_Tasks``). Results reach the service through the registered callback, as
``OTA_RESULT`` values. Like the C code, all tasks share one ``task_state`` integer; a task that is started
without resetting it begins wherever the previous task left it (quirk ``core-task-state-not-reset``).

Where Harmony would write through a NULL pointer the core *hangs* (``hung``), as the PIC32's default
general-exception handler does. It does not print debug logs (``SYS_OTA_APPDEBUG_ENABLED`` off), patch,
secure boot or file-download features.
"""

from __future__ import annotations

from collections.abc import Callable

from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, BootControl, ImgStatus, ImgType
from bootloader_model.formats.image_database import DB_NAME, DbField, ImageDb
from bootloader_model.service.core.download import DownloadTasks
from bootloader_model.service.core.state import (
    BUSY,
    ERROR,
    READY,
    CoreTask,
    OtaParams,
    OtaResult,
    formulate_digest,
    image_file_name,
)
from bootloader_model.service.core.status import StatusTasks
from bootloader_model.storage.file_api import OTA_DIR, FsError

__all__ = ["CoreTask", "OtaCore", "OtaParams", "OtaResult", "formulate_digest", "image_file_name"]

FACTORY_IMAGE = "factory_reset.bin"


class OtaCore(DownloadTasks, StatusTasks):
    """``OTA_*``: the core state machine and its API."""

    # ------------------------------------------------------------------------------------------- API
    def is_idle(self) -> bool:
        return self.idle

    def callback_reg(self, cb: Callable[[OtaResult], None]) -> bool:
        if self.callback is not None:
            return False
        self.callback = cb
        return True

    def boot_control(self) -> BootControl:
        return BootControl.decode(self.internal.read(BOOT_CTL_PHYS, 256))

    def start(self, params: OtaParams) -> bool:
        """``OTA_Start``."""
        if self.current_task != CoreTask.IDLE:
            return False
        if self.free_sector_check and self.fs.free_bytes() // 512 <= 10:
            self.console(b"SYS OTA : No Free Sector, Download not possible\n\r")
            return False
        if not self.dl.open(params.ota_server_url):
            return False
        self.downloader_open = True
        self.params.serv_app_digest_string = params.serv_app_digest_string[:64]
        self.params.ota_server_url = params.ota_server_url
        self.params.version = params.version
        if not self.profile.on("core-download-status-not-reset"):
            self.params.total_data_downloaded = self.params.server_image_length = 0
        self.current_task = CoreTask.DOWNLOAD_IMAGE
        self._fresh_task()
        self.img_status, self.pfm_status = ImgStatus.DOWNLOADED, ImgStatus.DISABLED
        return True

    def _fresh_task(self) -> None:
        if not self.profile.on("core-task-state-not-reset"):
            self.task_state = 0

    def rollback(self) -> bool:
        """``OTA_Rollback``: succeeds and does nothing when the running image is the factory image."""
        if self.current_task != CoreTask.IDLE:
            return False
        bc = self.boot_control()
        if bc.type == ImgType.FACTORY_RESET:
            return True
        self.current_task = CoreTask.SET_IMAGE_STATUS
        self._fresh_task()
        self.param_version = bc.version
        self.img_status = self.pfm_status = ImgStatus.DISABLED
        self.rollback_initiated = True
        return True

    def factory_reset(self) -> bool:
        if self.current_task != CoreTask.IDLE:
            return False
        self.current_task = CoreTask.FACTORY_RESET
        self._fresh_task()
        return True

    def erase_image(self, version: int) -> bool:
        if self.current_task != CoreTask.IDLE:
            return False
        self.erase_ver = version & 0xFFFF_FFFF
        self.current_task = CoreTask.ERASE_IMAGE
        self._fresh_task()
        return True

    def download_status(self) -> tuple[int, int]:
        """``OTA_GetDownloadStatus``: (server_image_length, total_data_downloaded)."""
        return self.params.server_image_length, self.params.total_data_downloaded

    def image_db_info(self) -> None:
        """``OTA_GetImageDbInfo`` (``sysota getfs info``)."""
        if self.current_task == CoreTask.DOWNLOAD_IMAGE:
            self.console(b"Download In Progress, Please try later\n\r")
            return
        code, db = self._load()
        if code >= 1 or db.height & 0xFF == 0:
            self.console(b"NO info found\n\r")
            return
        self.console(b"\tImage name\t\tStatus\t\tVersion\t\tDigest\n\r")
        for i in range(db.height & 0xFF):
            ver = db.field_value_32(DbField.VERSION, i) or 0
            name = db.field_string(DbField.NAME, i) or ""
            digest = db.field_string(DbField.DIGEST, i) or ""
            status = db.field_value(DbField.STATUS, i) or 0
            signed = ver - 2**32 if ver >= 2**31 else ver
            self.console(f"{name}\t\t{status:x}\t\t{signed}\t\t{digest}\n\r".encode()[:255])

    # ---------------------------------------------------------------------------------- OTA_Tasks
    def tasks(self) -> None:
        """One ``OTA_Tasks()``."""
        if self.hung:
            return
        t = self.current_task
        if t == CoreTask.INIT:
            self._task_init()
        elif t == CoreTask.SET_IMAGE_STATUS:
            self._task_set_image_status()
        elif t == CoreTask.UPDATE_USER:
            self._task_update_user()
        elif t == CoreTask.IDLE:
            self.idle = True
        elif t == CoreTask.DOWNLOAD_IMAGE:
            self.idle = False
            status = self._download()
            if status == READY:
                self.result = OtaResult.IMAGE_DOWNLOADED
                self.current_task, self.task_state = CoreTask.UPDATE_USER, 0
            elif status == ERROR:
                self.console(b"SYS OTA : Download error\r\n")
                self.result = OtaResult.IMAGE_DOWNLOAD_FAILED
                self.current_task, self.task_state = CoreTask.UPDATE_USER, 0
        elif t == CoreTask.VERIFY_IMAGE_DIGEST:
            self.idle = False
            status = self._verify()
            if status == READY:
                self.result = OtaResult.IMAGE_DIGEST_VERIFY_SUCCESS
                self.current_task, self.task_state = CoreTask.UPDATE_USER, 0
                self.new_downloaded_img = True
                self._close_file()
            elif status == ERROR:
                self.result = OtaResult.IMAGE_DIGEST_VERIFY_FAILED
                self.current_task = CoreTask.UPDATE_USER
                self._close_file()
                if not self._remove(self.image_name):
                    self.console(b"SYS OTA : File remove operation failed\r\n")
        elif t == CoreTask.DATABASE_ENTRY:
            self.idle = False
            if self._db_entry():
                self.current_task, self.task_state = CoreTask.SET_IMAGE_STATUS, 0
            else:
                self.result = OtaResult.IMAGE_DB_ENTRY_FAILED
                self.current_task = CoreTask.UPDATE_USER
        elif t == CoreTask.FACTORY_RESET:
            self.idle = False
            if self._factory_reset() != BUSY:
                self.result = OtaResult.FACTORY_RESET_SUCCESS
                self.current_task = CoreTask.UPDATE_USER
        elif t == CoreTask.ERASE_IMAGE:
            self.idle = False
            ok = self._erase()
            self.result = OtaResult.IMAGE_ERASED if ok else OtaResult.IMAGE_ERASE_FAILED
            self.current_task = CoreTask.UPDATE_USER
        if not self.hung:
            self.dl.tasks()

    def _task_init(self) -> None:
        self.idle = False
        if self.mount_state == 0:
            try:
                self.fs.mount()
                self.mount_state = 1
            except FsError:
                pass  # retried every call until it succeeds
            return
        self.disk_mount = True
        self._cleanup()
        code = self._db_entry_check()
        if code == "full":
            self.console(b"SYS OTA : OTA DB FULL\r\n")
            self.db_full = True
            self.result = OtaResult.IMAGE_DATABASE_FULL
        elif code == "not-full":
            self.db_full = False
        self.current_task, self.task_state = CoreTask.SET_IMAGE_STATUS, 0
        bc = self.boot_control()
        self.param_version = bc.version
        self.img_status = self.pfm_status = ImgStatus.VALID
        if bc.type == ImgType.FACTORY_RESET:
            self.current_task = CoreTask.UPDATE_USER
        self.disk_mount = False

    def _db_exists(self) -> str:
        try:
            names = self.fs.listdir(OTA_DIR)
        except FsError:
            return "error"
        return "found" if DB_NAME in names else "not-found"

    def _db_entry_check(self) -> str:
        found = self._db_exists()
        if found != "found":
            return found
        code, db = self._load()
        if code > 0:
            return "error"
        return "not-full" if db.height & 0xFF < self.num_images else "full"

    def _cleanup(self) -> None:
        """``OTA_CleanUp``: remove ``*.bin`` files no DB row names (all of them without a DB)."""
        found = self._db_exists()
        if found == "error":
            return
        db = ImageDb()
        if found == "found":
            code, db = self._load()
            if code > 0:
                return
        for name in self.fs.listdir(OTA_DIR):
            if not name.lower().endswith(".bin") or name.startswith(FACTORY_IMAGE):
                continue
            if found == "found":
                names = [db.field_string(DbField.NAME, i) for i in range(db.height & 0xFF)]
                if any(n is not None and n[:100].startswith(name) for n in names):
                    continue
            if self._remove(f"{OTA_DIR}/{name}"):
                self.console(f"SYS OTA : Removed file : {name}\r\n".encode()[:255])
            else:
                self.console(b"SYS OTA : File remove operation failed : clean up\r\n")

    def _task_update_user(self) -> None:
        self.idle = False
        self.current_task = CoreTask.IDLE
        if self.result == OtaResult.IMAGE_DOWNLOADED:
            self.current_task, self.task_state = CoreTask.VERIFY_IMAGE_DIGEST, 0
        if self.result == OtaResult.IMAGE_DIGEST_VERIFY_SUCCESS:
            self.current_task, self.task_state = CoreTask.DATABASE_ENTRY, 0
        self._notify()
