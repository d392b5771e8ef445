"""SYS_FS calls of a native helper answered by the board's FAT volume: the host half of otaloop_sys_fs_remote.c.

An example build (bootloader or application) has no FatFs of its own: each SYS_FS call arrives as one
``MSG_FS`` message and :class:`RemoteFiles` performs it on the board's
:class:`~bootloader_model.storage.external_flash.ExternalFlash` over the SST26 model, so the erases and page
programs it makes are counted flash operations (a power cut during one propagates out of :meth:`RemoteFiles.call`).
Open files are RAM: :meth:`RemoteFiles.forget` drops them when the helper's run ends.

It does not read the wire (the helper's runner does) and keeps no state beyond one run.
"""

from __future__ import annotations

import struct

from bootloader_model.errors import BoardError
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import FsError, OpenFile, Peek
from bootloader_model.storage.nor_flash import NorFlash
from harness.native import protocol


class RemoteFiles:
    """The file calls of one helper run, on the FAT volume of ``external``."""

    def __init__(self, external: NorFlash) -> None:
        self.external = external
        self.fs: ExternalFlash | None = None
        self.files: dict[int, OpenFile] = {}
        self.opened: dict[int, tuple[str, str]] = {}  # handle -> (path, mode)
        self.next_handle = 1
        #: The read worked out by :meth:`read_ahead`, until the next call: handle, bytes asked, the read.
        self.ahead: tuple[int, int, Peek] | None = None

    def call(self, opcode: int, arg: int, payload: bytes) -> tuple[int, bytes]:
        """One SYS_FS call: ``(result, reply bytes)``; a file-system error is result -1, as SYS_FS returns."""
        self.ahead = None
        try:
            return self._call(opcode, arg, payload)
        except FsError:
            return -1, b""

    def _volume(self) -> ExternalFlash:
        if self.fs is None:
            self.fs = ExternalFlash(self.external)
        return self.fs

    def _call(self, opcode: int, arg: int, payload: bytes) -> tuple[int, bytes]:
        fs = self._volume()
        text = payload.decode("latin-1")
        if opcode == protocol.FS_MOUNT:
            fs.mount()
            return 0, b""
        if opcode == protocol.FS_FORMAT:
            fs.format()
            return 0, b""
        if opcode == protocol.FS_MKDIR:
            fs.mkdir(text)
            return 0, b""
        if opcode == protocol.FS_REMOVE:
            fs.remove(text)
            return 0, b""
        if opcode == protocol.FS_OPEN:
            mode = protocol.OPEN_MODES.get(arg)
            if mode is None:
                return -1, b""
            handle = self.next_handle
            self.files[handle] = fs.open(text, mode.replace("a+", "a"))
            self.opened[handle] = (text, mode)
            self.next_handle += 1
            return handle, b""
        fh = self.files.get(arg)
        if fh is None:
            return -1, b""
        if opcode == protocol.FS_READ:
            (want,) = struct.unpack("<I", payload)
            data = fh.read(want)
            return len(data), data
        if opcode == protocol.FS_WRITE:
            return fh.write(payload), b""
        if opcode == protocol.FS_SEEK:
            (pos,) = struct.unpack("<i", payload)
            fh.seek(pos)
            return 0, b""
        if opcode == protocol.FS_SIZE:
            return fh.size(), b""
        if opcode == protocol.FS_TELL:
            return fh.tell(), b""
        if opcode == protocol.FS_CLOSE:
            del self.files[arg]
            del self.opened[arg]
            fh.close()
            return 0, b""
        return -1, b""

    def state(self, moved: tuple[int, int] | None = None) -> int:
        """A non-zero digest of the file state kept here for the C code: open files and their positions
        (``moved``: as if file ``handle`` were at ``position``).

        A bootloader helper's loop detector counts it as machine state (see ``otaloop_protocol.h``); it
        only compares digests within one run, so Python's own hash (fixed for the life of this process)
        serves.
        """
        files = tuple(
            (h, *self.opened[h], moved[1] if moved is not None and moved[0] == h else f.tell())
            for h, f in self.files.items()
        )
        return hash((self.next_handle, self.fs is not None, files)) & 0xFFFF_FFFF_FFFF_FFFF or 1

    def read_ahead(self, handle: int, want: int) -> tuple[bytes, int] | None:
        """What a READ of ``want`` bytes of ``handle`` would answer now, and the file state after it, with
        nothing changed here; None when that read could fail or write (see :meth:`OpenFile.peek`). The
        read is kept for :meth:`take_ahead` until the next call."""
        fh = self.files.get(handle)
        if fh is None or want > protocol.AHEAD_MAX:
            return None
        peek = fh.peek(want)
        if peek is None:
            return None
        self.ahead = (handle, want, peek)
        return peek.answer, self.state((handle, fh.tell() + len(peek.answer)))

    def take_ahead(self, handle: int, want: int) -> bytes:
        """The READ :meth:`read_ahead` answered, made now: the C code took that answer as the very next
        call.

        Raises:
            BoardError: the helper took a read that was not the one answered ahead.
        """
        ahead, self.ahead = self.ahead, None
        if ahead is None or ahead[:2] != (handle, want) or handle not in self.files:
            raise BoardError(f"native helper took a read of file {handle} ({want} bytes) that was not answered ahead")
        return self.files[handle].take(ahead[2])

    def forget(self) -> None:
        """The run ended: RAM is lost, open files are simply forgotten."""
        self.files.clear()
        self.opened.clear()
        self.ahead = None
