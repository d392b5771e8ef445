"""Coverage-guided search: steer the fuzzer by the C code of a native bootloader that examples reach.

``otaloop fuzz --bootloader native:CACHE --guided`` runs the search on a build made with ``otaloop native
build --coverage``. Every boot of that build tells the host which gcov counters (arcs of the C code's
control-flow graph) it moved (:data:`harness.native.coverage.ARCS`); :func:`guided` makes a subclass of the
state machine that, at the end of each example, hands hypothesis two scores with ``target()``: the arcs
this example reached, and the arcs it reached that no earlier example of the search had. Hypothesis's
target phase then mutates the examples with the best scores, so the search spends its budget near inputs
that reach more, and new, C code (``benchmarks/guided_bench.py`` compares the branches a guided and an
unguided search of the same budget reach).

It does not report hazards differently: a guided search finds, shrinks and replays them as any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import target

from bootloader_model.errors import CallerError
from harness.fuzzing.machine import BoardStateMachine
from harness.native.build_record import NativeBuild
from harness.native.coverage import ARCS
from harness.native.programs import NATIVE_PREFIX


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


def guided(machine: type[BoardStateMachine]) -> type[BoardStateMachine]:
    """``machine`` scoring each example by the C arcs it reached (its bootloader must be a coverage build).

    Args:
        machine: a state machine class whose ``bootloader`` is ``native:CACHE`` of a ``--coverage`` build.

    Returns:
        A subclass with ``guided = True`` (the search adds hypothesis's target phase for it).

    Raises:
        CallerError: the bootloader is the model or a build without coverage.
    """
    cache = coverage_build(machine.bootloader)

    def __init__(self: Any) -> None:
        machine.__init__(self)
        ARCS.begin_example(cache)
        self._arcs_before = ARCS.counts(cache)[0]

    def teardown(self: Any) -> None:
        try:
            total, example = ARCS.counts(cache)
            target(float(example), label="C arcs this example reached")
            target(float(total - self._arcs_before), label="C arcs no earlier example reached")
        finally:
            machine.teardown(self)

    return type(
        machine.__name__,
        (machine,),
        {"guided": True, "__init__": __init__, "teardown": teardown, "__module__": machine.__module__},
    )
