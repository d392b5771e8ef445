"""``otaloop sweep``: power-cut sweeps of the virtual board.

``otaloop sweep bootloader`` cuts power at every flash operation of a bootloader run and prints one
markdown table per (scene, device): the tables of ``docs/bootloader.md``. External-flash sweeps of the
factory backup (about 16,000 SST26 operations) are sampled with ``--stride``; every other sweep visits
every operation.

``otaloop sweep update`` cuts power at every flash operation (both flashes) of a whole update, v1 to v2
over loopback HTTP, and prints the outcome counts per phase (``docs/power-cut-sweeps.md``);
``--replay FAULT_ID`` re-runs one case with a real fault plan and prints its transcript. ``--jobs N``
spreads the cases over N worker processes (all cores by default), ``--scheduler ADDRESS`` over a Dask
cluster; ``--json`` and ``--plot`` keep every case; ``--shard I/N`` judges one part of a sweep, and
``otaloop sweep merge`` joins the parts' JSON files.

``otaloop sweep diff A.json B.json`` lists the cuts whose outcome changed between two sweeps of one
update (another ``--quirks`` or ``--bootloader``), as a table and ``--plot``.

``otaloop sweep timed --after PATTERN --from A --to B --step S`` cuts the update A..B ms after the console
shows PATTERN, on the virtual board (naming the exact-sweep fault id each moment hits) or on a rig.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import time

from bootloader_model.bootloader.program import MODEL
from bootloader_model.errors import BoardError, CallerError
from bootloader_model.formats.app_descriptor import BEHAVIOURS
from bootloader_model.quirks import HARMONY_NAME, QuirkProfile
from bootloader_model.storage.nor_flash import CutMode
from harness.cli.help import QUIRKS_HELP, help_text
from harness.cli.sweep.diff import add_diff
from harness.cli.sweep.timed import add_timed
from harness.image.server import ImageServer
from harness.native.programs import APPLICATION_HELP, application_from_spec
from harness.output_files import check_output, write_atomic
from harness.sweeps.bootloader import (
    DEVICES,
    SCENES,
    CutResult,
    SceneSweep,
    check_image_size,
    dumps_cuts,
    markdown_table,
    sweep_scene,
)
from harness.sweeps.double import double_report, run_double, write_double
from harness.sweeps.double import replay as replay_double
from harness.sweeps.executor import Executor, WorkerLost, executor_for
from harness.sweeps.fault_ids import DEFAULT_SEED, FaultId, Params, parse_modes
from harness.sweeps.plot import check_path, plot, require_matplotlib
from harness.sweeps.progress import Progress
from harness.sweeps.report import report
from harness.sweeps.results import SweepRun, check_whole, dump, load, merge
from harness.sweeps.update import Reference, SweepPlan, UpdateRig, plan_sweep, record, replay, run_sweep, shard_spans

DEFAULT_STRIDE = 250
TAIL = 40  # the last operations of a sampled sweep are always visited (file close, directory update)


def _modes(text: str) -> tuple[CutMode, ...]:
    return parse_modes(text)  # a CallerError names an unknown or missing mode


def run(args: argparse.Namespace) -> int:
    scenes = SCENES if args.scene == "all" else (args.scene,)
    devices = DEVICES if args.device == "both" else (args.device,)
    modes = _modes(args.modes)
    if not modes:
        raise CallerError("--modes is empty")
    if args.stride < 1:
        raise CallerError("--stride must be at least 1")
    QuirkProfile.named(args.profile)  # an unknown profile is a one-line error before any work
    check_image_size(args.image_size)  # before the first table, not when the first scene that uses it starts
    if args.json is not None:
        check_output(args.json, "--json")  # before the sweep, not after it
    executor = executor_for(args.jobs, None)
    done: list[tuple[SceneSweep, list[CutResult]]] = []
    for device in devices:
        for name in scenes:
            t0 = time.perf_counter()
            stride = args.stride if device == "external" and name == "backup" else 1
            fat = device == "external" or args.fat
            spec = SceneSweep(
                name, device, fat, args.image_size, args.profile, modes, stride, TAIL if stride > 1 else 0
            )
            with Progress(0, f"sweep bootloader {name} ({device} flash)") as bar:
                try:
                    n, results = sweep_scene(spec, executor, bar)
                except WorkerLost as exc:
                    raise BoardError(str(exc)) from None
            done.append((spec, results))
            sampled = f", every {stride}th op and the last {TAIL}" if stride > 1 else ""
            print(f"### {name}: {device} flash ({n} operations{sampled}; {len(results)} cuts)\n")
            print(markdown_table(results) if results else "No flash operations on this device in this run.")
            print()
            if args.timing:
                print(f"({time.perf_counter() - t0:.1f} s)\n")
    if args.json is not None:
        write_atomic(args.json, dumps_cuts(done), "--json")
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
        params = dataclasses.replace(fault.params, bootloader=args.bootloader, application=args.application)
    else:
        params = Params(
            args.size if args.size is not None else Params.size,
            Params.quirks if args.quirks is None else args.quirks,  # '' is refused, as everywhere
            args.v2 or Params.v2,
            bootloader=args.bootloader,
            application=args.application,
        )
    application_from_spec(args.application)  # a bad spec or a missing build: one line, before any board
    seed = DEFAULT_SEED if args.seed is None else args.seed
    if seed < 0:
        raise CallerError("--seed must be >= 0")
    shard = _shard(args.shard)
    if args.double and (args.shard or args.plot):
        raise CallerError("--double prints its own table; --shard and --plot are for single-cut sweeps")
    _check_outputs(args)
    executor = executor_for(args.jobs, args.scheduler)
    with ImageServer() as server:
        rig = UpdateRig(params, server)
        ref = record(rig)
        if args.bootloader != MODEL:
            print(f"bootloader: {args.bootloader}")
        if args.application != MODEL:
            print(f"application: {args.application}")
        if args.replay is not None:
            return _print_double_replay(rig, ref, fault) if fault.second else _print_replay(rig, ref, fault)
        plan = plan_sweep(ref, modes, stride=args.stride, seed=seed)
        if args.double:
            return _run_double(plan, executor, args)
        spans = shard_spans(len(plan.ops), shard)
        t0 = time.perf_counter()
        with Progress(sum(plan.cases(lo, hi) for lo, hi in spans), f"sweep {params.scenario}") as bar:
            try:
                results = run_sweep(plan, executor, spans=spans, progress=bar.advance)
            except WorkerLost as exc:
                raise BoardError(str(exc)) from None
        took = time.perf_counter() - t0
    run = SweepRun.of(plan, results, shard)
    rate = len(results) / took if took > 0 else 0.0
    _output(run, args, f"({took:.1f} s, {rate:,.0f} cases/s on {executor.workers} worker(s))")
    return 0


def _run_double(plan: SweepPlan, executor: Executor, args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    with Progress(plan.cases(), f"sweep {plan.params.scenario} --double, first cuts") as bar:
        try:
            cases = run_double(plan, executor, progress=bar.advance)
        except WorkerLost as exc:
            raise BoardError(str(exc)) from None
    took = time.perf_counter() - t0
    if args.json is not None:
        write_double(args.json, plan, cases)
    lines = double_report(plan, cases)
    if args.markdown:
        print("\n".join(lines))
    else:
        print("\n".join(line.replace("`", "") for line in lines))
        print(f"({took:.1f} s, {len(cases) / max(took, 1e-9):,.0f} double cuts/s on {executor.workers} worker(s))")
    return 0


def _print_digests(state: tuple[bytes, bytes], after: str) -> None:
    """The SHA-256 of both flash arrays a replayed cut left, so two replays can be compared by eye."""
    for name, data in zip(("internal", "external"), state, strict=True):
        print(f"{name} flash after {after}: sha256 {hashlib.sha256(data).hexdigest()}")


def _print_double_replay(rig: UpdateRig, ref: Reference, fault: FaultId) -> int:
    done = replay_double(rig, ref, fault)
    print(f"fault {fault}: first cut {fault.first}, then a second cut during the recovery run")
    print(f"outcome of the first cut alone: {done.first.line()}")
    print("--- console from power-on after the first cut until the second ---")
    print(done.recovery_transcript.rstrip())
    print("---")
    _print_digests(done.state, "the second cut")
    print(f"outcome: {done.judgement.line()}")
    return 0


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse unusable --json/--plot files before a long sweep runs, not after."""
    if args.plot is not None:
        check_path(args.plot)
        require_matplotlib()
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        if path is not None:
            check_output(path, option)


