"""The plugin's ``--otaloop-*`` command-line options, their ``pytest.ini`` / ``pyproject.toml`` keys, and
:class:`Settings`, the validated values a run uses.

Every option has an ini key of the same name with ``otaloop_`` and underscores (``--otaloop-log-dir`` is
``otaloop_log_dir``), except ``--otaloop-scenarios``, which is a per-run choice. A command-line value wins
over the ini value. Options that can name one board per pytest-xdist worker (``--otaloop-port``,
``--otaloop-http``, ``--otaloop-images``) may be repeated; in an ini file they are one value per line.

This module only reads and checks values; it starts nothing (see :mod:`harness.pytest_plugin.boards`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bootloader_model.quirks import HARMONY_NAME

#: Factory configurations and the default bootloader, repeated here so that reading options imports nothing
#: heavy; ``tests/test_pytest_plugin.py`` checks them against ``harness.scenarios.CONFIGS`` and
#: ``bootloader_model.bootloader.program.MODEL`` (whose package imports the whole bootloader model).
CONFIG_NAMES = ("auto", "manual", "manual-longcmd", "manual-noreset", "notify")
LINKS = ("pty", "inproc")
DEFAULT_BOOTLOADER = "model"
#: ``--otaloop-start``: harness.scenarios.rig_check.START_MODES, checked by the plugin's tests.
START_MODES = ("factory", "keep")
DEFAULT_SPEED = 1000.0
DEFAULT_TAIL = 20
DEFAULT_RECONNECT = 30.0  # harness.scenarios.benches.DEFAULT_RECONNECT, checked by the plugin's tests
DEFAULT_BOOT_TIMEOUT = 20.0  # harness.scenarios.benches.DEFAULT_BOOT_TIMEOUT, checked likewise
#: ``--otaloop-port labgrid:ROLE`` takes the board from the target ROLE of labgrid's ``--lg-env``.
LABGRID_PREFIX = "labgrid:"


@dataclass(frozen=True)
class RealBoard:
    """What one pytest process needs to drive a real board: its console, server address and images."""

    port: str
    http_host: str
    http_port: int
    images: Path


@dataclass(frozen=True)
class Settings:
    """The validated ``--otaloop-*`` values of one pytest run."""

    ports: tuple[str, ...] = ()
    http: tuple[tuple[str, int], ...] = ()
    images: tuple[Path, ...] = ()
    factory_config: str = "auto"
    manifest_path: str = "/ota.json"
    quirks: str = HARMONY_NAME
    speed: float = DEFAULT_SPEED
    bootloader: str = DEFAULT_BOOTLOADER
    application: str = DEFAULT_BOOTLOADER
    power_on: str | None = None
    power_off: str | None = None
    switch_press: str | None = None
    switch_release: str | None = None
    reconnect: float = DEFAULT_RECONNECT
    boot_timeout: float = DEFAULT_BOOT_TIMEOUT
    log_dir: Path | None = None
    link: str = "pty"
    reuse: bool = False
    start: str = "factory"
    scenarios: bool = False
    tail: int = DEFAULT_TAIL
    #: Whether any otaloop option or ini key was set (the plugin stays silent otherwise).
    given: bool = False

    @property
    def real(self) -> bool:
        """True when the run drives real boards (``--otaloop-port``), False for virtual boards."""
        return bool(self.ports)

    @property
    def has_power(self) -> bool:
        """Power commands given, or the boards are labgrid targets (``labgrid:ROLE``), whose power driver counts."""
        commands = self.power_on is not None and self.power_off is not None
        return commands or (self.real and all(p.startswith(LABGRID_PREFIX) for p in self.ports))

    def real_board(self, index: int) -> RealBoard:
        """The board of worker ``index`` (0 without pytest-xdist): its port, server address and images."""
        if not self.real:
            raise ValueError("no real board in a virtual run")
        if index >= len(self.ports):
            raise pytest.UsageError(
                f"pytest-xdist worker {index} has no board: give --otaloop-port once per worker "
                f"({len(self.ports)} given)"
            )
        host, port = self.http[index] if len(self.http) > 1 else self.http[0]
        images = self.images[index] if len(self.images) > 1 else self.images[0]
        return RealBoard(self.ports[index], host, port, images)

    def power_commands(self, index: int) -> tuple[str, str] | None:
        """The power commands of worker ``index``'s board, ``{index}`` replaced by that number."""
        if self.power_on is None or self.power_off is None:
            return None
        return self.power_on.replace("{index}", str(index)), self.power_off.replace("{index}", str(index))

    def switch_commands(self, index: int) -> tuple[str, str] | None:
        """The SWITCH1 commands of worker ``index``'s board, ``{index}`` replaced by that number."""
        if self.switch_press is None or self.switch_release is None:
            return None
        return self.switch_press.replace("{index}", str(index)), self.switch_release.replace("{index}", str(index))

    def describe(self) -> str:
        """One line for pytest's header: which boards this run drives and how."""
        if self.real:
            where = ", ".join(self.ports)
            http = ", ".join(f"{h}:{p}" for h, p in self.http)
            power = "power commands" if self.has_power else "no power control"
            start = {
                "factory": "brought to its factory app v1 before the first test",
                "keep": "left as it is at the start (--otaloop-start keep)",
            }[self.start]
            return (
                f"otaloop: real board(s) at {where}; image server {http}; factory config {self.factory_config}; "
                f"{power}{'; reusing the board between tests' if self.reuse else ''}; session start: "
                f"version, OTA options and images checked, board {start}"
            )
        return (
            f"otaloop: virtual boards ({self.link} console, speed {self.speed:g}, quirks {self.quirks}, "
            f"bootloader {self.bootloader}, "
            + (f"application {self.application}, " if self.application != DEFAULT_BOOTLOADER else "")
            + f"factory config {self.factory_config}){'; one board per configuration, reused' if self.reuse else ''}"
            "; session start: each board freshly provisioned with its factory app v1"
        )


