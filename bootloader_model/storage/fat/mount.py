"""Finding a FAT12/16 volume on a block device, the way FatFs's ``find_volume`` does.

Sector 0 is tried as a boot sector (a super-floppy volume), otherwise each MBR partition entry's start.
A boot sector counts when it has the 0xAA55 signature, an x86 jump, and either the ``FAT`` type string or
a plausible BPB (FatFs's ``check_fs``). :func:`read_layout` returns where everything lives, or ``None``:
no file system. It reads only; it does not check the FAT or directories (that is :mod:`.check`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bootloader_model.storage.fat.layout import (
    BOOT,
    MAX_FAT12,
    MAX_FAT16,
    MBR_TABLE_OFFSET,
    PARTITION,
    SIGNATURE,
    SIGNATURE_OFFSET,
    Boot,
    Partition,
)

SS = 512
PER_SECTOR = SS // 32


class BlockDevice(Protocol):
    """512-byte sectors: what the FAT layer needs from the media (DRV_MEMORY here)."""

    @property
    def sector_count(self) -> int: ...
    def read(self, lba: int, count: int = 1) -> bytes: ...
    def write(self, lba: int, data: bytes | bytearray | memoryview) -> None: ...


@dataclass(frozen=True)
class Layout:
    """A mounted volume's geometry in absolute sectors, as read from its boot sector."""

    volume_start: int
    fat_bits: int
    sectors_per_cluster: int
    fat_start: int
    sectors_per_fat: int
    num_fats: int
    root_start: int
    root_entries: int
    data_start: int
    clusters: int

    @property
    def cluster_bytes(self) -> int:
        return self.sectors_per_cluster * SS

    @property
    def eoc(self) -> int:
        return 0xFFF if self.fat_bits == 12 else 0xFFFF

    def sector_of(self, cluster: int) -> int:
        return self.data_start + (cluster - 2) * self.sectors_per_cluster


def _is_fat_vbr(sector: bytes) -> bool:
    """FatFs's check_fs: a boot signature and a jump, then the ``FAT`` string or a plausible BPB."""
    if int.from_bytes(sector[SIGNATURE_OFFSET:], "little") != SIGNATURE:
        return False
    if not (sector[0] == 0xE9 or (sector[0] == 0xEB and sector[2] == 0x90)):
        return False
    if sector[54:57] == b"FAT":
        return True
    b = Boot(*BOOT.unpack_from(sector))
    bps, spc = b.bytes_per_sector, b.sectors_per_cluster
    return (
        bps == SS
        and spc != 0
        and spc & (spc - 1) == 0
        and b.reserved_sectors != 0
        and b.num_fats in (1, 2)
        and b.root_entries != 0
        and (b.total_sectors16 >= 128 or b.total_sectors32 >= 0x10000)
        and b.sectors_per_fat != 0
    )


def read_layout(dev: BlockDevice) -> Layout | None:
    """Find a FAT12/16 volume: sector 0 as a boot sector, else each MBR partition. ``None``: no file system."""
    first = dev.read(0)
    starts = [0]
    if not _is_fat_vbr(first) and int.from_bytes(first[SIGNATURE_OFFSET:], "little") == SIGNATURE:
        starts = []
        for i in range(4):
            p = Partition(*PARTITION.unpack_from(first, MBR_TABLE_OFFSET + 16 * i))
            if p.system and 0 < p.lba_start < dev.sector_count:
                starts.append(p.lba_start)
    for start in starts:
        vbr = dev.read(start)
        if not _is_fat_vbr(vbr):
            continue
        b = Boot(*BOOT.unpack_from(vbr))
        total = b.total_sectors16 or b.total_sectors32
        spc = b.sectors_per_cluster
        if b.bytes_per_sector != SS or b.num_fats not in (1, 2) or b.root_entries % PER_SECTOR or not spc:
            continue
        if spc & (spc - 1) or not b.sectors_per_fat or not b.reserved_sectors:
            continue
        system = b.reserved_sectors + b.sectors_per_fat * b.num_fats + b.root_entries // PER_SECTOR
        if total <= system or start + total > dev.sector_count:
            continue
        clusters = (total - system) // spc
        if clusters == 0 or clusters > MAX_FAT16:
            continue  # FAT32 is not modelled
        bits = 12 if clusters <= MAX_FAT12 else 16
        need = (clusters + 2) * 2 if bits == 16 else (clusters + 2) * 3 // 2 + ((clusters + 2) & 1)
        if b.sectors_per_fat < (need + SS - 1) // SS:
            continue
        fat_start = start + b.reserved_sectors
        root_start = fat_start + b.sectors_per_fat * b.num_fats
        return Layout(
            start, bits, spc, fat_start, b.sectors_per_fat, b.num_fats, root_start, b.root_entries,
            root_start + b.root_entries // PER_SECTOR, clusters,
        )  # fmt: skip
    return None
