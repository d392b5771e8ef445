"""The safety properties a Harmony user states, the hazards that break them, and how a finding is reported.

:data:`PROPERTIES` are the invariants :class:`~harness.fuzzing.machine.BoardStateMachine` checks after
every step, in a user's words. When one breaks, the machine names the hazard from what it saw (the verdict
of a power-up, the bootloader's stuck reason, the console) and raises :class:`HazardFound`: a finding of
the tool, carrying the hazard, the numbered steps and the replay token. Each hazard has its own exception
class (:func:`hazard_error`), so hypothesis keeps distinct hazards apart and shrinks each on its own.

:data:`HAZARDS` names each hazard once, with its reference in the behaviour reference
(``spec/harmony-ota.md``) and the quirk that causes it, if one does (``None``: Harmony's design, present
in profile ``corrected`` too). This module only names and formats; it runs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The invariants, by letter, as a Harmony user would state them.
PROPERTIES: dict[str, str] = {
    "a": "after power returns and enough virtual time passes, the board runs an application again",
    "b": "the application that runs is byte-identical to the factory image or to an image whose digest "
    "the service accepted",
    "c": "an image that was verified and recorded in the DB is not lost unless the user erased it "
    "(EraseVer), asked for a factory reset or rolled back",
    "d": "the factory backup exists after the first boot",
    "e": "the image database parses",
    "f": "the board reports an update as available only right after reading a manifest that offers a newer version",
    "g": "a manifest check ends with a result (available, not available or failed)",
}


@dataclass(frozen=True)
class Hazard:
    """A named way Harmony's OTA breaks a safety property."""

    name: str
    title: str
    spec: str  # where the behaviour reference describes it
    quirk: str | None = None  # the quirk (bootloader_model.quirks) that causes it; None: by design
    cause: str | None = None  # who causes it when neither a quirk nor Harmony's design does


HAZARDS: dict[str, Hazard] = {
    h.name: h
    for h in (
        Hazard(
            "power-cut-factory-fallback",
            "a power cut between the bootloader's erase and its boot-control write gives the factory image "
            "and deletes every downloaded image",
            "section 10, hazard 11 (section 7)",
        ),
        Hazard(
            "reprogram-loop",
            "an image that crashes at boot is programmed again on every boot, for ever (no watchdog)",
            "section 10, hazard 10 (section 7)",
        ),
        Hazard(
            "ota-directory-erased",
            "a power cut while an application rewrites the DB erases the 4 KiB block holding the ota/ "
            "directory; the bootloader loops on 'file open error'",
            "beyond the reference: section 6 (external flash) with DRV_MEMORY's 4 KiB erase",
        ),
        Hazard(
            "bootloader-stuck",
            "the bootloader loops for ever and no application starts",
            "section 7",
        ),
        Hazard(
            "native-memory-error",
            "the native bootloader's or application's C code makes a memory error or undefined behaviour (a "
            "sanitizer report)",
            "beyond the reference: your C code built with otaloop native build --sanitize",
            cause="your bootloader's or application's C code (the report names the file and line)",
        ),
        Hazard(
            "hang-at-boot",
            "an image that hangs at boot is installed and never replaced (no watchdog)",
            "section 10, hazard 10 (section 7)",
        ),
        Hazard(
            "no-application",
            "internal flash holds no valid application after power returns",
            "section 7",
        ),
        Hazard(
            "factory-fallback",
            "the bootloader falls back to the factory image and deletes the DB",
            "section 10, hazard 12 (section 7)",
        ),
        Hazard(
            "image-lost",
            "a verified image recorded in the DB disappears without the user asking",
            "section 6",
        ),
        Hazard(
            "factory-backup-lost",
            "the factory backup ota/factory_reset.bin is gone",
            "section 7 (first boot)",
        ),
        Hazard(
            "db-damaged",
            "image_database.csv no longer parses",
            "section 10, hazards 8 and 9 (section 6)",
        ),
        Hazard(
            "unaccepted-image-runs",
            "an application runs that is neither the factory image nor an image the service accepted",
            "section 7",
        ),
        Hazard(
            "stale-check-result",
            "a check that fails before reading a manifest repeats the previous check's UPDATE_AVAILABLE",
            "section 10, hazard 2 (section 1.5)",
            "svc-stale-check-result",
        ),
        Hazard(
            "stuck-erase-flag",
            "after one EraseVer manifest, manifest checks never end (every manifest is an erase request)",
            "section 10, hazard 4 (section 1.6 J)",
            "svc-stuck-erase-flag",
        ),
        Hazard(
            "check-after-download-hangs",
            "a check while a download is done but not yet installed never ends",
            "section 10, hazard 5",
            "svc-check-after-download-hangs",
        ),
        Hazard(
            "check-never-completes",
            "a manifest check never ends",
            "section 1.5",
        ),
    )
}

_ERRORS: dict[str, type[HazardFound]] = {}


class HazardFound(AssertionError):
    """A safety property broke: a finding about Harmony's OTA, not an error of the tool.

    ``str()`` is the whole report: the hazard, the broken property, what was seen, the numbered steps and
    the replay token.
    """

    def __init__(self, hazard: Hazard, prop: str, seen: str, steps: str, token: str, transcript: str) -> None:
        self.hazard, self.prop, self.seen, self.steps, self.token, self.transcript = (
            hazard,
            prop,
            seen,
            steps,
            token,
            transcript,
        )
        super().__init__(self.report())

    def __reduce__(self) -> tuple[object, tuple[str, str, str, str, str, str]]:
        # Pickled by name (the class is made per hazard), so a search can run in another process.
        return (_rebuild, (self.hazard.name, self.prop, self.seen, self.steps, self.token, self.transcript))

    def report(self) -> str:
        cause = (
            f"quirk {self.hazard.quirk}"
            if self.hazard.quirk
            else self.hazard.cause or "Harmony's design (also in profile corrected)"
        )
        return (
            f"hazard {self.hazard.name}: {self.hazard.title}\n"
            f"  spec: {self.hazard.spec}; cause: {cause}\n"
            f"  broken property ({self.prop}): {PROPERTIES[self.prop]}\n"
            f"  seen: {self.seen}\n"
            f"steps:\n{self.steps}"
            f"replay: {self.token}\n"
        )


def _rebuild(name: str, prop: str, seen: str, steps: str, token: str, transcript: str) -> HazardFound:
    return hazard_error(name)(HAZARDS[name], prop, seen, steps, token, transcript)


def hazard_error(name: str) -> type[HazardFound]:
    """The exception class of one hazard (one class per hazard, so hypothesis tells them apart)."""
    if name not in HAZARDS:
        raise KeyError(f"unknown hazard {name!r}")  # a typo in the machine, not a user error
    if name not in _ERRORS:
        camel = "".join(part.capitalize() for part in name.split("-"))
        _ERRORS[name] = type(f"{camel}Found", (HazardFound,), {"__module__": __name__})
    return _ERRORS[name]
