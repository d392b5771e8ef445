"""A labgrid target as an otaloop bench: its console driver is the board's UART, its power driver the board's power.

labgrid (``pip install otaloop[labgrid]``) describes a lab in an environment YAML: a target whose
``RawSerialPort`` (a local device) or ``NetworkSerialPort`` (ser2net/RFC2217 on a remote exporter, or a
``RemotePlace`` acquired from a coordinator) carries the console, and whose power is an
``ExternalPowerDriver``, a PDU's ``NetworkPowerDriver``, a USB hub's ``USBPowerDriver``, and so on. This
module uses those drivers through labgrid's own protocols -- ``ConsoleProtocol`` (``SerialDriver``) and
``PowerProtocol`` -- and adapts them to what the harness already speaks:

* :class:`LabgridConsolePort`: pyserial's ``read``/``write``/``in_waiting`` over a console driver, and a
  :meth:`~LabgridConsolePort.reopen` that deactivates and reactivates the driver after its port vanished
  (labgrid waits for a managed resource such as ``USBSerialPort`` to reappear on activation);
* :class:`LabgridPower`: :class:`~harness.board_link.power.PowerControl` over a power driver;
* :func:`target_bench` / :func:`environment_bench`: a :class:`~harness.scenarios.benches.SerialBench` on a
  target, so the scenario library (``otaloop run --lg-env``) and a user's pytest tests (labgrid's own
  ``target`` fixture, or otaloop's plugin with ``--otaloop-port labgrid:ROLE``) run on it.

It re-implements no driver and holds no lab policy; labgrid is imported only when one of these is used.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootloader_model.errors import BoardError, CallerError, PortLost
from harness.scenarios.base import AppConfig
from harness.scenarios.benches import DEFAULT_BOOT_TIMEOUT, DEFAULT_RECONNECT, SerialBench

#: Largest read asked of the console driver at once (it returns what is waiting, at least one byte).
READ_CHUNK = 4096


def require_labgrid() -> Any:
    """Import labgrid, or say how to install it."""
    try:
        import labgrid
    except ImportError:
        raise CallerError("labgrid is not installed: pip install 'otaloop[labgrid]'") from None
    return labgrid


def pytest_environment(config: Any) -> Any:
    """labgrid's ``Environment`` of ``--lg-env`` when labgrid's pytest plugin is active, else None."""
    if not config.pluginmanager.has_plugin("labgrid"):
        return None
    try:
        from labgrid.pytestplugin.hooks import LABGRID_ENV_KEY
    except ImportError:
        return None
    return config.stash.get(LABGRID_ENV_KEY, None)


class LabgridConsolePort:
    """pyserial's surface over a labgrid ``ConsoleProtocol`` driver, bound and activated on ``target``."""

    def __init__(self, target: Any, driver: Any, *, timeout: float = 0.05) -> None:
        self.target = target
        self.driver = driver
        self.timeout = timeout
        port = getattr(driver, "port", None)
        where = getattr(port, "port", None) or getattr(port, "host", None) or "console"
        self.url = f"labgrid:{target.name}/{where}"

    @property
    def in_waiting(self) -> int:
        return 0  # read() returns whatever is waiting anyway

    def read(self, size: int = 1) -> bytes:
        import pexpect  # labgrid's console drivers signal "nothing arrived" with pexpect.TIMEOUT

        try:
            return bytes(self.driver.read(size=1, timeout=self.timeout, max_size=max(size, READ_CHUNK)))
        except pexpect.TIMEOUT:
            return b""

    def write(self, data: bytes) -> int:
        return int(self.driver.write(data) or len(data))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a port that vanished cannot be closed cleanly
            self.target.deactivate(self.driver)

    def reopen(self, wait: float, poll: float = 0.1) -> LabgridConsolePort:
        """Deactivate and reactivate the driver until its port opens again, for at most ``wait`` seconds."""
        start = time.monotonic()
        why = "not tried"
        while True:
            self.close()
            try:
                self.target.activate(self.driver)
                return self
            except Exception as exc:  # labgrid raises its own and pyserial's errors on activation
                why = str(exc) or type(exc).__name__
            waited = time.monotonic() - start
            if waited >= wait:
                raise PortLost(f"console {self.url} did not come back within {waited:.1f} s (last error: {why})")
            time.sleep(min(poll, max(0.0, wait - waited)))


