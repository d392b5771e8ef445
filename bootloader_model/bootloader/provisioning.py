"""Program a blank virtual board as MPLAB programs the unified hex (bootloader + factory application).

The unified hex holds the bootloader's code (program flash 0x1000_0000..0x1001_FFFF; its boot-flash
startup code is outside the modelled array) and the factory application from 0x1002_0000, whose first
page is the application's ``.ota_boot_control`` placeholder (status FF, type 03). The model cannot run
the bootloader's MIPS code, so the bootloader region gets deterministic non-blank filler.

Given hex2bin's factory-reset variant of the application instead (``hex2bin -f``, what ``otaloop image
--factory`` writes: the full 0xDF000-byte slot, byte 0 forced to 0xF8), it programs the application that
variant holds: byte 0 goes back to the placeholder's 0xFF, which is exactly what the unified hex built
from the same application would program. Programmed as it is, the F8 would tell the bootloader that the
board was set up already, so it would never format the volume or back the factory image up, and every
update would fail.

Also here: :func:`synthetic_app_bin`, a stand-in OTA ``.bin`` (placeholder page + deterministic body)
for tests and benchmarks. It is not an application the virtual board can run; real and virtual
application images live in the image tooling. This module does not touch external flash.
"""

from __future__ import annotations

import hashlib

from bootloader_model.errors import CallerError
from bootloader_model.formats.app_image import FACTORY_STATUS, SLOT_SIZE
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, PAGE_SIZE, placeholder_page
from bootloader_model.storage.nor_flash import NorFlash

BOOTLOADER_REGION = (0x1000_0000, 0x1002_0000)
APP_WINDOW = 0xDF000  # 0x1002_0000 .. 0x100F_EFFF: what hex2bin and the bootloader cover
ROW = 1024


def _stream(label: bytes, size: int) -> bytes:
    """Deterministic pseudo-random bytes: SHA-256 in counter mode over ``label``."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(label + counter.to_bytes(8, "little")).digest()
        counter += 1
    return bytes(out[:size])


def bootloader_filler() -> bytes:
    """The bytes standing in for the bootloader's code in 0x1000_0000..0x1001_FFFF."""
    lo, hi = BOOTLOADER_REGION
    return _stream(b"otaloop harmony ota_bootloader v3.9.1", hi - lo)


def is_factory_variant(image: bytes) -> bool:
    """``hex2bin -f`` output: the whole slot with byte 0 = 0xF8 (the application's placeholder has 0xFF)."""
    return len(image) == SLOT_SIZE and image[0] == FACTORY_STATUS


def check_factory_status(image: bytes) -> None:
    """Refuse an image whose byte 0 is 0xF8 but that is not hex2bin's whole factory variant.

    Byte 0 is the boot control status. The application's placeholder page has 0xFF there; only hex2bin's
    ``-f 0`` output (exactly the 0xDF000-byte slot) carries 0xF8, which provisioning turns back into 0xFF.
    Any other image with 0xF8 (a truncated variant, an application patched by hand) would be programmed
    with status VALID: the bootloader would take the board as set up already, jump to the application and
    never format the volume or back the factory image up, so every update would fail.

    Raises:
        CallerError: byte 0 is 0xF8 and the image is not exactly the slot size.
    """
    if len(image) and image[0] == FACTORY_STATUS and len(image) != SLOT_SIZE:
        raise CallerError(
            f"image of {len(image)} bytes has byte 0 = 0x{FACTORY_STATUS:X}, the mark of hex2bin's factory variant, "
            f"but a factory variant is the whole slot: exactly 0x{SLOT_SIZE:X} = {SLOT_SIZE} bytes "
            "(otaloop image --factory); give that, or the application .bin as hex2bin writes it (byte 0 = 0xFF)"
        )


def provision_unified(internal: NorFlash, factory_app_bin: bytes) -> bool:
    """Erase the whole program flash and program the bootloader filler plus ``factory_app_bin`` at 0x1002_0000.

    ``factory_app_bin`` is the application as hex2bin slices it (boot control placeholder page first).
    Rows that are entirely 0xFF are skipped, as they have no hex records. A factory-reset variant is
    programmed as the application it holds; the result says whether the image was one. Any other image
    with byte 0 = 0xF8 is refused (:func:`check_factory_status`).
    """
    check_factory_status(factory_app_bin)
    variant = is_factory_variant(factory_app_bin)
    if variant:
        factory_app_bin = placeholder_page()[:1] + factory_app_bin[1:]
    if internal.geometry.base != BOOTLOADER_REGION[0]:
        raise CallerError(f"unified hex targets PIC32MZ program flash at 0x10000000, not {internal.geometry.name}")
    if not PAGE_SIZE <= len(factory_app_bin) <= APP_WINDOW:
        raise CallerError(
            f"factory application is {len(factory_app_bin)} bytes; it must hold the 4 KiB boot control page "
            f"and fit the 0x{APP_WINDOW:X}-byte application window"
        )
    g = internal.geometry
    internal.erase(g.base, "chip")
    blank = b"\xff" * ROW
    lo, _ = BOOTLOADER_REGION
    for base, blob in ((lo, bootloader_filler()), (BOOT_CTL_PHYS, factory_app_bin)):
        padded = blob + b"\xff" * (-len(blob) % ROW)
        for off in range(0, len(padded), ROW):
            row = padded[off : off + ROW]
            if row != blank:
                internal.program(base + off, row)
    return variant


def synthetic_app_bin(size: int, seed: int = 0) -> bytes:
    """A stand-in OTA ``.bin`` of ``size`` bytes: the placeholder page, then deterministic bytes."""
    if size < PAGE_SIZE:
        raise CallerError(f"an OTA image holds at least the {PAGE_SIZE}-byte boot control page, not {size} bytes")
    return placeholder_page() + _stream(b"otaloop synthetic app %d" % seed, size - PAGE_SIZE)
