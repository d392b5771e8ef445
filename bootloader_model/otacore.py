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

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from . import imagedb
from .bootctl import APP_BOOT_ADDR, BOOT_CTL_PHYS, PAGE_SIZE, BootControl, ImgStatus, ImgType
from .clock import VirtualClock
from .flash import NorFlash
from .fs import OTA_DIR, FileSystem, FsError, OpenFile
from .httpclient import Downloader
from .imagedb import DB_NAME, DB_PATH, DbField, ImageDb
from .quirks import QuirkProfile

SECTOR = 4096  # FLASH_SECTOR_SIZE
DOWNLOAD_TIMEOUT_S = 1000  # OTA_DOWNLOADER_TIMEOUT
ROW = 1024
FACTORY_IMAGE = "factory_reset.bin"


class CoreTask(IntEnum):
    INIT = 0
    IDLE = 1
    ALLOCATE_SLOT = 2
    CHECK_DB = 3
    DOWNLOAD_IMAGE = 4
    VERIFY_IMAGE_DIGEST = 5
    DATABASE_ENTRY = 6
    SET_IMAGE_STATUS = 7
    FACTORY_RESET = 8
    ERASE_IMAGE = 9
    UPDATE_USER = 10


class OtaResult(IntEnum):
    IMAGE_DOWNLOAD_START = 0
    IMAGE_DOWNLOADED = 1
    IMAGE_DOWNLOAD_FAILED = 2
    IMAGE_DIGEST_VERIFY_START = 3
    IMAGE_DIGEST_VERIFY_SUCCESS = 4
    IMAGE_DIGEST_VERIFY_FAILED = 5
    IMAGE_STATUS_SET = 6
    IMAGE_DATABASE_FULL = 7
    IMAGE_DB_ENTRY_FAILED = 8
    IMAGE_ERASE_FAILED = 9
    IMAGE_ERASED = 10
    FACTORY_RESET_SUCCESS = 11
    ROLLBACK_DONE = 12
    NONE = 13
    ROLLBACK_FAILED = 100  # profile "corrected" only: Harmony has no such result


# The per-task sub-states share one integer, as ``ota.task.state`` does in C.
D_INIT, D_GET_CONTENT_LENGTH, D_DOWNLOAD, D_WRITE, D_DONE = range(5)
V_INIT, V_READ_HEADER, V_READ, V_DONE = range(4)
(
    S_INIT,
    S_READ_HEADER,
    S_WRITE_HEADER,
    S_UPDATE_DB,
    S_VERIFY_HEADER,
    S_ERASE_BOOT_CONTROL,
    S_WRITE_BOOT_CONTROL,
    S_DONE,
) = range(8)
F_INIT, F_DISABLE_IMAGE, F_INVALIDATE_BOOT_CTL, F_DONE = range(4)

BUSY, READY, ERROR = "busy", "ready", "error"


@dataclass
class OtaParams:
    """The fields of ``OTA_PARAMS`` the model uses."""

    ota_server_url: str = ""
    serv_app_digest_string: str = ""
    version: int = 0
    delete_img_version: int = 0
    total_data_downloaded: int = 0
    server_image_length: int = 0


def image_file_name(url: str) -> str | None:
    """``create_image_file``: ``/mnt/myDrive1/ota`` + the URL from its last ``/``, extension set to ``bin``.

    ``None`` when the resulting path has no ``.`` (Harmony dereferences NULL there).
    """
    name = OTA_DIR + url[url.rfind("/") :]
    dot = name.rfind(".")
    if dot < 0:
        return None
    return name[: dot + 1] + "bin"


def formulate_digest(text: str) -> bytes:
    """The 32 digest bytes Harmony compares: ``strtol`` of each 2-character slice of the first 64 chars."""
    buf = text[:64].ljust(64, "\0")
    out = bytearray()
    for i in range(32):
        pair = buf[2 * i : 2 * i + 2].split("\0", 1)[0]
        m = re.match(r"\s*([+-]?)(?:0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]*)", pair)
        digits = m.group(2) if m else ""
        value = int(digits, 16) if digits else 0
        out.append((-value if m and m.group(1) == "-" else value) & 0xFF)
    return bytes(out)


