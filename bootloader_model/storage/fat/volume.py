"""The SYS_FS-shaped file API over a FAT volume: :class:`FatVolume` and its open files.

:class:`FatVolume` implements :class:`bootloader_model.storage.file_api.FileSystem` with the semantics SYS_FS gets from
FatFs: ``mount`` always succeeds (a volume without a file system mounts, then every file call fails with
:class:`~bootloader_model.storage.file_api.FsError`), names are case-insensitive and case-preserving, directory entries
and FAT changes go through FatFs's one-sector window (:mod:`.core`), whole sectors of file data are written
directly, one cluster per device write, and a partial sector waits in the file's own buffer until the
position leaves that sector or the file is closed. A file's size and first cluster reach its directory
entry only at close.

What it does not do: timestamps other than one fixed time, attributes, rename, FAT32, or the sharing
locks of ``FF_FS_LOCK``. Seeking past the end of a file opened for writing extends it with zeros (FatFs
leaves those bytes undefined).
"""

from __future__ import annotations

from bootloader_model.storage.fat import format_volume, names
from bootloader_model.storage.fat.layout import ATTR_ARCHIVE, ATTR_DIR, DIRENT, HARMONY_FATTIME
from bootloader_model.storage.fat.mount import SS, BlockDevice, read_layout
from bootloader_model.storage.fat.mounted_volume import Core, Entry
from bootloader_model.storage.file_api import FsError, OpenFile, volume_path

_MODES = {"r", "r+", "w", "w+", "a"}


