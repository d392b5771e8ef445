"""ELF / Intel HEX -> OTA .bin with Harmony's hex2bin rules, checked against real toolchain output."""

from __future__ import annotations

import hashlib
import itertools
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bootloader_model.errors import ImageError
from bootloader_model.formats.app_descriptor import read_descriptor
from bootloader_model.formats.app_image import SLOT_SIZE, SLOT_START, placeholder_boot_control
from conftest import require_tool
from harness.image import SLOT_END, LoadChunk, bin_from_file, digest, hex2bin, read_elf, read_ihex
from harness.image.elf import _split_at_window

FW = Path(__file__).resolve().parents[1] / "fixtures" / "firmware"
VERSIONS = (1, 2, 3)


def _elf(v: int) -> Path:
    return FW / f"app_v{v}.elf"


def _hex(v: int) -> Path:
    return FW / f"app_v{v}.hex"


# --- Intel HEX writer used only by the tests (independent of the reader under test) ----------------------


def _rec(type_: int, address: int, data: bytes) -> str:
    body = bytes([len(data), address >> 8 & 0xFF, address & 0xFF, type_]) + data
    return ":" + (body + bytes([-sum(body) & 0xFF])).hex().upper()


def _hex_text(chunks: list[tuple[int, bytes]], eof: bool = True) -> str:
    lines: list[str] = []
    upper = None
    for address, data in chunks:
        if address >> 16 != upper:
            upper = address >> 16
            lines.append(_rec(4, 0, upper.to_bytes(2, "big")))
        lines.append(_rec(0, address & 0xFFFF, data))
    if eof:
        lines.append(_rec(1, 0, b""))
    return "\n".join(lines) + "\n"


# --- fixtures built by a real linker ----------------------------------------------------------------------


@pytest.mark.parametrize("v", VERSIONS)
def test_fixture_elf_and_hex_give_the_same_bin(v: int) -> None:
    from_elf = bin_from_file(_elf(v), "elf")
    from_hex = bin_from_file(_hex(v), "hex")
    assert from_elf == from_hex
    assert read_descriptor(from_elf).version == v
    # the C initializer of .ota_boot_control agrees with the Python placeholder byte for byte
    assert from_elf[:0x1000] == placeholder_boot_control()
    # .data is loaded from its flash LMA (p_paddr) and the image stops at its file bytes, not at .bss
    assert from_elf[-16:-12] == struct.pack("<I", 0x5A5A0000 + v)


def test_fixture_versions_differ() -> None:
    bins = [bin_from_file(_elf(v), "elf") for v in VERSIONS]
    assert len({digest(b) for b in bins}) == len(VERSIONS)


@pytest.mark.parametrize("v", VERSIONS)
def test_fixture_factory_variant(v: int) -> None:
    ota = bin_from_file(_hex(v), "hex")
    factory = bin_from_file(_hex(v), "hex", factory=True)
    assert len(factory) == SLOT_SIZE and factory[0] == 0xF8
    assert factory[1 : len(ota)] == ota[1:] and set(factory[len(ota) :]) == {0xFF}
    assert read_descriptor(factory).version == v


def _objdump_window_sections(objdump: str, elf: Path) -> tuple[list[str], int]:
    """Sections with file contents whose load address (LMA) is inside the hex2bin window."""
    lines = subprocess.run([objdump, "-h", str(elf)], check=True, capture_output=True, text=True).stdout.splitlines()
    names, lmas = [], []
    for head, flags in itertools.pairwise(lines):
        parts = head.split()
        if (
            len(parts) >= 7
            and parts[0].isdigit()
            and {"CONTENTS", "ALLOC", "LOAD"} <= set(flags.replace(",", " ").split())
        ):
            lma = int(parts[4], 16)
            if SLOT_START <= lma < SLOT_END:
                names.append(parts[1])
                lmas.append(lma)
    return names, min(lmas)


