"""``image_database.csv``: the OTA image database exactly as Harmony v3.9.1 reads and writes it.

Both firmware sides share one CSV library (``csv.c``, a libcsv derivative; the application and the
bootloader each carry a copy that differs only in its allocator and debug prints) and one thin parser
layer (``ota_database_parser.c``; the bootloader's copy casts the looked-up version to ``uint8_t`` and
starts the lowest-version scan at 255 instead of 65535). This module reproduces that behaviour byte for
byte (spec section 6):

* :func:`parse_csv` walks the bytes the way ``csv_load``/``read_next_field`` do, including their
  oddities on malformed input (text before an opening quote is dropped, junk after a closing quote is
  skipped, a NUL ends a field, one trailing ``\\n`` is swallowed, an empty file is one row with one empty
  field, ``\\r`` is an ordinary character);
* :func:`save_ops` lists the ``SYS_FS_FileWrite`` calls of ``csv_save``; :func:`saved_bytes` and
  :func:`save_db` replay them with the seek after each write done through a ``uint8_t`` counter, so the
  ``csv-seek-wrap`` corruption of files over 255 bytes happens naturally;
* :class:`ImageDb` is ``CSV_BUFFER`` with the parser-layer accessors (``GetFieldValue``,
  ``GetFieldValue_32Bit``, ``GetFieldString``, ``SetFieldValue``, ``GetImageRow``, ``OTADbDeleteEntry``),
  including ``csv_get_field``'s length limits (30 characters for numbers, 100 for strings);
* :func:`new_entry` is ``OTADbNewEntry``.

Numbers are parsed with :func:`c_strtol16`, a model of newlib's 32-bit ``strtol(s, NULL, 16)``.

Versions are written with ``sprintf("%d")`` into ``char ver[4]``. Versions above 999 overflow that
buffer in C (undefined behaviour); the model writes all the digits, i.e. assumes the bytes that spill
onto the stack survive until they are copied, and prints a ``uint32_t`` above 2**31-1 as the negative
``int`` that ``%d`` shows. Profile ``corrected`` (quirk ``db-version-decimal-hex`` off) writes ``%x``
instead, so that the hexadecimal reading everywhere else returns the true version.

Fields are Python ``str`` holding the raw bytes as Latin-1, so any byte round-trips. This module does no
boot decisions and knows nothing about boot control.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from bootloader_model.errors import CallerError
from bootloader_model.quirks import HARMONY, QuirkProfile
from bootloader_model.storage.file_api import OTA_DIR, FileSystem, FsError

DB_PATH = OTA_DIR + "/image_database.csv"
DB_NAME = "image_database.csv"

FIELD_DELIM = ord(",")
TEXT_DELIM = ord('"')
NEWLINE = ord("\n")

NUMBER_FIELD_MAX = 30  # csv_field_read_size in GetFieldValue / GetFieldValue_32Bit / GetImageRow
STRING_FIELD_MAX = 100  # csv_field_read_size in GetFieldString
APP_MIN_VERSION_START = 65535  # OTADbNewEntry's initial minimum, application copy
BOOTLOADER_MIN_VERSION_START = 255  # the bootloader copy's value (the bootloader never adds rows)

# csv_load return codes.
LOAD_OK = 0
LOAD_NOT_FOUND = 1  # SYS_FS_FileOpen failed: no file (OTA_DB_NOT_FOUND in the bootloader)
LOAD_NO_MEMORY = 2  # an allocation failed; never produced by the model
LOAD_READ_HANG = 3  # model only: a read failed before EOF; csv_load's byte loop would never end


class DbField(IntEnum):
    """``OTA_DB_FIELD_TYPE``: the five columns of a row."""

    NAME = 0
    STATUS = 1
    VERSION = 2
    TYPE = 3
    DIGEST = 4


def _latin1(data: bytes | bytearray) -> str:
    return bytes(data).decode("latin-1")


# ------------------------------------------------------------------------------------------ strtol


def c_strtol16(text: str) -> int:
    """``strtol(text, NULL, 16)`` with a 32-bit ``long``: the signed result, clamped on overflow.

    Leading C whitespace, an optional sign and an optional ``0x``/``0X`` prefix are accepted; parsing stops
    at the first non-hex character; no digits gives 0.
    """
    s = text
    i, n = 0, len(s)
    while i < n and s[i] in " \t\n\v\f\r":
        i += 1
    neg = False
    if i < n and s[i] in "+-":
        neg = s[i] == "-"
        i += 1
    if i + 1 < n and s[i] == "0" and s[i + 1] in "xX" and i + 2 < n and s[i + 2] in _HEX:
        i += 2
    value = 0
    while i < n and s[i] in _HEX:
        value = value * 16 + int(s[i], 16)
        i += 1
    if neg:
        return max(-value, -(2**31))
    return min(value, 2**31 - 1)


_HEX = frozenset("0123456789abcdefABCDEF")


def as_u32(value: int) -> int:
    """A C ``long`` stored into a ``uint32_t``."""
    return value & 0xFFFF_FFFF


def as_u8(value: int) -> int:
    """A C ``long`` cast to ``uint8_t``."""
    return value & 0xFF


# ------------------------------------------------------------------------------------------- parse


def parse_csv(data: bytes | bytearray) -> list[list[str]]:
    """The rows ``csv_load`` builds from a file's bytes (for an existing file; see :func:`load_db`)."""
    n = len(data)
    pos = 0
    rows: list[list[str]] = [[""]]  # csv_load appends the first row before reading anything
    while True:
        # --- read_next_field: the field itself
        ch = ord("a")
        in_text = esc = False
        reset = False  # a quote set the length counter back to 0: the next character restarts the text
        tmp = bytearray()
        while True:
            if pos >= n:
                break
            ch = data[pos]
            pos += 1
            add = -1
            if not in_text:
                if ch == TEXT_DELIM:
                    in_text = True
                    reset = True
                elif ch in (FIELD_DELIM, NEWLINE):
                    break
                else:
                    add = ch
            elif esc:
                esc = False
                if ch == TEXT_DELIM:
                    add = ch
                else:
                    break
            elif ch == TEXT_DELIM:
                esc = True
            else:
                add = ch
            if add >= 0:
                if reset:
                    tmp.clear()
                    reset = False
                tmp.append(add)
        value = bytes(tmp).split(b"\0", 1)[0]  # set_field copies with strlen
        rows[-1][-1] = _latin1(value)
        # --- read_next_field: skip to the next delimiter and decide what follows
        while True:
            if ch == FIELD_DELIM:
                nxt = 0
                break
            if ch == NEWLINE:
                nxt = 2 if pos >= n else 1
                break
            if pos >= n:
                nxt = 2
                break
            ch = data[pos]
            pos += 1
        if nxt == 2:
            return rows
        if nxt == 1:
            rows.append([""])
        else:
            rows[-1].append("")