# ------------------------------------------------------------------------------------------ registering
_HELP = {
    "port": "a real board's console: device path or pyserial URL, or labgrid:ROLE for the target ROLE of "
    "labgrid's --lg-env (repeat once per pytest-xdist worker); without it every test gets a fresh virtual board",
    "http": "HOST:PORT where the image server listens, the address in the firmware's SYS_OTA_URL "
    "(real boards; once per --otaloop-port, or once for one board)",
    "images": "directory of <config>_v<N>.bin application images for a real board (once, or once per port)",
    "factory_config": f"factory configuration: {', '.join(CONFIG_NAMES)}; on a real board, the one it was "
    "flashed with (default auto)",
    "manifest_path": "path of SYS_OTA_URL on the image server (default /ota.json)",
    "quirks": f"virtual board quirk profile: {HARMONY_NAME} (default) or corrected, optionally ',+NAME' / ',-NAME'",
    "speed": f"virtual board seconds per wall second (default {DEFAULT_SPEED:g})",
    "bootloader": f"virtual board bootloader: {DEFAULT_BOOTLOADER} (the Python model, default) or native:CACHE_DIR "
    "(your bootloader C code built by otaloop native build)",
    "application": f"virtual board application: {DEFAULT_BOOTLOADER} (the Python model, default) or "
    "native:CACHE_DIR (your application C code built by otaloop native build --application)",
    "power_on": "command that switches a real board's power on ({index} is the worker's board number)",
    "power_off": "command that switches a real board's power off ({index} is the worker's board number)",
    "switch_press": "command that presses a real board's SWITCH1 ({index} is the worker's board number)",
    "switch_release": "command that releases a real board's SWITCH1 ({index} is the worker's board number)",
    "reconnect": "how long a real board's vanished console port (USB re-enumeration after a power cycle) may "
    f"take to come back before its test fails (default {DEFAULT_RECONNECT:g}; 0: never reopen)",
    "boot_timeout": "how long a real board may take to print its bootloader banner after a reset or power-on "
    f"before it counts as dead (default {DEFAULT_BOOT_TIMEOUT:g}); later tests then fail at once until it "
    "prints one again",
    "log_dir": "write each test's raw console log to DIR/<test id>.log (default: otaloop-logs in pytest's "
    "base temporary directory; the terminal summary names it; DIR is created, and checked writable before any "
    "test runs)",
    "start": "factory (default): before the first test, check the real board's version, OTA options and images "
    "and bring it to its factory app; keep: check, but leave it as it is",
    "link": "virtual board console: a real pty (default) or in-process",
    "reuse": "keep one board for the whole run instead of a fresh virtual board (or a factory-restored real "
    "board) per test",
    "tail": f"console lines shown with a failure (default {DEFAULT_TAIL})",
}
_REPEATED = ("port", "http", "images")
_METAVARS = {
    "port": "URL",
    "http": "HOST:PORT",
    "images": "DIR",
    "factory_config": "NAME",
    "manifest_path": "PATH",
    "quirks": "PROFILE",
    "speed": "N",
    "bootloader": "SPEC",
    "application": "SPEC",
    "power_on": "CMD",
    "power_off": "CMD",
    "switch_press": "CMD",
    "switch_release": "CMD",
    "reconnect": "SECONDS",
    "boot_timeout": "SECONDS",
    "log_dir": "DIR",
    "link": "pty|inproc",
    "start": "factory|keep",
    "tail": "N",
}


