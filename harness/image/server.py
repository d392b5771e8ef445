"""A real HTTP/1.1 image server with per-request network faults, for boards to download from.

Harmony's client is strict (spec section 4): ``200`` only, ``Content-Length`` required and matched
byte-exact, no chunked encoding, a 1990-byte manifest limit. So the interesting server behaviours are
the ones a stock ``http.server`` cannot produce on demand: a missing Content-Length, chunked bodies,
a body cut short or corrupted, a connection that stalls or drops, a wrong status. This server writes
raw responses on a plain TCP socket so each of those is one :class:`Fault`.

It serves from memory (``put``), logs every request (:attr:`ImageServer.requests`), and binds to
127.0.0.1 by default. It does not do TLS, keep-alive or range requests (Harmony uses none).
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from hashlib import sha256
from typing import Any

from bootloader_model.errors import CallerError


class FaultKind(str, Enum):
    STATUS = "status"  # answer with another status code (and a short body)
    NO_LENGTH = "no-length"  # omit Content-Length, close after the body
    CHUNKED = "chunked"  # Transfer-Encoding: chunked instead of Content-Length
    TRUNCATE = "truncate"  # announce the full length, send `after` bytes, close
    CORRUPT = "corrupt"  # flip one byte at offset `after`
    STALL = "stall"  # send headers and `after` bytes, then hold the connection silent for `seconds`
    DROP = "drop"  # accept, read the request, close without a response
    SLOW = "slow"  # send the body in 1 KiB pieces with `seconds` between them
    LOWER_HEADER = "lower-header"  # spell the header "content-length" (Harmony matches it case-sensitively)
    TRICKLE = "trickle"  # slowloris: the whole response, headers too, one byte at a time, `seconds` apart
    HUGE_HEADERS = "huge-headers"  # `after` bytes of extra header fields (1 KiB pieces, `seconds` apart) first


@dataclass
class Fault:
    """A behaviour for requests to one path. ``times`` limits how many requests it affects (None: all).

    Pauses are wall seconds, each capped at the server's ``max_hold``; offsets and sizes are bytes.

    Attributes:
        kind: what goes wrong (a :class:`FaultKind` or its value, e.g. ``"truncate"``).
        status: ``status``: the HTTP status code answered instead of 200 (100..599).
        after: bytes: ``truncate`` and ``stall`` send this many body bytes; ``corrupt`` flips the byte at
            this offset (the last byte if the body is shorter); ``huge-headers`` sends about this many bytes
            of extra header fields.
        seconds: wall seconds: how long ``stall`` holds the connection silent; the pause between the 1 KiB
            pieces of ``slow`` and ``huge-headers`` and between the single bytes of ``trickle``.
        times: how many requests the fault affects before it stops (None: every request).
        gap: wall seconds between the headers and the body of ``no-length``, ``lower-header`` and
            ``chunked`` (0: one TCP segment; > 0: two).

    Raises:
        CallerError: an unknown kind, a negative ``after``, ``seconds`` or ``gap``, or a status outside
            100..599.
    """

    kind: FaultKind
    status: int = 404
    after: int = 0
    seconds: float = 1.0
    times: int | None = None
    gap: float = 0.0  # no-length, lower-header, chunked: pause between headers and body (two TCP segments)

    def __post_init__(self) -> None:
        try:
            self.kind = FaultKind(self.kind)
        except ValueError:
            kinds = ", ".join(k.value for k in FaultKind)
            raise CallerError(f"unknown server fault {self.kind!r}; choose {kinds}") from None
        if self.after < 0 or self.seconds < 0 or self.gap < 0:
            raise CallerError("fault offsets and durations must be >= 0")
        if not 100 <= self.status <= 599:
            raise CallerError(f"bad HTTP status {self.status}")


@dataclass(frozen=True)
class RequestRecord:
    """What a client asked for and what the server did."""

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    fault: str | None
    sent: int


@dataclass
class _Route:
    body: bytes
    content_type: str
    faults: list[Fault] = field(default_factory=list)


REASONS = {200: "OK", 301: "Moved Permanently", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error"}


class ImageServer:
    """Serve manifests and images over HTTP/1.1 on a loopback port, with injectable faults.

    Use it as a context manager (``with ImageServer() as server:``), or call :meth:`start` and :meth:`stop`.
    Every request is logged in :attr:`requests` as a :class:`RequestRecord`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, max_hold: float = 30.0) -> None:
        """Bind the listening socket (it serves once started).

        Args:
            host: the address to listen on; keep the default 127.0.0.1 unless a real board must reach it.
            port: the TCP port (0: a free one, then read :attr:`port`).
            max_hold: wall seconds any one pause of a fault may last, so a test can never hang the server.

        Raises:
            CallerError: the address cannot be bound (in use, not this host's).
        """
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self.requests: list[RequestRecord] = []
        self.max_hold = max_hold  # upper bound on any stall, so a test can never hang the server
        self._stop = threading.Event()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                server._serve(self.request)

        class TCPServer(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        try:
            self._server = TCPServer((host, port), Handler)
        except OSError as exc:
            raise CallerError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        address = self._server.server_address
        self.host: str = str(address[0])
        self.port: int = int(address[1])
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------------------------------- lifecycle
    def start(self) -> ImageServer:
        """Serve requests on a background thread until :meth:`stop`.

        Returns:
            This server, so that ``server = ImageServer().start()`` reads well.
        """
        self._thread = threading.Thread(
            target=lambda: self._server.serve_forever(poll_interval=0.05), name="otaloop-imageserver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; faults under way stop early (a stall or a gap at once)."""
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ImageServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------------------------------- content
    def url(self, path: str) -> str:
        """The full URL of ``path`` on this server.

        Args:
            path: a path such as ``/ota.json`` (a missing leading ``/`` is added).

        Returns:
            ``http://HOST:PORT/path``, the text a manifest or the firmware's ``SYS_OTA_URL`` holds.
        """
        return f"http://{self.host}:{self.port}{path if path.startswith('/') else '/' + path}"

    def put(self, path: str, body: bytes, content_type: str = "application/octet-stream") -> str:
        """Serve ``body`` at ``path``; return its URL. Replaces content and clears faults for the path.

        Args:
            path: where to serve it (a missing leading ``/`` is added).
            body: the response body, any bytes-like object (copied).
            content_type: the ``Content-Type`` header.

        Returns:
            The URL of ``path``.
        """
        if not path.startswith("/"):
            path = "/" + path
        with self._lock:
            self._routes[path] = _Route(bytes(body), content_type)
        return self.url(path)

    def put_image(self, name: str, image: bytes) -> tuple[str, str]:
        """Serve an OTA ``.bin`` at ``/name``; return its URL and SHA-256 hex digest.

        Args:
            name: the file name in the URL, e.g. ``app_v2.bin``.
            image: the image bytes.

        Returns:
            ``(url, digest)``: the image's URL and the lowercase hex SHA-256 a manifest's ``Digest`` holds.
        """
        return self.put("/" + name, image), sha256(image).hexdigest()

    def put_manifest(
        self,
        version: int,
        url: str,
        digest: str,
        *,
        erase_ver: bool | None = None,
        path: str = "/ota.json",
        extra: dict[str, Any] | None = None,
    ) -> str:
        """Serve an ``ota.json`` with one entry in Harmony's field names; return the manifest URL.

        Args:
            version: the entry's ``Version``, the application version on offer.
            url: the entry's ``URL``, where the image is (e.g. from :meth:`put_image`).
            digest: the entry's ``Digest``, the image's SHA-256 in hex.
            erase_ver: the entry's ``EraseVer`` (None: no such field).
            path: where to serve the manifest.
            extra: more fields for the entry; they replace the fields above of the same name.

        Returns:
            The manifest's URL.
        """
        entry: dict[str, Any] = {"Version": version, "URL": url, "Digest": digest}
        if erase_ver is not None:
            entry["EraseVer"] = erase_ver
        entry.update(extra or {})
        return self.put(path, json.dumps({"ota": [entry]}).encode(), "application/json")

    def fault(self, path: str, fault: Fault) -> None:
        """Apply ``fault`` to requests for ``path`` (faults stack; the first still active wins).

        Args:
            path: the path whose requests it affects (a missing leading ``/`` is added); it need not be
                served yet.
            fault: what to do to those requests; a fault with ``times`` counts down as it is used.
        """
        if not path.startswith("/"):
            path = "/" + path
        with self._lock:
            route = self._routes.setdefault(path, _Route(b"", "application/octet-stream"))
            route.faults.append(fault)

    def clear_faults(self, path: str | None = None) -> None:
        """Disarm faults; content stays served.

        Args:
            path: the exact path whose faults to clear (None: every path's).
        """
        with self._lock:
            for p, route in self._routes.items():
                if path is None or p == path:
                    route.faults.clear()

    def clear(self) -> None:
        """Serve nothing again: every path answers 404, no fault is armed (the request log is kept)."""
        with self._lock:
            self._routes.clear()

    # ------------------------------------------------------------------------------------------ serving
    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(5.0)
        raw = b""
        try:
            while b"\r\n\r\n" not in raw and len(raw) < 8192:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                raw += chunk
        except OSError:
            return
        head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("?", "?")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip()] = v.strip()
        with self._lock:
            route = self._routes.get(path.split("?", 1)[0])
            fault = None
            if route:
                for f in route.faults:
                    if f.times is None or f.times > 0:
                        fault = f
                        if f.times is not None:
                            f.times -= 1
                        break
        sent = 0
        try:
            sent = self._respond(sock, method, route, fault)
        except OSError:
            pass
        finally:
            with self._lock:
                self.requests.append(
                    RequestRecord(method, path, headers, raw, fault.kind.value if fault else None, sent)
                )
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _hold(self, seconds: float) -> None:
        self._stop.wait(min(seconds, self.max_hold))

    def _respond(self, sock: socket.socket, method: str, route: _Route | None, fault: Fault | None) -> int:
        if fault and fault.kind is FaultKind.DROP:
            return 0
        if route is None or method != "GET":
            status = 404 if route is None else 405
            body = b"not found\n" if route is None else b"method not allowed\n"
            sock.sendall(self._head(status, "text/plain", len(body)) + body)
            return len(body)
        body = route.body
        if fault is None:
            sock.sendall(self._head(200, route.content_type, len(body)) + body)
            return len(body)
        kind = fault.kind
        if kind is FaultKind.STATUS:
            msg = f"status {fault.status}\n".encode()
            sock.sendall(self._head(fault.status, "text/plain", len(msg)) + msg)
            return len(msg)
        if kind is FaultKind.NO_LENGTH:
            self._send_split(sock, self._head(200, route.content_type, None), body, fault.gap)
            return len(body)
        if kind is FaultKind.LOWER_HEADER:
            head = self._head(200, route.content_type, len(body)).replace(b"Content-Length", b"content-length")
            self._send_split(sock, head, body, fault.gap)
            return len(body)
        if kind is FaultKind.CHUNKED:
            head = self._head(200, route.content_type, None, extra="Transfer-Encoding: chunked\r\n")
            out = bytearray()
            for i in range(0, len(body), 1024):
                piece = body[i : i + 1024]
                out += b"%x\r\n" % len(piece) + piece + b"\r\n"
            out += b"0\r\n\r\n"
            self._send_split(sock, head, bytes(out), fault.gap)
            return len(body)
        if kind is FaultKind.TRUNCATE:
            sock.sendall(self._head(200, route.content_type, len(body)) + body[: fault.after])
            return min(fault.after, len(body))
        if kind is FaultKind.CORRUPT:
            bad = bytearray(body)
            if bad:
                bad[min(fault.after, len(bad) - 1)] ^= 0xFF
            sock.sendall(self._head(200, route.content_type, len(body)) + bytes(bad))
            return len(body)
        if kind is FaultKind.STALL:
            sock.sendall(self._head(200, route.content_type, len(body)) + body[: fault.after])
            self._hold(fault.seconds)
            return min(fault.after, len(body))
        if kind is FaultKind.TRICKLE:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            response = self._head(200, route.content_type, len(body)) + body
            head_len = len(response) - len(body)
            for i in range(len(response)):
                if self._stop.is_set():
                    return max(0, i - head_len)
                sock.sendall(response[i : i + 1])
                time.sleep(min(fault.seconds, self.max_hold))
            return len(body)
        if kind is FaultKind.HUGE_HEADERS:
            sock.sendall(b"HTTP/1.1 200 OK\r\n")
            field_line = b"X-Padding: " + b"p" * 1011 + b"\r\n"  # 1 KiB per header field
            for _ in range(fault.after // len(field_line)):
                if self._stop.is_set():
                    return 0
                sock.sendall(field_line)
                time.sleep(min(fault.seconds, self.max_hold))
            sock.sendall(self._head(200, route.content_type, len(body)).split(b"\r\n", 1)[1] + body)
            return len(body)
        # SLOW
        sock.sendall(self._head(200, route.content_type, len(body)))
        for i in range(0, len(body), 1024):
            if self._stop.is_set():
                return i
            sock.sendall(body[i : i + 1024])
            time.sleep(min(fault.seconds, self.max_hold))
        return len(body)

    def _send_split(self, sock: socket.socket, head: bytes, body: bytes, gap: float) -> None:
        # Harmony's client hands payload that shares a TCP segment with the headers to its reader even
        # when the headers end the response (no Content-Length): a gap decides which case a test gets.
        if gap <= 0:
            sock.sendall(head + body)
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(head)
        self._hold(gap)
        sock.sendall(body)

    @staticmethod
    def _head(status: int, ctype: str, length: int | None, extra: str = "") -> bytes:
        reason = REASONS.get(status, "Status")
        text = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nConnection: close\r\n"
        if length is not None:
            text += f"Content-Length: {length}\r\n"
        return (text + extra + "\r\n").encode("latin-1")
