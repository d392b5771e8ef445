"""cJSON-compatible parsing and the device-side manifest rules (spec section 4)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bootloader_model.formats import cjson
from bootloader_model.formats.manifest import parse_json_content


def decide(text: bytes, app_version: int = 1, erase_request: bool = False, **kw: bool) -> tuple[object, list[str]]:
    out = bytearray()
    root = cjson.parse(text)
    assert root is not None
    res = parse_json_content(root, app_version=app_version, erase_request=erase_request, console=out.extend, **kw)
    return res, [ln for ln in out.decode().split("\r\n") if ln]


def test_cjson_lookup_is_case_insensitive_and_first_match() -> None:
    root = cjson.parse(b'{"version": 3, "VERSION": 4, "Version": 5}')
    v = cjson.object_item(root, "Version")
    assert isinstance(v, cjson.CJsonNumber) and v.valuedouble == 3


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        (b'{"a":1} trailing garbage', True),  # cJSON_Parse does not require the end of input
        (b'{"a":1}\x00{{{', True),  # the C string ends at NUL
        (b"\xef\xbb\xbf{}", True),
        (b'{"a":01}', True),
        (b'{"a":1.}', True),
        (b'{"a":NaN}', False),
        (b'{"a":Infinity}', False),
        (b'{"a":"x\x01y"}', True),  # raw control characters in strings
        (b'{"a":"\\q"}', False),
        (b'{"a":1,}', False),
        (b"", False),
        (b"   ", False),
        (b'{"a":[1,2,]}', False),
    ],
)
def test_cjson_acceptance(text: bytes, ok: bool) -> None:
    assert (cjson.parse(text) is not None) is ok


def test_valueint_saturates_and_truncates() -> None:
    assert cjson.CJsonNumber(3.9).valueint == 3
    assert cjson.CJsonNumber(-3.9).valueint == -3
    assert cjson.CJsonNumber(1e12).valueint == 2**31 - 1
    assert cjson.CJsonNumber(-1e12).valueint == -(2**31)


_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8
)  # NUL ends a C string; cJSON refuses lone surrogates


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(10**6), 10**6) | _TEXT,
        lambda c: st.lists(c, max_size=4) | st.dictionaries(_TEXT, c, max_size=4),
        max_leaves=12,
    )
)
@settings(max_examples=60, deadline=None)
def test_cjson_reads_what_json_writes(value: object) -> None:
    parsed = cjson.parse(json.dumps(value).encode())
    assert parsed is not None

    def plain(v: object) -> object:
        if isinstance(v, cjson.CJsonNumber):
            return v.valuedouble
        if isinstance(v, cjson.CJsonObject):
            return {k.decode(): plain(x) for k, x in reversed(v.members)}  # first member wins lookups
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, bytes):
            return v.decode()  # json.dumps escapes non-ASCII as \\uXXXX, which cJSON turns into UTF-8
        return None if v is cjson.NULL else v

    def norm(v: object) -> object:
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, int):
            return float(v)
        if isinstance(v, list):
            return [norm(x) for x in v]
        assert isinstance(v, dict)
        return {k: norm(x) for k, x in v.items()}

    assert plain(parsed) == norm(value)


def test_only_the_last_ota_element_counts() -> None:
    text = b'{"ota":[{"Version":9,"URL":"http://h/a.bin","Digest":"aa"},{"Version":2,"URL":"http://h/b.bin","Digest":"bb"}]}'
    res, lines = decide(text)
    assert res.available and res.version == 2 and res.url == "http://h/b.bin"  # type: ignore[attr-defined]
    assert lines == [
        '    Server app URL "http://h/b.bin"',
        '    Server app Digest "bb"',
        "    Server app version: 2",
        "    current app version: 1",
    ]


@pytest.mark.parametrize(
    ("entry", "line"),
    [
        ('"Version":2,"URL":"http://h/a.bin"', "SYS OTA : Mandatory JSON fields does not exist"),
        ('"Version":2,"URL":5,"Digest":"aa"', "SYS OTA : Error parsing Server app URL"),
        ('"Version":2,"URL":"http://h/a.bin","Digest":null', "SYS OTA : Error parsing Server app Digest"),
        ('"Version":"2","URL":"http://h/a.bin","Digest":"aa"', "SYS OTA : Error parsing  version"),
        ('"Version":0,"URL":"http://h/a.bin","Digest":"aa"', "SYS OTA : Error parsing  version"),
        (
            '"Version":2,"URL":"u","Digest":"aa","EraseVer":1',
            "SYS OTA : Erase field should be of type bool  : true or false",
        ),
        ('"URL":"u","Digest":"aa","EraseVer":true', "SYS OTA : version field is not present in server"),
        ('"Version":"x","EraseVer":true', "SYS OTA : Error parsing version"),
    ],
)
def test_parse_errors_are_not_available(entry: str, line: str) -> None:
    res, lines = decide(('{"ota":[{' + entry + "}]}").encode())
    assert not res.available and line in lines  # type: ignore[attr-defined]


def test_equal_or_older_is_not_available_and_versions_truncate() -> None:
    res, _ = decide(b'{"ota":[{"Version":2.9,"URL":"u","Digest":"d"}]}', app_version=2)
    assert not res.available  # type: ignore[attr-defined]


def test_erase_request_and_sticky_flag() -> None:
    res, lines = decide(b'{"ota":[{"Version":3,"EraseVer":true}]}')
    assert res.erase_version == 3 and res.erase_request and lines == ["    Server app version: 3"]  # type: ignore[attr-defined]
    normal = b'{"ota":[{"Version":2,"URL":"u","Digest":"d"}]}'
    res, _ = decide(normal, erase_request=True)
    assert res.erase_version == 2 and res.erase_request  # type: ignore[attr-defined]
    res, _ = decide(normal, erase_request=True, sticky_erase=False)
    assert res.erase_version is None and res.available  # type: ignore[attr-defined]


def test_nul_escape_ends_the_string() -> None:
    assert cjson.object_item(cjson.parse(b'{"a":"ab\\u0000cd"}'), "a") == b"ab"


def test_long_print_is_cut_at_255_bytes() -> None:
    url = "http://h/" + "x" * 400 + ".bin"
    out = bytearray()
    root = cjson.parse(json.dumps({"ota": [{"Version": 2, "URL": url, "Digest": "d"}]}).encode())
    parse_json_content(root, app_version=1, erase_request=False, console=out.extend)
    assert out[:255] == ('    Server app URL "' + url).encode()[:255]
    assert out[255:].startswith(b'    Server app Digest "d"\r\n')


def test_image_file_name_from_url() -> None:
    from bootloader_model.service.core.tasks import image_file_name

    assert image_file_name("http://h:8000/dir/app_v2.production.hex") == "/mnt/myDrive1/ota/app_v2.production.bin"
    assert image_file_name("http://h/a.bin?x=1") == "/mnt/myDrive1/ota/a.bin"  # everything after the last '.'
    assert image_file_name("http://1.2.3.4/image") is None  # no '.' in the file name: NULL in Harmony


def test_formulate_digest_is_lenient_like_strtol() -> None:
    from bootloader_model.service.core.tasks import formulate_digest

    good = "0617c23e50ade3c21fc4210ce01c66ed30c8a6b6992a0d7bc25986b776bd384e"
    assert formulate_digest(good) == bytes.fromhex(good)
    assert formulate_digest(good.upper()) == bytes.fromhex(good)
    assert formulate_digest("ab") == b"\xab" + bytes(31)  # short digests read as zero bytes
    assert formulate_digest("zz1z") == b"\x00\x01" + bytes(30)


def test_virtual_clock_alarms_fire_in_order() -> None:
    from bootloader_model.clock import VirtualClock

    clock = VirtualClock()
    fired: list[tuple[str, float]] = []
    clock.call_at(2.0, lambda: fired.append(("b", clock.now())))
    a = clock.call_at(1.0, lambda: fired.append(("a", clock.now())))
    c = clock.call_at(1.5, lambda: fired.append(("c", clock.now())))
    clock.cancel(c)
    clock.advance(0.5)
    assert fired == [] and clock.next_deadline() == 1.0
    clock.advance(3.0)
    assert fired == [("a", 1.0), ("b", 2.0)] and clock.now() == 3.5 and a.deadline == 1.0
    with pytest.raises(ValueError):
        clock.advance(-1)


# --- strings are bytes (cJSON copies them as they come) ----------------------------------------------
def test_strings_are_bytes_and_invalid_utf8_passes_unchanged() -> None:
    root = cjson.parse(b'{"a":"x\xff\xfey\xc3","b":"\xc3\xa9"}')
    assert cjson.object_item(root, "a") == b"x\xff\xfey\xc3"
    assert cjson.object_item(root, "b") == "\u00e9".encode()
    assert cjson.object_item(cjson.parse(b'{"a":"\\u00e9\\ud83d\\ude00"}'), "a") == "\u00e9\U0001f600".encode()


def test_invalid_utf8_reaches_the_console_url_and_digest_unchanged() -> None:
    url = b"http://h/\xff\xfe/app.bin"
    digest = b"\xe9" * 64
    out = bytearray()
    root = cjson.parse(b'{"ota":[{"Version":2,"URL":"' + url + b'","Digest":"' + digest + b'"}]}')
    res = parse_json_content(root, app_version=1, erase_request=False, console=out.extend)
    assert res.available
    assert res.url == url.decode("latin-1") and res.digest == digest.decode("latin-1")  # one char per byte
    assert b'    Server app URL "' + url + b'"\r\n' in out
    assert b'    Server app Digest "' + digest + b'"\r\n' in out


def test_member_names_match_case_insensitively_in_ascii_only() -> None:
    # case_insensitive_strcmp uses tolower() of the C locale: bytes >= 0x80 are not folded
    root = cjson.parse(b'{"\xc9":1,"VERSION":2}')
    assert cjson.object_item(root, "\xe9") is None and cjson.object_item(root, "\xc9") is not None
    v = cjson.object_item(root, "version")
    assert isinstance(v, cjson.CJsonNumber) and v.valuedouble == 2


# --- parse_hex4: invalid hex digits give 0 ------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "value"),
    [
        (b'{"URL":"\\u00zz"}', b""),  # U+0000: the C string ends at once
        (b'{"URL":"ab\\u12G4cd"}', b"ab"),
        (b'{"URL":"ab\\u 123cd"}', b"ab"),
        (b'{"URL":"ab\\u00\\"xy"}', b"ab"),  # the escaped quote inside the 4 "digits" does not end the string
        (b'{"URL":"ab\\u0041cd"}', b"abAcd"),
    ],
)
def test_bad_hex_in_a_unicode_escape_is_a_nul(text: bytes, value: bytes) -> None:
    assert cjson.object_item(cjson.parse(text), "URL") == value


@pytest.mark.parametrize(
    "text",
    [
        b'{"URL":"\\u00"}',  # fewer than 6 characters before the closing quote
        b'{"URL":"\\ud800\\uzzzz"}',  # a bad second half reads as 0, not a low surrogate
        b'{"URL":"\\udc00"}',
        b'{"URL":"\\ud800x"}',
    ],
)
def test_unicode_escapes_cjson_still_refuses(text: bytes) -> None:
    assert cjson.parse(text) is None


def test_bad_hex_escape_refused_when_corrected() -> None:
    assert cjson.parse(b'{"URL":"\\u00zz"}', bad_hex_escape_is_nul=False) is None
    assert cjson.object_item(cjson.parse(b'{"URL":"\\u0041"}', bad_hex_escape_is_nul=False), "URL") == b"A"


def test_bad_hex_url_in_a_manifest_is_an_empty_url() -> None:
    out = bytearray()
    root = cjson.parse(b'{"ota":[{"Version":2,"URL":"\\u00zz","Digest":"aa"}]}')
    assert root is not None
    res = parse_json_content(root, app_version=1, erase_request=False, console=out.extend)
    assert res.available and res.url == ""
    assert b'    Server app URL ""\r\n' in out


# --- nesting: iterative, cJSON's limit of 1000 nested arrays/objects -----------------------------------
def _nested(n: int, kind: str, inner: bytes = b"") -> bytes:
    if kind == "array":
        return b"[" * n + inner + b"]" * n
    return b'{"a":' * (n - 1) + b"{" + (b'"a":' + inner if inner else b"") + b"}" * n


@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize(("depth", "ok"), [(998, True), (999, True), (1000, True), (1001, False), (100_000, False)])
@pytest.mark.parametrize("inner", [b"", b"1"])
def test_nesting_limit(kind: str, depth: int, ok: bool, inner: bytes) -> None:
    """``depth`` containers, one inside the other; parse_array/parse_object refuse the 1001st."""
    assert (cjson.parse(_nested(depth, kind, inner)) is not None) is ok


def test_nesting_does_not_depend_on_the_python_recursion_limit() -> None:
    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(120)
    try:
        root = cjson.parse(_nested(1000, "array", b"7"))
        assert cjson.parse(b"[" * 100_000) is None
    finally:
        sys.setrecursionlimit(old)
    for _ in range(999):
        assert isinstance(root, list) and len(root) == 1
        root = root[0]
    assert isinstance(root, list) and root == [cjson.CJsonNumber(7.0)]


def test_deep_manifest_still_counts() -> None:
    def deep(k: int) -> bytes:  # k arrays inside the root object, the "ota" array and its entry
        return b'{"ota":[{"Version":2,"URL":"http://h/a.bin","Digest":"aa","x":' + _nested(k, "array") + b"}]}"

    out = bytearray()
    root = cjson.parse(deep(997))  # 1000 containers in all, 1994 bytes: about what fits in a 1990-byte manifest
    assert root is not None
    assert parse_json_content(root, app_version=1, erase_request=False, console=out.extend).available
    assert cjson.parse(deep(998)) is None


# --- the running version is printed with %d -------------------------------------------------------
@pytest.mark.parametrize(("version", "printed"), [(2**32 - 1, "-1"), (2**31, "-2147483648"), (2**31 - 1, "2147483647")])
def test_current_app_version_prints_signed(version: int, printed: str) -> None:
    _, lines = decide(b'{"ota":[{"Version":2,"URL":"u","Digest":"d"}]}', app_version=version)
    assert lines[-1] == f"    current app version: {printed}"
    _, lines = decide(b'{"ota":[{"Version":2,"URL":"u","Digest":"d"}]}', app_version=version, signed_app_version=False)
    assert lines[-1] == f"    current app version: {version}"


# --- OTA_PARAMS: the URL's memcpy runs into the digest field -----------------------------------------
def test_a_long_url_is_its_first_100_bytes_then_the_digest() -> None:
    from bootloader_model.service.core.state import OtaParams

    p = OtaParams()
    url = "http://h/" + "u" * 111  # 120 bytes
    digest = "d" * 64
    p.ota_server_url = url  # memcpy(ota_server_url, url, strlen(url) + 1)
    assert p.ota_server_url == url  # until the digest is copied, the string is whole
    p.serv_app_digest_string = digest  # strncpy(serv_app_digest_string, digest, 64)
    assert p.ota_server_url == url[:100] + digest
    assert p.serv_app_digest_string == digest


def test_a_url_longer_than_both_fields_keeps_its_tail_after_the_digest() -> None:
    from bootloader_model.service.core.state import OtaParams

    p = OtaParams()
    url = "http://h/" + "".join(chr(ord("a") + i % 26) for i in range(161))  # 170 bytes
    p.ota_server_url = url
    p.serv_app_digest_string = "d" * 64
    # bytes 164..169 of the URL were not overwritten by the 64 digest characters, nor was its NUL
    assert p.ota_server_url == url[:100] + "d" * 64 + url[164:]
    assert p.serv_app_digest_string == "d" * 64 + url[164:]
    q = OtaParams()  # the core's copy in OTA_Start: digest first, then the URL
    q.serv_app_digest_string = p.serv_app_digest_string
    q.ota_server_url = p.ota_server_url
    assert q.ota_server_url == p.ota_server_url and q.serv_app_digest_string == p.serv_app_digest_string


def test_short_digest_and_short_url_leave_each_other_alone() -> None:
    from bootloader_model.service.core.state import OtaParams

    p = OtaParams()
    p.ota_server_url = "http://h/" + "x" * 150
    p.serv_app_digest_string = "d" * 64
    p.ota_server_url = "http://h/a.bin"
    p.serv_app_digest_string = "ab"
    assert (p.ota_server_url, p.serv_app_digest_string) == ("http://h/a.bin", "ab")


def test_long_manifest_url_refused_when_corrected() -> None:
    out = bytearray()
    url = b"http://h/" + b"u" * 91  # 100 bytes: no room for the NUL
    root = cjson.parse(b'{"ota":[{"Version":2,"URL":"' + url + b'","Digest":"aa"}]}')
    res = parse_json_content(root, app_version=1, erase_request=False, console=out.extend, url_limit=100)
    assert not res.available and res.url is None
    assert b"SYS OTA : Error parsing Server app URL\r\n" in out and url not in out
    root = cjson.parse(b'{"ota":[{"Version":2,"URL":"' + url[:-1] + b'","Digest":"aa"}]}')
    assert parse_json_content(root, app_version=1, erase_request=False, console=out.extend, url_limit=100).available
