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
            return {k: plain(x) for k, x in reversed(v.members)}  # first member wins lookups
        if isinstance(v, list):
            return [plain(x) for x in v]
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
    assert cjson.object_item(cjson.parse(b'{"a":"ab\\u0000cd"}'), "a") == "ab"


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
