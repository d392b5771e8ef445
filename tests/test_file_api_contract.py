"""The SYS_FS file contract, run against both the in-memory stand-in and the FAT volume on emulated SST26.

The firmware models are written against :class:`MemoryFileSystem`; these tests pin down that the FAT
volume behaves the same wherever SYS_FS semantics say so, so either can be plugged in.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bootloader_model.storage.external_flash import ExternalFlash, new_external
from bootloader_model.storage.fat import FatVolume
from bootloader_model.storage.file_api import (
    MOUNT_POINT,
    OTA_DIR,
    FileObjectError,
    FileSystem,
    FsError,
    MemoryFileSystem,
    TooManyOpenFiles,
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


def test_seek_past_end_clamps_when_reading_and_extends_when_writing(fs: FileSystem) -> None:
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
    data = read_file(fs, path)
    assert len(data) == 2001 and data[:3] == b"abc" and data[2000:] == b"!"
    if isinstance(fs, MemoryFileSystem):
        assert data[3:2000] == bytes(1997)
    else:  # FatFs writes nothing into the clusters a seek adds: they keep what the (erased) flash held
        assert data[3:512] == bytes(509) and data[1024:2000] == b"\xff" * 976
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


# ------------------------------------------------------------------------- SYS_FS's file table


def test_the_file_table_holds_max_files_handles_until_they_are_closed(fs: FileSystem) -> None:
    write_file(fs, OTA_DIR + "/a.bin", b"a" * 100)
    write_file(fs, OTA_DIR + "/b.bin", b"b" * 100)
    fs.initialize(1)  # the OTA bootloader's SYS_FS_MAX_FILES
    fa = fs.open(OTA_DIR + "/a.bin", "r+")
    with pytest.raises(TooManyOpenFiles):
        fs.open(OTA_DIR + "/b.bin", "r")
    with pytest.raises(TooManyOpenFiles):  # the table is searched before the path
        fs.open(OTA_DIR + "/missing.bin", "w")
    fa.close()
    fb = fs.open(OTA_DIR + "/b.bin", "r")
    assert fb.read(3) == b"bbb"
    fs.initialize(1)  # a reset: the old handle is dead, its slot free, closing it does nothing
    with pytest.raises(FsError):
        fb.read(1)
    fb.close()
    assert read_file(fs, OTA_DIR + "/a.bin") == b"a" * 100
    fs.initialize(None)
    handles = [fs.open(OTA_DIR + "/a.bin", "r") for _ in range(20)]
    assert all(h.read(1) == b"a" for h in handles)


# --------------------------------------------------------------------- FatFs's per-file error latch


def _three_cluster_file_with_a_broken_link(read_only_link: int) -> tuple[FileSystem, bytes, int]:
    """A 3 KiB file whose first cluster's FAT entry is overwritten (a cut during a FAT sector rewrite)."""
    x = new_external("4M")
    x.format()
    x.mkdir(OTA_DIR)
    data = bytes(range(256)) * 12
    write_file(x, OTA_DIR + "/f.bin", data)
    core = x.core()
    first = core.find(core.find(0, "ota").cluster, "f.bin").cluster  # type: ignore[union-attr]
    core.put_fat(first, read_only_link)
    core.sync_window()
    again = new_external_on(x)
    return again, data, first


def new_external_on(x: FileSystem) -> FileSystem:
    """Mount the same flash again, as the next boot does."""
    assert isinstance(x, ExternalFlash)
    return ExternalFlash(x.flash)


def test_a_failed_read_latches_until_close_and_keeps_what_it_had_copied() -> None:
    fs, data, _ = _three_cluster_file_with_a_broken_link(0)  # first cluster now links to a free entry
    fh = fs.open(OTA_DIR + "/f.bin", "r+")
    with pytest.raises(FileObjectError) as failed:
        fh.read(4096)
    assert failed.value.partial == data[:1024]  # FatFs copied the first cluster before the bad link
    assert fh.tell() == 1024
    for call in (lambda: fh.seek(0), lambda: fh.read(10), lambda: fh.write(b"x")):
        with pytest.raises(FsError) as latched:
            call()
        assert not isinstance(latched.value, FileObjectError) and latched.value.partial == b""
    assert fh.tell() == 1024 and fh.size() == len(data)  # f_tell, f_size and f_eof do not look at fp->err
    fh.close()
    again = fs.open(OTA_DIR + "/f.bin", "r")  # a new file object starts clean
    assert again.read(1024) == data[:1024]
    again.close()


