"""The fuzzer finds Harmony's hazards on its own: a pinned budget and seed, both quirk profiles.

One search per profile (module fixtures), the same budget and seed for both. Under ``harmony-3.9.1`` it
must find, among others, the factory fallback of a power cut in the bootloader's programming window (spec
hazard 11), the reprogram loop of an image that crashes at boot (hazard 10), the erased ``ota/`` directory
block of a cut while v2 first rewrites the DB, and a service-side hazard from the quirk table. Under
``corrected`` the same search must find no hazard that a quirk causes. Nothing steers the search: the
machine is the one ``otaloop fuzz`` runs, and a hazard is only named after a property broke.

The two searches run at once in two processes (each about half a minute of one core).
"""

from __future__ import annotations

import multiprocessing
import pickle
import re
from concurrent.futures import ProcessPoolExecutor

import pytest

from harness.fuzzing import HAZARDS, BoardStateMachine
from harness.fuzzing import steps as steps_mod
from harness.fuzzing.report import DOC_BUDGET, DOC_SEED
from harness.fuzzing.search import Search, find_hazards

BUDGET, SEED = DOC_BUDGET, DOC_SEED
REQUIRED = {"power-cut-factory-fallback", "reprogram-loop", "ota-directory-erased"}
QUIRK_CAUSED = {name for name, hazard in HAZARDS.items() if hazard.quirk}


def _search(quirks: str) -> Search:
    return find_hazards(budget=BUDGET, seed_value=SEED, quirks=quirks)


@pytest.fixture(scope="module")
def searches() -> dict[str, Search]:
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        jobs = {quirks: pool.submit(_search, quirks) for quirks in ("harmony-3.9.1", "corrected")}
        return {quirks: job.result() for quirks, job in jobs.items()}


@pytest.fixture(scope="module")
def harmony(searches: dict[str, Search]) -> Search:
    return searches["harmony-3.9.1"]


@pytest.fixture(scope="module")
def corrected(searches: dict[str, Search]) -> Search:
    return searches["corrected"]


def test_finds_the_design_hazards_and_a_quirk_hazard(harmony: Search) -> None:
    found = set(harmony.names)
    assert found >= REQUIRED, sorted(found)
    assert found & QUIRK_CAUSED, sorted(found)  # at least one service-side hazard of the quirk table
    assert BUDGET <= harmony.examples <= BUDGET + 20  # hypothesis adds the few examples whose draws overran


def test_findings_are_shrunk_numbered_and_named(harmony: Search) -> None:
    for f in harmony.findings:
        lines = f.error.steps.splitlines()
        numbers = [int(m.group(1)) for m in (re.match(r"\s*(\d+)\. \S", line) for line in lines) if m]
        assert numbers == list(range(1, len(lines) + 1)), f.error.steps
        assert 1 <= len(lines) <= f.original_steps
        assert f.error.hazard is HAZARDS[f.name]
        assert f.token.startswith(steps_mod.PREFIX)


def test_a_finding_survives_pickling(harmony: Search) -> None:
    f = harmony.findings[0]
    again = pickle.loads(pickle.dumps(f))
    assert type(again.error) is type(f.error) and again.error.report() == f.error.report()


def test_every_finding_replays_alone(harmony: Search) -> None:
    for f in harmony.findings:
        again = BoardStateMachine.replay(f.token).hazard
        assert again is not None and again.hazard.name == f.name, f.error.report()
        assert again.steps == f.error.steps


def test_corrected_profile_finds_no_quirk_hazard(corrected: Search) -> None:
    assert not set(corrected.names) & QUIRK_CAUSED, corrected.names
    assert corrected.examples >= BUDGET  # the whole budget was spent looking


def test_the_quirk_hazard_is_gone_when_its_quirk_is_corrected(harmony: Search) -> None:
    # The same steps under profile corrected: the service-side finding does not happen.
    for f in harmony.findings:
        if f.name not in QUIRK_CAUSED:
            continue
        run = steps_mod.decode(f.token)
        token = steps_mod.encode_run(steps_mod.Run("corrected", run.image_size, run.steps, run.tolerate))
        again = BoardStateMachine.replay(token).hazard
        assert again is None or again.hazard.name != f.name
