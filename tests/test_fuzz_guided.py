"""``otaloop fuzz --guided``: a corpus of the runs that reached new C arcs of a native coverage build, mutated.

Real gcc builds of the example bootloader; the tests skip, saying so, without gcovr.
"""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import pytest

from benchmarks import guided_bench
from bootloader_model.storage.nor_flash import CutMode
from conftest import require_tool
from harness.cli import main
from harness.fuzzing import steps
from harness.fuzzing.guided import SEED_SHARE, SIZES, VERSIONS, Corpus
from harness.fuzzing.machine import IMAGE_SIZES, BoardStateMachine
from harness.fuzzing.search import find_hazards
from harness.fuzzing.strategies import CutPlan, ImageSpec, ManifestSpec
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


def test_the_guided_search_reaches_a_planted_branch_the_unguided_one_does_not() -> None:
    """The benchmark at a small budget: same examples, same seed; only mutating the runs that reached new
    arcs lines up the two updates the planted branches need."""
    require_tool("cc", "gcc")
    if importlib.util.find_spec("gcovr") is None:
        pytest.skip("gcovr is not installed (pip install 'otaloop[coverage]')")
    assert len(guided_bench.planted_lines()) == 2
    lines = guided_bench.run(budget=40, steps=12, seeds=(1,))
    assert lines[0] == "guided search: example bootloader, 40 examples of up to 12 rules, seeds (1,)"
    row = r"  seed 1 {} branches +\d+  lines +\d+  arcs +\d+  planted ([0-2])/2  \(\d+ s\)$"
    plain = re.match(row.format("unguided "), lines[1])
    steered = re.match(row.format("guided   "), lines[2])
    assert plain is not None and steered is not None, lines
    assert plain.group(1) == "0"
    assert steered.group(1) != "0"
    assert re.match(r"  seed 1 branches reached, guided / unguided: \d+\.\d\d$", lines[3])
    assert re.match(r"  mean of the ratios over 1 seed\(s\): \d+\.\d\d$", lines[4])


def test_mutants_are_replayable_runs_within_the_step_limit() -> None:
    corpus = Corpus(Path("/nonexistent-build"), seed_value=3, max_rules=4)
    image = ImageSpec(2)
    first = [[("setup", {"config": "auto"})], [("wait", {"seconds": 65.0})], [("serve", {"image": image})]]
    assert corpus.offer(first, new_arcs=5)
    assert not corpus.offer(first, new_arcs=5)  # the same run joins once
    assert not corpus.offer([[("setup", {"config": "notify"})], [("power", {"action": "off"})]], new_arcs=0)
    assert len(corpus.entries) == 1 and len(corpus.pool) == 2  # every run's rules feed the pool
    mutants = [corpus.mutant() for _ in range(30)]
    assert all(m != first for m in mutants)
    for m in mutants:
        assert m[0][0][0] == "setup" and len(m) <= 5
        token = steps.encode_run(steps.Run("harmony-3.9.1", 8192, m))
        assert steps.decode(token).steps[0][0][0] == "setup"
    again = Corpus(Path("/nonexistent-build"), seed_value=3, max_rules=4)
    again.offer(first, new_arcs=5)
    again.offer([[("setup", {"config": "notify"})], [("power", {"action": "off"})]], new_arcs=0)
    assert [again.mutant() for _ in range(30)] == mutants  # the seed decides


def test_hazards_found_by_mutants_are_shrunk_and_replay_by_token(cache: Path) -> None:
    search = find_hazards(budget=40, seed_value=1, steps=12, bootloader=f"native:{cache}", guided=True)
    assert search.examples == 40
    fresh = math.ceil(40 * SEED_SHARE)
    assert any(f.found_at > fresh for f in search.findings)  # a mutant showed it, not hypothesis
    for finding in search.findings:
        assert len(steps.decode(finding.token).steps) <= finding.original_steps
        replayed = BoardStateMachine.replay(finding.token)
        assert replayed.hazard is not None and replayed.hazard.hazard.name == finding.name
    assert coverage.report(cache).branches[0] > 0


