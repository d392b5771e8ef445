"""Every quirk of the OTA service, core and downloader, in profile harmony-3.9.1 and in profile corrected."""

from __future__ import annotations

import hashlib

import pytest

from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, PAGE_SIZE
from bootloader_model.quirks import QUIRKS
from bootloader_model.service.commands import handle_command
from bootloader_model.service.configuration import CtrlMsg
from bootloader_model.storage.file_api import OTA_DIR
from tests.otaserver import OtaTestServer, Route
from tests.service_helpers import V1_ROW, Rig, image, make_rig, manifest, manual_rig

H, C = "harmony-3.9.1", "corrected"
PROFILES = [H, C]
SERVICE_QUIRKS = {q.name for q in QUIRKS if q.component in ("service", "core", "downloader")}
TESTED: set[str] = set()


def covers(name: str) -> str:
    TESTED.add(name)
    return name


def msg(rig: Rig, m: CtrlMsg) -> None:
    assert rig.svc.ctrl_msg(m) == 0, rig.svc.state


def settle(rig: Rig, s: float = 50) -> None:
    rig.until(lambda: False, s)


def since(rig: Rig, n: int) -> list[str]:
    return rig.events()[n:]


def start(
    rig: Rig, server: OtaTestServer, data: bytes, version: int = 2, path: str | None = None, **route: object
) -> None:
    p = path or f"/app_v{version}.bin"
    server.routes[p] = Route(body=data, **route)  # type: ignore[arg-type]
    rig.svc.set_parameters(server.url(p), version, hashlib.sha256(data).hexdigest())
    msg(rig, CtrlMsg.SYS_OTA_INITIATE_OTA)


@pytest.mark.parametrize("profile", PROFILES)
def test_failed_events_dropped(server: OtaTestServer, profile: str) -> None:
    covers("svc-failed-events-dropped")
    rig = manual_rig(server, profile, autoreset=False)
    start(rig, server, image(5000))
    assert rig.until_event("SYS_OTA_DB_ENTRY_SUCCESS") and rig.until_idle(5)
    n = len(rig.events())
    msg(rig, CtrlMsg.SYS_OTA_TRIGGER_ROLLBACK)  # refused by the service: a download is done
    settle(rig)
    assert since(rig, n) == ([] if profile == H else ["SYS_OTA_ROLLBACK_FAILED"])
    assert rig.svc.state.name == "SYS_OTA_STATE_IDLE"


@pytest.mark.parametrize("profile", PROFILES)
def test_stale_check_result(server: OtaTestServer, profile: str) -> None:
    covers("svc-stale-check-result")
    server.routes["/ota.json"] = Route(body=manifest(2, "http://h/a.bin", "00" * 32))
    rig = manual_rig(server, profile, auto_update=False)
    msg(rig, CtrlMsg.SYS_OTA_UPDATECHCK)
    assert rig.until_event("SYS_OTA_UPDATE_AVAILABLE") and rig.until_idle(5)
    server.routes["/ota.json"] = Route(status=503)
    msg(rig, CtrlMsg.SYS_OTA_UPDATECHCK)
    assert rig.until_event("SYS_OTA_UPDATE_CHECK_START", 2) and rig.until_idle(50)
    assert rig.events()[-1] == ("SYS_OTA_UPDATE_AVAILABLE" if profile == H else "SYS_OTA_UPDATE_CHECK_FAILED")


