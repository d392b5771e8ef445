"""The pieces under the FAT volume: the DRV_MEMORY-style block layer, f_mkfs's geometry, names, structs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bootloader_model.errors import CallerError, PowerCut
from bootloader_model.storage.block_device import MemoryBlockDevice
from bootloader_model.storage.external_flash import ExternalFlash, new_external
from bootloader_model.storage.fat import format_volume, names
from bootloader_model.storage.fat.layout import BOOT, DIRENT, LFNENT, PARTITION, Boot, DirEnt, fat_time, lfn_checksum
from bootloader_model.storage.file_api import MOUNT_POINT, FsError, write_file
from bootloader_model.storage.nor_flash import (
    PIC32MZ1025W104132,
    SST26VF032B,
    SST26VF064B,
    FaultPlan,
    Geometry,
    NorFlash,
)


def test_one_sector_write_is_one_block_read_erase_and_sixteen_page_programs() -> None:
    flash = NorFlash(SST26VF032B)
    dev = MemoryBlockDevice(flash)
    dev.write(9, b"\xab" * 512)
    assert [(r.kind, r.address, r.length) for r in flash.log] == [("erase:sector", 0x1000, 4096)] + [
        ("program", 0x1000 + 256 * i, 256) for i in range(16)
    ]
    assert dev.read(9) == b"\xab" * 512 and dev.read(8) == b"\xff" * 512


def test_write_across_blocks_rewrites_each_block_and_keeps_neighbours() -> None:
    flash = NorFlash(SST26VF032B)
    dev = MemoryBlockDevice(flash)
    dev.write(0, bytes(range(256)) * 32)  # sectors 0..15
    flash.log.clear()
    dev.write(6, b"\x11" * 1024 * 2)  # sectors 6..9: the tail of block 0 and the head of block 1
    assert [r.address for r in flash.log if r.kind.startswith("erase")] == [0, 0x1000]
    assert dev.read(5) == (bytes(range(256)) * 2) and dev.read(10) == bytes(range(256)) * 2
    assert dev.read(6, 4) == b"\x11" * 2048


def test_cut_after_the_erase_loses_the_untouched_sectors_of_the_block() -> None:
    flash = NorFlash(SST26VF032B)
    dev = MemoryBlockDevice(flash)
    dev.write(0, b"\x42" * 4096)
    flash.arm(FaultPlan(1))  # op 0 is the erase, op 1 the first page program
    with pytest.raises(PowerCut):
        dev.write(3, b"\x00" * 512)
    assert dev.read(0, 8) == b"\xff" * 4096


def test_block_layer_rejects_bad_requests() -> None:
    dev = MemoryBlockDevice(NorFlash(SST26VF032B))
    with pytest.raises(CallerError):
        dev.write(0, b"x" * 100)
    with pytest.raises(CallerError):
        dev.read(8191, 2)
    with pytest.raises(CallerError):
        MemoryBlockDevice(NorFlash(PIC32MZ1025W104132))
    with pytest.raises(CallerError):
        ExternalFlash(NorFlash(PIC32MZ1025W104132))
    with pytest.raises(CallerError):
        new_external("16M")


@pytest.mark.parametrize(
    ("sectors", "bits", "spc", "fat", "clusters", "system"),
    [(8192, 12, 2, 12, 4042, 0x01), (16384, 16, 2, 32, 8128, 0x04), (2048, 12, 1, 6, 1946, 0x01)],
)
def test_plan_follows_f_mkfs(sectors: int, bits: int, spc: int, fat: int, clusters: int, system: int) -> None:
    g = format_volume.plan(sectors)
    assert (g.fat_bits, g.sectors_per_cluster, g.sectors_per_fat, g.clusters) == (bits, spc, fat, clusters)
    assert g.volume_start == 63 and g.volume_sectors == sectors - 63 and g.system_type == system
    assert g.num_fats == 1 and g.root_entries == 512 and g.reserved_sectors == 1
    assert g.data_start + g.clusters * g.sectors_per_cluster <= sectors


def test_alignment_to_the_erase_block_grows_the_fat() -> None:
    plain, aligned = format_volume.plan(8192), format_volume.plan(8192, align=8)
    assert aligned.data_start % 8 == 0 and aligned.sectors_per_fat > plain.sectors_per_fat
    assert aligned.clusters < plain.clusters


def test_format_writes_fatfs_boot_sector_and_mbr() -> None:
    x = new_external("4M")
    x.format()
    raw = x.flash.data
    vbr = Boot(*BOOT.unpack_from(raw, 63 * 512))
    assert vbr.oem == b"MSDOS5.0" and vbr.fs_type == b"FAT     " and vbr.hidden_sectors == 63
    assert vbr.total_sectors16 == 8129 and vbr.media == 0xF8 and raw[63 * 512 + 510 : 63 * 512 + 512] == b"\x55\xaa"
    part = PARTITION.unpack_from(raw, 446)
    assert part[2] == 0x01 and part[4:] == (63, 8129)
    assert raw[64 * 512 : 64 * 512 + 4] == b"\xf8\xff\xff\x00"  # FAT[0], FAT[1], cluster 2 free


def test_garbage_sector_zero_means_no_file_system_and_mount_still_succeeds() -> None:
    x = new_external()
    x.blocks.write(0, b"\x00" * 512)
    x.mount()
    assert not x.has_filesystem()
    with pytest.raises(FsError, match="no file system"):
        x.listdir(MOUNT_POINT)


@pytest.mark.parametrize(
    ("name", "short", "lfn"),
    [
        ("ota", b"OTA        ", False),
        ("FACTORY.BIN", b"FACTORY BIN", False),
        ("image_database.csv", b"IMAGE_~1CSV", True),
        ("wifi_ota_app_upgrade_ver2.bin", b"WIFI_O~1BIN", True),
        ("Mixed.txt", b"MIXED   TXT", True),
        ("a b.c.d", b"ABC~1   D  ", True),
    ],
)
def test_short_names_follow_fatfs(name: str, short: bytes, lfn: bool) -> None:
    basis, _, needs_lfn, lossy = names.short_form(name)
    alias = names.numbered(basis, name, 1) if lossy else basis
    assert alias == short and needs_lfn == lfn


def test_numeric_tail_turns_into_a_hash_after_five() -> None:
    basis = names.short_form("image_database.csv")[0]
    assert names.numbered(basis, "image_database.csv", 5) == b"IMAGE_~5CSV"
    tail = names.numbered(basis, "image_database.csv", 6)
    assert tail != names.numbered(basis, "image_database.csv", 7) and b"~" in tail[:8] and tail[8:] == b"CSV"


def test_two_long_names_with_the_same_basis_get_distinct_aliases() -> None:
    x = new_external()
    x.format()
    for i in range(8):
        write_file(x, f"{MOUNT_POINT}/wifi_ota_app_upgrade_ver{i}.bin", bytes([i]))
    core = x.core()
    shorts = [e.short for e in core.entries(0)]
    assert len(set(shorts)) == 8 and b"WIFI_O~1BIN" in shorts
    assert sorted(x.listdir(MOUNT_POINT)) == [f"wifi_ota_app_upgrade_ver{i}.bin" for i in range(8)]


@pytest.mark.parametrize("bad", ["a:b", "x?", "a|b", "q\x01", "  ", 'say"hi"', "<x>", "*.bin"])
def test_invalid_names_are_refused(bad: str) -> None:
    x = new_external()
    x.format()
    with pytest.raises(FsError):
        write_file(x, f"{MOUNT_POINT}/{bad}", b"")
    with pytest.raises(FsError):
        x.mkdir(f"{MOUNT_POINT}/{bad}")
    assert x.listdir(MOUNT_POINT) == []


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF), min_size=1, max_size=80))
def test_lfn_entries_round_trip(name: str) -> None:
    try:
        name = names.check_name(name)
    except FsError:
        return
    chunks = names.lfn_entries(name, 0x5A)
    parts = [names.lfn_part(c) for c in chunks]
    assert parts[0][0] & 0x40 and all(p[1] == 0x5A for p in parts)
    assert "".join(p[2] for p in reversed(parts)) == name


def test_records_are_their_documented_sizes_and_round_trip() -> None:
    assert (BOOT.size, DIRENT.size, LFNENT.size, PARTITION.size) == (62, 32, 32, 16)
    e = DirEnt(b"IMAGE_~1CSV", 0x20, 0, 0, 1, 2, 3, 0, 4, 5, 6, 200)
    assert DirEnt(*DIRENT.unpack(DIRENT.pack(*e))) == e
    # The LFN checksum itself is held to mtools, which shows a long name only when it matches its alias.
    assert lfn_checksum(b"IMAGE_~1CSV") != lfn_checksum(b"IMAGE_~2CSV")


@pytest.mark.parametrize("geometry", [SST26VF032B, SST26VF064B])
def test_eight_mib_part_formats_as_fat16(geometry: Geometry) -> None:
    x = ExternalFlash(NorFlash(geometry, keep_log=False))
    x.format()
    assert x.core().lay.fat_bits == (12 if geometry is SST26VF032B else 16)
    write_file(x, MOUNT_POINT + "/f.bin", b"abc" * 1000)
    assert x.file_size(MOUNT_POINT + "/f.bin") == 3000


@pytest.mark.parametrize(("geometry", "volume_sectors"), [(SST26VF032B, 8129), (SST26VF064B, 16321)])
def test_volume_serial_is_format_time_plus_volume_sectors(geometry: Geometry, volume_sectors: int) -> None:
    # f_mkfs: vsn = (DWORD)sz_vol + GET_FATTIME(), sz_vol being the partition's sector count.
    x = ExternalFlash(NorFlash(geometry, keep_log=False), fattime=fat_time(2024, 2, 29, 23, 59, 58))
    x.format()
    vbr = Boot(*BOOT.unpack_from(x.flash.data, 63 * 512))
    assert vbr.total_sectors16 == volume_sectors
    assert vbr.serial == fat_time(2024, 2, 29, 23, 59, 58) + volume_sectors
    wrap = ExternalFlash(NorFlash(geometry, keep_log=False), fattime=0xFFFF_FFFF)
    wrap.format()
    assert Boot(*BOOT.unpack_from(wrap.flash.data, 63 * 512)).serial == volume_sectors - 1  # a DWORD sum


def _short_entry(x: ExternalFlash, parent: int, name: str) -> DirEnt:
    found = x.core().find(parent, name)
    assert found is not None
    return found.ent


def test_mkdir_stamps_only_the_modification_time_and_a_new_file_both() -> None:
    t = fat_time(2021, 6, 1, 12, 30, 10)
    x = ExternalFlash(NorFlash(SST26VF032B, keep_log=False), fattime=t)
    x.format()
    x.mkdir(MOUNT_POINT + "/ota")
    x.mkdir(MOUNT_POINT + "/ota/sub dir")
    write_file(x, MOUNT_POINT + "/ota/image_database.csv", b"1,2")
    for d in (_short_entry(x, 0, "ota"), _short_entry(x, _short_entry(x, 0, "ota").cluster_lo, "sub dir")):
        # f_mkdir writes DIR_ModTime only; dir_register cleared the rest of the entry.
        assert (d.crt_tenth, d.crt_time, d.crt_date, d.acc_date) == (0, 0, 0, 0)
        assert (d.wrt_time, d.wrt_date) == (t & 0xFFFF, t >> 16)
    f = _short_entry(x, _short_entry(x, 0, "ota").cluster_lo, "image_database.csv")
    assert (f.crt_time, f.crt_date, f.wrt_time, f.wrt_date) == (t & 0xFFFF, t >> 16, t & 0xFFFF, t >> 16)
