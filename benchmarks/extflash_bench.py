"""Write and read back Harmony's factory backup (913,408 bytes) in 4 KiB chunks through every external-flash
layer -- FAT volume, DRV_MEMORY-style block layer, SST26 NorFlash -- against copying the same chunks into a
bytearray. The write target is 20 MB/s.
"""

from __future__ import annotations

import os
import time

from benchmarks._timing import best_of, line
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import OTA_DIR
from bootloader_model.storage.nor_flash import SST26VF032B, NorFlash

SIZE = 913_408  # 0xDF000, the factory_reset.bin the bootloader writes at first boot
CHUNK = 4096
PATH = OTA_DIR + "/factory_reset.bin"


def run() -> list[str]:
    payload = os.urandom(SIZE)
    chunks = [payload[i : i + CHUNK] for i in range(0, SIZE, CHUNK)]
    flash = NorFlash(SST26VF032B, keep_log=False)
    fresh = ExternalFlash(flash)
    fresh.format()
    fresh.mkdir(OTA_DIR)
    formatted = flash.snapshot()

    best_write = float("inf")
    ops = 0
    for _ in range(5):
        flash.restore(formatted)
        x = ExternalFlash(flash)
        t0 = time.perf_counter()
        fh = x.open(PATH, "w+")
        for c in chunks:
            fh.write(c)
        fh.close()
        best_write = min(best_write, time.perf_counter() - t0)
        ops = flash.op_count - formatted.op_count

    def read_back() -> None:
        fh = ExternalFlash(flash).open(PATH, "r")
        got = b"".join(fh.read(CHUNK) for _ in range(len(chunks)))
        fh.close()
        assert got == payload, "benchmark read back wrong bytes"

    read_back()
    t_read = best_of(read_back, repeat=5)
    target = bytearray(SIZE)

    def copy() -> None:
        for i, c in enumerate(chunks):
            target[i * CHUNK : i * CHUNK + len(c)] = c

    t_copy = best_of(copy)
    mbs = SIZE / 1e6
    return [
        f"extflash: {SIZE:,}-byte file in 4 KiB chunks, FAT12 on SST26VF032B via DRV_MEMORY-style RMW "
        f"({ops:,} flash operations per write)",
        line("  bytearray copy, 4 KiB chunks (baseline)", t_copy, t_copy, "baseline"),
        line(f"  write through all layers: {mbs / best_write:6.1f} MB/s", best_write, t_copy, "baseline"),
        line(f"  read back:                {mbs / t_read:6.1f} MB/s", t_read, t_copy, "baseline"),
    ]


if __name__ == "__main__":
    print("\n".join(run()))
