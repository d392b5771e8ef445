"""Harmony's minimal HTTP/1.1 GET client and the OTA downloader's ring buffer, on real non-blocking sockets.

This models ``http_client/http_client.c`` and ``downloader.c`` of the OTA service (spec sections 1.5, 4, 9):

* one connection slot; ``GET <path> HTTP/1.1\\r\\nHost: <host>\\r\\n\\r\\n`` (no port in Host, query and
  fragment dropped); URL parse rules of ``HTTP_Client_ParseURI``;
* the response status line and header fields are parsed strictly; only ``Content-Length`` (case-sensitive,
  byte-exact) is read; a missing or zero length closes the client right after the headers;
* the client closes itself once Content-Length payload bytes have arrived; a peer FIN is *not* noticed
  (NET_PRES only signals a reset), so a truncated body simply stalls;
* the downloader accepts payload only when its 4 KiB buffer is empty and then pauses the client until the
  reader has drained it, so the reader sees at most one socket read (<= 1460 bytes) per client task;
* ``DOWNLOADER_Read`` returns -1 once the client has closed, even if nothing was lost;
* a non-200 status prints ``SYS_OTA : Request rejected by client :code: N`` and cancels the client;
* the header block is collected in a heap buffer grown for every segment; the model holds at most
  :data:`MAX_HEADER_BLOCK` bytes (the application's whole FreeRTOS heap) and beyond that closes the client
  as Harmony does when its header allocation fails (``HTTP_CLIENT_ERROR_MEMORY``). On the board a failed
  re-allocation writes through NULL instead; where that happens depends on the free heap, which the
  model does not know, so it is not reproduced.

Every call is non-blocking: a tick does at most one ``connect_ex``, one ``send`` and a few ``recv`` on a
non-blocking socket. Name lookup uses the OS resolver (it blocks briefly; the tests use 127.0.0.1, which
needs no lookup). TLS is not modelled: an ``https`` URL fails to connect.

It does not retry, follow redirects, decode chunked bodies, or keep connections alive -- neither does Harmony.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import select
import socket
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto

from bootloader_model.clock import VirtualClock
from bootloader_model.quirks import QuirkProfile

BUFFER_SIZE = 1460  # HTTP_CLIENT_BUFFER_SIZE: one socket read
DOWNLOADER_BUFFER_SIZE = 4096
MAX_HOST = 256
MAX_PATH = 256
CONNECT_TIMEOUT_MS = 360_000
#: The application's whole FreeRTOS heap (``configTOTAL_HEAP_SIZE``): the header block lives there.
MAX_HEADER_BLOCK = 28_000
#: Distinct refused hosts remembered for the host to report (the loopback-only policy).
MAX_BLOCKED_HOSTS = 64

Console = Callable[[bytes], None]


@dataclass
class Uri:
    scheme: str
    host: str
    port: int
    path: str


def parse_uri(text: str, enforce_tls: bool = False) -> Uri | None:
    """``HTTP_Client_ParseURI``: ``None`` where the C function returns false."""
    if not enforce_tls and text.startswith("http:"):
        scheme, port, rest = "http", 80, text[5:]
    elif text.startswith("https:"):
        scheme, port, rest = "https", 443, text[6:]
    else:
        return None
    if len(rest) < 2 or not rest.startswith("//"):
        return None
    rest = rest[2:]
    m = re.match(r"[^/:]*", rest)
    assert m is not None
    host, rest = m.group(0), rest[m.end() :]
    if rest.startswith(":"):
        digits = re.match(r"\s*[+-]?\d*", rest[1:])
        assert digits is not None
        num = digits.group(0).strip()
        port = int(num) & 0xFFFF if num not in ("", "+", "-") else 0
        rest = rest[1 + digits.end() :]
    if not rest:
        return None  # (urlLength < 1) && ('/' != *p): no path at all
    path = re.match(r"[^?#]*", rest)
    assert path is not None
    return Uri(scheme, host[: MAX_HOST - 1], port, path.group(0)[: MAX_PATH - 1])


def request_bytes(uri: Uri) -> bytes:
    """Exactly what Harmony's client sends."""
    return f"GET {uri.path} HTTP/1.1\r\nHost: {uri.host}\r\n\r\n".encode("latin-1")


