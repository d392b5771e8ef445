"""``otaloop sweep bootloader``: cut power at every flash operation of a bootloader run and classify.

Prints one markdown table per (scene, device): the tables of ``docs/bootloader.md``. External-flash
sweeps of the factory backup (about 16,000 SST26 operations) are sampled with ``--stride``; every other
sweep visits every operation.
"""

from __future__ import annotations

import argparse
import time

from bootloader_model.errors import CallerError
from bootloader_model.flash import CutMode, OpRecord
from bootloader_model.quirks import QuirkProfile
from harness.bootsweep import DEVICES, SCENES, build_scene, dry_run, markdown_table, sweep

DEFAULT_STRIDE = 250
TAIL = 40  # the last operations of a sampled sweep are always visited (file close, directory update)


def _modes(text: str) -> tuple[CutMode, ...]:
    try:
        return tuple(CutMode(m.strip()) for m in text.split(",") if m.strip())
    except ValueError:
        raise CallerError(f"bad --modes {text!r}: use a comma list of before, torn, after") from None


def run(args: argparse.Namespace) -> int:
    scenes = SCENES if args.scene == "all" else (args.scene,)
    devices = DEVICES if args.device == "both" else (args.device,)
    modes = _modes(args.modes)
    if not modes:
        raise CallerError("--modes is empty")
    if args.stride < 1:
        raise CallerError("--stride must be at least 1")
    profile = QuirkProfile.named(args.profile)
    for device in devices:
        for name in scenes:
            t0 = time.perf_counter()
            scene = build_scene(name, fat=device == "external" or args.fat, image_size=args.image_size, profile=profile)
            n = len(dry_run(scene, device))
            stride = args.stride if device == "external" and name == "backup" else 1

            def pick(k: int, op: OpRecord, n: int = n, stride: int = stride) -> bool:
                return k % stride == 0 or k >= n - TAIL

            results = sweep(scene, device, modes, pick)
            sampled = f", every {stride}th op and the last {TAIL}" if stride > 1 else ""
            print(f"### {name}: {device} flash ({n} operations{sampled}; {len(results)} cuts)\n")
            print(markdown_table(results) if results else "No flash operations on this device in this run.")
            print()
            if args.timing:
                print(f"({time.perf_counter() - t0:.1f} s)\n")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("sweep", help="power-cut sweeps of the virtual board", description=__doc__)
    kinds = parser.add_subparsers(dest="sweep_kind", metavar="KIND")
    kinds.required = True
    bl = kinds.add_parser("bootloader", help="cut power at every flash operation of a bootloader run")
    bl.add_argument("--scene", choices=("all", *SCENES), default="all")
    bl.add_argument("--device", choices=(*DEVICES, "both"), default="both")
    bl.add_argument("--modes", default="before,torn,after", help="comma list of before, torn, after")
    bl.add_argument("--image-size", type=int, default=32 * 1024, help="size of the downloaded images (bytes)")
    bl.add_argument("--stride", type=int, default=DEFAULT_STRIDE, help="sampling stride for the external backup")
    bl.add_argument("--fat", action="store_true", help="use the FAT volume for internal sweeps too")
    bl.add_argument("--profile", default="harmony-3.9.1", help="quirk profile, e.g. corrected")
    bl.add_argument("--timing", action="store_true", help="print the time each sweep took")
    bl.set_defaults(func=run)
