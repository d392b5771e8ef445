"""Power-cut sweeps judged by a native bootloader, against the same sweeps judged by the Python model, in one run.

* The default sweep (16 KiB image, before/after/torn at every operation) on one core, with the model and
  with each native build: cases per second, and the native build's rate as a fraction of the model's
  (target: at least one half). The example native bootloader (``harness/native/c/example``) is always
  built; Harmony's OTA bootloader too when ``OTALOOP_HARMONY_APPS`` names a
  ``wireless_apps_pic32mzw1_wfi32e01`` checkout.
* The full-size sweep (900,000-byte image) with the first native build on every core: wall time (target
  120 s on the 2-core development machine).
* Scaling: the native default sweep with one worker and with every core, wall and CPU time (every native
  helper included), so it shows whether the other workers pay for themselves (the model's full-size sweep
  is scaled in ``benchmarks.sweep_bench``).

Builds happen in a temporary folder before any timing. Recording the reference update is included in the
sweep times. Each one-core sweep is the fastest of ``repeat`` runs (a shared machine's single runs vary by
half their time); the full-size sweeps run once.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

from benchmarks.update_bench import SIZE
from bootloader_model.bootloader.program import MODEL
from harness.image.server import ImageServer
from harness.native.bootloader_program import close_servers
from harness.native.build import build, build_example, locate
from harness.sweeps.executor import InProcess, Processes, default_jobs
from harness.sweeps.fault_ids import Params
from harness.sweeps.update import UpdateRig, plan_sweep, record, run_sweep

HARMONY_ENV = "OTALOOP_HARMONY_APPS"
RATIO_TARGET = 0.5
FULL_TARGET_S = 120.0


def _cpu() -> float:
    """CPU seconds of this process and of its finished child processes (workers, native helpers)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _sweep(size: int, bootloader: str, executor: InProcess | Processes) -> tuple[float, int]:
    """Wall seconds to record and sweep an update of ``size`` bytes with ``bootloader``, and the cases."""
    wall, cases, _ = _sweep_cpu(size, bootloader, executor)
    return wall, cases


def _sweep_cpu(size: int, bootloader: str, executor: InProcess | Processes) -> tuple[float, int, float]:
    """:func:`_sweep` and the CPU seconds it took. A helper's CPU counts once it has ended: this process's
    fork servers are ended before the clock stops, a worker's when the sweep ends the worker."""
    t0, c0 = time.perf_counter(), _cpu()
    with ImageServer() as server:
        ref = record(UpdateRig(Params(size=size, bootloader=bootloader), server))
        cases = run_sweep(plan_sweep(ref), executor)
    close_servers()
    return time.perf_counter() - t0, len(cases), _cpu() - c0


def _fastest(size: int, bootloader: str, executor: InProcess | Processes, repeat: int) -> tuple[float, int, float]:
    """The fastest of ``repeat`` sweeps: wall seconds, cases, and that run's CPU seconds."""
    return min((_sweep_cpu(size, bootloader, executor) for _ in range(max(1, repeat))), key=lambda r: r[0])


def _fastest_in_turns(size: int, bootloaders: list[str], repeat: int) -> list[tuple[float, int, float]]:
    """:func:`_fastest` on one core for each of ``bootloaders``, their runs taking turns (model, build,
    build, model, ...), so a change of the machine's load within the run weighs on all of them alike."""
    best: list[tuple[float, int, float] | None] = [None] * len(bootloaders)
    for _ in range(max(1, repeat)):
        for i, spec in enumerate(bootloaders):
            run = _sweep_cpu(size, spec, InProcess())
            seen = best[i]
            best[i] = run if seen is None or run[0] < seen[0] else seen
    return [b for b in best if b is not None]


def _children_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run(small: int = 16 * 1024, big: int = SIZE, *, repeat: int = 3, harmony: str | None = None) -> list[str]:
    """The report; ``small`` and ``big`` are the two image sizes, each one-core sweep the fastest of
    ``repeat`` runs; ``harmony`` (default: ``$OTALOOP_HARMONY_APPS``) adds Harmony's bootloader."""
    harmony = os.environ.get(HARMONY_ENV) if harmony is None else harmony
    jobs = default_jobs()
    with tempfile.TemporaryDirectory(prefix="otaloop-bench-") as tmp:
        builds = [("example native bootloader", f"native:{build_example(Path(tmp) / 'example').directory}")]
        if harmony:
            cache = build(locate(Path(harmony)), Path(tmp) / "harmony").directory
            builds.append(("Harmony's bootloader (native)", f"native:{cache}"))
        load = os.getloadavg()[0]
        (t_model, n_model, c_model), *natives = _fastest_in_turns(small, [MODEL, *(b[1] for b in builds)], repeat)
        lines = [
            f"native: power-cut sweeps judged by native bootloaders against the Python model; {jobs} core(s), "
            f"load average {load:.1f} at the start; one-core sweeps the fastest of {max(1, repeat)} runs, taking turns",
            f"  default sweep, {small // 1024} KiB, {n_model} cases, 1 core, model (baseline): {t_model:6.1f} s  "
            f"{n_model / t_model:6.0f} cases/s  (CPU {c_model:.1f} s)",
        ]
        one_worker = natives
        for (label, _), (t, n, c) in zip(builds, natives, strict=True):
            ratio = (n / t) / (n_model / t_model)
            lines.append(
                f"    {label}: {t:6.1f} s  {n / t:6.0f} cases/s  = {ratio:.2f}x the model's rate "
                f"(target {RATIO_TARGET}: {'met' if ratio >= RATIO_TARGET else 'MISSED'}); CPU {c:.1f} s "
                f"(helper's included) = {(n / c) / (n_model / c_model):.2f}x the model's cases per CPU second"
            )
        label, spec = builds[0]
        t_one, _, c_one = one_worker[0]
        t_all, n_all, c_all = _fastest(small, spec, Processes(jobs), repeat)
        lines.append(
            f"    {label}, scaling: 1 worker {t_one:5.1f} s (CPU {c_one:.1f} s), {jobs} workers {t_all:5.1f} s "
            f"(CPU {c_all:.1f} s): {t_one / t_all:.2f}x faster, {n_all / t_all:6.0f} cases/s "
            f"({(n_all / t_all) / (n_model / t_model):.2f}x the model's one-core rate)"
        )
        for i, (label, spec) in enumerate(builds):
            t_nat, n_nat = _sweep(big, spec, Processes(jobs))
            if i == 0:
                lines.append(f"  full sweep, {big:,} B, {n_nat} cases, {jobs} workers:")
            lines.append(
                f"    {label}, {jobs} workers: {t_nat:6.1f} s  {n_nat / t_nat:6.0f} cases/s, workers' peak RSS "
                f"{_children_peak_mib():.0f} MiB (target {FULL_TARGET_S:.0f} s: "
                f"{'met' if t_nat <= FULL_TARGET_S else 'MISSED'})"
            )
        close_servers()
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