@dataclass
class Response:
    status: int
    content_length: int


_STATUS = re.compile(rb"HTTP/([0-9])\.([0-9]) ([0-9]{3}) ")


def parse_response_head(head: bytes) -> Response | None:
    """``HTTP_Client_ParseResponseMsg`` over the header block (status line .. last field's CRLF)."""
    if len(head) < 15:
        return None
    m = _STATUS.match(head)
    if m is None:
        return None
    status = int(m.group(3))
    eol = head.find(b"\r", m.end())
    if eol < 0 or head[eol : eol + 2] != b"\r\n":
        return None
    fields = head[eol + 2 :]
    if not fields:
        return None  # HTTP_Client_ParseHeaderFields refuses an empty field block
    content_length = 0
    pos = 0
    while pos < len(fields):
        colon = fields.find(b":", pos)
        if colon < 0:
            return None
        name = fields[pos:colon]
        p = colon + 1
        while p < len(fields) and fields[p] in b" \t":
            p += 1
        if p >= len(fields):
            return None
        cr = fields.find(b"\r", p)
        end = cr if cr >= 0 else len(fields)
        value = fields[p:end].rstrip(b" \t")
        if fields[end : end + 2] != b"\r\n":
            return None
        pos = end + 2
        if name == b"Content-Length":
            num = re.match(rb"\s*\+?(\d+)", value)
            content_length = int(num.group(1)) & 0xFFFFFFFF if num else 0
    return Response(status, content_length)


