"""``otaloop power on|off|cycle|status --control PATH``: switch a virtual board served with ``--control``.

The command a lab would run for a real board (``uhubctl -a off -p 2``), for the virtual one: use it as
``otaloop run --power-on``/``--power-off``, or as the commands of a labgrid ``ExternalPowerDriver``.
Prints the board's power state after the command (``on``, ``off``, or ``held``: powered, waiting in
reset for a host to open the console of ``--console-link``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bootloader_model.errors import CallerError
from harness.cli.help import help_text
from harness.served_board.power_channel import ANSWER_TIMEOUT, send_command
from harness.served_board.power_switch import DEFAULT_OFF_TIME


def register(sub: Any) -> None:
    p = sub.add_parser(
        "power",
        help="switch a virtual board's power through its control channel",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=("on", "off", "cycle", "status"), help="what to do")
    p.add_argument("--control", type=Path, required=True, help="the board's control socket (otaloop board --control)")
    p.add_argument(
        "--off-time",
        type=float,
        default=DEFAULT_OFF_TIME,
        metavar="SECONDS",
        help=f"with cycle: how long the board stays off (default {DEFAULT_OFF_TIME:g})",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"give up when the board has not answered within SECONDS (default {ANSWER_TIMEOUT:g}, plus the off "
        "time for cycle); a stopped or hung board process is then a board error (exit 1) naming the socket",
    )
    p.set_defaults(func=run_power)


def run_power(args: argparse.Namespace) -> int:
    words = [args.action]
    if args.action == "cycle":
        if not 0 <= args.off_time <= 3600:
            raise CallerError(f"--off-time must be 0..3600 seconds, got {args.off_time:g}")
        words.append(f"{args.off_time:g}")
    print(send_command(args.control, words, timeout=args.timeout))
    return 0
