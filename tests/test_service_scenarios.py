"""Scenarios A to M of spec section 1.6 against a real HTTP server on 127.0.0.1, profile harmony-3.9.1."""

from __future__ import annotations

import hashlib

import pytest

from bootloader_model.formats.boot_control import ImgType
from bootloader_model.service.configuration import CtrlMsg, SysResult
from bootloader_model.storage.file_api import OTA_DIR, read_file
from tests.otaserver import OtaTestServer, Route
from tests.service_helpers import V1_ROW, boot_lines, image, make_rig, manifest, manual_rig

OK, FAIL = SysResult.SYS_OTA_SUCCESS, SysResult.SYS_OTA_FAILURE


def test_a_boot_init_cleans_up_and_promotes_running_image(server: OtaTestServer) -> None:
    rows = [["app_v1.bin", "f8", "1", "0x01", "aa" * 32], ["app_v2.bin", "FE", "2", "0x01", "bb" * 32]]
    files = {"app_v1.bin": b"1", "app_v2.bin": b"2", "stray.bin": b"s", "factory_reset.bin": b"f", "notes.txt": b"t"}
    rig = make_rig(server, running_version=2, db_rows=rows, files=files, periodic_check=False)
    assert rig.until_idle(5)
    assert boot_lines(rig) == ["SYS OTA : Removed file : stray.bin", "SYS OTA : OTA DB FULL"]
    assert sorted(rig.fs.listdir(OTA_DIR)) == sorted(
        ["app_v1.bin", "app_v2.bin", "factory_reset.bin", "notes.txt", "image_database.csv"]
    )
    assert rig.db_rows()[1][1] == "f8"  # FE -> f8: the running image is confirmed at boot
    bc = rig.boot_control()
    assert (bc.status, bc.type, bc.version, bc.order) == (0xF8, ImgType.PRODUCTION, 2, 0xFF)
    assert rig.events() == []  # nothing reaches the user during init
    assert rig.svc.core.db_full


def test_a_without_db_every_bin_but_factory_is_removed(server: OtaTestServer) -> None:
    rig = make_rig(server, files={"a.bin": b"a", "factory_reset.bin": b"f"}, periodic_check=False)
    assert rig.until_idle(5)
    assert boot_lines(rig) == ["SYS OTA : Removed file : a.bin"]
    assert rig.boot_control().status == 0xFC  # no DB row: the status step fails before boot control


def test_a_factory_image_running_leaves_boot_control(server: OtaTestServer) -> None:
    rig = make_rig(server, factory_running=True, periodic_check=False)
    assert rig.until_idle(5)
    assert rig.boot_control().type == ImgType.FACTORY_RESET and rig.boot_control().status == 0xFF


def test_b_periodic_check_no_newer_version_repeats_every_interval_plus_2s(server: OtaTestServer) -> None:
    server.routes["/ota.json"] = Route(body=manifest(1, server.url("/app_v1.bin"), "ab" * 32))
    rig = make_rig(server, db_rows=[V1_ROW], files={"app_v1.bin": b"1"})
    assert rig.until_event("SYS_OTA_UPDATE_NOTAVAILABLE", 2, 400)
    assert (
        boot_lines(rig)
        == [
            "SYS_OTA_UPDATE_CHECK_START",
            f"SYS OTA : Connecting to server : {server.url('/ota.json')}",
            "SYS_OTA : JSON parsing ",
            f'    Server app URL "{server.url("/app_v1.bin")}"',
            f'    Server app Digest "{"ab" * 32}"',
            "    Server app version: 1",
            "    current app version: 1",
            "SYS_OTA_UPDATE_NOTAVAILABLE",
        ]
        * 2
    )
    assert 124 <= rig.clock.now() < 130  # two periods of 60 + 2 s, each measured from the end of a check
    assert rig.svc.state.name == "SYS_OTA_WAIT_FOR_OTA_TIMER_TRIGGER"
    assert rig.svc.ctrl_msg(CtrlMsg.SYS_OTA_UPDATECHCK) == FAIL  # refused while the periodic timer is armed


