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

from collections.abc import Callable

from bootloader_model.bootloader.result import BootResult, Outcome
from bootloader_model.bootloader.state import (
    BROKEN_IMAGE,
    DEFAULT_BUILD_STAMP,
    ERROR,
    FACTORY_PATH,
    FACTORY_RESET_IMG_SIZE,
    FILE_OPEN_ERROR,
    FLASH_END,
    NEVER_ERASED_PAGE,
    ROW,
    SLOT_PAGES,
    STAR_ROW,
    STUCK_REPEATS,
    SUCCESS,
    SYS_FS_MAX_FILES,
    UNINITIALIZED,
    VARIANTS,
    FileState,
    RunState,
    Stuck,
    Task,
)
from bootloader_model.bootloader.tasks import TaskSteps
from bootloader_model.errors import CallerError
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, HEADER_SIZE, BootControl, ImgStatus, ImgType
from bootloader_model.formats.image_database import DB_PATH, LOAD_READ_HANG, load_db
from bootloader_model.quirks import HARMONY, QuirkProfile
from bootloader_model.storage.file_api import OTA_DIR, FileSystem, FsError, TooManyOpenFiles
from bootloader_model.storage.nor_flash import NorFlash

__all__ = [
    "BROKEN_IMAGE",
    "DEFAULT_BUILD_STAMP",
    "FACTORY_PATH",
    "FACTORY_RESET_IMG_SIZE",
    "FILE_OPEN_ERROR",
    "SLOT_PAGES",
    "STUCK_REPEATS",
    "UNINITIALIZED",
    "VARIANTS",
    "Bootloader",
    "Task",
]


