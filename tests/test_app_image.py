"""Synthetic virtual applications: boot control placeholder, sizes, determinism, factory variant."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bootloader_model.errors import CallerError
from bootloader_model.formats.app_descriptor import (
    DESCRIPTOR_OFFSET,
    RECORD_SIZE,
    AppDescriptor,
    Behaviour,
    read_descriptor,
)
from bootloader_model.formats.app_image import (
    APP_OFFSET,
    SLOT_SIZE,
    SLOT_START,
    build_app,
    build_factory_bin,
    placeholder_boot_control,
)


def test_constants() -> None:
    assert (SLOT_START, SLOT_SIZE, APP_OFFSET) == (0x1002_0000, 0xDF000, 0x1000)
    assert SLOT_START + SLOT_SIZE == 0x100F_F000


def test_placeholder_boot_control_bytes() -> None:
    page = placeholder_boot_control()
    assert len(page) == 4096
    assert page[:4] == bytes([0xFF, 0xFF, 0xFF, 0x03])
    assert page[4:8] == b"\xff\xff\xff\xff"
    assert page[8:12] == bytes([1, 0, 0, 0])
    assert page[12:16] == bytes([0x00, 0x10, 0x02, 0xB0])
    assert page[16:4095] == bytes(4079)
    assert page[4095] == 0xF8


def test_build_app_layout() -> None:
    desc = AppDescriptor(version=2, behaviour=Behaviour.CRASH_AT_BOOT)
    image = build_app(desc, 0x5000)
    assert len(image) == 0x5000
    assert image[:APP_OFFSET] == placeholder_boot_control()
    # lui sp,0x8004 is the first instruction at the reset address 0x9002_1000
    assert struct.unpack_from("<I", image, APP_OFFSET)[0] == 0x3C1D8004
    assert read_descriptor(image) == desc


def test_build_app_is_deterministic_and_versions_differ() -> None:
    a1 = build_app(AppDescriptor(version=1), 0x3000)
    assert a1 == build_app(AppDescriptor(version=1), 0x3000)
    a2 = build_app(AppDescriptor(version=2), 0x3000)
    assert a1 != a2
    assert a1[DESCRIPTOR_OFFSET + RECORD_SIZE :] != a2[DESCRIPTOR_OFFSET + RECORD_SIZE :]


@pytest.mark.parametrize("size", [0, DESCRIPTOR_OFFSET + RECORD_SIZE - 1, SLOT_SIZE + 1, -1])
def test_build_app_rejects_bad_sizes(size: int) -> None:
    with pytest.raises(CallerError, match="out of range"):
        build_app(AppDescriptor(), size)


def test_build_app_rejects_non_integer_size() -> None:
    with pytest.raises(CallerError, match="integer"):
        build_app(AppDescriptor(), 4096.5)  # type: ignore[arg-type]


@given(size=st.integers(DESCRIPTOR_OFFSET + RECORD_SIZE, 0x8000), version=st.integers(0, 255))
def test_every_size_seals(size: int, version: int) -> None:
    image = build_app(AppDescriptor(version=version), size)
    assert len(image) == size
    assert read_descriptor(image).version == version


def test_factory_bin() -> None:
    app = build_app(AppDescriptor(version=4), 0x4000)
    factory = build_factory_bin(app)
    assert len(factory) == SLOT_SIZE
    assert factory[0] == 0xF8
    assert factory[1 : len(app)] == app[1:]
    assert factory[len(app) :] == b"\xff" * (SLOT_SIZE - len(app))
    assert read_descriptor(factory).version == 4


@pytest.mark.parametrize("size", [0, SLOT_SIZE + 1])
def test_factory_bin_rejects_bad_sizes(size: int) -> None:
    with pytest.raises(CallerError, match="must be"):
        build_factory_bin(bytes(size))
