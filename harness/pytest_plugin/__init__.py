"""otaloop's pytest plugin: your own tests against a virtual board, or a real one with one option.

Installed with otaloop through the ``pytest11`` entry point ``otaloop``, so any project that has otaloop
installed can use it (``-p no:otaloop`` turns it off). It does nothing unless a test asks for one of its
fixtures or an ``--otaloop-*`` option (or ini key) is given: no board is made, no server is started and
pytest's header and reports are unchanged.

* fixtures (:mod:`harness.pytest_plugin.fixtures`): ``ota_bench``, ``ota_board``, ``ota_server``,
  ``ota_images``, ``ota_power``, ``ota_switch``, ``virtual_board``
* options (:mod:`harness.pytest_plugin.options`): ``--otaloop-port`` (a real board, or ``labgrid:ROLE``;
  without it, a fresh virtual board per test), ``--otaloop-http``, ``--otaloop-images``,
  ``--otaloop-factory-config``, ``--otaloop-manifest-path``, ``--otaloop-quirks``, ``--otaloop-speed``,
  ``--otaloop-bootloader``, ``--otaloop-application``, ``--otaloop-power-on/-off``, ``--otaloop-switch-press/-release``,
  ``--otaloop-reconnect``, ``--otaloop-boot-timeout``,
  ``--otaloop-log-dir``, ``--otaloop-link``, ``--otaloop-reuse``, ``--otaloop-start``, ``--otaloop-tail``,
  ``--otaloop-scenarios``
* markers (:mod:`harness.pytest_plugin.markers`): ``otaloop_config``, ``otaloop_requires``, ``otaloop_quirks``
* the benches tests get, virtual or real (:mod:`harness.pytest_plugin.boards`), the scenario library as
  tests (:mod:`harness.pytest_plugin.scenario_items`), reports
  (:mod:`harness.pytest_plugin.reports`), pytest-xdist (:mod:`harness.pytest_plugin.parallel`), and the
  run's quirk profile and bootloader for ``BoardStateMachine`` tests
  (:mod:`harness.pytest_plugin.state_machines`)

``docs/pytest.md`` is the user's page. This module holds the hook functions and re-exports the fixtures;
the work is done in the modules above.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from harness.pytest_plugin import markers, reports, scenario_items, state_machines
from harness.pytest_plugin.fixtures import (
    BENCHES,
    SETTINGS,
    START_FAILURE,
    ota_bench,
    ota_board,
    ota_images,
    ota_power,
    ota_server,
    ota_switch,
    otaloop_benches,  # noqa: F401 (not in __all__: pytest finds the hidden fixture _otaloop_benches here)
    settings_of,
    virtual_board,
)
from harness.pytest_plugin.options import add_options, read_settings
from harness.pytest_plugin.parallel import check_workers

#: What the session start did on each pytest-xdist worker's board, as the controller heard it.
WORKER_STARTS = pytest.StashKey[list[str]]()

__all__ = [
    "ota_bench",
    "ota_board",
    "ota_images",
    "ota_power",
    "ota_server",
    "ota_switch",
    "virtual_board",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    settings = read_settings(config)
    config.stash[SETTINGS] = settings
    markers.register(config)
    check_workers(config, settings)
    notes = reports.LogNotes()
    config.stash[reports.LOG_NOTES] = notes
    config.pluginmanager.register(notes, "otaloop-log-notes")


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = settings_of(config)
    return [settings.describe()] if settings.given else []


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if isinstance(collector, pytest.Session) and settings_of(collector.config).scenarios and report.passed:
        report.result.append(scenario_items.library(collector))
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    markers.check(item, settings_of(item.config))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    failure = item.stash.get(START_FAILURE, None)
    if failure is not None:  # --otaloop-start keep found the board off its factory app
        pytest.fail(f"otaloop: {failure}", pytrace=False)
    with state_machines.configured(item, settings_of(item.config)):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped:
        reports.skip_at_the_test(item, report)
    benches = item.config.stash.get(BENCHES, None)
    if benches is not None and benches.stop_reason is not None:
        item.session.shouldstop = benches.stop_reason
    if reports.CONSOLE in item.stash:
        settings = settings_of(item.config)
        reports.add_to_report(item, report, settings.tail)
        if settings.real and call.excinfo is not None:
            from bootloader_model.errors import BoardDead, PortLost

            if call.excinfo.errisinstance(PortLost):
                item.session.shouldstop = f"otaloop: the board's console port was lost: {call.excinfo.value}"
            elif call.excinfo.errisinstance(BoardDead) and BENCHES in item.config.stash:
                item.config.stash[BENCHES].board_died(call.excinfo.value)
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)  # a pytest-xdist worker tells the controller
    benches = session.config.stash.get(BENCHES, None)
    if workeroutput is not None and benches is not None and benches.start_line is not None:
        workeroutput["otaloop_start"] = benches.start_line


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist's controller: keep what a worker's session start did, for the terminal summary."""
    line = getattr(node, "workeroutput", {}).get("otaloop_start")
    if line:
        config: pytest.Config = node.config  # xdist's WorkerController
        worker = getattr(node, "gateway", None)
        config.stash.setdefault(WORKER_STARTS, []).append(f"({getattr(worker, 'id', '?')}) {line}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    config = terminalreporter.config
    lines = []
    benches = config.stash.get(BENCHES, None)
    if benches is not None and benches.start_line is not None:
        lines.append(f"otaloop: session start: {benches.start_line}")
    starts: list[str] = config.stash.get(WORKER_STARTS, [])
    lines.extend(f"otaloop: session start {line}" for line in sorted(starts))
    notes = config.stash.get(reports.LOG_NOTES, None)
    if notes is not None:
        lines.extend(notes.lines())
    for line in lines:
        terminalreporter.write_line(line)
