"""Sweeps on several workers: the same cases, fault ids and verdicts as in one process, and progress: a bar on a
terminal, plain lines elsewhere."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bootloader_model.errors import CallerError
from harness.cli import main
from harness.sweeps.bootloader import SceneSweep, sweep_scene
from harness.sweeps.executor import InProcess, Processes, Shares, executor_for
from harness.sweeps.progress import INTERVAL_ENV, Progress
from harness.sweeps.update import (
    MODES,
    CaseResult,
    Reference,
    SweepWorker,
    plan_sweep,
    run_sweep,
    tasks,
)


@pytest.fixture(scope="module")
def sequential(ref: Reference) -> list[CaseResult]:
    return run_sweep(plan_sweep(ref, stride=9), InProcess())


def test_two_worker_processes_give_the_same_cases(ref: Reference, sequential: list[CaseResult]) -> None:
    done: list[int] = []
    parallel = run_sweep(plan_sweep(ref, stride=9), Processes(2), progress=done.append)
    assert parallel == sequential
    assert [str(r.fault) for r in parallel] == [str(r.fault) for r in sequential]
    assert sum(done) == len(sequential) == plan_sweep(ref, stride=9).cases()
    assert len(done) == len(tasks(len(ref.ops)))  # one progress step per finished range


def test_any_split_into_ranges_gives_the_same_cases(ref: Reference, sequential: list[CaseResult]) -> None:
    plan = plan_sweep(ref, stride=9)
    n = len(ref.ops)
    # Ranges that start mid-way, out of order, across the software reset: the cursor rewinds as needed.
    spans = [(ref.reset_at + 3, n), (0, 5), (5, ref.reset_at + 3)]
    assert run_sweep(plan, InProcess(), spans=spans) == sequential


def test_ranges_cover_every_operation_once() -> None:
    for n in (1, 7, 729, 16_536):
        spans = tasks(n)
        assert spans[0][0] == 0 and spans[-1][1] == n
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
        assert len(spans) <= 256


def test_cursor_jumping_to_the_reset_snapshot_equals_replaying_every_operation(ref: Reference) -> None:
    plan = plan_sweep(ref)
    walked, jumped = SweepWorker(plan), SweepWorker(plan)
    for op in ref.ops[: ref.reset_at + 10]:
        walked.cursor.apply(op)
    jumped.seek(ref.reset_at + 10)
    assert jumped.cursor.state() == walked.cursor.state()


def test_progress_bar_draws_on_a_terminal_only() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        with Progress(10, "sweep", stream, interval=3600) as bar:
            bar.advance(4)
            bar.advance(6)
    assert pipe.getvalue() == ""  # no bar, and no plain line before the interval has passed
    shown = tty.getvalue()
    assert "sweep [" in shown and "10/10 cases" in shown and "/s" in shown and "left" in shown
    assert shown.endswith("\r\x1b[2K")  # the bar is erased at the end


def test_progress_writes_plain_lines_where_there_is_no_terminal() -> None:
    pipe, silenced = io.StringIO(), io.StringIO()
    with Progress(10, "sweep update", pipe, interval=0) as bar:
        bar.advance(4)
        bar.advance(0)  # nothing new: no line
        bar.advance(6)
    with Progress(10, "sweep update", silenced, interval=0, enabled=False) as bar:
        bar.advance(10)
    assert silenced.getvalue() == ""
    lines = pipe.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["sweep update: 4/10 cases", "sweep update: 10/10 cases"]
    assert all(re.fullmatch(r"sweep update: \d+/10 cases, [\d,]+/s, (\d+ s|\d+:\d\d) left", x) for x in lines)
    assert "\r" not in pipe.getvalue() and "\x1b" not in pipe.getvalue()


def test_progress_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(INTERVAL_ENV, "2.5")
    assert Progress(1, stream=io.StringIO()).interval == 2.5
    monkeypatch.setenv(INTERVAL_ENV, "soon")
    with pytest.raises(CallerError, match=INTERVAL_ENV):
        Progress(1, stream=io.StringIO())


def test_progress_line_counts_and_estimates() -> None:
    bar = Progress(200, "x", io.StringIO(), enabled=False)
    assert "0/200 cases" in bar.line() and "? left" in bar.line()
    bar.advance(50)
    assert "50/200 cases" in bar.line() and "#" * 6 in bar.line()


def test_jobs_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert isinstance(executor_for(1, None), InProcess)
    assert executor_for(3, None).workers == 3
    assert main(["sweep", "update", "--jobs", "0"]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_bootloader_sweeps_on_worker_processes_equal_in_process(tmp_path: Path) -> None:
    spec = SceneSweep("program", "internal", False, 32 * 1024, "harmony-3.9.1", MODES, stride=10, tail=3)
    n, local = sweep_scene(spec, InProcess())
    assert sweep_scene(spec, Processes(2)) == (n, local)
    assert len(local) == len(spec.picks(n)) * 3 and spec.picks(n)[-3:] == [n - 3, n - 2, n - 1]
    out = tmp_path / "cuts.json"
    assert main(["sweep", "bootloader", "--scene", "backup", "--device", "internal", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    cuts = doc["sweeps"][0]["cuts"]
    assert doc["format"] == "otaloop-bootloader-sweep/1" and len(cuts) == 12
    assert cuts[0]["fault"] == "int@op0:before" and cuts[0]["outcome"] == "backup repeated, then factory image running"


def _group(pgid: int) -> dict[int, str]:
    """pid -> command name of every live process in process group ``pgid`` (zombies are not alive)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended while we looked
            continue
        name_end = stat.rindex(")")
        fields = stat[name_end + 2 :].split()  # state, ppid, pgrp, ...
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found[int(entry.name)] = stat[stat.index("(") + 1 : name_end]
    return found


