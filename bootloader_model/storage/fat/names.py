"""File names on a FAT volume: long names, their 8.3 short aliases, and the LFN entry chain.

The rules follow FatFs with ``FF_USE_LFN`` on and code page 437 (what Harmony builds):

* a name that is a valid 8.3 name in one case per part (``ota``, ``FACTORY.BIN``) is stored as a short
  entry only, with the NT case flags remembering a lower-case body or extension;
* any other name gets LFN entries plus a short alias. When the alias loses information (too long, spaces,
  extra dots, characters not allowed in 8.3) it carries a numeric tail ``~1`` .. ``~5``, then a hex hash
  of the long name, as FatFs's ``gen_numname`` makes it.

What it does not do: code pages other than ASCII (non-ASCII characters become ``_`` in the alias) or
DBCS. Lookups are case-insensitive (ASCII upper-casing, as FatFs's ``ff_wtoupper`` for ASCII).
"""

from __future__ import annotations

from bootloader_model.storage.fat.layout import (
    ATTR_LFN,
    DELETED,
    LFN_CHARS,
    LFN_LAST,
    LFNENT,
    NT_LOWER_BODY,
    NT_LOWER_EXT,
    LfnEnt,
)
from bootloader_model.storage.file_api import FsError

MAX_LFN = 255
_BAD_LFN = set('"*:<>?|\\/\x7f') | {chr(c) for c in range(0x20)}
_BAD_SFN = set("+,;=[]")


def check_name(name: str) -> str:
    """Validate one path component and strip trailing dots and spaces, as FatFs does."""
    stripped = name.rstrip(" .")
    if not stripped or name in (".", "..") or len(stripped) > MAX_LFN or _BAD_LFN & set(stripped):
        raise FsError(f"{name!r}: invalid file name")
    try:
        stripped.encode("utf-16-le")
    except UnicodeEncodeError:
        raise FsError(f"{name!r}: invalid file name") from None
    return stripped


def short_form(name: str) -> tuple[bytes, int, bool, bool]:
    """Return (11-byte basis, NT case flags, needs LFN entries, lossy) for a checked long name."""
    lossy = False
    body_src = name.lstrip(" .")
    if body_src != name:
        lossy = True
    dot = body_src.rfind(".")
    body_part, ext_part = (body_src[:dot], body_src[dot + 1 :]) if dot > 0 else (body_src, "")
    cases = {"body": 0, "ext": 0}  # bit 1 = lower seen, bit 2 = upper seen

    def convert(part: str, limit: int, which: str) -> bytes:
        nonlocal lossy
        out = bytearray()
        for ch in part:
            if ch in " .":
                lossy = True
                continue
            if ord(ch) >= 0x80 or ch in _BAD_SFN:
                lossy = True
                ch = "_"
            elif ch.isalpha():
                cases[which] |= 1 if ch.islower() else 2
                ch = ch.upper()
            if len(out) >= limit:
                lossy = True
                break
            out.append(ord(ch))
        return bytes(out)

    body = convert(body_part, 8, "body")
    ext = convert(ext_part, 3, "ext")
    if not body:
        lossy = True
        body = b"_"
    basis = body.ljust(8) + ext.ljust(3)
    if basis[0] == DELETED:
        basis = b"\x05" + basis[1:]
    mixed = cases["body"] == 3 or cases["ext"] == 3
    nt = 0
    if not mixed:
        nt |= NT_LOWER_BODY if cases["body"] == 1 else 0
        nt |= NT_LOWER_EXT if cases["ext"] == 1 else 0
    needs_lfn = lossy or mixed
    return basis, (0 if needs_lfn else nt), needs_lfn, lossy


def numbered(basis: bytes, name: str, seq: int) -> bytes:
    """The alias with numeric tail number ``seq`` (1-based); past 5 the number is a hash of the name."""
    if seq > 5:
        reg = seq
        for ch in name.encode("utf-16-le")[::2]:
            wc = ch
            for _ in range(16):
                reg = (reg << 1) + (wc & 1)
                wc >>= 1
                if reg & 0x10000:
                    reg ^= 0x11021
        seq = reg
    tail = ("~" + format(seq, "X")).encode()
    body = basis[:8].rstrip(b" ")[: 8 - len(tail)]
    return (body + tail).ljust(8) + basis[8:]


def display_name(short: bytes, nt_case: int) -> str:
    """The name a short-only entry shows: ``OTA`` with the lower-body flag reads ``ota``."""
    raw = bytes((0xE5,)) + short[1:] if short[0] == 0x05 else short
    body = raw[:8].rstrip(b" ").decode("latin-1")
    ext = raw[8:].rstrip(b" ").decode("latin-1")
    if nt_case & NT_LOWER_BODY:
        body = body.lower()
    if nt_case & NT_LOWER_EXT:
        ext = ext.lower()
    return f"{body}.{ext}" if ext else body


def lfn_entries(name: str, checksum: int) -> list[bytes]:
    """The LFN entries for ``name``, in on-disk order (last part first)."""
    units = name.encode("utf-16-le")
    count = (len(units) // 2 + LFN_CHARS - 1) // LFN_CHARS
    padded = units + (b"\x00\x00" if len(units) // 2 % LFN_CHARS else b"")
    padded = padded.ljust(count * LFN_CHARS * 2, b"\xff")
    out = []
    for i in range(count, 0, -1):
        part = padded[(i - 1) * LFN_CHARS * 2 : i * LFN_CHARS * 2]
        order = i | (LFN_LAST if i == count else 0)
        out.append(LFNENT.pack(*LfnEnt(order, part[0:10], ATTR_LFN, 0, checksum, part[10:22], 0, part[22:26])))
    return out


def lfn_part(raw: bytes) -> tuple[int, int, str]:
    """Decode one LFN entry into (order, checksum, its up to 13 characters)."""
    e = LfnEnt(*LFNENT.unpack(raw))
    chars = (e.name1 + e.name2 + e.name3).decode("utf-16-le", errors="replace")
    end = chars.find("\x00")
    return e.order, e.checksum, chars if end < 0 else chars[:end]


def same_name(a: str, b: str) -> bool:
    return a.upper() == b.upper()