class LabgridPower:
    """:class:`~harness.board_link.power.PowerControl` over a labgrid ``PowerProtocol`` driver."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def _do(self, action: str) -> None:
        try:
            getattr(self.driver, action)()
        except Exception as exc:  # a failed power command, an unreachable PDU: the rig misbehaved
            detail = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
            raise BoardError(f"labgrid power {action} failed ({self.driver}): {detail}") from None

    def on(self) -> None:
        self._do("on")

    def off(self) -> None:
        self._do("off")

    def cycle(self, off_time: float = 1.0) -> None:
        """labgrid's own cycle: its driver's ``cmd_cycle`` or off, its ``delay``, on."""
        self._do("cycle")


@dataclass
class TargetParts:
    """What otaloop uses of a labgrid target."""

    console: LabgridConsolePort
    power: LabgridPower | None


def target_parts(target: Any) -> TargetParts:
    """The target's console driver (activated) and power driver, if it has one, through labgrid's protocols."""
    labgrid = require_labgrid()
    protocol = labgrid.protocol
    try:
        console = target.get_driver(protocol.ConsoleProtocol)
    except labgrid.exceptions.NoDriverFoundError:
        raise CallerError(
            f"labgrid target {target.name!r} has no console driver (add a SerialDriver on its serial port)"
        ) from None
    except Exception as exc:  # activation opens the port: a missing device, a refused ser2net connection
        raise CallerError(f"labgrid target {target.name!r}: cannot activate its console: {exc}") from None
    try:
        power: Any = target.get_driver(protocol.PowerProtocol)
    except labgrid.exceptions.NoDriverFoundError:
        power = None
    return TargetParts(LabgridConsolePort(target, console), LabgridPower(power) if power is not None else None)


def target_bench(
    target: Any,
    images: Path,
    factory: AppConfig,
    *,
    http_host: str,
    http_port: int,
    manifest_path: str = "/ota.json",
    log: str | Path | None = None,
    reconnect: float = DEFAULT_RECONNECT,
    boot_timeout: float = DEFAULT_BOOT_TIMEOUT,
) -> SerialBench:
    """A :class:`SerialBench` on a labgrid target (see :func:`target_parts`); close it when done."""
    parts = target_parts(target)
    return SerialBench(
        parts.console.url,
        images,
        factory,
        http_host=http_host,
        http_port=http_port,
        manifest_path=manifest_path,
        power=parts.power,
        log=log,
        reconnect=reconnect,
        boot_timeout=boot_timeout,
        connection=parts.console,
        reopen=parts.console.reopen,
    )


@contextlib.contextmanager
def environment_bench(
    env_file: Path,
    images: Path,
    factory: AppConfig,
    *,
    role: str = "main",
    http_host: str,
    http_port: int,
    manifest_path: str = "/ota.json",
    log: str | Path | None = None,
    reconnect: float = DEFAULT_RECONNECT,
) -> Iterator[SerialBench]:
    """Load a labgrid environment YAML, take its target ``role`` and yield a bench on it; clean up after."""
    labgrid = require_labgrid()
    if not env_file.is_file():
        raise CallerError(f"labgrid environment {env_file} does not exist")
    try:
        env = labgrid.Environment(str(env_file))
    except Exception as exc:  # YAML and schema errors of labgrid's config loader
        raise CallerError(f"cannot load labgrid environment {env_file}: {exc}") from None
    target = env.get_target(role)
    if target is None:
        raise CallerError(f"labgrid environment {env_file} has no target {role!r}")
    try:
        bench = target_bench(
            target,
            images,
            factory,
            http_host=http_host,
            http_port=http_port,
            manifest_path=manifest_path,
            log=log,
            reconnect=reconnect,
        )
        try:
            yield bench
        finally:
            bench.close()
    finally:
        env.cleanup()