# -------------------------------------------------------------------------------------------- save


def _needs_quotes(text: str) -> bool:
    return '"' in text or "," in text or "\n" in text


def save_ops(rows: Sequence[Sequence[str]]) -> list[bytes]:
    """The ``SYS_FS_FileWrite`` calls ``csv_save`` makes, in order (each one followed by a seek)."""
    ops: list[bytes] = []
    for i, row in enumerate(rows):
        for j, text in enumerate(row):
            raw = text.encode("latin-1")
            if _needs_quotes(text):
                ops.append(b'"')
                for b in raw:
                    if b == TEXT_DELIM:
                        ops.append(b'"')
                    ops.append(bytes([b]))
                ops.append(b'"')
            else:
                ops.append(raw)
            if j < len(row) - 1:
                ops.append(b",")
            elif i < len(rows) - 1:
                ops.append(b"\n")
    return ops


def render_csv(rows: Sequence[Sequence[str]]) -> bytes:
    """The bytes a correct ``csv_save`` would leave: what Harmony writes whenever the file stays under 256."""
    return b"".join(save_ops(rows))


def saved_bytes(rows: Sequence[Sequence[str]], *, seek_wrap: bool) -> bytes:
    """The file ``csv_save`` leaves behind. With ``seek_wrap`` each seek goes to the byte count modulo 256."""
    out = bytearray()
    pos = count = 0
    for chunk in save_ops(rows):
        end = pos + len(chunk)
        if end > len(out):
            out.extend(b"\0" * (end - len(out)))
        out[pos:end] = chunk
        count += len(chunk)
        pos = count & 0xFF if seek_wrap else count
    return bytes(out)


