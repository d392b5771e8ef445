"""On-disk structures of a FAT12/16 volume, each defined once with its byte layout.

Every record is one :class:`struct.Struct` used both to encode and to decode. Offsets in the comments are
from the start of the record. This module knows bytes only; choosing a geometry is :mod:`.format_volume`'s job and
walking directories is :mod:`.volume`'s.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

SIGNATURE = 0xAA55
SIGNATURE_OFFSET = 510
MBR_TABLE_OFFSET = 446

#: MBR partition entry, 16 bytes: boot flag, CHS start (3), system type, CHS end (3), start LBA, sectors.
PARTITION = struct.Struct("<B3sB3sII")


class Partition(NamedTuple):
    boot: int
    chs_start: bytes
    system: int
    chs_end: bytes
    lba_start: int
    sectors: int


#: FAT12/16 boot sector (VBR) up to the file-system type string, 62 bytes:
#: 0 jump (3), 3 OEM name (8), 11 bytes/sector, 13 sectors/cluster, 14 reserved sectors, 16 number of FATs,
#: 17 root entries, 19 total sectors (16-bit), 21 media, 22 sectors/FAT, 24 sectors/track, 26 heads,
#: 28 hidden sectors, 32 total sectors (32-bit), 36 drive number, 37 reserved, 38 boot signature 0x29,
#: 39 volume serial, 43 volume label (11), 54 file-system type (8).
BOOT = struct.Struct("<3s8sHBHBHHBHHHIIBBBI11s8s")


class Boot(NamedTuple):
    jump: bytes
    oem: bytes
    bytes_per_sector: int
    sectors_per_cluster: int
    reserved_sectors: int
    num_fats: int
    root_entries: int
    total_sectors16: int
    media: int
    sectors_per_fat: int
    sectors_per_track: int
    heads: int
    hidden_sectors: int
    total_sectors32: int
    drive_number: int
    reserved1: int
    boot_signature: int
    serial: int
    label: bytes
    fs_type: bytes


#: Short (8.3) directory entry, 32 bytes: 0 name (11), 11 attributes, 12 NT case flags, 13 creation tenths,
#: 14 creation time, 16 creation date, 18 access date, 20 first cluster high, 22 write time, 24 write date,
#: 26 first cluster low, 28 file size.
DIRENT = struct.Struct("<11sBBBHHHHHHHI")


class DirEnt(NamedTuple):
    name: bytes
    attr: int
    nt_case: int
    crt_tenth: int
    crt_time: int
    crt_date: int
    acc_date: int
    cluster_hi: int
    wrt_time: int
    wrt_date: int
    cluster_lo: int
    size: int


#: Long-file-name entry, 32 bytes: 0 order (0x40 = last), 1 chars 1-5 (UCS-2), 11 attributes 0x0F, 12 type 0,
#: 13 checksum of the short name, 14 chars 6-11, 26 first cluster (always 0), 28 chars 12-13.
LFNENT = struct.Struct("<B10sBBB12sH4s")


class LfnEnt(NamedTuple):
    order: int
    name1: bytes
    attr: int
    kind: int
    checksum: int
    name2: bytes
    cluster: int
    name3: bytes


DIRENT_SIZE = 32
assert DIRENT.size == LFNENT.size == DIRENT_SIZE and PARTITION.size == 16 and BOOT.size == 62

ATTR_READ_ONLY = 0x01
ATTR_HIDDEN = 0x02
ATTR_SYSTEM = 0x04
ATTR_VOLUME = 0x08
ATTR_DIR = 0x10
ATTR_ARCHIVE = 0x20
ATTR_LFN = 0x0F
NT_LOWER_BODY = 0x08
NT_LOWER_EXT = 0x10
DELETED = 0xE5
LFN_LAST = 0x40
LFN_CHARS = 13

#: MBR system types FatFs writes for a FAT volume below 32 MiB.
SYSTEM_FAT12 = 0x01
SYSTEM_FAT16 = 0x04
SYSTEM_FAT16_LARGE = 0x06
FAT_SYSTEMS = {SYSTEM_FAT12, SYSTEM_FAT16, SYSTEM_FAT16_LARGE, 0x0B, 0x0C, 0x0E}

#: Highest cluster counts FatFs accepts for FAT12 and FAT16 (its MAX_FAT12/MAX_FAT16).
MAX_FAT12 = 0xFF5
MAX_FAT16 = 0xFFF5


def lfn_checksum(short_name: bytes) -> int:
    """The one-byte rotate-and-add sum of the 11-byte short name that ties LFN entries to their entry."""
    s = 0
    for b in short_name:
        s = (((s & 1) << 7) + (s >> 1) + b) & 0xFF
    return s


def fat_time(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Pack a date and time the way FatFs's ``get_fattime`` does (date in the high 16 bits)."""
    return ((year - 1980) << 25) | (month << 21) | (day << 16) | (hour << 11) | (minute << 5) | (second // 2)


#: The time Harmony's SYS_FS gives FatFs: the weak ``get_fattime`` in ``diskio.c`` returns a fixed
#: 2013-08-09 15:06:00 unless the application supplies an RTC-backed one. FatFs stamps files with it and
#: ``f_mkfs`` adds the partition's sector count to it for the volume serial number.
HARMONY_FATTIME = fat_time(2013, 8, 9, 15, 6, 0)
