"""A slow network must not stop the board's console, its time or the saving of its state.

On the board the console (SYS_COMMAND task) and the OTA service are separate tasks: a download from a
server trickling at 50 KB/s goes on in the background while ``otactl status`` is echoed and answered. These
tests serve an image slowly (1 KiB pieces, a trickle of single bytes, slow header fields) from a real HTTP
server, run ``otaloop board`` as a subprocess on a real pty and type while the download runs. The answer
itself proves when it was given: ``downloaded`` between 0 and ``total`` means during the download.
"""

from __future__ import annotations

import hashlib
import re
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from harness.board_link.console import Console
from harness.board_link.driver import BoardDriver
from harness.board_link.transport import open_port
from harness.image.server import Fault, FaultKind, ImageServer
from tests.test_board_cli import CLI, ENV

DOWNLOADING = re.compile(rb"otactl: state=(\w+) downloaded=(\d+) total=(\d+) version=1")


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with ImageServer(max_hold=60) as srv:
        yield srv


def _board(tmp_path: Path, server: ImageServer, fault: Fault, size: int) -> tuple[subprocess.Popen[str], str, Path]:
    url = server.url("/ota.json")
    factory = tmp_path / "app_v1.bin"
    factory.write_bytes(build_app(AppDescriptor(version=1, manifest_url=url), 80_000))
    iu, digest = server.put_image("app_v2.bin", build_app(AppDescriptor(version=2, manifest_url=url), size))
    server.put_manifest(2, iu, digest)
    server.fault("/app_v2.bin", fault)
    state = tmp_path / "state"
    argv = [*CLI, "board", "--state", str(state), "--factory", str(factory)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("console: "), first
    return proc, first.split(" ", 1)[1].strip(), state


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.terminate()
    _, err = proc.communicate(timeout=20)
    return proc.returncode, err


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("fault", "size"),
    [
        (Fault(FaultKind.SLOW, seconds=0.02), 300_000),  # 1 KiB every 20 ms: 50 KB/s
        (Fault(FaultKind.TRICKLE, seconds=0.002), 40_000),  # slowloris: one byte at a time, headers too
        (Fault(FaultKind.HUGE_HEADERS, after=20_000, seconds=0.1), 40_000),  # 20 KB of header fields, for 2 s
    ],
    ids=["slow-50KBps", "trickle", "slow-headers"],
)
def test_console_answers_and_state_is_saved_during_a_slow_download(
    tmp_path: Path, server: ImageServer, fault: Fault, size: int
) -> None:
    proc, tty, state = _board(tmp_path, server, fault, size)
    port = open_port(tty)
    try:
        con = Console(port)
        drv = BoardDriver(con, boot_timeout=30)
        assert drv.wait_boot().app_version == 1
        con.expect(b"SYS_OTA_DOWNLOAD_START", 60)
        before = _digest(state / "external.bin")
        # Typed while the service waits on the slow server: echoed and answered meanwhile.
        con.send_line("otactl status")
        con.expect(b"otactl status", 30)  # the echo
        m = con.expect(DOWNLOADING, 30)
        assert int(m.group(3)) in (0, size)
        assert b"SYS_OTA_DOWNLOAD_SUCCESS" not in con.buffer and b"SYS_OTA_DOWNLOAD_FAILED" not in con.buffer
        if fault.kind is FaultKind.SLOW:
            for _ in range(200):  # ask again until the first bytes have arrived
                if int(m.group(2)) > 0:
                    break
                con.send_line("otactl status")
                m = con.expect(DOWNLOADING, 30)
            assert 0 < int(m.group(2)) < size  # the download was under way when the board answered
            assert b"SYS_OTA_DOWNLOAD_SUCCESS" not in con.buffer
            # The flash writes of the download reach the state directory while it runs (saved every 0.2 s).
            deadline = time.monotonic() + 30
            while _digest(state / "external.bin") == before and time.monotonic() < deadline:
                con.poll()
            assert _digest(state / "external.bin") != before
            assert b"SYS_OTA_DOWNLOAD_SUCCESS" not in con.buffer
    finally:
        port.close()
        code, err = _stop(proc)
    assert code == 0 and "Traceback" not in err, err


def test_gigantic_headers_are_held_up_to_the_heap_and_then_refused(server: ImageServer) -> None:
    """2 MB of header fields: the client never holds more than the application's heap, then gives up."""
    from bootloader_model.clock import VirtualClock
    from bootloader_model.quirks import HARMONY
    from bootloader_model.service import http_client

    server.put("/big.bin", b"x" * 5000)
    server.fault("/big.bin", Fault(FaultKind.HUGE_HEADERS, after=2_000_000, seconds=0))
    client = http_client.HttpClient(VirtualClock(), lambda b: None, HARMONY)
    assert client.get(server.url("/big.bin"))
    held = 0
    process = client._process

    def spy(data: bytes) -> None:  # the header block after every socket read
        nonlocal held
        process(data)
        held = max(held, len(client.head))

    client._process = spy  # type: ignore[method-assign]
    for _ in range(200_000):
        if not client.task():
            break
        if client.state is http_client.State.REQUEST_SENT:
            select.select([client.sock], [], [], 0.05)
    assert not client.valid and client.error == "MEMORY" and client.response is None
    assert http_client.MAX_HEADER_BLOCK - http_client.BUFFER_SIZE < held <= http_client.MAX_HEADER_BLOCK