def save_db(fs: FileSystem, path: str, rows: Sequence[Sequence[str]], profile: QuirkProfile = HARMONY) -> int:
    """``csv_save`` against a real file: open WRITE (truncate), write and seek exactly as the C does.

    Returns 1 when the open fails, 0 otherwise. Write failures are ignored, as in the C code; a
    :class:`~bootloader_model.errors.PowerCut` propagates with the file as far as it got.
    """
    wrap = profile.on("csv-seek-wrap")
    try:
        fh = fs.open(path, "w")
    except FsError:
        return 1
    count = 0
    # SYS_FS_FileWrite, SYS_FS_FileSeek and SYS_FS_FileClose results are not checked.
    with contextlib.suppress(FsError):
        fh.seek(0)
    for chunk in save_ops(rows):
        with contextlib.suppress(FsError):
            fh.write(chunk)
        count += len(chunk)
        with contextlib.suppress(FsError):
            fh.seek(count & 0xFF if wrap else count)
    with contextlib.suppress(FsError):
        fh.close()
    return 0


# ---------------------------------------------------------------------------------------- database


@dataclass
class ImageDb:
    """``CSV_BUFFER`` plus the accessors of ``ota_database_parser.c``. Rows may be ragged, as in C."""

    rows: list[list[str]] = field(default_factory=list)

    @property
    def height(self) -> int:
        """``csv_get_height`` (callers that store it in ``uint8_t`` must wrap it themselves)."""
        return len(self.rows)

    def copy(self) -> ImageDb:
        return ImageDb([list(r) for r in self.rows])

    def get_field(self, row: int, entry: int, dest_len: int) -> tuple[int, str]:
        """``csv_get_field``: (0 ok | 1 truncated | 2 missing, the text truncated to ``dest_len``)."""
        if row < 0 or row >= len(self.rows) or entry < 0 or entry >= len(self.rows[row]):
            return 2, ""
        text = self.rows[row][entry]
        return (1 if len(text) > dest_len else 0), text[:dest_len]

    def field_value(self, fld: DbField, row: int) -> int | None:
        """``GetFieldValue``: the field as ``(uint8_t) strtol(.., 16)``, or None on error (status 1)."""
        rc, text = self.get_field(row, fld, NUMBER_FIELD_MAX)
        return as_u8(c_strtol16(text)) if rc == 0 else None

    def field_value_32(self, fld: DbField, row: int) -> int | None:
        """``GetFieldValue_32Bit``: the field as ``(uint32_t) strtol(.., 16)``, or None on error."""
        rc, text = self.get_field(row, fld, NUMBER_FIELD_MAX)
        return as_u32(c_strtol16(text)) if rc == 0 else None

    def field_string(self, fld: DbField, row: int) -> str | None:
        """``GetFieldString``: the text (at most 100 characters), or None on error."""
        rc, text = self.get_field(row, fld, STRING_FIELD_MAX)
        return text if rc == 0 else None

    def set_field(self, row: int, entry: int, text: str) -> None:
        """``csv_set_field``: grows the table with empty rows and fields as needed."""
        if row < 0 or entry < 0:
            raise CallerError(f"csv field ({row}, {entry}) is negative")
        while row >= len(self.rows):
            self.rows.append([""])
        while entry >= len(self.rows[row]):
            self.rows[row].append("")
        self.rows[row][entry] = text.split("\0", 1)[0]

    def set_field_value(self, fld: DbField, row: int, text: str) -> None:
        """``SetFieldValue``: whatever ``fld`` says, Harmony writes column 1 (the status)."""
        del fld
        self.set_field(row, DbField.STATUS, text)

    def remove_row(self, row: int) -> int:
        """``OTADbDeleteEntry`` / ``csv_remove_row``: -1 if there is no such row, else 0; later rows move up.

        Removing the only row leaves an empty table. (The C ``realloc(.., 0)`` there may instead keep a
        freed row around; either way the next selection falls back to the factory image.)
        """
        if row < 0 or row >= len(self.rows):
            return -1
        del self.rows[row]
        return 0

    def image_row(self, version: int, *, uint8_cast: bool) -> int:
        """``GetImageRow``: the *last* row whose hex-parsed version equals ``version``, or -1.

        ``uint8_cast`` is the bootloader copy's ``(uint8_t) strtol(...)``. The row count is held in a
        ``uint8_t``, so rows past 255 are never looked at; a missing or overlong version reads as the
        first 30 characters (or as "", i.e. 0).
        """
        selected = -1
        for r in range(len(self.rows) & 0xFF):
            _, text = self.get_field(r, DbField.VERSION, NUMBER_FIELD_MAX)
            parsed = c_strtol16(text)
            ver = as_u8(parsed) if uint8_cast else as_u32(parsed)
            if ver == (version & 0xFFFF_FFFF):
                selected = r
        return selected

    def render(self) -> bytes:
        return render_csv(self.rows)


