"""Example 1: an update. The board checks its image server every 60 s (factory configuration ``auto``, the
MHC default); serve v2 and it downloads, verifies and records it, resets, and the bootloader installs it.

The same file runs on a fresh virtual board per test (``pytest examples/``) and on a real board
(``pytest examples/ --otaloop-port /dev/ttyACM0 --otaloop-http 192.168.43.10:8000 --otaloop-images DIR``).
"""

#: The events that end an update attempt, whichever way it goes.
LAST_EVENTS = {"SYS_OTA_DB_ENTRY_SUCCESS", "SYS_OTA_DOWNLOAD_FAILED", "SYS_OTA_IMAGE_VERIFICATION_FAILED"}


def test_the_board_installs_v2_and_boots_it(ota_bench, ota_board):
    url, digest, _image = ota_bench.publish(2)  # v2 and an ota.json offering it, on the image server

    # Timeouts are given in board seconds: ota_bench.wall() turns them into wall seconds for this board.
    events = ota_board.events_until(LAST_EVENTS, timeout=ota_bench.wall(200))
    assert events[-1] == "SYS_OTA_DB_ENTRY_SUCCESS", events
    assert "SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS" in events

    boot = ota_board.wait_boot(ota_bench.wall(200))  # the service resets; the bootloader programs v2
    assert boot.app_version == 2
    assert ota_board.status().version == 2

    [(name, _status, version, recorded_digest)] = ota_board.image_db()
    assert (name, version, recorded_digest) == (url.rsplit("/", 1)[1], 2, digest)
