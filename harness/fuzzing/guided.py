"""Coverage-guided search: keep the runs that reached new C code, and mutate them.

``otaloop fuzz --bootloader native:CACHE --guided`` runs the search on a build made with ``otaloop native
build --coverage``. Every boot of that build tells the host which gcov counters (arcs of the C code's
control-flow graph) it moved (:data:`harness.native.coverage.ARCS`). The search then works as AFL and
libFuzzer do, on the steps of :mod:`harness.fuzzing.steps` instead of bytes:

* a :class:`Corpus` keeps every run that reached an arc no earlier run of the search had; the first
  share of the budget (:data:`SEED_SHARE`) is hypothesis's ordinary generation, each example recorded
  (:func:`recording`), so the corpus starts from fresh examples and the rules they drew go into a pool;
* every later example is a :meth:`Corpus.mutant`, run by replaying it (:meth:`BoardStateMachine.replay`)
  and kept if it reached new arcs. Its parent is a corpus entry picked by its energy
  (:meth:`Entry.energy`: more arcs, more; mutated often without a new arc, less, as AFLFast's schedules
  do). A share of them (:data:`CUT_FOCUS`) change only a power cut, the one input whose exact value
  decides what a failure leaves behind: a cut of the parent moved by a small or larger step, half way to
  another entry's cut, to another mode or the other flash (AFL's arithmetic on one integer); or a new cut
  at one of the last erases or programs a step of the parent made (each step records them,
  :attr:`harness.fuzzing.steps.Step.flash_ops`), where a file, the database or the FAT is committed. The
  rest are fresh runs of rules drawn as the machine's rules draw them (:data:`FRESH_RUNS` of them), or
  the parent with one to four changes stacked -- a rule inserted (fresh, from the pool, or a few in a
  row as an earlier run made them), deleted, replaced or repeated, one argument of a rule changed (an
  image's version, size -- now and then a boundary of :data:`VERSIONS` or :data:`SIZES` --, behaviour or
  damage, a manifest's kind, a wait, a cut's operation, the MHC options of the set-up), or its tail
  swapped for another entry's.

A mutant is a token's steps, so it passes :func:`harness.fuzzing.steps.encode_run`'s checks before it runs,
and a hazard it shows is shrunk and replayed as any other. The same budget, seed and build give the same
search. An input that needs several steps in sequence (an update, then a second one) is found by
extending a run that already made the first: fresh examples must line all of them up at once. The
search's driver is :func:`harness.fuzzing.search.find_hazards`; this module holds the corpus and the
mutations and runs nothing itself.
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bootloader_model.errors import CallerError
from bootloader_model.formats.app_descriptor import BEHAVIOURS
from bootloader_model.formats.app_image import APP_OFFSET, MIN_APP_SIZE
from bootloader_model.storage.nor_flash import CutMode
from harness.fuzzing import steps as steps_mod
from harness.fuzzing.machine import CONTROL_MESSAGES, CUT_WINDOW_S, IMAGE_SIZES, BoardStateMachine
from harness.fuzzing.strategies import (
    DAMAGES,
    IMAGE_PATH,
    INSTANT_FAULTS,
    MANIFEST_FIELDS,
    MANIFEST_KINDS,
    MANIFEST_PATH,
    VALID_COMMANDS,
    CutPlan,
    ImageSpec,
    ManifestSpec,
    ServerFault,
)
from harness.native.build_record import NativeBuild
from harness.native.coverage import ARCS
from harness.native.programs import NATIVE_PREFIX
from harness.scenarios.base import CONFIGS

#: The share of the budget spent on hypothesis's fresh examples before mutating (at least one example).
SEED_SHARE = 0.3
#: The share of later examples that are fresh runs of :meth:`Corpus._fresh` rules instead of mutants.
FRESH_RUNS = 0.25
#: The most changes one mutant stacks.
MAX_CHANGES = 4
#: Waits a changed wait step takes (the machine's wait rule draws the same).
WAITS = (0.5, 3.0, 30.0, 65.0, 200.0)
#: The share of mutants, once an entry holds a power cut, that only move its cuts (:meth:`Corpus._cut`).
CUT_FOCUS = 0.3
#: How far a cut mutation moves a cut's operation: a small step (a neighbouring erase or program) or a
#: larger one (the next file's writes), as AFL's arithmetic mutations step an integer.
SMALL_STEPS = (1, 1, 2, 3, 4, 8)
LARGE_STEP = 64
#: Versions a changed image may take besides a step up or down: the boundaries of a byte and of the
#: example bootloader's three-digit version text (AFL's dictionary of interesting values).
VERSIONS = (1, 255, 256, 257, 258, 999, 1000)
#: Sizes a changed image may take besides :data:`IMAGE_SIZES`: the smallest image, page boundaries and a byte
#: either side of them.
SIZES = (MIN_APP_SIZE, 8191, 8193, 12289, 16384)

#: The kinds of rule :meth:`Corpus._fresh` draws: the machine's rules (``release``: a serve of an undamaged
#: image with a valid manifest).
RULES: tuple[str, ...] = ("power", "cut_power", "control", "type_line", "start_update", "release", "serve")
RULES += ("server_fault", "set_network", "wait", "during")

Steps = list[list[tuple[str, dict[str, Any]]]]


def coverage_build(bootloader: str) -> Path:
    """The cache folder of a ``native:CACHE`` text naming a coverage build.

    Raises:
        CallerError: the model, or a native build made without ``--coverage``.
    """
    spec = bootloader.strip()
    if not spec.startswith(NATIVE_PREFIX):
        raise CallerError("--guided steers by C code: give --bootloader native:CACHE of a --coverage build")
    build = NativeBuild.load(Path(spec[len(NATIVE_PREFIX) :]))
    if not build.coverage:
        raise CallerError(
            f"--guided needs a coverage build: rebuild {build.directory} with otaloop native build --coverage"
        )
    return build.directory


@dataclass
class Entry:
    """A run of the corpus: its steps (the set-up first) and the arcs it reached first."""

    steps: Steps
    new_arcs: int
    arcs: int = 0  # arcs it reached in all
    ops: list[dict[str, int]] = field(default_factory=list)  # each step's erases and programs, per flash
    picks: int = 0  # mutants made of it so far
    found: int = 0  # of those, mutants that reached new arcs

    @property
    def cuts(self) -> bool:
        """Whether a step of the run arms a power cut."""
        return any(name == "cut_power" for step in self.steps for name, _ in step)

    def energy(self) -> float:
        """How often to pick it: more for more arcs, less the more it was picked without a new arc.

        AFLFast's observation: an entry mutated many times without result is exhausted, and the budget is
        better spent on newer entries (a new entry, one that keeps finding, is picked as often as at first).
        """
        base = 1.0 + self.arcs + 4 * min(self.new_arcs, 8)
        return base * (1 + self.found) / (1 + (self.picks - self.found) / 4)


@dataclass
class Corpus:
    """The runs of one guided search that reached new arcs of one coverage build, and the steps seen.

    Args (of the constructor):
        build: the coverage build's cache folder (:func:`coverage_build`).
        seed_value: seeds the choice of entries and mutations.
        max_rules: the most rules (steps after the set-up) a mutant holds: the search's ``--steps``.
    """

    build: Path
    seed_value: int
    max_rules: int
    entries: list[Entry] = field(default_factory=list)
    pool: list[Steps] = field(default_factory=list)  # the rules of every run offered, in order
    #: every distinct rule seen, by the name of its first action
    kinds: dict[str, list[list[tuple[str, dict[str, Any]]]]] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)
    _pooled: set[str] = field(default_factory=set)
    _rng: random.Random = field(init=False)
    _parent: Entry | None = None  # the entry the last mutant came from

    def __post_init__(self) -> None:
        self._rng = random.Random(f"otaloop-guided-{self.seed_value}")

    @property
    def arcs(self) -> int:
        """Arcs of the build reached so far by this process's runs."""
        return ARCS.counts(self.build)[0]

    def offer(self, run: Steps, new_arcs: int, arcs: int = 0, ops: list[dict[str, int]] | None = None) -> bool:
        """Add ``run``'s rules to the pool, and ``run`` to the corpus if it reached ``new_arcs`` > 0.

        ``ops`` holds, for each step run (the set-up first), the erases and programs each flash did in it
        (:attr:`harness.fuzzing.steps.Step.flash_ops`): where a mutant may cut the power.

        Returns:
            Whether it joined the corpus (a run already there does not join twice).
        """
        key = _key(run[1:])
        if run[1:] and key not in self._pooled:
            self._pooled.add(key)
            self.pool.append(run[1:])
        for step in run[1:]:
            key = "rule " + _key([step])  # apart from a run of that one rule, which the pool keeps too
            if key not in self._pooled:
                self._pooled.add(key)
                self.kinds.setdefault(step[0][0], []).append(step)
        key = _key(run)
        parent, self._parent = self._parent, None
        if parent is not None:
            parent.picks += 1
            parent.found += new_arcs > 0
        if new_arcs <= 0 or key in self._seen:
            return False
        self._seen.add(key)
        self.entries.append(Entry(run, new_arcs, arcs, list(ops or [])))
        return True

    def mutant(self) -> Steps:
        """A new run: a fresh one, or a corpus entry with 1..:data:`MAX_CHANGES` changes (an empty corpus: fresh).

        Every run it returns encodes into a replay token (:func:`harness.fuzzing.steps.encode_run`).
        """
        rng = self._rng
        self._parent = None
        focus = bool(self.entries) and rng.random() < CUT_FOCUS
        if not self.entries or (not focus and rng.random() < FRESH_RUNS):
            config = rng.choice(("auto", "auto", "auto", "notify", "manual", "manual-noreset"))
            parent = [[("setup", {"config": config})]]
            parent += [self._fresh() for _ in range(rng.randint(1, self.max_rules))]
            if _key(parent) not in self._seen:
                return parent
        else:
            # Runs that reach more of the code are the better place to change (an update made, say), and
            # runs mutated often without a new arc the worse (:meth:`Entry.energy`).
            self._parent = rng.choices(self.entries, [e.energy() for e in self.entries])[0]
            parent = self._parent.steps
        for _ in range(100):
            run = [list(s) for s in parent]
            if focus and self._parent is not None:
                # Only a cut changes: the steps that brought the board to it stay as they were.
                if self._parent.cuts and rng.random() < 0.5:
                    for _ in range(rng.randint(1, 2)):
                        run = self._cut(run)
                else:
                    run = self._cut_late(self._parent)
            if run == parent:  # no cut to move or place: the ordinary changes
                for _ in range(rng.randint(1, MAX_CHANGES)):
                    run = self._change(run)
            run = run[: self.max_rules + 1]
            key = _key(run)
            if key in self._seen or run == parent:
                continue
            try:  # the bounds of a token (sizes, counts, virtual time) hold for any profile and image size
                steps_mod.encode_run(steps_mod.Run(BoardStateMachine.quirks, BoardStateMachine.image_size, run))
            except CallerError:
                continue
            return run
        return parent  # pragma: no cover - a hundred changes that all repeat known runs

    # ------------------------------------------------------------------------------------- changes
    def _change(self, run: Steps) -> Steps:
        rng = self._rng
        head, body = run[:1], run[1:]
        kind = rng.choice(("insert", "insert", "delete", "replace", "repeat", "argument", "argument", "splice"))
        if kind in ("insert", "replace") and self.pool:
            draw = rng.random()
            if draw < 0.4:
                chunk = [self._fresh()]
            elif draw < 0.7:
                # A rule seen before, its kind chosen first: a rare kind (a serve among many waits) comes as often.
                chunk = [rng.choice(self.kinds[rng.choice(sorted(self.kinds))])]
            else:
                # One to three rules as a fresh example made them in a row (a serve and the wait after it).
                source = rng.choice(self.pool)
                start = rng.randrange(len(source))
                chunk = source[start : start + rng.randint(1, 3)]
            at = rng.randint(0, len(body))
            body = body[:at] + chunk + body[at + (0 if kind == "insert" else len(chunk)) :]
        elif kind == "delete" and body:
            del body[rng.randrange(len(body))]
        elif kind == "repeat" and body:
            at = rng.randrange(len(body))
            body = [*body[: at + 1], body[at], *body[at + 1 :]]
        elif kind == "splice" and len(self.entries) > 1:
            other = rng.choice(self.entries).steps[1:]
            cut, since = rng.randint(0, len(body)), rng.randint(0, len(other))
            body = body[:cut] + other[since:]
        else:
            at = rng.randrange(len(run))
            if at == 0:
                head = [[("setup", {"config": rng.choice(list(CONFIGS))})]]
            else:
                body[at - 1] = [self._argument(name, args) for name, args in body[at - 1]]
        return head + body

    def _cut(self, run: Steps) -> Steps:
        """``run`` with one of its power cuts moved (a run without one: unchanged).

        The flash operation a cut comes at decides what it leaves behind: a few operations apart lie the
        last page of an image, the database's rewrite and the FAT's directory erase. So the operation
        takes a small step or a larger one, or moves half way to the operation of a cut another entry
        made (bisecting towards a neighbour); or the cut comes before, after or half way through that
        operation instead, or on the other flash.
        """
        rng = self._rng
        at = [i for i, step in enumerate(run) if any(name == "cut_power" for name, _ in step)]
        if not at:
            return run
        i = rng.choice(at)
        j = rng.choice([k for k, (name, _) in enumerate(run[i]) if name == "cut_power"])
        name, args = run[i][j]
        plan: CutPlan = args["plan"]
        draw = rng.random()
        op, mode, device = plan.op, plan.mode, plan.device
        others = sorted({p.op for p in self._cut_plans() if p.device == device and p.op != op})
        if draw < 0.45:
            op += rng.choice(SMALL_STEPS) * rng.choice((-1, 1))
        elif draw < 0.65:
            op += rng.randint(1, LARGE_STEP) * rng.choice((-1, 1))
        elif draw < 0.75 and others:
            op = (op + rng.choice(others)) // 2
        elif draw < 0.9:
            mode = rng.choice([m for m in CutMode if m is not mode])
        else:
            device = "external" if device == "internal" else "internal"
        step = list(run[i])
        new_plan = CutPlan(device, min(max(0, op), steps_mod.MAX_CUT_OP), mode, plan.seed)
        step[j] = (name, {**args, "plan": new_plan})
        return [*run[:i], step, *run[i + 1 :]]

    def _cut_late(self, entry: Entry) -> Steps:
        """``entry``'s run with a power cut at one of the last operations a step of it made on a flash.

        A step's last erases and programs are where a write is committed -- a file's directory entry, the
        database's rewrite, the FAT -- so a cut there is likelier than one at any operation to leave a file
        unreadable. The step is chosen with a chance in proportion to the operations it made. The cut is
        armed just before it with no time of its own (a window of 0 s), so the step runs as in the entry
        and the cut comes at its k-th last operation (k mostly 1..16); the board is powered on after it.
        An entry whose steps made no operation comes back unchanged.
        """
        rng = self._rng
        run = [list(s) for s in entry.steps]
        places = [
            (i, device, n)
            for i, ops in enumerate(entry.ops[: len(run)])
            if 0 < i <= self.max_rules - 2
            for device, n in sorted(ops.items())
            if n > 0
        ]
        if not places:
            return run
        # A step that wrote more (a download, against a boot's few writes) is where a cut has more to hit.
        i, device, n = rng.choices(places, [n for _, _, n in places])[0]
        k = rng.randint(1, min(n, 16)) if rng.random() < 0.7 else rng.randint(1, n)
        plan = CutPlan(device, n - k, rng.choice(list(CutMode)), rng.randint(0, 9))
        cut = [("cut_power", {"plan": plan, "within_s": 0.0})]
        run = [*run[:i], cut, run[i], [("power", {"action": "on"})], *run[i + 1 :]]
        return run[: self.max_rules + 1]

    def _cut_plans(self) -> list[CutPlan]:
        """The cuts the corpus's entries armed."""
        return [args["plan"] for e in self.entries for step in e.steps for name, args in step if name == "cut_power"]

    def _fresh(self) -> list[tuple[str, dict[str, Any]]]:
        """A new rule, drawn as the machine's rules draw it (each kind as likely)."""
        rng = self._rng
        kind = rng.choice(RULES)
        args: dict[str, Any]
        if kind == "power":
            args = {"action": rng.choice(steps_mod.POWER_ACTIONS)}
        elif kind == "cut_power":
            plan = CutPlan(rng.choice(("internal", "external")), rng.randint(0, 350), rng.choice(list(CutMode)))
            args = {"plan": dataclasses.replace(plan, seed=rng.randint(0, 9)), "within_s": CUT_WINDOW_S}
        elif kind == "control":
            args = {"message": rng.choice(CONTROL_MESSAGES)}
        elif kind == "type_line":
            args = {"line": self._line(), "settle_s": 1.0}
        elif kind == "start_update":
            args = {"image": self._new_image(DAMAGES), "good_digest": rng.random() < 0.5}
        elif kind == "release":
            kind, args = "serve", {"image": self._new_image(("none",)), "manifest": ManifestSpec()}
        elif kind == "serve":
            manifest = ManifestSpec(rng.choice(MANIFEST_KINDS), rng.choice(MANIFEST_FIELDS))
            args = {"image": self._new_image(DAMAGES), "manifest": manifest}
        elif kind == "server_fault":
            if rng.random() < 0.2:
                return [("heal_server", {})]
            times = rng.choice((None, 1, 2))
            path = rng.choice((IMAGE_PATH, MANIFEST_PATH))
            fault = ServerFault(path, rng.choice(INSTANT_FAULTS), rng.randint(0, max(IMAGE_SIZES)), 404, times)
            args = {"fault": dataclasses.replace(fault, status=rng.choice((404, 500, 301, 403)))}
        elif kind == "set_network":
            args = {"up": rng.random() < 0.5}
        elif kind == "wait":
            args = {"seconds": rng.choice(WAITS)}
        else:
            args = {"moment": rng.choice(steps_mod.MOMENTS), "message": rng.choice(CONTROL_MESSAGES)}
        return [(kind, args)]

    def _line(self) -> bytes:
        """A console line as ``console_lines()`` draws it: a command, text, raw bytes or an over-long line."""
        rng = self._rng
        what = rng.randrange(4)
        if what == 0:
            return rng.choice(VALID_COMMANDS)
        if what == 1:
            return bytes(rng.randint(32, 126) for _ in range(rng.randint(0, 40)))
        if what == 2:
            return bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 48)))
        return b"otactl " + b"x" * rng.randint(81, 300)

    def _new_image(self, damages: tuple[str, ...]) -> ImageSpec:
        """An image as the rules draw it: v2 or v3, any behaviour, a size of ``IMAGE_SIZES``, damaged or not."""
        rng = self._rng
        size, damage = rng.choice(IMAGE_SIZES), rng.choice(damages)
        at = 0 if damage == "none" else rng.randint(min(APP_OFFSET, size - 1), size - 1)
        return ImageSpec(rng.choice((2, 3)), rng.choice(list(BEHAVIOURS)), size, damage, at)

    def _argument(self, name: str, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """``name``'s action with one argument changed (an action without arguments stays as it is)."""
        rng = self._rng
        new = dict(args)
        if name == "wait":
            new["seconds"] = rng.choice(WAITS)
        elif name == "power":
            new["action"] = rng.choice(steps_mod.POWER_ACTIONS)
        elif name == "control":
            new["message"] = rng.choice(CONTROL_MESSAGES)
        elif name == "during":
            new["moment"], new["message"] = rng.choice(steps_mod.MOMENTS), rng.choice(CONTROL_MESSAGES)
        elif name == "type_line":
            new["line"] = rng.choice(VALID_COMMANDS)
        elif name == "set_network":
            new["up"] = not args["up"]
        elif name == "start_update":
            if rng.random() < 0.25:
                new["good_digest"] = not args.get("good_digest", True)
            else:
                new["image"] = self._image(args["image"])
        elif name == "serve":
            manifest = args.get("manifest") or ManifestSpec()
            if rng.random() < 0.3:
                new["manifest"] = ManifestSpec(rng.choice(MANIFEST_KINDS), rng.choice(MANIFEST_FIELDS))
            else:
                new["image"], new["manifest"] = self._image(args["image"]), manifest
        elif name == "server_fault":
            fault: ServerFault = args["fault"]
            new["fault"] = dataclasses.replace(
                fault, kind=rng.choice(INSTANT_FAULTS), after=rng.randint(0, max(IMAGE_SIZES))
            )
        elif name == "cut_power":
            plan: CutPlan = args["plan"]
            op = max(0, plan.op + rng.choice((-10, -3, -1, 1, 3, 10))) if rng.random() < 0.5 else rng.randint(0, 350)
            new["plan"] = CutPlan(rng.choice(("internal", "external")), op, rng.choice(list(CutMode)), plan.seed)
        return name, new

    def _image(self, image: ImageSpec) -> ImageSpec:
        """``image`` with one of its version, size, behaviour or damage changed."""
        rng = self._rng
        what = rng.choice(("version", "version", "size", "behaviour", "damage"))
        if what == "version":
            if rng.random() < 0.2:
                return dataclasses.replace(image, version=rng.choice(VERSIONS))
            version = max(1, image.version + rng.choice((-1, 1, 1, 2)))
            return dataclasses.replace(image, version=version)
        if what == "size":
            size = rng.choice(SIZES) if rng.random() < 0.2 else rng.choice(IMAGE_SIZES)
            return dataclasses.replace(image, size=size, damage="none", damage_at=0)
        if what == "behaviour":
            return dataclasses.replace(image, behaviour=rng.choice(list(BEHAVIOURS)))
        damage = rng.choice(DAMAGES)
        at = 0 if damage == "none" else rng.randint(min(APP_OFFSET, image.size - 1), image.size - 1)
        return dataclasses.replace(image, damage=damage, damage_at=at)


def _key(run: Steps) -> str:
    """A run's steps as text (equal text, equal steps)."""
    return json.dumps([[[name, {k: repr(v) for k, v in sorted(args.items())}] for name, args in step] for step in run])


def recording(machine: type[BoardStateMachine], corpus: Corpus) -> type[BoardStateMachine]:
    """``machine`` offering each example it runs to ``corpus``, with the arcs it reached first.

    Args:
        machine: a state machine class whose ``bootloader`` is the corpus's coverage build.
        corpus: where the examples go.

    Returns:
        A subclass with ``guided = True``.
    """

    def __init__(self: Any) -> None:
        machine.__init__(self)
        self._arcs_before = corpus.arcs
        ARCS.begin_example(corpus.build)

    def teardown(self: Any) -> None:
        try:
            run = [[(a.name, a.args) for a in s.actions] for s in self.steps]
            if run:
                ops = [s.flash_ops for s in self.steps]
                corpus.offer(run, corpus.arcs - self._arcs_before, ARCS.counts(corpus.build)[1], ops)
        finally:
            machine.teardown(self)

    return type(
        machine.__name__,
        (machine,),
        {"guided": True, "__init__": __init__, "teardown": teardown, "__module__": machine.__module__},
    )


def guided(
    machine: type[BoardStateMachine], seed_value: int = 1, max_rules: int = 20
) -> tuple[type[BoardStateMachine], Corpus]:
    """``machine`` recording its examples into a new corpus of its coverage build.

    Args:
        machine: a state machine class whose ``bootloader`` is ``native:CACHE`` of a ``--coverage`` build.
        seed_value: seeds the corpus's choices.
        max_rules: the most rules a mutant holds.

    Returns:
        The recording machine (:func:`recording`) and its :class:`Corpus`.

    Raises:
        CallerError: the bootloader is the model or a build without coverage.
    """
    corpus = Corpus(coverage_build(machine.bootloader), seed_value, max_rules)
    return recording(machine, corpus), corpus
