"""Run scenarios from the library on a bench and summarise: PASS / FAIL / SKIP with reasons and times.

:func:`run_suite` takes a bench provider: for the virtual board a fresh board per scenario
(:func:`virtual_provider`), for a real board one shared serial bench (:func:`serial_provider`). A scenario
is skipped, with the reason, when the bench lacks a capability it declares or when a real board was
flashed with another factory configuration. A board that gives no sign of life fails its scenario at the
boot timeout, and on a shared serial bench the following ones at once, with the reason, until it prints a
banner again; a lost console port fails its scenario and leaves the rest NOT RUN.
:func:`summary_table` renders the results for a terminal.

It does not parse command lines (``harness.cli.run``) or define scenarios.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from pathlib import Path

from bootloader_model.board.virtual_board import VirtualBoard
from bootloader_model.bootloader.program import MODEL
from bootloader_model.errors import CallerError, OtaloopError, PortLost
from bootloader_model.quirks import HARMONY, QuirkProfile
from harness.scenarios import REGISTRY
from harness.scenarios.base import AppConfig, Bench, Scenario, ScenarioSkipped, Trace
from harness.scenarios.benches import SerialBench, virtual_bench
from harness.served_board.runner import DEFAULT_SPEED

#: The status of a scenario left out because an earlier one lost the console port.
NOT_RUN = "NOT RUN"

#: Given a scenario, a context manager yielding a ready bench, or a reason to skip it.
Provider = Callable[[Scenario], "ContextManager[Bench] | str"]


@dataclass
class Result:
    """One scenario's outcome."""

    name: str
    status: str  # PASS, FAIL, SKIP or NOT RUN
    detail: str  # the key observation, the failure, or the skip reason
    wall_s: float = 0.0
    board_s: float | None = None
    trace: Trace | None = field(default=None, repr=False)
    port_lost: bool = False  # failed because the console port went away


def select(names: Iterable[str] | None = None) -> list[Scenario]:
    """Scenarios by name in library order (all when ``names`` is empty); unknown names are an error."""
    wanted = list(names or [])
    unknown = [n for n in wanted if n not in REGISTRY]
    if unknown:
        raise CallerError(f"unknown scenario {', '.join(unknown)}; `otaloop run --list` shows them")
    return [sc for name, sc in REGISTRY.items() if not wanted or name in wanted]


def missing_capabilities(sc: Scenario, bench: Bench) -> str | None:
    """Why ``bench`` cannot run ``sc`` (the capabilities it lacks), or None if it can."""
    missing = sorted(sc.requires - bench.capabilities)
    return f"needs {', '.join(missing)} (this bench cannot)" if missing else None


def factory_mismatch(needed: AppConfig, flashed: AppConfig) -> str | None:
    """Why a real board flashed with ``flashed`` cannot run what ``needed`` is for, or None if it fits."""
    if needed == flashed:
        return None
    return f"needs a board flashed with the {needed.name!r} factory app (this one: {flashed.name!r})"


def run_scenario(sc: Scenario, bench: Bench) -> Trace:
    """Run one scenario on a ready bench; :class:`ScenarioSkipped` if the bench lacks a capability.

    ``otaloop run`` (through :func:`run_one`) and the pytest plugin's scenario items both run scenarios here.
    """
    reason = missing_capabilities(sc, bench)
    if reason:
        raise ScenarioSkipped(reason)
    return sc.func(bench)


def run_one(sc: Scenario, provider: Provider) -> Result:
    got = provider(sc)
    if isinstance(got, str):
        return Result(sc.name, "SKIP", got)
    t0 = time.monotonic()
    bench: Bench | None = None
    try:
        with got as bench:
            trace = run_scenario(sc, bench)
            board_s = bench.board_time()
        return Result(sc.name, "PASS", trace.observation, time.monotonic() - t0, board_s, trace)
    except ScenarioSkipped as exc:
        return Result(sc.name, "SKIP", str(exc), time.monotonic() - t0)
    except PortLost as exc:  # the port is gone: run_suite runs nothing more
        return Result(sc.name, "FAIL", f"PortLost: {exc}", time.monotonic() - t0, None, port_lost=True)
    except OtaloopError as exc:
        board_s = bench.board_time() if bench is not None and bench.virtual is not None else None
        return Result(sc.name, "FAIL", f"{type(exc).__name__}: {exc}", time.monotonic() - t0, board_s)


def run_suite(
    scenarios: Iterable[Scenario], provider: Provider, *, progress: Callable[[Result], None] | None = None
) -> list[Result]:
    """Run ``scenarios`` in order. After a scenario that lost the console port the others are not run
    (status ``NOT RUN``, with the reason), since nothing can reach the board any more."""
    results: list[Result] = []
    lost: Result | None = None
    for sc in scenarios:
        if lost is not None:
            r = Result(sc.name, NOT_RUN, f"not run: the console port was lost in {lost.name}")
        else:
            r = run_one(sc, provider)
            lost = r if r.port_lost else None
        results.append(r)
        if progress:
            progress(r)
    return results


def virtual_provider(
    *,
    link: str = "pty",
    speed: float = DEFAULT_SPEED,
    profile: QuirkProfile = HARMONY,
    log_dir: Path | None = None,
    bootloader: str = MODEL,
    on_board: Callable[[VirtualBoard], None] | None = None,
    application: str = MODEL,
) -> Provider:
    """A fresh virtual board per scenario, provisioned with the scenario's factory configuration."""

    def provide(sc: Scenario) -> ContextManager[Bench]:
        log = None
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            log = log_dir / f"{sc.name}.log"
            log.unlink(missing_ok=True)
        return virtual_bench(
            sc.factory,
            link=link,
            speed=speed,
            profile=profile,
            log=log,
            bootloader=bootloader,
            on_board=on_board,
            application=application,
        )

    return provide


def serial_provider(serial: SerialBench) -> Provider:
    """The real board for scenarios of its factory configuration; a skip reason for the others."""

    def provide(sc: Scenario) -> ContextManager[Bench] | str:
        return factory_mismatch(sc.factory, serial.factory) or serial.bench()

    return provide


def summary_table(results: list[Result]) -> str:
    """A fixed-width table: scenario, result, board and wall seconds, observation or reason."""
    rows = [("scenario", "result", "board s", "wall s", "observation / reason")]
    for r in results:
        board = f"{r.board_s:.0f}" if r.board_s is not None else "-"
        wall = f"{r.wall_s:.2f}" if r.status not in ("SKIP", NOT_RUN) or r.wall_s else "-"
        detail = r.detail.splitlines()[0] if r.detail else ""
        rows.append((r.name, r.status, board, wall, detail))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    out = []
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2]), row[3].rjust(widths[3])]
        out.append("  ".join([*cells, row[4]]).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in [*widths, 20]))
    counts = {s: sum(1 for r in results if r.status == s) for s in ("PASS", "FAIL", "SKIP", NOT_RUN)}
    total_wall = sum(r.wall_s for r in results)
    out.append("")
    out.append(
        f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped"
        + (f", {counts[NOT_RUN]} not run" if counts[NOT_RUN] else "")
        + f" in {total_wall:.1f} s wall time"
    )
    return "\n".join(out)


def failures_text(results: list[Result]) -> str:
    """The full message of every failure (the table shows only the first line)."""
    return "\n\n".join(f"{r.name}: {r.detail}" for r in results if r.status == "FAIL")
