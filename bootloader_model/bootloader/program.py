"""The bootloader interface of the virtual board: what runs between reset and the application.

A :class:`BootProgram` runs one boot, from reset until a jump, a software reset or a loop for ever, on
the board's two flash arrays, printing to its console, and says what it did as a
:class:`~bootloader_model.bootloader.result.BootResult`. A
:class:`~bootloader_model.errors.PowerCut` raised by either flash propagates out of :meth:`BootProgram.boot`
with the flash exactly as the cut left it; RAM is whatever the implementation held, and is lost.

:class:`ModelProgram`, the Python model of Harmony v3.9.1's bootloader
(:class:`~bootloader_model.bootloader.step_machine.Bootloader`), is the one this package has and the
board's default. Any other object with the same ``label`` and ``boot`` serves: the host side hands the
board the user's own bootloader C code that way (``harness.native``), so this package never starts a
process. This module does not build anything, read user input or know about the board's application.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from bootloader_model.bootloader.result import BootResult
from bootloader_model.bootloader.state import DEFAULT_BUILD_STAMP
from bootloader_model.bootloader.step_machine import Bootloader
from bootloader_model.quirks import HARMONY, QuirkProfile
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.nor_flash import NorFlash

Console = Callable[[bytes], None]

#: The bootloader choice that means "the Python model".
MODEL = "model"


class BootProgram(Protocol):
    """One bootloader the virtual board can run."""

    #: Short text naming the implementation in reports (``model``, ``native:<cache>``).
    label: str

    def boot(self, internal: NorFlash, external: NorFlash, console: Console) -> BootResult:
        """Run from reset to a jump, a software reset or a loop for ever; a power cut propagates."""
        ...


class ModelProgram:
    """The Python model of Harmony v3.9.1's OTA bootloader, behind the :class:`BootProgram` interface."""

    label = MODEL

    def __init__(
        self,
        profile: QuirkProfile = HARMONY,
        build_stamp: tuple[str, str] = DEFAULT_BUILD_STAMP,
        variant: str = "wolfcrypt",
    ) -> None:
        self.profile, self.build_stamp, self.variant = profile, build_stamp, variant

    def boot(self, internal: NorFlash, external: NorFlash, console: Console) -> BootResult:
        # A fresh ExternalFlash per boot is "mount again": nothing of the previous run's FatFs state survives.
        loader = Bootloader(
            internal,
            ExternalFlash(external),
            self.profile,
            console=console,
            build_stamp=self.build_stamp,
            variant=self.variant,
        )
        return loader.boot()
