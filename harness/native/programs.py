"""What a user types to choose the board's bootloader or application (``model``, ``native:CACHE_DIR``), made
into a program.

The ``--bootloader`` options of ``otaloop board``, ``run``, ``sweep`` and ``fuzz`` and the pytest plugin's
``--otaloop-bootloader`` all take this text; :func:`bootloader_from_spec` turns it into the
:class:`~bootloader_model.bootloader.program.BootProgram` that
:class:`~bootloader_model.board.virtual_board.BoardConfig` takes, so the device side never starts a process
or reads a cache folder itself.

The ``--application`` options (and ``--otaloop-application``) take the same kind of text;
:func:`application_from_spec` turns it into the
:class:`~bootloader_model.application.program.ApplicationProgram` of ``BoardConfig.application``.

It does not build anything (:mod:`harness.native.build` does).
"""

from __future__ import annotations

from pathlib import Path

from bootloader_model.application.model import ModelApplication
from bootloader_model.application.program import ApplicationProgram
from bootloader_model.bootloader.program import MODEL, BootProgram, ModelProgram
from bootloader_model.bootloader.state import DEFAULT_BUILD_STAMP
from bootloader_model.errors import CallerError
from bootloader_model.quirks import HARMONY, QuirkProfile

NATIVE_PREFIX = "native:"
#: Help text of the ``--bootloader`` options.
BOOTLOADER_HELP = (
    f"bootloader run at every reset: {MODEL} (the Python model of Harmony v3.9.1, default) or native:CACHE_DIR "
    "(your bootloader C code, built by otaloop native build; a folder without a usable build is one error "
    "before anything runs)"
)

#: Help text of the ``--application`` options.
APPLICATION_HELP = (
    "application run after the bootloader's jump: model (the Python model of Harmony's OTA application, "
    "default) or native:CACHE_DIR (your application C code, built by otaloop native build --application)"
)


def bootloader_from_spec(
    spec: str,
    profile: QuirkProfile = HARMONY,
    build_stamp: tuple[str, str] = DEFAULT_BUILD_STAMP,
    variant: str = "wolfcrypt",
    memory_errors: str = "raise",
) -> BootProgram:
    """The bootloader a ``--bootloader`` text names.

    Args:
        spec: ``model`` or ``native:CACHE_DIR`` (a folder made by ``otaloop native build``).
        profile: the quirk profile of the model (a native build has its own behaviour).
        build_stamp: the model's banner date and time.
        variant: the model's bootloader variant (``wolfcrypt`` or ``trustflex``).
        memory_errors: what a sanitizer report of a native build becomes: ``raise`` (a
            :class:`~harness.native.sanitizers.NativeMemoryError`) or ``stuck`` (the boot ends stuck with the
            report's headline as its reason; the fuzzer names the hazard).

    Returns:
        A :class:`~bootloader_model.bootloader.program.ModelProgram` or a
        :class:`~harness.native.bootloader_program.NativeProgram`.

    Raises:
        CallerError: an unknown text, or a cache folder without a usable build.
    """
    text = spec.strip() if isinstance(spec, str) else ""
    if text == MODEL:
        return ModelProgram(profile, build_stamp, variant)
    if text.startswith(NATIVE_PREFIX) and text[len(NATIVE_PREFIX) :]:
        from harness.native.bootloader_program import NativeProgram  # only when asked: it checks the cache

        return NativeProgram(Path(text[len(NATIVE_PREFIX) :]), memory_errors=memory_errors)
    raise CallerError(f"unknown bootloader {spec!r}: use '{MODEL}' or 'native:CACHE_DIR' (see otaloop native build)")


def application_from_spec(spec: str, memory_errors: str = "raise") -> ApplicationProgram | None:
    """The application an ``--application`` text names.

    Args:
        spec: ``model`` or ``native:CACHE_DIR`` (a folder made by ``otaloop native build --application``).
        memory_errors: what a sanitizer report of a native build becomes: ``raise`` (a
            :class:`~harness.native.sanitizers.NativeMemoryError` out of the board's step) or ``stuck`` (the
            run ends hung and the program keeps the report; the fuzzer names the hazard).

    Returns:
        None for ``model`` (``BoardConfig.application``'s default: the board makes the model), or a
        :class:`~harness.native.application_program.NativeApplication`.

    Raises:
        CallerError: an unknown text, or a cache folder without a usable application build.
    """
    text = spec.strip() if isinstance(spec, str) else ""
    if text == MODEL:
        return None
    if text.startswith(NATIVE_PREFIX) and text[len(NATIVE_PREFIX) :]:
        from harness.native.application_program import NativeApplication  # only when asked: it checks the cache

        return NativeApplication(Path(text[len(NATIVE_PREFIX) :]), memory_errors=memory_errors)
    raise CallerError(
        f"unknown application {spec!r}: use '{MODEL}' or 'native:CACHE_DIR' (see otaloop native build --application)"
    )


def application_label(program: ApplicationProgram | None) -> str:
    """``model`` or the program's own label, for banners and reports."""
    return ModelApplication.label if program is None else program.label
