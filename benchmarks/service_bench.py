"""One full in-process OTA update of a 900 KiB image over loopback HTTP, against hashing + copying the bytes.

The service checks the manifest, downloads the image from a real HTTP server on 127.0.0.1 (one socket read
of at most 1460 bytes per tick, as Harmony's client does), writes it in 4 KiB chunks to an in-memory
volume, verifies its SHA-256 and makes the DB entry and boot control write. The baseline is
``hashlib.sha256`` of the same bytes plus one ``bytearray`` copy of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchmarks._timing import best_of, line, sha256_and_copy
from bootloader_model.clock import VirtualClock
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, production_header
from bootloader_model.service.configuration import CtrlMsg, ServiceConfig
from bootloader_model.service.ota_service import OtaService
from bootloader_model.service.tick_runner import run_until
from bootloader_model.storage.file_api import OTA_DIR, MemoryFileSystem
from bootloader_model.storage.nor_flash import PIC32MZ1025W104132, NorFlash

SIZE = 900 * 1024


def _server(files: dict[str, bytes]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path, b"")
            self.send_response(200 if self.path in files else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return srv


def _update(base: str) -> OtaService:
    fs = MemoryFileSystem()
    fs.mkdir(OTA_DIR)
    flash = NorFlash(PIC32MZ1025W104132, keep_log=False)
    bc = production_header(1)
    flash.program(BOOT_CTL_PHYS, bc.encode() + b"\xff" * 768)
    cfg = ServiceConfig(json_url=base + "/ota.json", app_version=1, periodic_check=False)
    svc = OtaService(cfg, fs, flash, VirtualClock(), lambda b: None)
    assert run_until(svc, lambda: svc.state.name == "SYS_OTA_STATE_IDLE", 10)
    assert svc.ctrl_msg(CtrlMsg.SYS_OTA_UPDATECHCK) == 0
    assert run_until(svc, lambda: svc.reset_requested, 600), "update did not complete"
    return svc


def run() -> list[str]:
    data = os.urandom(SIZE)
    files: dict[str, bytes] = {"/app_v2.bin": data}
    srv = _server(files)
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    files["/ota.json"] = json.dumps(
        {"ota": [{"Version": 2, "URL": base + "/app_v2.bin", "Digest": hashlib.sha256(data).hexdigest()}]}
    ).encode()
    try:
        svc = _update(base)
        assert svc.download_status() == (SIZE, SIZE)
        t_update = best_of(lambda: _update(base), repeat=3)
    finally:
        srv.shutdown()
        srv.server_close()

    t_base = sha256_and_copy(data)
    return [
        "service: full OTA update of a 900 KiB image (manifest, HTTP download, verify, DB entry, boot control)",
        line("  sha256 + bytearray copy (baseline)", t_base, t_base, "baseline"),
        line("  OtaService update over loopback HTTP", t_update, t_base, "baseline"),
    ]


if __name__ == "__main__":
    print("\n".join(run()))
