"""Load chunks: bytes at a physical address, what every input parser produces and the hex2bin rules consume.

This module defines the value and the window bound only; it parses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from bootloader_model.formats.app_image import SLOT_SIZE, SLOT_START

#: End (exclusive) of hex2bin's window: 0x100F_F000.
SLOT_END = SLOT_START + SLOT_SIZE


@dataclass(frozen=True)
class LoadChunk:
    """Bytes to load at a physical address: one Intel HEX data record, or one ELF segment piece."""

    address: int
    data: bytes
