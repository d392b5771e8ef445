"""The scenario library: plain functions ``scenario(bench) -> Trace`` that run on a real or a virtual board.

Importing the package registers every scenario in :data:`REGISTRY` (in library order). Run them with
:func:`harness.scenarios.runner.run_suite` or ``otaloop run``.
"""

from __future__ import annotations

from harness.scenarios import control, updates  # noqa: F401  (registers the scenarios)
from harness.scenarios.base import (
    CONFIGS,
    REGISTRY,
    AppConfig,
    Bench,
    DirImages,
    ImageFactory,
    Scenario,
    ScenarioFailed,
    ScenarioSkipped,
    SyntheticImages,
    Trace,
    expect_events,
    expect_lines,
)

__all__ = [
    "CONFIGS",
    "REGISTRY",
    "AppConfig",
    "Bench",
    "DirImages",
    "ImageFactory",
    "Scenario",
    "ScenarioFailed",
    "ScenarioSkipped",
    "SyntheticImages",
    "Trace",
    "expect_events",
    "expect_lines",
]
