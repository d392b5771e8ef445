"""Boot control page format: header layout, placeholder bytes, blank detection."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bootloader_model.errors import FormatError
from bootloader_model.formats.boot_control import (
    APP_BOOT_ADDR,
    HEADER,
    PAGE_SIZE,
    BootControl,
    ImgStatus,
    ImgType,
    is_blank,
    placeholder_page,
    production_header,
    with_header,
)


def test_header_is_256_bytes_little_endian() -> None:
    raw = BootControl(
        status=0xF8, slot=0xFF, order=0xFF, type=1, sz=0x1234, version=2, boot_addr=APP_BOOT_ADDR
    ).encode()
    assert len(raw) == HEADER.size == 256
    assert raw[:16] == bytes.fromhex("f8ffff013412000002000000001002b0")


def test_placeholder_page_matches_the_application_initializer() -> None:
    page = placeholder_page()
    assert len(page) == PAGE_SIZE
    assert page[:16] == bytes.fromhex("ffffff03ffffffff01000000001002b0")
    assert page[16:4095] == bytes(4095 - 16)
    assert page[4095] == 0xF8
    hdr = BootControl.decode(page)
    assert hdr.type == ImgType.FACTORY_RESET and hdr.status == ImgStatus.INVALID and hdr.version == 1


def test_status_steps_only_clear_bits() -> None:
    chain = [ImgStatus.INVALID, ImgStatus.DOWNLOADED, ImgStatus.UNBOOTED, ImgStatus.VALID, ImgStatus.DISABLED]
    for a, b in itertools.pairwise(chain):
        assert a & b == b  # NOR can step a -> b by programming without an erase


def test_blank_detection_uses_the_first_16_bytes() -> None:
    assert is_blank(b"\xff" * 4096)
    assert is_blank(b"\xff" * 16 + b"\0" * 4080)
    assert not is_blank(b"\xff" * 15 + b"\0" + b"\xff" * 4080)


def test_decode_rejects_short_input_and_with_header_keeps_filler() -> None:
    with pytest.raises(FormatError, match="256"):
        BootControl.decode(b"\0" * 100)
    page = with_header(placeholder_page(), BootControl(status=0xF0, type=1, version=7))
    assert page[4095] == 0xF8 and BootControl.decode(page).version == 7
    with pytest.raises(FormatError):
        with_header(b"\0" * 10, BootControl())
    assert "VALID(0xF8)" in BootControl(status=0xF8, type=1).describe()
    assert "0x77" in BootControl(status=0x77).describe()


@given(st.binary(min_size=256, max_size=256))
def test_decode_encode_round_trip(raw: bytes) -> None:
    assert BootControl.decode(raw).encode() == raw


def test_production_header_is_what_the_bootloader_leaves_after_programming() -> None:
    raw = production_header(3).encode()
    assert raw[:16] == bytes.fromhex("fc00ff010000000003000000001002b0")
    assert production_header(2, ImgStatus.VALID).status == 0xF8
