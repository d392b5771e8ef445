"""The small file API the firmware models use, shaped after Harmony's SYS_FS.

The OTA bootloader and the OTA service only ever touch external flash through SYS_FS calls on paths under
the mount point ``/mnt/myDrive1`` (device ``/dev/mtda1``). This module names that contract once:

* :class:`FileSystem` / :class:`OpenFile` -- the protocol both the real FAT volume on emulated SST26 flash
  and the in-memory stand-in implement;
* :class:`FsError` -- a failed SYS_FS call (``SYS_FS_RES_FAILURE``). Firmware models catch it where the C
  code checks a return value. It is an :class:`~bootloader_model.errors.OtaloopError` but neither a caller
  nor a board error: it is a normal, expected outcome on the device;
* :class:`FileTable` -- SYS_FS's table of file objects (``SYS_FS_MAX_FILES`` slots, set by the
  application's configuration): a handle that is never closed keeps its slot, and once every slot is
  taken each ``SYS_FS_FileOpen`` fails. FatFs's ``FF_FS_LOCK`` is the same number in Harmony's
  configurations, so this one count stands for both;
* :class:`FileObject` -- what both volumes' open files share: the slot, and FatFs's per-file error latch
  (``fp->err``): once a read, write or seek fails inside FatFs (:class:`FileObjectError`, a damaged
  cluster chain), every later read, write and seek on that file fails at once, changing nothing, until
  the file is closed. ``SYS_FS_FileSize``, ``SYS_FS_FileTell``/``EOF`` and the close still work;
* :class:`MemoryFileSystem` -- a dict-backed volume for fast tests of the layers above. It has no flash
  underneath, so power cuts never damage it.

Paths are Harmony's: absolute, ``/``-separated, under :data:`MOUNT_POINT`. The API does not model the
current-drive notion, FatFs attributes, or ``FF_FS_LOCK``'s same-file rules (a file opened twice, or
removed while open).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Protocol

from bootloader_model.errors import CallerError, OtaloopError

MOUNT_POINT = "/mnt/myDrive1"
DEVICE = "/dev/mtda1"
OTA_DIR = MOUNT_POINT + "/ota"


class FsError(OtaloopError):
    """A SYS_FS call failed (no file system, no such file, disk full, ...).

    ``partial`` is what a failed read had already copied into the caller's buffer (FatFs copies cluster
    by cluster, so a read that fails at the second cluster has filled the first part of the buffer).
    """

    def __init__(self, message: str, *, partial: bytes = b"") -> None:
        super().__init__(message)
        self.partial = partial


@dataclass(frozen=True)
class Peek:
    """A read an open file worked out ahead (:meth:`OpenFile.peek`): its bytes, and the file's own record
    of where that read leaves it (for :meth:`OpenFile.take`)."""

    answer: bytes
    after: object


class FileObjectError(FsError):
    """A failure FatFs records in the open file object (``ABORT``: FR_INT_ERR, FR_DISK_ERR)."""


class TooManyOpenFiles(FsError):
    """``SYS_FS_FileOpen`` found no free file object (``SYS_FS_ERROR_TOO_MANY_OPEN_FILES``)."""


def volume_path(path: str) -> str:
    """Turn ``/mnt/myDrive1/ota/x.bin`` into the volume-relative ``/ota/x.bin``; reject other mounts."""
    norm = posixpath.normpath(path)
    if norm == MOUNT_POINT:
        return "/"
    if not norm.startswith(MOUNT_POINT + "/"):
        raise FsError(f"{path}: not under {MOUNT_POINT}")
    return norm[len(MOUNT_POINT) :]


class OpenFile(Protocol):
    """An open file, as SYS_FS_FileOpen hands out. ``tell() == size()`` is ``SYS_FS_FileEOF``."""

    def read(self, n: int) -> bytes: ...
    def write(self, data: bytes) -> int: ...
    def seek(self, pos: int) -> None: ...
    def tell(self) -> int: ...
    def size(self) -> int: ...
    def close(self) -> None: ...
    def peek(self, n: int) -> Peek | None: ...
    def take(self, peek: Peek) -> bytes: ...


class FileSystem(Protocol):
    """What the firmware models may do with the external volume.

    ``mode`` is SYS_FS's: ``"r"`` (READ, must exist), ``"r+"`` (READ_PLUS, must exist), ``"w"``
    (WRITE, create or truncate), ``"w+"`` (WRITE_PLUS, create or truncate), ``"a"`` (APPEND).
    ``initialize`` is ``SYS_FS_Initialize`` at reset: an empty file table of ``max_files`` slots (None:
    no limit, for host tools); files opened before are gone, as after a reset.
    """

    def initialize(self, max_files: int | None) -> None: ...
    def mount(self) -> None: ...
    def has_filesystem(self) -> bool: ...
    def format(self) -> None: ...
    def mkdir(self, path: str) -> None: ...
    def open(self, path: str, mode: str) -> OpenFile: ...
    def exists(self, path: str) -> bool: ...
    def remove(self, path: str) -> None: ...
    def listdir(self, path: str) -> list[str]: ...
    def file_size(self, path: str) -> int: ...
    def free_bytes(self) -> int: ...


def read_file(fs: FileSystem, path: str) -> bytes:
    """Read a whole file (convenience over :meth:`FileSystem.open`)."""
    fh = fs.open(path, "r")
    try:
        return fh.read(fh.size())
    finally:
        fh.close()


def write_file(fs: FileSystem, path: str, data: bytes) -> None:
    """Create or replace a whole file in one call."""
    fh = fs.open(path, "w")
    try:
        fh.write(data)
    finally:
        fh.close()


_MODES = {"r", "r+", "w", "w+", "a"}


class FileTable:
    """SYS_FS's file objects (``gSYSFSFileObj[SYS_FS_MAX_FILES]``): a slot per open file, freed by a close.

    ``size`` None means no limit (host tools). :meth:`reset` is what a reset does to the table: every
    open file is forgotten without being synced (its handle is dead; closing it does nothing).
    """

    def __init__(self, size: int | None = None) -> None:
        self.size = size
        self.open: list[FileObject] = []

    def reset(self, size: int | None) -> None:
        if size is not None and size < 1:
            raise CallerError(f"SYS_FS_MAX_FILES must be at least 1, not {size}")
        for f in self.open:
            f.abandon()
        self.size, self.open = size, []

    def claim(self, path: str) -> None:
        """The free-slot search at the start of ``SYS_FS_FileOpen``; raises when every slot is taken."""
        if self.size is not None and len(self.open) >= self.size:
            raise TooManyOpenFiles(f"{path}: all {self.size} SYS_FS file objects are in use (a handle never closed?)")


class FileObject:
    """An open file of either volume: its SYS_FS slot and FatFs's per-file error latch.

    Subclasses implement ``_read``, ``_write``, ``_seek``, ``_sync`` and may raise :class:`FileObjectError`
    from the first three where FatFs aborts; that error is latched, and until :meth:`close` every later
    read, write and seek fails at once without touching the file, its position or the caller's buffer.
    """

    def __init__(self, table: FileTable, path: str) -> None:
        self.path = path
        self._table = table
        self._closed = False
        self._err: FsError | None = None
        self._pos = 0
        table.open.append(self)

    # ------------------------------------------------------------------------------ for subclasses
    def _read(self, n: int) -> bytes:
        raise NotImplementedError

    def _write(self, data: bytes) -> int:
        raise NotImplementedError

    def _seek(self, pos: int) -> None:
        raise NotImplementedError

    def _size(self) -> int:
        raise NotImplementedError

    def _sync(self) -> None:
        """Write what the file still holds in RAM (FatFs's ``f_sync``; it does not look at the latch)."""

    def peek(self, n: int) -> Peek | None:
        """:meth:`read` of ``n`` bytes worked out ahead, changing nothing; None where this file cannot
        (the base class never can)."""
        return None

    def take(self, peek: Peek) -> bytes:
        """Make the read :meth:`peek` worked out, which must be the very next thing done with the volume:
        the file is left as that read leaves it, and its bytes are returned."""
        raise FsError(f"{self.path}: no read was worked out ahead")

    # ------------------------------------------------------------------------------ the SYS_FS calls
    def _usable(self) -> None:
        if self._closed:
            raise FsError(f"{self.path}: file is not open")
        if self._err is not None:
            raise FsError(f"{self.path}: an earlier failure is latched until close ({self._err})")

    def _latch(self, exc: FileObjectError) -> None:
        self._err = exc

    def read(self, n: int) -> bytes:
        self._usable()
        try:
            return self._read(n)
        except FileObjectError as exc:
            self._latch(exc)
            raise

    def write(self, data: bytes) -> int:
        self._usable()
        try:
            return self._write(data)
        except FileObjectError as exc:
            self._latch(exc)
            raise

    def seek(self, pos: int) -> None:
        self._usable()
        if pos < 0:
            raise FsError(f"{self.path}: negative seek")
        try:
            self._seek(pos)
        except FileObjectError as exc:
            self._latch(exc)
            raise

    def tell(self) -> int:
        if self._closed:
            raise FsError(f"{self.path}: file is not open")
        return self._pos

    def size(self) -> int:
        if self._closed:
            raise FsError(f"{self.path}: file is not open")
        return self._size()

    @property
    def latched(self) -> bool:
        """Whether a FatFs failure is latched in this file object."""
        return self._err is not None

    def close(self) -> None:
        """``SYS_FS_FileClose``: sync, then free the slot. Closing a file that is not open does nothing."""
        if self._closed:
            return
        self._sync()
        self._closed = True
        self._table.open.remove(self)

    def abandon(self) -> None:
        """A reset: the handle dies with whatever it held in RAM, and its slot is gone with the table."""
        self._closed = True


class _MemFile(FileObject):
    def __init__(self, fs: MemoryFileSystem, key: str, mode: str) -> None:
        super().__init__(fs.files, key)
        self._fs, self._key, self._mode = fs, key, mode
        self._pos = len(fs._files[key]) if mode == "a" else 0

    def _buf(self) -> bytearray:
        return self._fs._files[self._key]

    def _read(self, n: int) -> bytes:
        buf = self._buf()
        if self._mode in ("w", "a"):
            raise FsError(f"{self._key}: not opened for reading")
        out = bytes(buf[self._pos : self._pos + n])
        self._pos += len(out)
        return out

    def _write(self, data: bytes) -> int:
        buf = self._buf()
        if self._mode == "r":
            raise FsError(f"{self._key}: not opened for writing")
        grow = max(0, self._pos + len(data) - len(buf))
        if grow and self._fs.used_bytes() + grow > self._fs.capacity:
            raise FsError(f"{self._key}: volume full")
        if self._pos > len(buf):
            buf.extend(b"\0" * (self._pos - len(buf)))
        buf[self._pos : self._pos + len(data)] = data
        self._pos += len(data)
        return len(data)

    def _seek(self, pos: int) -> None:
        buf = self._buf()
        if pos > len(buf):
            if self._mode == "r":
                pos = len(buf)  # FatFs clamps a read-only seek to the end of the file
            else:
                # FatFs extends a writable file up to the new position (the new clusters keep whatever the
                # flash held; zeros here, where there is no flash).
                self._pos = len(buf)
                self._write(bytes(pos - len(buf)))
        self._pos = pos

    def _size(self) -> int:
        return len(self._buf())


class MemoryFileSystem:
    """A volume held in a dict, for fast tests of the firmware models. Not damaged by power cuts."""

    def __init__(self, capacity: int = 4 * 1024 * 1024, formatted: bool = True) -> None:
        self.capacity = capacity
        self.files = FileTable()
        self._formatted = formatted
        self._files: dict[str, bytearray] = {}
        self._dirs: set[str] = {"/"}

    def _canon(self, key: str) -> str:
        """FAT names are case-insensitive and case-preserving: map ``key`` to the spelling already stored."""
        folded = key.upper()
        for k in (*self._dirs, *self._files):
            if k.upper() == folded:
                return k
        parent = posixpath.dirname(key)
        if parent != key:
            return posixpath.join(self._canon(parent), posixpath.basename(key))
        return key

    def initialize(self, max_files: int | None) -> None:
        self.files.reset(max_files)

    def mount(self) -> None:
        """Always succeeds, like SYS_FS_Mount on a volume with no file system."""

    def has_filesystem(self) -> bool:
        return self._formatted

    def _need_fs(self) -> None:
        if not self._formatted:
            raise FsError("no file system on the volume")

    def format(self) -> None:
        self._formatted = True
        self._files.clear()
        self._dirs = {"/"}

    def mkdir(self, path: str) -> None:
        self._need_fs()
        key = self._canon(volume_path(path))
        if key in self._dirs or key in self._files:
            raise FsError(f"{path}: exists")
        if posixpath.dirname(key) not in self._dirs:
            raise FsError(f"{path}: parent directory missing")
        self._dirs.add(key)

    def open(self, path: str, mode: str) -> OpenFile:
        self.files.claim(path)
        self._need_fs()
        if mode not in _MODES:
            raise FsError(f"{path}: bad open mode {mode!r}")
        key = self._canon(volume_path(path))
        if key in self._dirs:
            raise FsError(f"{path}: is a directory")
        if mode.startswith("r") and key not in self._files:
            raise FsError(f"{path}: no such file")
        if posixpath.dirname(key) not in self._dirs:
            raise FsError(f"{path}: no such directory")
        if mode.startswith("w"):
            self._files[key] = bytearray()
        else:
            self._files.setdefault(key, bytearray())
        return _MemFile(self, key, mode)

    def exists(self, path: str) -> bool:
        if not self._formatted:
            return False
        key = self._canon(volume_path(path))
        return key in self._files or key in self._dirs

    def remove(self, path: str) -> None:
        self._need_fs()
        key = self._canon(volume_path(path))
        if key in self._files:
            del self._files[key]
        elif key in self._dirs and key != "/":
            if any(posixpath.dirname(k) == key for k in (*self._files, *self._dirs)):
                raise FsError(f"{path}: directory not empty")
            self._dirs.remove(key)
        else:
            raise FsError(f"{path}: no such file")

    def listdir(self, path: str) -> list[str]:
        self._need_fs()
        key = self._canon(volume_path(path))
        if key not in self._dirs:
            raise FsError(f"{path}: no such directory")
        names = [posixpath.basename(k) for k in (*self._files, *self._dirs) if k != "/" and posixpath.dirname(k) == key]
        return sorted(names)

    def file_size(self, path: str) -> int:
        self._need_fs()
        key = self._canon(volume_path(path))
        if key not in self._files:
            raise FsError(f"{path}: no such file")
        return len(self._files[key])

    def used_bytes(self) -> int:
        return sum(len(b) for b in self._files.values())

    def free_bytes(self) -> int:
        self._need_fs()
        return max(0, self.capacity - self.used_bytes())
