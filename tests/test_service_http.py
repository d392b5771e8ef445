"""Harmony's HTTP client limits, on a real server on 127.0.0.1, with the virtual clock fast-forwarded."""

from __future__ import annotations

import pytest

from bootloader_model.service.configuration import CtrlMsg
from bootloader_model.service.http_client import parse_response_head, parse_uri, request_bytes
from tests.otaserver import OtaTestServer, Route
from tests.service_helpers import Rig, boot_lines, image, manifest, manual_rig


def check(rig: Rig, max_s: float = 200) -> float:
    """Run one manual update check; return the virtual seconds it took."""
    t0 = rig.clock.now()
    n = len(rig.events())
    assert rig.svc.ctrl_msg(CtrlMsg.SYS_OTA_UPDATECHCK) == 0
    assert rig.until(lambda: len(rig.events()) >= n + 2, max_s)
    return rig.clock.now() - t0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h/a.bin", ("http", "h", 80, "/a.bin")),
        ("http://10.0.0.1:8000/x/ota.json?x=1#f", ("http", "10.0.0.1", 8000, "/x/ota.json")),
        ("https://s3.example.com/a.bin", ("https", "s3.example.com", 443, "/a.bin")),
        ("http://h:8000", None),  # no path at all
        ("http:/h/a", None),
        ("ftp://h/a", None),
        ("HTTP://h/a", None),  # the scheme is compared case-sensitively
    ],
)
def test_parse_uri(url: str, expected: tuple[str, str, int, str] | None) -> None:
    uri = parse_uri(url)
    assert (None if uri is None else (uri.scheme, uri.host, uri.port, uri.path)) == expected


def test_enforce_tls_rejects_http() -> None:
    assert parse_uri("http://h/a", enforce_tls=True) is None
    assert parse_uri("https://h/a", enforce_tls=True) is not None


def test_request_has_no_port_in_host() -> None:
    uri = parse_uri("http://127.0.0.1:8123/d/ota.json")
    assert uri is not None
    assert request_bytes(uri) == b"GET /d/ota.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n", (200, 12)),
        (b"HTTP/1.0 404 Not Found\r\nContent-Length:  7 \r\n", (404, 7)),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n", (200, 0)),  # case-sensitive name
        (b"HTTP/1.1 200 OK\r\n", None),  # no header field at all
        (b"HTTP/1.1 200OK\r\nA: b\r\n", None),
        (b"HTTP/1.1 2000 OK\r\nA: b\r\n", None),
        (b"HTTP/1.1 200 OK\r\nBroken\r\n", None),
    ],
)
def test_parse_response_head(head: bytes, expected: tuple[int, int] | None) -> None:
    rsp = parse_response_head(head)
    assert (None if rsp is None else (rsp.status, rsp.content_length)) == expected


def test_manifest_over_json_size_fails_after_70000_empty_reads(server: OtaTestServer) -> None:
    body = manifest(2, "http://h/" + "a" * 2000 + ".bin", "00" * 32)
    assert len(body) > 1990
    server.routes["/ota.json"] = Route(body=body)
    rig = manual_rig(server)
    took = check(rig)
    assert rig.events()[-1] == "SYS_OTA_UPDATE_CHECK_FAILED"
    assert 70.0 <= took < 72.0  # 70000 empty reads at one per 1 ms tick
    assert boot_lines(rig) == [
        "SYS_OTA_UPDATE_CHECK_START",
        f"SYS OTA : Connecting to server : {server.url('/ota.json')}",
        "SYS_OTA : DOWNLOADER_HTTPClient_Abort",  # the client is still open (paused on the unread rest)
        "SYS_OTA_UPDATE_CHECK_FAILED",
    ]


def test_manifest_of_exactly_1990_bytes_is_read(server: OtaTestServer) -> None:
    body = manifest(1, "http://h/a.bin", "00" * 32)
    body = body[:-1] + b" " * (1990 - len(body)) + b"}"
    assert len(body) == 1990
    server.routes["/ota.json"] = Route(body=body)
    rig = manual_rig(server)
    check(rig)
    assert rig.events()[-1] == "SYS_OTA_UPDATE_NOTAVAILABLE"


