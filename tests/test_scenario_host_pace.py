"""The scenario library does not depend on how quickly the host reacts to the board.

A virtual board runs on while the host thinks, ``speed`` times faster than a real one: at speed 3000 a
host that takes 30 ms to act gives the board 90 s, more than the 62 s to its first periodic check. And a
runner that pauses right after a line lets the host act before the board's next tick. Real boards see
neither extreme (the host has tens of seconds and takes a few milliseconds), so neither may change what a
scenario observes. Here each extreme is forced, in board time, so the outcome does not depend on the load
of the machine running the tests:

* a late host: every change to the image server and every byte typed waits ``LATE_S`` board seconds;
* a host that answers at once: each run of the board's application ends at its next console output, so a
  command typed after a line arrives before the board has ticked on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import bootloader_model.application.model as model_application
from harness.scenarios import REGISTRY
from harness.scenarios.base import Bench
from harness.scenarios.benches import virtual_bench
from tests.test_scenarios_pty import check_c_trace

#: Board seconds every host action is late: longer than the 62 s from the IP line to the first check.
LATE_S = 100.0
#: Scenarios whose server is set up for the first check (the board must never find it empty: 404).
SERVED_FIRST = [
    "b_no_update",
    "d_bad_json",
    "e_missing_field",
    "f_manual_start",
    "g_truncated",
    "g_stalled",
    "h_digest_mismatch",
    "i_db_full",
    "j_erase_version",
    "small_image",
    "big_manifest",
    "no_content_length",
    "no_length_one_segment",
]
REJECTED_404 = "SYS_OTA : Request rejected by client :code: 404 "


def _late(bench: Bench, action: Callable[..., Any]) -> Callable[..., Any]:
    hooks = bench.virtual
    assert hooks is not None

    def late_action(*args: Any, **kwargs: Any) -> Any:
        until = hooks.now() + LATE_S
        while hooks.now() < until:
            bench.console.poll()  # the console keeps reading meanwhile
        return action(*args, **kwargs)

    return late_action


@contextlib.contextmanager
def late_host(name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bench]:
    with virtual_bench(REGISTRY[name].factory, link="inproc", speed=3000) as bench:
        for target, attr in ((bench.server, "put"), (bench.server, "fault"), (bench.console, "write")):
            monkeypatch.setattr(target, attr, _late(bench, getattr(target, attr)))
        yield bench


@pytest.fixture
def prompt_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each run of the board's application ends at its next console output."""
    run_until = model_application.run_until

    def until_output(svc: Any, predicate: Callable[[], bool], *args: Any, **kwargs: Any) -> bool:
        printed: list[bytes] = []
        sink = svc._console

        def tee(data: bytes) -> None:
            printed.append(data)
            sink(data)

        svc._console = tee
        try:
            return bool(run_until(svc, lambda: bool(printed) or predicate(), *args, **kwargs))
        finally:
            svc._console = sink

    monkeypatch.setattr(model_application, "run_until", until_output)


def test_update_trace_with_a_late_host(monkeypatch: pytest.MonkeyPatch) -> None:
    with late_host("c_update", monkeypatch) as bench:
        trace = REGISTRY["c_update"].func(bench)
    check_c_trace(trace)


@pytest.mark.parametrize("name", SERVED_FIRST)
def test_first_check_finds_the_served_files_with_a_late_host(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    with late_host(name, monkeypatch) as bench:
        trace = REGISTRY[name].func(bench)  # the scenario's own checks, e.g. a fault set before the download
    assert REJECTED_404 not in trace.lines


@pytest.mark.parametrize(
    "name", ["rollback_on_factory", "m_sysreset_refused", "m_sysreset_after_download", "power_cycle_install"]
)
def test_control_messages_with_a_host_that_answers_at_once(prompt_host: None, name: str) -> None:
    # Commands typed right after the IP line, or after DB_ENTRY_SUCCESS with autoreset off, find the service idle.
    sc = REGISTRY[name]
    with virtual_bench(sc.factory, link="inproc", speed=3000) as bench:
        assert sc.func(bench).observation
