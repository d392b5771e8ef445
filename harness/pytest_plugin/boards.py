"""Where the plugin's benches come from: a fresh virtual board per test, or the run's real board.

:class:`Benches` lives for one pytest process (one per pytest-xdist worker). For a test it hands out a
:class:`Lease`: the :class:`~harness.scenarios.base.Bench` the fixtures expose and the console offset at
which the test began (for its log and report). Virtual benches are made by
:func:`harness.scenarios.benches.virtual_bench`, the real board is one
:class:`~harness.scenarios.benches.SerialBench`, exactly as ``otaloop run`` makes them. With
``--otaloop-reuse`` a virtual board is kept per factory configuration and quirk profile, and a real board
is not brought back to its factory app between tests; a test that needs a fresh board (the library
scenarios) still gets one.

Decisions about skipping (markers, capabilities) are :mod:`harness.pytest_plugin.markers`'; reporting is
:mod:`harness.pytest_plugin.reports`'.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from bootloader_model.errors import OtaloopError, RigMismatch
from harness.pytest_plugin.options import LABGRID_PREFIX, RealBoard, Settings

if TYPE_CHECKING:
    from harness.scenarios.base import Bench
    from harness.scenarios.benches import SerialBench


@dataclass(frozen=True)
class BoardRequest:
    """What a test asks of its board: the factory configuration, the quirk profile, a fresh board."""

    config: str
    quirks: str
    fresh: bool = False


@dataclass
class Lease:
    """One test's use of a bench: the bench, where its console began, and for a bench kept across tests
    (``--otaloop-reuse``) the key it is kept under."""

    bench: Bench
    console_start: int
    board: str  # "virtual" or "real:<port>", as the JUnit property shows it
    shared_key: tuple[str, str] | None = None
    #: Bytes the port had buffered before the test began: read, left out of its console and its log.
    backlog: int = 0
    #: Why the test must fail although its board was set up (``--otaloop-start keep`` on a board off its
    #: factory app): the plugin fails the test's call with it.
    start_failure: str | None = None


class Benches:
    """The boards of one pytest process: made on first use, closed at the end of the session."""

    def __init__(self, settings: Settings, worker: int, labgrid_env: Any = None) -> None:
        self.settings = settings
        self.worker = worker
        self.labgrid_env = labgrid_env  # labgrid's Environment of --lg-env, for ``labgrid:ROLE`` ports
        self._stack = contextlib.ExitStack()
        self._serial: SerialBench | None = None
        self._serial_error: str | None = None
        self._shared: dict[tuple[str, str], Bench] = {}
        self._booted: set[tuple[str, str]] = set()
        #: What the session start did to the real board (one line), once it ran.
        self.start_line: str | None = None
        #: Why the run should stop (the rig is not set up as declared), for the report hook.
        self.stop_reason: str | None = None

    def board_name(self) -> str:
        if not self.settings.real:
            return "virtual"
        return f"real:{self.settings.real_board(self.worker).port}"

    # ------------------------------------------------------------------------------------- leasing
    @contextlib.contextmanager
    def lease(self, want: BoardRequest) -> Iterator[Lease]:
        """A bench for one test, shaped by ``want``; a bench that cannot be made fails the test's setup."""
        if self.settings.real:
            with self._real_lease(want) as lease:
                yield lease
        elif self.settings.reuse and not want.fresh:
            yield self._shared_lease(want)
        else:
            with self._fresh_virtual(want) as bench:
                yield Lease(bench, console_start=0, board="virtual")

    def mark_booted(self, lease: Lease) -> None:
        if lease.shared_key is not None:
            self._booted.add(lease.shared_key)

    def was_booted(self, lease: Lease) -> bool:
        """Whether a shared board was already brought up by an earlier test (and, if virtual, is still on)."""
        if lease.shared_key is None or lease.shared_key not in self._booted:
            return False
        virtual = lease.bench.virtual
        if virtual is not None:
            from bootloader_model.board.virtual_board import AppState

            return bool(virtual.call(lambda b: b.state is not AppState.OFF))
        return True

    def _fresh_virtual(self, want: BoardRequest) -> contextlib.AbstractContextManager[Bench]:
        from bootloader_model.quirks import QuirkProfile
        from harness.scenarios import CONFIGS
        from harness.scenarios.benches import virtual_bench

        s = self.settings
        return virtual_bench(
            CONFIGS[want.config],
            link=s.link,
            speed=s.speed,
            profile=QuirkProfile.named(want.quirks),
            bootloader=s.bootloader,
            application=s.application,
        )

    def _shared_lease(self, want: BoardRequest) -> Lease:
        key = (want.config, want.quirks)
        bench = self._shared.get(key)
        if bench is None:
            bench = self._stack.enter_context(self._fresh_virtual(want))
            self._shared[key] = bench
        bench.server.clear_faults()
        bench.console.drain(quiet=0.05, limit=0.5)
        backlog = len(bench.console.buffer) - bench.console.pos
        bench.start_offset = bench.console.pos = len(bench.console.buffer)
        return Lease(bench, console_start=bench.start_offset, board="virtual", shared_key=key, backlog=backlog)

    @contextlib.contextmanager
    def _real_lease(self, want: BoardRequest) -> Iterator[Lease]:
        serial = self._serial_bench()
        if self.start_line is None:
            self._start_session(serial)
        failure = serial.take_start_failure()
        restore = want.fresh or not self.settings.reuse
        with serial.bench(restore=restore) as bench:
            key = None if restore else ("real", "")
            yield Lease(
                bench,
                console_start=serial.began_at,
                board=self.board_name(),
                shared_key=key,
                backlog=serial.backlog,
                start_failure=failure,
            )

    def _serial_bench(self) -> SerialBench:
        if self._serial_error is not None:
            pytest.fail(f"otaloop: the real board is unusable: {self._serial_error}", pytrace=False)
        if self._serial is None:
            from harness.board_link.power import CommandPower
            from harness.board_link.switch import CommandSwitch
            from harness.scenarios import CONFIGS
            from harness.scenarios.benches import SerialBench

            s = self.settings
            board = s.real_board(self.worker)
            commands = s.power_commands(self.worker)
            try:
                if board.port.startswith(LABGRID_PREFIX):
                    serial = self._labgrid_bench(board)
                else:
                    power = CommandPower(*commands) if commands else None
                    switches = s.switch_commands(self.worker)
                    switch = CommandSwitch(*switches) if switches else None
                    serial = SerialBench(
                        board.port,
                        board.images,
                        CONFIGS[s.factory_config],
                        http_host=board.http_host,
                        http_port=board.http_port,
                        manifest_path=s.manifest_path,
                        power=power,
                        reconnect=s.reconnect,
                        boot_timeout=s.boot_timeout,
                        switch=switch,
                    )
            except OtaloopError as exc:
                self._serial_error = str(exc)
                pytest.fail(f"otaloop: cannot use the real board: {exc}", pytrace=False)
            self._stack.callback(serial.close)
            self._serial = serial
        return self._serial

    def _start_session(self, serial: SerialBench) -> None:
        """The session start (``--otaloop-start``) on the real board, before its first test. A rig that is not
        set up as declared fails the test and stops the run; a dead board fails it and is tried again by the
        next test (which fails at once while the board shows no banner)."""
        from bootloader_model.errors import BoardDead

        was_dead = serial.dead is not None
        message = None
        try:
            self.start_line = serial.start_session(self.settings.start, option="--otaloop-start")
        except RigMismatch as exc:
            self._serial_error = str(exc)
            self.stop_reason = message = f"otaloop: {exc}"
        except BoardDead as exc:
            what = "cannot set up the board" if was_dead else "the board did not boot"
            message = f"otaloop: {what}: BoardDead: {exc}"
        except OtaloopError as exc:
            self._serial_error = str(exc)
            message = f"otaloop: the session start failed: {type(exc).__name__}: {exc}"
        if message is not None:  # outside the except clause: one line, no chained traceback
            pytest.fail(message, pytrace=False)

    def _labgrid_bench(self, board: RealBoard) -> SerialBench:
        """The board of a labgrid target: console and power through labgrid's drivers."""
        from harness.scenarios import CONFIGS
        from harness.scenarios.labgrid_bench import target_bench

        role = board.port[len(LABGRID_PREFIX) :] or "main"
        if self.labgrid_env is None:
            pytest.fail(f"otaloop: --otaloop-port {board.port} needs labgrid's --lg-env ENV.yaml", pytrace=False)
        target = self.labgrid_env.get_target(role)
        if target is None:
            pytest.fail(f"otaloop: the labgrid environment has no target {role!r}", pytrace=False)
        s = self.settings
        return target_bench(
            target,
            board.images,
            CONFIGS[s.factory_config],
            http_host=board.http_host,
            http_port=board.http_port,
            manifest_path=s.manifest_path,
            reconnect=s.reconnect,
            boot_timeout=s.boot_timeout,
        )

    def board_died(self, error: BaseException) -> None:
        """A test found the real board dead (:class:`~bootloader_model.errors.BoardDead`): later tests fail at
        once with the reason until it prints a banner again, as ``otaloop run`` does."""
        from bootloader_model.errors import BoardDead

        if self._serial is not None and isinstance(error, BoardDead) and self._serial.dead is None:
            self._serial.dead = str(error).split(":", 1)[0]

    def close(self) -> None:
        self._stack.close()
        self._shared.clear()
        self._serial = None
