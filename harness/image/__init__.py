"""Host-side OTA image tooling: application ELF or Intel HEX -> OTA ``.bin`` -> digest -> ``ota.json``.

``elf`` and ``ihex`` turn an input file into load chunks at physical addresses; ``hex2bin`` applies the
rules of Harmony's ``hex2bin.py`` to those chunks; ``manifest`` writes and validates ``ota.json``. Synthetic
images need no input file and live in :mod:`bootloader_model.appimage`.
"""

from __future__ import annotations

from .elf import read_elf
from .hex2bin import SLOT_END, LoadChunk, bin_from_file, digest, hex2bin
from .ihex import read_ihex
from .manifest import Manifest, ManifestEntry, read_manifest, write_manifest

__all__ = [
    "SLOT_END",
    "LoadChunk",
    "Manifest",
    "ManifestEntry",
    "bin_from_file",
    "digest",
    "hex2bin",
    "read_elf",
    "read_ihex",
    "read_manifest",
    "write_manifest",
]
