"""``otaloop sweep diff A.json B.json``: the cuts of one update whose outcome changed between two sweeps.

Takes the ``--json`` files of two ``otaloop sweep update`` runs of the same update (same ``--size``,
``--v2``, ``--seed``, ``--modes``, ``--stride``) that differ in ``--quirks`` or ``--bootloader``, and
prints how many cuts changed outcome, the transitions (``factory-fallback -> new-image: 12``) and one row
per changed cut; ``--plot FILE.svg`` draws them. Exits 1 when some cut changed, 0 when none did; sweeps
of different updates are refused with the parameters that differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bootloader_model.errors import CallerError
from harness.sweeps.diff import diff, plot_diff, report_lines
from harness.sweeps.plot import check_path, require_matplotlib
from harness.sweeps.results import load


def add_diff(kinds: Any) -> None:
    p = kinds.add_parser("diff", help="list the cuts whose outcome changed between two sweeps of one update")
    p.add_argument("a", type=Path, metavar="A.json", help="the first sweep's --json file")
    p.add_argument("b", type=Path, metavar="B.json", help="the second sweep's --json file (same update)")
    p.add_argument("--show", type=int, default=50, help="how many changed cuts to list (0: all; default 50)")
    p.add_argument("--plot", metavar="FILE", help="draw the changed cuts (.svg or .png; needs matplotlib)")
    p.set_defaults(func=run_diff)


def run_diff(args: Any) -> int:
    if args.show < 0:
        raise CallerError("--show must be >= 0")
    if args.plot is not None:
        check_path(args.plot)
        require_matplotlib()
    d = diff(load(args.a), load(args.b))
    for line in report_lines(d, str(args.a), str(args.b), None if args.show == 0 else args.show):
        print(line)
    if args.plot is not None and d.changes:
        plot_diff(d, args.plot)
        print(f"plot: {args.plot}")
    return 1 if d.changes else 0