def add_options(parser: pytest.Parser) -> None:
    """Register the option group and the ini keys (pytest's ``pytest_addoption``)."""
    group = parser.getgroup("otaloop", "otaloop: Harmony OTA boards, virtual or real")
    for key, text in _HELP.items():
        flag = "--otaloop-" + key.replace("_", "-")
        dest = "otaloop_" + key
        metavar = _METAVARS.get(key, key.upper())
        if key in _REPEATED:
            group.addoption(flag, dest=dest, action="append", metavar=metavar, help=text)
            parser.addini(dest, text, type="linelist", default=[])
        elif key == "reuse":
            group.addoption(flag, dest=dest, action="store_true", default=None, help=text)
            parser.addini(dest, text, type="bool", default=False)
        else:
            group.addoption(flag, dest=dest, metavar=metavar, help=text)
            parser.addini(dest, text, default=None)
    group.addoption(
        "--otaloop-scenarios",
        dest="otaloop_scenarios",
        action="store_true",
        default=False,
        help="also collect every scenario of otaloop's library as a test (otaloop-scenarios::<name>)",
    )


def _raw(config: pytest.Config, key: str) -> tuple[Any, bool, Path | None]:
    """The value of ``key``: from the command line, else the ini file; whether it was set; the base
    directory a relative path in it is relative to (the ini file's directory for ini values)."""
    dest = "otaloop_" + key
    value = config.getoption(dest, None)
    if value is not None:
        return value, True, None
    ini = config.getini(dest)
    if ini in (None, [], ""):
        return None, False, None
    if key == "reuse" and ini is False:
        return False, False, None
    base = config.inipath.parent if config.inipath else config.rootpath
    return ini, True, base


def _path(value: str, base: Path | None) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() or base is None else base / p


def _http(spec: str) -> tuple[str, int]:
    host, sep, port = spec.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise pytest.UsageError(f"--otaloop-http {spec!r}: expected HOST:PORT with PORT 1..65535")
    return host, int(port)


