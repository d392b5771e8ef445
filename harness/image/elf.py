"""Application ELF -> load chunks at physical addresses, with pyelftools.

The image is built from sections, as ``objcopy -O ihex`` / ``-O binary`` build theirs: every allocated
section with file contents (``SHF_ALLOC`` and not ``SHT_NOBITS``: ``.text``, ``.rodata``, ``.data``, ...)
contributes its bytes at its load address (LMA). ``.bss`` and other NOBITS sections contribute nothing,
and neither do the bytes between two sections of one segment (alignment padding): those are not in the
HEX file either, so hex2bin leaves them 0xFF. A section's LMA comes from the PT_LOAD segment that holds
it (``p_paddr`` plus its offset in the segment), else its address; addresses are translated from
KSEG0/KSEG1 to physical with ``addr & 0x1FFFFFFF``, as PIC32's fixed mapping does. An ELF without
section headers falls back to its PT_LOAD segments' file bytes. A chunk that crosses the hex2bin window
boundary is split there, so the part inside is kept: this equals hex2bin on a HEX file with a record
boundary at the window edge.

This module accepts only 32-bit little-endian MIPS ELF files (PIC32MZ) and does not relocate anything.
"""

from __future__ import annotations

import io
import itertools
import struct

from elftools.common.exceptions import ELFError
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import Section
from elftools.elf.segments import Segment

from bootloader_model.errors import ImageError
from bootloader_model.formats.app_image import SLOT_START
from harness.image.load_chunk import SLOT_END, LoadChunk

PHYS_MASK = 0x1FFF_FFFF
SHF_ALLOC = SH_FLAGS.SHF_ALLOC


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
        segments = [seg for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD"]
        chunks: list[LoadChunk] = []
        if elf["e_shnum"]:
            for sec in elf.iter_sections():
                if not sec["sh_flags"] & SHF_ALLOC or sec["sh_type"] == "SHT_NOBITS" or sec["sh_size"] == 0:
                    continue
                end = sec["sh_offset"] + sec["sh_size"]
                if end > len(raw):
                    raise ImageError(
                        f"{source}: truncated: section {sec.name or '?'} ends at file offset {end}, "
                        f"file has {len(raw)} bytes"
                    )
                address = _load_address(sec, segments)
                chunks.extend(_split_at_window(address & PHYS_MASK, raw[sec["sh_offset"] : end]))
        else:
            for seg in segments:
                if seg["p_filesz"] == 0:
                    continue
                end = seg["p_offset"] + seg["p_filesz"]
                if end > len(raw):
                    raise ImageError(
                        f"{source}: truncated: segment at 0x{seg['p_paddr']:08X} ends at file offset {end}, "
                        f"file has {len(raw)} bytes"
                    )
                chunks.extend(_split_at_window(seg["p_paddr"] & PHYS_MASK, raw[seg["p_offset"] : end]))
    except (ELFError, struct.error, ValueError, EOFError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(
            f"{source}: malformed ELF: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    if not chunks:
        raise ImageError(f"{source}: ELF has no loadable data (no allocated section or segment with file bytes)")
    return sorted(chunks, key=lambda c: c.address)


def _load_address(sec: Section, segments: list[Segment]) -> int:
    """The section's LMA: where the PT_LOAD segment holding its file bytes loads them, else its address."""
    off, size = sec["sh_offset"], sec["sh_size"]
    for seg in segments:
        if seg["p_offset"] <= off and off + size <= seg["p_offset"] + seg["p_filesz"]:
            return int(seg["p_paddr"]) + off - int(seg["p_offset"])
    return int(sec["sh_addr"])
