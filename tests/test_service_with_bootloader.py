"""The service's DB rows and boot control pages, as the bootloader model reads them: update, boot, rollback."""

from __future__ import annotations

import pytest

from bootloader_model.bootloader.result import Outcome
from bootloader_model.bootloader.step_machine import Bootloader
from bootloader_model.service.configuration import CtrlMsg
from bootloader_model.storage.nor_flash import PIC32MZ1025W104132
from tests.otaserver import OtaTestServer
from tests.service_helpers import Rig, image, make_rig
from tests.test_service_cli import reboot

V1 = image(12_000, seed=1)


def boot(rig: Rig) -> tuple[Outcome, str]:
    res = Bootloader(rig.flash, rig.fs, rig.svc.profile).boot()
    assert res.outcome is not None
    return res.outcome, res.programmed[-1].path if res.programmed else ""


@pytest.mark.parametrize(
    ("profile", "volume"), [("harmony-3.9.1", "memory"), ("corrected", "memory"), ("harmony-3.9.1", "fat")]
)
def test_update_boot_confirm_rollback(server: OtaTestServer, profile: str, volume: str) -> None:
    import hashlib

    rig = make_rig(
        server,
        profile,
        db_rows=[["app_v1.bin", "f8", "1", "0x01", hashlib.sha256(V1).hexdigest()]],
        files={"app_v1.bin": V1},
        volume=volume,
    )
    assert rig.flash.geometry is PIC32MZ1025W104132
    v2 = image(30_000, seed=2)
    rig.serve_update(2, v2)
    assert rig.until(lambda: rig.svc.reset_requested, 200)

    outcome, path = boot(rig)  # boot control F0 -> SELECT the highest FE/F8 row -> program v2
    assert (outcome, path) == (Outcome.JUMP, "/mnt/myDrive1/ota/app_v2.bin")
    assert rig.flash.read(0x1002_1000, len(v2) - 4096) == v2[4096:]
    assert rig.boot_control().status == 0xFC and rig.boot_control().version == 2

    from bootloader_model.storage.file_api import OTA_DIR, read_file

    assert read_file(rig.fs, f"{OTA_DIR}/app_v2.bin") == v2
    from bootloader_model.storage.file_api import OTA_DIR, read_file

    assert read_file(rig.fs, f"{OTA_DIR}/app_v2.bin") == v2
    rig = reboot(rig, 2, periodic_check=False)  # the application confirms itself at init
    assert rig.until_idle(5)
    assert rig.boot_control().status == 0xF8 and rig.db_rows()[1][1] == "f8"
    outcome, path = boot(rig)
    assert (outcome, path) == (Outcome.JUMP, "")  # F8 with a matching f8 row: straight to the app

    assert rig.svc.ctrl_msg(CtrlMsg.SYS_OTA_TRIGGER_ROLLBACK) == 0
    assert rig.until_event("SYS_OTA_ROLLBACK_SUCCESS")
    outcome, path = boot(rig)  # v2 disabled: the highest remaining FE/F8 row is v1
    assert (outcome, path) == (Outcome.JUMP, "/mnt/myDrive1/ota/app_v1.bin")
    assert rig.boot_control().version == 1
