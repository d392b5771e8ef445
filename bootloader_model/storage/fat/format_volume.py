"""Format a block device the way Harmony's bootloader does: ``SYS_FS_DriveFormat`` with ``SYS_FS_FORMAT_FAT``.

SYS_FS hands the request to FatFs R0.15 ``f_mkfs`` with ``fmt = FM_FAT`` (FAT12/16 only, partitioned: an
MBR with one partition) and ``au_size = 0`` (automatic cluster size). The bootloader leaves the other
``SYS_FS_FORMAT_PARAM`` fields uninitialized (spec section 6); this model assumes they read as zero, which
makes FatFs fall back to its defaults: one FAT and 512 root-directory entries. With ``align`` zero FatFs
asks ``disk_ioctl(GET_BLOCK_SIZE)``; Harmony's ``diskio.c`` answers only ``GET_SECTOR_COUNT`` and returns
``RES_OK`` for everything else without filling the buffer, so the block size stays 0 and FatFs uses 1: no
data-area alignment. The rules below are those of FatFs's documentation and source, re-expressed:

* the partition starts at LBA 63 (FatFs's fixed ``N_SEC_TRACK``) and covers the rest of the drive;
* the cluster size is the smallest power of two with at least one step per cluster-size boundary of
  1, 4, 16, 64, 256, 512 x 4K sectors of volume size -- 2 sectors (1 KiB) for both 4 and 8 MiB;
* the FAT type follows from the cluster count: <= 4085 clusters is FAT12 (4 MiB), more is FAT16 (8 MiB);
* one reserved sector (the VBR), the FAT sized for the estimated clusters, then the root directory;
* MBR system type 0x01 for FAT12, 0x04 for FAT16 (0x06 at 64 Ki sectors or more);
* the volume serial number is ``GET_FATTIME()`` at format time plus the partition's sector count.

Results for the two SST26 sizes (checked by ``tests/test_fat_tools.py`` against ``fsck.fat``/``minfo``):
4 MiB -> FAT12, 1 KiB clusters, 4042 clusters, FAT of 12 sectors; 8 MiB -> FAT16, 1 KiB clusters, 8128
clusters, FAT of 32 sectors. The format writes one sector per call (SYS_FS gives ``f_mkfs`` a one-sector
work buffer), so each of those sectors is one read-modify-write of its 4 KiB erase block.

What it does not do: FAT32/exFAT, super-floppy (no MBR) formats, or trimming the data area.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bootloader_model.errors import CallerError
from bootloader_model.storage.fat.layout import (
    BOOT,
    HARMONY_FATTIME,
    MAX_FAT12,
    MAX_FAT16,
    MBR_TABLE_OFFSET,
    PARTITION,
    SIGNATURE,
    SIGNATURE_OFFSET,
    SYSTEM_FAT12,
    SYSTEM_FAT16,
    SYSTEM_FAT16_LARGE,
    Boot,
    Partition,
)

N_SEC_TRACK = 63
_CLUSTER_STEPS = (1, 4, 16, 64, 256, 512)  # volume size boundaries in units of 4096 sectors


@dataclass(frozen=True)
class FatGeometry:
    """Where everything of a freshly formatted volume lives, in absolute 512-byte sectors."""

    drive_sectors: int
    volume_start: int
    volume_sectors: int
    fat_bits: int
    sectors_per_cluster: int
    reserved_sectors: int
    num_fats: int
    sectors_per_fat: int
    root_entries: int
    clusters: int

    @property
    def system_type(self) -> int:
        if self.volume_sectors >= 0x10000:
            return SYSTEM_FAT16_LARGE
        return SYSTEM_FAT16 if self.fat_bits == 16 else SYSTEM_FAT12

    @property
    def fat_start(self) -> int:
        return self.volume_start + self.reserved_sectors

    @property
    def root_start(self) -> int:
        return self.fat_start + self.num_fats * self.sectors_per_fat

    @property
    def root_sectors(self) -> int:
        return self.root_entries * 32 // 512

    @property
    def data_start(self) -> int:
        return self.root_start + self.root_sectors


def plan(drive_sectors: int, *, align: int = 1, num_fats: int = 1, root_entries: int = 512) -> FatGeometry:
    """Choose the FAT geometry ``f_mkfs(FM_FAT, au_size=0)`` would choose for a drive of this many sectors."""
    if drive_sectors < 128 + N_SEC_TRACK:
        raise CallerError(f"a drive of {drive_sectors} sectors is too small for a FAT volume")
    b_vol, sz_vol = N_SEC_TRACK, drive_sectors - N_SEC_TRACK
    au = 0
    while True:
        pau = au
        if pau == 0:
            pau = 1
            for step in _CLUSTER_STEPS:
                if step > sz_vol // 4096:
                    break
                pau <<= 1
        n_clst = sz_vol // pau
        fat_bits = 12 if n_clst <= MAX_FAT12 else 16
        fat_bytes = (n_clst * 3 + 1) // 2 + 3 if fat_bits == 12 else n_clst * 2 + 4
        sz_fat = (fat_bytes + 511) // 512
        sz_rsv = 1
        sz_dir = root_entries * 32 // 512
        b_data = b_vol + sz_rsv + sz_fat * num_fats + sz_dir
        # Align the data area to the erase block: the FATs grow to fill the gap.
        gap = ((b_data + align - 1) & ~(align - 1)) - b_data
        if gap % num_fats:
            gap -= 1
            sz_rsv += 1
        sz_fat += gap // num_fats
        n_clst = (sz_vol - sz_rsv - sz_fat * num_fats - sz_dir) // pau
        if fat_bits == 16 and n_clst > MAX_FAT16:
            if au == 0 and pau * 2 <= 64:
                au = pau * 2
                continue
            raise CallerError("volume too large for FAT16")
        if fat_bits == 16 and n_clst <= MAX_FAT12:
            if au == 0 and pau * 2 <= 128:
                au = pau * 2
                continue
            raise CallerError("cannot choose a FAT16 geometry for this volume")
        if fat_bits == 12 and n_clst > MAX_FAT12:
            raise CallerError("cannot choose a FAT12 geometry for this volume")
        return FatGeometry(drive_sectors, b_vol, sz_vol, fat_bits, pau, sz_rsv, num_fats, sz_fat, root_entries, n_clst)


def _chs(lba: int, heads: int) -> bytes:
    cyl, head, sec = lba // N_SEC_TRACK // heads, lba // N_SEC_TRACK % heads, lba % N_SEC_TRACK + 1
    return bytes((head, ((cyl >> 2) & 0xC0) | sec, cyl & 0xFF))


def boot_sector(g: FatGeometry, serial: int) -> bytes:
    """The VBR FatFs writes: jump, OEM ``MSDOS5.0``, the BPB, label ``NO NAME``, type ``FAT``, signature."""
    small = g.volume_sectors < 0x10000
    boot = Boot(
        jump=b"\xeb\xfe\x90",
        oem=b"MSDOS5.0",
        bytes_per_sector=512,
        sectors_per_cluster=g.sectors_per_cluster,
        reserved_sectors=g.reserved_sectors,
        num_fats=g.num_fats,
        root_entries=g.root_entries,
        total_sectors16=g.volume_sectors if small else 0,
        media=0xF8,
        sectors_per_fat=g.sectors_per_fat,
        sectors_per_track=63,
        heads=255,
        hidden_sectors=g.volume_start,
        total_sectors32=0 if small else g.volume_sectors,
        drive_number=0x80,
        reserved1=0,
        boot_signature=0x29,
        serial=serial,
        label=b"NO NAME    ",
        fs_type=b"FAT     ",
    )
    sector = bytearray(512)
    BOOT.pack_into(sector, 0, *boot)
    sector[SIGNATURE_OFFSET : SIGNATURE_OFFSET + 2] = SIGNATURE.to_bytes(2, "little")
    return bytes(sector)


def mbr_sector(g: FatGeometry) -> bytes:
    """An MBR with one partition from LBA 63 to the end, CHS computed FatFs's way (63 sectors/track)."""
    heads = 8
    while heads < 256 and g.drive_sectors // heads // N_SEC_TRACK > 1024:
        heads *= 2
    heads = 255 if heads >= 256 else heads
    end = g.volume_start + g.volume_sectors - 1
    entry = Partition(0, _chs(g.volume_start, heads), g.system_type, _chs(end, heads), g.volume_start, g.volume_sectors)
    sector = bytearray(512)
    PARTITION.pack_into(sector, MBR_TABLE_OFFSET, *entry)
    sector[SIGNATURE_OFFSET : SIGNATURE_OFFSET + 2] = SIGNATURE.to_bytes(2, "little")
    return bytes(sector)


