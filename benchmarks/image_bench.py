"""Image tooling and the descriptor check on a full slot, each against hashlib.sha256 of the same bytes.

The virtual board checks the app descriptor at every boot over the whole 0xDF000-byte application window,
so that check should cost about one hash of the window.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from benchmarks._timing import best_of, line
from bootloader_model.formats.app_descriptor import AppDescriptor, read_descriptor
from bootloader_model.formats.app_image import SLOT_SIZE, build_app, build_factory_bin
from harness.image import bin_from_file

FW = Path(__file__).resolve().parents[1] / "fixtures" / "firmware"


def run() -> list[str]:
    full = build_app(AppDescriptor(version=2), SLOT_SIZE)
    factory = build_factory_bin(full)
    assert read_descriptor(factory).version == 2, "benchmark image does not read back"
    t_hash = best_of(lambda: hashlib.sha256(factory).digest())
    t_desc = best_of(lambda: read_descriptor(factory))
    t_build = best_of(lambda: build_app(AppDescriptor(version=3), SLOT_SIZE), repeat=3)
    lines = [
        f"image: descriptor check and image building over a full 0x{SLOT_SIZE:X}-byte slot",
        line("  hashlib.sha256 of the slot (baseline)", t_hash, t_hash, "sha256"),
        line("  read_descriptor (record + body CRC-32)", t_desc, t_hash, "sha256"),
        line("  build_app, full slot", t_build, t_hash, "sha256"),
    ]
    elf, hex_ = FW / "app_v2.elf", FW / "app_v2.hex"
    if elf.exists() and hex_.exists():
        small = bin_from_file(elf, "elf")
        t_small = best_of(lambda: hashlib.sha256(small).digest())
        t_elf = best_of(lambda: bin_from_file(elf, "elf"))
        t_hex = best_of(lambda: bin_from_file(hex_, "hex"))
        lines += [
            f"image: fixture app_v2 -> {len(small)}-byte .bin",
            line("  hashlib.sha256 of the .bin (baseline)", t_small, t_small, "sha256"),
            line("  ELF -> .bin (pyelftools)", t_elf, t_small, "sha256"),
            line("  Intel HEX -> .bin (bincopy records)", t_hex, t_small, "sha256"),
        ]
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
