"""Coverage-guided search against the unguided search: C branches of the example bootloader reached.

For each seed both searches run :func:`~harness.fuzzing.search.find_hazards` on otaloop's example
bootloader built with ``--coverage`` (each on its own fresh build, so their counts do not mix), with every
hazard tolerated so each spends its whole budget, from the same seed and with the same budget of examples:
the unguided search generates them all with hypothesis, the guided one its first 30% and then
replays mutants of the runs that reached new arcs (:mod:`harness.fuzzing.guided`), one example each.
The report gives, for each, the branches and lines of ``example_bootloader.c`` that gcovr counts as
reached, the gcov arcs the runs moved and how many of the lines planted for the guided search ran, then
the ratio guided / unguided of branches: above 1, steering by the C code reached more of it in the same
budget. The baseline is the unguided search in the same process and run.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.fuzzing.hazards import HAZARDS
from harness.fuzzing.machine import BoardStateMachine
from harness.fuzzing.search import find_hazards
from harness.native import coverage
from harness.native.build import EXAMPLE_DIR, Instrumentation, build_example

#: The marker of the lines the example bootloader plants for the guided search.
PLANTED_MARK = "planted for the guided search"


@dataclass(frozen=True)
class Reach:
    """What one search reached of ``example_bootloader.c``."""

    branches: int
    lines: int
    arcs: int
    planted: int  # planted lines that ran
    seconds: float


def planted_lines() -> list[int]:
    """Line numbers of ``example_bootloader.c`` that carry the guided search's planted branches."""
    text = (EXAMPLE_DIR / "example_bootloader.c").read_text()
    return [i for i, line in enumerate(text.splitlines(), 1) if PLANTED_MARK in line and "++" in line]


def search(cache: Path, budget: int, steps: int, seed_value: int, guided: bool) -> Reach:
    """One search on a fresh coverage build in ``cache``: what it reached of the example bootloader."""
    build_example(cache, checks=Instrumentation.of(coverage=True))
    machine = type("Tolerant", (BoardStateMachine,), {"tolerate": frozenset(HAZARDS), "__module__": __name__})
    started = time.perf_counter()
    find_hazards(
        machine, budget=budget, seed_value=seed_value, steps=steps, bootloader=f"native:{cache}", guided=guided
    )
    took = time.perf_counter() - started
    found = coverage.report(cache).file("example_bootloader.c")
    planted = sum(1 for n in planted_lines() if found.lines.get(n, 0) > 0)
    arcs = coverage.ARCS.counts(cache.resolve())[0]
    return Reach(found.branches_covered, found.lines_covered, arcs, planted, took)


def run(budget: int = 100, steps: int = 20, seeds: tuple[int, ...] = (1, 2, 3)) -> list[str]:
    """The report: both searches with ``budget`` examples of up to ``steps`` rules from each seed."""
    coverage.require_gcovr()
    planted = len(planted_lines())
    lines = [f"guided search: example bootloader, {budget} examples of up to {steps} rules, seeds {seeds}"]
    ratios = []
    with tempfile.TemporaryDirectory(prefix="otaloop-guided-") as tmp:
        for seed_value in seeds:
            plain = search(Path(tmp) / f"unguided{seed_value}", budget, steps, seed_value, guided=False)
            steered = search(Path(tmp) / f"guided{seed_value}", budget, steps, seed_value, guided=True)
            for name, r in (("unguided", plain), ("guided", steered)):
                lines.append(
                    f"  seed {seed_value} {name:9s} branches {r.branches:4d}  lines {r.lines:4d}  arcs {r.arcs:4d}"
                    f"  planted {r.planted}/{planted}  ({r.seconds:.0f} s)"
                )
            ratio = steered.branches / plain.branches if plain.branches else float("inf")
            ratios.append(ratio)
            lines.append(f"  seed {seed_value} branches reached, guided / unguided: {ratio:.2f}")
    lines.append(f"  mean of the ratios over {len(seeds)} seed(s): {sum(ratios) / len(ratios):.2f}")
    return lines
