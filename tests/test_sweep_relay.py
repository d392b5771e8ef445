"""Workers share what their verdict caches learn: relayed entries spare the other workers' judgements, the
outcome never depends on how many workers ran (model, native bootloader, double cuts), and a killed worker
is still a :class:`~harness.sweeps.executor.WorkerLost`."""

from __future__ import annotations

import itertools
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import require_tool
from harness.image.server import ImageServer
from harness.native.build import build_example
from harness.sweeps.double import DoubleWorker
from harness.sweeps.executor import InProcess, Processes, Relay, Work, WorkerLost, at_exit
from harness.sweeps.fault_ids import Params
from harness.sweeps.memo import BlockDigests, VerdictMemo, learn, learnt
from harness.sweeps.update import Reference, SweepWorker, UpdateRig, pieces, plan_sweep, record, run_sweep, tasks


def test_entries_learnt_by_one_worker_spare_another_every_judgement(ref: Reference) -> None:
    plan = plan_sweep(ref, stride=3)
    span = next(s for s in tasks(len(ref.ops)) if s[0] <= ref.reset_at < s[1])  # across the software reset
    teacher, pupil = SweepWorker(plan), SweepWorker(plan)
    taught = teacher.run(span)
    entries = learnt(teacher)
    assert teacher.memo is not None and len(entries) == teacher.memo.misses > 0
    assert learnt(teacher) == []  # each entry is handed out once
    learn(pupil, entries)
    assert pupil.run(span) == taught
    assert pupil.memo is not None and pupil.memo.misses == 0 and pupil.memo.merged == len(entries)
    assert learnt(pupil) == []  # what it was taught is not passed on again as its own


def test_double_workers_share_their_verdict_cache(ref: Reference) -> None:
    plan = plan_sweep(ref, stride=40)
    span = tasks(len(ref.ops))[-1]
    teacher, pupil = DoubleWorker(plan), DoubleWorker(plan)
    taught = teacher.run(span)
    entries = learnt(teacher)
    assert entries
    learn(pupil, entries)
    assert pupil.run(span) == taught
    assert pupil.memo is not None and pupil.memo.misses == 0


def test_merged_entries_never_replace_a_verdict_and_are_found_by_lookups() -> None:
    views = [BlockDigests(bytes(4096 * 4)).digests]
    mine, theirs = VerdictMemo(journal=True), VerdictMemo(journal=True)
    mine.store(((1,),), views, "mine")
    theirs.store(((1,),), views, "theirs")
    theirs.store(((0, 2),), views, "other blocks")
    mine.merge(theirs.take())
    assert mine.lookup(views) == "mine"
    assert mine.merged == 1 and mine.signatures == 2
    plain = VerdictMemo()
    plain.store(((1,),), views, "kept")
    assert plain.take() == [] and plain.lookup(views) == "kept"  # without a journal nothing is kept for sharing


def test_relay_gives_each_share_every_other_entry_once() -> None:
    relay = Relay(3)
    relay.add(0, ["a", "b"])
    relay.add(1, ["c"])
    assert relay.due(0) == ["c"]
    assert relay.due(1) == ["a", "b"]
    assert relay.due(0) == []
    relay.add(2, ["d"])
    assert relay.due(0) == ["d"] and relay.due(1) == ["d"] and relay.due(2) == ["a", "b", "c"]


# A toy sweep whose contexts only record who learnt what, to watch the relay between processes. Its
# functions live at module level: the spawned workers import them by name.


@dataclass
class _Learner:
    parent: int
    marker: Path
    new: list[tuple[int, int]] = field(default_factory=list)
    got: list[tuple[int, int]] = field(default_factory=list)


def _toy_setup(payload: tuple[int, str]) -> _Learner:
    return _Learner(payload[0], Path(payload[1]))


def _toy_run(ctx: _Learner, task: int) -> tuple[int, list[tuple[int, int]]]:
    me = os.getpid()
    if me != ctx.parent:
        ctx.marker.touch()  # a spawned worker is at work
    else:
        for _ in range(6000):  # the parent waits for it, so both run side by side (bounded, not timed)
            if ctx.marker.exists():
                break
            time.sleep(0.01)
    time.sleep(0.02)
    ctx.new.append((me, task))
    return me, list(ctx.got)