@pytest.mark.parametrize("v", VERSIONS)
def test_bin_equals_objcopy_binary_of_the_window(v: int, tmp_path: Path) -> None:
    objcopy = require_tool("mipsel-linux-gnu-objcopy", "binutils-mipsel-linux-gnu")
    objdump = require_tool("mipsel-linux-gnu-objdump", "binutils-mipsel-linux-gnu")
    names, lowest = _objdump_window_sections(objdump, _elf(v))
    assert ".ota_boot_control" in names and ".data" in names and ".config_words" not in names
    assert lowest == SLOT_START  # so the objcopy output starts at .bin offset 0
    out = tmp_path / "objcopy.bin"
    only = [arg for name in names for arg in ("-j", name)]
    subprocess.run([objcopy, "-O", "binary", "--gap-fill", "0xff", *only, str(_elf(v)), str(out)], check=True)
    assert bin_from_file(_elf(v), "elf") == out.read_bytes()


def test_padding_between_sections_of_one_segment_stays_erased_as_in_the_hex(tmp_path: Path) -> None:
    # gap.ld puts a 0x2C-byte .reset and a 16-byte-aligned .rodata in one PT_LOAD segment: the 4 alignment
    # bytes are in the segment's file bytes (zeros) but in no section, so objcopy writes no HEX record for
    # them and hex2bin leaves them 0xFF. The ELF path must give the same bytes.
    objcopy = require_tool("mipsel-linux-gnu-objcopy", "binutils-mipsel-linux-gnu")
    elf, hexfile = FW / "gap.elf", FW / "gap.hex"
    from_elf, from_hex = bin_from_file(elf, "elf"), bin_from_file(hexfile, "hex")
    assert from_elf == from_hex
    assert from_elf[0x102C:0x1030] == b"\xff" * 4
    assert from_elf[0x1030:0x1040] == bytes.fromhex("11111111222222223333333344444444")
    assert len(from_elf) == 0x1040 and set(from_elf[:0x1000]) == {0xFF}
    out = tmp_path / "gap.bin"
    subprocess.run([objcopy, "-O", "binary", "--gap-fill", "0xff", str(elf), str(out)], check=True)
    assert from_elf[0x1000:] == out.read_bytes()  # objcopy's binary starts at the lowest LMA, 0x1002_1000


def test_elf_sections_are_placed_at_their_load_addresses() -> None:
    # .data-like sections live at a RAM VMA; their bytes go where the segment's p_paddr puts them
    chunks = read_elf(_elf(2).read_bytes())
    assert all(SLOT_START <= c.address < SLOT_END or c.address >= 0x1FC0_0000 for c in chunks)
    data = [c for c in chunks if c.data[-16:-12] == struct.pack("<I", 0x5A5A0002)]
    assert data and data[0].address < SLOT_END


def test_rebuilding_the_fixtures_reproduces_them(tmp_path: Path) -> None:
    require_tool("mipsel-linux-gnu-gcc", "gcc-mipsel-linux-gnu")
    require_tool("mipsel-linux-gnu-objcopy", "binutils-mipsel-linux-gnu")
    subprocess.run([sys.executable, str(FW / "build.py"), "--out", str(tmp_path)], check=True, capture_output=True)
    committed = (FW / "TOOLCHAIN").read_text()
    installed = (tmp_path / "TOOLCHAIN").read_text()
    for v in VERSIONS:
        # the .bin (what the board sees) must match; only a different compiler may excuse a difference
        same_bin = bin_from_file(tmp_path / f"app_v{v}.elf", "elf") == bin_from_file(_elf(v), "elf")
        if not same_bin and committed != installed:
            pytest.skip(f"fixtures were built with {committed!r}; this machine has {installed!r}")
        assert same_bin
    if committed != installed:
        pytest.skip(f"file-level comparison needs the same toolchain: committed {committed!r}, installed {installed!r}")
    for v in VERSIONS:
        assert (tmp_path / f"app_v{v}.elf").read_bytes() == _elf(v).read_bytes()
        assert (tmp_path / f"app_v{v}.hex").read_bytes() == _hex(v).read_bytes()
    for name in ("gap.elf", "gap.hex"):
        assert (tmp_path / name).read_bytes() == (FW / name).read_bytes()


# --- hex2bin rules --------------------------------------------------------------------------------------


def test_window_constants() -> None:
    assert (SLOT_START, SLOT_END) == (0x1002_0000, 0x100F_F000)