def read_settings(config: pytest.Config) -> Settings:
    """Read and check every otaloop option; a bad value is a :class:`pytest.UsageError` naming it."""
    given = False
    values: dict[str, Any] = {}
    for key in (*_HELP, "scenarios"):
        if key == "scenarios":
            values[key] = bool(config.getoption("otaloop_scenarios", False))
            given = given or values[key]
            continue
        value, was_set, base = _raw(config, key)
        given = given or was_set
        values[key] = (value, base)

    ports = tuple(str(p).strip() for p in (values["port"][0] or []) if str(p).strip())
    http = tuple(_http(str(h)) for h in (values["http"][0] or []))
    images = tuple(_path(str(d), values["images"][1]) for d in (values["images"][0] or []))

    def text(key: str, default: str) -> str:
        value = values[key][0]
        return default if value is None else str(value).strip()

    factory_config = text("factory_config", "auto")
    if factory_config not in CONFIG_NAMES:
        raise pytest.UsageError(f"--otaloop-factory-config {factory_config!r}: choose one of {', '.join(CONFIG_NAMES)}")
    link = text("link", "pty")
    if link not in LINKS:
        raise pytest.UsageError(f"--otaloop-link {link!r}: choose pty or inproc")
    try:
        speed = float(text("speed", str(DEFAULT_SPEED)))
    except ValueError:
        raise pytest.UsageError(f"--otaloop-speed {values['speed'][0]!r}: expected a number") from None
    if values["speed"][0] is not None:  # the default needs no check (and the check imports the board runner)
        _check_speed(speed)
    try:
        tail = int(text("tail", str(DEFAULT_TAIL)))
    except ValueError:
        raise pytest.UsageError(f"--otaloop-tail {values['tail'][0]!r}: expected a whole number") from None
    if tail < 0:
        raise pytest.UsageError(f"--otaloop-tail must be >= 0, got {tail}")
    # Defaults need no check: checking imports the board model, which a session that uses no board never needs.
    quirks = text("quirks", HARMONY_NAME)
    if values["quirks"][0] is not None:
        _check_quirks(quirks)
    bootloader = text("bootloader", DEFAULT_BOOTLOADER)
    if values["bootloader"][0] is not None:
        _check_program("bootloader", bootloader, values["bootloader"][1])
    application = text("application", DEFAULT_BOOTLOADER)
    if values["application"][0] is not None:
        _check_program("application", application, values["application"][1])
    manifest_path = text("manifest_path", "/ota.json")
    if not manifest_path.startswith("/"):
        raise pytest.UsageError(f"--otaloop-manifest-path {manifest_path!r}: must start with /")
    power_on, power_off = values["power_on"][0], values["power_off"][0]
    if (power_on is None) != (power_off is None):
        raise pytest.UsageError("give both --otaloop-power-on and --otaloop-power-off, or neither")
    for name, cmd in (("on", power_on), ("off", power_off)):
        if cmd is not None and not str(cmd).strip():
            raise pytest.UsageError(f"--otaloop-power-{name} is empty")
    switch_press, switch_release = values["switch_press"][0], values["switch_release"][0]
    if (switch_press is None) != (switch_release is None):
        raise pytest.UsageError("give both --otaloop-switch-press and --otaloop-switch-release, or neither")
    for name, cmd in (("press", switch_press), ("release", switch_release)):
        if cmd is not None and not str(cmd).strip():
            raise pytest.UsageError(f"--otaloop-switch-{name} is empty")
    try:
        reconnect = float(text("reconnect", str(DEFAULT_RECONNECT)))
    except ValueError:
        raise pytest.UsageError(f"--otaloop-reconnect {values['reconnect'][0]!r}: expected seconds") from None
    if reconnect < 0:
        raise pytest.UsageError(f"--otaloop-reconnect must be >= 0 seconds, got {reconnect:g}")
    try:
        boot_timeout = float(text("boot_timeout", str(DEFAULT_BOOT_TIMEOUT)))
    except ValueError:
        raise pytest.UsageError(f"--otaloop-boot-timeout {values['boot_timeout'][0]!r}: expected seconds") from None
    if not boot_timeout > 0:
        raise pytest.UsageError(f"--otaloop-boot-timeout must be > 0 seconds, got {boot_timeout:g}")
    log_dir = None if values["log_dir"][0] is None else _path(str(values["log_dir"][0]), values["log_dir"][1])
    if log_dir is not None:
        _check_log_dir(log_dir)
    reuse = bool(values["reuse"][0])
    start = text("start", "factory")
    if start not in START_MODES:
        raise pytest.UsageError(f"--otaloop-start {start!r}: choose factory or keep")

    if ports:
        if not http:
            raise pytest.UsageError(
                "--otaloop-port needs --otaloop-http HOST:PORT, the server address built into the firmware's "
                "SYS_OTA_URL"
            )
        if not images:
            raise pytest.UsageError("--otaloop-port needs --otaloop-images DIR with the application .bin files")
        for name, count in (("--otaloop-http", len(http)), ("--otaloop-images", len(images))):
            if count not in (1, len(ports)):
                raise pytest.UsageError(
                    f"{count} {name} values for {len(ports)} --otaloop-port values: give one, or one per port"
                )
        if len(ports) > 1 and len(http) == 1:
            raise pytest.UsageError(
                f"{len(ports)} boards cannot share one image server address: give --otaloop-http once per port"
            )
        for directory in images:
            if not directory.is_dir():
                raise pytest.UsageError(f"--otaloop-images {directory} is not a directory")

    return Settings(
        ports=ports,
        http=http,
        images=images,
        factory_config=factory_config,
        manifest_path=manifest_path,
        quirks=quirks,
        speed=speed,
        bootloader=bootloader,
        application=application,
        power_on=None if power_on is None else str(power_on),
        power_off=None if power_off is None else str(power_off),
        switch_press=None if switch_press is None else str(switch_press),
        switch_release=None if switch_release is None else str(switch_release),
        reconnect=reconnect,
        boot_timeout=boot_timeout,
        log_dir=log_dir,
        link=link,
        reuse=reuse,
        start=start,
        scenarios=values["scenarios"],
        tail=tail,
        given=given,
    )


