"""The setup checks' comparisons: what a board reports and what an image directory holds, against the declared
factory configuration and manifest URL. Real images (synthetic applications, whose SYS_OTA_URL is a plain string
as in a Harmony build) and the report of the service model's own ``sysota get info``."""

from __future__ import annotations

from pathlib import Path

from bootloader_model.clock import VirtualClock
from bootloader_model.service import OtaService
from bootloader_model.service.commands import sysota
from bootloader_model.service.configuration import ServiceConfig
from bootloader_model.storage.file_api import OTA_DIR, MemoryFileSystem
from bootloader_model.storage.nor_flash import PIC32MZ1025W104132, NorFlash
from harness.scenarios.base import CONFIGS, SyntheticImages
from harness.scenarios.rig_check import SeenOptions, images_mismatch, options_mismatch, url_fits

URL = "http://127.0.0.1:8000/ota.json"


def _info(periodic: bool, autoreset: bool, url: str = URL) -> dict[str, str]:
    """``sysota get info`` of a service built with these options, parsed as ``BoardDriver.info`` parses it."""
    fs = MemoryFileSystem()
    fs.mkdir(OTA_DIR)
    config = ServiceConfig(periodic_check=periodic, autoreset=autoreset, json_url=url)
    svc = OtaService(config, fs, NorFlash(PIC32MZ1025W104132), VirtualClock(), lambda data: None)
    out = {}
    for line in "".join(sysota(svc, ["sysota", "get", "info"])).replace("\r", "").split("\n"):
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def test_the_declared_configuration_fits() -> None:
    for name, config in CONFIGS.items():
        seen = SeenOptions.from_info(_info(config.periodic, config.autoreset))
        assert options_mismatch(config, seen, URL) is None, name


def test_another_configuration_is_named_with_the_ones_that_fit() -> None:
    seen = SeenOptions.from_info(_info(periodic=False, autoreset=False))
    assert options_mismatch(CONFIGS["auto"], seen, URL) == (
        "declared factory config auto (periodic check 1, interval 60 s, auto reset 1), seen periodic check 0, "
        "interval 60 s, auto reset 0 (as factory config manual-noreset is)"
    )


def test_the_url_differs() -> None:
    seen = SeenOptions.from_info(_info(periodic=True, autoreset=True, url="http://10.0.0.9:8000/ota.json"))
    assert options_mismatch(CONFIGS["auto"], seen, URL) == (
        "declared manifest URL http://127.0.0.1:8000/ota.json, seen SYS_OTA_URL http://10.0.0.9:8000/ota.json"
    )
    # A server listening on every address fits any host, not another port or path.
    assert url_fits("http://10.0.0.9:8000/ota.json", "http://0.0.0.0:8000/ota.json")
    assert not url_fits("http://10.0.0.9:8001/ota.json", "http://0.0.0.0:8000/ota.json")


def test_images(tmp_path: Path) -> None:
    images = SyntheticImages(URL)
    (tmp_path / "auto_v1.bin").write_bytes(images.app(CONFIGS["auto"], 1))
    assert images_mismatch(tmp_path, CONFIGS["auto"], URL) is None
    assert images_mismatch(tmp_path, CONFIGS["manual"], URL) == (
        f"declared factory config manual, but {tmp_path} holds no manual_v<N>.bin (it holds auto_v1.bin)"
    )
    other = "http://127.0.0.1:9000/ota.json"
    assert images_mismatch(tmp_path, CONFIGS["auto"], other) == (
        f"declared manifest URL {other}, seen {URL} in auto_v1.bin"
    )
