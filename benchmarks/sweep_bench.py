"""Power-cut sweeps of a whole update, against one clean update of the same board measured in the same run.

* The default sweep (16 KiB image, 729 operations x before/after/torn = 2187 cases) in this process on one
  core: cases per second per core (stretch target 1,000), and the same sweep without the verdict cache
  and shortened judging, for the ratio the fast path buys.
* The full-size sweep (900,000-byte image, every operation, all three modes) on every core: wall time
  (required target 120 s on the 2-core development machine), and its cost as a multiple of one clean
  900,000-byte update (``benchmarks.update_bench``), timed here too.
* Scaling: the full-size sweep and a sampled double-cut sweep (``--double --stride``) on one worker and on
  every core, wall and CPU time, so it shows whether the other workers pay for themselves.

Recording the reference update is included in the sweep times (it is part of what a user waits for).
The baseline for the ratios is SHA-256 plus one copy of the image, as in the other benchmarks. Each sweep
is run ``repeat`` times and the fastest run is reported (its CPU time with it): on a shared machine single
runs vary by half their time.
"""

from __future__ import annotations

import os
import resource
import time

from benchmarks._timing import best_of, line, sha256_and_copy
from benchmarks.update_bench import SIZE, backed_up_board, update
from harness.image.server import ImageServer
from harness.sweeps.double import run_double
from harness.sweeps.executor import InProcess, Processes, default_jobs
from harness.sweeps.fault_ids import Params
from harness.sweeps.update import UpdateRig, plan_sweep, record, run_sweep

FULL_TARGET_S = 120.0
PER_CORE_TARGET = 1000.0
#: The double-cut sweep of the scaling lines: the default image, every tenth first and second cut.
DOUBLE_STRIDE = 10


def _cpu() -> float:
    """CPU seconds of this process and of its finished child processes (the sweep's workers)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _sweep(size: int, executor: InProcess | Processes, *, fast: bool = True) -> tuple[float, float, int]:
    """Wall and CPU seconds to record and sweep an update of ``size`` bytes, and the number of cases.

    CPU seconds are what the sweep cost whatever else the machine ran meanwhile; on a shared machine the
    wall time also counts the other users.
    """
    t0, c0 = time.perf_counter(), _cpu()
    with ImageServer() as server:
        ref = record(UpdateRig(Params(size=size), server))
        cases = run_sweep(plan_sweep(ref, fast=fast), executor)
    return time.perf_counter() - t0, _cpu() - c0, len(cases)


def _fastest(size: int, executor: InProcess | Processes, repeat: int, *, fast: bool = True) -> tuple[float, float, int]:
    """:func:`_sweep` ``repeat`` times; the run with the least wall time."""
    return min((_sweep(size, executor, fast=fast) for _ in range(max(1, repeat))), key=lambda r: r[0])


def _double(stride: int, executor: InProcess | Processes) -> tuple[float, float, int]:
    """Wall and CPU seconds to record the default update and judge its double cuts at every ``stride``-th
    first and second cut, and the number of double cuts."""
    t0, c0 = time.perf_counter(), _cpu()
    with ImageServer() as server:
        ref = record(UpdateRig(Params(), server))
        cases = run_double(plan_sweep(ref, stride=stride), executor)
    return time.perf_counter() - t0, _cpu() - c0, len(cases)


def _fastest_double(stride: int, executor: InProcess | Processes, repeat: int) -> tuple[float, float, int]:
    return min((_double(stride, executor) for _ in range(max(1, repeat))), key=lambda r: r[0])


def scaling(label: str, one: tuple[float, float, int], every: tuple[float, float, int], jobs: int) -> str:
    """One line: ``label``, then wall and CPU time on one worker and on ``jobs`` workers, and the speed-up."""
    return (
        f"    {label}: 1 worker {one[0]:5.1f} s (CPU {one[1]:.1f} s), {jobs} workers {every[0]:5.1f} s "
        f"(CPU {every[1]:.1f} s): {one[0] / every[0]:.2f}x faster"
    )


def run(
    small: int = 16 * 1024,
    big: int = SIZE,
    *,
    compare: bool = True,
    repeat: int = 3,
    double_stride: int = DOUBLE_STRIDE,
) -> list[str]:
    """The report; ``small`` and ``big`` are the two image sizes, ``compare`` also times the full-judging path,
    each sweep is the fastest of ``repeat`` runs, and the double-cut sweep takes every ``double_stride``-th
    cut."""
    with ImageServer() as server:
        image, snaps = backed_up_board(server)
        t_update = best_of(lambda: update(snaps), repeat=3)
    t_base = sha256_and_copy(image)
    jobs = default_jobs()

    load = os.getloadavg()[0]
    t_small, c_small, n_small = _fastest(small, InProcess(), repeat)
    t_small_full, c_small_full, _ = _fastest(small, InProcess(), repeat, fast=False) if compare else (0.0, 0.0, 0)
    per_core = n_small / t_small
    t_big, c_big, n_big = _fastest(big, Processes(jobs), repeat)
    big_one = _fastest(big, InProcess(), repeat)
    double_one = _fastest_double(double_stride, InProcess(), repeat)
    double_all = _fastest_double(double_stride, Processes(jobs), repeat)
    return [
        f"sweep: power-cut sweeps of a whole update (every operation, before/after/torn); {jobs} core(s), "
        f"load average {load:.1f} at the start; each sweep the fastest of {max(1, repeat)} runs",
        line("  sha256 + bytearray copy, 900,000 B (baseline)", t_base, t_base, "baseline"),
        line("  one clean update, 900,000-byte image", t_update, t_base, "baseline"),
        f"  default sweep, {small // 1024} KiB, {n_small} cases, 1 core:   {t_small:7.1f} s  "
        f"{per_core:7.0f} cases/s per core",
        f"    CPU time {c_small:.1f} s: {n_small / c_small:.0f} cases per CPU second",
        *(
            [
                f"    without verdict cache and short judging:   {t_small_full:7.1f} s  "
                f"({t_small_full / t_small:.1f}x the wall time, {c_small_full / c_small:.1f}x the CPU time)"
            ]
            if compare
            else []
        ),
        f"    stretch target {PER_CORE_TARGET:.0f} cases/s per core: "
        f"{'met' if per_core >= PER_CORE_TARGET else 'not met'}",
        f"  full sweep, {big:,} B, {n_big} cases, {jobs} workers: {t_big:6.1f} s  "
        f"{n_big / t_big:7.0f} cases/s  = {t_big / t_update:,.0f} clean updates",
        f"    CPU time {c_big:.1f} s over all workers: {n_big / c_big:.0f} cases per CPU second, "
        f"{c_big / t_update:,.0f} clean updates",
        f"  target {FULL_TARGET_S:.0f} s: {'met' if t_big <= FULL_TARGET_S else 'MISSED'} ({t_big:.0f} s)",
        f"  scaling, 1 worker against {jobs} (wall time; CPU time of every process, workers included):",
        scaling(f"full sweep, {big:,} B, {n_big} cases", big_one, (t_big, c_big, n_big), jobs),
        scaling(
            f"double cuts, {small // 1024} KiB, --stride {double_stride}, {double_one[2]} double cuts",
            double_one,
            double_all,
            jobs,
        ),
    ]


if __name__ == "__main__":
    print("\n".join(run()))