def test_c_successful_update_with_autoreset(server: OtaTestServer) -> None:
    data = image(20_000)
    path = rig_path = ""
    rig = make_rig(server, db_rows=[V1_ROW], files={"app_v1.bin": b"1"})
    path = rig.serve_update(2, data)
    rig_path = server.url(path)
    assert rig.until(lambda: rig.svc.reset_requested, 200)
    assert boot_lines(rig)[-7:] == [
        "SYS_OTA_UPDATE_AVAILABLE",
        f"SYS OTA : Starting OTA with server: {rig_path} ",
        "SYS_OTA_DOWNLOAD_START",
        "SYS_OTA_DOWNLOAD_SUCCESS",
        "SYS_OTA_IMAGE_DIGEST_VERIFY_START",
        "SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS",
        "SYS_OTA_DB_ENTRY_SUCCESS",
    ]
    assert read_file(rig.fs, f"{OTA_DIR}/app_v2.bin") == data
    assert rig.db_rows()[1] == ["app_v2.bin", "FE", "2", "0x01", hashlib.sha256(data).hexdigest()]
    bc = rig.boot_control()
    assert (bc.status, bc.version, bc.type) == (0xF0, 2, ImgType.PRODUCTION)
    assert rig.svc.download_status() == (20_000, 20_000)
    assert server.requests[-1] == f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def test_c_without_autoreset_waits_for_system_reset(server: OtaTestServer) -> None:
    rig = make_rig(server, autoreset=False, db_rows=[V1_ROW], files={"app_v1.bin": b"1"})
    rig.serve_update(2, image(9000))
    assert rig.until_event("SYS_OTA_DB_ENTRY_SUCCESS", 1, 200)
    assert rig.until_idle(5) and not rig.svc.reset_requested
    assert rig.svc.ctrl_msg(CtrlMsg.SYS_OTA_TRIGGER_SYSTEM_RESET) == OK
    rig.svc.tick()
    assert rig.svc.reset_requested


@pytest.mark.parametrize("case", ["refused", "status", "malformed"])
def test_d_check_failures(server: OtaTestServer, case: str) -> None:
    url = server.url("/ota.json")
    if case == "refused":
        url = "http://127.0.0.1:1/ota.json"
    elif case == "status":
        server.routes["/ota.json"] = Route(status=500)
    else:
        server.routes["/ota.json"] = Route(body=b'{"ota": [ {"Version": 2,, } ]}')
    rig = make_rig(server, json_url=url, db_rows=[V1_ROW], files={"app_v1.bin": b"1"})
    assert rig.until_event("SYS_OTA_UPDATE_CHECK_FAILED", 1, 100)
    expected = ["SYS_OTA_UPDATE_CHECK_START", f"SYS OTA : Connecting to server : {url}"]
    expected += {
        "refused": [],
        "status": ["SYS_OTA : Request rejected by client :code: 500 "],
        "malformed": ["SYS_OTA : JSON parsing "],
    }[case]
    assert boot_lines(rig) == [*expected, "SYS_OTA_UPDATE_CHECK_FAILED"]
    rig.svc.tick()
    assert rig.svc.state.name == "SYS_OTA_WAIT_FOR_OTA_TIMER_TRIGGER"  # re-armed


def test_d_manual_check_failure_goes_idle(server: OtaTestServer) -> None:
    rig = manual_rig(server, json_url="http://127.0.0.1:1/x.json")
    assert rig.svc.ctrl_msg(CtrlMsg.SYS_OTA_UPDATECHCK) == OK
    assert rig.until_event("SYS_OTA_UPDATE_CHECK_FAILED", 1, 100)
    assert rig.until_idle(1)


def test_e_missing_field_is_not_available(server: OtaTestServer) -> None:
    server.routes["/ota.json"] = Route(body=b'{"ota":[{"Version":5,"URL":"http://h/a.bin"}]}')
    rig = manual_rig(server)
    rig.svc.ctrl_msg(CtrlMsg.SYS_OTA_UPDATECHCK)
    assert rig.until_event("SYS_OTA_UPDATE_NOTAVAILABLE", 1, 100)
    assert boot_lines(rig)[-2:] == ["SYS OTA : Mandatory JSON fields does not exist", "SYS_OTA_UPDATE_NOTAVAILABLE"]


