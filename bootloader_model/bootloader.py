"""The Harmony v3.9.1 OTA bootloader (``apps/ota_bootloader``, non-secure build) as a step machine.

:class:`Bootloader` mirrors ``Bootloader_Tasks()`` of ``bootloader_wolfcrypt.c``: one
:meth:`Bootloader._tasks` call is one pass of the firmware's main loop, with the same task ids
(INIT, CHECK_IMAGE, SELECT_IMAGE, PROGRAM_IMAGE, VERIFY_IMAGE, SET_IMAGE_STATUS, INVALIDATE_IMAGE,
NO_IMAGE_FOUND, JUMP_TO_APP, FACTORY_RESET), the same per-task sub-states, the same shared 4 KiB buffer
and shared header (so stale bytes go where the C code sends them) and the same flash and file
operations in the same order, so a power cut at flash operation *k* lands where it would on the board.
Every decision follows spec section 7; the quirks in ``quirks.py`` marked ``bootloader``/``database``
switch at the one place each applies.

Endless loops of the firmware (``file open error`` printed on every pass, the silent retries of the
factory path, a mount that never succeeds) end the model's run with :attr:`Outcome.STUCK` and a reason,
after printing what :data:`STUCK_REPEATS` further passes would print. A :class:`PowerCut` propagates.

What it does not model: secure builds (signature files, wolfCrypt/TrustFlex verification), the debug
prints of ``SYS_OTA_APPDEBUG_ENABLED``, the copy-to-internal-flash loop's busy-waits (NVM calls block),
and the C buffer overflows of names over 81 characters or digests over 65 characters. (FatFs extending a
file opened READ_PLUS when the bootloader seeks past its end is the file system's business: both volumes
do it.)
"""

from __future__ import annotations

import contextlib
import hashlib
import struct
from collections.abc import Callable
from enum import IntEnum

from .bootctl import APP_BOOT_ADDR, BOOT_CTL_PHYS, HEADER, HEADER_SIZE, PAGE_SIZE, BootControl, ImgStatus, ImgType
from .bootresult import BootResult, Check, Outcome, Programming, Selection, Verification
from .errors import CallerError
from .flash import NorFlash
from .fs import MOUNT_POINT, OTA_DIR, FileSystem, FsError, OpenFile
from .imagedb import DB_PATH, LOAD_READ_HANG, DbField, ImageDb, c_strtol16, load_db, save_db, status_text
from .quirks import HARMONY, QuirkProfile

FACTORY_PATH = OTA_DIR + "/factory_reset.bin"
FACTORY_RESET_IMG_SIZE = 0xDF000
SLOT_PAGES = FACTORY_RESET_IMG_SIZE // PAGE_SIZE  # 223 pages: 0x1002_0000 .. 0x100F_EFFF
ROW = 1024
FLASH_END = 0x1010_0000
NEVER_ERASED_PAGE = BOOT_CTL_PHYS + FACTORY_RESET_IMG_SIZE  # 0x100F_F000
STUCK_REPEATS = 3  # passes of a detected endless loop the model still runs (and prints) before it stops
DEFAULT_BUILD_STAMP = ("Nov 26 2026", "16:13:00")
VARIANTS = ("wolfcrypt", "trustflex")
STAR_ROW = b"*" * 59 + b"\n"

UNINITIALIZED = b"Uninitialized sector\n"
BROKEN_IMAGE = b"Broken Image\n"
FILE_OPEN_ERROR = b"file open error\n"

SUCCESS, MORE, ERROR = 0, 1, -1
_U32 = struct.Struct("<I")


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


class _File(IntEnum):
    """``APP_FILE_STATES`` of ``mount_disk()`` / ``open_file()``."""

    MOUNT_DISK = 0
    MOUNT_SUCCESS = 1
    FORMAT_DISK = 2
    CREATE_DIR = 3
    OPEN_DIR = 4
    OPEN_FILE = 5
    ERROR = 6


class _Stuck(Exception):
    """Internal: the firmware entered an endless loop."""