class SectorWriter(Protocol):
    """What formatting needs from a block device."""

    @property
    def sector_count(self) -> int: ...
    def write(self, lba: int, data: bytes) -> None: ...


def volume_serial(g: FatGeometry, fattime: int) -> int:
    """``f_mkfs``'s volume serial number: the format-time ``GET_FATTIME()`` plus the partition's sector count."""
    return (fattime + g.volume_sectors) & 0xFFFF_FFFF


def format_volume(dev: SectorWriter, *, fattime: int = HARMONY_FATTIME, align: int = 1) -> FatGeometry:
    """Write VBR, FAT, root directory and MBR in FatFs's order, one sector per write."""
    g = plan(dev.sector_count, align=align)
    dev.write(g.volume_start, boot_sector(g, volume_serial(g, fattime)))
    first = bytearray(512)
    marker = 0xFFFFF8 if g.fat_bits == 12 else 0xFFFFFFF8  # FAT[0] = media byte, FAT[1] = end of chain
    first[0 : 3 if g.fat_bits == 12 else 4] = marker.to_bytes(3 if g.fat_bits == 12 else 4, "little")
    zero = bytes(512)
    sector = g.fat_start
    for _ in range(g.num_fats):
        for i in range(g.sectors_per_fat):
            dev.write(sector, bytes(first) if i == 0 else zero)
            sector += 1
    for _ in range(g.root_sectors):
        dev.write(sector, zero)
        sector += 1
    dev.write(0, mbr_sector(g))
    return g
