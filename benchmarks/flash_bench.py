"""Full 1 MiB internal-flash erase + program, page by page and row by row, against a bytearray copy."""

from __future__ import annotations

import os

from benchmarks._timing import best_of, line
from bootloader_model.storage.nor_flash import PIC32MZ1025W104132, NorFlash

PAGE = 4096
ROW = 1024


def run() -> list[str]:
    g = PIC32MZ1025W104132
    payload = os.urandom(g.size)
    rows = [payload[i : i + ROW] for i in range(0, g.size, ROW)]
    flash = NorFlash(g, keep_log=True)

    def erase_program() -> None:
        base = g.base
        for page in range(0, g.size, PAGE):
            flash.erase(base + page)
        for i, row in enumerate(rows):
            flash.program(base + i * ROW, row)

    target = bytearray(g.size)

    def copy_rows() -> None:
        for i, row in enumerate(rows):
            target[i * ROW : (i + 1) * ROW] = row

    def reset_log() -> None:
        flash.log.clear()

    erase_program()
    assert flash.read(g.base, g.size) == payload, "benchmark wrote wrong bytes"
    reset_log()
    t_flash = best_of(lambda: (erase_program(), reset_log()))
    t_copy = best_of(copy_rows)
    return [
        "flash: 1 MiB PIC32MZ program flash, 256 page erases + 1024 row programs",
        line("  bytearray slice copy, 1024 rows (baseline)", t_copy, t_copy, "baseline"),
        line("  NorFlash erase + program", t_flash, t_copy, "baseline"),
    ]


if __name__ == "__main__":
    print("\n".join(run()))
