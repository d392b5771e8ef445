"""``otaloop sweep timed``: cut the update a range of delays after a console pattern, on the model or a rig.

Without a board option it runs on the virtual board made as ``otaloop sweep update`` makes it (same
``--size``, ``--quirks``, ``--v2``): each cut is exact in board time, and the table names the exact-sweep
fault id it hits (replay it with ``otaloop sweep update --replay``) beside the verdict. With ``--port``
(and ``--power-on``/``--power-off``, or ``--control`` for a board served by ``otaloop board --control``) or
``--lg-env``, it runs on that board: factory v1, v2 published, the cut, two power-ons, the verdict from the
console. The pattern counts from the moment v1 runs, so ``--after 'BOOTLOADER Build'`` times the cut from
the banner of the reset after the download (the bootloader's programming window).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from pathlib import Path
from typing import Any

from bootloader_model.errors import CallerError
from harness.board_link.power import CommandPower, PowerControl
from harness.cli.help import QUIRKS_HELP
from harness.image.server import ImageServer
from harness.scenarios import CONFIGS
from harness.scenarios.benches import DEFAULT_RECONNECT, SerialBench
from harness.served_board.power_channel import ChannelPower
from harness.sweeps.fault_ids import DEFAULT_SEED, MIN_SIZE, SLOT_APP_MAX, Params
from harness.sweeps.timed.sweep import MAX_DELAY_MS, TimedCase, bench_case, delays_ms, model_case, report_lines
from harness.sweeps.update import UpdateRig, record


def _milliseconds(text: str, *, step: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of milliseconds: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number of milliseconds, not {text!r}")
    low_ok = value > 0 if step else value >= 0
    if not low_ok or value > MAX_DELAY_MS:
        raise argparse.ArgumentTypeError(f"must be {'more than 0' if step else '0'}..{MAX_DELAY_MS:.0f} ms, not {text}")
    return value


def _delay(text: str) -> float:
    return _milliseconds(text)


def _step(text: str) -> float:
    return _milliseconds(text, step=True)


def _size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of bytes: {text!r}") from None
    if not MIN_SIZE <= value <= SLOT_APP_MAX:
        raise argparse.ArgumentTypeError(f"must be {MIN_SIZE}..{SLOT_APP_MAX} bytes (the application slot), not {text}")
    return value


def add_timed(kinds: Any) -> None:
    p = kinds.add_parser("timed", help="cut the update at a range of delays after a console pattern (model or rig)")
    p.add_argument("--after", required=True, metavar="PATTERN", help="console text the delay counts from")
    p.add_argument("--from", dest="start", type=_delay, required=True, metavar="MS", help="first delay (ms)")
    p.add_argument("--to", dest="stop", type=_delay, required=True, metavar="MS", help="last delay (ms)")
    p.add_argument("--step", type=_step, default=10.0, metavar="MS", help="delay step (ms, default 10)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of torn operations (default 1)")
    model = p.add_argument_group("virtual board (the default)")
    model.add_argument("--size", type=_size, default=None, help="image size in bytes (default 16384)")
    model.add_argument("--quirks", default=None, help=QUIRKS_HELP)
    model.add_argument("--v2", choices=("healthy", "crash", "hang"), default=None, help="what v2 does after the jump")
    rig = p.add_argument_group("a board: real, labgrid, or served by otaloop board")
    where = rig.add_mutually_exclusive_group()
    where.add_argument("--port", help="the board's console: device path or pyserial URL")
    where.add_argument("--lg-env", type=Path, metavar="ENV.yaml", help="a labgrid environment (console and power)")
    rig.add_argument("--lg-target", default="main", metavar="ROLE", help="labgrid target role (default main)")
    rig.add_argument("--control", type=Path, help="with --port: the control socket of `otaloop board --control`")
    rig.add_argument("--power-on", help="with --port: command that switches board power on")
    rig.add_argument("--power-off", help="with --port: command that switches board power off")
    rig.add_argument("--images", type=Path, help="directory of <config>_v<N>.bin (v1 and v2 of the factory config)")
    rig.add_argument("--http", metavar="HOST:PORT", help="the image server address built into SYS_OTA_URL")
    rig.add_argument("--factory-config", choices=sorted(CONFIGS), default="auto", help="the board's factory app")
    rig.add_argument("--manifest-path", default="/ota.json", help="path of SYS_OTA_URL on the server")
    rig.add_argument(
        "--reconnect", type=float, default=DEFAULT_RECONNECT, metavar="SECONDS", help="console reopen wait"
    )
    rig.add_argument("--log-dir", type=Path, help="write the console log here (console.log)")
    p.set_defaults(func=run_timed)


def _progress(c: TimedCase) -> None:
    print(f"  {c.delay_ms:>8g} ms  {c.verdict.value}", file=sys.stderr, flush=True)


def run_timed(args: argparse.Namespace) -> int:
    delays = delays_ms(args.start, args.stop, args.step)
    if not args.after:
        raise CallerError("--after is empty")
    if args.seed < 0:
        raise CallerError("--seed must be >= 0")
    on_board = args.port is not None or args.lg_env is not None
    if not on_board:
        for name in ("control", "power_on", "power_off", "images", "http", "log_dir"):
            if getattr(args, name) is not None:
                raise CallerError(f"--{name.replace('_', '-')} needs --port or --lg-env")
        params = Params(
            Params.size if args.size is None else args.size,
            Params.quirks if args.quirks is None else args.quirks,
            args.v2 or Params.v2,
        )
        t0 = time.perf_counter()
        with ImageServer() as server:
            rig = UpdateRig(params, server)
            ref = record(rig)
            cases = []
            for d in delays:
                cases.append(model_case(rig, ref, args.after, d, seed=args.seed))
                _progress(cases[-1])
        print(f"Timed cuts {delays[0]:g}..{delays[-1]:g} ms after {args.after!r}, {params.scenario} (virtual board):")
        print("\n".join(report_lines(cases, model=True)))
        print(f"({time.perf_counter() - t0:.1f} s)")
        return 0
    for name in ("size", "quirks", "v2"):
        if getattr(args, name) is not None:
            raise CallerError(f"--{name} applies to the virtual board only; a board runs its own images")
    with _serial(args) as serial:
        cases = []
        for d in delays:
            cases.append(bench_case(serial, args.after, d, seed=args.seed))
            _progress(cases[-1])
    print(f"Timed cuts {delays[0]:g}..{delays[-1]:g} ms after {args.after!r} on {args.port or args.lg_env}:")
    print("\n".join(report_lines(cases, model=False)))
    return 0


def _serial(args: argparse.Namespace) -> contextlib.AbstractContextManager[SerialBench]:
    from harness.cli.run import serial_bench

    if args.images is None or args.http is None:
        raise CallerError("a board needs --images DIR and --http HOST:PORT (the address in its SYS_OTA_URL)")
    power: PowerControl | None = None
    if args.control is not None:
        if args.power_on or args.power_off:
            raise CallerError("give --control or --power-on/--power-off, not both")
        power = ChannelPower(args.control)
    elif args.power_on and args.power_off:
        power = CommandPower(args.power_on, args.power_off)
    elif args.power_on or args.power_off:
        raise CallerError("give both --power-on and --power-off, or neither")
    elif args.lg_env is None:
        raise CallerError("a timed sweep on a board needs power: --power-on and --power-off, or --control")
    return serial_bench(args, power, power_flags="--control/--power-on/--power-off")
