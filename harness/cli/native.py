"""``otaloop native``: your Harmony bootloader's own C code on the virtual board.

``otaloop native build --harmony PATH`` compiles the OTA bootloader of a WFI32E01 Harmony project (the
``apps/ota_bootloader/firmware/src`` folder, any folder above it, or the whole apps checkout; the
wolfcrypt or the TrustFlex build) for this computer, with otaloop's shims for the peripheral libraries
and the SST26 driver, into a cache folder. Then ``--bootloader native:CACHE`` makes ``otaloop board``,
``otaloop run`` and ``otaloop sweep update`` run that code at every reset, with its own console output,
and power cuts at any flash operation.

``otaloop native build --example`` builds otaloop's own small example bootloader instead (no Harmony
needed). ``--sanitize address,undefined`` builds with GCC's sanitizers, ``--sanitize memcheck`` runs every boot
under valgrind's memcheck (uninitialised reads): a memory error during a boot ends it with the report;
``--coverage`` with gcov, and ``otaloop native coverage CACHE [--html DIR]`` reports the lines and branches
of your tree every run since the build reached (``--reset`` clears the counts). ``--coverage`` and every
``--sanitize`` check apply to ``--application`` builds too (a memory error ends the application's run with the
report; under memcheck the application's helper runs under valgrind).
``otaloop native info CACHE`` shows what a cache holds. ``otaloop native compare CACHE`` boots the Python
model and the native build from the same flash states and reports every difference.

``otaloop native build --application --harmony PATH`` builds Harmony's OTA application (``wifi_ota_app_upgrade``,
configuration ``pic32mz_w1_curiosity_freertos``: your ``app.c``, its ``app_ota.c``, the OTA service and SYS_FS)
with otaloop's application shims; ``--application --example`` builds otaloop's example application (app.c with
a SWITCH1 trigger, app_ota.c's callback and a small OTA service in C behind Harmony's API names). Then
``--application native:CACHE`` runs it after every jump (docs/native-application.md).

``otaloop native compare --application CACHE`` runs the scenario library and a sample of update sweep states
on the model application and on the native one, and reports differences in console lines,
image_database.csv, boot control and the ``ota/`` files.

``otaloop native cjson --harmony-system PATH`` does the same for the OTA service's manifest parser: it builds
Harmony's ``cjson.c`` from a ``wireless_system_pic32mzw1_wfi32e01`` checkout and parses the same documents
(hand-written cases and seeded mutations) with it and with the model's parser.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from bootloader_model.errors import CallerError
from bootloader_model.quirks import HARMONY_NAME, QuirkProfile
from bootloader_model.storage.nor_flash import CutMode
from harness.cli.help import help_text
from harness.native import coverage, memcheck
from harness.native.app_compare import AppDivergence, Outcome, run_app_compare, scenario_pairs, sweep_pairs
from harness.native.application_program import NativeApplication
from harness.native.bootloader_program import NativeProgram
from harness.native.build import (
    Instrumentation,
    build,
    build_application,
    build_example,
    build_example_application,
    default_cache,
    locate,
    locate_application,
)
from harness.native.build_record import BUILD_FILE, RECORD_LIMIT, NativeBuild
from harness.native.cjson import (
    NativeCJson,
    build_cjson,
    compare_parsers,
    default_cjson_cache,
    documents,
    iter_lines,
    model_dump,
)
from harness.native.compare import Case, Divergence, model_for, run_compare, scenario_cases, sweep_cases
from harness.native.sanitizers import SANITIZERS
from harness.output_files import check_output, read_json, write_atomic
from harness.sweeps.fault_ids import Params, parse_modes


def _modes(text: str) -> tuple[CutMode, ...]:
    try:
        return parse_modes(text)
    except CallerError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: Any) -> None:
    p = sub.add_parser(
        "native",
        help="build your Harmony bootloader's C code for the virtual board; compare it with the model",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    nsub = p.add_subparsers(dest="native_command", metavar="ACTION")
    nsub.required = True

    b = nsub.add_parser("build", help="compile a bootloader (or with --application an application) for the host")
    b.add_argument(
        "--application",
        action="store_true",
        help="build an application (run after the jump with --application native:CACHE) instead of a bootloader",
    )
    what = b.add_mutually_exclusive_group(required=True)
    what.add_argument("--harmony", type=Path, metavar="PATH", help="Harmony apps checkout or ota_bootloader folder")
    what.add_argument("--example", action="store_true", help="otaloop's example bootloader (no Harmony needed)")
    b.add_argument("--cache", type=Path, help=f"output folder (default {default_cache()})")
    b.add_argument("--variant", choices=("wolfcrypt", "trustflex"), help="which build, when the tree has both")
    b.add_argument(
        "--extra-source", type=Path, action="append", default=[], metavar="FILE.c", help="compile this file too"
    )
    b.add_argument(
        "--source-date-epoch",
        type=int,
        help="build date for __DATE__/__TIME__ (default: $SOURCE_DATE_EPOCH, else Nov 26 2026 16:13:00 UTC)",
    )
    b.add_argument("--define", action="append", default=[], metavar="NAME[=VALUE]", help="extra macro for the sources")
    b.add_argument(
        "--sanitize",
        metavar="LIST",
        help=f"build with checks, a comma list of {', '.join(SANITIZERS)} (GCC's sanitizers; memcheck runs every "
        "boot, or with --application every application run, under valgrind): a memory error ends the boot or "
        "run with the report (file:line in your tree)",
    )
    b.add_argument(
        "--suppressions",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a valgrind suppression file for --sanitize memcheck (repeatable): a known finding set aside, so "
        "the runs show the next one; copied into the cache",
    )
    b.add_argument(
        "--coverage",
        action="store_true",
        help="build with gcov (bootloader or --application builds): every run adds its counts; otaloop native "
        "coverage CACHE reports them",
    )
    b.set_defaults(func=run_build)

    cv = nsub.add_parser("coverage", help="the C lines and branches of your tree that the runs reached")
    cv.add_argument("cache", type=Path, help="a folder made by otaloop native build --coverage")
    cv.add_argument("--html", type=Path, metavar="DIR", help="write gcovr's HTML report (DIR/index.html)")
    cv.add_argument("--json", type=Path, metavar="FILE", help="write the figures per file as JSON")
    cv.add_argument(
        "--cobertura", type=Path, metavar="FILE", help="write Cobertura XML (the format GitLab, Jenkins, Azure show)"
    )
    cv.add_argument("--lcov", type=Path, metavar="FILE", help="write an LCOV tracefile (genhtml, Codecov, editors)")
    cv.add_argument("--missed", action="store_true", help="list every line with a branch no run took, as file:line")
    cv.add_argument("--reset", action="store_true", help="clear the counts (the next runs start from zero)")
    cv.set_defaults(func=run_coverage)

    i = nsub.add_parser("info", help="show what a cache folder holds")
    i.add_argument("cache", type=Path)
    i.set_defaults(func=run_info)

    c = nsub.add_parser(
        "compare", help="boot the Python model and a native build from the same states; report differences"
    )
    c.add_argument("cache", type=Path)
    c.add_argument(
        "--application",
        action="store_true",
        help="CACHE is an application build: compare it with the model application (scenarios and sweep states)",
    )
    c.add_argument("--cases", choices=("all", "scenarios", "sweep"), default="all", help="which starting states")
    c.add_argument("--only", nargs="+", metavar="NAME", help="scenarios whose boots to compare (default: all)")
    c.add_argument("--size", type=int, default=None, help="update sweep image size in bytes (default 16384)")
    c.add_argument("--stride", type=int, default=1, help="update sweep: every Nth operation (and the last)")
    c.add_argument("--modes", type=_modes, default="before,after,torn", help="update sweep cut modes")
    c.add_argument("--quirks", default=HARMONY_NAME, help="the model's quirk profile")
    c.add_argument("--show", type=int, default=10, help="how many divergences to print in full (default 10)")
    c.set_defaults(func=run_compare_command)

    j = nsub.add_parser("cjson", help="parse documents with Harmony's cJSON and the model's parser; report differences")
    j.add_argument(
        "--harmony-system",
        type=Path,
        required=True,
        metavar="PATH",
        help="wireless_system_pic32mzw1_wfi32e01 checkout (or its system/ota/framework/cjson folder)",
    )
    j.add_argument("--cache", type=Path, help=f"build folder (default {default_cjson_cache()})")
    j.add_argument(
        "--documents", type=int, default=100000, help="random mutations after the hand-written cases (default 100000)"
    )
    j.add_argument("--seed", type=int, default=1, help="seed of the mutations (default 1)")
    j.add_argument("--quirks", default=HARMONY_NAME, help="the model's quirk profile")
    j.add_argument("--show", type=int, default=10, help="how many divergences to print in full (default 10)")
    j.set_defaults(func=run_cjson_command)


def run_build(args: argparse.Namespace) -> int:
    cache: Path = args.cache or default_cache()
    checks = Instrumentation.of(args.sanitize, args.coverage)
    if args.suppressions and "memcheck" not in checks.sanitize:
        raise CallerError("--suppressions applies to --sanitize memcheck builds")
    for given in args.suppressions:
        if not given.is_file():
            raise CallerError(f"--suppressions {given}: no such file")
    memcheck.check_user_suppressions(args.suppressions)

    def progress(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    if args.application:
        return _build_application(args, cache, progress, checks)
    if args.example:
        if args.variant or args.extra_source:
            raise CallerError("--variant and --extra-source apply to --harmony builds")
        result = build_example(
            cache, epoch=args.source_date_epoch, defines=args.define, progress=progress, checks=checks
        )
    else:
        sources = locate(args.harmony, args.variant)
        print(f"Building the {sources.variant} bootloader of {sources.src}", file=sys.stderr)
        flags = [f"-D{d}" for d in args.define]
        result = build(
            sources,
            cache,
            epoch=args.source_date_epoch,
            extra_sources=args.extra_source,
            extra_flags=flags,
            progress=progress,
            checks=checks,
        )
    made = NativeBuild.load(result.directory)
    print(f"built {result.executable}")
    print(f"  kind {made.kind}, variant {made.variant}, {made.data_model}, banner date {' '.join(made.build_stamp)}")
    _print_checks(made, result.meta, "a boot", args.suppressions)
    print(f"use it with: --bootloader native:{result.directory}")
    return 0


def _print_checks(made: NativeBuild, meta: dict[str, object], run: str, suppressions: Sequence[Path] = ()) -> None:
    """What a build was instrumented with, the user's memcheck suppressions (installed here), and its notes."""
    if made.coverage:
        print(f"  coverage: every run adds its counts; see them with otaloop native coverage {made.directory}")
    if made.sanitize:
        print(f"  sanitizers: {', '.join(made.sanitize)} (a memory error during {run} is reported with its C stack)")
    if "memcheck" in made.sanitize:
        for copy in memcheck.install_user_suppressions(made.directory, suppressions):
            print(f"  memcheck suppressions: {copy}")
    notes = meta.get("notes")
    for note in notes if isinstance(notes, list) else []:
        print(f"  note: {note}")


