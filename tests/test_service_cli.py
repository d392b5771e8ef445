"""The sysota / sysotahelp / otactl console commands, DB-full over several updates, random command fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, production_header
from bootloader_model.quirks import QuirkProfile
from bootloader_model.service.commands import SYSOTAHELP, command_names, handle_command
from bootloader_model.service.configuration import MAIN_STATES, CtrlMsg, ServiceConfig
from bootloader_model.service.core.state import OTA_URL_SIZE
from bootloader_model.service.ota_service import OtaService
from bootloader_model.storage.file_api import OTA_DIR
from tests.otaserver import OtaTestServer, Route
from tests.service_helpers import V1_ROW, Rig, image, make_rig, manifest, manual_rig


def manual(server: OtaTestServer, **kw: object) -> Rig:
    rig = manual_rig(server, **kw)
    rig.svc.tick()  # STATE_IDLE sets the IDLE status on its first tick
    rig.out.clear()
    return rig


def test_sysota_set_echoes_each_given_value(server: OtaTestServer) -> None:
    rig = manual(server)
    out = handle_command(rig.svc, ["sysota", "set", "1", "0", "1", "120", "http://h/x.json"])
    assert out == (
        b"\n\rperiodic check : 1\n\r\n\rauto reset : 0\n\r\n\rauto update : 1\n\r"
        b"\n\rperiodic interval : 120\n\r\n\rjson url : http://h/x.json\n\r"
    )
    assert bytes(rig.out) == out
    assert (rig.svc.run.periodic_check, rig.svc.run.autoreset, rig.svc.run.interval_s) == (True, 0, 120)
    assert handle_command(rig.svc, ["sysota", "set", "x"]) == b"\n\rperiodic check : 0\n\r"
    assert handle_command(rig.svc, ["sysota", "set", "factory", "sign", "abc"]) == b"\n\rSecure OTA is not enabled\n\r"
    assert handle_command(rig.svc, ["sysota", "set"]).startswith(b"\n\rFollowing commands supported\n\r\t* sysota set")


def test_sysota_get_info(server: OtaTestServer) -> None:
    rig = manual(server)
    out = handle_command(rig.svc, ["sysota", "get", "info"]).decode()
    assert out == (
        "*******************************************\n\r"
        "Status: IDLE\n\r"
        "Total data to download : 0 bytes\n\r"
        "Data downloaded : 0 bytes \r\n"
        f"Json-server url : {server.url('/ota.json')}\n\r"
        "Periodic check : 0 (1=Enable, 0=Disable )\n\r"
        "Periodic interval : 60 sec\n\r"
        "Auto reset : 1 (0=disable)/ 1=enable)\n\r"
        "*******************************************\n\r"
    )
    assert handle_command(rig.svc, ["sysota", "get"]) == b"Following Command supported : \n\rsysota get info \n\r"
    assert handle_command(rig.svc, ["sysota", "getfs"]) == b"Following Command supported : \n\rsysota get info \n\r"
    assert (
        handle_command(rig.svc, ["sysota", "getfs", "x"]) == b"Following Command supported : \n\rsysota getfs info \n\r"
    )


def test_sysota_getfs_info_prints_hex_parsed_versions(server: OtaTestServer) -> None:
    rows = [V1_ROW, ["app_v10.bin", "FE", "10", "0x01", "ab" * 32]]
    rig = manual(server, db_rows=rows, files={"app_v1.bin": b"1", "app_v10.bin": b"x"}, num_images=3)
    out = handle_command(rig.svc, ["sysota", "getfs", "info"]).decode()
    assert out == (
        "\tImage name\t\tStatus\t\tVersion\t\tDigest\n\r"
        f"app_v1.bin\t\tf8\t\t1\t\t{'11' * 32}\n\r"
        f"app_v10.bin\t\tfe\t\t16\t\t{'ab' * 32}\n\r"
    )
    rig.fs.remove(f"{OTA_DIR}/image_database.csv")
    assert handle_command(rig.svc, ["sysota", "getfs", "info"]) == b"NO info found\n\r"


def test_help_texts(server: OtaTestServer) -> None:
    rig = manual(server)
    assert handle_command(rig.svc, ["sysotahelp"]) == SYSOTAHELP.encode()
    assert SYSOTAHELP.endswith("\n\r\t3. sysota set factory sign <signature> ")
    assert handle_command(rig.svc, ["sysota"]).endswith(b"\n\r\t2. sysota get info\n\r\n\r\t3. sysota getfs info\n\r")


def test_otactl(server: OtaTestServer) -> None:
    server.routes["/ota.json"] = Route(body=manifest(1, "http://h/a.bin", "00" * 32))
    rig = manual(server)
    st_line = handle_command(rig.svc, ["otactl", "status"])
    assert st_line == b"otactl: state=SYS_OTA_STATE_IDLE downloaded=0 total=0 version=1\r\n"
    assert handle_command(rig.svc, ["otactl", "check"]) == b"otactl: SYS_OTA_SUCCESS\r\n"
    assert handle_command(rig.svc, ["otactl", "check"]) == b"otactl: SYS_OTA_FAILURE\r\n"  # no longer idle
    assert rig.until_event("SYS_OTA_UPDATE_NOTAVAILABLE") and rig.until_idle(5)
    assert handle_command(rig.svc, ["otactl", "sysreset"]) == b"otactl: SYS_OTA_SUCCESS\r\n"
    rig.svc.tick()
    assert handle_command(rig.svc, ["otactl", "bogus"]).startswith(b"otactl: usage:")
    data = image(5000)
    import hashlib

    server.routes["/a.bin"] = Route(body=data)
    res = handle_command(rig.svc, ["otactl", "start", server.url("/a.bin"), "2", hashlib.sha256(data).hexdigest()])
    assert res == b"otactl: SYS_OTA_SUCCESS\r\n"
    assert rig.until(lambda: rig.svc.reset_requested, 50)
    assert handle_command(rig.svc, ["otactl", "status"]).endswith(b" downloaded=5000 total=5000 version=1\r\n")


def test_otactl_start_refuses_long_url_and_bad_version_without_touching_the_service(server: OtaTestServer) -> None:
    rig = manual(server)
    before = (rig.svc.params.ota_server_url, rig.svc.params.version, rig.svc.state)
    longest = "http://h/" + "a" * (OTA_URL_SIZE - 1 - len("http://h/"))  # 99 bytes + NUL fills char[100]
    too_long = longest + "b"
    assert handle_command(rig.svc, ["otactl", "start", too_long, "2", "ab"]) == b"otactl: url too long\r\n"
    for version in ("4294967296", "-1", "+2", "0x2", "", "٢"):  # last: a non-ASCII Unicode digit
        assert handle_command(rig.svc, ["otactl", "start", longest, version, "ab"]) == b"otactl: bad version\r\n"
    assert (rig.svc.params.ota_server_url, rig.svc.params.version, rig.svc.state) == before
    res = handle_command(rig.svc, ["otactl", "start", longest, "0004294967295", "ab"])
    assert res == b"otactl: SYS_OTA_SUCCESS\r\n"
    assert (rig.svc.params.ota_server_url, rig.svc.params.version) == (longest, 0xFFFF_FFFF)


def test_control_messages_refused_while_periodic_timer_armed(server: OtaTestServer) -> None:
    rig = make_rig(server, db_rows=[V1_ROW], files={"app_v1.bin": b"1"})
    assert rig.until(lambda: rig.svc.state.name == "SYS_OTA_WAIT_FOR_OTA_TIMER_TRIGGER", 5)
    for m in list(CtrlMsg)[1:]:
        assert rig.svc.ctrl_msg(m) == 1
    assert rig.svc.ctrl_msg(CtrlMsg.SYS_OTA_REGCALLBACK, lambda s: None) == 1  # only one registration


def test_config_from_descriptor() -> None:
    desc = AppDescriptor(
        version=3,
        autoreset=False,
        periodic_check=False,
        interval_s=30,
        auto_update=False,
        num_images=3,
        manifest_url="http://10.0.0.2:8000/ota.json",
    )
    cfg = ServiceConfig.from_descriptor(desc)
    assert (
        cfg.app_version,
        cfg.autoreset,
        cfg.periodic_check,
        cfg.interval_s,
        cfg.auto_update,
        cfg.num_images,
        cfg.json_url,
    ) == (3, False, False, 30, False, 3, "http://10.0.0.2:8000/ota.json")
    assert cfg.json_file_maxsize == 2000


def reboot(rig: Rig, version: int, **config: object) -> Rig:
    """What the bootloader leaves after programming ``version``: boot control FC with that version."""
    rig.flash.erase(BOOT_CTL_PHYS)
    bc = production_header(version)
    rig.flash.program(BOOT_CTL_PHYS, bc.encode() + b"\xff" * 768)
    out = bytearray()
    cfg = ServiceConfig(json_url=rig.server.url("/ota.json"), app_version=version, **config)  # type: ignore[arg-type]
    svc = OtaService(cfg, rig.fs, rig.flash, rig.clock, out.extend, rig.svc.profile)
    return Rig(svc, rig.fs, rig.flash, rig.clock, rig.server, out)


def test_db_full_over_three_downloads(server: OtaTestServer) -> None:
    rig = make_rig(server, db_rows=[V1_ROW], files={"app_v1.bin": b"1"})
    for v in (2, 3, 4):
        rig.serve_update(v, image(5000, seed=v))
        assert rig.until(lambda r=rig: r.svc.reset_requested, 200), rig.text()
        rig = reboot(rig, v)
        assert rig.until(lambda r=rig: r.svc.state.name == "SYS_OTA_WAIT_FOR_OTA_TIMER_TRIGGER", 5)
        assert ("SYS OTA : OTA DB FULL" in rig.lines()) is (v >= 2)
    assert [r[:3] for r in rig.db_rows()] == [["app_v3.bin", "f8", "3"], ["app_v4.bin", "f8", "4"]]
    assert sorted(rig.fs.listdir(OTA_DIR)) == ["app_v3.bin", "app_v4.bin", "image_database.csv"]
    assert "SYS OTA : Removed file : app_v2.bin" in rig.lines()


COMMANDS = st.one_of(
    st.sampled_from(list(CtrlMsg)[1:]).map(lambda m: ("msg", m)),
    st.sampled_from(
        [
            ["sysota", "set", "0"],
            ["sysota", "set", "1", "0", "0", "1"],
            ["sysota", "get", "info"],
            ["sysota", "getfs", "info"],
            ["otactl", "status"],
            ["otactl", "start"],
            ["sysotahelp"],
            ["sysota", "set", "1", "1", "1", "5", "http://127.0.0.1:1/x.json"],
        ]
    ).map(lambda a: ("cmd", a)),
    st.integers(1, 3000).map(lambda n: ("ticks", n)),
)


@given(st.lists(COMMANDS, max_size=12), st.sampled_from(["harmony-3.9.1", "corrected"]))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_commands_keep_a_valid_state(server: OtaTestServer, ops: list[tuple[str, object]], profile: str) -> None:
    server.routes["/ota.json"] = Route(body=manifest(2, server.url("/a.bin"), "00" * 32))
    server.routes["/a.bin"] = Route(body=image(5000))
    rig = make_rig(server, profile, db_rows=[V1_ROW], files={"app_v1.bin": b"1"}, interval_s=1)
    for kind, arg in ops:
        if kind == "msg":
            assert rig.svc.ctrl_msg(arg) in (0, 1)  # type: ignore[arg-type]
        elif kind == "cmd":
            handle_command(rig.svc, arg)  # type: ignore[arg-type]
        else:
            rig.until(lambda: False, arg * 0.001)  # type: ignore[operator]
        assert rig.svc.state in MAIN_STATES
        assert rig.svc.update_check_state.name.startswith("SYS_OTA_UPDATE_CHECK_")
    assert QuirkProfile.named(profile).name == profile


def test_long_json_url_echo_is_cut_at_255_bytes(server: OtaTestServer) -> None:
    rig = manual(server)
    url = "http://h/" + "u" * 400
    out = handle_command(rig.svc, ["sysota", "set", "0", "1", "1", "60", url])
    assert out.endswith(("\n\rjson url : " + url).encode()[:255])
    assert rig.svc.run.json_url == url


def test_network_down_keeps_waiting_for_an_address(server: OtaTestServer) -> None:
    up = [False]
    rig = make_rig(server, periodic_check=False)
    rig.svc.network_up = lambda: up[0]
    rig.until(lambda: False, 5)
    assert rig.svc.state.name == "SYS_OTA_REGWIFISRVCALLBCK" and rig.text() == ""
    up[0] = True
    assert rig.until_idle(5)
    assert rig.text() == "\r\nSYS OTA : IP address obtained for preferred interface for OTA\r\n"


def test_host_names_use_the_os_resolver(server: OtaTestServer) -> None:
    server.routes["/ota.json"] = Route(body=manifest(1, "http://h/a.bin", "00" * 32))
    rig = manual(server, json_url=f"http://localhost:{server.port}/ota.json")
    rig.svc.ctrl_msg(CtrlMsg.SYS_OTA_UPDATECHCK)
    assert rig.until_event("SYS_OTA_UPDATE_NOTAVAILABLE", 1, 50)
    assert server.requests[-1] == b"GET /ota.json HTTP/1.1\r\nHost: localhost\r\n\r\n"


def test_boot_control_write_takes_flash_time_on_the_virtual_clock(server: OtaTestServer) -> None:
    fast = make_rig(server, periodic_check=False, db_rows=[V1_ROW], files={"app_v1.bin": b"1"})
    assert fast.until_idle(5)
    slow = make_rig(server, periodic_check=False, db_rows=[V1_ROW], files={"app_v1.bin": b"1"})
    slow.flash.timed = True
    assert slow.until_idle(5)
    timing = slow.flash.geometry.timing
    assert timing is not None
    extra = timing.erase_s["page"] + 4 * timing.program_s  # one page erase + four 1 KiB rows
    assert slow.clock.now() - fast.clock.now() == pytest.approx(extra, abs=1e-6)


def test_cli_option_off_removes_sysota(server: OtaTestServer) -> None:
    rig = manual(server, cli_enabled=False)
    assert command_names(rig.svc) == {"otactl"}
    assert handle_command(rig.svc, ["sysota", "get", "info"]) == b"" and rig.out == b""
    assert handle_command(rig.svc, ["otactl", "status"]).startswith(b"otactl: state=")