class State(Enum):
    NAME_LOOKUP = auto()
    CONNECT = auto()
    CONNECTING = auto()
    CONNECTED = auto()
    REQUEST_SENT = auto()
    CLOSE = auto()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and literal 127.0.0.0/8 or ``::1`` addresses."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpClient:
    """``HTTP_Client_*`` with its single connection descriptor.

    ``loopback_only`` (the default) confines the virtual board to this machine, without any DNS query or
    packet leaving the host: a host name other than ``localhost`` fails as an unresolvable name would
    (``DNS_FAILED``), and an address outside 127.0.0.0/8 -- Harmony's example ``SYS_OTA_URL`` is a LAN
    address -- as a server that never answers does: the connect never completes, so the service meets the
    same stall and time-outs as Harmony's C code meets on a host with no such server. The host is recorded in
    :attr:`blocked` (each once, at most 64). Boards that should reach a LAN server set it to False.
    """

    loopback_only: bool = True

    def __init__(self, clock: VirtualClock, console: Console, profile: QuirkProfile, enforce_tls: bool = False) -> None:
        self.clock, self.console, self.profile, self.enforce_tls = clock, console, profile, enforce_tls
        self.valid = False  # isValid of the only descriptor
        self.state = State.CLOSE
        self.error: str | None = None
        self.sock: socket.socket | None = None
        self.uri: Uri | None = None
        self.ip = ""
        self.head = bytearray()
        self.head_done = False
        self.response: Response | None = None
        self.received = 0
        self.rx_ready = True
        self.eof = False
        self.sock_timer_ms = 0.0
        self.on_header: Callable[[Response], None] = lambda r: None
        self.on_payload: Callable[[bytes], None] = lambda b: None
        self.blocked: list[str] = []  # hosts refused by the loopback-only policy
        self.unreachable = False  # connecting to an address the policy refuses: the connect never completes

    def _note_blocked(self, host: str) -> None:
        if host not in self.blocked and len(self.blocked) < MAX_BLOCKED_HOSTS:
            self.blocked.append(host)

    def _ms(self) -> float:
        return self.clock.now() * 1000.0

    def get(self, url: str) -> bool:
        """``HTTP_Client_Get``: ``False`` is ``HTTP_CLIENT_HANDLE_INVALID``."""
        if self.valid:
            self.console(b"NULL == pDcpt")
            self.console(b"HTTP_CLIENT_HANDLE_INVALID == handle\n\r")
            return False
        self.valid = True
        self.error, self.sock, self.head, self.head_done = None, None, bytearray(), False
        self.response, self.received, self.rx_ready, self.eof = None, 0, True, False
        self.unreachable = False
        uri = parse_uri(url, self.enforce_tls)
        if uri is None:
            # Harmony returns without releasing the slot it just took (quirk http-slot-leak-on-bad-url).
            if not self.profile.on("http-slot-leak-on-bad-url"):
                self.valid = False
            return False
        self.uri = uri
        self.ip = ""
        if uri.host[:1].isdigit():
            try:
                socket.inet_aton(uri.host)
                self.ip = uri.host if uri.host.count(".") == 3 else ""
            except OSError:
                self.ip = ""
        self.state = State.CONNECT if self.ip else State.NAME_LOOKUP
        return True

    def cancel(self) -> None:
        if self.valid:
            self.error = self.error or "USER_CANCELLED"
            self.state = State.CLOSE

    def _close(self, error: str) -> None:
        self.error = error
        self.state = State.CLOSE

    def task(self) -> bool:
        """``HTTP_Client_Task``; returns whether the handle is still valid."""
        if not self.valid:
            return False
        st = self.state
        if st is State.NAME_LOOKUP:
            assert self.uri is not None
            if self.loopback_only and not is_loopback(self.uri.host):
                if not _is_address(self.uri.host):
                    self._note_blocked(self.uri.host)
                    self._close("DNS_FAILED")  # a name: no DNS query leaves the host
                    return True
                self.ip = self.uri.host  # an address needs no lookup (TCPIP_Helper_StringToIPAddress)
                self.state = State.CONNECT
                return True
            try:
                infos = socket.getaddrinfo(self.uri.host, None, socket.AF_INET, socket.SOCK_STREAM)
                self.ip = str(infos[0][4][0])
                self.state = State.CONNECT
            except (OSError, UnicodeError, IndexError):
                self._close("DNS_FAILED")
        elif st is State.CONNECT:
            assert self.uri is not None
            if self.uri.scheme != "http":
                self._close("CONNECT_FAILED")  # no TLS stack in the model
                return True
            if self.loopback_only and not is_loopback(self.ip):
                self._note_blocked(self.uri.host)
                self.unreachable = True  # no socket, no packet: the connect simply never completes
                self.sock_timer_ms = self._ms()
                self.state = State.CONNECTING
                return True
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex((self.ip, self.uri.port))
            if rc not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
                s.close()
                self._close("CONNECT_FAILED")
            else:
                self.sock = s
                self.sock_timer_ms = self._ms()
                self.state = State.CONNECTING
        elif st is State.CONNECTING:
            self._connecting()
        elif st is State.CONNECTED:
            assert self.sock is not None and self.uri is not None
            try:
                self.sock.send(request_bytes(self.uri))
                self.state = State.REQUEST_SENT
            except BlockingIOError:
                pass  # NET_PRES_SocketWriteIsReady false: try again next task
            except OSError:
                self._close("SEND_FAILED")
        elif st is State.REQUEST_SENT:
            self._receive()
        elif st is State.CLOSE:
            if self.sock is not None:
                self.sock.close()
                self.sock = None
            self.valid = False
            return False
        return True

    def _connecting(self) -> None:
        if self._ms() - self.sock_timer_ms > CONNECT_TIMEOUT_MS:
            self._close("CONNECT_FAILED")
            self.console(b"Socket connect timeout\n\r")
            return
        if self.sock is None:
            return  # an address the loopback-only policy refuses: nothing ever answers
        _, writable, _ = select.select([], [self.sock], [], 0)
        if writable:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err == 0:
                self.state = State.CONNECTED
            else:
                self._close("RECV_FAILED")  # the refusal arrives as a TCP reset signal

    def _receive(self) -> None:
        assert self.sock is not None
        while self.rx_ready and not self.eof:
            try:
                data = self.sock.recv(BUFFER_SIZE)
            except BlockingIOError:
                return
            except OSError:
                self._close("RECV_FAILED")  # TCPIP_TCP_SIGNAL_RX_RST
                return
            if not data:
                self.eof = True  # a FIN is not an event for Harmony's client
                return
            self._process(data)
            if self.error == "MEMORY":
                return

    def _process(self, data: bytes) -> None:
        """``HTTP_Client_SocketReceveProcess``."""
        payload = data
        if not self.head_done:
            start = max(0, len(self.head) - 3)  # a terminator may span the previous segment and this one
            self.head += data
            end = self.head.find(b"\r\n\r\n", start)
            if end < 0:
                if len(self.head) > MAX_HEADER_BLOCK:
                    self.head = bytearray()
                    self._close("MEMORY")
                return
            payload = bytes(self.head[end + 4 :])
            head = bytes(self.head[: end + 2])
            self.head_done = True
            rsp = parse_response_head(head)
            if rsp is None:
                self._close("RESPONSE_HEADERS")
                payload = b""
            else:
                self.response = rsp
                self.on_header(rsp)
                self.received = 0
                if rsp.content_length == 0:
                    self.state = State.CLOSE
        if payload:
            self.received += len(payload)
            self.on_payload(payload)
            if self.response is not None and self.received == self.response.content_length:
                self.state = State.CLOSE

    def on_network(self) -> bool:
        """Connecting or waiting for response bytes: only the network can move the client on."""
        connection = self.sock is not None or (self.unreachable and self.state is State.CONNECTING)
        return self.valid and connection and self.state in (State.CONNECTING, State.REQUEST_SENT)

    def waiting_socket(self) -> socket.socket | None:
        """The socket a runner may wait on when the client cannot progress without the network."""
        if self.valid and self.sock is not None and self.state in (State.CONNECTING, State.REQUEST_SENT):
            if self.state is State.REQUEST_SENT and (self.eof or not self.rx_ready):
                return None
            return self.sock
        return None