@pytest.mark.parametrize("profile", PROFILES)
def test_json_offset_not_reset(server: OtaTestServer, profile: str) -> None:
    covers("svc-json-offset-not-reset")
    server.routes["/ota.json"] = Route(body=manifest(2, "http://h/" + "a" * 2100 + ".bin", "00"))
    rig = manual_rig(server, profile)
    msg(rig, CtrlMsg.SYS_OTA_UPDATECHCK)
    assert rig.until_event("SYS_OTA_UPDATE_CHECK_FAILED", 1, 100) and rig.until_idle(5)
    server.routes["/ota.json"] = Route(body=manifest(1, "http://h/a.bin", "00" * 32))
    msg(rig, CtrlMsg.SYS_OTA_UPDATECHCK)
    assert rig.until_event("SYS_OTA_UPDATE_CHECK_START", 2) and rig.until_idle(100)
    assert rig.events()[-1] == ("SYS_OTA_UPDATE_CHECK_FAILED" if profile == H else "SYS_OTA_UPDATE_NOTAVAILABLE")


@pytest.mark.parametrize("profile", PROFILES)
def test_stuck_trigger_after_start_failure(server: OtaTestServer, profile: str) -> None:
    covers("svc-stuck-trigger-after-start-failure")
    rig = manual_rig(server, profile, free_sector_check=True)
    rig.fs.capacity = rig.fs.used_bytes() + 10 * 512  # <= 10 free sectors: OTA_Start refuses
    rig.svc.set_parameters(server.url("/a.bin"), 2, "00" * 32)
    msg(rig, CtrlMsg.SYS_OTA_INITIATE_OTA)
    assert rig.until_event("SYS_OTA_TRIGGER_OTA_FAILED") and rig.until_idle(5)
    assert "SYS OTA : No Free Sector, Download not possible" in rig.lines()
    rig.fs.capacity = 4 * 1024 * 1024
    start(rig, server, image(5000))
    settle(rig)
    if profile == H:
        assert rig.svc.state.name == "SYS_OTA_TRIGGER_OTA" and "SYS_OTA_DOWNLOAD_START" not in rig.events()
    else:
        assert "SYS_OTA_DB_ENTRY_SUCCESS" in rig.events()


@pytest.mark.parametrize("profile", PROFILES)
def test_stuck_erase_flag(server: OtaTestServer, profile: str) -> None:
    covers("svc-stuck-erase-flag")
    rows = [V1_ROW, ["app_v2.bin", "f0", "2", "0x01", "22" * 32]]
    rig = manual_rig(
        server, profile, auto_update=False, num_images=3, db_rows=rows, files={"app_v1.bin": b"1", "app_v2.bin": b"2"}
    )
    server.routes["/ota.json"] = Route(body=manifest(2, "http://h/a.bin", "00", EraseVer=True))
    msg(rig, CtrlMsg.SYS_OTA_UPDATECHCK)
    assert rig.until_event("SYS_OTA_IMAGE_ERASED") and rig.until_idle(5)
    server.routes["/ota.json"] = Route(body=manifest(5, "http://h/a.bin", "00" * 32))  # no EraseVer
    msg(rig, CtrlMsg.SYS_OTA_UPDATECHCK)
    assert rig.until_event("SYS_OTA_UPDATE_CHECK_START", 2) and rig.until_idle(50)
    assert rig.events()[-1] == ("SYS_OTA_IMAGE_ERASE_FAILED" if profile == H else "SYS_OTA_UPDATE_AVAILABLE")


@pytest.mark.parametrize("profile", PROFILES)
def test_check_after_download_hangs(server: OtaTestServer, profile: str) -> None:
    covers("svc-check-after-download-hangs")
    rig = manual_rig(server, profile, autoreset=False)
    start(rig, server, image(5000))
    assert rig.until_event("SYS_OTA_DB_ENTRY_SUCCESS") and rig.until_idle(5)
    msg(rig, CtrlMsg.SYS_OTA_UPDATECHCK)
    settle(rig)
    if profile == H:
        assert rig.svc.state.name == "SYS_OTA_SERVER_UPDATE_CHECK_TRIGGER"
        assert rig.events()[-1] == "SYS_OTA_UPDATE_CHECK_START"
    else:
        assert rig.svc.state.name == "SYS_OTA_STATE_IDLE"
        assert rig.events()[-1] == "SYS_OTA_UPDATE_NOTAVAILABLE"


