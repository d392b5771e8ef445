"""``otaloop demo``: the fixture images, then the whole scenario suite on virtual boards, in under a minute.

Part 1 turns each fixture ELF and Intel HEX into an OTA ``.bin`` in a temporary directory, checks that both
inputs give the same bytes and that the app descriptor reads back with the right version, and prints sizes
and digests. Part 2 runs every scenario of the library (``otaloop run``) against fresh virtual boards on
real ptys with an HTTP image server on 127.0.0.1, and prints the summary table. Exit status 0 only if
nothing failed.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from bootloader_model.errors import CallerError, ImageError
from bootloader_model.formats.app_descriptor import read_descriptor
from harness.cli.run import add_virtual_options, run_scenarios
from harness.image import bin_from_file, digest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "firmware"


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="build the fixture images, then run the scenario suite on virtual boards")
    p.add_argument("--fixtures", type=Path, default=FIXTURES, help="directory holding app_vN.elf and app_vN.hex")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these scenarios")
    add_virtual_options(p)
    p.add_argument("--log-dir", type=Path, help="write each scenario's raw console log here (NAME.log)")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    print("== 1. Fixture applications: ELF and HEX to OTA .bin ==")
    check_fixtures(args)
    print()
    print("== 2. Scenario suite on virtual boards (the same scenarios run on a real board with --port) ==")
    args.list, args.port, args.lg_env = False, None, None
    return run_scenarios(args)


def check_fixtures(args: argparse.Namespace) -> None:
    elves = sorted(Path(args.fixtures).glob("app_v*.elf"))
    if not elves:
        raise CallerError(f"no fixture applications (app_v*.elf) in {args.fixtures}")
    with tempfile.TemporaryDirectory(prefix="otaloop-demo-") as tmp:
        print(f"Building OTA images from {args.fixtures} into {tmp}")
        for elf in elves:
            hex_path = elf.with_suffix(".hex")
            from_elf = bin_from_file(elf, "elf")
            from_hex = bin_from_file(hex_path, "hex")
            if from_elf != from_hex:
                raise ImageError(f"{elf.name} and {hex_path.name} give different .bin files")
            version = read_descriptor(from_elf).version
            out = Path(tmp) / elf.with_suffix(".bin").name
            out.write_bytes(from_elf)
            print(f"  {out.name}: version {version}, {len(from_elf)} bytes, Digest: {digest(from_elf)}")
        print(f"Checked: for all {len(elves)} applications the ELF-built and HEX-built .bin are byte-identical.")
