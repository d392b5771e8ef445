"""App descriptor: layout, CRC known answer, round trip, every corruption detected, bad input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bootloader_model.errors import CallerError, DescriptorError
from bootloader_model.formats.app_descriptor import (
    BEHAVIOURS,
    BODY_OFFSET,
    DESCRIPTOR_OFFSET,
    MAGIC,
    RECORD,
    RECORD_SIZE,
    AppDescriptor,
    Behaviour,
    crc32,
    decode_record,
    encode_record,
    read_descriptor,
    read_sealed,
    seal,
)

REC = slice(DESCRIPTOR_OFFSET, DESCRIPTOR_OFFSET + RECORD_SIZE)


def _image(size: int = 0x2400, seed: int = 7) -> bytes:
    return bytes((i * 31 + seed) & 0xFF for i in range(size))


def test_crc32_known_answer() -> None:
    assert crc32(b"123456789") == 0xCBF43926


def test_crc32_continues_over_segments() -> None:
    assert crc32(b"56789", crc32(b"1234")) == crc32(b"123456789")


def test_location_and_size() -> None:
    assert DESCRIPTOR_OFFSET == 0x1800
    assert 0x1002_0000 + DESCRIPTOR_OFFSET == 0x1002_1800
    # After the BEV exception vector (0x9002_1380) and inside the reset page.
    assert 0x9002_1380 < 0x9002_0000 + DESCRIPTOR_OFFSET < 0x9002_2000 - RECORD_SIZE
    assert RECORD.size == RECORD_SIZE == 164


def test_defaults_are_mhc_defaults() -> None:
    d = AppDescriptor()
    assert (d.version, d.autoreset, d.periodic_check, d.interval_s, d.auto_update, d.num_images) == (
        1,
        True,
        True,
        60,
        True,
        2,
    )
    assert d.manifest_url == "http://192.168.43.173:8000/ota.json"
    assert d.behaviour is Behaviour.HEALTHY


def test_record_bytes_follow_documented_layout() -> None:
    d = AppDescriptor(version=0x1234, autoreset=False, interval_s=7200, num_images=5, behaviour=Behaviour.HANG_AT_BOOT)
    rec = encode_record(d, 0xABCD, 0x01020304)
    assert rec[0:4] == MAGIC
    assert struct.unpack_from("<HHI", rec, 4) == (1, RECORD_SIZE, 0x1234)
    assert rec[12:16] == bytes([0, 1, 1, 5])
    assert struct.unpack_from("<I", rec, 16)[0] == 7200
    assert rec[20] == 2 and rec[21:24] == b"\0\0\0"  # reserved, then SYS_CMD_MAX_LENGTH 0 = the default 80
    assert rec[24:152].rstrip(b"\0") == d.manifest_url.encode()
    assert struct.unpack_from("<III", rec, 152) == (0xABCD, 0x01020304, crc32(rec[:160]))


def test_seal_round_trip_and_body_fields() -> None:
    d = AppDescriptor(version=3, behaviour=Behaviour.CRASH_AT_BOOT, manifest_url="https://x/ota.json")
    image = _image()
    sealed = seal(image, d)
    assert len(sealed) == len(image)
    assert sealed[:DESCRIPTOR_OFFSET] == image[:DESCRIPTOR_OFFSET]
    assert sealed[REC.stop :] == image[REC.stop :]
    got = read_sealed(sealed)
    assert got.descriptor == d
    assert got.body_len == len(image) - BODY_OFFSET
    expected = crc32(image[REC.stop :], crc32(image[BODY_OFFSET:DESCRIPTOR_OFFSET]))
    assert got.body_crc == expected


def test_trailing_bytes_are_ignored() -> None:
    sealed = seal(_image(), AppDescriptor(version=9))
    assert read_descriptor(sealed + b"\xff" * 5000).version == 9


def test_boot_control_page_is_not_covered() -> None:
    sealed = bytearray(seal(_image(), AppDescriptor()))
    sealed[0] = 0xF8  # the bootloader rewrites the boot control page; the app is still valid
    assert read_descriptor(sealed) == AppDescriptor()


def test_url_of_128_bytes_fits_and_129_is_rejected() -> None:
    url = "http://" + "a" * 121
    assert len(url) == 128
    assert read_descriptor(seal(_image(), AppDescriptor(manifest_url=url))).manifest_url == url
    with pytest.raises(CallerError, match="at most 128"):
        AppDescriptor(manifest_url=url + "b")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"manifest_url": "http://é"}, "ASCII"),
        ({"manifest_url": "http://a\0b"}, "NUL"),
        ({"version": -1}, "version"),
        ({"version": 2**32}, "version"),
        ({"interval_s": -5}, "interval_s"),
        ({"num_images": 256}, "num_images"),
        ({"autoreset": 1}, "autoreset"),
        ({"behaviour": 7}, "behaviour"),
    ],
)
def test_bad_fields_are_caller_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(CallerError, match=match):
        AppDescriptor(**kwargs)  # type: ignore[arg-type]


def test_seal_rejects_short_image() -> None:
    with pytest.raises(CallerError, match="at least"):
        seal(bytes(DESCRIPTOR_OFFSET + RECORD_SIZE - 1), AppDescriptor())


def test_short_input_is_descriptor_error() -> None:
    sealed = seal(_image(), AppDescriptor())
    with pytest.raises(DescriptorError, match="too short"):
        read_descriptor(sealed[: REC.stop - 1])
    with pytest.raises(DescriptorError, match="too short for its body"):
        read_descriptor(sealed[:-1])
    with pytest.raises(DescriptorError, match="truncated"):
        decode_record(sealed[REC][:-1])


def test_erased_flash_has_no_descriptor() -> None:
    with pytest.raises(DescriptorError, match="magic"):
        read_descriptor(b"\xff" * 0x3000)


def _reseal_record(rec: bytearray) -> bytes:
    """Fix the record CRC after editing a field, to reach the checks behind it."""
    struct.pack_into("<I", rec, RECORD_SIZE - 4, crc32(rec[: RECORD_SIZE - 4]))
    return bytes(rec)


def test_unknown_format_version() -> None:
    rec = bytearray(encode_record(AppDescriptor(), 0x900, 0))
    rec[4] = 2
    with pytest.raises(DescriptorError, match="format 2"):
        decode_record(_reseal_record(rec))


@pytest.mark.parametrize(("offset", "value", "match"), [(12, 2, "autoreset"), (20, 3, "behaviour"), (150, 0x41, "URL")])
def test_invalid_field_values_behind_a_good_crc(offset: int, value: int, match: str) -> None:
    rec = bytearray(encode_record(AppDescriptor(manifest_url="http://a"), 0x900, 0))
    rec[offset] = value
    with pytest.raises(DescriptorError, match=match):
        decode_record(_reseal_record(rec))


def test_body_len_not_reaching_past_the_record() -> None:
    image = bytearray(seal(_image(), AppDescriptor()))
    image[REC] = encode_record(AppDescriptor(), 0x10, 0)
    with pytest.raises(DescriptorError, match="does not reach"):
        read_descriptor(image)


_SEALED = seal(_image(0x2200), AppDescriptor(version=5, behaviour=Behaviour.HANG_AT_BOOT))


@given(bit=st.integers(0, RECORD_SIZE * 8 - 1))
def test_any_bit_flip_in_the_record_is_detected(bit: int) -> None:
    image = bytearray(_SEALED)
    image[DESCRIPTOR_OFFSET + bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(DescriptorError):
        read_descriptor(image)


@given(bit=st.integers(0, (len(_SEALED) - BODY_OFFSET - RECORD_SIZE) * 8 - 1))
def test_any_bit_flip_in_the_body_is_detected(bit: int) -> None:
    image = bytearray(_SEALED)
    offset = BODY_OFFSET + bit // 8
    if offset >= DESCRIPTOR_OFFSET:
        offset += RECORD_SIZE  # skip the record: the body is everything else after 0x1000
    image[offset] ^= 1 << (bit % 8)
    with pytest.raises(DescriptorError, match="body CRC"):
        read_descriptor(image)


@given(
    version=st.integers(0, 2**32 - 1),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    interval=st.integers(0, 7200),
    num=st.integers(0, 255),
    url=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=128),
    behaviour=st.sampled_from(Behaviour),
    extra=st.integers(0, 300),
)
def test_round_trip_property(
    version: int, flags: tuple[bool, bool, bool], interval: int, num: int, url: str, behaviour: Behaviour, extra: int
) -> None:
    d = AppDescriptor(version, flags[0], flags[1], interval, flags[2], num, url, behaviour)
    assert read_descriptor(seal(_image(DESCRIPTOR_OFFSET + RECORD_SIZE + extra), d)) == d


# --- SYS_CMD_MAX_LENGTH: the console line length compiled into the application --------------------------
def test_cmd_max_length_defaults_to_80_and_is_stored_as_0() -> None:
    assert AppDescriptor().cmd_max_length == 80
    rec = encode_record(AppDescriptor(), 0x1000, 0)
    assert rec[21] == 0 and rec[22:24] == b"\0\0"  # images from before the field read the same
    assert decode_record(rec).descriptor.cmd_max_length == 80


@pytest.mark.parametrize("length", [1, 79, 81, 256, 65535])
def test_cmd_max_length_round_trips(length: int) -> None:
    d = AppDescriptor(cmd_max_length=length)
    rec = encode_record(d, 0x1000, 0)
    assert struct.unpack_from("<H", rec, 22)[0] == length
    assert read_descriptor(seal(_image(), d)).cmd_max_length == length


@pytest.mark.parametrize("length", [0, -1, 65536, True, 80.0])
def test_cmd_max_length_out_of_range_is_a_caller_error(length: object) -> None:
    with pytest.raises(CallerError, match="cmd_max_length"):
        AppDescriptor(cmd_max_length=length)  # type: ignore[arg-type]


def test_reserved_byte_must_be_zero() -> None:
    rec = bytearray(encode_record(AppDescriptor(), 0x1000, 0))
    rec[21] = 1
    rec[160:164] = struct.pack("<I", crc32(bytes(rec[:160])))
    with pytest.raises(DescriptorError, match="reserved"):
        decode_record(rec)


def test_every_behaviour_has_one_name_and_named_finds_it() -> None:
    assert list(BEHAVIOURS.values()) == list(Behaviour)
    assert [Behaviour.named(name) for name in ("healthy", "crash", "hang")] == [
        Behaviour.HEALTHY,
        Behaviour.CRASH_AT_BOOT,
        Behaviour.HANG_AT_BOOT,
    ]


@pytest.mark.parametrize("name", ["crashed", "HEALTHY", "", 1, None])
def test_an_unknown_behaviour_name_is_a_caller_error_listing_the_names(name: object) -> None:
    with pytest.raises(CallerError, match=r"unknown app behaviour .*; choose healthy, crash, hang"):
        Behaviour.named(name)  # type: ignore[arg-type]


def test_the_behaviour_names_cannot_be_changed_by_a_caller() -> None:
    with pytest.raises(TypeError):
        BEHAVIOURS["crash"] = Behaviour.HEALTHY  # type: ignore[index]
