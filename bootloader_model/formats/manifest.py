"""``SYS_OTA_ParseJsonContent``: the device-side reading of ``ota.json`` (spec section 4).

Given the parsed manifest (:mod:`bootloader_model.formats.cjson`), the running version and the sticky erase flag,
it prints exactly what Harmony prints and returns what Harmony decides: "update available" (with URL, digest
and version for ``OTA_Start``), an erase request for a version, or "not available". Only the last element
of the ``ota`` array is read; lookups are cJSON's (case-insensitive, first match). Strings are the bytes
cJSON returns, held as ``str`` with one character per byte (latin-1) and printed back as the same bytes.
It does not store the URL and digest into ``OTA_PARAMS`` (where a long URL overflows: see
:class:`~bootloader_model.service.core.state.OtaParams`), does not fetch, does not compare against the DB
and knows nothing about patch, signature or file-download fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bootloader_model.formats import cjson
from bootloader_model.formats.c_string import c_bytes, from_c_bytes


@dataclass
class ParseOutcome:
    available: bool = False
    erase_version: int | None = None  # set: go to SYS_OTA_ERASE_IMAGE with this version
    url: str | None = None
    digest: str | None = None  # first 64 characters
    version: int | None = None
    erase_request: bool = False  # the new value of sys_otaData.erase_request


def _cprint(console: Callable[[bytes], None], text: str) -> None:
    """``SYS_CONSOLE_PRINT``: formatted into a 256-byte buffer, so at most 255 bytes come out."""
    console(c_bytes(text)[:255])


def _int32(value: int) -> int:
    """``%d`` of a ``uint32_t``: the same bits read as a signed 32-bit integer."""
    value &= 0xFFFF_FFFF
    return value - (1 << 32) if value & 0x8000_0000 else value


def parse_json_content(
    root: object,
    *,
    app_version: int,
    erase_request: bool,
    console: Callable[[bytes], None],
    sticky_erase: bool = True,
    unsigned_compare: bool = True,
    signed_app_version: bool = True,
    url_limit: int | None = None,
) -> ParseOutcome:
    """Decide on a manifest.

    ``sticky_erase=False`` (profile ``corrected``): an absent ``EraseVer`` clears the erase flag.
    ``unsigned_compare`` (Harmony): ``uint32_t app_version < (int) Version`` is an unsigned comparison, so
    a negative manifest version counts as newer.
    ``signed_app_version`` (Harmony): the running version is printed with ``%d``, so 2^31 and above print
    negative; ``False`` prints it unsigned.
    ``url_limit`` (profile ``corrected``): a URL of this many bytes or more is a parse error
    (``Error parsing Server app URL``) instead of being copied past the end of ``ota_server_url``.
    """
    out = ParseOutcome(erase_request=erase_request if sticky_erase else False)
    servers = cjson.object_item(root, "ota")
    data = cjson.array_item(servers, cjson.array_size(servers) - 1)
    digest = cjson.object_item(data, "Digest")
    url = cjson.object_item(data, "URL")
    version = cjson.object_item(data, "Version")
    erasever = cjson.object_item(data, "EraseVer")

    if erasever is not None:
        if not cjson.is_bool(erasever):
            _cprint(console, "SYS OTA : Erase field should be of type bool  : true or false\r\n")
            return out
        if erasever is True:
            if version is None:
                _cprint(console, "SYS OTA : version field is not present in server\r\n")
                return out
            out.erase_request = True
        else:
            out.erase_request = False

    if out.erase_request:
        if isinstance(version, cjson.CJsonNumber) and version.valueint != 0:
            _cprint(console, f"    Server app version: {version.as_c_int()}\r\n")
            out.erase_version = version.as_c_int()
        else:
            _cprint(console, "SYS OTA : Error parsing version\r\n")
        return out

    if version is None or url is None or digest is None:
        _cprint(console, "SYS OTA : Mandatory JSON fields does not exist\r\n")
        return out
    err = False
    if isinstance(url, bytes) and (url_limit is None or len(url) < url_limit):
        _cprint(console, f'    Server app URL "{from_c_bytes(url)}"\r\n')
        out.url = from_c_bytes(url)
    else:
        _cprint(console, "SYS OTA : Error parsing Server app URL\r\n")
        err = True
    if isinstance(digest, bytes):
        _cprint(console, f'    Server app Digest "{from_c_bytes(digest)}"\r\n')
        out.digest = from_c_bytes(digest[:64])
    else:
        _cprint(console, "SYS OTA : Error parsing Server app Digest\r\n")
        err = True
    if isinstance(version, cjson.CJsonNumber) and version.valueint != 0:
        _cprint(console, f"    Server app version: {version.as_c_int()}\r\n")
        shown = _int32(app_version) if signed_app_version else app_version & 0xFFFF_FFFF
        _cprint(console, f"    current app version: {shown}\r\n")
    else:
        _cprint(console, "SYS OTA : Error parsing  version\r\n")
        err = True
    if err:
        return out
    assert isinstance(version, cjson.CJsonNumber)
    server = version.as_c_int()
    if app_version < (server & 0xFFFF_FFFF if unsigned_compare else server):
        out.available = True
        out.version = server & 0xFFFF_FFFF
    return out