def test_records_partly_outside_the_window_are_dropped_whole() -> None:
    chunks = [
        LoadChunk(SLOT_START - 8, b"\x11" * 16),  # straddles the start: dropped
        LoadChunk(SLOT_START + 0x10, b"\x22" * 16),
        LoadChunk(SLOT_END - 8, b"\x33" * 16),  # straddles the end: dropped
        LoadChunk(0x1FC5_5E88, b"\x44" * 16),  # configuration words: dropped
    ]
    out = hex2bin(chunks)
    assert out == b"\xff" * 0x10 + b"\x22" * 16


def test_records_touching_both_edges_are_kept() -> None:
    out = hex2bin([LoadChunk(SLOT_START, b"\x01"), LoadChunk(SLOT_END - 4, b"\x02\x03\x04\x05")])
    assert len(out) == SLOT_SIZE and out[0] == 1 and out[-4:] == b"\x02\x03\x04\x05"
    assert set(out[1:-4]) == {0xFF}


def test_trimmed_to_highest_record_in_any_order_and_later_records_win() -> None:
    out = hex2bin([LoadChunk(SLOT_START + 0x2000, b"ab"), LoadChunk(SLOT_START, b"xyz"), LoadChunk(SLOT_START, b"Q")])
    assert len(out) == 0x2002 and out[:3] == b"Qyz" and out[-2:] == b"ab"


def test_overlapping_records_warn_and_the_later_one_wins() -> None:
    warnings: list[str] = []
    chunks = [LoadChunk(SLOT_START, b"xyz"), LoadChunk(SLOT_START + 1, b"QR"), LoadChunk(SLOT_START + 8, b"ok")]
    out = hex2bin(chunks, source="a.hex", warn=warnings.append)
    assert out[:3] == b"xQR"  # what Harmony's hex2bin.py writes: a later record overwrites, no message
    assert warnings == [
        "a.hex: 1 record overlaps earlier data (first at 0x10020001, 2 bytes); the later record wins, "
        "as in Harmony's hex2bin.py"
    ]
    assert hex2bin(chunks) == out  # without a warn callback: the same bytes, silently


def test_overlap_outside_the_window_is_not_reported() -> None:
    warnings: list[str] = []
    hex2bin([LoadChunk(0x1000_0000, b"ab"), LoadChunk(0x1000_0000, b"cd"), LoadChunk(SLOT_START, b"x")],
            warn=warnings.append)  # fmt: skip
    assert warnings == []


def test_cli_warns_about_overlapping_hex_records(tmp_path: Path) -> None:
    from harness.cli import main

    src = tmp_path / "overlap.hex"
    src.write_text(_hex_text([(SLOT_START, b"\x00" * 16), (SLOT_START + 4, b"\x11" * 4)]))
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "image", "--hex", str(src), "-o", str(tmp_path / "o.bin")],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("otaloop image: warning: ") and "overlaps earlier data" in proc.stderr
    assert (tmp_path / "o.bin").read_bytes() == bytes(4) + b"\x11" * 4 + bytes(8)
    assert main(["image", "--hex", str(_hex(1)), "-o", str(tmp_path / "f.bin")]) == 0  # fixtures: no overlap


def test_factory_variant_forces_byte_0() -> None:
    out = hex2bin([LoadChunk(SLOT_START, b"\x00\x01")], factory=True)
    assert len(out) == SLOT_SIZE and out[:2] == b"\xf8\x01" and set(out[2:]) == {0xFF}


@pytest.mark.parametrize("chunks", [[], [LoadChunk(0x1000_0000, b"boot")], [LoadChunk(SLOT_START, b"")]])
def test_no_data_in_the_window(chunks: list[LoadChunk]) -> None:
    with pytest.raises(ImageError, match="no data inside the OTA window"):
        hex2bin(chunks)