def _shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    i, slash, n = text.partition("/")
    if not (slash and i.isdigit() and n.isdigit() and 1 <= int(i) <= int(n)):
        raise CallerError(f"bad --shard {text!r}: expected i/N with 1 <= i <= N, e.g. 2/4")
    return int(i), int(n)


def _output(run: SweepRun, args: argparse.Namespace, timing: str | None) -> None:
    """The JSON and plot files the options ask for (first: they are what a long sweep is kept for), then the table."""
    if args.json is not None:
        dump(run, args.json)
    if args.plot is not None:
        plot(run, args.plot)
    lines = report(run, worst=args.worst)
    if args.markdown:
        print("\n".join(lines))
    else:
        print("\n".join(line.replace("**", "").replace("`", "") for line in lines))
        if timing:
            print(timing)


def run_merge(args: argparse.Namespace) -> int:
    if args.worst < 0:
        raise CallerError("--worst must be >= 0")
    _check_outputs(args)
    runs = []
    for path in args.files:
        run = load(path)
        check_whole(run, path)  # a shard cut short never passes for a whole one
        runs.append(run)
    _output(merge(runs), args, None)
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
    _print_digests(done.state, "the cut")
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
    bl.add_argument("--quirks", "--profile", dest="profile", default=HARMONY_NAME, help=QUIRKS_HELP)
    bl.add_argument("--timing", action="store_true", help="print the time each sweep took")
    bl.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores; 1 runs in-process)")
    bl.add_argument("--json", metavar="FILE", help="write every cut (fault id, operation, outcome) as JSON")
    bl.set_defaults(func=run)
    up = kinds.add_parser("update", help="cut power at every flash operation of a whole v1 -> v2 update")
    up.add_argument("--size", type=int, default=None, help="image size in bytes (default 16384)")
    up.add_argument("--stride", type=int, default=1, help="cut at every Nth operation (and the last)")
    up.add_argument("--modes", default="before,after,torn", help="comma list of before, after, torn")
    up.add_argument("--seed", type=int, default=None, help="seed of torn operations (default 1)")
    up.add_argument("--quirks", default=None, help=QUIRKS_HELP)
    up.add_argument("--v2", choices=tuple(BEHAVIOURS), default=None, help="what v2 does after the jump")
    up.add_argument("--replay", metavar="FAULT_ID", help="re-run one case, e.g. update:int@op437:before")
    up.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores; 1 runs in-process)")
    up.add_argument("--scheduler", metavar="ADDRESS", help="run the cases on a Dask cluster, e.g. tcp://10.0.0.5:8786")
    up.add_argument("--worst", type=int, default=6, help="how many worst fault ids to list")
    up.add_argument("--markdown", action="store_true", help="print the markdown of docs/power-cut-sweeps.md")
    up.add_argument(
        "--double", action="store_true", help="cut a second time at every operation of the recovery after each cut"
    )
    up.add_argument("--shard", metavar="I/N", help="judge only shard I of N (join the --json files with merge)")
    up.add_argument("--json", metavar="FILE", help="write every case (fault id, phase, operation, outcome) as JSON")
    up.add_argument("--plot", metavar="FILE", help="draw every case's outcome against the operation (.svg or .png)")
    up.add_argument(
        "--bootloader",
        default=MODEL,
        help=f"{MODEL} (default) or native:CACHE_DIR: the bootloader C code built by otaloop native build",
    )
    up.add_argument("--application", default=MODEL, metavar="SPEC", help=APPLICATION_HELP)
    up.set_defaults(func=run_update)
    mg = kinds.add_parser("merge", help="join the --json files of a sharded update sweep into one report")
    mg.add_argument("files", nargs="+", metavar="FILE", help="the JSON files of shards 1/N .. N/N")
    mg.add_argument("--worst", type=int, default=6, help="how many worst fault ids to list")
    mg.add_argument("--markdown", action="store_true", help="print markdown")
    mg.add_argument("--json", metavar="FILE", help="write the merged cases as one JSON file")
    mg.add_argument("--plot", metavar="FILE", help="draw the merged sweep (.svg or .png)")
    mg.set_defaults(func=run_merge)
    add_timed(kinds)
    add_diff(kinds)
