"""Host-side OTA image tooling: application ELF or Intel HEX -> OTA ``.bin`` -> digest -> ``ota.json``.

``elf`` and ``intel_hex`` turn an input file into load chunks (``load_chunk``) at physical addresses;
``hex2bin`` applies the rules of Harmony's ``hex2bin.py`` to those chunks; ``convert`` does both for a file
on disk; ``manifest`` writes and validates ``ota.json``; ``server`` is the HTTP image server boards
download from, with per-request faults. Synthetic
images need no input file and live in :mod:`bootloader_model.formats.app_image`.
"""

from __future__ import annotations

from harness.image.convert import bin_from_file
from harness.image.elf import read_elf
from harness.image.hex2bin import digest, hex2bin
from harness.image.intel_hex import read_ihex
from harness.image.load_chunk import SLOT_END, LoadChunk
from harness.image.manifest import Manifest, ManifestEntry, read_manifest, write_manifest

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