def test_kill_9_of_a_sweep_takes_its_workers_and_resource_tracker_with_it(tmp_path: Path) -> None:
    # --jobs 3: this process judges one share, two spawned workers the others.
    argv = [sys.executable, "-m", "harness.cli", "sweep", "update", "--jobs", "3", "--json", str(tmp_path / "x.json")]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    # Its own process group: the workers and the tracker keep it when they are re-parented, so they can be
    # found after the sweep is gone.
    quiet = subprocess.DEVNULL
    sweep = subprocess.Popen(argv, env=env, stdout=quiet, stderr=quiet, start_new_session=True)
    pgid = sweep.pid
    try:
        for _ in range(1200):  # until both workers and the resource tracker run
            if len(_group(pgid)) >= 4 or sweep.poll() is not None:
                break
            time.sleep(0.05)
        children = set(_group(pgid)) - {sweep.pid}
        assert sweep.poll() is None and len(children) >= 3, _group(pgid)
        sweep.kill()
        sweep.wait()
        for _ in range(600):  # each worker looks at its parent every PARENT_POLL_S
            if not _group(pgid):
                break
            time.sleep(0.05)
        assert _group(pgid) == {}
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait()
        for pid in _group(pgid):  # only what this test started: its own process group
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_shares_hand_out_every_task_once_in_contiguous_runs() -> None:
    shares = Shares(10, 2)
    got: list[tuple[int, int | None]] = []
    for part in (0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1):
        got.append((part, shares.next(part)))
    # Worker 0 runs 0..4 while worker 1 is slow on 5; then worker 0 takes the back half of 6..9.
    assert got == [(0, 0), (1, 5), (0, 1), (0, 2), (0, 3), (0, 4), (0, 8), (1, 6), (0, 9), (1, 7), (0, None), (1, None)]
    for n, parts in ((0, 2), (1, 3), (7, 2), (256, 2), (5, 5)):
        s = Shares(n, parts)
        seen: list[int] = []
        for p in range(parts):
            while (i := s.next(p)) is not None:
                seen.append(i)
        assert sorted(seen) == list(range(n))
