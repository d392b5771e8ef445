"""The ``otaloop`` command line: one sub-command module per job, one place that reports errors.

Each sub-command lives in its own module, named after it, with a ``register(subparsers)`` function that adds
its parser and sets ``func``; :mod:`harness.cli.help` turns module docstrings into help text. This module
only dispatches and turns expected failures into one-line messages: a
:class:`~bootloader_model.errors.CallerError` exits 2, a :class:`~bootloader_model.errors.BoardError` exits 1.
It never prints a traceback for either. A command whose stdout pipe is closed by its reader (``otaloop ... |
head``) ends quietly with status 141, as a Unix tool ended by SIGPIPE does.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import select
import sys
from collections.abc import Sequence

from bootloader_model import __version__
from bootloader_model.errors import BoardError, CallerError

#: Sub-command modules, in the order ``otaloop --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "harness.cli.demo",
    "harness.cli.image",
    "harness.cli.flash",
    "harness.cli.board",
    "harness.cli.power",
    "harness.cli.switch",
    "harness.cli.run",
    "harness.cli.sweep",
    "harness.cli.fuzz",
    "harness.cli.native",
    "harness.cli.quirks",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's own usage errors: one line plus the usage, exit 2 (argparse's convention).
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="otaloop",
        description="Virtual Harmony OTA board, HIL harness and OTA image tooling for PIC32MZ W1 / WFI32E01.",
    )
    parser.add_argument("--version", action="version", version=f"otaloop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # here (--help's exit too), not at interpreter exit: a closed pipe is caught below
    except BrokenPipeError:
        if not _stdout_gone():
            raise
        # stdout's reader went away (`otaloop ... | head`): end quietly, as Unix tools do, with the status
        # a shell gives a tool ended by SIGPIPE; nothing more may be written to the closed pipe at exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


#: The exit status of a command whose stdout pipe was closed by its reader (128 + SIGPIPE).
EXIT_BROKEN_PIPE = 141


def _stdout_gone() -> bool:
    """True if stdout is a pipe whose read end is closed (poll reports an error on its write end)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), 0)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return False


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except CallerError as exc:
        print(f"otaloop {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BoardError as exc:
        print(f"otaloop {args.command}: board error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        if _stdout_gone():
            raise  # main ends quietly
        print(f"otaloop {args.command}: error: Broken pipe", file=sys.stderr)
        return 2
    except OSError as exc:
        # A file or device the command needed was not usable: still one line, never a traceback.
        where = f": {exc.filename}" if exc.filename else ""
        print(f"otaloop {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
