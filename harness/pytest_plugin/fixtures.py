"""The fixtures a test asks for by name: ``ota_bench``, ``ota_board``, ``ota_server``, ``ota_images``,
``ota_power``, ``ota_switch`` and ``virtual_board``.

* ``ota_bench``: the whole :class:`~harness.scenarios.base.Bench` (driver, image server, images, power,
  virtual hooks), the board provisioned (virtual) or back at its factory app (real) and not yet started:
  what a library scenario takes.
* ``ota_board``: the :class:`~harness.board_link.driver.BoardDriver` of that board after it booted into its
  application and the OTA service got its network (ready for ``otactl`` commands).
* ``ota_server``: the fault-injecting :class:`~harness.image.server.ImageServer` the board downloads from.
* ``ota_images``: the image factory: synthetic images for a virtual board, ``--otaloop-images`` files for a
  real one (``ota_images.app(config, version)``).
* ``ota_power``: a :class:`~harness.board_link.power.PowerControl`: the virtual board's supply, or the
  ``--otaloop-power-on/-off`` commands (skips on a real board without them).
* ``ota_switch``: SWITCH1, a :class:`~harness.board_link.switch.SwitchControl` (``press``, ``release``,
  ``click``): the virtual board's button, or the ``--otaloop-switch-press/-release`` commands (skips on a real
  board without them). ``ota_bench.press_switch()`` and ``virtual_board.press_switch()`` do the same.
* ``virtual_board``: the :class:`~harness.scenarios.virtual_hooks.VirtualHooks` of a virtual board: power,
  cuts at a flash operation, looking into flash, board time; skips on a real board.

All are function-scoped and share one bench per test. ``ota_board``, ``ota_bench`` and ``virtual_board`` also
read and type on the console as pytest-embedded's ``dut`` does: ``expect(pattern, timeout=...)`` and
``write(line)``. This module only wires fixtures to
:mod:`harness.pytest_plugin.boards` and :mod:`harness.pytest_plugin.reports`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.pytest_plugin.boards import Benches, Lease
from harness.pytest_plugin.markers import board_request
from harness.pytest_plugin.options import LABGRID_PREFIX, Settings
from harness.pytest_plugin.parallel import worker_index
from harness.pytest_plugin.reports import CONSOLE, TestConsole, finish

if TYPE_CHECKING:
    from harness.board_link.driver import BoardDriver
    from harness.board_link.power import PowerControl
    from harness.board_link.switch import SwitchControl
    from harness.image.server import ImageServer
    from harness.scenarios.base import Bench, ImageFactory
    from harness.scenarios.virtual_hooks import VirtualHooks

SETTINGS = pytest.StashKey[Settings]()
BENCHES = pytest.StashKey[Benches]()
LEASE = pytest.StashKey[Lease]()
#: The OTA service's line once its network is up (spec section 9); otactl works from then on.
NETWORK_UP = b"SYS OTA : IP address obtained for preferred interface for OTA"
#: Set on an item that needs a fresh board even under ``--otaloop-reuse`` (the library scenarios).
FRESH = pytest.StashKey[bool]()


def settings_of(config: pytest.Config) -> Settings:
    return config.stash[SETTINGS]


#: Why a test must fail although its board was set up (``--otaloop-start keep`` found it off its factory app).
START_FAILURE = pytest.StashKey[str]()
#: The folder of this process's per-test console logs.
LOG_DIR = pytest.StashKey[Path]()


def log_dir_of(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``--otaloop-log-dir``, else ``otaloop-logs`` in pytest's base temporary directory (the same folder
    for every pytest-xdist worker: a worker's base directory is a subfolder of the controller's)."""
    given = settings_of(config).log_dir
    if given is not None:
        return given
    base = tmp_path_factory.getbasetemp()
    if getattr(config, "workerinput", None):
        base = base.parent
    return base / "otaloop-logs"


@pytest.fixture(scope="session", name="_otaloop_benches")
def otaloop_benches(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Benches]:
    """The boards of this pytest process (one per pytest-xdist worker), closed when the session ends.

    The fixture's name, ``_otaloop_benches``, keeps it out of ``pytest --fixtures``: tests ask for
    ``ota_bench`` or ``ota_board``, which lease a board from it.
    """
    settings = settings_of(pytestconfig)
    pytestconfig.stash[LOG_DIR] = log_dir_of(pytestconfig, tmp_path_factory)
    labgrid_env = None
    if any(port.startswith(LABGRID_PREFIX) for port in settings.ports):
        from harness.scenarios.labgrid_bench import pytest_environment

        labgrid_env = pytest_environment(pytestconfig)
    benches = Benches(settings, worker_index(pytestconfig), labgrid_env)
    pytestconfig.stash[BENCHES] = benches  # for the report hook: a test that found the board dead
    yield benches
    benches.close()


