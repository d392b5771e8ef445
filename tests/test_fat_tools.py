"""The FAT volume held to the real tools: dosfstools' ``fsck.fat``/``mkfs.fat`` and mtools.

Every image here is a raw dump of the emulated SST26 (``NorFlash.dump``), exactly what ``otaloop flash``
and the virtual board's state directory hold.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootloader_model.storage.external_flash import ExternalFlash, new_external
from bootloader_model.storage.fat import format_volume
from bootloader_model.storage.fat.check import check
from bootloader_model.storage.file_api import MOUNT_POINT, FsError, read_file, write_file
from bootloader_model.storage.nor_flash import SST26VF032B, SST26VF064B, Geometry, NorFlash
from conftest import require_tool

ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "MTOOLS_NO_VFAT": "0"}


def _run(*args: str | Path) -> str:
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=ENV, check=False)
    assert out.returncode == 0, f"{args[0]} failed ({out.returncode}): {out.stdout}{out.stderr}"
    return out.stdout


def fsck(image: Path, offset: int, tmp: Path) -> str:
    """Run ``fsck.fat -n`` on the partition (fsck.fat 4.2 has no offset option, so cut it out first)."""
    require_tool("fsck.fat", "dosfstools")
    part = tmp / "partition.img"
    part.write_bytes(image.read_bytes()[offset:])
    return _run("fsck.fat", "-n", "-v", part)


def mtools_files(image: Path, offset: int) -> dict[str, int]:
    """Every file mtools sees, with its size, via a recursive ``mdir``."""
    require_tool("mdir", "mtools")
    listing = _run("mdir", "-i", f"{image}@@{offset}", "-/", "-a", "::/")
    files: dict[str, int] = {}
    cwd = ""
    for line in listing.splitlines():
        if line.startswith("Directory for ::"):
            cwd = line[len("Directory for ::") :].rstrip("/")
            continue
        parts = line.split()
        # "<SHORT> <EXT> <size> <date> <time> <long name>" or "<SHORT> <size> ...", or <DIR> lines.
        if len(parts) < 4 or "<DIR>" in parts or not parts[0][0].isalnum() or line.startswith((" ", "Volume")):
            continue
        size_at = next((i for i, p in enumerate(parts) if p.isdigit()), None)
        if size_at is None or size_at + 3 > len(parts):
            continue
        long = " ".join(parts[size_at + 3 :])
        short = parts[0] + ("." + parts[1] if size_at == 2 else "")
        files[f"{cwd}/{long or short}"] = int(parts[size_at])
    return files


def mtools_read(image: Path, offset: int, path: str, tmp: Path) -> bytes:
    out = tmp / "mcopy.out"
    out.unlink(missing_ok=True)
    _run("mcopy", "-n", "-i", f"{image}@@{offset}", f"::{path}", out)
    return out.read_bytes()


def _dump(x: ExternalFlash, tmp: Path) -> Path:
    image = tmp / "external.bin"
    x.flash.dump(image)
    return image


@pytest.mark.parametrize("size", ["4M", "8M"])
def test_fresh_format_passes_fsck_and_matches_the_fatfs_geometry(size: str, tmp_path: Path) -> None:
    x = new_external(size)
    x.format()
    image = _dump(x, tmp_path)
    report = fsck(image, x.partition_offset, tmp_path)
    g = x.geometry()
    assert x.partition_offset == 63 * 512
    assert f"{g.clusters} data clusters" in report
    assert f"{g.fat_bits} bit entries" in report and "1 FATs" in report and "1024 bytes per cluster" in report
    assert (g.fat_bits, g.clusters) == ((12, 4042) if size == "4M" else (16, 8128))
    minfo = _run("minfo", "-i", f"{image}@@{x.partition_offset}", "::")
    assert "sectors per fat: " + str(g.sectors_per_fat) in minfo
    assert image.read_bytes()[446 + 4] == (0x01 if size == "4M" else 0x04)


def test_harmony_files_are_seen_by_mtools_and_fsck(tmp_path: Path) -> None:
    x = new_external()
    x.format()
    x.mkdir(MOUNT_POINT + "/ota")
    image_data = os.urandom(913_408)
    fh = x.open(MOUNT_POINT + "/ota/factory_reset.bin", "w+")
    for i in range(0, len(image_data), 4096):
        fh.write(image_data[i : i + 4096])
    fh.close()
    csv = b'1,0x01,"https://h/x.bin",wifi_ota_app_upgrade_ver2.bin,ab12'
    write_file(x, MOUNT_POINT + "/ota/image_database.csv", csv)
    write_file(x, MOUNT_POINT + "/ota/wifi_ota_app_upgrade_ver2.bin", b"\x5a" * 5000)
    image = _dump(x, tmp_path)
    off = x.partition_offset
    assert "4 files, 899/4042 clusters" in fsck(image, off, tmp_path)  # fsck.fat counts /ota as a file
    assert mtools_files(image, off) == {
        "/ota/factory_reset.bin": 913_408,
        "/ota/image_database.csv": len(csv),
        "/ota/wifi_ota_app_upgrade_ver2.bin": 5000,
    }
    assert mtools_read(image, off, "/ota/factory_reset.bin", tmp_path) == image_data
    assert mtools_read(image, off, "/ota/image_database.csv", tmp_path) == csv
    listing = _run("mdir", "-i", f"{image}@@{off}", "::/ota")
    assert "FACTOR~1 BIN" in listing and "IMAGE_~1 CSV" in listing  # aliases as FatFs makes them
    # Harmony's weak get_fattime: every stamp is 2013-08-09 15:06 (0x430978C0); the serial number is that
    # plus the partition's 8129 sectors.
    assert "2013-08-09  15:06  image_database.csv" in listing and "Serial Number is 4309-9881" in listing


_NAME = st.sampled_from(
    ["a.bin", "B.TXT", "image_database.csv", "wifi_ota_app_upgrade_ver2.bin", "Mixed Case.dat", "x", "f.b.c"]
)
_DIR = st.sampled_from(["", "/ota", "/ota/sub dir"])
_OP = st.one_of(
    st.tuples(st.just("write"), _DIR, _NAME, st.integers(0, 9000), st.integers(1, 5000)),
    st.tuples(st.just("append"), _DIR, _NAME, st.integers(0, 3000), st.integers(1, 5000)),
    st.tuples(st.just("remove"), _DIR, _NAME, st.just(0), st.just(1)),
)


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_OP, max_size=10))
def test_any_sequence_leaves_a_volume_fsck_and_mtools_agree_with(
    ops: list[tuple[str, str, str, int, int]], tmp_path: Path
) -> None:
    require_tool("fsck.fat", "dosfstools")
    require_tool("mcopy", "mtools")
    x = new_external()
    x.format()
    x.mkdir(MOUNT_POINT + "/ota")
    x.mkdir(MOUNT_POINT + "/ota/sub dir")
    model: dict[str, bytes] = {}
    for kind, folder, name, size, chunk in ops:
        path = f"{folder}/{name}"
        full = MOUNT_POINT + path
        data = bytes((size * 7 + i) & 0xFF for i in range(size))
        if kind == "remove":
            if path in model:
                x.remove(full)
                del model[path]
            continue
        fh = x.open(full, "w" if kind == "write" else "a")
        for i in range(0, len(data), chunk):
            fh.write(data[i : i + chunk])
        fh.close()
        model[path] = data if kind == "write" else model.get(path, b"") + data
    assert check(x).ok
    image = _dump(x, tmp_path)
    off = x.partition_offset
    fsck(image, off, tmp_path)
    assert mtools_files(image, off) == {p: len(d) for p, d in model.items()}
    for p, d in model.items():
        assert mtools_read(image, off, p, tmp_path) == d


@pytest.mark.parametrize(("geometry", "fat", "spc"), [(SST26VF032B, "12", "4"), (SST26VF064B, "16", "1")])
def test_volume_made_by_mkfs_fat_and_filled_by_mtools_reads_back(
    geometry: Geometry, fat: str, spc: str, tmp_path: Path
) -> None:
    require_tool("mkfs.fat", "dosfstools")
    require_tool("mcopy", "mtools")
    flash = NorFlash(geometry)
    g = format_volume.plan(geometry.size // 512)
    image = tmp_path / "external.bin"
    raw = bytearray(b"\xff" * geometry.size)
    raw[:512] = format_volume.mbr_sector(g)
    image.write_bytes(raw)
    # mkfs.fat's own layout (2 FATs, other cluster sizes), inside the same MBR partition.
    _run("mkfs.fat", "-F", fat, "-s", spc, "--offset", "63", "-h", "63", image, str(g.volume_sectors // 2))
    spec = f"{image}@@{63 * 512}"
    payload = {f"/ota/file_{i}_with_a_long_name.bin": os.urandom(1000 * i + 17) for i in range(1, 6)}
    _run("mmd", "-i", spec, "::/ota")
    for path, data in payload.items():
        src = tmp_path / "src.bin"
        src.write_bytes(data)
        _run("mcopy", "-i", spec, src, f"::{path}")
    flash.load(image)
    x = ExternalFlash(flash)
    assert x.has_filesystem()
    assert x.listdir(MOUNT_POINT + "/ota") == sorted(p.rsplit("/", 1)[1] for p in payload)
    for path, data in payload.items():
        assert read_file(x, MOUNT_POINT + path) == data
    # Writing on a two-FAT volume keeps both FATs identical: fsck.fat compares them.
    write_file(x, MOUNT_POINT + "/ota/added by otaloop.bin", b"z" * 3000)
    x.remove(MOUNT_POINT + "/ota/file_1_with_a_long_name.bin")
    x.flash.dump(image)
    assert "Differences between FAT" not in fsck(image, 63 * 512, tmp_path)
    assert mtools_read(image, 63 * 512, "/ota/added by otaloop.bin", tmp_path) == b"z" * 3000


def test_super_floppy_volume_without_mbr_mounts(tmp_path: Path) -> None:
    require_tool("mkfs.fat", "dosfstools")
    image = tmp_path / "sfd.bin"
    image.write_bytes(b"\xff" * SST26VF032B.size)
    _run("mkfs.fat", "-F", "12", image, "4096")
    _run("mmd", "-i", str(image), "::/ota")
    flash = NorFlash(SST26VF032B)
    flash.load(image)
    x = ExternalFlash(flash)
    assert x.listdir(MOUNT_POINT) == ["ota"]


def test_directory_grows_past_one_cluster_and_root_fills_up(tmp_path: Path) -> None:
    x = new_external()
    x.format()
    x.mkdir(MOUNT_POINT + "/ota")
    names = [f"wifi_ota_app_upgrade_ver{i:03}.bin" for i in range(60)]  # 3 slots each: 6 clusters of table
    for i, name in enumerate(names):
        write_file(x, f"{MOUNT_POINT}/ota/{name}", bytes([i]) * (i * 37))
    x.remove(f"{MOUNT_POINT}/ota/{names[10]}")
    write_file(x, f"{MOUNT_POINT}/ota/image_database.csv", b"reuses the freed slots")
    core = x.core()
    ota = core.find(0, "ota")
    assert ota is not None and len(list(core.chain(ota.cluster))) >= 5
    image = _dump(x, tmp_path)
    expected = {f"/ota/{n}": i * 37 for i, n in enumerate(names) if i != 10}
    expected["/ota/image_database.csv"] = 22
    assert mtools_files(image, x.partition_offset) == expected
    fsck(image, x.partition_offset, tmp_path)
    # The FAT12/16 root directory is fixed: 512 short entries, then SYS_FS reports a failure.
    for i in range(512 - 1):
        write_file(x, f"{MOUNT_POINT}/F{i}", b"")
    with pytest.raises(FsError, match="root directory full"):
        write_file(x, f"{MOUNT_POINT}/ONEMORE", b"")


def test_empty_file_created_by_append_reaches_the_flash(tmp_path: Path) -> None:
    # Found by the sequence test: a new file opened with APPEND and closed unwritten must still be on disk.
    x = new_external()
    x.format()
    x.open(MOUNT_POINT + "/a.bin", "a").close()
    image = _dump(x, tmp_path)
    assert mtools_files(image, x.partition_offset) == {"/a.bin": 0}
