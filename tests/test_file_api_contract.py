"""The SYS_FS file contract, run against both the in-memory stand-in and the FAT volume on emulated SST26.

The firmware models are written against :class:`MemoryFileSystem`; these tests pin down that the FAT
volume behaves the same wherever SYS_FS semantics say so, so either can be plugged in.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bootloader_model.storage.external_flash import new_external
from bootloader_model.storage.file_api import (
    MOUNT_POINT,
    OTA_DIR,
    FileSystem,
    FsError,
    MemoryFileSystem,
    read_file,
    write_file,
)


def _memory(formatted: bool) -> FileSystem:
    return MemoryFileSystem(formatted=formatted)


def _fat(formatted: bool) -> FileSystem:
    x = new_external("4M")
    if formatted:
        x.format()
    return x


MAKERS: dict[str, Callable[[bool], FileSystem]] = {"memory": _memory, "fat": _fat}


@pytest.fixture(params=sorted(MAKERS))
def make(request: pytest.FixtureRequest) -> Callable[[bool], FileSystem]:
    return MAKERS[request.param]


@pytest.fixture
def fs(make: Callable[[bool], FileSystem]) -> FileSystem:
    v = make(True)
    v.mount()
    v.mkdir(OTA_DIR)
    return v


def test_unformatted_volume_mounts_but_file_calls_fail(make: Callable[[bool], FileSystem]) -> None:
    v = make(False)
    v.mount()
    assert not v.has_filesystem()
    assert not v.exists(OTA_DIR)
    for call in (lambda: v.open(OTA_DIR + "/a.bin", "w"), lambda: v.mkdir(OTA_DIR), lambda: v.listdir(MOUNT_POINT)):
        with pytest.raises(FsError):
            call()
    with pytest.raises(FsError):
        v.free_bytes()
    v.format()
    assert v.has_filesystem() and v.listdir(MOUNT_POINT) == []


def test_write_read_roundtrip_in_4k_chunks(fs: FileSystem) -> None:
    data = bytes(range(256)) * 40 + b"tail"
    fh = fs.open(OTA_DIR + "/wifi_ota_app_upgrade_ver2.bin", "w+")
    for i in range(0, len(data), 4096):
        assert fh.write(data[i : i + 4096]) == len(data[i : i + 4096])
    assert fh.size() == len(data) and fh.tell() == len(data)
    fh.seek(0)
    assert fh.read(len(data) + 100) == data
    assert fh.read(10) == b""
    fh.close()
    assert read_file(fs, OTA_DIR + "/wifi_ota_app_upgrade_ver2.bin") == data
    assert fs.file_size(OTA_DIR + "/wifi_ota_app_upgrade_ver2.bin") == len(data)
    assert fs.listdir(OTA_DIR) == ["wifi_ota_app_upgrade_ver2.bin"]


def test_w_truncates_and_a_appends(fs: FileSystem) -> None:
    path = OTA_DIR + "/image_database.csv"
    write_file(fs, path, b"x" * 3000)
    write_file(fs, path, b"short")
    assert read_file(fs, path) == b"short"
    fh = fs.open(path, "a")
    assert fh.tell() == 5
    fh.write(b",more")
    fh.close()
    assert read_file(fs, path) == b"short,more"


def test_modes_gate_reading_and_writing(fs: FileSystem) -> None:
    path = OTA_DIR + "/f.txt"
    with pytest.raises(FsError):
        fs.open(path, "r")
    with pytest.raises(FsError):
        fs.open(path, "r+")
    with pytest.raises(FsError):
        fs.open(path, "rw")
    write_file(fs, path, b"hello world")
    fh = fs.open(path, "r")
    with pytest.raises(FsError):
        fh.write(b"x")
    fh.close()
    with pytest.raises(FsError):
        fh.read(1)
    fw = fs.open(path, "w")
    with pytest.raises(FsError):
        fw.read(1)
    fw.close()
    fr = fs.open(path, "r+")
    assert fr.read(5) == b""  # "w" above truncated it
    fr.write(b"abc")
    fr.seek(1)
    assert fr.read(5) == b"bc"
    fr.close()


def test_seek_overwrite_in_place(fs: FileSystem) -> None:
    path = OTA_DIR + "/db.csv"
    write_file(fs, path, b"0123456789" * 200)
    fh = fs.open(path, "r+")
    fh.seek(1500)
    fh.write(b"XYZ")
    fh.seek(1499)
    assert fh.read(5) == b"9XYZ3"
    assert fh.size() == 2000
    fh.close()
    assert read_file(fs, path)[1495:1505] == b"56789XYZ34"


def test_seek_past_end_clamps_when_reading_and_extends_with_zeros_when_writing(fs: FileSystem) -> None:
    path = OTA_DIR + "/s.bin"
    write_file(fs, path, b"abc")
    fr = fs.open(path, "r")
    fr.seek(100)
    assert fr.tell() == 3 and fr.read(4) == b""
    fr.close()
    fw = fs.open(path, "r+")
    fw.seek(2000)
    assert fw.size() == 2000
    fw.write(b"!")
    fw.close()
    assert read_file(fs, path) == b"abc" + bytes(1997) + b"!"
    with pytest.raises(FsError):
        fs.open(path, "r").seek(-1)


def test_directories(fs: FileSystem) -> None:
    with pytest.raises(FsError):
        fs.mkdir(OTA_DIR)
    with pytest.raises(FsError):
        fs.mkdir(MOUNT_POINT + "/a/b")
    with pytest.raises(FsError):
        fs.open(MOUNT_POINT + "/nodir/x.bin", "w")
    with pytest.raises(FsError):
        fs.open(OTA_DIR, "r")
    assert fs.exists(OTA_DIR) and fs.exists(MOUNT_POINT) and not fs.exists(OTA_DIR + "/x")
    write_file(fs, OTA_DIR + "/x", b"1")
    with pytest.raises(FsError):
        fs.remove(OTA_DIR)
    with pytest.raises(FsError):
        fs.listdir(OTA_DIR + "/x")
    with pytest.raises(FsError):
        fs.file_size(OTA_DIR)
    fs.remove(OTA_DIR + "/x")
    with pytest.raises(FsError):
        fs.remove(OTA_DIR + "/x")
    fs.remove(OTA_DIR)
    assert fs.listdir(MOUNT_POINT) == []
    with pytest.raises(FsError):
        fs.open("/other/x", "w")


def test_names_are_case_insensitive_and_case_preserving(fs: FileSystem) -> None:
    write_file(fs, OTA_DIR + "/Factory_Reset.bin", b"abc")
    assert fs.listdir(OTA_DIR) == ["Factory_Reset.bin"]
    assert fs.exists(OTA_DIR + "/FACTORY_RESET.BIN")
    assert read_file(fs, OTA_DIR + "/factory_reset.bin") == b"abc"
    write_file(fs, OTA_DIR + "/factory_reset.BIN", b"new")
    assert fs.listdir(OTA_DIR) == ["Factory_Reset.bin"]
    assert read_file(fs, OTA_DIR + "/Factory_Reset.bin") == b"new"


def test_free_space_shrinks_and_a_full_volume_fails(fs: FileSystem) -> None:
    free = fs.free_bytes()
    write_file(fs, OTA_DIR + "/big.bin", bytes(100_000))
    assert free - fs.free_bytes() >= 100_000
    fs.remove(OTA_DIR + "/big.bin")
    assert fs.free_bytes() == free
    with pytest.raises(FsError):
        write_file(fs, OTA_DIR + "/huge.bin", bytes(free + 1))


_NAMES = st.sampled_from(["a.bin", "image_database.csv", "wifi_ota_app_upgrade_ver2.bin", "F.TXT", "x"])
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("write"), _NAMES, st.binary(max_size=3000)),
        st.tuples(st.just("append"), _NAMES, st.binary(max_size=700)),
        st.tuples(st.just("remove"), _NAMES, st.just(b"")),
    ),
    max_size=12,
)


@settings(max_examples=25)
@given(ops=_OPS)
def test_both_volumes_agree_on_any_sequence(ops: list[tuple[str, str, bytes]]) -> None:
    vols = [MAKERS[k](True) for k in sorted(MAKERS)]
    for v in vols:
        v.mkdir(OTA_DIR)
    for kind, name, data in ops:
        path = f"{OTA_DIR}/{name}"
        results = []
        for v in vols:
            try:
                if kind == "write":
                    write_file(v, path, data)
                elif kind == "append":
                    fh = v.open(path, "a")
                    fh.write(data)
                    fh.close()
                else:
                    v.remove(path)
                results.append("ok")
            except FsError:
                results.append("FsError")
        assert results[0] == results[1], (kind, name)
    listings = [v.listdir(OTA_DIR) for v in vols]
    assert listings[0] == listings[1]
    for name in listings[0]:
        assert read_file(vols[0], f"{OTA_DIR}/{name}") == read_file(vols[1], f"{OTA_DIR}/{name}")