class Downloader:
    """``DOWNLOADER_*``: the 4 KiB buffer between the HTTP client and its reader."""

    def __init__(self, client: HttpClient, console: Console) -> None:
        self.client, self.console = client, console
        self.buf: bytearray | None = None
        self.paused = False
        self.handle_valid = False  # downloader.httpHandle != HTTP_CLIENT_HANDLE_INVALID
        self.field_content_length = 0  # the global ``field_content_length``: set only by 200 responses
        client.on_header = self._on_header
        client.on_payload = self._on_payload

    def _on_header(self, rsp: Response) -> None:
        if rsp.status == 200:
            self.field_content_length = rsp.content_length
        else:
            self.console(f"SYS_OTA : Request rejected by client :code: {rsp.status} \r\n".encode())
            self.client.cancel()

    def _on_payload(self, data: bytes) -> None:
        """``DOWNLOADER_BufPut``: accept, then pause the client until the buffer is drained."""
        if self.buf is None:
            self.console(b"SYS_OTA : No Buffer available\r\n")
            return
        if len(data) > DOWNLOADER_BUFFER_SIZE - len(self.buf):
            self.console(f"SYS_OTA : Buffer over-run {DOWNLOADER_BUFFER_SIZE} - {len(self.buf)}\r\n".encode())
            return
        self.buf += data
        self.paused = True
        self.client.rx_ready = False

    def open(self, url: str) -> bool:
        """``DOWNLOADER_Open``; ``False`` is ``DRV_HANDLE_INVALID`` (URL parse error or busy client)."""
        self.buf = bytearray()
        self.paused = False
        self.handle_valid = self.client.get(url)
        return self.handle_valid

    def read(self, n: int) -> int | bytes:
        """``DOWNLOADER_Read``: up to ``n`` bytes, ``b""`` when none are buffered, -1 once the client closed."""
        if not self.handle_valid or self.buf is None:
            return -1
        if not self.buf or n <= 0:
            return b""
        out = bytes(self.buf[:n])
        del self.buf[:n]
        if not self.buf:
            self.paused = False
            self.client.rx_ready = True
        return out

    def close(self) -> None:
        """``DOWNLOADER_Close``: aborts (and says so) if the client is still open."""
        if self.handle_valid:
            self.console(b"SYS_OTA : DOWNLOADER_HTTPClient_Abort\r\n")
            self.client.cancel()
            while self.client.task():
                pass
            self.handle_valid = False
        self.buf = None
        self.paused = False

    def tasks(self) -> None:
        """``DOWNLOADER_Tasks``: run the client unless paused."""
        if self.handle_valid and not self.paused:
            self.handle_valid = self.client.task()

    def buffered(self) -> int:
        return len(self.buf) if self.buf is not None else 0
