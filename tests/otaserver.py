"""A tiny threaded HTTP/1.1 server for the OTA service tests, with per-path misbehaviour.

Each path maps to a :class:`Route`: status code, body, how Content-Length is sent (exact, missing, a
wrong value, in lower case), chunked encoding, a stall after N body bytes (the connection stays open), a
close after N bytes, or the body sent in a separate segment after a pause. Every raw request is recorded.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    length: str = "exact"  # "exact" | "none" | "lower" | "wrong"
    wrong_length: int = 0
    chunked: bool = False
    stall_after: int | None = None  # send this many body bytes, then keep the connection open and silent
    close_after: int | None = None  # send this many body bytes, then close
    body_delay_s: float = 0.0  # pause between headers and body (separate TCP segments)
    headers: list[tuple[str, str]] = field(default_factory=list)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return
            data += chunk
        self.server.owner.requests.append(data)
        line = data.split(b"\r\n", 1)[0].decode("latin-1")
        path = line.split(" ")[1] if line.count(" ") >= 2 else "/"
        route = self.server.owner.routes.get(path, Route(body=b"not found", status=404))
        head = [f"HTTP/1.1 {route.status} X"]
        body = route.body
        if route.chunked:
            head.append("Transfer-Encoding: chunked")
            body = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
        elif route.length == "exact":
            head.append(f"Content-Length: {len(route.body)}")
        elif route.length == "lower":
            head.append(f"content-length: {len(route.body)}")
        elif route.length == "wrong":
            head.append(f"Content-Length: {route.wrong_length}")
        head += [f"{k}: {v}" for k, v in route.headers]
        head.append("Server: otatest")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        if route.body_delay_s:
            time.sleep(route.body_delay_s)
        limit = route.stall_after if route.stall_after is not None else route.close_after
        try:
            sock.sendall(body if limit is None else body[:limit])
        except OSError:
            return
        if route.stall_after is not None:
            self.server.owner.stop_event.wait(60)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: OtaTestServer


class OtaTestServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[bytes] = []
        self.stop_event = threading.Event()
        self._srv = _Server(("127.0.0.1", 0), _Handler)
        self._srv.owner = self
        self.port = self._srv.server_address[1]
        self._thread = threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.stop_event.set()
        self._srv.shutdown()
        self._srv.server_close()
