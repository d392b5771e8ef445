"""SYS_FS calls of a native helper answered by the board's FAT volume: the host half of otaloop_sys_fs_remote.c.

An example build (bootloader or application) has no FatFs of its own: each SYS_FS call arrives as one
``MSG_FS`` message and :class:`RemoteFiles` performs it on the board's
:class:`~bootloader_model.storage.external_flash.ExternalFlash` over the SST26 model, so the erases and page
programs it makes are counted flash operations (a power cut during one propagates out of :meth:`RemoteFiles.call`).
Open files are RAM: :meth:`RemoteFiles.forget` drops them when the helper's run ends.

It does not read the wire (the helper's runner does) and keeps no state beyond one run.
"""

from __future__ import annotations

import hashlib
import struct

from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import FsError, OpenFile
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

    def call(self, opcode: int, arg: int, payload: bytes) -> tuple[int, bytes]:
        """One SYS_FS call: ``(result, reply bytes)``; a file-system error is result -1, as SYS_FS returns."""
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

    def state(self) -> int:
        """A non-zero digest of the file state kept here for the C code: open files and their positions.

        A bootloader helper's loop detector counts it as machine state (see ``otaloop_protocol.h``).
        """
        files = [(h, *self.opened[h], f.tell()) for h, f in self.files.items()]
        digest = hashlib.blake2b(repr((self.next_handle, self.fs is not None, files)).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little") or 1

    def forget(self) -> None:
        """The run ended: RAM is lost, open files are simply forgotten."""
        self.files.clear()
        self.opened.clear()