def _build_application(
    args: argparse.Namespace, cache: Path, progress: Callable[[str], None], checks: Instrumentation
) -> int:
    if args.variant:
        raise CallerError("--variant applies to bootloader builds")
    if args.example:
        if args.extra_source:
            raise CallerError("--extra-source applies to --harmony builds")
        result = build_example_application(
            cache, epoch=args.source_date_epoch, defines=args.define, progress=progress, checks=checks
        )
    else:
        sources = locate_application(args.harmony)
        print(f"Building the OTA application of {sources.src} ({sources.config.name})", file=sys.stderr)
        result = build_application(
            sources,
            cache,
            epoch=args.source_date_epoch,
            extra_sources=args.extra_source,
            extra_flags=[f"-D{d}" for d in args.define],
            progress=progress,
            checks=checks,
        )
    made = NativeBuild.load(result.directory)
    print(f"built {result.executable}")
    print(f"  application, kind {made.kind}, {made.data_model}")
    _print_checks(made, result.meta, "a run", args.suppressions)
    print(f"use it with: --application native:{result.directory}")
    return 0


def run_compare_command(args: argparse.Namespace) -> int:
    if args.application:
        return _compare_application(args)
    native = NativeProgram(args.cache)
    profile = QuirkProfile.named(args.quirks)
    if args.stride < 1:
        raise CallerError("--stride must be at least 1")
    modes: tuple[CutMode, ...] = args.modes
    started = time.perf_counter()
    sets: list[tuple[str, Iterable[Case]]] = []
    if args.cases in ("all", "scenarios"):
        print("collecting the scenario library's boots on model boards ...", file=sys.stderr, flush=True)
        sets.append(("scenario boots", scenario_cases(args.only, profile)))
    if args.cases in ("all", "sweep"):
        params = Params(args.size if args.size is not None else Params.size, args.quirks)
        sets.append(
            (
                f"update sweep states ({params.scenario}, stride {args.stride})",
                sweep_cases(params, modes, stride=args.stride),
            )
        )
    model = model_for(native, profile)
    total = diverged = 0
    shown = 0
    summary: list[str] = []
    for title, cases in sets:

        def progress(n: int, d: Divergence | None, title: str = title) -> None:
            if n % 100 == 0:
                print(f"  {title}: {n} compared", file=sys.stderr, flush=True)

        n, found = run_compare(cases, native, model, progress)
        total += n
        diverged += len(found)
        shown = _report(title, n, found, summary, shown, args.show)
    print("\n".join(summary))
    print(
        f"{total} cases, {diverged} divergences ({time.perf_counter() - started:.0f} s); model: quirks {args.quirks}, "
        f"native: {native.build.directory} ({native.build.kind}, {native.build.variant})"
    )
    return 1 if diverged else 0


