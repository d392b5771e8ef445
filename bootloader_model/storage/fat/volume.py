"""The SYS_FS-shaped file API over a FAT volume: :class:`FatVolume` and its open files.

:class:`FatVolume` implements :class:`bootloader_model.storage.file_api.FileSystem` with the semantics SYS_FS gets from
FatFs: ``mount`` always succeeds (a volume without a file system mounts, then every file call fails with
:class:`~bootloader_model.storage.file_api.FsError`), names are case-insensitive and case-preserving, directory entries
and FAT changes go through FatFs's one-sector window (:mod:`.mounted_volume`), whole sectors of file data are written
directly, one cluster per device write, and a partial sector waits in the file's own buffer until the
position leaves that sector or the file is closed. A file's size and first cluster reach its directory
entry only at close. Open files take slots of SYS_FS's file table and latch FatFs's per-file error
(:class:`~bootloader_model.storage.file_api.FileObject`); a file opened for writing (``r+`` too) follows its
cluster chain on a seek as FatFs does, with ``create_chain``: seeking past the end, or across an
end-of-chain mark inside the file, links in new clusters, whose bytes are whatever the flash held.

What it does not do: timestamps other than one fixed time, attributes, rename, FAT32, or the same-file
rules of ``FF_FS_LOCK``.
"""

from __future__ import annotations

from bootloader_model.storage.fat import format_volume, names
from bootloader_model.storage.fat.layout import ATTR_ARCHIVE, ATTR_DIR, DIRENT, HARMONY_FATTIME
from bootloader_model.storage.fat.mount import SS, BlockDevice, read_layout
from bootloader_model.storage.fat.mounted_volume import Core, Entry
from bootloader_model.storage.file_api import (
    FileObject,
    FileObjectError,
    FileTable,
    FsError,
    OpenFile,
    Peek,
    volume_path,
)

_MODES = {"r", "r+", "w", "w+", "a"}


