"""Board-side access a scenario gets on a virtual bench: board time, power, flash cuts, the OTA directory.

Every call goes through the :class:`~harness.served_board.runner.BoardRunner`, so it is safe while the runner's
thread drives the board. Real benches have no such hooks; scenarios that need them declare
``requires={"virtual"}`` and are skipped on hardware. Given the bench's console, the hooks also ``expect`` and
``write`` on it (the pytest plugin's ``virtual_board`` fixture is these hooks). :class:`VirtualPower` is the
:class:`~harness.board_link.power.PowerControl` of a virtual bench.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar, overload

from bootloader_model.board.virtual_board import VirtualBoard
from bootloader_model.errors import CallerError
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import OTA_DIR
from bootloader_model.storage.nor_flash import FaultPlan
from harness.board_link.console import Console
from harness.served_board.runner import BoardRunner

T = TypeVar("T")


class VirtualHooks:
    """Board-side access for scenarios that declare ``requires={"virtual"}`` (thread-safe via the runner)."""

    def __init__(self, runner: BoardRunner, console: Console | None = None) -> None:
        self.runner = runner
        #: The board's console as the host reads it (for :meth:`expect` and :meth:`write`), if the bench has one.
        self.console = console
        self._t0 = runner.call(lambda b: b.clock.now())

    def _console(self) -> Console:
        if self.console is None:
            raise CallerError("these hooks were made without the board's console")
        return self.console

    @overload
    def expect(self, pattern: re.Pattern[str], timeout: float = 30.0) -> re.Match[str]: ...
    @overload
    def expect(self, pattern: str | bytes | re.Pattern[bytes], timeout: float = 30.0) -> re.Match[bytes]: ...
    def expect(
        self, pattern: str | bytes | re.Pattern[bytes] | re.Pattern[str], timeout: float = 30.0
    ) -> re.Match[bytes] | re.Match[str]:
        """The board's console, as pytest-embedded's ``dut.expect``: text (matched literally) or a compiled
        regular expression, within ``timeout`` wall seconds; see
        :meth:`~harness.board_link.driver.BoardDriver.expect`.

        Raises:
            ConsoleTimeout: not seen in time; the message ends with the console's last bytes.
        """
        return self._console().expect(pattern, timeout)

    def write(self, line: str) -> None:
        """Type ``line`` and a carriage return on the board's console (pytest-embedded's ``dut.write``)."""
        self._console().send_line(line)

    def call(self, fn: Callable[[VirtualBoard], T]) -> T:
        return self.runner.call(fn)

    def now(self) -> float:
        return self.runner.call(lambda b: b.clock.now()) - self._t0

    def printed_at(self, offset: int) -> float | None:
        """Board time (from the bench's start) when transcript byte ``offset`` was printed."""
        t = self.runner.call(lambda b: b.printed_at(offset))
        return None if t is None else t - self._t0

    def power_on(self) -> None:
        self.runner.call(lambda b: b.power_on())

    def power_off(self) -> None:
        self.runner.call(lambda b: b.power_off())

    def arm_cut(self, device: str, plan: FaultPlan) -> None:
        self.runner.call(lambda b: b.arm_cut(device, plan))

    def ota_files(self) -> list[str]:
        """Names in ``/mnt/myDrive1/ota`` as the external flash holds them now (board state untouched)."""

        def listing(b: VirtualBoard) -> list[str]:
            fs = ExternalFlash(b.external)
            fs.mount()
            return sorted(fs.listdir(OTA_DIR))

        return self.runner.call(listing)


class VirtualPower:
    """The :class:`~harness.board_link.power.PowerControl` protocol for a virtual board, switched in-process."""

    def __init__(self, hooks: VirtualHooks) -> None:
        self.hooks = hooks

    def on(self) -> None:
        self.hooks.power_on()

    def off(self) -> None:
        self.hooks.power_off()

    def cycle(self, off_time: float = 1.0) -> None:
        """Off, then on. ``off_time`` is accepted for the protocol; a virtual board's RAM is gone at once."""
        self.hooks.power_off()
        self.hooks.power_on()