@pytest.mark.parametrize("profile", PROFILES)
def test_db_entry_failure_unhandled(server: OtaTestServer, profile: str) -> None:
    covers("svc-db-entry-failure-unhandled")
    rig = manual_rig(server, profile, db_rows=None, files={})
    rig.fs.mkdir(f"{OTA_DIR}/image_database.csv")  # a directory where the DB file should go: saves fail
    start(rig, server, image(5000))
    assert rig.until_event("SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS")
    settle(rig)
    if profile == H:
        assert rig.events()[-1] == "SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS"
        assert rig.svc.state.name == "SYS_OTA_WAIT_FOR_OTA_COMPLETE"
    else:
        assert rig.events()[-1] == "SYS_OTA_DOWNLOAD_FAILED"
        assert rig.svc.state.name == "SYS_OTA_STATE_IDLE"


@pytest.mark.parametrize("profile", PROFILES)
def test_periodic_off_stays_waiting(server: OtaTestServer, profile: str) -> None:
    covers("svc-periodic-off-stays-waiting")
    rig = make_rig(server, profile, db_rows=[V1_ROW], files={"app_v1.bin": b"1"})
    rig.until(lambda: rig.svc.state.name == "SYS_OTA_WAIT_FOR_OTA_TIMER_TRIGGER", 5)
    handle_command(rig.svc, ["sysota", "set", "0"])
    settle(rig, 100)
    res = rig.svc.ctrl_msg(CtrlMsg.SYS_OTA_UPDATECHCK)
    assert res == (1 if profile == H else 0)
    assert rig.events() == []


@pytest.mark.parametrize("profile", PROFILES)
def test_negative_version_available(server: OtaTestServer, profile: str) -> None:
    covers("svc-negative-version-available")
    server.routes["/ota.json"] = Route(body=manifest(-3, "http://h/a.bin", "00" * 32))
    rig = manual_rig(server, profile, auto_update=False)
    msg(rig, CtrlMsg.SYS_OTA_UPDATECHCK)
    assert rig.until_idle(50) and len(rig.events()) == 2
    assert rig.events()[-1] == ("SYS_OTA_UPDATE_AVAILABLE" if profile == H else "SYS_OTA_UPDATE_NOTAVAILABLE")


@pytest.mark.parametrize("profile", PROFILES)
def test_status_error_reported_as_success(server: OtaTestServer, profile: str) -> None:
    covers("core-status-error-reported-as-success")
    rig = manual_rig(server, profile, running_version=4)  # no DB row has version 4
    msg(rig, CtrlMsg.SYS_OTA_TRIGGER_ROLLBACK)
    settle(rig)
    assert rig.events() == (["SYS_OTA_ROLLBACK_SUCCESS"] if profile == H else ["SYS_OTA_ROLLBACK_FAILED"])
    assert rig.boot_control().status == 0xFC  # untouched either way


@pytest.mark.parametrize("profile", PROFILES)
def test_task_state_not_reset(server: OtaTestServer, profile: str) -> None:
    covers("core-task-state-not-reset")
    rig = manual_rig(server, profile)
    start(rig, server, image(6000))
    server.routes["/app_v2.bin"] = Route(body=image(6000, seed=7))  # wrong bytes: digest mismatch
    assert rig.until_event("SYS_OTA_IMAGE_DIGEST_VERIFY_FAILED") and rig.until_idle(5)
    msg(rig, CtrlMsg.SYS_OTA_TRIGGER_FACTORY_RESET)
    assert rig.until_event("SYS_OTA_FACTORY_RESET_SUCCESS") and rig.until_idle(5)
    db_left = rig.fs.exists(f"{OTA_DIR}/image_database.csv")
    assert db_left is (profile == H)  # Harmony reports success and did nothing
    assert (rig.boot_control().status == 0xF8) is (profile == H)