def _check_log_dir(directory: Path) -> None:
    """Make sure the console logs can be written before any test runs: create the folder and write (then
    remove) a probe file in it, so a file, a read-only folder or a path under a file is a usage error now
    rather than an error at every test's teardown."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise pytest.UsageError(f"--otaloop-log-dir {directory}: exists and is not a directory") from None
    except OSError as exc:
        raise pytest.UsageError(f"--otaloop-log-dir {directory}: cannot create it: {exc.strerror}") from None
    probe = directory / f".otaloop-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise pytest.UsageError(f"--otaloop-log-dir {directory}: cannot write in it: {exc.strerror}") from None


def _check_program(role: str, spec: str, base: Path | None) -> None:
    """``spec`` names a usable ``role`` (``bootloader`` or ``application``): the model, or a native cache
    that holds a build (an ini file's cache given by absolute path)."""
    from bootloader_model.errors import CallerError
    from harness.native.programs import application_from_spec, bootloader_from_spec

    if base is not None and spec.startswith("native:") and not Path(spec[7:]).is_absolute():
        raise pytest.UsageError(f"otaloop_{role} {spec!r} in the ini file: give an absolute cache path")
    try:
        (bootloader_from_spec if role == "bootloader" else application_from_spec)(spec)  # a usable build?
    except CallerError as exc:
        raise pytest.UsageError(f"--otaloop-{role}: {exc}") from None


def _check_speed(speed: float) -> None:
    from bootloader_model.errors import CallerError
    from harness.served_board.runner import check_speed

    try:
        check_speed(speed, "--otaloop-speed")
    except CallerError as exc:
        raise pytest.UsageError(str(exc)) from None


def _check_quirks(spec: str) -> None:
    from bootloader_model.errors import CallerError
    from bootloader_model.quirks import QuirkProfile

    try:
        QuirkProfile.named(spec)
    except CallerError as exc:
        raise pytest.UsageError(f"--otaloop-quirks: {exc}") from None
