"""``otaloop run``: run the scenario library against the virtual board (default) or a real board.

Virtual: every scenario gets a fresh board provisioned with its factory application, served on a real pty
(``--link inproc`` for an in-process port) by a board runner, with an HTTP image server on 127.0.0.1.
Real: ``--port`` opens the board's serial console with pyserial, ``--images`` holds the application
``.bin`` files per configuration and version, and scenarios that need the virtual board are skipped.
labgrid: ``--lg-env ENV.yaml`` takes the console and the power of a labgrid target (``--lg-target``,
default ``main``) through labgrid's own drivers instead of ``--port`` and the power commands.
Before the first scenario on a real board (``--start factory``, the default) the board's version, OTA options
and images are checked against the options and the board is brought to its factory app; ``--start keep``
checks but leaves it as it is. The second line of output says what was done.
Prints a summary table; exits 0 only if no scenario failed.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bootloader_model.bootloader.program import MODEL
from bootloader_model.errors import BoardDead, CallerError
from bootloader_model.quirks import HARMONY_NAME, QuirkProfile
from harness.board_link.power import CommandPower, PowerControl
from harness.board_link.switch import CommandSwitch
from harness.cli.help import QUIRKS_HELP, help_text
from harness.native.programs import APPLICATION_HELP, BOOTLOADER_HELP, application_from_spec, bootloader_from_spec
from harness.scenarios import CONFIGS, REGISTRY
from harness.scenarios.benches import DEFAULT_BOOT_TIMEOUT, DEFAULT_RECONNECT, LINKS, SerialBench
from harness.scenarios.rig_check import START_MODES
from harness.scenarios.runner import (
    Result,
    failures_text,
    run_suite,
    select,
    serial_provider,
    summary_table,
    virtual_provider,
)
from harness.served_board.runner import DEFAULT_SPEED, check_speed


def register(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="run the OTA scenario suite on the virtual board or a real one",
        description=help_text(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--virtual", action="store_true", help="run on fresh virtual boards (the default)")
    where.add_argument("--port", help="a real board's console: device path or pyserial URL (e.g. /dev/ttyACM0)")
    where.add_argument(
        "--lg-env",
        type=Path,
        metavar="ENV.yaml",
        help="a labgrid environment: its target's SerialDriver is the console, its power driver the power",
    )
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these scenarios")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    add_virtual_options(p)
    p.add_argument("--log-dir", type=Path, help="write each scenario's raw console log here (NAME.log)")
    real = p.add_argument_group("real board (with --port or --lg-env)")
    real.add_argument("--images", type=Path, help="directory of <config>_v<N>.bin application images")
    real.add_argument(
        "--factory-config",
        choices=sorted(CONFIGS),
        default="auto",
        help="configuration of the factory app flashed on the board (default auto)",
    )
    real.add_argument(
        "--http",
        metavar="HOST:PORT",
        help="where the image server listens: the host and port of the firmware's SYS_OTA_URL (required)",
    )
    real.add_argument("--manifest-path", default="/ota.json", help="path of SYS_OTA_URL on the server")
    real.add_argument(
        "--start",
        choices=START_MODES,
        default="factory",
        help="before the first scenario: check the board's version, OTA options and images, then bring it to its "
        "factory app (factory, the default) or leave it as it is (keep); a board not set up as declared stops the "
        "run at once",
    )
    real.add_argument("--lg-target", default="main", metavar="ROLE", help="labgrid target role (default main)")
    real.add_argument("--power-on", help="command that switches board power on")
    real.add_argument("--power-off", help="command that switches board power off")
    real.add_argument("--switch-press", metavar="CMD", help="command that presses SWITCH1 (a relay or GPIO across it)")
    real.add_argument("--switch-release", metavar="CMD", help="command that releases SWITCH1")
    real.add_argument(
        "--reconnect",
        type=float,
        default=DEFAULT_RECONNECT,
        metavar="SECONDS",
        help="how long a vanished console port (USB re-enumeration after a power cycle) may take to come back "
        f"before the scenario fails and the rest are not run (default {DEFAULT_RECONNECT:g}; 0: never reopen)",
    )
    real.add_argument(
        "--boot-timeout",
        type=float,
        default=DEFAULT_BOOT_TIMEOUT,
        metavar="SECONDS",
        help="how long to wait for the bootloader banner after a reset or power-on before calling the board dead "
        f"(default {DEFAULT_BOOT_TIMEOUT:g}); the scenarios after it then fail at once until it prints one again",
    )
    p.set_defaults(func=run_scenarios)


def add_virtual_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--quirks",
        default=HARMONY_NAME,
        help=QUIRKS_HELP,
    )
    p.add_argument(
        "--speed",
        type=float,
        default=DEFAULT_SPEED,
        help=f"virtual seconds per wall second (default {DEFAULT_SPEED:g})",
    )
    p.add_argument("--link", choices=LINKS, default="pty", help="virtual console: a real pty (default) or in-process")
    p.add_argument(
        "--bootloader",
        default=MODEL,
        help=BOOTLOADER_HELP,
    )
    p.add_argument("--application", default=MODEL, metavar="SPEC", help=APPLICATION_HELP)


def _http(spec: str) -> tuple[str, int]:
    host, sep, port = spec.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise CallerError(f"bad --http {spec!r}: expected HOST:PORT")
    return host, int(port)


def _command_power(args: argparse.Namespace) -> CommandPower | None:
    """``--power-on``/``--power-off`` as a power control (None without them)."""
    if not (args.power_on or args.power_off):
        return None
    if not (args.power_on and args.power_off):
        raise CallerError("give both --power-on and --power-off, or neither")
    return CommandPower(args.power_on, args.power_off)


def _command_switch(args: argparse.Namespace) -> CommandSwitch | None:
    """``--switch-press``/``--switch-release`` as a SWITCH1 control (None without them)."""
    press, release = getattr(args, "switch_press", None), getattr(args, "switch_release", None)
    if not (press or release):
        return None
    if not (press and release):
        raise CallerError("give both --switch-press and --switch-release, or neither")
    return CommandSwitch(press, release)


@contextlib.contextmanager
def serial_bench(args: argparse.Namespace, power: PowerControl | None, *, power_flags: str) -> Iterator[SerialBench]:
    """The bench of a real board from the options ``otaloop run`` and ``otaloop sweep timed`` share:
    ``--port`` (or ``--lg-env``/``--lg-target``), ``--images``, ``--http``, ``--factory-config``,
    ``--manifest-path``, ``--log-dir``, ``--reconnect`` and ``--boot-timeout`` where the command has it.
    With ``--lg-env`` the power is the labgrid target's, so ``power`` (given as ``power_flags``) is refused."""
    host, port = _http(args.http)
    log = None
    if args.log_dir is not None:
        args.log_dir.mkdir(parents=True, exist_ok=True)
        log = args.log_dir / "console.log"
    factory = CONFIGS[args.factory_config]
    if args.lg_env is not None:
        if power is not None:
            raise CallerError(f"with --lg-env the power comes from the labgrid target; drop {power_flags}")
        from harness.scenarios.labgrid_bench import environment_bench

        with environment_bench(
            args.lg_env,
            args.images,
            factory,
            role=args.lg_target,
            http_host=host,
            http_port=port,
            manifest_path=args.manifest_path,
            log=log,
            reconnect=args.reconnect,
        ) as lg_bench:
            yield lg_bench
        return
    bench = SerialBench(
        args.port,
        args.images,
        factory,
        http_host=host,
        http_port=port,
        manifest_path=args.manifest_path,
        power=power,
        log=log,
        reconnect=args.reconnect,
        boot_timeout=getattr(args, "boot_timeout", DEFAULT_BOOT_TIMEOUT),
        switch=_command_switch(args),
    )
    try:
        yield bench
    finally:
        bench.close()