def _report(
    title: str, n: int, found: Sequence[Divergence | AppDivergence], summary: list[str], shown: int, show: int
) -> int:
    """Print the divergences of one set of cases (up to ``show`` in all) and add its lines to ``summary``;
    returns how many have been printed so far."""
    kinds = Counter(", ".join(d.aspects) for d in found)
    summary.append(f"{title}: {n} compared, {n - len(found)} agree, {len(found)} diverge")
    summary += [f"    {count:5d}  {kind}" for kind, count in kinds.most_common()]
    printed = found[: max(0, show - shown)]
    for d in printed:
        print(d.report())
        print()
    return shown + len(printed)


def run_coverage(args: argparse.Namespace) -> int:
    if args.reset:
        if args.html or args.json or args.cobertura or args.lcov or args.missed:
            raise CallerError("--reset clears the counts; give the report options without it")
        removed = coverage.reset(args.cache)
        print(f"cleared the counts of {args.cache} ({removed} .gcda file(s))")
        return 0
    if args.json is not None:
        check_output(args.json, "--json")  # before gcovr's work
    found = coverage.report(args.cache, html=args.html, cobertura=args.cobertura, lcov=args.lcov)
    for line in found.table():
        print(line)
    if args.missed:
        missed = found.missed()
        print(f"{len(missed)} line(s) with a branch no run took:" if missed else "every branch was taken")
        for line in missed:
            print(f"  {line}")
    for option, target in (("cobertura", args.cobertura), ("lcov", args.lcov)):
        if target is not None:
            print(f"{option}: {target}")
    if args.html is not None:
        print(f"html: {args.html / 'index.html'}")
    if args.json is not None:
        doc = {
            "root": str(found.root),
            "files": [
                {
                    "file": f.path,
                    "lines_total": f.lines_total,
                    "lines_covered": f.lines_covered,
                    "branches_total": f.branches_total,
                    "branches_covered": f.branches_covered,
                }
                for f in found.files
            ],
        }
        write_atomic(args.json, json.dumps(doc, indent=2) + "\n", "--json")
        print(f"json: {args.json}")
    return 0


