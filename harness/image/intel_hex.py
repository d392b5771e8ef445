"""Intel HEX -> load chunks, one per data record, parsed record by record with ``bincopy``.

``bincopy`` is used rather than ``intelhex`` because it is maintained (``intelhex`` has had no release since
2.3.0 in October 2020). Its ``unpack_ihex`` checks each record's length and checksum; this module walks the
records itself because hex2bin's window rule is per record (a record partly outside the window is dropped
whole), which a merged memory image would hide.

Addresses are used as written (Harmony's tool does not translate KSEG addresses; XC32 writes physical
ones). Record types, compared with Harmony's ``hex2bin.py``:

* 00 data, 01 end of file, 04 extended linear address: same handling;
* 02 extended segment address: Harmony's tool reports "Invalid Record Type" and writes nothing; so do we
  (:class:`ImageError`);
* 03/05 start address: Harmony's tool also refuses them; they carry no flash data, so otaloop ignores them
  (GNU ``objcopy -O ihex`` writes a 05 record; the committed fixtures have it removed so that Harmony's
  tool accepts them too);
* malformed input (bad checksum, a line not starting with ``:``, no end-of-file record): Harmony's tool
  crashes or silently stops reading; otaloop raises :class:`ImageError` naming the line.
"""

from __future__ import annotations

import bincopy

from bootloader_model.errors import ImageError
from harness.image.load_chunk import LoadChunk


def read_ihex(raw: bytes | str, *, source: str = "HEX") -> list[LoadChunk]:
    """Return every data record of an Intel HEX file as a chunk at its 32-bit address."""
    try:
        text = raw.decode("ascii") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise ImageError(f"{source}: not an Intel HEX file (non-ASCII bytes)") from None
    chunks: list[LoadChunk] = []
    upper = 0
    for number, line in enumerate(text.splitlines(), start=1):
        record = line.strip()
        if not record:
            continue
        if not record.startswith(":"):
            raise ImageError(f"{source}: line {number}: not an Intel HEX record (no leading ':')")
        try:
            type_, address, size, data = bincopy.unpack_ihex(record)
        except (bincopy.Error, ValueError) as exc:
            reason = str(exc).replace(f"record '{record}'", "record").replace(f" in record {record}", "")
            raise ImageError(f"{source}: line {number}: bad record: {reason}") from None
        if type_ == 0x00:
            chunks.append(LoadChunk(upper + address, bytes(data)))
        elif type_ == 0x01:
            return chunks
        elif type_ == 0x04:
            if size != 2:
                raise ImageError(f"{source}: line {number}: extended linear address record needs 2 data bytes")
            upper = int.from_bytes(data, "big") << 16
        elif type_ == 0x02:
            raise ImageError(
                f"{source}: line {number}: extended segment address record (type 02) is not accepted by hex2bin"
            )
        elif type_ in (0x03, 0x05):
            continue
        else:
            raise ImageError(f"{source}: line {number}: unknown record type {type_:02X}")
    raise ImageError(f"{source}: truncated Intel HEX: no end-of-file record")
