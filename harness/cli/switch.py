"""``otaloop switch press|release|click|status --control PATH``: SWITCH1 of a virtual board served with ``--control``.

The button Harmony's OTA developer guide has applications watch for a user trigger (an update check, an OTA,
a factory reset). ``press`` holds it down until ``release``; ``click`` presses it and lets go ``--hold``
board seconds later. Prints the button's state after the command: ``pressed`` or ``released``. A real rig
presses its button with a relay or GPIO command instead (``otaloop run --switch-press CMD --switch-release
CMD``, docs/real-boards.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bootloader_model.board.virtual_board import CLICK_HOLD_S
from bootloader_model.errors import CallerError
from harness.cli.help import help_text
from harness.served_board.power_channel import send_command
from harness.served_board.power_switch import SWITCH_ACTIONS


def register(sub: Any) -> None:
    p = sub.add_parser(
        "switch",
        help="press a virtual board's SWITCH1 through its control channel",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=SWITCH_ACTIONS, help="what to do with the button")
    p.add_argument("--control", type=Path, required=True, help="the board's control socket (otaloop board --control)")
    p.add_argument(
        "--hold",
        type=float,
        default=CLICK_HOLD_S,
        metavar="SECONDS",
        help=f"with click: board seconds the button stays down (default {CLICK_HOLD_S:g})",
    )
    p.set_defaults(func=run_switch)


def run_switch(args: argparse.Namespace) -> int:
    words = ["switch", args.action]
    if args.action == "click":
        if not 0 < args.hold <= 3600:
            raise CallerError(f"--hold must be more than 0 and at most 3600 seconds, got {args.hold:g}")
        words.append(repr(args.hold))
    print(send_command(args.control, words))
    return 0
