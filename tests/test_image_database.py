"""image_database.csv: Harmony's exact bytes, its parser's behaviour on odd input, and the two DB quirks."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bootloader_model.errors import CallerError
from bootloader_model.formats import image_database as db
from bootloader_model.quirks import CORRECTED, HARMONY
from bootloader_model.storage.file_api import OTA_DIR, MemoryFileSystem, read_file, write_file

DIGEST = "aff0d6d0" + "0123456789abcdef" * 3 + "89ab0b1d"
NAME = "wifi_ota_app_upgrade_ver2.bin"
IMAGE = OTA_DIR + "/" + NAME
# The spec's example row (section 6), after one download and one validated boot.
GOLDEN_VALID = f"{NAME},f8,2,0x01,{DIGEST}".encode()
GOLDEN_NEW = f"{NAME},FE,2,0x01,{DIGEST}".encode()


def fresh_fs() -> MemoryFileSystem:
    fs = MemoryFileSystem()
    fs.mkdir(OTA_DIR)
    return fs


def test_digest_fixture_is_64_hex() -> None:
    assert len(DIGEST) == 64 and all(c in "0123456789abcdef" for c in DIGEST)


# ------------------------------------------------------------------------------------ golden files


def test_new_entry_writes_harmony_bytes_for_first_image() -> None:
    fs = fresh_fs()
    assert db.new_entry(fs, IMAGE, 2, DIGEST, db_full=False) == 0
    assert read_file(fs, db.DB_PATH) == GOLDEN_NEW


def test_status_update_writes_lowercase_hex_and_gives_spec_example_row() -> None:
    fs = fresh_fs()
    db.new_entry(fs, IMAGE, 2, DIGEST, db_full=False)
    assert db.set_status(fs, 0, 0xF8) == 0
    assert read_file(fs, db.DB_PATH) == GOLDEN_VALID


def test_second_entry_is_appended_with_single_newline_and_no_trailing_newline() -> None:
    fs = fresh_fs()
    db.new_entry(fs, IMAGE, 2, DIGEST, db_full=False)
    db.new_entry(fs, OTA_DIR + "/app3.bin", 3, "ab" * 32, db_full=False)
    assert read_file(fs, db.DB_PATH) == GOLDEN_NEW + b"\napp3.bin,FE,3,0x01," + b"ab" * 32


def test_golden_row_parses_to_its_five_fields() -> None:
    fs = fresh_fs()
    write_file(fs, db.DB_PATH, GOLDEN_VALID)
    rc, table = db.load_db(fs)
    assert rc == db.LOAD_OK
    row = db.DbRow.from_fields(table.rows[0])
    assert row == db.DbRow(NAME, "f8", "2", "0x01", DIGEST)
    assert (row.status, row.version) == (0xF8, 2)
    assert table.render() == GOLDEN_VALID


def test_missing_file_loads_as_not_found_with_no_rows() -> None:
    rc, table = db.load_db(fresh_fs())
    assert (rc, table.rows) == (db.LOAD_NOT_FOUND, [])


def test_quoting_only_when_needed_and_quotes_doubled() -> None:
    rows = [["plain", 'say "hi"', "a,b", "two\nlines", ""]]
    assert db.render_csv(rows) == b'plain,"say ""hi""","a,b","two\nlines",'
    assert db.parse_csv(db.render_csv(rows)) == rows


# ------------------------------------------------------------------------------ parser behaviour


@pytest.mark.parametrize(
    ("raw", "rows"),
    [
        (b"", [[""]]),  # an empty file is one row with one empty field
        (b"a,b\n", [["a", "b"]]),  # one trailing newline is swallowed
        (b"a,b\n\n", [["a", "b"], [""]]),  # a second one is an empty row
        (b"a\r\nb", [["a\r"], ["b"]]),  # CR is an ordinary character
        (b"a,", [["a", ""]]),
        (b'ab"cd",e', [["cd", "e"]]),  # text before an opening quote is dropped
        (b'ab"",e', [["ab", "e"]]),  # ... unless the quoted part is empty
        (b'"a"junk,b', [["a", "b"]]),  # junk after a closing quote is skipped
        (b'"a,', [["a,", ""]]),  # unterminated quote ending on a comma: one more empty field
        (b'"a,b', [["a,b"]]),
        (b'"x\n', [["x\n"]]),
        (b"a\0b,c", [["a", "c"]]),  # a NUL ends the field's text
        (b'"q""q"', [['q"q']]),
    ],
)
def test_parse_matches_csv_load(raw: bytes, rows: list[list[str]]) -> None:
    assert db.parse_csv(raw) == rows


