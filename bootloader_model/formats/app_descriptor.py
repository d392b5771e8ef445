"""The app descriptor: the record inside an application image that says what the virtual CPU "runs".

The virtual board cannot execute MIPS code. After the bootloader jumps to the application, what happens
is decided by a small, CRC-protected, little-endian record that every image (synthetic or built from C)
carries at offset :data:`DESCRIPTOR_OFFSET` of its OTA ``.bin``: physical 0x1002_1800, KSEG0 0x9002_1800,
inside the application's reset page just after the BEV exception vector at 0x9002_1380.

The record holds the compile-time application version (``SYS_OTA_APP_VER_NUM``), the MHC options compiled
into that application (the OTA service's, and SYS_COMMAND's ``SYS_CMD_MAX_LENGTH``), a behaviour (healthy,
crash at boot, hang at boot), and the length and CRC-32 of
the image *body*: the ``.bin`` bytes ``[0x1000, 0x1000 + body_len)`` excluding the record itself. A torn,
half-programmed or corrupted image therefore fails :func:`read_descriptor`, and the virtual CPU behaves as
garbage code would. The byte layout is documented in ``docs/app-descriptor.md``.

This is an otaloop convention, not a Harmony format: Harmony images carry no header, magic or CRC
(spec section 5). This module only encodes and decodes; it does not decide what a behaviour does.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import NamedTuple

from bootloader_model.errors import CallerError, DescriptorError

#: Offset of the record in the OTA ``.bin`` (physical 0x1002_1800, KSEG0 0x9002_1800).
DESCRIPTOR_OFFSET = 0x1800
#: Offset in the ``.bin`` where the application (and so the body) starts: the reset address 0x9002_1000.
BODY_OFFSET = 0x1000
MAGIC = b"OTLD"
FORMAT_VERSION = 1
URL_FIELD_SIZE = 128
#: SYS_COMMAND's default ``SYS_CMD_MAX_LENGTH``; the record stores it as 0 (see :func:`encode_record`).
DEFAULT_CMD_MAX_LENGTH = 80

#: The one layout used to encode and decode (little-endian, no implicit padding).
RECORD = struct.Struct(
    "<4s"  # magic "OTLD"
    "H"  # format version
    "H"  # record size in bytes (including the record CRC)
    "I"  # application version, SYS_OTA_APP_VER_NUM
    "B"  # SYS_OTA_AUTORESET_ENABLE (0/1)
    "B"  # SYS_OTA_PERODIC_UPDATE (0/1)
    "B"  # SYS_OTA_AUTOUPDATE_ENABLE (0/1)
    "B"  # SYS_OTA_NUM_IMGS
    "I"  # SYS_OTA_TIME_INTERVAL, seconds
    "B"  # behaviour
    "B"  # reserved, zero
    "H"  # SYS_CMD_MAX_LENGTH; 0 stands for the default, 80
    f"{URL_FIELD_SIZE}s"  # SYS_OTA_URL, ASCII, NUL-padded
    "I"  # body length in bytes, counted from .bin offset 0x1000
    "I"  # CRC-32 of the body, record bytes excluded
    "I"  # CRC-32 of every record byte before this field
)
RECORD_SIZE = RECORD.size
_CRC_SPAN = RECORD_SIZE - 4


def crc32(data: bytes | bytearray | memoryview, crc: int | None = None) -> int:
    """CRC-32 (IEEE 802.3); pass a previous result as ``crc`` to continue over more data."""
    # zlib's crc32 reads any buffer (slices of a flash window are not copied) and, with its folded tables,
    # checks a full 0xDF000-byte slot about 8x faster than crcmod's C extension did: every boot of the
    # virtual board and every judged power-cut state runs it.
    return zlib.crc32(data) if crc is None else zlib.crc32(data, crc)


class Behaviour(IntEnum):
    """What the virtual application does once the bootloader has jumped to it."""

    HEALTHY = 0
    CRASH_AT_BOOT = 1
    HANG_AT_BOOT = 2

    @classmethod
    def named(cls, name: str) -> Behaviour:
        """The behaviour a user names (``healthy``, ``crash`` or ``hang``; see :data:`BEHAVIOURS`).

        Args:
            name: the short name, as ``otaloop image --behaviour`` and the sweeps' ``--v2`` take it.

        Returns:
            The behaviour of that name.

        Raises:
            CallerError: no behaviour has that name.
        """
        try:
            return BEHAVIOURS[name]
        except (KeyError, TypeError):
            raise CallerError(f"unknown app behaviour {name!r}; choose {', '.join(BEHAVIOURS)}") from None


#: Each behaviour by the short name users type (``otaloop image --behaviour``, a sweep's ``--v2``, fuzzing's
#: image specs), in the order of the enum. The one table of these names.
BEHAVIOURS: Mapping[str, Behaviour] = MappingProxyType(
    {"healthy": Behaviour.HEALTHY, "crash": Behaviour.CRASH_AT_BOOT, "hang": Behaviour.HANG_AT_BOOT}
)


@dataclass(frozen=True)
class AppDescriptor:
    """The application facts a real image would carry in its code; defaults are Harmony's MHC defaults."""

    version: int = 1
    autoreset: bool = True
    periodic_check: bool = True
    interval_s: int = 60
    auto_update: bool = True
    num_images: int = 2
    manifest_url: str = "http://192.168.43.173:8000/ota.json"
    behaviour: Behaviour = Behaviour.HEALTHY
    cmd_max_length: int = DEFAULT_CMD_MAX_LENGTH  # SYS_CMD_MAX_LENGTH: longest console line, in characters

    def __post_init__(self) -> None:
        for name in ("version", "interval_s"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 0xFFFF_FFFF:
                raise CallerError(f"app descriptor {name} must be an integer 0..4294967295, got {value!r}")
        if not isinstance(self.num_images, int) or isinstance(self.num_images, bool) or not 0 <= self.num_images <= 255:
            raise CallerError(f"app descriptor num_images must be an integer 0..255, got {self.num_images!r}")
        n = self.cmd_max_length
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 0xFFFF:
            raise CallerError(
                f"app descriptor cmd_max_length (SYS_CMD_MAX_LENGTH) must be an integer 1..65535, got {n!r}"
            )
        for name in ("autoreset", "periodic_check", "auto_update"):
            if not isinstance(getattr(self, name), bool):
                raise CallerError(f"app descriptor {name} must be a bool, got {getattr(self, name)!r}")
        try:
            object.__setattr__(self, "behaviour", Behaviour(self.behaviour))
        except ValueError:
            raise CallerError(f"unknown app behaviour {self.behaviour!r}; choose 0, 1 or 2") from None
        _url_field(self.manifest_url)


class SealedRecord(NamedTuple):
    """A decoded record: the descriptor plus the body it vouches for."""

    descriptor: AppDescriptor
    body_len: int
    body_crc: int


def _url_field(url: str) -> bytes:
    if not isinstance(url, str):
        raise CallerError(f"manifest URL must be a string, got {url!r}")
    try:
        raw = url.encode("ascii")
    except UnicodeEncodeError:
        raise CallerError(f"manifest URL must be ASCII: {url!r}") from None
    if b"\0" in raw:
        raise CallerError("manifest URL must not contain NUL")
    if len(raw) > URL_FIELD_SIZE:
        raise CallerError(f"manifest URL is {len(raw)} bytes; the descriptor field holds at most {URL_FIELD_SIZE}")
    return raw


def encode_record(desc: AppDescriptor, body_len: int, body_crc: int) -> bytes:
    """Return the :data:`RECORD_SIZE` bytes of a record, its own CRC included.

    ``SYS_CMD_MAX_LENGTH`` is written as 0 when it is the default 80, so records made before the field
    existed (reserved bytes, all zero) and records of default builds are the same bytes.
    """
    if not 0 <= body_len <= 0xFFFF_FFFF or not 0 <= body_crc <= 0xFFFF_FFFF:
        raise CallerError("body length and CRC must fit in 32 bits")
    head = RECORD.pack(
        MAGIC,
        FORMAT_VERSION,
        RECORD_SIZE,
        desc.version,
        int(desc.autoreset),
        int(desc.periodic_check),
        int(desc.auto_update),
        desc.num_images,
        desc.interval_s,
        int(desc.behaviour),
        0,
        0 if desc.cmd_max_length == DEFAULT_CMD_MAX_LENGTH else desc.cmd_max_length,
        _url_field(desc.manifest_url),
        body_len,
        body_crc,
        0,
    )
    return head[:_CRC_SPAN] + struct.pack("<I", crc32(head[:_CRC_SPAN]))


def decode_record(record: bytes | bytearray | memoryview) -> SealedRecord:
    """Decode and check one record (magic, format version, size, record CRC, field ranges)."""
    raw = bytes(record[:RECORD_SIZE])
    if len(raw) < RECORD_SIZE:
        raise DescriptorError(f"app descriptor truncated: {len(raw)} of {RECORD_SIZE} bytes")
    (magic, fmt, size, version, autoreset, periodic, autoupdate, num, interval, behaviour, reserved, cmd_len, url,
     body_len, body_crc, rec_crc) = RECORD.unpack(raw)  # fmt: skip
    if magic != MAGIC:
        raise DescriptorError(f"no app descriptor: magic {magic.hex()} is not {MAGIC.hex()} ({MAGIC.decode()})")
    if fmt != FORMAT_VERSION or size != RECORD_SIZE:
        raise DescriptorError(f"unknown app descriptor format {fmt} (size {size}); this otaloop reads format 1")
    if crc32(raw[:_CRC_SPAN]) != rec_crc:
        raise DescriptorError(f"app descriptor record CRC mismatch (stored {rec_crc:08x})")
    flags = {"autoreset": autoreset, "periodic check": periodic, "auto update": autoupdate}
    for name, value in flags.items():
        if value > 1:
            raise DescriptorError(f"app descriptor {name} flag is {value}, not 0 or 1")
    if behaviour not in Behaviour._value2member_map_:
        raise DescriptorError(f"app descriptor behaviour {behaviour} is unknown")
    if reserved:
        raise DescriptorError(f"app descriptor reserved byte is {reserved}, not 0")
    text, _, pad = url.partition(b"\0")
    if pad.strip(b"\0") or not text.isascii():
        raise DescriptorError("app descriptor manifest URL is not NUL-padded ASCII")
    desc = AppDescriptor(
        version=version,
        autoreset=bool(autoreset),
        periodic_check=bool(periodic),
        interval_s=interval,
        auto_update=bool(autoupdate),
        num_images=num,
        manifest_url=text.decode("ascii"),
        behaviour=Behaviour(behaviour),
        cmd_max_length=cmd_len or DEFAULT_CMD_MAX_LENGTH,
    )
    return SealedRecord(desc, body_len, body_crc)


def body_crc(image: bytes | bytearray | memoryview, body_len: int) -> int:
    """CRC-32 of ``image[0x1000 : 0x1000 + body_len]`` with the record's own bytes left out."""
    end = BODY_OFFSET + body_len
    rec_end = DESCRIPTOR_OFFSET + RECORD_SIZE
    if body_len < rec_end - BODY_OFFSET:
        raise DescriptorError(f"app descriptor body length {body_len} does not reach past the descriptor")
    if end > len(image):
        raise DescriptorError(f"image too short for its body: {len(image)} bytes, body ends at {end}")
    view = memoryview(image)
    return crc32(view[rec_end:end], crc32(view[BODY_OFFSET:DESCRIPTOR_OFFSET]))


def seal(image: bytes | bytearray, desc: AppDescriptor) -> bytes:
    """Write ``desc`` into a copy of ``image`` at :data:`DESCRIPTOR_OFFSET`, covering everything after 0x1000.

    ``image`` is an OTA ``.bin`` (offset 0 = physical 0x1002_0000). The body is the rest of the image from
    0x1000; its length and CRC go into the record, and the record's own CRC closes it.
    """
    if len(image) < DESCRIPTOR_OFFSET + RECORD_SIZE:
        raise CallerError(
            f"image is {len(image)} bytes; it needs at least {DESCRIPTOR_OFFSET + RECORD_SIZE} to hold the descriptor"
        )
    body_len = len(image) - BODY_OFFSET
    out = bytearray(image)
    out[DESCRIPTOR_OFFSET : DESCRIPTOR_OFFSET + RECORD_SIZE] = bytes(RECORD_SIZE)
    record = encode_record(desc, body_len, body_crc(out, body_len))
    out[DESCRIPTOR_OFFSET : DESCRIPTOR_OFFSET + RECORD_SIZE] = record
    return bytes(out)


def read_sealed(image_or_flash_window: bytes | bytearray | memoryview) -> SealedRecord:
    """Like :func:`read_descriptor` but also return the body length and CRC."""
    data = memoryview(image_or_flash_window)
    if len(data) < DESCRIPTOR_OFFSET + RECORD_SIZE:
        raise DescriptorError(
            f"image too short for an app descriptor: {len(data)} bytes, need {DESCRIPTOR_OFFSET + RECORD_SIZE}"
        )
    sealed = decode_record(data[DESCRIPTOR_OFFSET : DESCRIPTOR_OFFSET + RECORD_SIZE])
    actual = body_crc(data, sealed.body_len)
    if actual != sealed.body_crc:
        raise DescriptorError(f"app body CRC mismatch: stored {sealed.body_crc:08x}, computed {actual:08x}")
    return sealed


def read_descriptor(image_or_flash_window: bytes | bytearray | memoryview) -> AppDescriptor:
    """Return the descriptor of an OTA ``.bin`` or of flash read from physical 0x1002_0000 onward.

    Raises :class:`DescriptorError` for short input, bad magic, unknown format, a record CRC or body CRC
    mismatch. Trailing bytes past the body (a factory image's 0xFF fill, the rest of flash) are ignored.
    """
    return read_sealed(image_or_flash_window).descriptor
