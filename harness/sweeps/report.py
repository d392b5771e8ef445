"""The outcome table of a whole-update sweep: cases per verdict per phase, and the worst fault ids.

What ``otaloop sweep update`` prints and ``docs/power-cut-sweeps.md`` quotes. Formatting only.
"""

from __future__ import annotations

from collections import Counter

from harness.sweeps.results import SweepRun
from harness.sweeps.update import CaseResult

PHASES = ("app v1", "bootloader", "app v2")


def ordinal(n: int) -> str:
    """``3rd``, ``11th``, ``22nd``: how the reports say "every N-th operation"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def report(run: SweepRun, *, worst: int = 6) -> list[str]:
    """The markdown printed by ``otaloop sweep update --markdown``: a heading sentence, then :func:`outcome_table`."""
    ops, modes, stride, results = run.ops, run.modes, run.stride, run.cases
    phases = ", ".join(f"{p} {sum(1 for o in ops if o.phase == p)}" for p in dict.fromkeys(o.phase for o in ops))
    where = "every operation" if stride == 1 else f"every {ordinal(stride)} operation and the last"
    head = (
        f"Power-cut sweep of `{run.scenario}`: {len(ops)} flash operations ({phases}); cut {where}, "
        f"modes {', '.join(m.value for m in modes)}: {len(results)} cases."
    )
    if run.shard is not None:
        head += f" This is shard {run.shard[0]} of {run.shard[1]}; `otaloop sweep merge` joins the shards."
    return [head, "", *outcome_table(results, worst=worst)]


def outcome_table(results: list[CaseResult], *, worst: int = 5) -> list[str]:
    """Markdown: cases per verdict per phase, then the fault ids of the worst outcomes."""
    counts = Counter((r.op.phase, r.verdict) for r in results)
    phases = [p for p in PHASES if any(r.op.phase == p for r in results)]
    phases += sorted({r.op.phase for r in results} - set(phases))
    verdicts = sorted({r.verdict for r in results}, key=lambda v: v.severity)
    lines = ["| outcome | " + " | ".join(phases) + " | total |", "|---" * (len(phases) + 2) + "|"]
    for v in verdicts:
        row = [str(counts[(p, v)]) for p in phases]
        lines.append(f"| {v.value} | " + " | ".join(row) + f" | {sum(counts[(p, v)] for p in phases)} |")
    per_phase = [str(sum(1 for r in results if r.op.phase == p)) for p in phases]
    lines.append("| **cases** | " + " | ".join(per_phase) + f" | {len(results)} |")
    ranked = sorted(results, key=lambda r: (r.verdict.severity, r.op.index))
    shown: list[CaseResult] = []
    for r in ranked:
        if len(shown) >= worst:
            break
        if sum(1 for s in shown if s.verdict is r.verdict) < 2:
            shown.append(r)
    lines += ["", "Worst outcomes (at most two per outcome, earliest operation first):", ""]
    lines += [f"- `{r.fault}` ({r.op.phase}, {r.op.label()}): {r.judgement.line()}" for r in shown]
    return lines
