"""Application ELF -> load chunks at physical addresses, with pyelftools.

Only ``PT_LOAD`` segments contribute, and only their file bytes (``p_filesz``): the zero-filled tail up to
``p_memsz`` is ``.bss`` that startup code clears in RAM, never flash content. Addresses come from
``p_paddr`` (the load address) and are translated from KSEG0/KSEG1 to physical with ``addr & 0x1FFFFFFF``,
as PIC32's fixed mapping does. A segment that crosses the hex2bin window boundary is split there, so the
part inside is kept: an ELF has no records, and this equals hex2bin on a HEX file with a record boundary
at the window edge.

This module accepts only 32-bit little-endian MIPS ELF files (PIC32MZ) and does not relocate anything.
"""

from __future__ import annotations

import io
import itertools
import struct

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from bootloader_model.errors import ImageError
from bootloader_model.formats.app_image import SLOT_START
from harness.image.load_chunk import SLOT_END, LoadChunk

PHYS_MASK = 0x1FFF_FFFF


def _split_at_window(address: int, data: bytes) -> list[LoadChunk]:
    cuts = sorted({0, len(data), *(b - address for b in (SLOT_START, SLOT_END) if address < b < address + len(data))})
    return [LoadChunk(address + a, data[a:b]) for a, b in itertools.pairwise(cuts)]


def read_elf(raw: bytes, *, source: str = "ELF") -> list[LoadChunk]:
    """Return the loadable file bytes of a MIPS32 little-endian ELF as physical-address chunks."""
    if raw[:4] != b"\x7fELF":
        raise ImageError(f"{source}: not an ELF file (magic {raw[:4].hex() or 'empty'})")
    if len(raw) < 52:
        raise ImageError(f"{source}: truncated ELF header ({len(raw)} bytes)")
    if raw[4] != 1:
        raise ImageError(f"{source}: ELF class {raw[4]} is not 32-bit; PIC32 applications are ELF32")
    if raw[5] != 1:
        raise ImageError(f"{source}: ELF is not little-endian; PIC32 runs MIPS32 little-endian")
    try:
        elf = ELFFile(io.BytesIO(raw))
        if elf["e_machine"] != "EM_MIPS":
            raise ImageError(f"{source}: ELF machine is {elf['e_machine']}, not EM_MIPS")
        sh_end = elf["e_shoff"] + elf["e_shnum"] * elf["e_shentsize"]
        if elf["e_shnum"] and sh_end > len(raw):
            raise ImageError(f"{source}: truncated: section headers end at offset {sh_end}, file has {len(raw)} bytes")
        chunks: list[LoadChunk] = []
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or seg["p_filesz"] == 0:
                continue
            end = seg["p_offset"] + seg["p_filesz"]
            if end > len(raw):
                raise ImageError(
                    f"{source}: truncated: segment at 0x{seg['p_paddr']:08X} ends at file offset {end}, "
                    f"file has {len(raw)} bytes"
                )
            data = raw[seg["p_offset"] : end]
            chunks.extend(_split_at_window(seg["p_paddr"] & PHYS_MASK, data))
    except (ELFError, struct.error, ValueError, EOFError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(
            f"{source}: malformed ELF: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    if not chunks:
        raise ImageError(f"{source}: ELF has no loadable data (no PT_LOAD segment with file bytes)")
    return chunks
