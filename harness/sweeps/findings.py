"""Regenerate the power-cut sweep section of ``docs/findings.md``: full-size sweeps, their tables and plots.

``python -m harness.sweeps.findings`` (or ``make findings``) runs, on every core:

* the whole-update sweep of a full-size image (900,000 bytes: every operation, before/after/torn) and
  draws it to ``docs/findings/sweep-update-900000.svg``;
* the same update with a v2 that crashes at boot (spec hazard 10);
* double cuts of the full-size update, sampled with a stride (every first cut and recovery operation at
  that stride), with the table of first-cut windows a second cut makes worse;

and writes their markdown between the ``sweep findings`` markers of ``docs/findings.md`` (creating the
page, or the markers at its end, if they are missing). The rest of the page (the fuzzer's section) is
left as it is. This module only assembles text from the sweeps; it judges nothing itself.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from harness.image.server import ImageServer
from harness.output_files import write_atomic
from harness.sweeps.double import double_report, run_double
from harness.sweeps.executor import Processes, default_jobs
from harness.sweeps.fault_ids import Params
from harness.sweeps.plot import plot
from harness.sweeps.progress import Progress
from harness.sweeps.report import report
from harness.sweeps.results import SweepRun
from harness.sweeps.update import UpdateRig, plan_sweep, record, run_sweep

BEGIN = "<!-- sweep findings: begin (python -m harness.sweeps.findings) -->"
END = "<!-- sweep findings: end -->"
TITLE = "# What goes wrong: hazards of Harmony v3.9.1 OTA, found on the virtual board"
FULL_SIZE = 900_000
DOUBLE_STRIDE = 50


def _single(params: Params, jobs: int) -> tuple[SweepRun, float]:
    t0 = time.perf_counter()
    with ImageServer() as server:
        ref = record(UpdateRig(params, server))
        plan = plan_sweep(ref)
        with Progress(plan.cases(), f"sweep {params.scenario}") as bar:
            cases = run_sweep(plan, Processes(jobs), progress=bar.advance)
    return SweepRun.of(plan, cases), time.perf_counter() - t0


def section(size: int, jobs: int, double_stride: int, images: Path, page: Path) -> list[str]:
    """The markdown of the section (and the plot files it references)."""
    healthy, t_healthy = _single(Params(size=size), jobs)
    crash, t_crash = _single(Params(size=size, v2="crash"), jobs)
    images.mkdir(parents=True, exist_ok=True)
    picture = images / f"sweep-update-{size}.svg"
    plot(healthy, picture)
    link = picture.resolve().relative_to(page.resolve().parent)
    t0 = time.perf_counter()
    with ImageServer() as server:
        ref = record(UpdateRig(Params(size=size), server))
        dplan = plan_sweep(ref, stride=double_stride)
        with Progress(dplan.cases(), "sweep update --double, first cuts") as bar:
            doubles = run_double(dplan, Processes(jobs), progress=bar.advance)
    t_double = time.perf_counter() - t0
    cmd = "python -m harness.sweeps.findings"
    return [
        "## Power-cut sweeps at full image size",
        "",
        f"Produced by `{cmd}` (also `make findings`): the sweeps of "
        "[power-cut-sweeps.md](power-cut-sweeps.md) with a real-size image, "
        f"{size:,} bytes, every flash operation, cut before, after and torn. On {jobs} worker processes they "
        f"took {t_healthy:.0f} s, {t_crash:.0f} s and {t_double:.0f} s on the machine that generated this page.",
        "",
        "### The update",
        "",
        *report(healthy),
        "",
        f"![outcome of every cut against the operation index]({link.as_posix()})",
        "",
        "Each point is one cut, one panel per phase of the update, one band per cut mode: the long `app v1` "
        "panel is the download (cuts there leave v1 running or damage the volume), the `bootloader` panel is "
        "the factory-fallback window of spec hazard 11 (from the erase of boot control to the new header), "
        "and the `stuck` and `silent` points of `app v2` are cuts while v2 first rewrites the DB: the SST26 "
        "block holding the `ota/` directory (0xD000) or the FAT (0x8000) is erased and not yet reprogrammed, "
        "so `factory_reset.bin` cannot be opened (`stuck` on `file open error`), or FatFs's error latch "
        "makes the factory fallback program one stale 4 KiB buffer everywhere (`silent`: no valid "
        "application left). [power-cut-sweeps.md](power-cut-sweeps.md) explains both. Under the bands, "
        "each operation is labelled with its flash and what it writes (image file data, FAT, directory, "
        "`image_database.csv`, boot control, program-flash erase or rows), and the update step it belongs to.",
        "",
        "### A v2 that crashes at boot (hazard 10)",
        "",
        *report(crash, worst=4),
        "",
        "### Two cuts",
        "",
        *double_report(dplan, doubles),
    ]


def write(page: Path, lines: Sequence[str]) -> None:
    """Put ``lines`` between the markers of ``page`` (kept as it is elsewhere)."""
    body = "\n".join([BEGIN, *lines, END])
    text = page.read_text() if page.exists() else TITLE + "\n"
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + body + tail
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    write_atomic(page, text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.sweeps.findings", description=__doc__.split("\n")[0])
    parser.add_argument("--page", type=Path, default=Path("docs/findings.md"))
    parser.add_argument("--images", type=Path, default=Path("docs/findings"))
    parser.add_argument("--size", type=int, default=FULL_SIZE)
    parser.add_argument("--jobs", type=int, default=default_jobs())
    parser.add_argument("--double-stride", type=int, default=DOUBLE_STRIDE)
    args = parser.parse_args(argv)
    lines = section(args.size, args.jobs, args.double_stride, args.images, args.page)
    write(args.page, lines)
    print(f"wrote the sweep section of {args.page}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
