"""Every library scenario end to end: a virtual board served on a real pty, opened with pyserial, and a
real HTTP server on 127.0.0.1. Each scenario asserts its exact console line sequences itself (and raises
ScenarioFailed otherwise); these tests add checks on the returned traces, the matcher, and skips."""

from __future__ import annotations

import re

import pytest

from harness.scenarios import CONFIGS, REGISTRY, ScenarioFailed, expect_lines
from harness.scenarios.base import Bench, Trace, image_name, split_lines
from harness.scenarios.benches import virtual_bench
from harness.scenarios.runner import run_one, summary_table
from harness.scenarios.updates import BANNER, IP_LINE

SPEED = 1000.0

C_EVENTS = [
    "SYS_OTA_UPDATE_CHECK_START",
    "SYS_OTA_UPDATE_AVAILABLE",
    "SYS_OTA_DOWNLOAD_START",
    "SYS_OTA_DOWNLOAD_SUCCESS",
    "SYS_OTA_IMAGE_DIGEST_VERIFY_START",
    "SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS",
    "SYS_OTA_DB_ENTRY_SUCCESS",
]


@pytest.mark.parametrize("name", list(REGISTRY))
def test_scenario_on_pty(name: str) -> None:
    sc = REGISTRY[name]
    with virtual_bench(sc.factory, link="pty", speed=SPEED) as bench:
        assert bench.console.port.__class__.__module__.startswith("serial")  # a real pyserial port on the pty
        trace = sc.func(bench)
        assert trace.observation
        assert all(BANNER.fullmatch(line) for line in trace.lines[:2])  # the factory backup: two banners
        text = bytes(bench.console.buffer)
        # The console saw exactly what the board printed, byte for byte, through the pty.
        assert bench.virtual is not None
        assert text == bench.virtual.call(lambda b: bytes(b.transcript))[: len(text)]


def check_c_trace(trace: Trace) -> None:
    """Spec 1.6 C: v1's whole life is exactly these events, then a reset into v2.

    After that v2 checks every 62 s on its own while the host reads the DB; however many checks the host's
    pace lets in (the last one possibly still running when the trace is taken), each finds the version it
    runs (NOTAVAILABLE).
    """
    i = trace.lines.index("SYS_OTA_DB_ENTRY_SUCCESS")
    assert [line for line in trace.lines[: i + 1] if re.fullmatch(r"SYS_OTA_[A-Z_]+", line)] == C_EVENTS
    assert BANNER.fullmatch(trace.lines[i + 1])
    assert trace.lines[i + 2 : i + 4] == ["APP: version 2", IP_LINE]
    later = trace.events[len(C_EVENTS) :]
    assert later == (["SYS_OTA_UPDATE_CHECK_START", "SYS_OTA_UPDATE_NOTAVAILABLE"] * len(later))[: len(later)]


def test_update_trace_has_the_spec_c_sequence() -> None:
    sc = REGISTRY["c_update"]
    with virtual_bench(sc.factory, link="pty") as bench:
        trace = sc.func(bench)
    check_c_trace(trace)


def test_expect_lines_reports_expected_and_seen() -> None:
    with virtual_bench(CONFIGS["manual"], link="pty") as bench:
        bench.start()
        bench.console.pos = 0  # read the boot again: the first banner is followed by a second one
        with pytest.raises(ScenarioFailed) as err:
            expect_lines(bench, [BANNER, "APP: version 7"], 50)
    msg = str(err.value)
    assert "console lines differ" in msg
    assert "expected 'APP: version 7'" in msg and "seen     'APP: version 1'" in msg


def test_expect_lines_times_out_with_the_tail() -> None:
    with virtual_bench(CONFIGS["manual"], link="inproc") as bench:
        bench.start()
        with pytest.raises(ScenarioFailed, match="did not show"):
            expect_lines(bench, ["SYS_OTA_UPDATE_CHECK_START"], 0.001)


def test_split_lines_drops_prompts_and_blank_lines() -> None:
    assert split_lines(b"\r\n>SYS_OTA_IDLE\r\n>\n\rabc\n\r") == ["SYS_OTA_IDLE", "abc"]


def test_missing_capability_is_a_skip_with_reason() -> None:
    sc = REGISTRY["first_boot"]

    def provider(_: object) -> object:
        import contextlib

        @contextlib.contextmanager
        def bench() -> object:
            with virtual_bench(sc.factory, link="inproc") as b:
                yield Bench(b.driver, b.server, b.images, b.factory, speed=b.speed)

        return bench()

    r = run_one(sc, provider)  # type: ignore[arg-type]
    assert (r.status, r.detail) == ("SKIP", "needs provision (this bench cannot)")
    assert re.search(r"first_boot\s+SKIP\s+-\s+\S+\s+needs provision", summary_table([r]))


def test_a_failing_scenario_is_reported_not_raised() -> None:
    sc = REGISTRY["c_update"]

    def provider(_: object) -> object:
        import contextlib

        @contextlib.contextmanager
        def bench() -> object:
            with virtual_bench(sc.factory, link="inproc") as b:
                # A server that corrupts every copy of v2: C must fail with the verify lines shown.
                real_publish = b.publish

                def publish(version: int, **kw: object) -> tuple[str, str, bytes]:
                    url, digest, data = real_publish(version, **kw)  # type: ignore[arg-type]
                    from harness.image.server import Fault, FaultKind

                    b.server.fault("/" + image_name(version), Fault(FaultKind.CORRUPT, after=4097))
                    return url, digest, data

                b.publish = publish  # type: ignore[method-assign]
                yield b

        return bench()

    r = run_one(sc, provider)  # type: ignore[arg-type]
    assert r.status == "FAIL"
    assert "expected 'SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS'" in r.detail
    assert "seen     'SYS OTA : digest mismatch'" in r.detail
