"""Draw an update sweep: the outcome of every case against the operation index, one band per cut mode.

One panel per phase of the update (``app v1``, ``bootloader``, ``app v2``), each with its own operation
range, so a 90-operation phase stays as readable as a 15,000-operation one. Inside a panel, each cut mode
is a band and each outcome a row of that band (worst at the top), every case one point coloured by its
outcome: the factory-fallback window of the bootloader and the ``stuck`` cases of the ``ota/`` block
hazard stand out at a glance. SVG or PNG, chosen by the file name; sweeps of more than
:data:`RASTER_ABOVE` cases draw their points as an embedded image, so an SVG stays small.

Needs matplotlib (``pip install 'otaloop[plot]'``); :func:`require_matplotlib` says so in one line. This
module only draws; it never runs a sweep.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from bootloader_model.errors import CallerError
from harness.output_files import atomic_file
from harness.sweeps import writes
from harness.sweeps.report import PHASES, ordinal
from harness.sweeps.results import SweepRun
from harness.sweeps.update import OpInfo
from harness.sweeps.verdicts import Verdict

SUFFIXES = (".svg", ".png")
RASTER_ABOVE = 20_000
COLOURS = {
    Verdict.STUCK: "#d62728",
    Verdict.SILENT: "#7f0000",
    Verdict.HUNG: "#9467bd",
    Verdict.CRASH_LOOP: "#e377c2",
    Verdict.VOLUME_DAMAGED: "#ff7f0e",
    Verdict.REPROGRAM_LOOP: "#c51b8a",
    Verdict.REPEATED_BACKUP: "#8c564b",
    Verdict.FACTORY_FALLBACK: "#e6b800",
    Verdict.DB_DAMAGED: "#f4a582",
    Verdict.UNKNOWN_IMAGE: "#7f7f7f",
    Verdict.OLD_IMAGE: "#1f77b4",
    Verdict.NEW_IMAGE: "#2ca02c",
}


def require_matplotlib() -> Any:
    """The ``matplotlib.figure`` module, or a caller error that says how to install matplotlib."""
    try:
        return importlib.import_module("matplotlib.figure")
    except ImportError:
        raise CallerError("--plot needs matplotlib: pip install 'otaloop[plot]'") from None


def check_path(path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    if target.suffix.lower() not in SUFFIXES:
        raise CallerError(f"--plot {path}: the file name must end in .svg or .png")
    return target


def plot(run: SweepRun, path: str | os.PathLike[str]) -> int:
    """Draw ``run`` into ``path`` (.svg or .png); returns how many case points were drawn."""
    target = check_path(path)
    figure_module = require_matplotlib()
    cases = run.cases
    if not cases:
        raise CallerError("--plot: the sweep has no cases to draw")
    labelled = all(op.writes for op in run.ops)  # JSON files of earlier versions carry no labels
    phases = [p for p in PHASES if any(op.phase == p for op in run.ops)]
    phases += [p for p in dict.fromkeys(op.phase for op in run.ops) if p not in phases]
    verdicts = sorted({c.verdict for c in cases}, key=lambda v: v.severity)
    modes = list(run.modes)
    rows = len(verdicts)
    band = rows + 1  # a blank row between bands
    tracks = 2 if labelled else 0  # below the bands: what each operation writes, and the update step

    def y_of(mode_index: int, verdict: Verdict) -> int:
        # Top band first, worst outcome at the top of its band; the label tracks below, at -2 and -1.
        return (len(modes) - 1 - mode_index) * band + (rows - 1 - verdicts.index(verdict))

    height = 1.6 + 0.26 * (band * len(modes) + tracks + (1.6 if labelled else 0))
    fig = figure_module.Figure(figsize=(14, height), layout="constrained")
    axes = fig.subplots(1, len(phases), sharey=True, squeeze=False)[0]
    raster = len(cases) > RASTER_ABOVE
    drawn = 0
    for ax, phase in zip(axes, phases, strict=True):
        indices = [op.index for op in run.ops if op.phase == phase]
        lo, hi = indices[0], indices[-1]
        for mi, mode in enumerate(modes):
            for verdict in verdicts:
                xs = [
                    c.op.index for c in cases if c.op.phase == phase and c.fault.mode is mode and c.verdict is verdict
                ]
                if not xs:
                    continue
                coll = ax.scatter(
                    xs, [y_of(mi, verdict)] * len(xs), s=9, marker="s", linewidths=0, color=COLOURS[verdict]
                )
                coll.set_gid(f"cases-{phase.replace(' ', '-')}-{mode.value}-{verdict.value}")
                coll.set_rasterized(raster)
                drawn += len(xs)
        pad = max(1.0, (hi - lo) * 0.01)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_title(f"{phase}: operations {lo}..{hi}", fontsize=9)
        ax.set_xlabel("operation index", fontsize=8)
        ax.tick_params(labelsize=7)
        for mi in range(1, len(modes)):
            ax.axhline(mi * band - 1, color="#cccccc", linewidth=0.6)
        if labelled:
            _label_tracks(ax, [op for op in run.ops if op.phase == phase], lo, hi)
    ticks: list[float] = [y_of(mi, v) for mi in range(len(modes)) for v in verdicts]
    labels = [f"{mode.value}: {v.value}" for mode in modes for v in verdicts]
    if labelled:
        ticks += [WRITES_Y, STEP_Y]
        labels += ["flash: what the cut operation writes", "update step"]
    axes[0].set_yticks(ticks, labels)
    axes[0].set_ylim(STEP_Y - 0.8 if labelled else -1, band * len(modes) - 1)
    if labelled:
        present = list(dict.fromkeys(_write_key(op) for op in run.ops))
        handles = [_patch(WRITE_COLOURS.get(w, "#999999"), f"{d}: {w}") for d, w in present]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(5, len(handles)), fontsize=7, frameon=False)
    where = "every operation" if run.stride == 1 else f"every {ordinal(run.stride)} operation"
    shard = f", shard {run.shard[0]}/{run.shard[1]}" if run.shard else ""
    fig.suptitle(f"Power-cut sweep of {run.scenario}: {len(cases)} cases, {where}{shard}", fontsize=10)
    svg = target.suffix.lower() == ".svg"
    # A fixed hash salt and no date: the same sweep draws the same bytes, so a regenerated file only
    # changes in git when the sweep did.
    # Text stays text in an SVG (searchable, and smaller than glyph outlines).
    with (
        importlib.import_module("matplotlib").rc_context({"svg.hashsalt": "otaloop", "svg.fonttype": "none"}),
        atomic_file(target, "--plot") as fh,
    ):
        fig.savefig(
            fh, format=target.suffix.lower()[1:], dpi=110, metadata={"Date": None} if svg else {"Software": None}
        )
    return drawn


WRITES_Y, STEP_Y = -2.0, -3.2  # the label tracks under the bands
CHAR_WIDTH = 0.011  # a 6-point character as a fraction of a panel's width (a third of the figure)
#: Colours of what an operation writes (:mod:`harness.sweeps.writes`).
WRITE_COLOURS = {
    writes.BOOT_CONTROL: "#d62728",
    writes.PROGRAM_ERASE: "#ff9896",
    writes.PROGRAM_ROWS: "#9467bd",
    writes.IMAGE_DATA: "#1f77b4",
    writes.DATABASE: "#2ca02c",
    writes.FAT: "#ff7f0e",
    writes.DIRECTORY: "#bcbd22",
    writes.BOOT_SECTOR: "#8c564b",
    writes.FACTORY_BACKUP: "#17becf",
    writes.OTHER_FILE: "#7f7f7f",
    writes.FREE: "#c7c7c7",
}


def _write_key(op: OpInfo) -> tuple[str, str]:
    return op.device, op.writes


def _runs(ops: list[OpInfo], key: Any) -> list[tuple[Any, int, int]]:
    """(key, first index, last index) of each run of consecutive operations with the same key."""
    out: list[tuple[Any, int, int]] = []
    for op in ops:
        k = key(op)
        if out and out[-1][0] == k:
            out[-1] = (k, out[-1][1], op.index)
        else:
            out.append((k, op.index, op.index))
    return out


def _patch(colour: str, label: str) -> Any:
    return importlib.import_module("matplotlib.patches").Patch(color=colour, label=label)


def _label_tracks(ax: Any, ops: list[OpInfo], lo: int, hi: int) -> None:
    """Under the bands of one panel: a bar per run of operations writing the same thing (coloured, named
    where the name fits), and the update steps, with a dotted line where each begins."""
    char = max(hi - lo, 1) * CHAR_WIDTH  # operations per character of the labels, about
    for (device, what), first, last in _runs(ops, _write_key):
        colour = WRITE_COLOURS.get(what, "#999999")
        span = [(first - 0.5, last - first + 1.0)]
        bar = ax.broken_barh(span, (WRITES_Y - 0.45, 0.9), color=colour, linewidth=0)
        bar.set_gid(f"writes-{device}-{what.replace(' ', '-')}-{first}")
        name = f"{device[:3]}: {what}"
        if last - first + 1 >= (len(name) + 2) * char:
            text = ax.text((first + last) / 2, WRITES_Y, name, ha="center", va="center", fontsize=6)
            text.set_gid(f"writes-label-{first}")
    for step, first, last in _runs(ops, lambda op: op.step):
        if first > lo:
            ax.axvline(first - 0.5, color="#555555", linewidth=0.6, linestyle=":")
        half = len(step) * char * 1.2 / 2  # step names are a size larger
        x = min(max((first + last) / 2, lo + half), hi - half)  # a narrow step's name stays inside the panel
        text = ax.text(x, STEP_Y, step, ha="center", va="center", fontsize=7)
        text.set_gid(f"step-{step.replace(' ', '-')}-{first}")
