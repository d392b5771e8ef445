"""Example 2: negative tests. The image server answers v2's download with a fault; the board must report
the failure, keep running v1 and record nothing. The last test also looks into the external flash, which
only the virtual board allows: on a real board it is skipped, saying so.
"""

import pytest

from harness.image.server import Fault, FaultKind

LAST_EVENTS = {"SYS_OTA_DB_ENTRY_SUCCESS", "SYS_OTA_DOWNLOAD_FAILED", "SYS_OTA_IMAGE_VERIFICATION_FAILED"}


def offer_v2_with(fault, ota_bench, ota_images, ota_server):
    """Serve v2 with ``fault`` armed, then the manifest that offers it (so no check sees it unfaulted)."""
    url, digest = ota_server.put_image("app_v2.bin", ota_images.app(ota_bench.factory, 2))
    ota_server.fault("/app_v2.bin", fault)  # every request for the image gets the fault
    ota_server.put_manifest(2, url, digest, path=ota_bench.manifest_path)


@pytest.mark.parametrize(
    ("fault", "reported"),
    [
        (Fault(FaultKind.STATUS, status=404), "SYS_OTA_DOWNLOAD_FAILED"),
        (Fault(FaultKind.CORRUPT, after=5000), "SYS_OTA_IMAGE_VERIFICATION_FAILED"),
    ],
    ids=["http-404", "corrupted-byte"],
)
def test_a_failed_download_leaves_v1_running(ota_bench, ota_board, ota_images, ota_server, fault, reported):
    offer_v2_with(fault, ota_bench, ota_images, ota_server)

    events = ota_board.events_until(LAST_EVENTS, timeout=ota_bench.wall(300))
    assert events[-1] == reported, events
    assert ota_board.status().version == 1
    assert ota_board.image_db() is None  # no image database: nothing was recorded
    assert any(request.fault == fault.kind.value for request in ota_server.requests)


@pytest.mark.otaloop_requires("flash_inspect")
def test_a_corrupted_download_is_deleted(ota_bench, ota_board, ota_images, ota_server, virtual_board):
    offer_v2_with(Fault(FaultKind.CORRUPT, after=5000), ota_bench, ota_images, ota_server)

    events = ota_board.events_until(LAST_EVENTS, timeout=ota_bench.wall(300))
    assert events[-1] == "SYS_OTA_IMAGE_VERIFICATION_FAILED"
    ota_board.status()  # a command round trip: the service has finished with the file
    assert virtual_board.ota_files() == ["factory_reset.bin"]  # only the factory backup is left