def load_db(fs: FileSystem, path: str = DB_PATH) -> tuple[int, ImageDb]:
    """``csv_load``: (:data:`LOAD_OK`, rows), (:data:`LOAD_NOT_FOUND`, empty) when the open fails, or
    (:data:`LOAD_READ_HANG`, empty) when a read fails, where the firmware would never return."""
    try:
        fh = fs.open(path, "r")
    except FsError:
        return LOAD_NOT_FOUND, ImageDb()
    try:
        data = fh.read(fh.size())
    except FsError:
        # read_next_field ignores SYS_FS_FileRead's result and loops until SYS_FS_FileEOF: a read that
        # fails before the end never advances, so the firmware spins for ever.
        return LOAD_READ_HANG, ImageDb()
    finally:
        with contextlib.suppress(FsError):
            fh.close()
    return LOAD_OK, ImageDb(parse_csv(data))


# ------------------------------------------------------------------------------------------ writers


def c_int_decimal(value: int) -> str:
    """``sprintf("%d", (uint32_t) value)``: the 32-bit pattern shown as a signed ``int``."""
    v = value & 0xFFFF_FFFF
    return str(v - 2**32 if v >= 2**31 else v)


def version_text(version: int, profile: QuirkProfile = HARMONY) -> str:
    """The version column as ``OTADbNewEntry`` writes it (see the module notes for versions > 999)."""
    if profile.on("db-version-decimal-hex"):
        return c_int_decimal(version)
    return f"{version & 0xFFFF_FFFF:x}"


def status_text(status: int) -> str:
    """A status update as the firmware writes it: ``sprintf("%x", uint8_t)``, e.g. ``f8``."""
    return f"{status & 0xFF:x}"


NEW_ENTRY_STATUS = "FE"  # literal in OTADbNewEntry
IMAGE_TYPE_TEXT = "0x01"  # what the service passes as image_data->type