class Bootloader(TaskSteps):
    """The OTA bootloader of one virtual board: internal flash, the external volume and a console."""

    def __init__(
        self,
        internal: NorFlash,
        fs: FileSystem,
        profile: QuirkProfile | str = HARMONY,
        console: Callable[[bytes], None] | None = None,
        build_stamp: tuple[str, str] = DEFAULT_BUILD_STAMP,
        variant: str = "wolfcrypt",
        max_iterations: int = 200_000,
    ) -> None:
        if variant not in VARIANTS:
            raise CallerError(f"unknown bootloader variant {variant!r}; choose {' or '.join(VARIANTS)}")
        if not isinstance(internal, NorFlash):
            raise CallerError(f"the OTA bootloader runs on a NorFlash (program flash), not {internal!r}")
        if isinstance(profile, str):
            profile = QuirkProfile.named(profile)
        if not isinstance(profile, QuirkProfile):
            raise CallerError(f"profile must be a QuirkProfile or a profile name such as 'corrected', not {profile!r}")
        if console is not None and not callable(console):
            raise CallerError(f"console must be a callable taking bytes, or None, not {console!r}")
        if not isinstance(max_iterations, int) or isinstance(max_iterations, bool) or max_iterations < 1:
            raise CallerError(f"max_iterations must be a positive integer, not {max_iterations!r}")
        if internal.geometry.base != 0x1000_0000 or internal.geometry.size != FLASH_END - 0x1000_0000:
            raise CallerError(f"the OTA bootloader needs PIC32MZ1025W104132 flash, not {internal.geometry.name}")
        self.flash, self.fs, self.profile = internal, fs, profile
        self.console = console
        self.build_stamp, self.variant, self.max_iterations = build_stamp, variant, max_iterations
        self._r = RunState()

    # ------------------------------------------------------------------------------------------ driver
    def boot(self) -> BootResult:
        """Run the bootloader from reset until it jumps, requests a software reset or gets stuck."""
        r = self._r = RunState()
        self.fs.initialize(SYS_FS_MAX_FILES)  # SYS_FS_Initialize: an empty table of one file object
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
                    raise Stuck(f"no decision after {self.max_iterations} main-loop passes")
                self._tasks(r)
        except Stuck as stuck:
            r.res.outcome, r.res.stuck_reason = Outcome.STUCK, str(stuck)
        finally:
            # The run is over (a jump, a reset, an endless loop the model stopped, or a power cut): the
            # bootloader's SYS_FS table goes with it, and whoever uses the volume next starts a new one.
            self.fs.initialize(None)
        r.res.boot_control = BootControl.decode(self.flash.read(BOOT_CTL_PHYS, HEADER_SIZE))
        r.res.flash_busy_s = self.flash.busy_s - busy0
        return r.res

    def _print(self, data: bytes) -> None:
        self._r.res.console += data
        if self.console is not None:
            self.console(data)

    def _stuck(self, reason: str, each_pass: bytes = b"") -> Stuck:
        for _ in range(STUCK_REPEATS):
            if each_pass:
                self._print(each_pass)
        return Stuck(reason)

    def _trace_header(self) -> None:
        h = BootControl.decode(self.flash.read(BOOT_CTL_PHYS, HEADER_SIZE))
        self._print(
            f"status    :{h.status:02X}\nversion   :{h.version:02X}\ntype      :{h.type:02X}\n"
            f"boot_addr :{h.boot_addr:08X}\n\n".encode()
        )

    # --------------------------------------------------------------------------------- flash helpers
    def _write_rows(self, r: RunState, address: int, data: bytes | bytearray, *, and_bits: bool = False) -> None:
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

    def _read_file(self, r: RunState, n: int) -> int:
        """``SYS_FS_FileRead`` into the shared buffer: bytes past the end of the file keep stale contents.

        A failed read (a damaged volume) leaves the buffer stale past what FatFs had copied before the
        failure; the C code ignores the result. After a failure FatFs's error latch fails every later read
        and seek of the same open file, leaving the buffer as it is.
        """
        assert r.fh is not None
        try:
            data = r.fh.read(n)
        except FsError as exc:
            r.buf[: len(exc.partial)] = exc.partial
            r.res.notes.append(f"file read failed after {len(exc.partial)} bytes, rest of the buffer stale: {exc}")
            return 0
        r.buf[: len(data)] = data
        return len(data)

    def _seek(self, r: RunState, pos: int) -> None:
        """``SYS_FS_FileSeek``; its result is not checked either."""
        assert r.fh is not None
        try:
            r.fh.seek(pos)
        except FsError as exc:
            r.res.notes.append(f"file seek to {pos} failed: {exc}")

    def _load_db(self, r: RunState) -> int:
        rc, r.db = load_db(self.fs, DB_PATH)
        if rc == LOAD_READ_HANG:
            raise self._stuck("csv_load: SYS_FS_FileRead fails before EOF, so the parse loop never ends")
        return rc

    # ----------------------------------------------------------------------------------- main loop
    def _tasks(self, r: RunState) -> None:
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
                    r.app = FileState.FORMAT_DISK
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

    def _mount_disk(self, r: RunState) -> None:
        if r.app is FileState.MOUNT_DISK:
            try:
                self.fs.mount()
                r.app = FileState.MOUNT_SUCCESS
            except FsError as exc:
                r.mount_failures += 1
                if r.mount_failures > STUCK_REPEATS:
                    raise self._stuck(f"SYS_FS_Mount never succeeds ({exc}); INIT retries for ever") from None
        elif r.app is FileState.MOUNT_SUCCESS:
            r.disk_mount = True
            r.app = FileState.OPEN_FILE

    def _open_file(self, r: RunState) -> None:
        """``open_file()``: one step of format / mkdir / open, or ``file open error`` once in ERROR."""
        if r.app is FileState.FORMAT_DISK:
            try:
                self.fs.format()
                r.app = FileState.CREATE_DIR
            except FsError:
                r.app = FileState.ERROR
        elif r.app is FileState.CREATE_DIR:
            try:
                self.fs.mkdir(OTA_DIR)
                r.app = FileState.OPEN_FILE
            except FsError as exc:
                raise self._stuck(f"SYS_FS_DirectoryMake(ota) fails ({exc}); retried silently for ever") from None
        elif r.app is FileState.OPEN_FILE:
            try:
                r.fh = self.fs.open(FACTORY_PATH, "r+" if r.reading_file else "w+")
                r.file_opened = True
            except TooManyOpenFiles:
                r.app, r.open_failure = FileState.ERROR, " (no free SYS_FS file object: a handle was never closed)"
            except FsError:
                r.app, r.open_failure = FileState.ERROR, ""
        else:
            what = "read" if r.reading_file else "create"
            raise self._stuck(
                f"cannot {what} {FACTORY_PATH}{r.open_failure}: 'file open error' printed on every pass for ever",
                FILE_OPEN_ERROR,
            )