def _progress(r: Result) -> None:
    print(f"  {r.status:4}  {r.name}", file=sys.stderr, flush=True)


def run_scenarios(args: argparse.Namespace) -> int:
    if args.list:
        for sc in REGISTRY.values():
            needs = f"  [needs {', '.join(sorted(sc.requires))}]" if sc.requires else ""
            print(f"{sc.name:24} {sc.factory.name:15} {sc.summary}{needs}")
        return 0
    scenarios = select(args.only)
    check_speed(args.speed, "--speed")
    if args.port is None and args.lg_env is None:
        profile = QuirkProfile.named(args.quirks)
        bootloader_from_spec(args.bootloader, profile)  # one error now, not one failed scenario per board
        application_from_spec(args.application)  # a bad spec or a missing build: one line, before any board
        provider = virtual_provider(
            link=args.link,
            speed=args.speed,
            profile=profile,
            log_dir=args.log_dir,
            bootloader=args.bootloader,
            application=args.application,
        )
        print(
            f"Running {len(scenarios)} scenario(s) on virtual boards (quirks {args.quirks}, speed {args.speed:g}, "
            f"bootloader {args.bootloader}"
            + (f", application {args.application})" if args.application != MODEL else ")")
        )
        print("Session start: each scenario gets a board freshly provisioned with its factory app v1", flush=True)
        results = run_suite(scenarios, provider, progress=_progress)
    else:
        if args.application != MODEL:
            raise CallerError(
                "--application runs on virtual boards; a real board runs the application it was flashed with"
            )
        where = args.port or f"labgrid target {args.lg_target} of {args.lg_env}"
        if args.images is None:
            raise CallerError(
                f"{'--port' if args.port else '--lg-env'} needs --images DIR with the application .bin files"
            )
        if args.http is None:
            raise CallerError("a real board needs --http HOST:PORT, the server address built into its SYS_OTA_URL")
        if args.reconnect < 0:
            raise CallerError(f"--reconnect must be >= 0 seconds, got {args.reconnect:g}")
        print(f"Running {len(scenarios)} scenario(s) on the board at {where}", flush=True)
        with serial_bench(args, _command_power(args), power_flags="--power-on/--power-off") as serial:
            try:
                print(f"Session start: {serial.start_session(args.start)}", flush=True)
            except BoardDead as exc:  # every scenario fails at once with the reason, and the table follows
                print(f"Session start: the board did not boot: {exc}", flush=True)
            results = run_suite(scenarios, serial_provider(serial), progress=_progress)
    print()
    print(summary_table(results))
    failed = failures_text(results)
    if failed:
        print("\nFailures:\n" + failed)
    return 1 if any(r.status == "FAIL" for r in results) else 0