def _compare_application(args: argparse.Namespace) -> int:
    native = NativeApplication(args.cache)
    profile = QuirkProfile.named(args.quirks)
    if args.stride < 1:
        raise CallerError("--stride must be at least 1")
    if args.show < 0:
        raise CallerError("--show must be >= 0")
    modes = tuple(args.modes)  # parsed (and checked) by parse_modes at the command line
    spec = f"native:{args.cache}"
    started = time.perf_counter()
    sets: list[tuple[str, Iterable[tuple[str, Outcome, Outcome]]]] = []
    if args.cases in ("all", "scenarios"):
        sets.append(("scenarios", scenario_pairs(spec, args.only, profile)))
    if args.cases in ("all", "sweep"):
        params = Params(args.size if args.size is not None else Params.size, args.quirks)
        states = sweep_cases(params, modes, stride=args.stride)
        sets.append((f"update sweep states ({params.scenario}, stride {args.stride})", sweep_pairs(states, native)))
    total = diverged = shown = 0
    summary: list[str] = []
    for title, pairs in sets:

        def progress(n: int, d: AppDivergence | None, title: str = title) -> None:
            if n % 20 == 0:
                print(f"  {title}: {n} compared", file=sys.stderr, flush=True)

        n, found = run_app_compare(pairs, progress)
        total += n
        diverged += len(found)
        shown = _report(title, n, found, summary, shown, args.show)
    print("\n".join(summary))
    print(
        f"{total} cases, {diverged} divergences ({time.perf_counter() - started:.0f} s); model application, "
        f"quirks {args.quirks} | native application {native.build.directory}"
    )
    return 1 if diverged else 0


def run_info(args: argparse.Namespace) -> int:
    NativeBuild.load(args.cache)  # refuses a folder without a usable build, with the reason
    print(json.dumps(read_json(args.cache / BUILD_FILE, "an otaloop native build description", RECORD_LIMIT), indent=2))
    return 0


def run_cjson_command(args: argparse.Namespace) -> int:
    profile = QuirkProfile.named(args.quirks)
    if args.show < 0:
        raise CallerError("--show must be >= 0")
    docs = documents(args.documents, args.seed)
    cache: Path = args.cache or default_cjson_cache()
    exe = build_cjson(args.harmony_system, cache)
    print(f"built {exe}", file=sys.stderr)
    quirk = profile.on("svc-cjson-bad-hex-escape")

    def model(doc: bytes) -> str:
        return model_dump(doc, bad_hex_escape_is_nul=quirk)

    def progress(n: int) -> None:
        print(f"  {n} of {len(docs)} documents compared", file=sys.stderr, flush=True)

    started = time.perf_counter()
    with NativeCJson(exe) as native:
        n, found = compare_parsers(docs, model, native.dump, progress)
    for line in iter_lines(found, args.show):
        print(line)
    print(
        f"{n} documents, {len(found)} divergences ({time.perf_counter() - started:.0f} s); "
        f"model: quirks {profile.name}, native: Harmony's cJSON from {args.harmony_system}"
    )
    return 1 if found else 0
