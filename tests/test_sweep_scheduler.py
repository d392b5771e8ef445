"""``--scheduler``: one parser for Dask scheduler addresses, and a connection that ends in a one-line error for a
closed port, a silent server or one that answers garbage (all on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from bootloader_model.errors import CallerError
from harness.cli import main
from harness.sweeps.executor import DaskCluster, InProcess, Work, scheduler_address


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("tcp://127.0.0.1:8786", "tcp://127.0.0.1:8786"),
        ("127.0.0.1:8786", "tcp://127.0.0.1:8786"),
        (" TCP://sched.lab:1 ", "tcp://sched.lab:1"),
        ("tls://[::1]:65535", "tls://[::1]:65535"),
        ("ws://10.0.0.5:8786", "ws://10.0.0.5:8786"),
    ],
)
def test_scheduler_addresses_dask_accepts(text: str, address: str) -> None:
    assert scheduler_address(text) == address


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("bogus", "expected SCHEME://HOST:PORT"),
        ("notaurl://x", "unknown scheme 'notaurl'"),
        ("tcp://:abc", "expected SCHEME://HOST:PORT"),
        ("", "--scheduler is empty"),
        ("tcp://127.0.0.1:0", "port 0 is not 1..65535"),
        ("tcp://127.0.0.1:65536", "port 65536 is not 1..65535"),
        ("tcp://127.0.0.1:8786/path", "expected SCHEME://HOST:PORT"),
        ("tcp://user@127.0.0.1:8786", "expected SCHEME://HOST:PORT"),
        ("inproc://127.0.0.1/1/2", "unknown scheme 'inproc'"),
    ],
)
def test_other_addresses_are_refused_saying_why(text: str, needle: str) -> None:
    with pytest.raises(CallerError, match=needle):
        scheduler_address(text)


@pytest.mark.parametrize("text", ["bogus", "notaurl://x", "tcp://:abc", ""])
def test_the_cli_refuses_a_bad_scheduler_in_one_line_before_any_work(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", "update", "--scheduler", text]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("otaloop sweep: error: --scheduler") and err.count("\n") == 1


# ------------------------------------------------------------------------------ something else answers
def _listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


@pytest.fixture
def garbage_server() -> Iterator[str]:
    """A plain TCP server on 127.0.0.1 that answers every connection with bytes Dask cannot read."""
    sock = _listener()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            # A client that leaves at once (the reachability check) must not end the server.
            with conn, contextlib.suppress(OSError):
                conn.sendall(b"\xff" * 8 + b"\x4d\x3c" * 64)  # a frame count and lengths of exabytes
                conn.recv(1024)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    sock.close()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that accepts and then never says anything."""
    sock = _listener()
    held: list[socket.socket] = []
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    yield f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    done.set()
    sock.close()
    for conn in held:
        conn.close()


def _one_task() -> Work[int, int, int, int]:
    return Work(lambda p: p, lambda c, t: c + t, 1, [1])


def test_a_garbage_server_is_a_caller_error_not_a_memory_error(garbage_server: str) -> None:
    pytest.importorskip("distributed", reason="Dask sweeps need the distributed extra")
    with pytest.raises(CallerError, match="does not speak Dask's protocol"):
        list(DaskCluster(garbage_server, connect_timeout_s=5.0).run(_one_task()))


def test_a_silent_server_is_a_caller_error_after_the_timeout(silent_server: str) -> None:
    pytest.importorskip("distributed", reason="Dask sweeps need the distributed extra")
    with pytest.raises(CallerError, match=r"did not answer within 1 s"):
        list(DaskCluster(silent_server, connect_timeout_s=1.0).run(_one_task()))


def test_a_closed_port_is_a_caller_error() -> None:
    pytest.importorskip("distributed", reason="Dask sweeps need the distributed extra")
    sock = _listener()
    address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()  # nothing listens there now
    with pytest.raises(CallerError, match=f"the Dask scheduler at {address}"):
        list(DaskCluster(address, connect_timeout_s=1.0).run(_one_task()))


def test_the_cli_names_a_garbage_server_in_one_line(garbage_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("distributed", reason="Dask sweeps need the distributed extra")
    assert main(["sweep", "update", "--stride", "500", "--scheduler", garbage_server]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"otaloop sweep: error: {garbage_server} does not speak Dask's protocol")
    assert err.count("\n") == 1 and "Traceback" not in err and "EiB" not in err


def test_the_in_process_executor_still_runs_the_same_work() -> None:
    assert list(InProcess().run(_one_task())) == [(0, 2)]
