"""``otaloop fuzz``: search the virtual board for Harmony's OTA hazards with a property-based state machine.

The search runs ``BoardStateMachine`` (``harness/fuzzing/machine.py``) for ``--budget`` examples from
``--seed`` under a quirk profile (``--quirks``, default harmony-3.9.1) and prints every hazard it finds: the
broken safety property, what was seen, the shrunk steps as a numbered list and a replay token. The same
budget and seed give the same findings. ``--replay TOKEN`` runs one finding's steps again on a fresh board
and prints them with the board's console. ``--markdown`` prints the findings as the fuzzing section of
``docs/findings.md``. ``--bootloader native:CACHE`` runs a bootloader's own C code (``otaloop native
build``) at every reset instead of the model; with a ``--coverage`` build, ``--guided`` steers the search by
the C arcs each example reaches; ``--application native:CACHE`` runs application C code after every jump
(``otaloop native build --application``; the machine types ``otactl`` commands, so the build needs the
otactl group, as Harmony's application does on a test rig). Progress goes to stderr: a bar on a terminal,
a plain line every few seconds elsewhere (``OTALOOP_PROGRESS_SECONDS`` sets how often).
"""

from __future__ import annotations

import argparse

from bootloader_model.bootloader.program import MODEL
from bootloader_model.errors import CallerError
from harness.cli.help import QUIRKS_HELP, help_text
from harness.fuzzing import steps as steps_mod
from harness.fuzzing.machine import BoardStateMachine
from harness.fuzzing.report import markdown, text
from harness.fuzzing.search import DEFAULT_BUDGET, DEFAULT_SEED, STEPS, find_hazards
from harness.native.programs import APPLICATION_HELP, BOOTLOADER_HELP
from harness.sweeps.progress import Progress


def run(args: argparse.Namespace) -> int:
    if args.replay is not None:
        given = (args.budget, args.seed, args.quirks, args.bootloader, args.application)
        if any(value is not None for value in given) or args.markdown or args.guided:
            raise CallerError(
                "--replay takes everything from the token; drop --budget, --seed, --quirks, --bootloader, "
                "--application, --markdown, --guided"
            )
        return _replay(args.replay)
    budget = DEFAULT_BUDGET if args.budget is None else args.budget
    seed = DEFAULT_SEED if args.seed is None else args.seed
    if budget < 1:
        raise CallerError("--budget must be at least 1")
    if seed < 0:
        raise CallerError("--seed must be >= 0")
    if not 1 <= args.steps <= steps_mod.MAX_RULES:
        raise CallerError(f"--steps must be 1..{steps_mod.MAX_RULES}")
    with Progress(budget, "fuzz", unit="examples") as bar:

        def progress(done: int, _budget: int, found: int) -> None:
            bar.note = f"{found} hazard(s) found"
            bar.advance(done - bar.done)

        search = find_hazards(
            budget=budget,
            seed_value=seed,
            quirks=args.quirks,
            steps=args.steps,
            progress=progress,
            bootloader=args.bootloader,
            guided=args.guided,
            application=args.application,
        )
    print(markdown(search) if args.markdown else text(search), end="")
    return 0


def _replay(token: str) -> int:
    run = steps_mod.decode(token)
    done = BoardStateMachine.replay(token)
    machine = done.machine
    where = "" if run.bootloader == MODEL else f", bootloader {run.bootloader}"
    where += "" if run.application == MODEL else f", application {run.application}"
    print(f"replay: {len(run.steps)} step(s), quirks {run.quirks}, {steps_mod.image_sizes(run)}{where}")
    print(steps_mod.numbered(machine.steps), end="")
    hazard = done.hazard
    if hazard is not None:
        print(hazard.report(), end="")
        print("--- console ---")
        print(hazard.transcript.rstrip())
    elif done.error is not None:
        print(f"an invariant failed: {done.error}")
    else:
        print("no hazard: every safety property held after every step")
        print("--- console ---")
        print(machine.board.text.rstrip())
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "fuzz", help="search the virtual board for OTA hazards (property-based)", description=help_text(__doc__)
    )
    parser.add_argument("--budget", type=int, default=None, help=f"examples to generate (default {DEFAULT_BUDGET})")
    parser.add_argument("--seed", type=int, default=None, help=f"seed of the search (default {DEFAULT_SEED})")
    parser.add_argument("--quirks", default=None, help=QUIRKS_HELP)
    parser.add_argument("--bootloader", default=None, help=BOOTLOADER_HELP)
    parser.add_argument(
        "--guided",
        action="store_true",
        help="steer by the C code reached (needs --bootloader native:CACHE of an otaloop native build --coverage)",
    )
    parser.add_argument(
        "--application",
        default=None,
        metavar="SPEC",
        help=APPLICATION_HELP + "; the machine types otactl commands, so the application needs the otactl group",
    )
    parser.add_argument("--steps", type=int, default=STEPS, help=f"rules per example (default {STEPS})")
    parser.add_argument("--replay", metavar="TOKEN", help="run one finding's steps again and print the console")
    parser.add_argument("--markdown", action="store_true", help="print the fuzzing section of docs/findings.md")
    parser.set_defaults(func=run)