class FatFile:
    """An open file; see :class:`bootloader_model.storage.file_api.OpenFile`."""

    def __init__(self, core: Core, entry: Entry, mode: str, path: str, *, created: bool = False) -> None:
        self._core, self._entry, self._path = core, entry, path
        self._read = mode in ("r", "r+", "w+")
        self._write = mode != "r"
        self._sclust = entry.cluster
        self._size = entry.ent.size
        self._pos = 0
        self._clust = 0  # cluster holding byte pos-1 (FatFs's fp->clust), 0 before the first
        self._buf = bytearray(SS)
        self._bufsect = -1
        self._bufdirty = False
        # FatFs marks a file it created or truncated as modified, so close writes its entry even if empty.
        self._modified = created or mode in ("w", "w+")
        self._closed = False
        if mode == "a":
            self.seek(self._size)

    def _live(self) -> Core:
        if self._closed:
            raise FsError(f"{self._path}: file is closed")
        return self._core

    def _flush_buf(self) -> None:
        if self._bufdirty:
            self._core.dev.write(self._bufsect, self._buf)
            self._bufdirty = False

    def _cluster_for(self, pos: int, grow: bool) -> int:
        """The cluster that holds byte ``pos``, which starts a cluster; allocate it when ``grow``."""
        core = self._core
        if pos == 0:
            if self._sclust == 0 and grow:
                self._sclust = core.create_chain(0)
            return self._sclust
        nxt = core.next_cluster(self._clust)
        if nxt == 0 and grow:
            nxt = core.create_chain(self._clust)
        return nxt

    def read(self, n: int) -> bytes:
        core = self._live()
        if not self._read:
            raise FsError(f"{self._path}: not opened for reading")
        n = max(0, min(n, self._size - self._pos))
        out = bytearray()
        bcs = core.lay.cluster_bytes
        while n > 0:
            if self._pos % bcs == 0:
                self._clust = self._cluster_for(self._pos, grow=False)
                if self._clust == 0:
                    raise FsError(f"{self._path}: cluster chain shorter than the file: volume damaged")
            sect = core.lay.sector_of(self._clust) + self._pos % bcs // SS
            if self._pos % SS == 0 and n >= SS:
                cc = min(n // SS, core.lay.sectors_per_cluster - self._pos % bcs // SS)
                self._flush_buf()
                data = core.dev.read(sect, cc)
                out += data
                self._pos += len(data)
                n -= len(data)
                continue
            if self._bufsect != sect:
                self._flush_buf()
                self._buf[:] = core.dev.read(sect)
                self._bufsect = sect
            o = self._pos % SS
            k = min(n, SS - o)
            out += self._buf[o : o + k]
            self._pos += k
            n -= k
        return bytes(out)

    def write(self, data: bytes) -> int:
        core = self._live()
        if not self._write:
            raise FsError(f"{self._path}: not opened for writing")
        view = memoryview(data)
        bcs = core.lay.cluster_bytes
        done = 0
        while done < len(view):
            if self._pos % bcs == 0:
                clst = self._cluster_for(self._pos, grow=True)
                if clst == 0:
                    self._size = max(self._size, self._pos)
                    raise FsError(f"{self._path}: volume full after {done} of {len(view)} bytes")
                self._clust = clst
            sect = core.lay.sector_of(self._clust) + self._pos % bcs // SS
            rest = len(view) - done
            self._modified = True
            if self._pos % SS == 0 and rest >= SS:
                # Whole sectors go straight to the device, clipped at the cluster end (one write per cluster).
                cc = min(rest // SS, core.lay.sectors_per_cluster - self._pos % bcs // SS)
                chunk = view[done : done + cc * SS]
                if sect <= self._bufsect < sect + cc:
                    self._buf[:] = chunk[(self._bufsect - sect) * SS : (self._bufsect - sect + 1) * SS]
                    self._bufdirty = False
                core.dev.write(sect, chunk)
                done += cc * SS
                self._pos += cc * SS
            else:
                if self._bufsect != sect:
                    self._flush_buf()
                    if self._pos < self._size or self._pos % SS:
                        self._buf[:] = core.dev.read(sect)
                    else:
                        self._buf[:] = bytes(SS)
                    self._bufsect = sect
                o = self._pos % SS
                k = min(rest, SS - o)
                self._buf[o : o + k] = view[done : done + k]
                self._bufdirty = True
                done += k
                self._pos += k
            self._size = max(self._size, self._pos)
        return done

    def seek(self, pos: int) -> None:
        core = self._live()
        if pos < 0:
            raise FsError(f"{self._path}: negative seek")
        if pos > self._size:
            if not self._write:
                pos = self._size  # FatFs clamps a read-only seek to the end of the file
            else:
                self.seek(self._size)
                self.write(bytes(pos - self._size))
                return
        old_pos, old_clust = self._pos, self._clust
        self._pos = pos
        self._clust = 0
        if pos:
            bcs = core.lay.cluster_bytes
            target = (pos - 1) // bcs
            if old_pos > 0 and old_clust and target >= (old_pos - 1) // bcs:
                # f_lseek to the same or a following cluster walks on from the current one (FatFs does
                # too); only a backward seek starts again at the first cluster.
                c, steps = old_clust, target - (old_pos - 1) // bcs
            else:
                c, steps = self._sclust, target
            for _ in range(steps):
                c = core.next_cluster(c)
            self._clust = c

    def tell(self) -> int:
        return self._pos

    def size(self) -> int:
        self._live()
        return self._size

    def sync(self) -> None:
        """FatFs's f_sync: write the buffered sector, then the directory entry, then the window."""
        core = self._live()
        if not self._modified:
            return
        self._flush_buf()
        t = core.fattime
        cl = self._sclust
        core.update(self._entry, attr=self._entry.ent.attr | ATTR_ARCHIVE, cluster_hi=cl >> 16,
                    cluster_lo=cl & 0xFFFF, size=self._size, wrt_time=t & 0xFFFF, wrt_date=t >> 16,
                    acc_date=0)  # fmt: skip
        core.sync_window()
        self._modified = False

    def close(self) -> None:
        if self._closed:
            return
        self.sync()
        self._closed = True


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
        return FatFile(core, e, mode, path, created=created)

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
