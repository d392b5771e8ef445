"""``otaloop sweep``: power-cut sweeps of the virtual board.

``otaloop sweep bootloader`` cuts power at every flash operation of a bootloader run and prints one
markdown table per (scene, device): the tables of ``docs/bootloader.md``. External-flash sweeps of the
factory backup (about 16,000 SST26 operations) are sampled with ``--stride``; every other sweep visits
every operation.

``otaloop sweep update`` cuts power at every flash operation (both flashes) of a whole update, v1 to v2
over loopback HTTP, and prints the outcome counts per phase (``docs/power-cut-sweeps.md``);
``--replay FAULT_ID`` re-runs one case with a real fault plan and prints its transcript.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import time

from bootloader_model.errors import CallerError
from bootloader_model.quirks import QuirkProfile
from bootloader_model.storage.nor_flash import CutMode, OpRecord
from harness.cli.help import help_text
from harness.image_server import ImageServer
from harness.sweeps.bootloader import DEVICES, SCENES, build_scene, dry_run, markdown_table, sweep
from harness.sweeps.executor import executor_for
from harness.sweeps.fault_ids import DEFAULT_SEED, FaultId, Params
from harness.sweeps.progress import Progress
from harness.sweeps.report import report
from harness.sweeps.update import Reference, UpdateRig, plan_sweep, record, replay, run_sweep

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


def run_update(args: argparse.Namespace) -> int:
    modes = _modes(args.modes)
    if not modes:
        raise CallerError("--modes is empty")
    if args.stride < 1:
        raise CallerError("--stride must be at least 1")
    if args.worst < 0:
        raise CallerError("--worst must be >= 0")
    if args.replay is not None:
        fault = FaultId.parse(args.replay)
        if args.size is not None or args.quirks is not None or args.seed is not None or args.v2 is not None:
            raise CallerError("--replay takes size, quirks, v2 and seed from the fault id; drop those options")
        params = dataclasses.replace(fault.params, bootloader=args.bootloader)
    else:
        params = Params(
            args.size if args.size is not None else Params.size,
            args.quirks or Params.quirks,
            args.v2 or Params.v2,
            bootloader=args.bootloader,
        )
    seed = DEFAULT_SEED if args.seed is None else args.seed
    if seed < 0:
        raise CallerError("--seed must be >= 0")
    executor = executor_for(args.jobs, None)
    with ImageServer() as server:
        rig = UpdateRig(params, server)
        ref = record(rig)
        if args.bootloader != "model":
            print(f"bootloader: {args.bootloader}")
        if args.replay is not None:
            return _print_replay(rig, ref, fault)
        plan = plan_sweep(ref, modes, stride=args.stride, seed=seed)
        t0 = time.perf_counter()
        with Progress(plan.cases(), f"{params.scenario} sweep") as bar:
            results = run_sweep(plan, executor, progress=bar.advance)
        took = time.perf_counter() - t0
    lines = report(ref, results, modes, args.stride, worst=args.worst)
    if args.markdown:
        print("\n".join(lines))
    else:
        print("\n".join(line.replace("**", "").replace("`", "") for line in lines))
        rate = len(results) / took if took > 0 else 0.0
        print(f"({took:.1f} s, {rate:,.0f} cases/s on {executor.workers} worker(s))")
    return 0


def _print_replay(rig: UpdateRig, ref: Reference, fault: FaultId) -> int:
    done = replay(rig, ref, fault)
    op = done.case.op
    print(
        f"fault {fault}: power cut {fault.mode.value} operation {op.index} of {len(ref.ops)} ({op.phase}: {op.label()})"
    )
    start = "the snapshot taken at the software reset" if op.index >= ref.reset_at else "power-on with v1"
    print(f"--- console from {start} until the cut ---")
    print(done.cut_transcript.rstrip())
    print("--- console after power came back (network down; power-cycled once) ---")
    print(done.settle_transcript.rstrip())
    print("---")
    for name, data in zip(("internal", "external"), done.state, strict=True):
        print(f"{name} flash after the cut: sha256 {hashlib.sha256(data).hexdigest()}")
    print(f"outcome: {done.case.judgement.line()}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("sweep", help="power-cut sweeps of the virtual board", description=help_text(__doc__))
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
    up = kinds.add_parser("update", help="cut power at every flash operation of a whole v1 -> v2 update")
    up.add_argument("--size", type=int, default=None, help="image size in bytes (default 16384)")
    up.add_argument("--stride", type=int, default=1, help="cut at every Nth operation (and the last)")
    up.add_argument("--modes", default="before,after,torn", help="comma list of before, after, torn")
    up.add_argument("--seed", type=int, default=None, help="seed of torn operations (default 1)")
    up.add_argument("--quirks", default=None, help="quirk profile, e.g. corrected (default harmony-3.9.1)")
    up.add_argument("--v2", choices=("healthy", "crash", "hang"), default=None, help="what v2 does after the jump")
    up.add_argument("--replay", metavar="FAULT_ID", help="re-run one case, e.g. update:int@op437:before")
    up.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores; 1 runs in-process)")
    up.add_argument("--worst", type=int, default=6, help="how many worst fault ids to list")
    up.add_argument("--markdown", action="store_true", help="print the markdown of docs/power-cut-sweeps.md")
    up.add_argument(
        "--bootloader",
        default="model",
        help="model (default) or native:CACHE_DIR: the bootloader C code built by otaloop native build",
    )
    up.set_defaults(func=run_update)
