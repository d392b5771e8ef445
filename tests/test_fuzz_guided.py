"""``otaloop fuzz --guided``: the search scores examples by the C arcs of a native coverage build they reach.

Real gcc builds of the example bootloader; the tests skip, saying so, without gcovr.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.stateful import run_state_machine_as_test

from benchmarks import guided_bench
from conftest import require_tool
from harness.cli import main
from harness.fuzzing.guided import guided
from harness.fuzzing.hazards import HAZARDS
from harness.fuzzing.machine import BoardStateMachine
from harness.fuzzing.search import find_hazards
from harness.native import coverage
from harness.native.build import Instrumentation, build_example


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("cc", "gcc")
    if importlib.util.find_spec("gcovr") is None:
        pytest.skip("gcovr is not installed (pip install 'otaloop[coverage]')")
    folder = tmp_path_factory.mktemp("guided")
    build_example(folder, checks=Instrumentation.of(coverage=True))
    return folder


def test_guided_needs_a_coverage_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fuzz", "--guided", "--budget", "1"]) == 2
    assert "give --bootloader native:CACHE of a --coverage build" in capsys.readouterr().err
    require_tool("cc", "gcc")
    build_example(tmp_path)
    assert main(["fuzz", "--guided", "--budget", "1", "--bootloader", f"native:{tmp_path}"]) == 2
    assert f"rebuild {tmp_path} with otaloop native build --coverage" in capsys.readouterr().err


def test_each_example_is_scored_by_the_arcs_it_reached(cache: Path) -> None:
    scores: list[tuple[float, float]] = []
    base = BoardStateMachine.with_bootloader(f"native:{cache}")
    steered = guided(type(base.__name__, (base,), {"tolerate": frozenset(HAZARDS), "__module__": __name__}))
    assert getattr(steered, "guided", False)

    class Recording(steered):  # type: ignore[misc, valid-type]
        def teardown(self) -> None:
            super().teardown()
            scores.append(coverage.ARCS.counts(cache.resolve()))

    config = settings(
        max_examples=4,
        stateful_step_count=3,
        deadline=None,
        database=None,
        verbosity=Verbosity.quiet,
        phases=(Phase.generate, Phase.target),
        suppress_health_check=list(HealthCheck),
    )
    run_state_machine_as_test(Recording, settings=config)
    assert len(scores) >= 4
    totals = [t for t, _ in scores]
    assert totals == sorted(totals) and totals[-1] > 0  # the union only grows
    assert all(0 < example <= total for total, example in scores)  # every example boots the C code


def test_a_guided_search_runs_and_reports(cache: Path) -> None:
    search = find_hazards(budget=3, seed_value=1, steps=3, bootloader=f"native:{cache}", guided=True)
    assert search.examples >= 1
    assert coverage.report(cache).branches[0] > 0


def test_benchmark_compares_guided_with_unguided() -> None:
    if importlib.util.find_spec("gcovr") is None:
        pytest.skip("gcovr is not installed (pip install 'otaloop[coverage]')")
    require_tool("cc", "gcc")
    lines = guided_bench.run(budget=3, steps=3)
    assert lines[0] == "guided search: example bootloader, 3 examples of 3 rules, seed 1"
    assert re.match(r"  unguided  branches +\d+  lines +\d+  arcs +\d+  \(\d+ s\)$", lines[1])
    assert re.match(r"  guided    branches +\d+  lines +\d+  arcs +\d+  \(\d+ s\)$", lines[2])
    assert re.match(r"  branches reached, guided / unguided: \d+\.\d\d$", lines[3])
