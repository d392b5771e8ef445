"""The fault-injecting image server, exercised with real sockets on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from bootloader_model.errors import CallerError
from harness.image.server import Fault, FaultKind, ImageServer


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with ImageServer(max_hold=2.0) as srv:
        yield srv


def fetch(srv: ImageServer, path: str, timeout: float = 5.0) -> bytes:
    """Send the request exactly as Harmony's client does and read until the server closes."""
    with socket.create_connection((srv.host, srv.port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {srv.host}\r\n\r\n".encode())
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def split(resp: bytes) -> tuple[str, bytes]:
    head, _, body = resp.partition(b"\r\n\r\n")
    return head.decode(), body


def test_plain_get_has_status_200_and_content_length(server: ImageServer) -> None:
    server.put("/img.bin", b"\x01" * 5000)
    head, body = split(fetch(server, "/img.bin"))
    assert head.startswith("HTTP/1.1 200 OK") and "\r\nContent-Length: 5000" in head
    assert body == b"\x01" * 5000
    assert server.requests[-1].headers == {"Host": "127.0.0.1"} and server.requests[-1].fault is None


def test_missing_path_is_404(server: ImageServer) -> None:
    head, _ = split(fetch(server, "/nope"))
    assert head.startswith("HTTP/1.1 404")


def test_clear_serves_nothing_again_and_keeps_the_log(server: ImageServer) -> None:
    server.put("/img.bin", b"\x01" * 10)
    server.fault("/img.bin", Fault(FaultKind.DROP))
    server.clear()
    head, _ = split(fetch(server, "/img.bin"))
    assert head.startswith("HTTP/1.1 404")
    assert [r.path for r in server.requests] == ["/img.bin"] and server.requests[0].fault is None


def test_manifest_uses_harmony_field_names(server: ImageServer) -> None:
    url, digest = server.put_image("app_v2.bin", b"abc")
    server.put_manifest(2, url, digest, erase_ver=False)
    _, body = split(fetch(server, "/ota.json"))
    assert json.loads(body) == {"ota": [{"Version": 2, "URL": url, "Digest": digest, "EraseVer": False}]}


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        (Fault(FaultKind.STATUS, status=500), lambda h, b: h.startswith("HTTP/1.1 500")),
        (Fault(FaultKind.NO_LENGTH), lambda h, b: "Content-Length" not in h and b == b"x" * 3000),
        (Fault(FaultKind.LOWER_HEADER), lambda h, b: "content-length: 3000" in h and "Content-Length" not in h),
        (Fault(FaultKind.CHUNKED), lambda h, b: "Transfer-Encoding: chunked" in h and b.endswith(b"0\r\n\r\n")),
        (Fault(FaultKind.TRUNCATE, after=100), lambda h, b: "Content-Length: 3000" in h and len(b) == 100),
        (Fault(FaultKind.CORRUPT, after=7), lambda h, b: b[7] == ord("x") ^ 0xFF and len(b) == 3000),
    ],
)
def test_faults_shape_the_response(server: ImageServer, fault: Fault, check) -> None:  # type: ignore[no-untyped-def]
    server.put("/f", b"x" * 3000)
    server.fault("/f", fault)
    head, body = split(fetch(server, "/f"))
    assert check(head, body)
    assert server.requests[-1].fault == fault.kind.value


def test_drop_closes_without_a_response(server: ImageServer) -> None:
    server.put("/d", b"data")
    server.fault("/d", Fault(FaultKind.DROP))
    assert fetch(server, "/d") == b""


def test_stall_holds_the_connection_then_gives_up(server: ImageServer) -> None:
    server.put("/s", b"y" * 100)
    server.fault("/s", Fault(FaultKind.STALL, after=10, seconds=0.3))
    head, body = split(fetch(server, "/s"))
    assert "Content-Length: 100" in head and body == b"y" * 10
    assert server.requests[-1].fault == "stall" and server.requests[-1].sent == 10


def test_fault_times_limits_how_many_requests_it_hits(server: ImageServer) -> None:
    server.put("/t", b"ok")
    server.fault("/t", Fault(FaultKind.STATUS, status=503, times=1))
    assert split(fetch(server, "/t"))[0].startswith("HTTP/1.1 503")
    assert split(fetch(server, "/t"))[1] == b"ok"


def test_bad_fault_arguments_are_caller_errors() -> None:
    with pytest.raises(CallerError):
        Fault(FaultKind.STATUS, status=42)
    with pytest.raises(CallerError, match="unknown server fault 'teleport'; choose status, no-length"):
        Fault("teleport")  # type: ignore[arg-type]
    with pytest.raises(CallerError, match=">= 0"):
        Fault(FaultKind.STALL, seconds=-1.0)
    assert Fault("truncate", after=10).kind is FaultKind.TRUNCATE  # the value names the kind too
