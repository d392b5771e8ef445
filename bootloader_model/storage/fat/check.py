"""A read-only consistency check of a FAT volume: the problems ``fsck.fat -n`` would report.

:func:`check` walks every directory from the root and checks each cluster chain: links in range, no
cluster owned twice, a file's chain as long as its size needs, a directory's chain present. Clusters marked
used in the FAT that no entry owns are *lost* (a leak, harmless to the files). It never writes.

What it does not do: repair anything, check timestamps or short-name spelling, or read file contents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bootloader_model.storage.fat.layout import DELETED
from bootloader_model.storage.fat.mount import SS, read_layout
from bootloader_model.storage.fat.mounted_volume import Core
from bootloader_model.storage.fat.volume import FatVolume
from bootloader_model.storage.file_api import FsError


@dataclass
class Report:
    """What :func:`check` found. ``ok`` means no errors; lost clusters alone are reported but tolerated."""

    mounted: bool
    files: dict[str, int] = field(default_factory=dict)  # volume path -> size
    dirs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lost_clusters: int = 0
    owners: dict[int, str] = field(default_factory=dict)  # cluster -> the file or directory that owns it

    @property
    def ok(self) -> bool:
        return self.mounted and not self.errors


def _chain(core: Core, fat: FatTable, start: int, owner: str, used: dict[int, str], report: Report) -> int:
    """Claim the chain from ``start``; return its length, or -1 after recording an error."""
    lay = core.lay
    n, c = 0, start
    while c:
        if not 2 <= c < lay.clusters + 2:
            report.errors.append(f"{owner}: cluster {c} out of range")
            return -1
        if c in used:
            report.errors.append(f"{owner}: cluster {c} is also used by {used[c]}")
            return -1
        used[c] = owner
        n += 1
        v = fat.entry(c)
        if core.is_eoc(v):
            break
        if v < 2:
            report.errors.append(f"{owner}: chain ends in a {'free' if v == 0 else 'reserved'} cluster")
            return -1
        c = v
    return n


def _check_slots(core: Core, cluster: int, path: str, report: Report) -> None:
    """Raw slots: a sub-directory starts with its dot entries, and no slot has impossible attributes.

    Like ``fsck.fat`` (and unlike FatFs, which stops at the end marker) this looks at every slot of the
    table, so half-programmed directory sectors count as damage even after the end marker.
    """
    bad = 0
    first_sector = True
    for sector in core.dir_sectors(cluster):
        core.move(sector)
        table = bytes(core.win)
        if first_sector and cluster:
            for i, dots in enumerate((b".          ", b"..         ")):
                if table[i * 32 : i * 32 + 11] != dots:
                    report.errors.append(f"{path}: missing {'.' * (i + 1)} entry")
        first_sector = False
        # One pass over the first byte and the attribute byte of the sector's 16 slots.
        bad += sum(1 for mark, attr in zip(table[0::32], table[11::32], strict=True) if mark != DELETED and attr & 0xC0)
    if bad:
        report.errors.append(f"{path}: {bad} garbage directory entries")


_LOW_NIBBLE = bytes(b & 0x0F for b in range(256))
_HIGH_NIBBLE = bytes(b >> 4 for b in range(256))


class FatTable:
    """The first FAT, read once (sweeps check thousands of volumes; a windowed ``get_fat`` per cluster
    dominated their time). Entries are decoded from the raw bytes as FatFs's ``get_fat`` decodes them."""

    def __init__(self, core: Core) -> None:
        lay = core.lay
        self.n = lay.clusters + 2
        self.bits = lay.fat_bits
        size = (self.n * 3 + 1) // 2 if self.bits == 12 else self.n * 2
        self.raw = core.dev.read(lay.fat_start, (size + SS - 1) // SS)[:size]

    def entry(self, c: int) -> int:
        """The entry of cluster ``c`` (2 <= c < clusters + 2), as stored."""
        raw = self.raw
        if self.bits == 12:
            bc = c + c // 2
            v = raw[bc] | raw[bc + 1] << 8
            return v >> 4 if c & 1 else v & 0xFFF
        return raw[c * 2] | raw[c * 2 + 1] << 8

    def allocated(self) -> int:
        """How many clusters are marked used."""
        n, raw = self.n, self.raw
        if self.bits == 16:
            # An entry is free when both of its bytes are zero: OR the two byte planes, count zero bytes.
            lo, hi = raw[4 : n * 2 : 2], raw[5 : n * 2 : 2]
            both = int.from_bytes(lo, "little") | int.from_bytes(hi, "little")
            return (n - 2) - both.to_bytes(n - 2, "little").count(0)
        # FAT12 packs two entries in three bytes b0 b1 b2: even = b0 | (b1 & 0x0F) << 8, odd = b1 >> 4 | b2 << 4.
        raw = raw + bytes(3 - len(raw) % 3 if len(raw) % 3 else 0)
        b0, b1, b2 = raw[0::3], raw[1::3], raw[2::3]
        pairs = len(b1)
        even = int.from_bytes(b0, "little") | int.from_bytes(b1.translate(_LOW_NIBBLE), "little")
        odd = int.from_bytes(b2, "little") | int.from_bytes(b1.translate(_HIGH_NIBBLE), "little")
        free_even = even.to_bytes(pairs, "little")
        free_odd = odd.to_bytes(pairs, "little")
        # Entry c sits in pair c // 2; clusters 0 and 1 (pair 0) are reserved, entries from n on are padding.
        free = free_even[1 : (n + 1) // 2].count(0) + free_odd[1 : n // 2].count(0)
        return (n - 2) - free


def check(volume: FatVolume) -> Report:
    """Check ``volume`` (mounting it if needed) without writing anything."""
    layout = read_layout(volume.dev)
    if layout is None:
        return Report(mounted=False, errors=["no FAT file system found"])
    core = Core(volume.dev, layout, volume.fattime)
    fat = FatTable(core)
    report = Report(mounted=True)
    used = report.owners
    todo = [("", 0)]
    bcs = layout.cluster_bytes
    while todo:
        path, cluster = todo.pop()
        try:
            entries = list(core.entries(cluster))
            _check_slots(core, cluster, path or "/", report)
        except FsError as exc:
            report.errors.append(f"{path or '/'}: {exc}")
            continue
        for e in entries:
            p = f"{path}/{e.name}"
            if e.is_dir:
                report.dirs.append(p)
                if e.cluster == 0:
                    report.errors.append(f"{p}: directory without a cluster")
                elif _chain(core, fat, e.cluster, p, used, report) > 0:
                    todo.append((p, e.cluster))
                continue
            report.files[p] = e.ent.size
            need = (e.ent.size + bcs - 1) // bcs
            if e.cluster == 0:
                if need:
                    report.errors.append(f"{p}: size {e.ent.size} but no clusters")
                continue
            n = _chain(core, fat, e.cluster, p, used, report)
            if n >= 0 and n != need:
                report.errors.append(f"{p}: size {e.ent.size} needs {need} clusters, chain has {n}")
    allocated = fat.allocated()
    report.lost_clusters = max(0, allocated - len(used))
    report.dirs.sort()
    return report
