"""How the OTA core reads and changes the image database (``ota_database_parser.c`` semantics, app side).

The CSV text itself (load, save, the ``uint8_t`` seek wrap) belongs to :mod:`bootloader_model.imagedb`;
this module only needs a :class:`DbBackend` that turns the file into rows and back, with ``csv_load``'s
result codes (0 loaded, 1 no such file, >1 error) and ``csv_save``'s (0 ok). On top of rows it gives the
app-side helpers with Harmony's number parsing: ``strtol(s, NULL, 16)`` for status (cut to ``uint8_t``) and
version (kept as ``uint32_t``), the new-entry rule (append, or when the DB was full at boot overwrite the
lowest hex-parsed version, scanning from 65535), and the status update that always writes column 1.

It does not decide when any of this happens; :mod:`bootloader_model.otacore` does.
"""

from __future__ import annotations

import re
from typing import Protocol

from .fs import FileSystem

DB_PATH = "/mnt/myDrive1/ota/image_database.csv"

# OTA_DB_FIELD_TYPE
NAME, STATUS, VERSION, TYPE, DIGEST = range(5)
IMAGE_TYPE = "0x01"
STATUS_DOWNLOADED_TEXT = "FE"

Rows = list[list[str]]


class DbBackend(Protocol):
    """The CSV file as rows (``csv_load`` / ``csv_save``)."""

    def load(self, fs: FileSystem, path: str) -> tuple[int, Rows]: ...
    def save(self, fs: FileSystem, path: str, rows: Rows) -> int: ...


_STRTOL = re.compile(r"\s*([+-]?)(?:0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]*)")
LONG_MAX = 2**31 - 1


def strtol16(text: str) -> int:
    """``strtol(text, NULL, 16)`` with a 32-bit ``long`` (PIC32): saturates at LONG_MIN / LONG_MAX."""
    m = _STRTOL.match(text)
    assert m is not None
    digits = m.group(2)
    if not digits:
        return 0
    value = int(digits, 16)
    if m.group(1) == "-":
        return -min(value, LONG_MAX + 1)
    return min(value, LONG_MAX)


def field(rows: Rows, row: int, col: int) -> str | None:
    """``csv_get_field``: ``None`` where it fails (no such row or column)."""
    if 0 <= row < len(rows) and 0 <= col < len(rows[row]):
        return rows[row][col]
    return None


def status_of(rows: Rows, row: int) -> int | None:
    """``GetFieldValue(STATUS)``: hex, cut to ``uint8_t``."""
    text = field(rows, row, STATUS)
    return None if text is None else strtol16(text[:30]) & 0xFF


def version_of(rows: Rows, row: int) -> int | None:
    """``GetFieldValue_32Bit(VERSION)``: hex-parsed, as ``uint32_t``."""
    text = field(rows, row, VERSION)
    return None if text is None else strtol16(text[:30]) & 0xFFFF_FFFF


def total_images(rows: Rows) -> int:
    """``GetTotalImgs``: the height as ``uint8_t``."""
    return len(rows) & 0xFF


def image_row(rows: Rows, version: int) -> int:
    """``GetImageRow`` (app side): the *last* row whose hex-parsed version equals ``version``, else -1."""
    selected = -1
    for r in range(total_images(rows)):
        text = field(rows, r, VERSION) or ""
        if strtol16(text[:30]) & 0xFFFF_FFFF == version & 0xFFFF_FFFF:
            selected = r
    return selected


def new_entry_row(rows: Rows, db_full: bool) -> int:
    """The row ``OTADbNewEntry`` writes: the height, or with ``db_full`` the lowest version (from 65535)."""
    row = len(rows)
    if db_full:
        lowest = 65535
        for i in range(total_images(rows)):
            ver = version_of(rows, i)
            if ver is None:
                return -1
            if lowest > ver:
                lowest, row = ver, i
    return row


def set_row(rows: Rows, row: int, values: list[str]) -> None:
    """``csv_set_field`` for a whole row, growing the table as the CSV library does."""
    while len(rows) <= row:
        rows.append([])
    cur = rows[row]
    while len(cur) < len(values):
        cur.append("")
    cur[: len(values)] = values


def version_text(version: int) -> str:
    """``sprintf(ver, "%d", version)``: signed decimal. Versions over 999 overflow Harmony's ``char[4]``;
    what that does to the stack is not modelled, the full text is written."""
    v = version & 0xFFFF_FFFF
    return str(v - 2**32 if v >= 2**31 else v)
