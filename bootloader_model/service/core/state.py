"""Shared state of the OTA core model: task and result enums, ``OTA_PARAMS``, and :class:`CoreBase`.

:class:`CoreBase` holds everything ``ota.c.ftl`` keeps in its ``ota`` structure and file statics (current
task, the one shared ``task_state`` integer, the task contexts, the flags) plus the small helpers the task
modules share. The tasks themselves live in :mod:`.download`, :mod:`.status` and :mod:`.tasks`. Nothing
here runs a task.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from bootloader_model.clock import VirtualClock
from bootloader_model.formats import image_database
from bootloader_model.formats.boot_control import ImgStatus
from bootloader_model.formats.c_string import c_bytes
from bootloader_model.formats.image_database import DB_PATH, ImageDb
from bootloader_model.quirks import QuirkProfile
from bootloader_model.service.http_client import Downloader
from bootloader_model.storage.file_api import OTA_DIR, FileSystem, FsError, OpenFile
from bootloader_model.storage.nor_flash import NorFlash

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


OTA_URL_SIZE = 100  # ota.h: bytes of OTA_PARAMS.ota_server_url, terminator included
DIGEST_FIELD_SIZE = 66  # ota.h: bytes of OTA_PARAMS.serv_app_digest_string


def _c_string(buf: bytes | bytearray, start: int) -> str:
    end = buf.find(0, start)
    return bytes(buf[start : len(buf) if end < 0 else end]).decode("latin-1")


@dataclass
class OtaParams:
    """The fields of ``OTA_PARAMS`` the model uses.

    ``ota_server_url`` (``char[100]``) and ``serv_app_digest_string`` (``char[66]``) follow each other in
    memory, and they are held here as the bytes of that memory: assigning the URL is Harmony's
    ``memcpy(ota_server_url, url, strlen(url) + 1)``, which does not stop at 100 bytes, and assigning the
    digest is ``strncpy(serv_app_digest_string, digest, 64)``. Reading either gives the C string that starts
    there. So a URL of 100 bytes or more, followed by its digest, reads back as its first 100 bytes and the
    digest (quirk ``svc-url-overflows-digest``). Bytes written past the digest field, which in C land on the
    struct's padding and pointer fields, are kept here only as the continuation of those strings. Strings
    hold one character per byte (latin-1).
    """

    version: int = 0
    delete_img_version: int = 0
    total_data_downloaded: int = 0
    server_image_length: int = 0

    def __post_init__(self) -> None:
        self._chars = bytearray(OTA_URL_SIZE + DIGEST_FIELD_SIZE)

    @property
    def ota_server_url(self) -> str:
        return _c_string(self._chars, 0)

    @ota_server_url.setter
    def ota_server_url(self, url: str) -> None:
        raw = c_bytes(url).split(b"\0", 1)[0] + b"\0"
        if len(raw) > len(self._chars):
            self._chars.extend(bytes(len(raw) - len(self._chars)))
        self._chars[: len(raw)] = raw

    @property
    def serv_app_digest_string(self) -> str:
        return _c_string(self._chars, OTA_URL_SIZE)

    @serv_app_digest_string.setter
    def serv_app_digest_string(self, digest: str) -> None:
        raw = c_bytes(digest).split(b"\0", 1)[0][:64]
        self._chars[OTA_URL_SIZE : OTA_URL_SIZE + 64] = raw.ljust(64, b"\0")


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


class CoreBase:
    """The core's state (``OTA_DATA ota`` and the statics of ``ota.c.ftl``) and shared helpers."""

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

    # ------------------------------------------------------------------------------------- helpers
    def _load(self) -> tuple[int, ImageDb]:
        """``OTAGetDb``: 0 loaded, 1 no file, >1 error (e.g. no file system)."""
        try:
            return image_database.load_db(self.fs, DB_PATH)
        except FsError:
            return 2, ImageDb()

    def _save(self, db: ImageDb) -> int:
        try:
            return image_database.save_db(self.fs, DB_PATH, db.rows, self.profile)
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

    def _notify(self) -> None:
        """``OTA_Task_UpdateUser``: close the downloader (except at download start), then call back."""
        if self.result != OtaResult.IMAGE_DOWNLOAD_START and self.downloader_open:
            self.dl.close()
            self.downloader_open = False
        if self.callback is not None:
            self.callback(self.result)
