"""BoardConfig.network_patience_s: a loopback server's replies cost no virtual time, however slow they are
in wall time, so a run is repeatable on a loaded host (what the fuzzer relies on)."""

from __future__ import annotations

from bootloader_model.board.virtual_board import AppState, BoardConfig, VirtualBoard
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from harness.image.server import Fault, FaultKind, ImageServer


def _download_seconds(patience_s: float) -> float:
    """Virtual seconds from DOWNLOAD_START to DOWNLOAD_SUCCESS of an 8 KiB image sent 1 KiB per 50 ms.

    Flash operations cost no virtual time here (``timed_flash=False``), so what is measured is the network.
    """
    with ImageServer() as server:
        url = server.url("/ota.json")
        v1, v2 = (build_app(AppDescriptor(version=v, manifest_url=url), 8192) for v in (1, 2))
        image_url, digest = server.put_image("app_v2.bin", v2)
        server.put_manifest(2, image_url, digest)
        server.fault("/app_v2.bin", Fault(FaultKind.SLOW, seconds=0.05))
        board = VirtualBoard(BoardConfig(network_delay_s=0.05, network_patience_s=patience_s, timed_flash=False))
        board.provision(v1)
        board.power_on()
        assert board.run_until(lambda: b"SYS_OTA_DOWNLOAD_SUCCESS" in board.transcript, 200.0), board.text
        t = board.transcript
        start = board.printed - len(t)
        begin = board.printed_at(start + t.find(b"SYS_OTA_DOWNLOAD_START"))
        done = board.printed_at(start + t.find(b"SYS_OTA_DOWNLOAD_SUCCESS"))
        assert begin is not None and done is not None and board.state is AppState.RUNNING
        return done - begin


def test_a_slow_loopback_server_costs_no_virtual_time_with_patience() -> None:
    patient = _download_seconds(2.0)
    hasty = _download_seconds(0.0)
    assert patient < 0.1  # a few 1 ms ticks per KiB
    assert hasty > 0.15  # about 8 x 50 ms of silence passed at wall speed (the usual grace period)