def test_a_read_only_seek_across_an_end_mark_fails_and_latches() -> None:
    fs, _, _ = _three_cluster_file_with_a_broken_link(0xFFF)  # chain ends after 1 KiB of a 3 KiB file
    fh = fs.open(OTA_DIR + "/f.bin", "r")
    with pytest.raises(FileObjectError):
        fh.seek(2500)
    assert fh.tell() == 1024  # f_lseek had advanced one cluster when it aborted
    with pytest.raises(FsError):
        fh.seek(0)
    with pytest.raises(FsError):
        fh.read(1)
    fh.close()


def test_a_writable_seek_links_a_new_cluster_over_an_end_mark_inside_the_file() -> None:
    fs, _, first = _three_cluster_file_with_a_broken_link(0xFFF)
    fh = fs.open(OTA_DIR + "/f.bin", "r+")
    fh.seek(2500)  # create_chain: the end mark is "the end", so a free cluster is appended there
    assert fh.tell() == 2500 and not fh.latched  # type: ignore[attr-defined]
    fh.close()
    assert isinstance(fs, FatVolume)
    new = fs.core().raw_fat(first)
    assert new not in (0, 1) and new < fs.core().n_fatent


# ------------------------------------------------------------------------- reads worked out ahead


_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("seek"), st.integers(0, 9000)),
        st.tuples(st.just("read"), st.integers(0, 5000)),
        st.tuples(st.just("write"), st.integers(1, 1500)),
        st.tuples(st.just("peek"), st.integers(0, 5000)),
        st.tuples(st.just("peek-take"), st.integers(0, 5000)),
    ),
    max_size=14,
)


@settings(max_examples=60, deadline=None)
@given(steps=_STEPS, mode=st.sampled_from(["r", "r+"]))
def test_a_read_worked_out_ahead_is_the_read_and_changes_nothing(steps: list[tuple[str, int]], mode: str) -> None:
    """``peek`` answers what ``read`` would without moving the file, its buffer, the volume's window or the
    flash; ``take`` then leaves the file where that read leaves it. Two volumes run the same steps, one
    with peeks (taken or not), the other reading plainly: their answers, positions and flash agree."""
    vols = [new_external("4M"), new_external("4M")]
    files = []
    for v in vols:
        v.format()
        v.mkdir(OTA_DIR)
        write_file(v, f"{OTA_DIR}/a.bin", bytes(range(256)) * 40)
        files.append(v.open(f"{OTA_DIR}/a.bin", mode))
    peeking, plain = files
    for kind, arg in steps:
        if kind == "peek":
            peek = peeking.peek(arg)
            if peek is not None:
                assert peek.answer == plain.read(arg)
                plain.seek(plain.tell() - len(peek.answer))  # the plain file undoes its read ...
            continue  # ... and the peeking one was never moved
        if kind == "peek-take":
            peek = peeking.peek(arg)
            if peek is not None:
                assert peeking.take(peek) == plain.read(arg)
                continue
            kind = "read"
        answers = []
        for fh in files:
            try:
                if kind == "seek":
                    fh.seek(arg)
                    answers.append(fh.tell())
                elif kind == "read":
                    answers.append(fh.read(arg))
                else:
                    answers.append(fh.write(bytes([arg % 251]) * arg))
            except FsError as exc:
                answers.append(type(exc).__name__)
        assert answers[0] == answers[1], (kind, arg)
        assert peeking.tell() == plain.tell()
    for fh in files:
        fh.close()
    assert vols[0].flash.data == vols[1].flash.data


def test_a_file_with_unwritten_bytes_is_not_read_ahead() -> None:
    """A read that could write back a dirty buffer first (a flash operation) is not worked out ahead."""
    x = new_external("4M")
    x.format()
    x.mkdir(OTA_DIR)
    write_file(x, f"{OTA_DIR}/a.bin", b"\xaa" * 5000)
    fh = x.open(f"{OTA_DIR}/a.bin", "r+")
    fh.write(b"\x01" * 10)  # a partial sector waits in the file's buffer
    assert fh.peek(600) is None
    fh.seek(0)
    ops = x.flash.op_count
    assert fh.peek(600) is None and x.flash.op_count == ops  # still dirty: seeking inside the sector keeps it
    fh.close()
    fh = x.open(f"{OTA_DIR}/a.bin", "r")
    peek = fh.peek(600)
    assert peek is not None and peek.answer == b"\x01" * 10 + b"\xaa" * 590
    assert fh.tell() == 0
