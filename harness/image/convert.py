"""An application file on disk -> the OTA ``.bin``: read it, parse it by kind, apply the hex2bin rules.

This module only picks the parser; the parsing is in ``elf`` and ``intel_hex``, the rules in ``hex2bin``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bootloader_model.errors import ImageError
from harness.image.elf import read_elf
from harness.image.hex2bin import hex2bin
from harness.image.intel_hex import read_ihex


def read_input(path: str | Path) -> bytes:
    """The bytes of an input file, or an :class:`ImageError` that names it."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from None


def bin_from_file(
    path: str | Path, kind: str, *, factory: bool = False, warn: Callable[[str], None] | None = None
) -> bytes:
    """Build the ``.bin`` from an ``"elf"`` or ``"hex"`` file; ``warn`` gets hex2bin's overlap warning."""
    raw = read_input(path)
    if kind == "elf":
        chunks = read_elf(raw, source=str(path))
    elif kind == "hex":
        chunks = read_ihex(raw, source=str(path))
    else:
        raise ImageError(f"unknown input kind {kind!r}; use 'elf' or 'hex'")
    return hex2bin(chunks, factory=factory, source=str(path), warn=warn)
