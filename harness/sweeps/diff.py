"""``otaloop sweep diff``: which cuts of one update end differently in two sweeps of it.

Two update sweeps (their ``--json`` files, :mod:`harness.sweeps.results`) of the **same update** -- the
same image size, v2 behaviour, torn-write seed, cut modes and stride -- differ only in what judged each
cut: the quirk profile of the model (``harmony-3.9.1`` against ``corrected``) or the bootloader (the
model against a patched native build, one native build against another). :func:`diff` pairs their cases
by cut (operation index, device, cut mode) and lists every one whose outcome changed. Sweeps of
different updates are refused with the parameters that differ; so are single shards (merge them first).

When the two updates' flash operations differ (a quirk can change what the service writes, so the
operation list shifts), cases are still paired by position; :attr:`SweepDiff.ops_differ_at` says from
which operation on and the report says so.

:func:`plot_diff` draws the changed cases (matplotlib). It runs no sweep.
"""

from __future__ import annotations

import importlib
import os
from collections import Counter
from dataclasses import dataclass, field

from bootloader_model.errors import CallerError
from harness.sweeps.plot import COLOURS, check_path, require_matplotlib
from harness.sweeps.results import SweepRun
from harness.sweeps.update import CaseResult, OpInfo
from harness.sweeps.verdicts import Verdict


@dataclass(frozen=True)
class Change:
    """One cut whose outcome differs between the two sweeps."""

    a: CaseResult
    b: CaseResult

    @property
    def cut(self) -> str:
        """The cut without the scenario: ``int@op437:before`` (the same in both sweeps)."""
        return f"{self.a.fault.device}@{self.a.fault.plan.fault_id}"

    @property
    def transition(self) -> str:
        return f"{self.a.verdict.value} -> {self.b.verdict.value}"


@dataclass
class SweepDiff:
    """The cuts of one update whose outcome changed from sweep A to sweep B."""

    a: SweepRun
    b: SweepRun
    changes: list[Change] = field(default_factory=list)
    compared: int = 0
    only_a: int = 0  # cases of A without a counterpart in B (a longer operation list)
    only_b: int = 0
    ops_differ_at: int | None = None  # the first operation index whose operation differs (None: identical)

    def transitions(self) -> list[tuple[str, int]]:
        """``(from -> to, count)``, most frequent first."""
        return Counter(c.transition for c in self.changes).most_common()


def _key(case: CaseResult) -> tuple[int, str, str]:
    return case.op.index, case.fault.device, case.fault.mode.value


def _op_shape(op: OpInfo) -> tuple[str, int, str, int, int, str]:
    return op.device, op.count, op.kind, op.address, op.length, op.phase


def check_same_update(a: SweepRun, b: SweepRun) -> None:
    """Refuse two sweeps that are not of the same update.

    Raises:
        CallerError: a shard, or a different image size, v2 behaviour, seed, cut modes or stride.
    """
    for name, run in (("A", a), ("B", b)):
        if run.shard is not None:
            raise CallerError(
                f"sweep {name} is shard {run.shard[0]}/{run.shard[1]}: join the shards with otaloop sweep merge first"
            )
    differ = [
        f"{what} {x} vs {y}"
        for what, x, y in (
            ("image size", a.params.size, b.params.size),
            ("v2", a.params.v2, b.params.v2),
            ("seed", a.seed, b.seed),
            ("modes", ",".join(m.value for m in a.modes), ",".join(m.value for m in b.modes)),
            ("stride", a.stride, b.stride),
        )
        if x != y
    ]
    if differ:
        raise CallerError(
            "these sweeps are of different updates (" + "; ".join(differ) + "): a diff compares two sweeps of the "
            "same update that differ only in the quirk profile or the bootloader"
        )


