"""Shared set-up for the OTA service tests: a board-less service over MemoryFileSystem and a real server."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from bootloader_model.clock import VirtualClock
from bootloader_model.formats import image_database
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, BootControl, placeholder_page, production_header
from bootloader_model.quirks import QuirkProfile
from bootloader_model.service.configuration import ServiceConfig, SysStatus
from bootloader_model.service.ota_service import OtaService
from bootloader_model.service.tick_runner import run_until
from bootloader_model.storage.external_flash import new_external
from bootloader_model.storage.file_api import OTA_DIR, MemoryFileSystem, write_file
from bootloader_model.storage.nor_flash import PIC32MZ1025W104132, NorFlash
from tests.otaserver import OtaTestServer, Route

CHECK_START = SysStatus.SYS_OTA_UPDATE_CHECK_START
#: The DB row of the factory application v1 as the service tests start from it.
V1_ROW = ["app_v1.bin", "f8", "1", "0x01", "11" * 32]


def image(size: int, seed: int = 1) -> bytes:
    """Deterministic image bytes of ``size``."""
    out = bytearray()
    block = hashlib.sha256(bytes([seed])).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def manifest(version: int, url: str, digest: str, **extra: object) -> bytes:
    entry: dict[str, object] = {"Version": version, "URL": url, "Digest": digest, **extra}
    return json.dumps({"ota": [entry]}).encode()


@dataclass
class Rig:
    svc: OtaService
    fs: Any  # MemoryFileSystem or the FAT volume (ExternalFlash)
    flash: NorFlash
    clock: VirtualClock
    server: OtaTestServer
    out: bytearray = field(default_factory=bytearray)

    def text(self) -> str:
        return self.out.decode("latin-1")

    def lines(self) -> list[str]:
        return [ln for ln in self.text().replace("\n\r", "\r\n").split("\r\n") if ln.strip()]

    def events(self) -> list[str]:
        return [e.name for e in self.svc.events]

    def until(self, pred: object, max_s: float = 3000.0) -> bool:
        return run_until(self.svc, pred, max_s)  # type: ignore[arg-type]

    def until_event(self, name: str, count: int = 1, max_s: float = 3000.0) -> bool:
        return self.until(lambda: self.events().count(name) >= count, max_s)

    def until_idle(self, max_s: float = 3000.0) -> bool:
        return self.until(lambda: self.svc.state.name == "SYS_OTA_STATE_IDLE" and self.svc.core.idle, max_s)

    def boot_control(self) -> BootControl:
        return BootControl.decode(self.flash.read(BOOT_CTL_PHYS, 256))

    def db_rows(self) -> list[list[str]]:
        rc, db = image_database.load_db(self.fs)
        return db.rows if rc == 0 else []

    def serve_update(self, version: int, data: bytes, name: str = "app_v{v}.bin", **route: object) -> str:
        """Serve ``data`` as version ``version`` under /ota.json; returns the image path."""
        path = "/" + name.format(v=version)
        self.server.routes[path] = Route(body=data, **route)  # type: ignore[arg-type]
        self.server.routes["/ota.json"] = Route(
            body=manifest(version, self.server.url(path), hashlib.sha256(data).hexdigest())
        )
        return path


def make_rig(
    server: OtaTestServer,
    profile: str = "harmony-3.9.1",
    *,
    running_version: int = 1,
    db_rows: list[list[str]] | None = None,
    factory_running: bool = False,
    files: dict[str, bytes] | None = None,
    volume: str = "memory",
    **config: object,
) -> Rig:
    """A service as at power-on of an application of ``running_version`` that the bootloader has started.

    ``volume="fat"`` puts the files on the FAT volume over emulated SST26 flash instead of in memory.
    """
    fs: Any = MemoryFileSystem()
    if volume == "fat":
        fs = new_external("4M")
        fs.format()
        fs.mount()
    fs.mkdir(OTA_DIR)
    flash = NorFlash(PIC32MZ1025W104132)
    clock = VirtualClock()
    if factory_running:
        flash.program(BOOT_CTL_PHYS, placeholder_page()[:1024])
    else:
        bc = production_header(running_version)
        flash.program(BOOT_CTL_PHYS, bc.encode() + b"\xff" * 768)
    if db_rows is not None:
        image_database.save_db(fs, image_database.DB_PATH, db_rows, QuirkProfile.named("corrected"))
    for name, data in (files or {}).items():
        write_file(fs, f"{OTA_DIR}/{name}", data)
    cfg = {"json_url": server.url("/ota.json"), "app_version": running_version, **config}
    out = bytearray()
    svc = OtaService(ServiceConfig(**cfg), fs, flash, clock, out.extend, QuirkProfile.named(profile))  # type: ignore[arg-type]
    return Rig(svc, fs, flash, clock, server, out)


def boot_lines(rig: Rig) -> list[str]:
    """Console lines, without the start-up IP line."""
    return [ln for ln in rig.lines() if "IP address obtained" not in ln]


def manual_rig(server: OtaTestServer, profile: str = "harmony-3.9.1", **kw: object) -> Rig:
    """A rig with the periodic check off (control messages are accepted once idle), v1 in the DB, idle."""
    kw.setdefault("db_rows", [V1_ROW])
    kw.setdefault("files", {"app_v1.bin": b"1"})
    rig = make_rig(server, profile, periodic_check=False, **kw)  # type: ignore[arg-type]
    assert rig.until_idle(10)
    return rig
