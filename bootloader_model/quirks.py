"""Named Harmony v3.9.1 quirks and the profiles that switch them.

The behaviour reference lists behaviours, inferred from the Harmony source, that look like bugs. The
virtual board reproduces each one by default (profile ``harmony-3.9.1``) and fixes it in profile
``corrected``. Every quirk is declared once here, with the spec section it comes from; model code asks
``profile.on("csv-seek-wrap")`` at the one place the behaviour differs. ``docs/quirks.md`` is generated
from this table (``otaloop quirks --markdown``) and a test keeps the two equal.

This module only names quirks; the behaviour lives in the component that has it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import CallerError


@dataclass(frozen=True)
class Quirk:
    """One reproduced Harmony behaviour that looks like a bug."""

    name: str
    component: str  # "bootloader", "database", "service", "core", "downloader"
    section: str  # section of the behaviour reference
    summary: str  # what Harmony does
    corrected: str  # what profile "corrected" does instead
    hardware_confirmed: bool = False


# Each component's quirks are declared in its own block; names are kebab-case and stable (they appear in
# test ids, docs and the --quirks switch).
QUIRKS: tuple[Quirk, ...] = (
    # --- bootloader and image database -------------------------------------------------------------
    Quirk(
        name="csv-seek-wrap",
        component="database",
        section="6",
        summary="csv_save seeks after every write to a uint8_t byte count, so every write that starts after "
        "byte 255 overwrites the start of the file (4 rows of typical 29-character names; 3 survive because "
        "byte 256 falls inside the last digest)",
        corrected="the seek uses the full byte count; the file is the plain CSV",
    ),
    Quirk(
        name="db-version-decimal-hex",
        component="database",
        section="6",
        summary='versions are written with sprintf("%d") and read back with strtol(.., 16): "10" reads as 16',
        corrected='versions are written with "%x", so every hexadecimal read returns the true version',
    ),
    Quirk(
        name="bootloader-row-lookup-uint8",
        component="bootloader",
        section="6, 7",
        summary="the bootloader's GetImageRow casts each row version to uint8_t; from version 100 (read as "
        "0x100) the running image's row is never found and the image is reprogrammed on every boot",
        corrected="the lookup compares full 32-bit versions",
    ),
    Quirk(
        name="select-header-status",
        component="bootloader",
        section="7",
        summary="SELECT reads each newer row's status into the shared header, so boot control gets the status "
        "of the last row examined, which may be a skipped f0 row; the image is reprogrammed at a later boot",
        corrected="boot control gets the status of the selected row",
    ),
    Quirk(
        name="program-stale-tail",
        component="bootloader",
        section="7",
        summary="the last partial 4 KiB chunk is programmed with stale buffer bytes past the end of the file, "
        "and the boot control filler (bytes 256..4095) is the stale tail of the last chunk",
        corrected="bytes past the end of the file stay erased (0xFF); the boot control filler is the image's "
        "own first page",
    ),
    Quirk(
        name="bootloader-stale-new-image",
        component="bootloader",
        section="7",
        summary="new_image is never cleared: after a broken download falls back to the factory image in the "
        "same boot, the factory image is programmed as a PRODUCTION image (sz = file size), so the next boot "
        "programs it again",
        corrected="choosing the factory image clears new_image; the factory header is programmed as stored",
    ),
    Quirk(
        name="select-field-error-loop",
        component="bootloader",
        section="7",
        summary="an unreadable version (missing column or over 30 characters) makes SELECT fall back to the "
        "factory image only when the DB has exactly one row; with more rows (or an unreadable status, name or "
        "digest) SELECT retries silently for ever",
        corrected="any unreadable field of the database selects the factory image",
    ),
    # --- OTA service, core and downloader ----------------------------------------------------------
)

PROFILE_NAMES = ("harmony-3.9.1", "corrected")


@dataclass(frozen=True)
class QuirkProfile:
    """A set of enabled quirks. ``harmony-3.9.1`` enables all of them, ``corrected`` none."""

    name: str
    enabled: frozenset[str]

    def on(self, quirk: str) -> bool:
        if quirk not in _BY_NAME:
            raise KeyError(f"unknown quirk {quirk!r}")  # a typo in model code, not a user error
        return quirk in self.enabled

    @classmethod
    def named(cls, spec: str) -> QuirkProfile:
        """Build ``harmony-3.9.1`` or ``corrected``, optionally adjusted by comma-separated ``+quirk`` or
        ``-quirk`` items, e.g. ``corrected,+csv-seek-wrap``."""
        base, *edits = [part.strip() for part in spec.split(",")]
        if base not in PROFILE_NAMES:
            raise CallerError(f"unknown quirk profile {base!r}; choose {' or '.join(PROFILE_NAMES)}")
        enabled = set(_BY_NAME) if base == "harmony-3.9.1" else set()
        for edit in edits:
            sign, name = edit[:1], edit[1:]
            if sign not in ("+", "-") or name not in _BY_NAME:
                raise CallerError(f"bad quirk adjustment {edit!r}: expected +NAME or -NAME of a known quirk")
            if sign == "+":
                enabled.add(name)
            else:
                enabled.discard(name)
        return cls(spec, frozenset(enabled))


_BY_NAME = {q.name: q for q in QUIRKS}

HARMONY = QuirkProfile.named("harmony-3.9.1")
CORRECTED = QuirkProfile.named("corrected")


def quirk(name: str) -> Quirk:
    return _BY_NAME[name]