def test_f_available_without_auto_update_waits_for_initiate(server: OtaTestServer) -> None:
    rig = make_rig(server, auto_update=False, db_rows=[V1_ROW], files={"app_v1.bin": b"1"})
    rig.serve_update(3, image(5000))
    assert rig.until_event("SYS_OTA_UPDATE_AVAILABLE", 1, 100)
    assert rig.until_idle(5)
    rig.until(lambda: False, 200)  # periodic checking has stopped
    assert rig.events().count("SYS_OTA_UPDATE_CHECK_START") == 1
    assert rig.svc.ctrl_msg(CtrlMsg.SYS_OTA_INITIATE_OTA) == OK
    assert rig.until_event("SYS_OTA_DB_ENTRY_SUCCESS", 1, 100)
    assert rig.db_rows()[-1][:3] == ["app_v3.bin", "FE", "3"]


def test_g_download_failure(server: OtaTestServer) -> None:
    rig = make_rig(server, db_rows=[V1_ROW], files={"app_v1.bin": b"1"})
    rig.serve_update(2, image(8000), status=404)
    assert rig.until_event("SYS_OTA_DOWNLOAD_FAILED", 1, 200)
    assert boot_lines(rig)[-5:] == [
        f"SYS OTA : Starting OTA with server: {server.url('/app_v2.bin')} ",
        "SYS_OTA_DOWNLOAD_START",
        "SYS_OTA : Request rejected by client :code: 404 ",
        "SYS OTA : Download error",
        "SYS_OTA_DOWNLOAD_FAILED",
    ]
    assert rig.until_idle(1)
    rig.until(lambda: False, 200)
    assert rig.events().count("SYS_OTA_UPDATE_CHECK_START") == 1  # periodic checking stopped
    assert rig.fs.exists(f"{OTA_DIR}/app_v2.bin")  # the partial file stays until the next CleanUp


def test_g_start_failure_reports_trigger_failed(server: OtaTestServer) -> None:
    rig = manual_rig(server)
    rig.svc.set_parameters("ftp://nowhere/app.bin", 2, "00" * 32)
    assert rig.svc.ctrl_msg(CtrlMsg.SYS_OTA_INITIATE_OTA) == OK
    assert rig.until_event("SYS_OTA_TRIGGER_OTA_FAILED", 1, 10)
    assert boot_lines(rig) == [
        "SYS OTA : Starting OTA with server: ftp://nowhere/app.bin ",
        "SYS OTA : Error starting OTA",
        "SYS_OTA_TRIGGER_OTA_FAILED",
    ]
    assert rig.until_idle(1)


def test_h_digest_mismatch(server: OtaTestServer) -> None:
    rig = make_rig(server, db_rows=[V1_ROW], files={"app_v1.bin": b"1"})
    rig.serve_update(2, image(6000))
    server.routes["/app_v2.bin"] = Route(body=image(6000, seed=9))
    assert rig.until_event("SYS_OTA_IMAGE_DIGEST_VERIFY_FAILED", 1, 200)
    assert boot_lines(rig)[-3:] == [
        "SYS_OTA_IMAGE_DIGEST_VERIFY_START",
        "SYS OTA : digest mismatch",
        "SYS_OTA_IMAGE_VERIFICATION_FAILED",
    ]
    assert not rig.fs.exists(f"{OTA_DIR}/app_v2.bin")
    assert rig.until_idle(1)


def test_i_db_full_replaces_lowest_version(server: OtaTestServer) -> None:
    rows = [["app_v2.bin", "f8", "2", "0x01", "22" * 32], ["app_v1.bin", "f0", "1", "0x01", "11" * 32]]
    rig = make_rig(server, running_version=2, db_rows=rows, files={"app_v1.bin": b"1", "app_v2.bin": b"2"})
    rig.serve_update(3, image(7000))
    assert rig.until(lambda: rig.svc.reset_requested, 200)
    assert "SYS OTA : OTA DB FULL" in rig.lines()
    assert "SYS_OTA_IMAGE_DATABASE_FULL" not in rig.events()
    db = rig.db_rows()
    assert [r[0] for r in db] == ["app_v2.bin", "app_v3.bin"]
    assert [r[1] for r in db] == ["f8", "FE"]


