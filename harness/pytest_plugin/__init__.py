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
  ``--otaloop-log-dir``, ``--otaloop-link``, ``--otaloop-reuse``, ``--otaloop-tail``, ``--otaloop-scenarios``
* markers (:mod:`harness.pytest_plugin.markers`): ``otaloop_config``, ``otaloop_requires``, ``otaloop_quirks``
* the scenario library as tests (:mod:`harness.pytest_plugin.scenario_items`), reports
  (:mod:`harness.pytest_plugin.reports`), pytest-xdist (:mod:`harness.pytest_plugin.parallel`), and the
  run's quirk profile and bootloader for ``BoardStateMachine`` tests
  (:mod:`harness.pytest_plugin.state_machines`)

``docs/pytest.md`` is the user's page. This module holds the hook functions and re-exports the fixtures;
the work is done in the modules above.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from harness.pytest_plugin import markers, reports, scenario_items, state_machines
from harness.pytest_plugin.fixtures import (
    BENCHES,
    SETTINGS,
    _otaloop_benches,
    ota_bench,
    ota_board,
    ota_images,
    ota_power,
    ota_server,
    ota_switch,
    settings_of,
    virtual_board,
)
from harness.pytest_plugin.options import add_options, read_settings
from harness.pytest_plugin.parallel import check_workers

__all__ = [
    "_otaloop_benches",
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
    with state_machines.configured(item, settings_of(item.config)):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
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
