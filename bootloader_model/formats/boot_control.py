"""The boot control page: the 4 KiB of internal flash the application and the OTA bootloader share.

Layout (spec section 7, ``ota_image.h``): a 256-byte little-endian ``FIRMWARE_IMAGE_HEADER`` at physical
0x1002_0000 (KSEG1 0xB002_0000), then filler up to byte 4095, the "signature byte" the application's
initializer sets to 0xF8. Status values step down one bit at a time (FF -> FE -> FC -> F8 -> F0), which is
why firmware can advance a status by programming the page again *without* an erase.

This module is a pure format: it encodes and decodes bytes. It does not touch flash and makes no boot
decisions.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from enum import IntEnum

from bootloader_model.errors import FormatError

BOOT_CTL_PHYS = 0x1002_0000
BOOT_CTL_KSEG1 = 0xB002_0000
PAGE_SIZE = 4096
HEADER_SIZE = 256
SIGNATURE_OFFSET = 4095
APP_BOOT_ADDR = 0xB002_1000  # uncached alias of the application's _RESET_ADDR 0x9002_1000


class ImgStatus(IntEnum):
    """``IMG_STATUS``: each step clears bits, so NOR flash can advance it without an erase."""

    INVALID = 0xFF
    DOWNLOADED = 0xFE
    UNBOOTED = 0xFC
    VALID = 0xF8
    DISABLED = 0xF0


class ImgType(IntEnum):
    """``IMG_TYPE`` as the code defines it (the documentation figure disagrees; the code wins)."""

    FLASH_PROGRAMMER = 0x00
    PRODUCTION = 0x01
    DEBUG = 0x02
    FACTORY_RESET = 0x03


# status, slot, order, type, sz, version, boot_addr, digest[32], rsvd[208]
HEADER = struct.Struct("<BBBBIII32s208s")
assert HEADER.size == HEADER_SIZE


@dataclass(frozen=True)
class BootControl:
    """The decoded header. Fields hold raw integers: flash may contain values no enum names."""

    status: int = 0xFF
    slot: int = 0xFF
    order: int = 0xFF
    type: int = 0xFF
    sz: int = 0xFFFF_FFFF
    version: int = 0xFFFF_FFFF
    boot_addr: int = 0xFFFF_FFFF
    digest: bytes = b"\xff" * 32
    rsvd: bytes = b"\xff" * 208

    def encode(self) -> bytes:
        """The 256 header bytes."""
        return HEADER.pack(
            self.status,
            self.slot,
            self.order,
            self.type,
            self.sz,
            self.version,
            self.boot_addr,
            self.digest,
            self.rsvd,
        )

    @classmethod
    def decode(cls, raw: bytes | bytearray | memoryview) -> BootControl:
        """Decode the first 256 bytes of a boot control page (or of any 4 KiB image page)."""
        if len(raw) < HEADER_SIZE:
            raise FormatError(f"boot control header needs {HEADER_SIZE} bytes, got {len(raw)}")
        return cls(*HEADER.unpack_from(raw))

    def with_(self, **changes: int | bytes) -> BootControl:
        return replace(self, **changes)  # type: ignore[arg-type]

    def describe(self) -> str:
        """A one-line summary, naming known enum values."""

        def name(enum: type[IntEnum], value: int) -> str:
            try:
                return f"{enum(value).name}(0x{value:02X})"
            except ValueError:
                return f"0x{value:02X}"

        return (
            f"status={name(ImgStatus, self.status)} type={name(ImgType, self.type)} "
            f"version={self.version} sz={self.sz} boot_addr=0x{self.boot_addr:08X}"
        )


def is_blank(page: bytes | bytearray | memoryview) -> bool:
    """The bootloader's "Uninitialized sector" test: the first 16 bytes are all 0xFF."""
    return bytes(page[:16]) == b"\xff" * 16


def placeholder_page() -> bytes:
    """The page exactly as the application's ``.ota_boot_control`` initializer leaves it (spec section 5).

    Status, slot and order 0xFF, type FACTORY_RESET, sz 0xFFFFFFFF, version 1 (whatever the app version),
    boot_addr 0xB0021000, everything else 0 except the signature byte 4095 = 0xF8.
    """
    header = BootControl(
        status=0xFF,
        slot=0xFF,
        order=0xFF,
        type=ImgType.FACTORY_RESET,
        sz=0xFFFF_FFFF,
        version=1,
        boot_addr=APP_BOOT_ADDR,
        digest=bytes(32),
        rsvd=bytes(208),
    ).encode()
    page = bytearray(PAGE_SIZE)
    page[:HEADER_SIZE] = header
    page[SIGNATURE_OFFSET] = 0xF8
    return bytes(page)


def production_header(version: int, status: int = ImgStatus.UNBOOTED) -> BootControl:
    """A PRODUCTION header as the bootloader leaves it after programming and marking a downloaded image
    (status FC until the application's init confirms it), with zeroed size, digest and reserved bytes."""
    return BootControl(
        status=status,
        slot=0,
        order=0xFF,
        type=ImgType.PRODUCTION,
        sz=0,
        version=version,
        boot_addr=APP_BOOT_ADDR,
        digest=bytes(32),
        rsvd=bytes(208),
    )


def with_header(page: bytes | bytearray, header: BootControl) -> bytes:
    """Return a 4 KiB page whose first 256 bytes are ``header`` and whose filler is kept from ``page``."""
    if len(page) != PAGE_SIZE:
        raise FormatError(f"boot control page must be {PAGE_SIZE} bytes, got {len(page)}")
    out = bytearray(page)
    out[:HEADER_SIZE] = header.encode()
    return bytes(out)
