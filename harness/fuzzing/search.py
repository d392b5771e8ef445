"""Search for hazards with a fixed budget and seed, and hand each one back shrunk and replayable.

:func:`find_hazards` runs a :class:`~harness.fuzzing.machine.BoardStateMachine` (or a subclass) under
hypothesis with a pinned ``seed`` and no example database, in rounds: each round generates examples until
one breaks a safety property, then the finding is shrunk and the next round tolerates the hazards found
so far, until ``budget`` examples have been generated. The same budget and seed give the same search on
any machine with the same hypothesis version.

Shrinking works on the recorded steps rather than on hypothesis's choices: every step replays from its
token, so :func:`shrink` removes steps (halves, then quarters, down to single steps) for as long as the
replay still names the same hazard, then joins neighbouring steps that only let time pass into one wait.
That costs a bounded number of replays (a few dozen for twenty steps) where hypothesis's own shrinker
would run the board hundreds of times per finding.

A guided search (``guided=True``, a native coverage build) spends the first share of its budget on
hypothesis's examples in the same rounds, then the rest on mutants of the runs that reached new C arcs
(:mod:`harness.fuzzing.guided`): each mutant is replayed from its token as one example, and a hazard it
shows is shrunk in the same way.

It prints nothing; ``progress`` is called with (examples generated, budget, hazards found).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, seed, settings
from hypothesis.control import current_build_context
from hypothesis.errors import Flaky
from hypothesis.stateful import run_state_machine_as_test

from bootloader_model.bootloader.program import MODEL
from bootloader_model.errors import CallerError
from bootloader_model.quirks import QuirkProfile
from harness.fuzzing import steps as steps_mod
from harness.fuzzing.guided import SEED_SHARE, Corpus
from harness.fuzzing.guided import guided as steer
from harness.fuzzing.hazards import HazardFound
from harness.fuzzing.machine import BoardStateMachine
from harness.native.coverage import ARCS

DEFAULT_BUDGET = 300
DEFAULT_SEED = 1
#: Rules per example: long enough for an update, a failure and what follows it.
STEPS = 20


@dataclass(frozen=True)
class Finding:
    """One hazard, shrunk: the report carries the hazard, the numbered steps and the replay token."""

    error: HazardFound
    found_at: int  # the example (counted over the whole search) that first showed it
    original_steps: int  # steps before shrinking

    @property
    def name(self) -> str:
        return self.error.hazard.name

    @property
    def token(self) -> str:
        return self.error.token


@dataclass
class Search:
    """What one search found and what it cost."""

    quirks: str
    budget: int
    seed: int
    findings: list[Finding] = field(default_factory=list)
    examples: int = 0  # examples generated (hypothesis may add a few whose draws overran: at least the budget)
    replays: int = 0  # replays spent shrinking
    seconds: float = 0.0
    bootloader: str = MODEL  # what ran at every reset
    application: str = MODEL  # what ran after every jump

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.findings]


def _flatten(exc: BaseException) -> list[BaseException]:
    subs = getattr(exc, "exceptions", None)  # an exception group (builtin from 3.11, a backport before)
    if isinstance(subs, (list, tuple)) and all(isinstance(e, BaseException) for e in subs):
        return [leaf for sub in subs for leaf in _flatten(sub)]
    return [exc]


def _tolerating(machine: type[BoardStateMachine], tolerated: frozenset[str]) -> type[BoardStateMachine]:
    if tolerated == machine.tolerate:
        return machine
    return type(machine.__name__, (machine,), {"__module__": machine.__module__, "tolerate": tolerated})


@contextlib.contextmanager
def _no_local_constants() -> Iterator[None]:
    """Draw without hypothesis's constants from local source files.

    Hypothesis (6.131 on) biases some draws towards constants it reads in the source of every non-installed
    module loaded so far, so which modules a process happens to have imported (the CLI, a pytest session,
    the user's own test files) would change what a seeded search generates. Without them the same budget
    and seed give the same examples in any process. A hypothesis without the feature is left alone.
    """
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants

        getter = providers._get_local_constants
        cache = providers.CONSTANTS_CACHE
        empty = Constants()
    except (ImportError, AttributeError):  # pragma: no cover - older or newer hypothesis
        yield
        return
    setattr(providers, "_get_local_constants", lambda: empty)  # noqa: B010 - a module function, not typed as settable
    cache.cache.clear()
    try:
        yield
    finally:
        setattr(providers, "_get_local_constants", getter)  # noqa: B010
        cache.cache.clear()


def _one_round(machine: type[BoardStateMachine], budget: int, seed_value: int, steps: int) -> HazardFound | None:
    """Generate up to ``budget`` examples; the first hazard found (None: none)."""
    factory = seed(seed_value)(type(machine.__name__, (machine,), {"__module__": machine.__module__}))
    config = settings(
        max_examples=budget,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        derandomize=False,
        report_multiple_bugs=False,
        print_blob=False,
        verbosity=Verbosity.quiet,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
    )
    try:
        with _no_local_constants():
            run_state_machine_as_test(factory, settings=config)
    except Flaky as exc:
        raise CallerError(f"a failure did not reproduce (a nondeterministic step): {exc}") from exc
    except BaseException as exc:  # a hazard is a finding; anything else is re-raised
        leaves = _flatten(exc)
        hazards = [e for e in leaves if isinstance(e, HazardFound)]
        if len(hazards) != len(leaves):
            raise
        return hazards[0]
    return None


def shrink(
    machine: type[BoardStateMachine], found: HazardFound, on_replay: Callable[[], None] | None = None
) -> HazardFound:
    """The same hazard from as few of ``found``'s steps as still show it (a fresh replay's report)."""
    run = steps_mod.decode(found.token)
    name = found.hazard.name
    current = run.steps

    seconds: list[float] = []

    def shows(candidate: list[list[tuple[str, dict[str, Any]]]]) -> HazardFound | None:
        if on_replay is not None:
            on_replay()
        token = steps_mod.encode_run(dataclasses.replace(run, steps=candidate))
        done = machine.replay(token)
        hazard = done.hazard
        if hazard is None or hazard.hazard.name != name:
            return None
        seconds[:] = [s.seconds for s in done.machine.steps]
        return hazard

    best = shows(current)
    if best is None:
        return found  # not reproducible by replay: keep hypothesis's own report
    # The set-up step (the board's configuration) stays; everything after it may go.
    first = 1 if current and current[0] and current[0][0][0] == "setup" else 0
    size = max(1, (len(current) - first) // 2)
    while True:
        i, removed = first, False
        while i < len(current):
            candidate = current[:i] + current[i + size :]
            again = shows(candidate)
            if again is not None:
                current, best, removed = candidate, again, True
            else:
                i += size
        if size == 1 and not removed:
            break
        size = max(1, size // 2) if not removed or size > 1 else 1
    # Two neighbouring steps that only let time pass become one wait of the same length.
    i = first
    while i + 1 < len(current) and len(seconds) == len(current):
        wait = float(math.ceil(seconds[i] + seconds[i + 1]))
        candidate = [*current[:i], [("wait", {"seconds": wait})], *current[i + 2 :]]
        again = shows(candidate) if 0 < wait <= steps_mod.MAX_RUN_S else None
        if again is not None:
            current, best = candidate, again
        else:
            i += 1
    return best


def _mutant(machine: type[BoardStateMachine], corpus: Corpus) -> HazardFound | None:
    """Replay one mutant of ``corpus`` on ``machine`` and offer it back; the hazard it showed (None: none).

    An assertion of a subclass's own invariant is raised, as hypothesis would report it.
    """
    run = corpus.mutant()
    token = steps_mod.encode_run(
        steps_mod.Run(
            machine.quirks, machine.image_size, run, machine.tolerate, machine.bootloader, machine.application
        )
    )
    before = corpus.arcs
    ARCS.begin_example(corpus.build)
    done = machine.replay(token)
    ops = [step.flash_ops for step in done.machine.steps]
    corpus.offer(run, corpus.arcs - before, ARCS.counts(corpus.build)[1], ops)
    if done.error is not None and done.hazard is None:
        raise done.error
    return done.hazard


def find_hazards(
    machine: type[BoardStateMachine] = BoardStateMachine,
    *,
    budget: int = DEFAULT_BUDGET,
    seed_value: int = DEFAULT_SEED,
    quirks: str | None = None,
    steps: int = STEPS,
    progress: Callable[[int, int, int], None] | None = None,
    bootloader: str | None = None,
    guided: bool = False,
    application: str | None = None,
) -> Search:
    """Generate ``budget`` examples of ``machine`` from ``seed_value``; every hazard found, shrunk.

    ``guided`` steers by the C code a native coverage build reaches (:mod:`harness.fuzzing.guided`): the
    first :data:`~harness.fuzzing.guided.SEED_SHARE` of the budget are hypothesis's examples, the rest
    mutants of the runs that reached new arcs, each replayed as one example.
    """
    if budget < 1:
        raise CallerError("--budget must be at least 1")
    if not 1 <= steps <= steps_mod.MAX_RULES:
        raise CallerError(f"the step count must be 1..{steps_mod.MAX_RULES} (what a replay token holds)")
    if quirks is not None:
        QuirkProfile.named(quirks)
        machine = machine.with_quirks(quirks)
    if bootloader is not None:
        machine = machine.with_bootloader(bootloader)
    if application is not None:
        machine = machine.with_application(application)
    base = machine
    corpus: Corpus | None = None
    if guided:
        machine, corpus = steer(machine, seed_value, steps)
    result = Search(machine.quirks, budget, seed_value, bootloader=machine.bootloader, application=machine.application)
    started = time.perf_counter()
    old = BoardStateMachine.on_new_example
    generated = 0
    counting = True

    def tick(_: int) -> None:
        nonlocal generated
        # Hypothesis runs a failing example once more to report it: that run is not a new example.
        if counting and not current_build_context().is_final:
            generated += 1
            if progress is not None:
                progress(min(generated, budget), budget, len(result.findings))

    def replayed() -> None:
        result.replays += 1

    BoardStateMachine.on_new_example = tick
    try:
        round_no = 0
        fresh = budget if corpus is None else max(1, math.ceil(budget * SEED_SHARE))
        while generated < fresh:
            tolerated = machine.tolerate | frozenset(result.names)
            counting = True
            found = _one_round(_tolerating(machine, tolerated), fresh - generated, seed_value * 1000 + round_no, steps)
            counting = False
            round_no += 1
            if found is None:
                break
            small = shrink(_tolerating(base, tolerated), found, replayed)
            finding = Finding(small, generated, len(steps_mod.decode(found.token).steps))
            result.findings = sorted([*result.findings, finding], key=lambda f: f.name)
        while corpus is not None and generated < budget:
            tolerated = base.tolerate | frozenset(result.names)
            found = _mutant(_tolerating(base, tolerated), corpus)
            generated += 1
            if progress is not None:
                progress(generated, budget, len(result.findings))
            if found is not None and found.hazard.name not in tolerated:
                small = shrink(_tolerating(base, tolerated), found, replayed)
                finding = Finding(small, generated, len(steps_mod.decode(found.token).steps))
                result.findings = sorted([*result.findings, finding], key=lambda f: f.name)
    finally:
        BoardStateMachine.on_new_example = old
        result.examples = generated
        result.seconds = time.perf_counter() - started
    return result