@pytest.mark.parametrize("length", ["none", "lower"])
def test_manifest_without_content_length_fails(server: OtaTestServer, length: str) -> None:
    server.routes["/ota.json"] = Route(body=manifest(2, "http://h/a.bin", "00" * 32), length=length, body_delay_s=0.05)
    rig = manual_rig(server)
    took = check(rig)
    assert rig.events()[-1] == "SYS_OTA_UPDATE_CHECK_FAILED"
    assert took < 5


def test_chunked_manifest_fails(server: OtaTestServer) -> None:
    server.routes["/ota.json"] = Route(body=manifest(2, "http://h/a.bin", "00" * 32), chunked=True, body_delay_s=0.05)
    rig = manual_rig(server)
    check(rig)
    assert rig.events()[-1] == "SYS_OTA_UPDATE_CHECK_FAILED"


def test_bad_manifest_url_is_a_downloader_open_error(server: OtaTestServer) -> None:
    rig = manual_rig(server, json_url="htp://nowhere/ota.json")
    check(rig, 5)
    assert boot_lines(rig) == [
        "SYS_OTA_UPDATE_CHECK_START",
        "SYS OTA : Connecting to server : htp://nowhere/ota.json",
        "SYS OTA : Downloader open error ",
        "SYS_OTA_UPDATE_CHECK_FAILED",
    ]


def start(rig: Rig, server: OtaTestServer, data: bytes, **route: object) -> None:
    path = rig.serve_update(2, data, **route)
    import hashlib

    rig.svc.set_parameters(server.url(path), 2, hashlib.sha256(data).hexdigest())
    assert rig.svc.ctrl_msg(CtrlMsg.SYS_OTA_INITIATE_OTA) == 0


@pytest.mark.parametrize("how", ["stall", "close"])
def test_stalled_image_fails_at_the_1000s_deadline(server: OtaTestServer, how: str) -> None:
    rig = manual_rig(server)
    t0 = rig.clock.now()
    start(rig, server, image(50_000), **({"stall_after": 20_000} if how == "stall" else {"close_after": 20_000}))
    assert rig.until_event("SYS_OTA_DOWNLOAD_FAILED", 1, 1100)
    assert 1000 <= rig.clock.now() - t0 < 1002
    lines = boot_lines(rig)
    assert lines[-3:] == [
        "SYS_OTA : DOWNLOADER_HTTPClient_Abort",
        "SYS OTA : Download error",
        "SYS_OTA_DOWNLOAD_FAILED",
    ]
    assert rig.svc.download_status() == (50_000, 16384)  # written in 4 KiB chunks


def test_image_without_content_length_fails(server: OtaTestServer) -> None:
    rig = manual_rig(server)
    start(rig, server, image(30_000), length="none", body_delay_s=0.05)
    assert rig.until_event("SYS_OTA_DOWNLOAD_FAILED", 1, 100)
    assert rig.clock.now() < 50


def test_download_of_many_sizes(server: OtaTestServer) -> None:
    for size in (4097, 8192, 12_345):
        rig = manual_rig(server, autoreset=False)
        start(rig, server, image(size, seed=size % 255))
        assert rig.until_event("SYS_OTA_DB_ENTRY_SUCCESS", 1, 100), (size, rig.text())
        assert rig.svc.download_status() == (size, size)


def test_connect_timeout_after_360s(server: OtaTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from bootloader_model.clock import VirtualClock
    from bootloader_model.quirks import HARMONY
    from bootloader_model.service import http_client

    out = bytearray()
    clock = VirtualClock()
    client = http_client.HttpClient(clock, out.extend, HARMONY)
    monkeypatch.setattr(http_client.select, "select", lambda r, w, x, t=None: ([], [], []))  # the SYN is never answered
    assert client.get(server.url("/ota.json"))
    client.task()  # CONNECT: non-blocking connect_ex
    assert client.state is http_client.State.CONNECTING
    clock.advance(359.0)
    client.task()
    assert client.state is http_client.State.CONNECTING and out == b""
    clock.advance(2.0)
    client.task()
    assert out == b"Socket connect timeout\n\r" and client.state is http_client.State.CLOSE
    assert client.task() is False and not client.valid