def test_empty_file_has_no_version_field() -> None:
    table = db.ImageDb(db.parse_csv(b""))
    assert table.height == 1
    assert table.field_value_32(db.DbField.VERSION, 0) is None


def test_field_readers_enforce_harmony_lengths() -> None:
    table = db.ImageDb([["n" * 100, "f" * 31, "1" * 30, "0x01", "d" * 101]])
    assert table.field_string(db.DbField.NAME, 0) == "n" * 100
    assert table.field_string(db.DbField.DIGEST, 0) is None  # over 100 characters
    assert table.field_value(db.DbField.STATUS, 0) is None  # over 30 characters
    assert table.field_value_32(db.DbField.VERSION, 0) == 0x7FFF_FFFF  # strtol clamps at LONG_MAX


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10", 16),
        ("0x1F", 31),
        ("  f8", 0xF8),
        ("-1", -1),
        ("12zz", 0x12),
        ("0x", 0),
        ("", 0),
        ("fffffffff", 2**31 - 1),
        ("-fffffffff", -(2**31)),
    ],
)
def test_strtol16(text: str, value: int) -> None:
    assert db.c_strtol16(text) == value


def test_status_and_version_casts() -> None:
    assert db.DbRow("x", "-1", "-1", "0x01", "").status == 0xFF
    assert db.DbRow("x", "1f8", "100", "0x01", "").status == 0xF8
    assert db.DbRow("x", "f8", "-1", "0x01", "").version == 0xFFFF_FFFF


# ---------------------------------------------------------------------------------- row lookup


def test_image_row_returns_last_match() -> None:
    rows = [["a", "FE", "2"], ["b", "FE", "3"], ["c", "FE", "2"]]
    assert db.get_image_row(rows, 2, uint8_cast=False) == 2
    assert db.get_image_row(rows, 4, uint8_cast=False) == -1


@pytest.mark.parametrize("profile", [HARMONY, CORRECTED], ids=lambda p: p.name)
def test_row_lookup_uint8_quirk(profile: db.QuirkProfile) -> None:
    rows = [["a", "f8", "100"]]  # written for version 100, read as 0x100
    cast = profile.on("bootloader-row-lookup-uint8")
    found = db.get_image_row(rows, 0x100, uint8_cast=cast)
    assert found == (-1 if profile is HARMONY else 0)
    # and the cast makes version 0 "match" the 0x100 row
    assert db.get_image_row(rows, 0, uint8_cast=cast) == (0 if profile is HARMONY else -1)


def test_row_lookup_skips_rows_past_255() -> None:
    rows = [["x", "FE", "1"]] * 256 + [["y", "FE", "7"]]
    assert db.get_image_row(rows, 7, uint8_cast=False) == -1


# ------------------------------------------------------------------------------- version writing


@pytest.mark.parametrize("profile", [HARMONY, CORRECTED], ids=lambda p: p.name)
def test_quirk_db_version_decimal_hex(profile: db.QuirkProfile) -> None:
    fs = fresh_fs()
    db.new_entry(fs, IMAGE, 10, DIGEST, db_full=False, profile=profile)
    row = db.DbRow.from_fields(db.load_db(fs)[1].rows[0])
    if profile is HARMONY:
        assert row.version_text == "10" and row.version == 16
    else:
        assert row.version_text == "a" and row.version == 10


def test_large_versions_write_all_digits_as_signed_int() -> None:
    assert db.version_text(1234) == "1234"
    assert db.version_text(0xFFFF_FFFF) == "-1"
    assert db.version_text(0xFFFF_FFFF, CORRECTED) == "ffffffff"


def test_new_entry_rejects_path_without_slash() -> None:
    with pytest.raises(CallerError):
        db.new_entry(fresh_fs(), "noslash.bin", 1, DIGEST, db_full=False)


def test_db_full_replaces_lowest_hex_version_row() -> None:
    fs = fresh_fs()
    write_file(fs, db.DB_PATH, b"a.bin,f8,9,0x01,d\nb.bin,FE,10,0x01,d")  # "10" reads as 16: 9 is lowest
    assert db.new_entry(fs, OTA_DIR + "/c.bin", 11, "e", db_full=True) == 0
    assert read_file(fs, db.DB_PATH) == b"c.bin,FE,11,0x01,e\nb.bin,FE,10,0x01,d"


def test_db_full_appends_when_no_version_below_start() -> None:
    fs = fresh_fs()
    write_file(fs, db.DB_PATH, b"a.bin,f8,ffff,0x01,d")
    db.new_entry(fs, OTA_DIR + "/c.bin", 3, "e", db_full=True)
    assert read_file(fs, db.DB_PATH).endswith(b"\nc.bin,FE,3,0x01,e")