class OtaCore:
    """``OTA_*``: the core state machine and its API."""

    def __init__(
        self,
        *,
        fs: FileSystem,
        internal: NorFlash,
        clock: VirtualClock,
        console: Callable[[bytes], None],
        profile: QuirkProfile,
        downloader: Downloader,
        num_images: int = 2,
        free_sector_check: bool = False,
    ) -> None:
        self.fs, self.internal, self.clock, self.console = fs, internal, clock, console
        self.profile, self.dl = profile, downloader
        self.num_images, self.free_sector_check = num_images, free_sector_check
        self.current_task = CoreTask.INIT
        self.task_state = 0
        self.result = OtaResult.NONE
        self.callback: Callable[[OtaResult], None] | None = None
        self.new_downloaded_img = False
        self.rollback_initiated = False
        self.idle = False
        self.db_full = False
        self.hung = False
        self.params = OtaParams()
        self.mount_state = 0  # APP_MOUNT_DISK / APP_MOUNT_SUCCESS
        self.disk_mount = False
        self.downloader_open = False  # ota.downloader != DRV_HANDLE_INVALID
        self.image_name = ""
        self.file: OpenFile | None = None
        self.param_version = 0
        self.img_status = ImgStatus.VALID
        self.pfm_status = ImgStatus.VALID
        self.erase_ver = 0
        # task contexts (ota.task.context) and the statics they use
        self.buf = bytearray()
        self.buf_len = self.copied_len = self.total_len = 0
        self.timeout = 0.0
        self.sha: hashlib._Hash | None = None
        self.v_len = self.v_offset = self.img_sz = 0
        self.db = ImageDb()  # imageDB of the status task: kept (stale) between runs, as in C
        self.selected_row = -1
        self.written_row = -1
        self.ctx_buf: bytearray | None = None
        self.ctx_version = 0

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

    # ------------------------------------------------------------------------------------- helpers
    def _load(self) -> tuple[int, ImageDb]:
        """``OTAGetDb``: 0 loaded, 1 no file, >1 error (e.g. no file system)."""
        try:
            return imagedb.load_db(self.fs, DB_PATH)
        except FsError:
            return 2, ImageDb()

    def _save(self, db: ImageDb) -> int:
        try:
            return imagedb.save_db(self.fs, DB_PATH, db.rows, self.profile)
        except FsError:
            return 1

    def _remove(self, path: str) -> bool:
        try:
            self.fs.remove(path)
            return True
        except FsError:
            return False

    def _close_file(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def _flash_busy(self, before: float) -> None:
        """The NVM loops busy-wait inside the call: the task takes the flash's busy time."""
        if self.internal.timed:
            self.clock.advance(max(0.0, self.internal.busy_s - before))

    def _hang(self) -> None:
        self.hung = True

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

    def _notify(self) -> None:
        """``OTA_Task_UpdateUser``: close the downloader (except at download start), then call back."""
        if self.result != OtaResult.IMAGE_DOWNLOAD_START and self.downloader_open:
            self.dl.close()
            self.downloader_open = False
        if self.callback is not None:
            self.callback(self.result)

    # ----------------------------------------------------------------------------------- download
    def _download(self) -> str:
        status = BUSY
        if self.task_state not in (D_INIT, D_DONE) and self.clock.now() > self.timeout:
            status, self.task_state = ERROR, D_DONE
        st = self.task_state
        if st == D_INIT:
            self.result = OtaResult.IMAGE_DOWNLOAD_START
            self._notify()
            name = image_file_name(self.params.ota_server_url)
            if name is None:
                if self.profile.on("core-url-without-dot-crash"):
                    self._hang()
                    return BUSY
                name = ""
            self.image_name = name
            try:
                self.file = self.fs.open(name, "w+")
            except FsError:
                self.file = None  # Harmony overwrites the error state below and fails at the first write
            self.buf, self.buf_len, self.copied_len, self.total_len = bytearray(SECTOR), 0, 0, 0
            self.timeout = self.clock.now() + DOWNLOAD_TIMEOUT_S
            self.task_state = D_GET_CONTENT_LENGTH
        elif st == D_GET_CONTENT_LENGTH:
            status = self._get_content_length()
        elif st == D_DOWNLOAD:
            req = min(self.total_len - self.copied_len, SECTOR)
            got = self.dl.read(req - self.buf_len)
            if isinstance(got, int):
                status, self.task_state = ERROR, D_DONE
            elif got:
                self.buf[self.buf_len : self.buf_len + len(got)] = got
                self.buf_len += len(got)
                if self.buf_len == req:
                    self.task_state = D_WRITE
        elif st == D_WRITE:
            if not self._write(self.copied_len, bytes(self.buf[: self.buf_len])):
                status, self.task_state = ERROR, D_DONE
            else:
                self.copied_len += self.buf_len
                self.params.total_data_downloaded = self.copied_len
                self.buf_len = 0
                self.task_state = D_DOWNLOAD if self.copied_len < self.total_len else D_DONE
        if self.task_state == D_DONE:
            if self.downloader_open:
                self.dl.close()
                self.downloader_open = False
            return ERROR if status == ERROR else READY
        return BUSY

    def _get_content_length(self) -> str:
        got = self.dl.read(SECTOR - self.buf_len)
        if isinstance(got, int):
            if (
                not self.profile.on("core-image-min-4k")
                and self.buf_len
                and self.buf_len == self.dl.field_content_length
            ):
                return self._short_image()
            self.task_state = D_DONE
            return ERROR
        if not got:
            return BUSY
        self.buf[self.buf_len : self.buf_len + len(got)] = got
        self.buf_len += len(got)
        if self.buf_len != SECTOR:
            return BUSY
        self.total_len = self.dl.field_content_length
        self.params.server_image_length = self.total_len
        if not self._write(0, bytes(self.buf)):
            self.task_state = D_DONE
            return ERROR
        self.task_state = D_DOWNLOAD
        self.copied_len += self.buf_len
        self.buf_len = 0
        if not self.profile.on("core-image-min-4k") and self.copied_len >= self.total_len:
            self.params.total_data_downloaded = self.copied_len
            self.task_state = D_DONE
        return BUSY

    def _short_image(self) -> str:
        """Profile ``corrected``: an image of at most 4 KiB completes when the client has closed."""
        self.total_len = self.params.server_image_length = self.buf_len
        if not self._write(0, bytes(self.buf[: self.buf_len])):
            self.task_state = D_DONE
            return ERROR
        self.copied_len = self.params.total_data_downloaded = self.buf_len
        self.task_state = D_DONE
        return BUSY

    def _write(self, offset: int, data: bytes) -> bool:
        if self.file is None:
            return False
        try:
            self.file.seek(offset)
            return self.file.write(data) == len(data)
        except FsError:
            return False

    # ------------------------------------------------------------------------------------- verify
    def _verify(self) -> str:
        st = self.task_state
        if st == V_INIT:
            self.v_offset, self.v_len = 0, SECTOR
            self.digest_expected = formulate_digest(self.params.serv_app_digest_string)
            self.sha = hashlib.sha256()
            self.img_sz = self.dl.field_content_length
            if not self.profile.on("core-image-min-4k"):
                self.img_sz = self.total_len
                self.v_len = min(SECTOR, self.img_sz)
            if self.file is None:
                return ERROR
            try:
                self.file.seek(0)
                self._read_into(self.v_len)
            except FsError:
                self._close_file()
                return ERROR
            self.task_state = V_READ
            self.result = OtaResult.IMAGE_DIGEST_VERIFY_START
            self._notify()
        elif st == V_READ:
            assert self.sha is not None
            self.sha.update(self.buf[: self.v_len])
            self.v_offset += self.v_len
            if self.v_offset == self.img_sz:
                self.task_state = V_DONE
                return BUSY
            if self.v_offset + self.v_len > self.img_sz:
                self.v_len = (self.img_sz - self.v_offset) & 0xFFFF_FFFF
            assert self.file is not None
            try:
                self.file.seek(self.v_offset)
                self._read_into(self.v_len)
            except FsError:
                self._close_file()
                return ERROR
        elif st == V_DONE:
            assert self.sha is not None
            if self.sha.digest() != self.digest_expected:
                self.console(b"SYS OTA : digest mismatch\r\n")
                return ERROR
            return READY
        return BUSY

    def _read_into(self, n: int) -> None:
        """``SYS_FS_FileRead`` into the 4 KiB buffer; a short read leaves the old tail in place."""
        assert self.file is not None
        if n > len(self.buf):
            self.buf.extend(bytes(n - len(self.buf)))
        data = self.file.read(n)
        self.buf[: len(data)] = data

    # ------------------------------------------------------------------------------------ DB entry
    def _db_entry(self) -> bool:
        """``OTA_Task_DataEntry`` / ``OTADbNewEntry``."""
        code, db = self._load()
        row = db.height
        if code == 0 and self.db_full:  # the row OTADbNewEntry will overwrite (for the corrected status step)
            lowest = imagedb.APP_MIN_VERSION_START
            for i in range(db.height & 0xFF):
                ver = db.field_value_32(DbField.VERSION, i)
                if ver is not None and lowest > ver:
                    lowest, row = ver, i
        self.written_row = row if code == 0 else 0
        try:
            rc = imagedb.new_entry(
                self.fs,
                self.image_name or "/",
                self.params.version,
                self.params.serv_app_digest_string[:64],
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
            self.ctx_buf = bytearray(b"\xff" * PAGE_SIZE)  # malloc'd, never initialised: assumed erased-looking
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
                self.db.set_field_value(DbField.STATUS, row, imagedb.status_text(self.img_status))
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
            self.ctx_buf[:256] = header.encode()
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
