"""Coverage-guided search against the unguided search: C branches of the example bootloader reached.

Both searches run the fuzzing state machine on otaloop's example bootloader built with ``--coverage``
(each on its own fresh build, so their counts do not mix), with every hazard tolerated so each spends
its whole budget of examples, from the same seed. The report gives, for each, the branches and lines of
``example_bootloader.c`` that gcovr counts as reached and the gcov arcs the runs moved, then the ratio
guided / unguided: above 1, steering by the C code reached more of it in the same budget. The baseline
is the unguided search in the same process and run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import seed as fix_seed
from hypothesis.stateful import run_state_machine_as_test

from harness.fuzzing.guided import guided
from harness.fuzzing.hazards import HAZARDS
from harness.fuzzing.machine import BoardStateMachine
from harness.native import coverage
from harness.native.build import Instrumentation, build_example


def _search(cache: Path, budget: int, steps: int, seed_value: int, steer: bool) -> tuple[int, int, int, float]:
    """(branches reached, lines reached, arcs reached, seconds) of one search on a fresh coverage build."""
    build_example(cache, checks=Instrumentation.of(coverage=True))
    base = BoardStateMachine.with_bootloader(f"native:{cache}")
    machine = type(base.__name__, (base,), {"tolerate": frozenset(HAZARDS), "__module__": base.__module__})
    if steer:
        machine = guided(machine)
    config = settings(
        max_examples=budget,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        verbosity=Verbosity.quiet,
        phases=(Phase.generate, Phase.target) if steer else (Phase.generate,),
        suppress_health_check=list(HealthCheck),
    )
    started = time.perf_counter()
    run_state_machine_as_test(fix_seed(seed_value)(machine), settings=config)
    took = time.perf_counter() - started
    found = coverage.report(cache).file("example_bootloader.c")
    return found.branches_covered, found.lines_covered, coverage.ARCS.counts(cache.resolve())[0], took


def run(budget: int = 20, steps: int = 10, seed_value: int = 1) -> list[str]:
    """The report: both searches with ``budget`` examples of ``steps`` rules from ``seed_value``."""
    coverage.require_gcovr()
    with tempfile.TemporaryDirectory(prefix="otaloop-guided-") as tmp:
        plain = _search(Path(tmp) / "unguided", budget, steps, seed_value, steer=False)
        steered = _search(Path(tmp) / "guided", budget, steps, seed_value, steer=True)
    lines = [f"guided search: example bootloader, {budget} examples of {steps} rules, seed {seed_value}"]
    for name, (branches, reached, arcs, took) in (("unguided", plain), ("guided", steered)):
        lines.append(f"  {name:9s} branches {branches:4d}  lines {reached:4d}  arcs {arcs:4d}  ({took:.0f} s)")
    ratio = steered[0] / plain[0] if plain[0] else float("inf")
    lines.append(f"  branches reached, guided / unguided: {ratio:.2f}")
    return lines