@pytest.fixture
def ota_bench(request: pytest.FixtureRequest, _otaloop_benches: Benches) -> Iterator[Bench]:
    """The board under test with its driver, image server, images and power: not started yet."""
    from bootloader_model.errors import OtaloopError

    settings = _otaloop_benches.settings
    item = request.node
    want = board_request(item, settings, fresh=item.stash.get(FRESH, False))
    record: TestConsole | None = None
    try:
        with _otaloop_benches.lease(want) as lease:
            record = TestConsole(lease.bench.console, lease.console_start, lease.board, backlog=lease.backlog)
            item.stash[CONSOLE] = record
            item.stash[LEASE] = lease
            if lease.start_failure is not None:
                item.stash[START_FAILURE] = lease.start_failure
            yield lease.bench
    except OtaloopError as exc:
        when = "set up" if record is None else "close"
        pytest.fail(f"otaloop: cannot {when} the board: {type(exc).__name__}: {exc}", pytrace=False)
    finally:
        if record is not None:
            finish(item, record, request.config.stash[LOG_DIR])


@pytest.fixture
def ota_board(request: pytest.FixtureRequest, ota_bench: Bench, _otaloop_benches: Benches) -> BoardDriver:
    """The board's driver, after the board booted into its application (``APP: version <n>``)."""
    from bootloader_model.errors import BoardError

    lease = request.node.stash[LEASE]
    if not _otaloop_benches.was_booted(lease):
        try:
            info = ota_bench.start()
        except BoardError as exc:
            _otaloop_benches.board_died(exc)
            pytest.fail(f"otaloop: the board did not boot: {type(exc).__name__}: {exc}", pytrace=False)
        if info.app_version is None:
            pytest.fail("otaloop: the board booted but no application came up (no 'APP: version' line)", pytrace=False)
        try:
            # The OTA service takes control messages (otactl) once its network is up.
            ota_bench.console.expect(NETWORK_UP, ota_bench.wall(60))
        except BoardError as exc:
            pytest.fail(f"otaloop: the application's OTA service never got its network: {exc}", pytrace=False)
        _otaloop_benches.mark_booted(lease)
    return ota_bench.driver


@pytest.fixture
def ota_server(ota_bench: Bench) -> ImageServer:
    """The HTTP image server the board downloads manifests and images from (with fault injection)."""
    return ota_bench.server


@pytest.fixture
def ota_images(ota_bench: Bench) -> ImageFactory:
    """Application images for this board: ``ota_images.app(config, version)``."""
    return ota_bench.images


@pytest.fixture
def ota_power(ota_bench: Bench) -> PowerControl:
    """The board's power switch (virtual supply, or the power commands of a real board)."""
    if ota_bench.virtual is not None:
        from harness.scenarios.virtual_hooks import VirtualPower

        return VirtualPower(ota_bench.virtual)
    if ota_bench.power is None:
        pytest.skip("ota_power: this real board has no power control (give --otaloop-power-on and --otaloop-power-off)")
    return ota_bench.power


@pytest.fixture
def ota_switch(ota_bench: Bench) -> SwitchControl:
    """The board's SWITCH1 (the virtual board's button, or the switch commands of a real board)."""
    if ota_bench.virtual is not None:
        from harness.scenarios.virtual_hooks import VirtualSwitch

        return VirtualSwitch(ota_bench.virtual)
    if ota_bench.switch is None:
        pytest.skip(
            "ota_switch: this real board has no SWITCH1 control (give --otaloop-switch-press and "
            "--otaloop-switch-release)"
        )
    return ota_bench.switch


@pytest.fixture
def virtual_board(request: pytest.FixtureRequest) -> VirtualHooks:
    """The in-process virtual board (thread-safe hooks): power, flash cuts, flash contents, board time."""
    if settings_of(request.config).real:
        pytest.skip("virtual_board: this run drives a real board (--otaloop-port); it needs the virtual board")
    bench: Bench = request.getfixturevalue("ota_bench")
    assert bench.virtual is not None  # every virtual bench has its hooks
    return bench.virtual
