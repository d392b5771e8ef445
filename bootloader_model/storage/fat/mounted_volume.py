"""The mounted FAT12/16 volume: sector window, FAT chains and directory tables, FatFs-style.

FatFs keeps exactly one 512-byte *window* per volume. FAT entries and directory entries are read and
changed in that window, and a changed window goes back to the disk only when another sector is brought in
or the volume is synced. File data bypasses the window. This module copies that discipline so that, after
a power cut, the flash holds what a board running FatFs would hold: for example a new directory entry
reaches the flash when the first FAT change pushes it out of the window, and the FAT sector only at close.

What it does not do: FAT32/exFAT, FSINFO, more than 512-byte sectors, or any caching beyond the window.
Everything lives in this object; dropping it (as a power cut does) leaves only what reached the flash.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from bootloader_model.storage.fat import names
from bootloader_model.storage.fat.layout import (
    ATTR_DIR,
    ATTR_LFN,
    ATTR_VOLUME,
    DELETED,
    DIRENT,
    LFN_LAST,
    DirEnt,
    lfn_checksum,
)
from bootloader_model.storage.fat.mount import SS, BlockDevice, Layout
from bootloader_model.storage.file_api import FsError


@dataclass
class Entry:
    """A directory entry found by a scan: its names, decoded short entry and where its slots are."""

    name: str
    short: bytes
    ent: DirEnt
    sector: int
    offset: int
    slots: list[tuple[int, int]] = field(default_factory=list)  # LFN slots then the short entry

    @property
    def cluster(self) -> int:
        return (self.ent.cluster_hi << 16) | self.ent.cluster_lo

    @property
    def is_dir(self) -> bool:
        return bool(self.ent.attr & ATTR_DIR)


class Core:
    """The window, the FAT and directory tables of one mounted volume."""

    def __init__(self, dev: BlockDevice, layout: Layout, fattime: int) -> None:
        self.dev = dev
        self.lay = layout
        self.fattime = fattime
        self.win = bytearray(SS)
        self.winsect = -1
        self.dirty = False
        self.last_clst = -1  # allocation hint, FatFs's last_clst (unknown after mount)
        self.free_clst = -1  # unknown until counted

    # ------------------------------------------------------------------------------------------- window
    def sync_window(self) -> None:
        if self.dirty:
            self.dev.write(self.winsect, self.win)
            lay = self.lay
            if lay.num_fats == 2 and lay.fat_start <= self.winsect < lay.fat_start + lay.sectors_per_fat:
                self.dev.write(self.winsect + lay.sectors_per_fat, self.win)  # mirror into the second FAT
            self.dirty = False

    def move(self, sector: int) -> None:
        if sector != self.winsect:
            self.sync_window()
            self.win[:] = self.dev.read(sector)
            self.winsect = sector

    def forget(self, first: int, count: int) -> None:
        """Drop the window if a direct write replaced its sector."""
        if first <= self.winsect < first + count:
            self.winsect = -1
            self.dirty = False

    # ---------------------------------------------------------------------------------------------- FAT
    def get_fat(self, c: int) -> int:
        lay = self.lay
        if not 2 <= c < lay.clusters + 2:
            raise FsError(f"cluster {c} out of range: volume damaged")
        if lay.fat_bits == 12:
            bc = c + c // 2
            self.move(lay.fat_start + bc // SS)
            lo = self.win[bc % SS]
            bc += 1
            self.move(lay.fat_start + bc // SS)
            v = lo | self.win[bc % SS] << 8
            return v >> 4 if c & 1 else v & 0xFFF
        self.move(lay.fat_start + c * 2 // SS)
        o = c * 2 % SS
        return self.win[o] | self.win[o + 1] << 8

    def put_fat(self, c: int, value: int) -> None:
        lay = self.lay
        if lay.fat_bits == 12:
            value &= 0xFFF
            bc = c + c // 2
            self.move(lay.fat_start + bc // SS)
            o = bc % SS
            self.win[o] = (self.win[o] & 0x0F) | (value << 4 & 0xF0) if c & 1 else value & 0xFF
            self.dirty = True
            bc += 1
            self.move(lay.fat_start + bc // SS)
            o = bc % SS
            self.win[o] = value >> 4 if c & 1 else (self.win[o] & 0xF0) | (value >> 8 & 0x0F)
            self.dirty = True
            return
        self.move(lay.fat_start + c * 2 // SS)
        o = c * 2 % SS
        self.win[o : o + 2] = (value & 0xFFFF).to_bytes(2, "little")
        self.dirty = True

    # FatFs's own return conventions, for the file object code that mirrors f_read / f_write / f_lseek:
    def raw_fat(self, c: int) -> int:
        """FatFs's ``get_fat``: the entry of cluster ``c`` as stored, or 1 when ``c`` is out of range."""
        if not 2 <= c < self.lay.clusters + 2:
            return 1
        return self.get_fat(c)

    def clst2sect(self, c: int) -> int:
        """FatFs's ``clst2sect``: the first sector of cluster ``c``, or 0 when ``c`` is out of range."""
        if not 2 <= c < self.lay.clusters + 2:
            return 0
        return self.lay.sector_of(c)

    def stretch(self, c: int) -> int:
        """FatFs's ``create_chain(obj, c)``: the cluster after ``c``, appended when ``c`` ends its chain.

        1 for a free or out-of-range link (FatFs's "insanity"), 0 when the volume is full. Any value
        beyond the last cluster (an end-of-chain mark, or garbage) counts as the end: a new cluster is
        linked in its place.
        """
        cs = self.raw_fat(c)
        if cs < 2:
            return 1
        if cs < self.lay.clusters + 2:
            return cs
        return self.create_chain(c)

    @property
    def n_fatent(self) -> int:
        """FatFs's ``n_fatent``: the number of FAT entries, two more than the data clusters."""
        return self.lay.clusters + 2

    def is_eoc(self, value: int) -> bool:
        return value >= (0xFF8 if self.lay.fat_bits == 12 else 0xFFF8)

    def next_cluster(self, c: int) -> int:
        """The cluster after ``c``; 0 at end of chain. A free or bad link means a damaged volume."""
        v = self.get_fat(c)
        if self.is_eoc(v):
            return 0
        if not 2 <= v < self.lay.clusters + 2:
            raise FsError(f"cluster {c} links to {v}: volume damaged")
        return v

    def chain(self, start: int) -> Iterator[int]:
        seen = 0
        c = start
        while c:
            yield c
            seen += 1
            if seen > self.lay.clusters:
                raise FsError("cluster chain loops: volume damaged")
            c = self.next_cluster(c)

    def count_free(self) -> int:
        if self.free_clst < 0:
            self.free_clst = sum(1 for c in range(2, self.lay.clusters + 2) if self.get_fat(c) == 0)
        return self.free_clst

    def create_chain(self, prev: int) -> int:
        """Allocate one cluster (after ``prev``, or a new chain when 0) the FatFs way; 0 when the disk is full."""
        top = self.lay.clusters + 2
        if prev == 0:
            scl = self.last_clst if 2 <= self.last_clst < top else 1
            ncl = 0
        else:
            scl = prev
            ncl = prev + 1 if prev + 1 < top else 2
            if self.get_fat(ncl) != 0:
                scl = self.last_clst if 2 <= self.last_clst < top else scl
                ncl = 0
        if ncl == 0:
            ncl = scl
            while True:
                ncl += 1
                if ncl >= top:
                    ncl = 2
                    if ncl > scl:
                        return 0
                if self.get_fat(ncl) == 0:
                    break
                if ncl == scl:
                    return 0
        self.put_fat(ncl, self.lay.eoc)
        if prev:
            self.put_fat(prev, ncl)
        self.last_clst = ncl
        if self.free_clst > 0:
            self.free_clst -= 1
        return ncl

    def remove_chain(self, start: int) -> None:
        c = start
        while c:
            nxt = self.next_cluster(c)
            self.put_fat(c, 0)
            if self.free_clst >= 0:
                self.free_clst += 1
            c = nxt

    # ------------------------------------------------------------------------------------- directories
    def dir_sectors(self, cluster: int) -> Iterator[int]:
        lay = self.lay
        if cluster == 0:
            yield from range(lay.root_start, lay.data_start)
            return
        for c in self.chain(cluster):
            first = lay.sector_of(c)
            yield from range(first, first + lay.sectors_per_cluster)

    def slots(self, cluster: int) -> Iterator[tuple[int, int, bytes]]:
        """Every 32-byte slot of a directory table, as (sector, offset, bytes), read through the window."""
        for sector in self.dir_sectors(cluster):
            for off in range(0, SS, 32):
                self.move(sector)
                yield sector, off, bytes(self.win[off : off + 32])

    def entries(self, cluster: int) -> Iterator[Entry]:
        """Live entries (no volume label, no dot entries), with long names joined when their chain is intact."""
        parts: list[str] = []
        locs: list[tuple[int, int]] = []
        want, csum = 0, -1
        for sector, off, raw in self.slots(cluster):
            first = raw[0]
            if first == 0:
                return
            if first == DELETED:
                parts, locs, want = [], [], 0
                continue
            if raw[11] & 0x3F == ATTR_LFN:
                order, chk, text = names.lfn_part(raw)
                if order & LFN_LAST:
                    parts, locs, want, csum = [text], [(sector, off)], (order & 0x3F) - 1, chk
                elif parts and want == (order & 0x3F) and chk == csum:
                    parts.append(text)
                    locs.append((sector, off))
                    want -= 1
                else:
                    parts, locs, want = [], [], 0
                continue
            ent = DirEnt(*DIRENT.unpack(raw))
            if ent.attr & ATTR_VOLUME or ent.name[:1] == b".":
                parts, locs, want = [], [], 0
                continue
            if parts and want == 0 and csum == lfn_checksum(ent.name):
                name = "".join(reversed(parts))
            else:
                name, locs = names.display_name(ent.name, ent.nt_case), []
            yield Entry(name, ent.name, ent, sector, off, [*locs, (sector, off)])
            parts, locs, want = [], [], 0

    def find(self, cluster: int, name: str) -> Entry | None:
        for e in self.entries(cluster):
            if names.same_name(e.name, name) or names.display_name(e.short, 0) == name.upper():
                return e
        return None

    def write_slot(self, sector: int, off: int, raw: bytes) -> None:
        self.move(sector)
        self.win[off : off + 32] = raw
        self.dirty = True

    def clear_cluster(self, cluster: int) -> None:
        """Zero a new directory cluster: FatFs's dir_clear writes every sector directly."""
        self.sync_window()
        first = self.lay.sector_of(cluster)
        self.forget(first, self.lay.sectors_per_cluster)
        zero = bytes(SS)
        for s in range(first, first + self.lay.sectors_per_cluster):
            self.dev.write(s, zero)

    def register(self, cluster: int, name: str, attr: int, first_cluster: int, *, created: bool = True) -> Entry:
        """Add an entry for ``name`` (LFN slots when needed) to a directory; return it.

        A file gets its creation and modification time (``f_open``); a directory (``created=False``) only
        the modification time, as ``f_mkdir`` writes no other field of the entry ``dir_register`` cleared.
        """
        basis, nt, needs_lfn, lossy = names.short_form(name)
        short = basis
        if lossy:
            taken = {e.short for e in self.entries(cluster)}
            for seq in range(1, 100):
                short = names.numbered(basis, name, seq)
                if short not in taken:
                    break
            else:
                raise FsError(f"{name}: no free short alias")
        lfn = names.lfn_entries(name, lfn_checksum(short)) if needs_lfn else []
        need = len(lfn) + 1
        run: list[tuple[int, int]] = []
        for sector, off, raw in self.slots(cluster):
            if raw[0] in (0, DELETED):
                run.append((sector, off))
                if len(run) == need:
                    break
            else:
                run = []
        while len(run) < need:
            if cluster == 0:
                raise FsError(f"{name}: root directory full")
            last = list(self.chain(cluster))[-1]
            new = self.create_chain(last)
            if new == 0:
                raise FsError(f"{name}: volume full")
            self.clear_cluster(new)
            first = self.lay.sector_of(new)
            run += [(s, o) for s in range(first, first + self.lay.sectors_per_cluster) for o in range(0, SS, 32)]
            run = run[:need]
        t = self.fattime
        c = t if created else 0
        ent = DirEnt(short, attr, nt, 0, c & 0xFFFF, c >> 16, 0, first_cluster >> 16, t & 0xFFFF, t >> 16,
                     first_cluster & 0xFFFF, 0)  # fmt: skip
        for (sector, off), raw in zip(run, [*lfn, DIRENT.pack(*ent)], strict=True):
            self.write_slot(sector, off, raw)
        sector, off = run[-1]
        return Entry(name, short, ent, sector, off, run)

    def update(self, e: Entry, **changes: int) -> Entry:
        """Rewrite the short entry of ``e`` with some fields changed (through the window)."""
        ent = e.ent._replace(**changes)  # type: ignore[arg-type]
        self.write_slot(e.sector, e.offset, DIRENT.pack(*ent))
        e.ent = ent
        return e

    def unlink(self, e: Entry) -> None:
        for sector, off in e.slots:
            self.move(sector)
            self.win[off] = DELETED
            self.dirty = True
