"""The whole virtual board updating itself with a 900,000-byte image, against hashing + copying the same bytes.

Timed: from a board holding factory v1 (first-boot backup already done, powered off) to v2 running.
Power on, the bootloader jumps to v1, v1 checks the manifest on an :class:`~harness.image.server.ImageServer`
at 127.0.0.1, downloads the image over real loopback HTTP into the FAT volume on the emulated SST26,
verifies its SHA-256, adds the DB row, writes boot control and resets; the bootloader erases and programs
internal flash, verifies the image and jumps to v2. Provisioning and the first-boot backup are not timed.
The baseline is ``hashlib.sha256`` of the image plus one ``bytearray`` copy of it, in the same run.
Target: at most 250 ms.
"""

from __future__ import annotations

from benchmarks._timing import best_of, line, sha256_and_copy
from bootloader_model.board.virtual_board import AppState, BoardConfig, VirtualBoard
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from bootloader_model.storage.nor_flash import Snapshot
from harness.image.server import ImageServer

SIZE = 900_000  # "900 KiB" in the issue; 921,600 bytes would not fit the 913,408-byte slot
TARGET_S = 0.250


def backed_up_board(server: ImageServer) -> tuple[bytes, tuple[Snapshot, Snapshot]]:
    """Serve v2 on ``server`` and make the board the update starts from (not timed).

    Args:
        server: the image server the board's manifest URL names; v2 and its manifest are put on it.

    Returns:
        v2's bytes, and the flash snapshots (internal, external) of a board provisioned with factory v1
        that has done its first boot (backup made) and is powered off.
    """
    url = server.url("/ota.json")
    factory = build_app(AppDescriptor(version=1, manifest_url=url), SIZE)
    image = build_app(AppDescriptor(version=2, manifest_url=url), SIZE)
    image_url, digest = server.put_image("app_v2.bin", image)
    server.put_manifest(2, image_url, digest)
    board = VirtualBoard(BoardConfig(network="loopback"))
    board.provision(factory)
    board.set_network(False)
    board.power_on()
    board.run_until(lambda: board.state is AppState.RUNNING, 100)
    board.power_off()
    return image, (board.internal.snapshot(), board.external.snapshot())


def update(snaps: tuple[Snapshot, Snapshot]) -> VirtualBoard:
    """Power on the snapshot board and run it until v2 runs (the check is typed, not waited for)."""
    board = VirtualBoard(BoardConfig(network="loopback", network_delay_s=0.0))
    board.internal.restore(snaps[0])
    board.external.restore(snaps[1])
    board.power_on()
    board.uart_rx(b"otactl check\r")

    def v2_runs() -> bool:
        svc = board.service
        return svc is not None and svc.config.app_version == 2

    if not board.run_until(v2_runs, 600):
        raise AssertionError(f"the update did not finish:\n{board.text[-1000:]}")
    return board


def run() -> list[str]:
    with ImageServer() as server:
        image, snaps = backed_up_board(server)
        board = update(snaps)
        chosen = board.boots[-1].chosen
        assert chosen is not None and chosen.version == 2 and board.boots[-1].verified[-1].ok
        t_update = best_of(lambda: update(snaps), repeat=5)

    t_base = sha256_and_copy(image)
    verdict = "met" if t_update <= TARGET_S else "MISSED"
    return [
        "update: whole board, v1 -> v2, 900,000-byte image (check, HTTP download, verify, DB, reset, program, boot)",
        line("  sha256 + bytearray copy (baseline)", t_base, t_base, "baseline"),
        line("  virtual board update over loopback HTTP", t_update, t_base, "baseline"),
        f"  target {TARGET_S * 1e3:.0f} ms: {verdict} ({t_update * 1e3:.0f} ms)",
    ]


if __name__ == "__main__":
    print("\n".join(run()))