def test_digest_is_sha256_of_the_whole_file() -> None:
    assert digest(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    data = bin_from_file(_elf(1), "elf")
    assert digest(data) == hashlib.sha256(data).hexdigest()


@given(
    st.lists(
        st.tuples(st.integers(0, 0x3000).map(lambda o: SLOT_START - 0x800 + o), st.binary(min_size=1, max_size=32)),
        min_size=1,
        max_size=20,
    )
)
def test_hex_round_trip_matches_a_reference_model(records: list[tuple[int, bytes]]) -> None:
    model = bytearray(b"\xff" * 0x4000)
    highest = None
    for address, data in records:
        if address >= SLOT_START and address + len(data) <= SLOT_END:
            model[address - SLOT_START : address - SLOT_START + len(data)] = data
            highest = max(highest or 0, address + len(data))
    try:
        out = hex2bin(read_ihex(_hex_text(records)))
    except ImageError:
        assert highest is None
        return
    assert highest is not None and out == bytes(model[: highest - SLOT_START])


# --- Intel HEX errors -----------------------------------------------------------------------------------


def test_hex_tolerates_crlf_and_blank_lines() -> None:
    text = _hex_text([(SLOT_START, b"\x01\x02")]).replace("\n", "\r\n\r\n")
    assert hex2bin(read_ihex(text)) == b"\x01\x02"


def test_hex_start_address_records_are_ignored() -> None:
    lines = _hex_text([(SLOT_START, b"\x01")]).splitlines()
    lines.insert(-1, _rec(5, 0, bytes.fromhex("90021000")))
    lines.insert(-1, _rec(3, 0, bytes.fromhex("00001000")))
    assert hex2bin(read_ihex("\n".join(lines))) == b"\x01"


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda t: t.replace(":01", ":02", 1), "line 2: bad record"),  # length no longer matches
        (lambda t: t[:-4] + "00\n", "line 3: bad record"),  # bad EOF checksum
        (lambda t: "garbage\n" + t, "line 1: not an Intel HEX record"),
        (lambda t: t.replace(":00000001FF\n", ""), "no end-of-file record"),
        (lambda t: _rec(2, 0, b"\x10\x00") + "\n" + t, "type 02"),
        (lambda t: _rec(6, 0, b"") + "\n" + t, "unknown record type 06"),
        (lambda t: _rec(4, 0, b"\x10") + "\n" + t, "2 data bytes"),
        (lambda t: t.replace(":0100", ":01ZZ", 1), "line 2: bad record"),
        (lambda t: t[:-1] + "\u00e9\n", "non-ASCII"),
    ],
)
def test_hex_errors_name_the_line(mutate: Callable[[str], str], match: str) -> None:
    text = mutate(_hex_text([(SLOT_START, b"\x01")]))
    with pytest.raises(ImageError, match=match) as info:
        read_ihex(text.encode("utf-8"), source="app.hex")
    assert "\n" not in str(info.value) and str(info.value).startswith("app.hex: ")


def test_bad_checksum_is_caught() -> None:
    good = _rec(0, 0, b"\x01\x02")
    bad = good[:-2] + f"{(int(good[-2:], 16) + 1) & 0xFF:02X}"
    with pytest.raises(ImageError, match="line 2: bad record: expected crc"):
        read_ihex(_rec(4, 0, b"\x10\x02") + "\n" + bad + "\n:00000001FF\n")


def test_every_truncation_of_a_fixture_hex_is_an_error() -> None:
    text = _hex(1).read_text()
    for cut in range(0, len(text) - 1, 97):
        with pytest.raises(ImageError):
            read_ihex(text[:cut])


# --- ELF errors and translation -------------------------------------------------------------------------