class FatFile(FileObject):
    """An open file: FatFs's ``FIL`` with ``f_read``, ``f_write``, ``f_lseek`` and ``f_sync`` re-expressed.

    The sector buffer (``fp->buf``/``fp->sect``), the current cluster and the position move exactly as
    in FatFs, including where a failure leaves them: every place FatFs aborts raises
    :class:`~bootloader_model.storage.file_api.FileObjectError`, which the base class latches.
    """

    def __init__(self, core: Core, entry: Entry, mode: str, path: str, table: FileTable, *, created: bool) -> None:
        super().__init__(table, path)
        self._core, self._entry = core, entry
        self._can_read = mode in ("r", "r+", "w+")
        self._can_write = mode != "r"
        self._sclust = entry.cluster
        self._fsize = entry.ent.size
        self._clust = 0  # fp->clust: the cluster holding byte pos-1
        self._buf = bytearray(SS)
        self._sect = -1  # fp->sect: the sector in the buffer (FatFs's 0: none)
        self._dirty = False
        # FatFs marks a file it created or truncated as modified, so close writes its entry even if empty.
        self._modified = created or mode in ("w", "w+")

    def open_at_end(self) -> None:
        """``f_open`` with ``FA_OPEN_APPEND``: walk to the end; a broken chain fails the open itself."""
        core = self._core
        if self._fsize == 0:
            return
        self._pos = self._fsize
        bcs = core.lay.cluster_bytes
        clst, ofs = self._sclust, self._fsize
        while ofs > bcs:
            clst = core.raw_fat(clst)
            if clst <= 1:
                raise FsError(f"{self.path}: cluster chain broken: volume damaged")
            ofs -= bcs
        self._clust = clst
        if ofs % SS:
            sc = core.clst2sect(clst)
            if sc == 0:
                raise FsError(f"{self.path}: cluster chain broken: volume damaged")
            self._sect = sc + ofs // SS
            self._buf[:] = core.dev.read(self._sect)

    def _abort(self, what: str, partial: bytes = b"") -> FileObjectError:
        return FileObjectError(f"{self.path}: {what}: volume damaged", partial=partial)

    def _write_back(self) -> None:
        if self._dirty:
            self._core.dev.write(self._sect, self._buf)
            self._dirty = False

    def _read(self, n: int) -> bytes:
        if not self._can_read:
            raise FsError(f"{self.path}: not opened for reading")
        core = self._core
        csize = core.lay.sectors_per_cluster
        n = max(0, min(n, self._fsize - self._pos))
        out = bytearray()
        while n > 0:
            if self._pos % SS == 0:
                csect = self._pos // SS & (csize - 1)
                if csect == 0:
                    clst = self._sclust if self._pos == 0 else core.raw_fat(self._clust)
                    if clst < 2:
                        raise self._abort(f"no cluster for byte {self._pos}", bytes(out))
                    self._clust = clst
                sect = core.clst2sect(self._clust)
                if sect == 0:
                    raise self._abort(f"cluster chain ends before byte {self._pos}", bytes(out))
                sect += csect
                cc = n // SS
                if cc > 0:  # whole sectors straight into the caller's buffer, clipped at the cluster end
                    cc = min(cc, csize - csect)
                    data = bytearray(core.dev.read(sect, cc))
                    if self._dirty and sect <= self._sect < sect + cc:
                        o = (self._sect - sect) * SS
                        data[o : o + SS] = self._buf
                    out += data
                    self._pos += len(data)
                    n -= len(data)
                    continue
                if self._sect != sect:
                    self._write_back()
                    self._buf[:] = core.dev.read(sect)
                self._sect = sect
            o = self._pos % SS
            k = min(n, SS - o)
            out += self._buf[o : o + k]
            self._pos += k
            n -= k
        return bytes(out)

    def _state(self) -> tuple[int, int, int, bytes, int, bytes]:
        core = self._core
        return self._pos, self._clust, self._sect, bytes(self._buf), core.winsect, bytes(core.win)

    def _restore(self, state: object) -> None:
        assert isinstance(state, tuple)
        pos, clust, sect, buf, winsect, win = state
        core = self._core
        self._pos, self._clust, self._sect, core.winsect = pos, clust, sect, winsect
        self._buf[:], core.win[:] = buf, win

    def peek(self, n: int) -> Peek | None:
        """:meth:`read` of ``n`` bytes worked out ahead, leaving the file, the volume's window and the flash
        as they are (the flash is only read); None where that read would fail, or could write (a dirty
        file buffer or window is written back before another sector is loaded)."""
        if self._closed or self._err is not None or not self._can_read or self._dirty or self._core.dirty:
            return None
        before = self._state()
        try:
            data = self._read(n)
        except FsError:
            return None
        else:
            return Peek(data, self._state())
        finally:
            self._restore(before)

    def take(self, peek: Peek) -> bytes:
        self._restore(peek.after)
        return peek.answer

    def _write(self, data: bytes) -> int:
        if not self._can_write:
            raise FsError(f"{self.path}: not opened for writing")
        core = self._core
        csize = core.lay.sectors_per_cluster
        view = memoryview(data)
        done = 0
        while done < len(view):
            if self._pos % SS == 0:
                csect = self._pos // SS & (csize - 1)
                if csect == 0:
                    # the first cluster (allocated on the first write), else follow or stretch the chain
                    clst = (self._sclust or core.create_chain(0)) if self._pos == 0 else core.stretch(self._clust)
                    if clst == 0:  # FatFs stops here and reports success with fewer bytes
                        self._modified = True
                        raise FsError(f"{self.path}: volume full after {done} of {len(view)} bytes")
                    if clst == 1:
                        raise self._abort(f"broken cluster chain at byte {self._pos}")
                    self._clust = clst
                    if self._sclust == 0:
                        self._sclust = clst
                self._write_back()
                sect = core.clst2sect(self._clust)
                if sect == 0:
                    raise self._abort(f"cluster chain ends before byte {self._pos}")
                sect += csect
                cc = (len(view) - done) // SS
                if cc > 0:  # whole sectors go straight to the device, clipped at the cluster end
                    cc = min(cc, csize - csect)
                    chunk = view[done : done + cc * SS]
                    core.dev.write(sect, chunk)
                    if sect <= self._sect < sect + cc:
                        o = (self._sect - sect) * SS
                        self._buf[:] = chunk[o : o + SS]
                        self._dirty = False
                    done += cc * SS
                    self._pos += cc * SS
                    self._fsize = max(self._fsize, self._pos)
                    continue
                if self._sect != sect and self._pos < self._fsize:
                    self._buf[:] = core.dev.read(sect)
                self._sect = sect
            o = self._pos % SS
            k = min(len(view) - done, SS - o)
            self._buf[o : o + k] = view[done : done + k]
            self._dirty = True
            done += k
            self._pos += k
            self._fsize = max(self._fsize, self._pos)
        self._modified = True
        return done

    def _seek(self, pos: int) -> None:
        core = self._core
        if pos > self._fsize and not self._can_write:
            pos = self._fsize  # FatFs clips a read-only seek at the end of the file
        ifptr = self._pos
        self._pos = nsect = 0
        ofs = pos
        if ofs > 0:
            bcs = core.lay.cluster_bytes
            if ifptr > 0 and (ofs - 1) // bcs >= (ifptr - 1) // bcs:
                # the same or a following cluster: walk on from the current one
                self._pos = (ifptr - 1) & ~(bcs - 1)
                ofs -= self._pos
                clst = self._clust
            else:
                clst = self._sclust
                if self._can_write and clst == 0:
                    clst = core.create_chain(0)
                    self._sclust = clst
                self._clust = clst
            if clst != 0:
                while ofs > bcs:
                    ofs -= bcs
                    self._pos += bcs
                    # A writable file follows its chain with create_chain: an end mark (or garbage past the
                    # last cluster) inside the file gets a new cluster linked in; a read-only one must not.
                    clst = core.stretch(clst) if self._can_write else core.raw_fat(clst)
                    if self._can_write and clst == 0:  # volume full: the position stops here
                        ofs = 0
                        break
                    if clst <= 1 or clst >= core.n_fatent:
                        raise self._abort(f"broken cluster chain seeking to {pos}")
                    self._clust = clst
                self._pos += ofs
                if ofs % SS:
                    nsect = core.clst2sect(clst)
                    if nsect == 0:
                        raise self._abort(f"broken cluster chain seeking to {pos}")
                    nsect += ofs // SS
        if self._can_write and self._pos > self._fsize:
            # Extended: the new clusters keep whatever the flash holds; the size reaches the entry at close.
            self._fsize = self._pos
            self._modified = True
        if self._pos % SS and nsect != self._sect:
            self._write_back()
            self._buf[:] = core.dev.read(nsect)
            self._sect = nsect

    def _size(self) -> int:
        return self._fsize

    def _sync(self) -> None:
        """FatFs's f_sync: write the buffered sector, then the directory entry, then the window."""
        core = self._core
        if not self._modified:
            return
        self._write_back()
        t = core.fattime
        cl = self._sclust
        core.update(self._entry, attr=self._entry.ent.attr | ATTR_ARCHIVE, cluster_hi=cl >> 16,
                    cluster_lo=cl & 0xFFFF, size=self._fsize, wrt_time=t & 0xFFFF, wrt_date=t >> 16,
                    acc_date=0)  # fmt: skip
        core.sync_window()
        self._modified = False

    def sync(self) -> None:
        """``SYS_FS_FileSync``."""
        if self._closed:
            raise FsError(f"{self.path}: file is not open")
        self._sync()