@dataclass(frozen=True)
class DbRow:
    """One well-formed row, all five fields as stored."""

    name: str
    status_text: str
    version_text: str
    type_text: str
    digest: str

    @property
    def status(self) -> int:
        """``(uint8_t) strtol(status, NULL, 16)``."""
        return as_u8(c_strtol16(self.status_text))

    @property
    def version(self) -> int:
        """``(uint32_t) strtol(version, NULL, 16)``: "10" reads as 16."""
        return as_u32(c_strtol16(self.version_text))

    def fields(self) -> list[str]:
        return [self.name, self.status_text, self.version_text, self.type_text, self.digest]

    @classmethod
    def new(
        cls, name: str, version: int, digest: str, profile: QuirkProfile = HARMONY, type_text: str = IMAGE_TYPE_TEXT
    ) -> DbRow:
        """The row ``OTADbNewEntry`` writes for a freshly downloaded image."""
        return cls(name, NEW_ENTRY_STATUS, version_text(version, profile), type_text, digest)

    @classmethod
    def from_fields(cls, fields: Sequence[str]) -> DbRow:
        if len(fields) != 5:
            raise CallerError(f"a database row has 5 fields, got {len(fields)}: {list(fields)!r}")
        return cls(*fields)


def rows_of(rows: Iterable[DbRow | Sequence[str]]) -> list[list[str]]:
    """Raw field lists from :class:`DbRow` objects or field sequences."""
    return [r.fields() if isinstance(r, DbRow) else list(r) for r in rows]


def new_entry(
    fs: FileSystem,
    image_path: str,
    version: int,
    digest: str,
    *,
    db_full: bool,
    profile: QuirkProfile = HARMONY,
    db_path: str = DB_PATH,
    type_text: str = IMAGE_TYPE_TEXT,
    min_version_start: int = APP_MIN_VERSION_START,
) -> int:
    """``OTADbNewEntry``: add (or, when ``db_full``, overwrite the lowest-version row with) a new image.

    ``image_path`` is the full path of the stored image; its part after the last ``/`` becomes the name.
    Returns 0 on success and -1 on failure (as the C function does). With ``db_full`` the scan keeps the
    first row whose hex-parsed version is below the running minimum (starting at ``min_version_start``);
    when no row is below it the entry is appended.
    """
    if "/" not in image_path:
        raise CallerError(f"image path {image_path!r} has no '/'; Harmony takes the name after the last '/'")
    rc, db = load_db(fs, db_path)
    if rc == LOAD_NOT_FOUND:
        row = 0
    elif rc == LOAD_OK:
        row = db.height
        if db_full:
            lowest = min_version_start
            for i in range(db.height & 0xFF):
                ver = db.field_value_32(DbField.VERSION, i)
                if ver is None:
                    return -1
                if lowest > ver:
                    lowest, row = ver, i
    else:  # pragma: no cover - the model never fails to allocate
        return -1
    name = image_path.rsplit("/", 1)[1]
    for col, text in enumerate(DbRow.new(name, version, digest, profile, type_text).fields()):
        db.set_field(row, col, text)
    return -1 if save_db(fs, db_path, db.rows, profile) != 0 else 0


def set_status(
    fs: FileSystem, row: int, status: int, *, profile: QuirkProfile = HARMONY, db_path: str = DB_PATH
) -> int:
    """Load, write ``%x`` of ``status`` into ``row``'s status column, save. Returns 0, or -1 if no DB."""
    rc, db = load_db(fs, db_path)
    if rc != LOAD_OK:
        return -1
    db.set_field_value(DbField.STATUS, row, status_text(status))
    return -1 if save_db(fs, db_path, db.rows, profile) != 0 else 0


def delete_row(fs: FileSystem, row: int, *, profile: QuirkProfile = HARMONY, db_path: str = DB_PATH) -> int:
    """Load, ``OTADbDeleteEntry(row)``, save. Returns 0, or -1 if there is no DB or no such row."""
    rc, db = load_db(fs, db_path)
    if rc != LOAD_OK or db.remove_row(row) != 0:
        return -1
    return -1 if save_db(fs, db_path, db.rows, profile) != 0 else 0


def get_image_row(rows: Sequence[Sequence[str]], version: int, *, uint8_cast: bool) -> int:
    """:meth:`ImageDb.image_row` on raw rows."""
    return ImageDb([list(r) for r in rows]).image_row(version, uint8_cast=uint8_cast)