class _Run:
    """The C statics and ``bootloader`` struct of one boot (all re-initialised at reset)."""

    def __init__(self) -> None:
        self.current = Task.INIT
        self.ts = 0  # bootloader.task.state
        self.buf = bytearray(PAGE_SIZE)  # bootloader.buf, shared by every task
        self.boot_ctl = bytearray(PAGE_SIZE)  # the file's first 4 KiB, kept for VERIFY
        self.param = bytearray(HEADER_SIZE)  # bootloader.task.param.img
        self.app = _File.MOUNT_DISK
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
        self.res = BootResult()

    # the shared header, field by field (FIRMWARE_IMAGE_HEADER offsets)
    def put8(self, off: int, value: int) -> None:
        self.param[off] = value & 0xFF

    def put32(self, off: int, value: int) -> None:
        _U32.pack_into(self.param, off, value & 0xFFFF_FFFF)

    def get32(self, off: int) -> int:
        return int(_U32.unpack_from(self.param, off)[0])


class Bootloader:
    """The OTA bootloader of one virtual board: internal flash, the external volume and a console."""

    def __init__(
        self,
        internal: NorFlash,
        fs: FileSystem,
        profile: QuirkProfile = HARMONY,
        console: Callable[[bytes], None] | None = None,
        build_stamp: tuple[str, str] = DEFAULT_BUILD_STAMP,
        variant: str = "wolfcrypt",
        max_iterations: int = 200_000,
    ) -> None:
        if variant not in VARIANTS:
            raise CallerError(f"unknown bootloader variant {variant!r}; choose {' or '.join(VARIANTS)}")
        if internal.geometry.base != 0x1000_0000 or internal.geometry.size != FLASH_END - 0x1000_0000:
            raise CallerError(f"the OTA bootloader needs PIC32MZ1025W104132 flash, not {internal.geometry.name}")
        self.flash, self.fs, self.profile = internal, fs, profile
        self.console = console
        self.build_stamp, self.variant, self.max_iterations = build_stamp, variant, max_iterations
        self._r = _Run()

    # ------------------------------------------------------------------------------------------ driver
    def boot(self) -> BootResult:
        """Run the bootloader from reset until it jumps, requests a software reset or gets stuck."""
        r = self._r = _Run()
        busy0 = self.flash.busy_s
        date, time = self.build_stamp
        if self.variant == "wolfcrypt":
            self._print(f"\nBOOTLOADER Build {date} {time}\r\n".encode())
        else:
            self._print(b"\n" + STAR_ROW + f"BOOTLOADER Build {date} {time}\nOTA VERSION 1.0.0\n".encode() + STAR_ROW)
        r.res.steps.append(Task.INIT.name)
        try:
            while r.res.outcome is None:
                r.res.iterations += 1
                if r.res.iterations > self.max_iterations:
                    raise _Stuck(f"no decision after {self.max_iterations} main-loop passes")
                self._tasks(r)
        except _Stuck as stuck:
            r.res.outcome, r.res.stuck_reason = Outcome.STUCK, str(stuck)
        r.res.boot_control = BootControl.decode(self.flash.read(BOOT_CTL_PHYS, HEADER_SIZE))
        r.res.flash_busy_s = self.flash.busy_s - busy0
        return r.res

    def _print(self, data: bytes) -> None:
        self._r.res.console += data
        if self.console is not None:
            self.console(data)

    def _stuck(self, reason: str, each_pass: bytes = b"") -> _Stuck:
        for _ in range(STUCK_REPEATS):
            if each_pass:
                self._print(each_pass)
        return _Stuck(reason)

    def _trace_header(self) -> None:
        h = BootControl.decode(self.flash.read(BOOT_CTL_PHYS, HEADER_SIZE))
        self._print(
            f"status    :{h.status:02X}\nversion   :{h.version:02X}\ntype      :{h.type:02X}\n"
            f"boot_addr :{h.boot_addr:08X}\n\n".encode()
        )

    # --------------------------------------------------------------------------------- flash helpers
    def _write_rows(self, r: _Run, address: int, data: bytes | bytearray, *, and_bits: bool = False) -> None:
        """``INT_Flash_Write``: four 1 KiB row programs. ``and_bits``: over programmed cells, no erase."""
        for i in range(0, len(data), ROW):
            addr, row = address + i, bytes(data[i : i + ROW])
            if addr >= FLASH_END:
                r.res.notes.append(f"row program at 0x{addr:08X} is past the end of program flash; dropped")
                continue
            if and_bits or addr >= NEVER_ERASED_PAGE:
                # ECC is off (FECCCON = OFF), so re-programming a row leaves old AND new in every cell.
                cur = self.flash.read(addr, ROW)
                row = (int.from_bytes(cur, "little") & int.from_bytes(row, "little")).to_bytes(ROW, "little")
            self.flash.program(addr, row)

    def _read_file(self, r: _Run, n: int) -> int:
        """``SYS_FS_FileRead`` into the shared buffer: bytes past the end of the file keep stale contents.

        A failed read (a damaged volume) leaves the whole buffer stale: the C code ignores the result.
        """
        assert r.fh is not None
        try:
            data = r.fh.read(n)
        except FsError as exc:
            r.res.notes.append(f"file read failed, buffer left stale: {exc}")
            return 0
        r.buf[: len(data)] = data
        return len(data)

    def _seek(self, r: _Run, pos: int) -> None:
        """``SYS_FS_FileSeek``; its result is not checked either."""
        assert r.fh is not None
        try:
            r.fh.seek(pos)
        except FsError as exc:
            r.res.notes.append(f"file seek to {pos} failed: {exc}")

    def _load_db(self, r: _Run) -> int:
        rc, r.db = load_db(self.fs, DB_PATH)
        if rc == LOAD_READ_HANG:
            raise self._stuck("csv_load: SYS_FS_FileRead fails before EOF, so the parse loop never ends")
        return rc

    # ----------------------------------------------------------------------------------- main loop
    def _tasks(self, r: _Run) -> None:
        cur = r.current
        nxt = cur
        if cur is Task.INIT:
            self._mount_disk(r)
            if r.disk_mount:
                nxt = Task.CHECK_IMAGE
                if self.variant == "trustflex":
                    self._trace_header()
                head = self.flash.read(BOOT_CTL_PHYS, 4)
                if head[3] == ImgType.PRODUCTION:
                    nxt = Task.CHECK_IMAGE
                elif head[3] == ImgType.DEBUG:
                    nxt = Task.JUMP_TO_APP
                elif head[3] == ImgType.FACTORY_RESET:
                    r.app = _File.FORMAT_DISK
                    nxt = Task.JUMP_TO_APP if head[0] == ImgStatus.VALID else Task.FACTORY_RESET
        elif cur is Task.CHECK_IMAGE:
            status = self._check(r)
            nxt = Task.JUMP_TO_APP if status == SUCCESS else Task.SELECT_IMAGE if status == ERROR else cur
        elif cur is Task.SELECT_IMAGE:
            status = self._select(r)
            if status == SUCCESS:
                nxt = Task.PROGRAM_IMAGE
            elif status == ERROR:
                r.ts = 0  # the firmware retries SELECT from its first sub-state
        elif cur is Task.PROGRAM_IMAGE:
            status = self._program(r)
            nxt = Task.VERIFY_IMAGE if status == SUCCESS else Task.SELECT_IMAGE if status == ERROR else cur
        elif cur is Task.VERIFY_IMAGE:
            status = self._verify(r)
            nxt = Task.SET_IMAGE_STATUS if status == SUCCESS else Task.INVALIDATE_IMAGE if status == ERROR else cur
        elif cur is Task.SET_IMAGE_STATUS:
            if self._set_status(r) == SUCCESS:
                nxt = Task.JUMP_TO_APP
        elif cur is Task.INVALIDATE_IMAGE:
            if self._invalidate(r) == SUCCESS:
                nxt = Task.SELECT_IMAGE
        elif cur is Task.JUMP_TO_APP:
            r.res.jump_addr = BootControl.decode(self.flash.read(BOOT_CTL_PHYS, HEADER_SIZE)).boot_addr
            r.res.outcome = Outcome.JUMP
        elif cur is Task.NO_IMAGE_FOUND:  # pragma: no cover - SELECT never returns NO_IMAGE_FOUND
            raise self._stuck("SYS_ASSERT: Unexpected state", b"Unexpected state")
        elif cur is Task.FACTORY_RESET:
            self._factory_backup(r)
        if nxt is not cur:
            if self.variant == "trustflex":
                self._print(nxt.trace_name.encode() + b"\n")
                if cur is not Task.INIT and nxt is Task.JUMP_TO_APP:
                    self._trace_header()
                    self._print(STAR_ROW)
            r.current, r.ts = nxt, 0
            r.res.steps.append(nxt.name)

    def _mount_disk(self, r: _Run) -> None:
        if r.app is _File.MOUNT_DISK:
            try:
                self.fs.mount()
                r.app = _File.MOUNT_SUCCESS
            except FsError as exc:
                r.mount_failures += 1
                if r.mount_failures > STUCK_REPEATS:
                    raise self._stuck(f"SYS_FS_Mount never succeeds ({exc}); INIT retries for ever") from None
        elif r.app is _File.MOUNT_SUCCESS:
            r.disk_mount = True
            r.app = _File.OPEN_FILE

    def _open_file(self, r: _Run) -> None:
        """``open_file()``: one step of format / mkdir / open, or ``file open error`` once in ERROR."""
        if r.app is _File.FORMAT_DISK:
            try:
                self.fs.format()
                r.app = _File.CREATE_DIR
            except FsError:
                r.app = _File.ERROR
        elif r.app is _File.CREATE_DIR:
            try:
                self.fs.mkdir(OTA_DIR)
                r.app = _File.OPEN_FILE
            except FsError as exc:
                raise self._stuck(f"SYS_FS_DirectoryMake(ota) fails ({exc}); retried silently for ever") from None
        elif r.app is _File.OPEN_FILE:
            try:
                r.fh = self.fs.open(FACTORY_PATH, "r+" if r.reading_file else "w+")
                r.file_opened = True
            except FsError:
                r.app = _File.ERROR
        else:
            what = "read" if r.reading_file else "create"
            raise self._stuck(
                f"cannot {what} {FACTORY_PATH}: 'file open error' printed on every pass for ever", FILE_OPEN_ERROR
            )

    # ------------------------------------------------------------------------------------ CHECK_IMAGE
    def _check(self, r: _Run) -> int:
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
            r.buf[8:12] = _U32.pack(version)
            if ctl.status == ImgStatus.VALID and version == ctl.version and status == ImgStatus.VALID:
                r.res.checked = Check.VALID
                return SUCCESS
            r.res.checked = Check.NOT_VALID
            r.ts = 4
            return MORE
        return ERROR  # TASK_STATE_C_DONE

    # ----------------------------------------------------------------------------------- SELECT_IMAGE
    def _field_error(self, r: _Run, what: str, *, one_row: bool) -> int:
        """An unreadable database field in SELECT (quirk ``select-field-error-loop``)."""
        if one_row or not self.profile.on("select-field-error-loop"):
            r.factory_reset = True
            return ERROR
        raise self._stuck(f"SELECT: {what} unreadable in a {r.db.height}-row database; retried silently for ever")

    def _select(self, r: _Run) -> int:
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
            if r.fh.size() == 0:
                raise self._stuck(f"{FACTORY_PATH} is empty; SELECT retries silently for ever")
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

    def _select_row(self, r: _Run) -> int:
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
    def _program(self, r: _Run) -> int:
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
    def _verify(self, r: _Run) -> int:
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
            return ERROR
        return SUCCESS

    @staticmethod
    def _formulate_digest(r: _Run) -> bytes:
        """Two characters at a time through ``strncpy`` + ``strtol(.., 16)``; short strings read stale bytes."""
        out = bytearray(32)
        for i in range(32):
            pair = bytes(r.digest_str[2 * i : 2 * i + 2]).split(b"\0", 1)[0]
            out[i] = c_strtol16(pair.decode("latin-1")) & 0xFF
        return bytes(out)

    # -------------------------------------------------------------------- SET_IMAGE_STATUS / INVALIDATE
    def _set_status(self, r: _Run) -> int:
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

    def _invalidate(self, r: _Run) -> int:
        if r.ts == 0:
            r.put8(0, ImgStatus.DISABLED)
            name = r.db.field_string(DbField.NAME, r.selected_row) or ""
            r.db.set_field_value(DbField.STATUS, r.selected_row, status_text(ImgStatus.DISABLED))
            r.db.remove_row(r.selected_row)
            save_db(self.fs, DB_PATH, r.db.rows, self.profile)
            r.res.invalidated.append(name)
            r.ts = 2
            return MORE
        return SUCCESS

    # ---------------------------------------------------------------------------------- FACTORY_RESET
    def _factory_backup(self, r: _Run) -> None:
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
    _U32.pack_into(buf, 12, APP_BOOT_ADDR)


assert HEADER.size == HEADER_SIZE