def test_db_full_with_unreadable_version_fails() -> None:
    fs = fresh_fs()
    write_file(fs, db.DB_PATH, b"a.bin,f8")
    assert db.new_entry(fs, OTA_DIR + "/c.bin", 3, "e", db_full=True) == -1


def test_delete_row_shifts_rows_and_rejects_missing_rows() -> None:
    fs = fresh_fs()
    write_file(fs, db.DB_PATH, b"a,1\nb,2\nc,3")
    assert db.delete_row(fs, 1) == 0
    assert read_file(fs, db.DB_PATH) == b"a,1\nc,3"
    assert db.delete_row(fs, 5) == -1
    assert db.delete_row(fs, 0) == 0 and db.delete_row(fs, 0) == 0
    assert read_file(fs, db.DB_PATH) == b""


def test_set_field_value_always_writes_status_column() -> None:
    table = db.ImageDb([["a", "FE", "2"]])
    table.set_field_value(db.DbField.VERSION, 0, "f0")
    assert table.rows == [["a", "f0", "2"]]


def test_save_reports_open_failure() -> None:
    fs = MemoryFileSystem()  # no ota/ directory
    assert db.save_db(fs, db.DB_PATH, [["a"]]) == 1


# ------------------------------------------------------------------------------------- seek wrap


def test_seek_wrap_hand_computed() -> None:
    rows = [["a" * 250, "FE", "2", "0x01", "d" * 8]]
    # 250 + ",FE,2," reaches 256, so the seek goes back to 0 and "0x01,dddddddd" overwrites the start.
    expected = b"0x01,dddddddd" + b"a" * 237 + b",FE,2,"
    assert db.saved_bytes(rows, seek_wrap=True) == expected
    assert db.saved_bytes(rows, seek_wrap=False) == db.render_csv(rows)


@pytest.mark.parametrize("profile", [HARMONY, CORRECTED], ids=lambda p: p.name)
def test_quirk_csv_seek_wrap(profile: db.QuirkProfile) -> None:
    fs = fresh_fs()
    for v in (1, 2, 3, 4):
        db.new_entry(fs, f"{OTA_DIR}/{NAME[:-5]}{v}.bin", v, DIGEST, db_full=False, profile=profile)
    raw = read_file(fs, db.DB_PATH)
    good = db.render_csv([db.DbRow.new(f"{NAME[:-5]}{v}.bin", v, DIGEST).fields() for v in (1, 2, 3, 4)])
    assert len(good) > 256
    if profile is HARMONY:
        assert raw != good and len(raw) < len(good)
    else:
        assert raw == good


def test_three_rows_of_typical_names_stay_intact() -> None:
    # 3 rows of 104 bytes are 314 bytes, but byte 256 falls inside the last write (the third digest), so
    # the wrapped seek comes after the last write and nothing is overwritten. The fourth row corrupts.
    fs = fresh_fs()
    for v in (1, 2, 3):
        db.new_entry(fs, f"{OTA_DIR}/{NAME[:-5]}{v}.bin", v, DIGEST, db_full=False)
    assert len(read_file(fs, db.DB_PATH)) == 314
    assert [r[2] for r in db.load_db(fs)[1].rows] == ["1", "2", "3"]


def test_wrap_needs_a_write_that_starts_past_byte_255() -> None:
    short = [["n" * 200, "FE", "1", "0x01", "d" * 64]]  # the digest write starts at 211 and ends at 275
    assert db.saved_bytes(short, seek_wrap=True) == db.render_csv(short)
    longer = [*short, ["x"]]
    assert db.saved_bytes(longer, seek_wrap=True) != db.render_csv(longer)


field_text = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=255), max_size=12)
tables = st.lists(st.lists(field_text, min_size=1, max_size=6), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(tables)
def test_render_then_parse_round_trips(rows: list[list[str]]) -> None:
    assume(len(rows) == 1 or rows[-1] != [""])  # a last empty row is the swallowed trailing newline
    assert db.parse_csv(db.render_csv(rows)) == rows


@settings(max_examples=100, deadline=None)
@given(tables, st.booleans())
def test_file_api_save_equals_pure_replay(rows: list[list[str]], wrap: bool) -> None:
    fs = fresh_fs()
    profile = HARMONY if wrap else CORRECTED
    db.save_db(fs, db.DB_PATH, rows, profile)
    assert read_file(fs, db.DB_PATH) == db.saved_bytes(rows, seek_wrap=wrap)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_parser_never_raises_and_always_yields_a_row(raw: bytes) -> None:
    rows = db.parse_csv(raw)
    assert rows and all(r for r in rows)