def test_j_erase_version(server: OtaTestServer) -> None:
    rows = [V1_ROW, ["app_v2.bin", "f0", "2", "0x01", "22" * 32]]
    rig = make_rig(server, db_rows=rows, files={"app_v1.bin": b"1", "app_v2.bin": b"2"}, num_images=3)
    server.routes["/ota.json"] = Route(body=manifest(2, "http://x/y.bin", "00", EraseVer=True))
    assert rig.until_event("SYS_OTA_IMAGE_ERASED", 1, 100)
    assert boot_lines(rig) == [
        "SYS_OTA_UPDATE_CHECK_START",
        f"SYS OTA : Connecting to server : {server.url('/ota.json')}",
        "SYS_OTA : JSON parsing ",
        "    Server app version: 2",
        "SYS_OTA_IMAGE_ERASED",
    ]
    assert [r[0] for r in rig.db_rows()] == ["app_v1.bin"]
    assert not rig.fs.exists(f"{OTA_DIR}/app_v2.bin")
    assert rig.until_idle(1)


def test_j_erase_of_unknown_version_fails(server: OtaTestServer) -> None:
    rig = make_rig(server, db_rows=[V1_ROW], files={"app_v1.bin": b"1"})
    server.routes["/ota.json"] = Route(body=manifest(7, "http://x/y.bin", "00", EraseVer=True))
    assert rig.until_event("SYS_OTA_IMAGE_ERASE_FAILED", 1, 100)


def test_k_factory_reset(server: OtaTestServer) -> None:
    rig = manual_rig(server)
    assert rig.svc.ctrl_msg(CtrlMsg.SYS_OTA_TRIGGER_FACTORY_RESET) == OK
    assert rig.until_event("SYS_OTA_FACTORY_RESET_SUCCESS", 1, 10)
    assert not rig.fs.exists(f"{OTA_DIR}/image_database.csv")
    assert rig.flash.read(0x1002_0000, 4096) == b"\xff" * 4096
    assert rig.until_idle(1) and not rig.svc.reset_requested
    assert rig.svc.ctrl_msg(CtrlMsg.SYS_OTA_TRIGGER_SYSTEM_RESET) == OK
    rig.svc.tick()
    assert not rig.svc.reset_requested
    assert rig.text().endswith("SYS OTA : OTA DB entry is not yet done\n\r")


def test_l_rollback(server: OtaTestServer) -> None:
    rig = manual_rig(server)
    assert rig.svc.ctrl_msg(CtrlMsg.SYS_OTA_TRIGGER_ROLLBACK) == OK
    assert rig.until_event("SYS_OTA_ROLLBACK_SUCCESS", 1, 10)
    assert rig.db_rows()[0][1] == "f0"
    assert rig.boot_control().status == 0xF0
    assert not rig.svc.reset_requested


def test_l_rollback_on_factory_image_does_nothing(server: OtaTestServer) -> None:
    rig = make_rig(server, factory_running=True, periodic_check=False)
    assert rig.until_idle(5)
    before = rig.flash.read(0x1002_0000, 4096)
    assert rig.svc.ctrl_msg(CtrlMsg.SYS_OTA_TRIGGER_ROLLBACK) == OK
    rig.until(lambda: False, 5)
    assert rig.events() == [] and rig.flash.read(0x1002_0000, 4096) == before


def test_m_system_reset_only_after_download(server: OtaTestServer) -> None:
    rig = manual_rig(server)
    assert rig.svc.ctrl_msg(CtrlMsg.SYS_OTA_TRIGGER_SYSTEM_RESET) == OK
    rig.svc.tick()
    assert not rig.svc.reset_requested and rig.svc.state.name == "SYS_OTA_STATE_IDLE"
