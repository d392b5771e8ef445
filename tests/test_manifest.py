"""ota.json: Harmony's field names on write, Harmony's rules (and a few host-side ones) on read."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bootloader_model.errors import ManifestError
from harness.image import ManifestEntry, read_manifest, write_manifest
from harness.image.manifest import manifest_notes

D = "0617c23e50ade3c21fc4210ce01c66ed30c8a6b6992a0d7bc25986b776bd384e"
MU_EXAMPLE = (
    '{"ota":[{"Version":1,"URL":"https://mu-otaserver.s3.amazonaws.com/simple_iot_application.X.production_001.bin",'
    '"Digest":"0617c23e50ade3c21fc4210ce01c66ed30c8a6b6992a0d7bc25986b776bd384e","EraseVer":false}]}'
)


def test_reads_the_real_mu_manifest() -> None:
    m = read_manifest(MU_EXAMPLE)
    assert m.effective == ManifestEntry(
        1, "https://mu-otaserver.s3.amazonaws.com/simple_iot_application.X.production_001.bin", D, False
    )


def test_writes_harmony_field_names_in_order() -> None:
    text = write_manifest([ManifestEntry(2, "http://10.0.0.2:8000/app_v2.bin", D, True)])
    assert (
        text == '{"ota":[{"Version":2,"URL":"http://10.0.0.2:8000/app_v2.bin","Digest":"' + D + '","EraseVer":true}]}'
    )
    assert '"EraseVer"' not in write_manifest([ManifestEntry(2, "http://h/a.bin", D)])


def test_the_board_uses_the_last_entry() -> None:
    text = write_manifest([ManifestEntry(3, "http://h/v3.bin", D), ManifestEntry(6, "http://h/v6.bin", D.upper())])
    m = read_manifest(text)
    assert len(m.entries) == 2 and m.effective.version == 6 and m.effective.digest == D.upper()


@given(
    version=st.integers(1, 255),
    name=st.text("abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=40),
    digest=st.text("0123456789abcdefABCDEF", min_size=64, max_size=64),
    erase=st.sampled_from([None, True, False]),
    https=st.booleans(),
)
def test_round_trip(version: int, name: str, digest: str, erase: bool | None, https: bool) -> None:
    e = ManifestEntry(version, f"{'https' if https else 'http'}://h:8000/{name}.bin", digest, erase)
    assert read_manifest(write_manifest([e])).entries == (e,)


def _doc(**fields: object) -> str:
    entry: dict[str, object] = {"Version": 2, "URL": "http://h/a.bin", "Digest": D}
    entry.update(fields)
    return json.dumps({"ota": [{k: v for k, v in entry.items() if v is not ...}]})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("[]", 'no "ota" array'),
        ('{"ota":{}}', 'no "ota" array'),
        ('{"ota":[]}', "empty"),
        ('{"ota":[3]}', r"ota\[0\]: not a JSON object"),
        (_doc(Version=...), "missing mandatory field.*Version"),
        (_doc(URL=..., Digest=...), "missing mandatory field.*URL, Digest"),
        (_doc(Version="2"), "Version must be an integer"),
        (_doc(Version=2.5), "Version must be an integer"),
        (_doc(Version=True), "Version must be an integer"),
        (_doc(Version=0), "out of range 1..255"),
        (_doc(Version=256), "out of range 1..255"),
        (_doc(URL=5), "URL must be a string"),
        (_doc(URL="ftp://h/a.bin"), "not an http"),
        (_doc(URL="http://h/" + "a" * 87 + ".bin"), "URL is 100 bytes; the board's buffer holds 99 plus NUL"),
        (_doc(URL="http://h/firmware"), "has no '.'"),
        (_doc(Digest=None), "Digest must be a string"),
        (_doc(Digest=D[:-1]), "64 hex characters"),
        (_doc(Digest=D[:-1] + "g"), "64 hex characters"),
        (_doc(EraseVer="true"), "EraseVer must be true or false"),
        (_doc(EraseVer=1), "EraseVer must be true or false"),
        ('{"ota":[{"Version":1,"URL":"http://h/a.bin","Digest":"' + D + '","Pad":"' + "x" * 2000 + '"}]}', "1990"),
    ],
)
def test_bad_manifests(text: str | bytes, match: str) -> None:
    with pytest.raises(ManifestError, match=match) as info:
        read_manifest(text)
    assert "\n" not in str(info.value)


def test_url_of_exactly_99_bytes_is_accepted() -> None:
    url = "http://h/" + "a" * 86 + ".bi"
    assert len(url) == 98
    url += "n"
    assert read_manifest(_doc(URL=url)).effective.url == url


def test_entry_and_writer_validate_too() -> None:
    with pytest.raises(ManifestError, match="out of range"):
        ManifestEntry(0, "http://h/a.bin", D)
    with pytest.raises(ManifestError, match="at least one entry"):
        write_manifest([])


def test_max_size_is_adjustable() -> None:
    text = _doc()
    with pytest.raises(ManifestError, match="at most 50"):
        read_manifest(text, max_size=50)
    assert read_manifest(text, max_size=len(text)).effective.version == 2


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        ([2], []),
        ([3, 6], ["only the last of the 2 entries"]),
        ([12], ["Version 12 >= 10", "(0x12)"]),
        ([150], ["Version 150 >= 100", "reprograms the image at every boot"]),
    ],
)
def test_notes_on_surprising_but_valid_manifests(versions: list[int], expected: list[str]) -> None:
    m = read_manifest(write_manifest([ManifestEntry(v, f"http://h/v{v}.bin", D) for v in versions]))
    text = " | ".join(manifest_notes(m))
    assert all(part in text for part in expected) and (text == "") == (not expected)


def test_deep_nesting_is_a_manifest_error() -> None:
    with pytest.raises(ManifestError, match="too deeply"):
        read_manifest("[" * 100_000 + "]" * 100_000, max_size=10**6)
