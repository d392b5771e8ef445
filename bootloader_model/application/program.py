"""The application interface of the virtual board: what runs from the bootloader's jump to the next reset.

The board decides from the app descriptor in internal flash whether a healthy application runs at all (a
crash-at-boot, hang-at-boot or garbage image never reaches the program). For a healthy one it calls
:meth:`ApplicationProgram.start` with an :class:`AppContext`: the board's flash, clock, console, SWITCH1,
network policy and the descriptor of the image that runs. The :class:`AppRun` it gets back lives until the
next reset or power cut (:meth:`AppRun.stop`: RAM is lost). The board feeds it typed bytes
(:meth:`AppRun.uart_rx`) and board time (:meth:`AppRun.run`); a software reset is asked for through
:attr:`AppRun.reset_requested` or the context's ``request_reset``. A
:class:`~bootloader_model.errors.PowerCut` raised by a flash operation propagates out of :meth:`AppRun.run`
with the flash exactly as the cut left it.

:class:`~bootloader_model.application.model.ModelApplication` is the default. Any other object with the same
``label`` and ``start`` serves: the host side hands in the user's application C code that way, so this
package never starts a process. This module holds interfaces only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from bootloader_model.clock import VirtualClock
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.quirks import QuirkProfile
from bootloader_model.storage.nor_flash import NorFlash

if TYPE_CHECKING:
    from bootloader_model.service.ota_service import OtaService


@dataclass
class AppContext:
    """What the board gives an application at its start (the board's parts, never the board itself)."""

    descriptor: AppDescriptor  # the image that runs: version, SYS_OTA_URL, MHC options
    internal: NorFlash
    external: NorFlash  # the SST26; the FAT volume on it is /mnt/myDrive1
    clock: VirtualClock
    console: Callable[[bytes], None]  # UART1 transmit
    switch: Callable[[], bool]  # SWITCH1 pressed now
    network_up: Callable[[], bool]  # the Wi-Fi link and an IP address (after the board's network delay)
    request_reset: Callable[[], None]  # a software reset, performed at the board's next step
    profile: QuirkProfile
    loopback_only: bool = True  # only 127.0.0.0/8 and localhost reachable; others fail as unreachable servers
    blocked_hosts: list[str] = field(default_factory=list)  # hosts the loopback-only policy refused (appended)
    network_patience_s: float = 0.0  # BoardConfig.network_patience_s


class AppRun(Protocol):
    """One run of an application: from the jump to the next reset or power cut."""

    @property
    def reset_requested(self) -> bool:
        """The application asked for a software reset (the board performs it at its next step)."""
        ...

    @property
    def hung(self) -> bool:
        """The application hung (it ignores input and prints nothing from now on)."""
        ...

    @property
    def service(self) -> OtaService | None:
        """The Python model of the OTA service when the model runs; None for other applications."""
        ...

    def uart_rx(self, data: bytes) -> None:
        """Bytes the console task reads from UART1's receive ring."""
        ...

    def run(
        self,
        budget_s: float,
        *,
        speed: float,
        stop: Callable[[], bool],
        wall_limit_s: float | None,
    ) -> None:
        """Run at most ``budget_s`` board seconds, returning early once ``stop()`` holds, a reset is asked
        for, or (a slow network) after about ``wall_limit_s`` wall seconds. A power cut propagates."""
        ...

    def stop(self) -> None:
        """Reset or power off: RAM is lost (sockets close, a helper process ends)."""
        ...


class ApplicationProgram(Protocol):
    """One application the virtual board can run after the bootloader jumps."""

    #: Short text naming the implementation in reports (``model``, ``native:<cache>``).
    label: str

    def start(self, context: AppContext) -> AppRun:
        """Start a run at the jump (prints what the application prints at start)."""
        ...
