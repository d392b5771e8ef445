"""``otaloop board``: serve a virtual board on a pty or TCP port until SIGINT/SIGTERM.

On first use of a state directory the board is provisioned with the factory application (the "unified
hex" programmed by MPLAB); later runs reuse the flash images in the directory. The state is written
at every reset and power-off of the board, within 0.2 s of any flash write, and on exit, so killing the
process loses at most the flash writes of its last fraction of a second; the files are saved as one set,
so a kill leaves the previous set or the new one, never a mix. One board at a time uses a directory: a
second ``otaloop board`` on it is refused with the first one's PID (a killed board's lock is released by
the system). The first line on stdout is ``console: <device path or pyserial URL>``; with ``--control``
a second says ``control: PATH``.

``--control PATH`` answers power commands on a Unix socket (``otaloop power on|off|cycle|status
--control PATH``), as a relay or a switchable USB hub switches a real board. ``--console-link PATH`` makes
the console behave like the board's USB serial port behind such a hub: ``PATH`` is a symlink to a pty
that disappears at power-off and comes back, pointing at a new pty, at power-on; the board is held in
reset until a host opens the new port (at most ``--hold`` seconds). The same socket presses SWITCH1
(``otaloop switch``). ``--application native:CACHE`` runs your application C code after the jump
(docs/native-application.md).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from bootloader_model.board import state_directory
from bootloader_model.board.virtual_board import BoardConfig, VirtualBoard
from bootloader_model.bootloader.program import MODEL
from bootloader_model.errors import CallerError
from bootloader_model.quirks import HARMONY_NAME, QuirkProfile
from bootloader_model.storage.external_flash import SIZES
from harness.cli.help import QUIRKS_HELP, help_text
from harness.native.programs import APPLICATION_HELP, BOOTLOADER_HELP, application_from_spec, bootloader_from_spec
from harness.served_board.power_channel import ControlServer
from harness.served_board.power_switch import BoardPower
from harness.served_board.runner import DEFAULT_SPEED, BoardRunner, check_speed
from harness.served_board.uart_link import UartLink, open_link
from harness.served_board.usb_console import DEFAULT_HOLD, MAX_HOLD, UsbConsoleLink

#: Board history entries after which the flash images are saved (RAM is gone, flash is what remains).
SAVE_ON = {"reset", "software-reset", "bootloader-reset", "power-off", "power-cut"}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "board",
        help="serve a virtual board's console on a pty or TCP port",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--factory", type=Path, help="factory application .bin (needed when STATE holds no board yet)")
    p.add_argument("--state", type=Path, required=True, help="state directory (internal.bin, external.bin)")
    p.add_argument(
        "--speed",
        type=float,
        default=DEFAULT_SPEED,
        help=f"virtual seconds per wall second (default {DEFAULT_SPEED:g}: a 60 s check interval takes 60 ms)",
    )
    p.add_argument(
        "--quirks",
        default=HARMONY_NAME,
        help=QUIRKS_HELP,
    )
    p.add_argument("--console", default="pty", help="pty (default) or tcp:PORT (tcp:0 picks a free port)")
    p.add_argument(
        "--network",
        choices=("loopback", "open"),
        default="loopback",
        help="loopback (default): the board reaches only 127.0.0.0/8 and localhost; open: any host",
    )
    p.add_argument("--ext-size", choices=sorted(SIZES), default="4M", help="external SST26 size (default 4M)")
    p.add_argument(
        "--bootloader",
        default=MODEL,
        help=BOOTLOADER_HELP,
    )
    p.add_argument("--application", default=MODEL, metavar="SPEC", help=APPLICATION_HELP)
    # --control and --console-link stay strings so that the paths are printed as given (./board1.tty).
    p.add_argument(
        "--control",
        metavar="PATH",
        help="answer power commands (on, off, cycle, status) and SWITCH1 (switch press|release|click) on a Unix "
        "socket at PATH; see `otaloop power` and `otaloop switch`",
    )
    p.add_argument(
        "--console-link",
        metavar="PATH",
        help="serve the console as a USB serial port would be: PATH links to a new pty at every power-on and "
        "is removed at power-off",
    )
    p.add_argument(
        "--hold",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"with --console-link only: keep the board in reset after power-on until a host opens the port, at "
        f"most SECONDS, 0..{MAX_HOLD:g} (default {DEFAULT_HOLD:g}; 0: boot at once, output before the host opens "
        "the port is lost)",
    )
    p.add_argument("--off", action="store_true", help="start powered off (switch on through --control)")
    p.set_defaults(func=run_board)


def run_board(args: argparse.Namespace) -> int:
    check_speed(args.speed, "--speed")
    profile = QuirkProfile.named(args.quirks)
    state: Path = args.state
    if state.exists() and not state.is_dir():
        raise CallerError(f"--state {state} exists and is not a directory")
    if args.console_link is not None and args.console != "pty":
        raise CallerError("--console-link serves a pty; drop --console")
    if args.hold is not None and args.console_link is None:
        raise CallerError("--hold applies to --console-link only (a plain pty or TCP console is never held)")
    if args.hold is not None and not 0 <= args.hold <= MAX_HOLD:
        raise CallerError(f"--hold must be 0..{MAX_HOLD:g} seconds, got {args.hold:g}")
    if args.off and args.control is None:
        raise CallerError("--off needs --control PATH, or nothing could ever switch the board on")
    created = not state.exists()
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CallerError(f"cannot create state directory {state}: {exc.strerror}") from None
    held = state_directory.lock(state)  # one board per directory: a second one is refused, naming this PID
    ok = False
    try:
        state_directory.recover(state)  # finish or discard a save a killed board left half done
        result = _run_locked(args, state, profile)
        ok = True
        return result
    finally:
        held.release()
        if not ok and created and not VirtualBoard.has_state(state):
            shutil.rmtree(state, ignore_errors=True)  # a failed start leaves no empty state directory behind


def _run_locked(args: argparse.Namespace, state: Path, profile: QuirkProfile) -> int:
    board = VirtualBoard(
        BoardConfig(
            profile=profile,
            ext_size=args.ext_size,
            network=args.network,
            bootloader=bootloader_from_spec(args.bootloader, profile),
            application=application_from_spec(args.application),
        )
    )
    fresh = not VirtualBoard.has_state(state)
    if not fresh:
        board.load(state)
        if args.factory is not None:
            print(f"otaloop board: reusing the board in {state}; --factory ignored", file=sys.stderr)
    else:
        if args.factory is None:
            raise CallerError(f"{state} holds no board yet: give --factory APP.bin to provision one")
        try:
            factory = args.factory.read_bytes()
        except OSError as exc:
            raise CallerError(f"cannot read {args.factory}: {exc.strerror}") from None
        if board.provision(factory):
            print(
                f"otaloop board: {args.factory} is a factory-reset variant (otaloop image --factory: full slot, "
                "byte 0 = F8); provisioning the application it holds, as the unified hex would",
                file=sys.stderr,
            )
    # Everything that can fail on the arguments fails before the state directory is touched.
    hold = DEFAULT_HOLD if args.hold is None else args.hold
    usb = UsbConsoleLink(Path(args.console_link), hold=hold) if args.console_link is not None else None
    link: UartLink = usb if usb is not None else open_link(args.console)
    if fresh:
        try:
            board.save(state)
        except BaseException:
            link.close()
            raise
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runner = BoardRunner(board, link, speed=args.speed)
    power = BoardPower(runner, usb)
    control = ControlServer(Path(args.control), power.command) if args.control is not None else None
    if usb is not None and not args.off:
        power.on()  # the link exists before its path is printed; the board waits in reset for a host
    print(f"console: {args.console_link if usb is not None else link.url}", flush=True)
    if control is not None:
        print(f"control: {args.control}", flush=True)
        control.start()
    saved = board.event_count
    saved_ops = (board.internal.op_count, board.external.op_count)
    warned: set[str] = set()

    dropped = 0

    def save_if_needed() -> None:
        # At every reset and power-off, and whenever either flash was written since the last save (checked
        # every 0.2 s of wall time): a killed process then loses at most the last 0.2 s of flash writes.
        # The same at exit, so that SIGTERM of a board whose state is saved ends it at once.
        nonlocal saved, saved_ops
        ops = (board.internal.op_count, board.external.op_count)
        if ops != saved_ops or any(e.kind in SAVE_ON for e in board.events_since(saved)):
            board.save(state)
        saved, saved_ops = board.event_count, ops

    def report() -> None:
        nonlocal dropped
        if usb is not None and usb.dropped > dropped:
            # Reported, not queued: a USB serial port has nobody to send to while no host has it open.
            print(
                f"otaloop board: console: {usb.dropped - dropped} bytes printed while no host had "
                f"{usb.path} open were dropped ({usb.dropped} in all)",
                file=sys.stderr,
                flush=True,
            )
            dropped = usb.dropped
        for host in sorted(set(board.blocked_hosts) - warned):
            warned.add(host)
            print(
                f"otaloop board: refused a connection to {host}: the virtual network is loopback-only "
                "(serve from 127.0.0.1, or pass --network open)",
                file=sys.stderr,
                flush=True,
            )

    def save_and_report() -> None:
        save_if_needed()
        report()

    if usb is None and not args.off:
        power.on()
    try:
        while not stop.is_set():
            runner.serve_for(0.2, stop)
            runner.call(lambda b: save_and_report())
            if control is not None and control.error is not None:
                raise control.error
    finally:
        if control is not None:
            control.close()
        save_if_needed()
        link.close()
    return 0
