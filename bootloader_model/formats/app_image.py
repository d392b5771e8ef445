"""Synthetic virtual applications: OTA ``.bin`` images shaped like Harmony's, built without a toolchain.

A Harmony OTA image is a raw slice of internal flash starting at physical 0x1002_0000 (spec section 5):
the application's own 4 KiB ``.ota_boot_control`` page, then the application from its reset address
0x9002_1000 (offset 0x1000) up to its last used byte. :func:`build_app` makes such an image of any size
with a plausible reset stub, deterministic filler that differs between versions, and a sealed app
descriptor (:mod:`bootloader_model.formats.app_descriptor`) that tells the virtual CPU what the image
does. :func:`build_factory_bin` applies hex2bin's factory rule (full slot, byte 0 forced to 0xF8).

What this module does not do: read ELF or Intel HEX (that is host tooling in ``harness.image``), or
model what the bootloader does with an image.
"""

from __future__ import annotations

import random
import struct

from bootloader_model.errors import CallerError
from bootloader_model.formats.app_descriptor import DESCRIPTOR_OFFSET, RECORD_SIZE, AppDescriptor, seal
from bootloader_model.formats.boot_control import placeholder_page

#: Physical address of offset 0 of every OTA ``.bin``: the boot control page (``.ota_boot_control``).
SLOT_START = 0x1002_0000
#: hex2bin's slot size and ``FACTORY_RESET_IMG_SIZE``: boot control page + application region.
SLOT_SIZE = 0xDF000
#: Offset of the application reset vector (KSEG0 0x9002_1000) in the ``.bin``.
APP_OFFSET = 0x1000
#: Smallest image that can carry a descriptor.
MIN_APP_SIZE = DESCRIPTOR_OFFSET + RECORD_SIZE
#: Byte 0 of a factory ``.bin`` (hex2bin ``-f 0``): IMG_STATUS_VALID.
FACTORY_STATUS = 0xF8

# MIPS32 words of a reset stub: lui sp,0x8004 / lui t0,0x9002 / ori t0,t0,0x2000 / jr t0 / nop.
# Stack at the top of the 256 KiB data RAM, then a jump to the program region at 0x9002_2000.
_RESET_STUB = struct.pack("<5I", 0x3C1D8004, 0x3C089002, 0x35082000, 0x01000008, 0x00000000)


def placeholder_boot_control() -> bytes:
    """The 4 KiB ``.ota_boot_control`` page exactly as the application's initializer leaves it (spec 5).

    status, slot, order = 0xFF; type = 0x03 (FACTORY_RESET); sz = 0xFFFFFFFF; version = 1; boot_addr =
    0xB0021000; digest, reserved and the rest zero; byte 4095 = 0xF8.
    """
    # The FIRMWARE_IMAGE_HEADER codec is shared with the bootloader model: one struct for the page.
    return placeholder_page()


def build_app(desc: AppDescriptor, size: int) -> bytes:
    """Return a sealed OTA ``.bin`` of exactly ``size`` bytes carrying ``desc``."""
    if not isinstance(size, int) or isinstance(size, bool):
        raise CallerError(f"image size must be an integer, got {size!r}")
    if not MIN_APP_SIZE <= size <= SLOT_SIZE:
        raise CallerError(
            f"image size {size} out of range: it must be {MIN_APP_SIZE}..{SLOT_SIZE} bytes "
            f"(room for the descriptor at 0x{DESCRIPTOR_OFFSET:x}, at most the 0x{SLOT_SIZE:X} slot)"
        )
    rng = random.Random(f"otaloop-virtual-app-v{desc.version}")
    image = bytearray(placeholder_boot_control())
    image += _RESET_STUB
    image += rng.randbytes(size - len(image))
    return seal(image, desc)


def build_factory_bin(app_bin: bytes) -> bytes:
    """hex2bin's factory variant (``-f 0``): the image padded with 0xFF to the full slot, byte 0 = 0xF8."""
    if len(app_bin) == 0 or len(app_bin) > SLOT_SIZE:
        raise CallerError(f"application image is {len(app_bin)} bytes; it must be 1..{SLOT_SIZE}")
    out = bytearray(app_bin) + b"\xff" * (SLOT_SIZE - len(app_bin))
    out[0] = FACTORY_STATUS
    return bytes(out)
