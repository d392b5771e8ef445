"""The scenario library as pytest items: ``pytest --otaloop-scenarios`` collects ``otaloop-scenarios::<name>``.

Each scenario of :data:`harness.scenarios.REGISTRY` becomes one test item, in library order, named as
``otaloop run --list`` names it, so ``-k``, ``-m``, ``-x``, ``--lf``, ``--junitxml`` and pytest-xdist treat
it like any test. The item takes the ``ota_bench`` fixture (a fresh board, even under
``--otaloop-reuse``), carries ``otaloop_config`` and ``otaloop_requires`` markers from the scenario's
declaration (so unmet needs skip before a board is made), and runs the scenario through
:func:`harness.scenarios.runner.run_scenario`, the function ``otaloop run`` uses. A failure shows the
scenario's own message (the expected-vs-seen block) instead of a Python traceback; the trace's
observation becomes the JUnit property ``otaloop_observation``.

The items hang off a collector whose path is ``<rootdir>/otaloop-scenarios``; nothing is read from there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.pytest_plugin.fixtures import FRESH

if TYPE_CHECKING:
    from harness.scenarios.base import Bench, Scenario

NAME = "otaloop-scenarios"


class ScenarioLibrary(pytest.File):
    """Collects one :class:`ScenarioItem` per library scenario."""

    def collect(self) -> Iterator[ScenarioItem]:
        from harness.scenarios import REGISTRY

        for sc in REGISTRY.values():
            item = ScenarioItem.from_parent(self, name=sc.name, callobj=_test_function(sc))
            item.scenario = sc
            item.add_marker(pytest.mark.otaloop_config(sc.factory.name))
            if sc.requires:
                item.add_marker(pytest.mark.otaloop_requires(*sorted(sc.requires)))
            item.stash[FRESH] = True
            yield item


class ScenarioItem(pytest.Function):
    """One library scenario run as a test."""

    scenario: Scenario

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the scenario's function is (shown at ``-vv`` and with warnings), and its name."""
        code = self.scenario.func.__code__
        return Path(code.co_filename), code.co_firstlineno - 1, self.name

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        """The scenario's own message (expected vs seen) for a board or caller error; a traceback otherwise."""
        from bootloader_model.errors import OtaloopError

        if isinstance(excinfo.value, OtaloopError):
            return f"{self.name}: {type(excinfo.value).__name__}: {excinfo.value}"
        return super().repr_failure(excinfo)


def _test_function(sc: Scenario) -> Callable[..., None]:
    def run(ota_bench: Bench, request: pytest.FixtureRequest) -> None:
        from harness.scenarios.base import ScenarioSkipped
        from harness.scenarios.runner import run_scenario

        try:
            trace = run_scenario(sc, ota_bench)
        except ScenarioSkipped as exc:
            pytest.skip(str(exc))
        properties = request.node.user_properties
        properties.append(("otaloop_observation", trace.observation))
        board_s = ota_bench.board_time()
        if board_s is not None:
            properties.append(("otaloop_board_seconds", round(board_s, 1)))

    run.__name__ = sc.name
    run.__qualname__ = sc.name
    run.__doc__ = sc.summary
    return run


def library(session: pytest.Session) -> ScenarioLibrary:
    """The collector to add to the session's collection."""
    return ScenarioLibrary.from_parent(session, path=session.config.rootpath / NAME)
