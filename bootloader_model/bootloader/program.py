"""The bootloader interface of the virtual board: what runs between reset and the application.

A :class:`BootProgram` runs one boot, from reset until a jump, a software reset or a loop for ever, on
the board's two flash arrays, printing to its console, and says what it did as a
:class:`~bootloader_model.bootloader.result.BootResult`. A
:class:`~bootloader_model.errors.PowerCut` raised by either flash propagates out of :meth:`BootProgram.boot`
with the flash exactly as the cut left it; RAM is whatever the implementation held, and is lost.

Two implementations satisfy it:

* :class:`ModelProgram` -- the Python model of Harmony v3.9.1's bootloader
  (:class:`~bootloader_model.bootloader.step_machine.Bootloader`), the default;
* :class:`~bootloader_model.bootloader.native.NativeProgram` -- the user's own bootloader C code,
  compiled for the host by ``otaloop native build``, run in a helper process per boot.

:func:`program_from_spec` turns the text a user gives (``model``, ``native:CACHE_DIR``) into one. This
module does not build anything and does not know about the board's application.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from bootloader_model.bootloader.result import BootResult
from bootloader_model.bootloader.state import DEFAULT_BUILD_STAMP
from bootloader_model.bootloader.step_machine import Bootloader
from bootloader_model.errors import CallerError
from bootloader_model.quirks import HARMONY, QuirkProfile
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.nor_flash import NorFlash

Console = Callable[[bytes], None]

#: The bootloader choice that means "the Python model".
MODEL = "model"
NATIVE_PREFIX = "native:"
#: Help text of the ``--bootloader`` options.
BOOTLOADER_HELP = (
    "bootloader run at every reset: model (the Python model of Harmony v3.9.1, default) or native:CACHE_DIR "
    "(your bootloader C code, built by otaloop native build)"
)


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


def program_from_spec(
    spec: str,
    profile: QuirkProfile = HARMONY,
    build_stamp: tuple[str, str] = DEFAULT_BUILD_STAMP,
    variant: str = "wolfcrypt",
) -> BootProgram:
    """``model`` or ``native:CACHE_DIR`` (a directory made by ``otaloop native build``)."""
    text = spec.strip()
    if text == MODEL:
        return ModelProgram(profile, build_stamp, variant)
    if text.startswith(NATIVE_PREFIX) and text[len(NATIVE_PREFIX) :]:
        from bootloader_model.bootloader.native import NativeProgram  # only when asked: it checks the cache

        return NativeProgram(Path(text[len(NATIVE_PREFIX) :]))
    raise CallerError(f"unknown bootloader {spec!r}: use 'model' or 'native:CACHE_DIR' (see otaloop native build)")