def diff(a: SweepRun, b: SweepRun) -> SweepDiff:
    """Pair the cases of ``a`` and ``b`` by cut and keep those whose outcome differs.

    Args:
        a: the first sweep (e.g. ``--quirks harmony-3.9.1``, or the stock bootloader).
        b: the second sweep of the same update (e.g. ``--quirks corrected``, or a patched native build).

    Returns:
        The changed cuts in operation order, with how many were compared.

    Raises:
        CallerError: the sweeps are not of the same update (see :func:`check_same_update`).
    """
    check_same_update(a, b)
    out = SweepDiff(a, b)
    for i, (x, y) in enumerate(zip(a.ops, b.ops, strict=False)):
        if _op_shape(x) != _op_shape(y):
            out.ops_differ_at = i
            break
    else:
        if len(a.ops) != len(b.ops):
            out.ops_differ_at = min(len(a.ops), len(b.ops))
    theirs = {_key(c): c for c in b.cases}
    mine = {_key(c) for c in a.cases}
    for case in a.cases:
        other = theirs.get(_key(case))
        if other is None:
            out.only_a += 1
            continue
        out.compared += 1
        if case.verdict is not other.verdict:
            out.changes.append(Change(case, other))
    out.only_b = sum(1 for c in b.cases if _key(c) not in mine)
    return out


def report_lines(d: SweepDiff, name_a: str = "A", name_b: str = "B", show: int | None = None) -> list[str]:
    """The diff as text: what was compared, the transitions, then one row per changed cut (``show`` at most)."""
    lines = [
        f"A: {d.a.scenario} ({name_a}), B: {d.b.scenario} ({name_b}): {d.compared} cuts compared, "
        f"{len(d.changes)} changed outcome"
    ]
    if d.ops_differ_at is not None:
        lines.append(
            f"note: the updates' flash operations differ from operation {d.ops_differ_at} on "
            f"(A {len(d.a.ops)} operations, B {len(d.b.ops)}); cuts there are paired by position"
        )
    if d.only_a or d.only_b:
        lines.append(f"note: {d.only_a} cut(s) only in A, {d.only_b} only in B (not compared)")
    if not d.changes:
        return lines
    lines.append("")
    lines += [f"  {count:6d}  {t}" for t, count in d.transitions()]
    rows = [("cut", "phase", "operation (A)", "A", "B")]
    shown = d.changes if show is None else d.changes[:show]
    rows += [(c.cut, c.a.op.phase, c.a.op.label(), c.a.verdict.value, c.b.verdict.value) for c in shown]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines.append("")
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    if show is not None and len(d.changes) > show:
        lines.append(f"... {len(d.changes) - show} more (--show 0 lists all)")
    return lines


def plot_diff(d: SweepDiff, path: str | os.PathLike[str]) -> int:
    """Draw the changed cuts into ``path`` (.svg or .png): one row per transition, x the operation index,
    each point coloured by B's outcome. Returns how many points were drawn.

    Raises:
        CallerError: a bad file name, matplotlib missing, or nothing changed (nothing to draw).
    """
    target = check_path(path)
    figure_module = require_matplotlib()
    if not d.changes:
        raise CallerError("--plot: no cut changed outcome; nothing to draw")
    transitions = [t for t, _ in d.transitions()]
    fig = figure_module.Figure(figsize=(14, 1.4 + 0.35 * len(transitions)), layout="constrained")
    ax = fig.subplots()
    drawn = 0
    for row, t in enumerate(reversed(transitions)):
        for verdict in Verdict:
            xs = [c.a.op.index for c in d.changes if c.transition == t and c.b.verdict is verdict]
            if xs:
                coll = ax.scatter(xs, [row] * len(xs), s=12, marker="s", linewidths=0, color=COLOURS[verdict])
                coll.set_gid(f"changed-{row}-{verdict.value}")
                drawn += len(xs)
    ax.set_yticks(range(len(transitions)), list(reversed(transitions)))
    ax.set_ylim(-1, len(transitions))
    ax.set_xlim(-1, max(len(d.a.ops), len(d.b.ops)))
    ax.set_xlabel("operation index (cut)", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.suptitle(
        f"Sweep diff: {d.a.scenario} -> {d.b.scenario}: {len(d.changes)} of {d.compared} cuts changed outcome",
        fontsize=10,
    )
    svg = target.suffix.lower() == ".svg"
    with importlib.import_module("matplotlib").rc_context({"svg.hashsalt": "otaloop"}):
        fig.savefig(target, dpi=110, metadata={"Date": None} if svg else {"Software": None})
    return drawn
