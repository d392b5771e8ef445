"""Harmony's ``hex2bin.py`` rules, applied to load chunks from any input format.

The rules, as read in ``system/ota/framework/tools/hex2bin/hex2bin.py`` (SYS v3.9.1):

* a buffer of ``0xDF000`` bytes of 0xFF stands for physical ``[0x1002_0000, 0x100F_F000)``;
* a data record is copied only if it lies *entirely* inside that window; a record that is partly outside
  is dropped whole (configuration words at 0x1FC5_5xxx and the bootloader fall outside and are dropped);
* records are copied in file order, so where two overlap the later one wins; Harmony's tool says nothing,
  otaloop reports it through the ``warn`` callback (one line for the whole image) and keeps the bytes;
* OTA variant (``-f`` non-zero, the default): the output ends at the end of the highest copied record;
* factory variant (``-f 0``): the whole ``0xDF000`` buffer, with byte 0 forced to 0xF8;
* the digest printed is SHA-256 of the output file.

This module does not parse files (``elf`` and ``intel_hex`` do; ``convert`` picks one by file kind) and does
not sign images.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

from bootloader_model.errors import ImageError
from bootloader_model.formats.app_image import SLOT_SIZE, SLOT_START, build_factory_bin
from harness.image.load_chunk import SLOT_END, LoadChunk


def hex2bin(
    chunks: Iterable[LoadChunk],
    *,
    factory: bool = False,
    source: str = "image",
    warn: Callable[[str], None] | None = None,
) -> bytes:
    """Return the OTA ``.bin`` (trimmed) or, with ``factory``, the full-slot factory variant.

    ``warn`` receives one line if records inside the window overlap (the bytes are Harmony's either way).
    """
    buf = bytearray(b"\xff" * SLOT_SIZE)
    written = bytearray(SLOT_SIZE)  # 1 where a copied record already wrote
    overlaps: list[tuple[int, int]] = []  # (address, bytes) of each record that overwrote earlier data
    highest: int | None = None
    for chunk in chunks:
        end = chunk.address + len(chunk.data)
        if chunk.address >= SLOT_START and end <= SLOT_END:
            lo, hi = chunk.address - SLOT_START, end - SLOT_START
            first = written.find(1, lo, hi)
            if first >= 0:
                overlaps.append((SLOT_START + first, written.count(1, lo, hi)))
            written[lo:hi] = b"\x01" * (hi - lo)
            buf[lo:hi] = chunk.data
            highest = end if highest is None else max(highest, end)
    if overlaps and warn is not None:
        address, size = overlaps[0]
        n = len(overlaps)
        warn(
            f"{source}: {n} record{'s overlap' if n > 1 else ' overlaps'} earlier data (first at 0x{address:08X}, "
            f"{size} bytes); the later record wins, as in Harmony's hex2bin.py"
        )
    if highest is None or highest == SLOT_START:
        raise ImageError(f"{source}: no data inside the OTA window [0x{SLOT_START:08X}, 0x{SLOT_END:08X})")
    ota = bytes(buf[: highest - SLOT_START])
    return build_factory_bin(ota) if factory else ota


def digest(data: bytes) -> str:
    """SHA-256 of the whole ``.bin``, lower-case hex: the manifest's ``Digest``."""
    return hashlib.sha256(data).hexdigest()
