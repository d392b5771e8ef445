"""Board-side access a scenario gets on a virtual bench: board time, power, SWITCH1, flash cuts, the OTA directory.

Every call goes through the :class:`~harness.served_board.runner.BoardRunner`, so it is safe while the runner's
thread drives the board. Real benches have no such hooks; scenarios that need them declare
``requires={"virtual"}`` and are skipped on hardware. Given the bench's console, the hooks also ``expect`` and
``write`` on it (the pytest plugin's ``virtual_board`` fixture is these hooks). :class:`VirtualPower` is the
:class:`~harness.board_link.power.PowerControl` of a virtual bench, :class:`VirtualSwitch` its
:class:`~harness.board_link.switch.SwitchControl`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar, overload

from bootloader_model.board.virtual_board import CLICK_HOLD_S, VirtualBoard
from bootloader_model.errors import CallerError
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import OTA_DIR
from bootloader_model.storage.nor_flash import FaultPlan
from harness.board_link.console import Console
from harness.served_board.runner import BoardRunner

T = TypeVar("T")


class VirtualHooks:
    """Board-side access for scenarios that declare ``requires={"virtual"}`` (thread-safe via the runner).

    This is what the pytest plugin's ``virtual_board`` fixture gives. Times are board (virtual) seconds
    counted from when the hooks were made, the bench's start.
    """

    def __init__(self, runner: BoardRunner, console: Console | None = None) -> None:
        """Hooks on the board ``runner`` serves; board time counts from now.

        Args:
            runner: the runner that owns the board and its thread.
            console: the host's console on the board, for :meth:`expect` and :meth:`write` (None: the bench
                has none, and those two raise CallerError).
        """
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

        Args:
            pattern: text (``str`` or ``bytes``, matched literally) or a compiled regular expression.
            timeout: wall seconds to wait.

        Returns:
            The match: a ``re.Match[str]`` for a ``str`` regular expression, else a ``re.Match[bytes]``.

        Raises:
            CallerError: the hooks were made without the board's console.
            ConsoleTimeout: not seen in time; the message ends with the console's last bytes.
        """
        return self._console().expect(pattern, timeout)

    def write(self, line: str) -> None:
        """Type ``line`` and a carriage return on the board's console (pytest-embedded's ``dut.write``).

        Args:
            line: the text to type, without its line ending.

        Raises:
            CallerError: the hooks were made without the board's console.
        """
        self._console().send_line(line)

    def call(self, fn: Callable[[VirtualBoard], T]) -> T:
        """Run ``fn`` on the board between two of the runner's turns: the way to anything not hooked here.

        Args:
            fn: called with the :class:`~bootloader_model.board.virtual_board.VirtualBoard`; the board does
                not run meanwhile, so keep it short.

        Returns:
            What ``fn`` returned; what the board printed meanwhile goes to its console.
        """
        return self.runner.call(fn)

    def now(self) -> float:
        """Board time now.

        Returns:
            Virtual seconds since the bench's start.
        """
        return self.runner.call(lambda b: b.clock.now()) - self._t0

    def printed_at(self, offset: int) -> float | None:
        """Board time (from the bench's start) when transcript byte ``offset`` was printed.

        Args:
            offset: a byte offset over everything the board ever printed (the console's buffer offset when
                the console has been attached since the board was made).

        Returns:
            Virtual seconds since the bench's start, or None past the end of the output and for bytes older
            than the board's transcript window.
        """
        t = self.runner.call(lambda b: b.printed_at(offset))
        return None if t is None else t - self._t0

    def power_on(self) -> None:
        """Apply power: the bootloader runs and starts what it jumps to (nothing if already on)."""
        self.runner.call(lambda b: b.power_on())

    def power_off(self) -> None:
        """Remove power: RAM is lost, flash keeps what it holds."""
        self.runner.call(lambda b: b.power_off())

    def arm_cut(self, device: str, plan: FaultPlan) -> None:
        """Cut power at a planned flash operation (see :meth:`VirtualBoard.arm_cut
        <bootloader_model.board.virtual_board.VirtualBoard.arm_cut>`).

        Args:
            device: ``"internal"`` (program flash) or ``"external"`` (the SST26).
            plan: the operation to cut at, counted from this call on that flash, and how.

        Raises:
            CallerError: ``device`` is neither ``"internal"`` nor ``"external"``.
        """
        self.runner.call(lambda b: b.arm_cut(device, plan))

    def press_switch(self) -> None:
        """Press SWITCH1 and hold it (:meth:`~bootloader_model.board.virtual_board.VirtualBoard.press_switch`)."""
        self.runner.call(lambda b: b.press_switch())

    def release_switch(self) -> None:
        """Let go of SWITCH1 (:meth:`~bootloader_model.board.virtual_board.VirtualBoard.release_switch`)."""
        self.runner.call(lambda b: b.release_switch())

    def click_switch(self, hold_s: float = CLICK_HOLD_S) -> None:
        """Press SWITCH1 and let go ``hold_s`` board seconds later.

        Args:
            hold_s: board seconds the switch stays down (> 0).

        Raises:
            CallerError: ``hold_s`` is not a finite number of seconds > 0.
        """
        self.runner.call(lambda b: b.click_switch(hold_s))

    def switch_pressed(self) -> bool:
        """Whether SWITCH1 is down now.

        Returns:
            True while pressed (a click's hold included).
        """
        return self.runner.call(lambda b: b.switch_pressed)

    def ota_files(self) -> list[str]:
        """Names in ``/mnt/myDrive1/ota`` as the external flash holds them now (board state untouched).

        Returns:
            The file names, sorted.

        Raises:
            FsError: the external flash holds no FAT volume, or no ``ota`` directory.
        """

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
        """Off, then on.

        Args:
            off_time: wall seconds off; accepted for the protocol and not waited: a virtual board's RAM is
                gone at once.
        """
        self.hooks.power_off()
        self.hooks.power_on()


class VirtualSwitch:
    """The :class:`~harness.board_link.switch.SwitchControl` protocol for a virtual board's SWITCH1, in-process."""

    def __init__(self, hooks: VirtualHooks) -> None:
        self.hooks = hooks

    def press(self) -> None:
        self.hooks.press_switch()

    def release(self) -> None:
        self.hooks.release_switch()

    def click(self, hold_s: float = CLICK_HOLD_S) -> None:
        """Press now; the board lets go ``hold_s`` board seconds later."""
        self.hooks.click_switch(hold_s)