class FatVolume:
    """A FAT volume on a block device, with Harmony's SYS_FS semantics.

    See :class:`bootloader_model.storage.file_api.FileSystem` for the contract.
    """

    def __init__(self, dev: BlockDevice, *, fattime: int = HARMONY_FATTIME, align: int = 1) -> None:
        self.dev = dev
        self.fattime = fattime
        self.align = align
        self._core: Core | None = None
        self._tried = False
        self.files = FileTable()

    def initialize(self, max_files: int | None) -> None:
        """``SYS_FS_Initialize``: an empty file table of ``max_files`` slots (None: no limit)."""
        self.files.reset(max_files)

    # ------------------------------------------------------------------------------------------ mounting
    def mount(self) -> None:
        """Look for a file system; succeeds either way, as ``SYS_FS_Mount`` does on ``NO_FILESYSTEM``."""
        layout = read_layout(self.dev)
        self._core = Core(self.dev, layout, self.fattime) if layout else None
        self._tried = True

    def has_filesystem(self) -> bool:
        if not self._tried:
            self.mount()
        return self._core is not None

    def core(self) -> Core:
        """The mounted volume; :class:`FsError` when there is no file system (every SYS_FS file call fails)."""
        if not self._tried or self._core is None:
            self.mount()
        if self._core is None:
            raise FsError("no file system on the volume")
        return self._core

    def format(self) -> None:
        """What the bootloader's first boot does: ``SYS_FS_DriveFormat`` with ``SYS_FS_FORMAT_FAT``."""
        self._core = None
        format_volume.format_volume(self.dev, fattime=self.fattime, align=self.align)
        self.mount()

    def geometry(self) -> format_volume.FatGeometry:
        """The geometry :meth:`format` writes on this device."""
        return format_volume.plan(self.dev.sector_count, align=self.align)

    # ------------------------------------------------------------------------------------------ lookups
    def _walk(self, path: str) -> tuple[Core, int, str]:
        """Resolve the parent directory of ``path``: (core, its first cluster or 0 for root, last name)."""
        core = self.core()
        key = volume_path(path)
        parts = [p for p in key.split("/") if p]
        cluster = 0
        for part in parts[:-1]:
            e = core.find(cluster, part)
            if e is None or not e.is_dir:
                raise FsError(f"{path}: no such directory")
            cluster = e.cluster
        return core, cluster, parts[-1] if parts else ""

    def _lookup(self, path: str) -> tuple[Core, int, str, Entry | None]:
        core, parent, name = self._walk(path)
        return core, parent, name, core.find(parent, name) if name else None

    def _dir_cluster(self, path: str) -> tuple[Core, int]:
        core, _, name, e = self._lookup(path)
        if not name:
            return core, 0
        if e is None or not e.is_dir:
            raise FsError(f"{path}: no such directory")
        return core, e.cluster

    # ------------------------------------------------------------------------------------------ the API
    def mkdir(self, path: str) -> None:
        core, parent, name, e = self._lookup(path)
        if not name or e is not None:
            raise FsError(f"{path}: exists")
        name = names.check_name(name)
        dcl = core.create_chain(0)
        if dcl == 0:
            raise FsError(f"{path}: volume full")
        core.sync_window()
        core.clear_cluster(dcl)
        t = core.fattime
        dot = DIRENT.pack(b".          ", ATTR_DIR, 0, 0, 0, 0, 0, dcl >> 16, t & 0xFFFF, t >> 16, dcl & 0xFFFF, 0)
        dotdot = DIRENT.pack(b"..         ", ATTR_DIR, 0, 0, 0, 0, 0, parent >> 16, t & 0xFFFF, t >> 16,
                             parent & 0xFFFF, 0)  # fmt: skip
        first = core.lay.sector_of(dcl)
        core.write_slot(first, 0, dot)
        core.write_slot(first, 32, dotdot)
        try:
            core.register(parent, name, ATTR_DIR, dcl, created=False)
        except FsError:
            core.remove_chain(dcl)
            raise
        core.sync_window()

    def open(self, path: str, mode: str) -> OpenFile:
        volume_path(path)
        self.files.claim(path)
        if mode not in _MODES:
            raise FsError(f"{path}: bad open mode {mode!r}")
        core, parent, name, e = self._lookup(path)
        if not name or (e is not None and e.is_dir):
            raise FsError(f"{path}: is a directory")
        created = e is None
        if e is None:
            if mode.startswith("r"):
                raise FsError(f"{path}: no such file")
            e = core.register(parent, names.check_name(name), ATTR_ARCHIVE, 0)
        elif mode.startswith("w"):
            # FA_CREATE_ALWAYS on an existing file: empty the entry, free the old chain, and hint the
            # allocator to reuse its first cluster.
            old = e.cluster
            t = core.fattime
            core.update(e, attr=ATTR_ARCHIVE, cluster_hi=0, cluster_lo=0, size=0, crt_time=t & 0xFFFF,
                        crt_date=t >> 16, wrt_time=t & 0xFFFF, wrt_date=t >> 16)  # fmt: skip
            if old:
                back = core.winsect
                core.remove_chain(old)
                core.move(back)
                core.last_clst = old - 1
        f = FatFile(core, e, mode, path, self.files, created=created)
        if mode == "a":
            try:
                f.open_at_end()
            except FsError:
                f.abandon()
                self.files.open.remove(f)
                raise
        return f

    def exists(self, path: str) -> bool:
        if not self.has_filesystem():
            return False
        try:
            _, _, name, e = self._lookup(path)
        except FsError:
            return False
        return not name or e is not None

    def remove(self, path: str) -> None:
        core, _, name, e = self._lookup(path)
        if not name:
            raise FsError(f"{path}: cannot remove the root directory")
        if e is None:
            raise FsError(f"{path}: no such file")
        if e.is_dir and any(True for _ in core.entries(e.cluster)):
            raise FsError(f"{path}: directory not empty")
        core.unlink(e)
        if e.cluster:
            core.remove_chain(e.cluster)
        core.sync_window()

    def listdir(self, path: str) -> list[str]:
        core, cluster = self._dir_cluster(path)
        return sorted(e.name for e in core.entries(cluster))

    def file_size(self, path: str) -> int:
        e = self._lookup(path)[3]
        if e is None or e.is_dir:
            raise FsError(f"{path}: no such file")
        return e.ent.size

    def free_bytes(self) -> int:
        core = self.core()
        return core.count_free() * core.lay.cluster_bytes
