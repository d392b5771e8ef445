"""Board-side access a scenario gets on a virtual bench: board time, power, SWITCH1, flash cuts, the OTA directory.

Every call goes through the :class:`~harness.served_board.runner.BoardRunner`, so it is safe while the runner's
thread drives the board. Real benches have no such hooks; scenarios that need them declare
``requires={"virtual"}`` and are skipped on hardware. :class:`VirtualPower` is the
:class:`~harness.board_link.power.PowerControl` of a virtual bench, :class:`VirtualSwitch` its
:class:`~harness.board_link.switch.SwitchControl`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from bootloader_model.board.virtual_board import CLICK_HOLD_S, VirtualBoard
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import OTA_DIR
from bootloader_model.storage.nor_flash import FaultPlan
from harness.served_board.runner import BoardRunner

T = TypeVar("T")


class VirtualHooks:
    """Board-side access for scenarios that declare ``requires={"virtual"}`` (thread-safe via the runner)."""

    def __init__(self, runner: BoardRunner) -> None:
        self.runner = runner
        self._t0 = runner.call(lambda b: b.clock.now())

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

    def press_switch(self) -> None:
        """Press SWITCH1 and hold it (:meth:`~bootloader_model.board.virtual_board.VirtualBoard.press_switch`)."""
        self.runner.call(lambda b: b.press_switch())

    def release_switch(self) -> None:
        self.runner.call(lambda b: b.release_switch())

    def click_switch(self, hold_s: float = CLICK_HOLD_S) -> None:
        """Press SWITCH1 and let go ``hold_s`` board seconds later."""
        self.runner.call(lambda b: b.click_switch(hold_s))

    def switch_pressed(self) -> bool:
        return self.runner.call(lambda b: b.switch_pressed)

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
