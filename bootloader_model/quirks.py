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