@pytest.mark.parametrize("profile", PROFILES)
def test_task_state_not_reset_next_download(server: OtaTestServer, profile: str) -> None:
    covers("core-task-state-not-reset")
    rig = manual_rig(server, profile, autoreset=False)
    start(rig, server, image(6000))
    server.routes["/app_v2.bin"] = Route(body=image(6000, seed=7))
    assert rig.until_event("SYS_OTA_IMAGE_DIGEST_VERIFY_FAILED") and rig.until_idle(5)
    n = len(rig.events())
    start(rig, server, image(6000))
    assert rig.until_idle(50)
    first = since(rig, n)[0]
    assert first == ("SYS_OTA_DOWNLOAD_FAILED" if profile == H else "SYS_OTA_DOWNLOAD_START")


@pytest.mark.parametrize("profile", PROFILES)
def test_rollback_flag_sticks(server: OtaTestServer, profile: str) -> None:
    covers("core-rollback-flag-sticks")
    rig = manual_rig(server, profile)
    msg(rig, CtrlMsg.SYS_OTA_TRIGGER_ROLLBACK)
    assert rig.until_event("SYS_OTA_ROLLBACK_SUCCESS") and rig.until_idle(5)
    start(rig, server, image(5000))
    settle(rig)
    if profile == H:
        assert rig.events()[-1] == "SYS_OTA_ROLLBACK_SUCCESS" and "SYS_OTA_DB_ENTRY_SUCCESS" not in rig.events()
        assert rig.boot_control().version == 1 and rig.svc.fw_in_progress
    else:
        assert rig.events()[-1] == "SYS_OTA_DB_ENTRY_SUCCESS" and rig.boot_control().version == 2


@pytest.mark.parametrize("profile", PROFILES)
def test_dbfull_status_wrong_row(server: OtaTestServer, profile: str) -> None:
    covers("core-dbfull-status-wrong-row")
    rows = [["app_v1.bin", "f0", "1", "0x01", "11" * 32], ["app_v2.bin", "f8", "2", "0x01", "22" * 32]]
    rig = manual_rig(server, profile, running_version=2, db_rows=rows, files={"app_v1.bin": b"1", "app_v2.bin": b"2"})
    start(rig, server, image(5000), version=3)
    assert rig.until_event("SYS_OTA_DB_ENTRY_SUCCESS")
    db = rig.db_rows()
    assert db[0][:3] == ["app_v3.bin", "FE", "3"]
    if profile == H:
        assert db[1][1] == "fe" and rig.boot_control().version == 2
    else:
        assert db[1][1] == "f8" and rig.boot_control().version == 3


@pytest.mark.parametrize("profile", PROFILES)
def test_download_status_not_reset(server: OtaTestServer, profile: str) -> None:
    covers("core-download-status-not-reset")
    rig = manual_rig(server, profile)
    start(rig, server, image(6000))
    server.routes["/app_v2.bin"] = Route(body=image(6000, seed=7))
    assert rig.until_event("SYS_OTA_IMAGE_DIGEST_VERIFY_FAILED") and rig.until_idle(5)
    assert rig.svc.download_status() == (6000, 6000)
    start(rig, server, image(6000), status=404)
    assert rig.until_event("SYS_OTA_DOWNLOAD_FAILED") and rig.until_idle(5)
    assert rig.svc.download_status() == ((6000, 6000) if profile == H else (0, 0))


@pytest.mark.parametrize("profile", PROFILES)
def test_image_min_4k(server: OtaTestServer, profile: str) -> None:
    covers("core-image-min-4k")
    rig = manual_rig(server, profile, autoreset=False)
    t0 = rig.clock.now()
    start(rig, server, image(3 * 1024))
    assert rig.until_idle(1100)
    assert rig.clock.now() - t0 < 10  # no 1000 s hang: the closed client fails the read at once
    assert rig.events()[-1] == ("SYS_OTA_DOWNLOAD_FAILED" if profile == H else "SYS_OTA_DB_ENTRY_SUCCESS")