def _toy_learnt(ctx: _Learner) -> list[tuple[int, int]]:
    out, ctx.new = ctx.new, []
    return out


def _toy_learn(ctx: _Learner, entries: list[tuple[int, int]]) -> None:
    ctx.got.extend(entries)


def _toy_kill(ctx: _Learner, task: int) -> int:
    if os.getpid() != ctx.parent:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.02)
    return task


def test_worker_processes_relay_what_they_learn_to_each_other(tmp_path: Path) -> None:
    work = Work(_toy_setup, _toy_run, (os.getpid(), str(tmp_path / "started")), list(range(60)))
    relayed = Work(work.setup, work.run, work.payload, work.tasks, learnt=_toy_learnt, learn=_toy_learn)
    got = dict(Processes(2).run(relayed))
    assert sorted(got) == list(range(60))  # every task once
    workers = {pid for pid, _ in got.values()}
    assert os.getpid() in workers and len(workers) == 2  # this process judged a share, one spawned worker the rest
    for pid, seen in got.values():
        assert all(other != pid for other, _ in seen)  # nobody is taught its own entries
    spawned = next(pid for pid in workers if pid != os.getpid())
    assert any(seen for pid, seen in got.values() if pid == spawned)  # the worker learnt from this process
    assert any(seen for pid, seen in got.values() if pid == os.getpid())  # and this process from the worker
    # Without the hooks nothing is relayed.
    assert all(not seen for _, seen in dict(Processes(2).run(work)).values())


def _toy_setup_with_exit_handler(payload: tuple[int, str]) -> _Learner:
    ctx = _toy_setup(payload)
    if os.getpid() != ctx.parent:  # a spawned worker only: this process's own exit is not part of the test
        at_exit(lambda: (ctx.marker / str(os.getpid())).write_text("ended"))
    return ctx


def _toy_pid(ctx: _Learner, task: int) -> int:
    return os.getpid()


def test_a_spawned_worker_runs_its_exit_handlers_when_the_sweep_ends(tmp_path: Path) -> None:
    # What a worker started (a native bootloader's helper) is ended by it (executor.at_exit), as atexit
    # ends it in this process.
    work = Work(_toy_setup_with_exit_handler, _toy_pid, (os.getpid(), str(tmp_path)), list(range(8)))
    spawned = set(dict(Processes(2).run(work)).values()) - {os.getpid()}
    assert len(spawned) == 1
    assert (tmp_path / str(spawned.pop())).read_text() == "ended"


def test_a_killed_worker_is_worker_lost(tmp_path: Path) -> None:
    work = Work(_toy_setup, _toy_kill, (os.getpid(), str(tmp_path / "unused")), list(range(200)))
    with pytest.raises(WorkerLost, match="died"):
        list(Processes(2).run(work))


def test_native_sweep_on_two_workers_equals_one(tmp_path: Path) -> None:
    require_tool("cc", "gcc")
    spec = f"native:{build_example(tmp_path / 'example').directory}"
    with ImageServer() as server:
        ref = record(UpdateRig(Params(bootloader=spec), server))
    plan = plan_sweep(ref, stride=7)
    assert run_sweep(plan, Processes(2)) == run_sweep(plan, InProcess())


def test_ranges_are_cut_into_consecutive_pieces_for_several_workers() -> None:
    spans = tasks(16_536)
    assert pieces(spans, 1) == spans  # one worker: the ranges themselves
    cut = pieces(spans, 2)
    assert 3 * len(spans) < len(cut) <= 4 * len(spans) and all(hi - lo >= 8 for lo, hi in cut)
    assert cut[0][0] == 0 and cut[-1][1] == 16_536 and all(a[1] == b[0] for a, b in itertools.pairwise(cut))
    assert pieces([(0, 8), (8, 13)], 2) == [(0, 8), (8, 13)]  # too short to cut
    assert pieces([(0, 8)], 2, 1) == [(0, 2), (2, 4), (4, 6), (6, 8)]
