"""Board-side access a scenario gets on a virtual bench: board time, power, flash cuts, the OTA directory.

Every call goes through the :class:`~harness.served_board.runner.BoardRunner`, so it is safe while the runner's
thread drives the board. Real benches have no such hooks; scenarios that need them declare
``requires={"virtual"}`` and are skipped on hardware. :class:`VirtualPower` is the
:class:`~harness.board_link.power.PowerControl` of a virtual bench.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from bootloader_model.board.virtual_board import VirtualBoard
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import OTA_DIR
from bootloader_model.storage.nor_flash import FaultPlan
from harness.served_board.runner import BoardRunner

T = TypeVar("T")


class VirtualHooks:
    """Board-side access for scenarios that declare ``requires={"virtual"}`` (thread-safe via the runner).

    This is what the pytest plugin's ``virtual_board`` fixture gives. Times are board (virtual) seconds
    counted from when the hooks were made, the bench's start.
    """

    def __init__(self, runner: BoardRunner) -> None:
        """Hooks on the board ``runner`` serves; board time counts from now.

        Args:
            runner: the runner that owns the board and its thread.
        """
        self.runner = runner
        self._t0 = runner.call(lambda b: b.clock.now())

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