@pytest.mark.parametrize("profile", PROFILES)
def test_url_without_dot_crash(server: OtaTestServer, profile: str) -> None:
    covers("core-url-without-dot-crash")
    rig = manual_rig(server, profile)
    start(rig, server, image(5000), path="/image")
    settle(rig)
    assert rig.svc.hung is (profile == H)
    assert rig.events() == ([] if profile == H else ["SYS_OTA_DOWNLOAD_START", "SYS_OTA_DOWNLOAD_FAILED"])


@pytest.mark.parametrize("profile", PROFILES)
def test_slot_leak_on_bad_url(server: OtaTestServer, profile: str) -> None:
    covers("http-slot-leak-on-bad-url")
    server.routes["/ota.json"] = Route(body=manifest(1, "http://h/a.bin", "00" * 32))
    rig = manual_rig(server, profile)
    handle_command(rig.svc, ["sysota", "set", "0", "1", "1", "60", "http:nowhere"])
    msg(rig, CtrlMsg.SYS_OTA_UPDATECHCK)
    assert rig.until_event("SYS_OTA_UPDATE_CHECK_FAILED") and rig.until_idle(5)
    handle_command(rig.svc, ["sysota", "set", "0", "1", "1", "60", server.url("/ota.json")])
    msg(rig, CtrlMsg.SYS_OTA_UPDATECHCK)
    assert rig.until_event("SYS_OTA_UPDATE_CHECK_START", 2) and rig.until_idle(50)
    if profile == H:
        assert rig.events()[-1] == "SYS_OTA_UPDATE_CHECK_FAILED"
        assert "NULL == pDcptHTTP_CLIENT_HANDLE_INVALID == handle" in rig.lines()
    else:
        assert rig.events()[-1] == "SYS_OTA_UPDATE_NOTAVAILABLE"


@pytest.mark.parametrize("profile", PROFILES)
def test_boot_control_stale_buffer(server: OtaTestServer, profile: str) -> None:
    covers("core-boot-control-stale-buffer")
    # The boot-time confirm of a production image runs first, in a run that freed no 4 KiB block: zeros.
    rig = manual_rig(server, profile, autoreset=False)
    page = rig.flash.read(BOOT_CTL_PHYS, PAGE_SIZE)
    assert page[:4] == bytes([0xF8, 0, 0xFF, 0x01])
    assert page[256:] == (bytes(PAGE_SIZE - 256) if profile == H else b"\xff" * (PAGE_SIZE - 256))
    # After a download the status step gets the block the digest check freed: the last chunk (1808 bytes
    # of a 10,000-byte image) followed by the rest of the chunk before it; digest[0..3] is the image size.
    data = image(10_000)
    start(rig, server, data)
    assert rig.until_event("SYS_OTA_DB_ENTRY_SUCCESS") and rig.until_idle(5)
    page = rig.flash.read(BOOT_CTL_PHYS, PAGE_SIZE)
    assert rig.boot_control().status == 0xF0 and rig.boot_control().version == 2
    stale = data[8192:] + data[4096 + 1808 : 8192]
    if profile == H:
        assert page[256:] == stale[256:]
        assert page[16:20] == (10_000).to_bytes(4, "little") and page[20:256] == bytes(236)
    else:
        assert page[256:] == b"\xff" * (PAGE_SIZE - 256)
        assert page[16:256] == bytes(240)


def test_every_service_quirk_has_a_test() -> None:
    import sys

    mod = sys.modules[__name__]
    names = {getattr(mod, n).__name__ for n in dir(mod) if n.startswith("test_")}
    declared = {
        q.replace("svc-", "").replace("core-", "").replace("http-", "").replace("-", "_") for q in SERVICE_QUIRKS
    }
    assert {f"test_{d}" for d in declared} <= names