def test_cut_mutants_move_only_the_cut_and_stay_replayable() -> None:
    """A corpus entry that cut the power: some mutants keep every step but move the cut's operation (by a
    small or larger step), its mode or its flash, and each one encodes into a token."""
    corpus = Corpus(Path("/nonexistent-build"), seed_value=5, max_rules=6)
    plan = CutPlan("external", 260, CutMode.AFTER, seed=3)
    cut = [("cut_power", {"plan": plan, "within_s": 70.0})]
    entry = [[("setup", {"config": "auto"})], [("wait", {"seconds": 30.0})], cut, [("power", {"action": "on"})]]
    assert corpus.offer(entry, new_arcs=3)
    moved: list[CutPlan] = []
    for _ in range(200):
        m = corpus.mutant()
        token = steps.encode_run(steps.Run("harmony-3.9.1", 8192, m))
        assert steps.decode(token).steps[0][0][0] == "setup" and len(m) <= 7
        if len(m) == len(entry) and [m[i] for i in (0, 1, 3)] == [entry[i] for i in (0, 1, 3)]:
            ((name, args),) = m[2]
            if name == "cut_power" and args["plan"] != plan:
                assert args["within_s"] == 70.0 and args["plan"].seed == 3
                moved.append(args["plan"])
    ops = {p.op for p in moved if p.mode is CutMode.AFTER and p.device == "external"}
    assert {259, 261} & ops  # a neighbouring operation
    assert any(abs(op - 260) > 8 for op in ops)  # a larger step
    assert any(p.mode is not CutMode.AFTER for p in moved)
    assert any(p.device == "internal" for p in moved)
    assert all(0 <= p.op <= steps.MAX_CUT_OP for p in moved)


def test_image_mutants_draw_from_the_dictionary_of_boundaries() -> None:
    """Versions at a byte's and the version text's boundaries, sizes a byte either side of a page: mutants
    of a served image take them, and each one encodes into a token."""
    corpus = Corpus(Path("/nonexistent-build"), seed_value=2, max_rules=3)
    entry = [[("setup", {"config": "auto"})], [("serve", {"image": ImageSpec(3), "manifest": ManifestSpec()})]]
    assert corpus.offer(entry, new_arcs=2)
    versions, sizes = set(), set()
    for _ in range(400):
        m = corpus.mutant()
        steps.encode_run(steps.Run("harmony-3.9.1", 8192, m))
        for step in m[1:]:
            for name, args in step:
                if name in ("serve", "start_update"):
                    versions.add(args["image"].version)
                    sizes.add(args["image"].size)
    assert set(VERSIONS) & versions and set(SIZES) - set(IMAGE_SIZES) & sizes


def test_cut_mutants_place_a_cut_at_a_steps_last_operations() -> None:
    """An entry whose third step made 270 external operations: a mutant arms a cut just before that step,
    with no time of its own, at one of its last operations, and powers the board on after it."""
    corpus = Corpus(Path("/nonexistent-build"), seed_value=4, max_rules=6)
    entry = [[("setup", {"config": "auto"})], [("power", {"action": "cycle"})], [("wait", {"seconds": 65.0})]]
    ops = [{"internal": 0, "external": 0}, {"internal": 3, "external": 0}, {"internal": 0, "external": 270}]
    assert corpus.offer(entry, new_arcs=3, ops=ops)
    placed: list[CutPlan] = []
    for _ in range(200):
        m = corpus.mutant()
        steps.encode_run(steps.Run("harmony-3.9.1", 8192, m))
        if len(m) == 5 and m[:2] == entry[:2] and m[3] == entry[2] and m[4] == [("power", {"action": "on"})]:
            ((name, args),) = m[2]
            assert name == "cut_power" and args["within_s"] == 0.0
            placed.append(args["plan"])
    assert {p.device for p in placed} == {"external"}
    assert all(0 <= p.op < 270 for p in placed)
    assert sum(p.op >= 270 - 16 for p in placed) > len(placed) / 2  # mostly among the last 16
    assert {p.op for p in placed} >= {269}  # the very last operation


def test_each_step_records_the_flash_operations_it_made() -> None:
    """What a cut mutant aims at: the download of v2 in the wait past the first periodic check programs the
    external flash; a power off programs nothing."""
    token = steps.encode_run(
        steps.Run(
            "harmony-3.9.1",
            8192,
            [[("setup", {"config": "auto"})], [("wait", {"seconds": 65.0})], [("power", {"action": "off"})]],
        )
    )
    done = BoardStateMachine.replay(token)
    assert done.error is None
    wait, off = done.machine.steps[1], done.machine.steps[2]
    assert wait.flash_ops["external"] > 0 and set(wait.flash_ops) == {"internal", "external"}
    assert off.flash_ops == {"internal": 0, "external": 0}
