"""The state of one run of the OTA bootloader model: constants, task ids and the firmware's statics.

:class:`RunState` holds what ``bootloader_wolfcrypt.c`` keeps in statics and in its ``bootloader`` struct:
the current task and sub-state, the shared 4 KiB buffer, the saved first page of the image file, the
shared ``FIRMWARE_IMAGE_HEADER`` (``param``), the file-system state machine, the loaded database, and
the :class:`~bootloader_model.bootloader.result.BootResult` being filled. Everything is re-initialised at reset.
This module holds data only; the decisions are in ``tasks.py`` and ``step_machine.py``.
"""

from __future__ import annotations

import hashlib
import struct
from enum import IntEnum

from bootloader_model.bootloader.result import BootResult
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, HEADER_SIZE, PAGE_SIZE
from bootloader_model.formats.image_database import ImageDb
from bootloader_model.storage.file_api import OTA_DIR, OpenFile

FACTORY_PATH = OTA_DIR + "/factory_reset.bin"
FACTORY_RESET_IMG_SIZE = 0xDF000
SLOT_PAGES = FACTORY_RESET_IMG_SIZE // PAGE_SIZE  # 223 pages: 0x1002_0000 .. 0x100F_EFFF
ROW = 1024
FLASH_END = 0x1010_0000
NEVER_ERASED_PAGE = BOOT_CTL_PHYS + FACTORY_RESET_IMG_SIZE  # 0x100F_F000
#: ``SYS_FS_MAX_FILES`` of the bootloader's ``configuration.h`` (both builds): one open file at a time.
SYS_FS_MAX_FILES = 1
STUCK_REPEATS = 3  # passes of a detected endless loop the model still runs (and prints) before it stops
DEFAULT_BUILD_STAMP = ("Nov 26 2026", "16:13:00")
VARIANTS = ("wolfcrypt", "trustflex")
STAR_ROW = b"*" * 59 + b"\n"

UNINITIALIZED = b"Uninitialized sector\n"
BROKEN_IMAGE = b"Broken Image\n"
FILE_OPEN_ERROR = b"file open error\n"

SUCCESS, MORE, ERROR = 0, 1, -1
#: A little-endian 32-bit word, as the firmware lays out the shared header's fields and the digest version.
U32 = struct.Struct("<I")


class Task(IntEnum):
    """``BOOTLOADER_TASK_ID``."""

    INIT = 0
    CHECK_IMAGE = 1
    SELECT_IMAGE = 2
    PROGRAM_IMAGE = 3
    VERIFY_IMAGE = 4
    SET_IMAGE_STATUS = 5
    INVALIDATE_IMAGE = 6
    NO_IMAGE_FOUND = 7
    JUMP_TO_APP = 8
    FACTORY_RESET = 9

    @property
    def trace_name(self) -> str:
        """The name the TrustFlex build prints on a transition (SET_IMAGE_STATUS is SIGN_BOOT_CTL there)."""
        return "BOOTLOADER_TASK_" + ("SIGN_BOOT_CTL" if self is Task.SET_IMAGE_STATUS else self.name)


class FileState(IntEnum):
    """``APP_FILE_STATES`` of ``mount_disk()`` / ``open_file()``."""

    MOUNT_DISK = 0
    MOUNT_SUCCESS = 1
    FORMAT_DISK = 2
    CREATE_DIR = 3
    OPEN_DIR = 4
    OPEN_FILE = 5
    ERROR = 6


class Stuck(Exception):
    """The firmware entered an endless loop: raised by a task step, caught by the bootloader's run, which
    ends with ``Outcome.STUCK`` and this reason. It never leaves :meth:`Bootloader.boot`."""


class RunState:
    """The C statics and ``bootloader`` struct of one boot (all re-initialised at reset)."""

    def __init__(self) -> None:
        self.current = Task.INIT
        self.ts = 0  # bootloader.task.state
        self.buf = bytearray(PAGE_SIZE)  # bootloader.buf, shared by every task
        self.boot_ctl = bytearray(PAGE_SIZE)  # the file's first 4 KiB, kept for VERIFY
        self.param = bytearray(HEADER_SIZE)  # bootloader.task.param.img
        self.app = FileState.MOUNT_DISK
        self.disk_mount = self.reading_file = self.file_opened = False
        self.factory_reset = True
        self.new_image = False
        self.database_found = False
        self.selected_row = 0
        self.digest_str = bytearray(101)
        self.db = ImageDb()
        self.fh: OpenFile | None = None
        self.offset = self.len = self.copy_len = self.img_sz = 0
        self.sha = hashlib.sha256()
        self.digest_g = bytes(32)
        self.mount_failures = 0
        self.open_failure = ""  # why open_file() went to its ERROR state, for the stuck reason
        self.res = BootResult()

    # the shared header, field by field (FIRMWARE_IMAGE_HEADER offsets)
    def put8(self, off: int, value: int) -> None:
        self.param[off] = value & 0xFF

    def put32(self, off: int, value: int) -> None:
        U32.pack_into(self.param, off, value & 0xFFFF_FFFF)

    def get32(self, off: int) -> int:
        return int(U32.unpack_from(self.param, off)[0])