@pytest.mark.parametrize("profile", PROFILES)
def test_url_overflows_digest(server: OtaTestServer, profile: str) -> None:
    covers("svc-url-overflows-digest")
    rig = manual_rig(server, profile)
    data = image(5000)
    digest = hashlib.sha256(data).hexdigest()
    base = server.url("")
    head = "/" + "d" * (100 - len(base) - len("/x.bin") - 1) + "/x.bin"  # the URL's first 100 bytes end here
    assert len(base + head) == 100
    path = head + "/real/app_v2.bin"
    server.routes[path] = Route(body=data)
    server.routes["/ota.json"] = Route(body=manifest(2, server.url(path), digest))
    msg(rig, CtrlMsg.SYS_OTA_UPDATECHCK)
    assert rig.until_idle(100)
    gets = [r.split(b" ")[1].decode("latin-1") for r in server.requests if b"ota.json" not in r]
    if profile == H:
        mangled = base + head + digest
        assert f"SYS OTA : Starting OTA with server: {mangled} " in rig.lines()
        assert gets == [head + digest]  # the request goes to the mangled path, which the server does not have
        assert "SYS_OTA_DOWNLOAD_FAILED" in rig.events()
    else:
        assert "SYS OTA : Error parsing Server app URL" in rig.lines()
        assert gets == [] and rig.events()[-1] == "SYS_OTA_UPDATE_NOTAVAILABLE"


@pytest.mark.parametrize("profile", PROFILES)
def test_cjson_bad_hex_escape(server: OtaTestServer, profile: str) -> None:
    covers("svc-cjson-bad-hex-escape")
    rig = manual_rig(server, profile, auto_update=False)
    server.routes["/ota.json"] = Route(body=b'{"ota":[{"Version":2,"URL":"\\u00zz","Digest":"aa"}]}')
    msg(rig, CtrlMsg.SYS_OTA_UPDATECHCK)
    assert rig.until_idle(50)
    if profile == H:
        assert '    Server app URL ""' in rig.lines() and rig.events()[-1] == "SYS_OTA_UPDATE_AVAILABLE"
    else:
        assert rig.events()[-1] == "SYS_OTA_UPDATE_CHECK_FAILED"


@pytest.mark.parametrize("profile", PROFILES)
def test_app_version_printed_signed(server: OtaTestServer, profile: str) -> None:
    covers("svc-app-version-printed-signed")
    server.routes["/ota.json"] = Route(body=manifest(2, "http://h/a.bin", "00" * 32))
    rig = manual_rig(server, profile, app_version=2**32 - 1)
    msg(rig, CtrlMsg.SYS_OTA_UPDATECHCK)
    assert rig.until_idle(50) and rig.events()[-1] == "SYS_OTA_UPDATE_NOTAVAILABLE"
    shown = "-1" if profile == H else "4294967295"
    assert f"    current app version: {shown}" in rig.lines()


def test_invalid_utf8_url_goes_out_unchanged(server: OtaTestServer) -> None:
    rig = manual_rig(server)
    data = image(5000)
    path = "/\xff\xe9/app_v2.bin"  # latin-1 str: one character per byte
    server.routes[path] = Route(body=data)
    body = manifest(2, "@", hashlib.sha256(data).hexdigest()).replace(
        b'"@"', b'"' + server.url(path).encode("latin-1") + b'"'
    )
    server.routes["/ota.json"] = Route(body=body)
    msg(rig, CtrlMsg.SYS_OTA_UPDATECHCK)
    assert rig.until_event("SYS_OTA_DB_ENTRY_SUCCESS", max_s=200)
    assert b"Starting OTA with server: " + server.url(path).encode("latin-1") + b" \r\n" in rig.out
    assert any(r.startswith(b"GET /\xff\xe9/app_v2.bin HTTP/1.1\r\n") for r in server.requests)