def _patched(raw: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(raw)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def test_kseg_load_addresses_are_translated_to_physical() -> None:
    raw = _elf(2).read_bytes()
    phoff, phentsize, phnum = struct.unpack_from("<I", raw, 28)[0], *struct.unpack_from("<HH", raw, 42)
    moved = raw
    for i in range(phnum):
        at = phoff + i * phentsize + 12  # p_paddr
        moved = _patched(moved, at, "<I", struct.unpack_from("<I", raw, at)[0] | 0xA000_0000)  # KSEG1
    assert hex2bin(read_elf(moved)) == hex2bin(read_elf(raw))


def _program_headers(raw: bytes) -> list[tuple[int, int, int, int, int]]:
    """(p_type, p_offset, p_paddr, p_filesz, p_memsz) read with struct, independently of pyelftools."""
    phoff, phentsize, phnum = struct.unpack_from("<I", raw, 28)[0], *struct.unpack_from("<HH", raw, 42)
    out = []
    for i in range(phnum):
        p_type, p_offset, _vaddr, p_paddr, p_filesz, p_memsz = struct.unpack_from("<6I", raw, phoff + i * phentsize)
        out.append((p_type, p_offset, p_paddr, p_filesz, p_memsz))
    return out


def test_without_section_headers_the_segments_file_bytes_are_loaded() -> None:
    raw = _elf(1).read_bytes()
    stripped = _patched(raw, 48, "<H", 0)  # e_shnum = 0: no sections to go by
    assert hex2bin(read_elf(stripped)) == bin_from_file(_elf(1), "elf")  # no padding inside its segments


def test_only_file_bytes_of_segments_are_loaded() -> None:
    raw = _elf(1).read_bytes()
    headers = _program_headers(raw)
    data_seg = [h for h in headers if h[0] == 1 and h[4] > h[3]]
    assert len(data_seg) == 1, "the fixture has one segment with .bss (memsz > filesz)"
    _, offset, paddr, filesz, _ = data_seg[0]
    image = bin_from_file(_elf(1), "elf")
    # the image ends where .data's file bytes end: .bss (memsz - filesz) adds nothing to flash
    assert len(image) == paddr + filesz - SLOT_START
    assert image[paddr - SLOT_START :] == raw[offset : offset + filesz]


def test_segment_crossing_the_window_edge_is_split() -> None:
    pieces = _split_at_window(SLOT_START - 4, b"abcdefgh")
    assert pieces == [LoadChunk(SLOT_START - 4, b"abcd"), LoadChunk(SLOT_START, b"efgh")]
    assert _split_at_window(SLOT_START, b"xy") == [LoadChunk(SLOT_START, b"xy")]
    assert hex2bin(pieces) == b"efgh"


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        (lambda r: b"\x00" + r[1:], "not an ELF file"),
        (lambda r: b"", "not an ELF file"),
        (lambda r: r[:40], "truncated ELF header"),
        (lambda r: r[:4] + b"\x02" + r[5:], "not 32-bit"),
        (lambda r: r[:5] + b"\x02" + r[6:], "not little-endian"),
        (lambda r: _patched(r, 18, "<H", 40), "EM_ARM, not EM_MIPS"),
        (lambda r: _patched(_patched(r, 44, "<H", 0), 48, "<H", 0), "no loadable data"),
        (lambda r: r[:0x1100], "truncated"),
        (lambda r: r[: len(r) - 1], "truncated: section headers"),
    ],
)
def test_elf_errors(patch: Callable[[bytes], bytes], match: str) -> None:
    raw = patch(_elf(1).read_bytes())
    with pytest.raises(ImageError, match=match) as info:
        read_elf(raw, source="app.elf")
    assert "\n" not in str(info.value) and str(info.value).startswith("app.elf: ")


def test_every_truncation_of_a_fixture_elf_is_an_error() -> None:
    raw = _elf(1).read_bytes()
    for cut in range(0, len(raw), 61):
        with pytest.raises(ImageError):
            read_elf(raw[:cut])


@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255)), min_size=1, max_size=6))
def test_corrupt_headers_give_image_error_or_a_result(edits: list[tuple[int, int]]) -> None:
    raw = bytearray(_elf(1).read_bytes())
    for offset, value in edits:
        raw[4 + offset % 300] = value  # e_ident tail, ELF header, program headers
    try:
        chunks = read_elf(bytes(raw))
    except ImageError as exc:  # the only acceptable failure, and it is one line
        assert "\n" not in str(exc)
        return
    assert chunks and all(isinstance(c.address, int) and c.data for c in chunks)


def test_elf_without_data_in_the_window(tmp_path: Path) -> None:
    raw = _elf(1).read_bytes()
    phoff, phentsize, phnum = struct.unpack_from("<I", raw, 28)[0], *struct.unpack_from("<HH", raw, 42)
    for i in range(phnum):
        raw = _patched(raw, phoff + i * phentsize + 12, "<I", 0x1FC0_0000)  # all into boot flash
    path = tmp_path / "boot.elf"
    path.write_bytes(raw)
    with pytest.raises(ImageError, match="no data inside the OTA window"):
        bin_from_file(path, "elf")


def test_bin_from_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot read"):
        bin_from_file(tmp_path / "missing.elf", "elf")
    with pytest.raises(ImageError, match="unknown input kind"):
        bin_from_file(_elf(1), "srec")
