"""Differential runs for applications: the Python model of Harmony's OTA application and a native
application, from the same starts.

Two kinds of start:

* :func:`scenario_pairs` -- each scenario of the library on two fresh model-bootloader boards, one running
  the model application and one the native build (each with its own image server on 127.0.0.1); a scenario
  ends at a moment of wall time, so their console lines are compared up to the end of the shorter one;
* :func:`sweep_pairs` -- a sample of the flash states a power cut leaves in the whole-update sweep
  (:func:`harness.native.compare.sweep_cases`, recorded on the model): each state is powered up twice with
  the network down, for :data:`SETTLE_S` board seconds, once per application.

:func:`compare_boards` compares what the two boards ended with: the console line sequence, the bytes of
``image_database.csv``, the boot control page and the FAT volume's ``ota/`` directory (names and sizes).
Image server ports and SHA-256 digests differ between two runs by construction (every synthetic image carries
its server's URL), so both are replaced by placeholders before comparing. An
:class:`AppDivergence` reads like a test failure. This module decides nothing about which side is right.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from bootloader_model.application.program import ApplicationProgram
from bootloader_model.board.virtual_board import BoardConfig, VirtualBoard
from bootloader_model.bootloader.program import MODEL
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, PAGE_SIZE
from bootloader_model.formats.image_database import DB_PATH
from bootloader_model.quirks import HARMONY, QuirkProfile
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import OTA_DIR, FsError
from harness.native.compare import Case, side_by_side, tally

#: Board seconds a sweep state runs after power-up (bootloader, banner, the confirm step) before comparing.
SETTLE_S = 30.0
_PORT = re.compile(rb"127\.0\.0\.1:\d+")
_DIGEST = re.compile(rb"\b[0-9a-fA-F]{64}\b")


def normalise(data: bytes) -> bytes:
    """Bytes with image server ports and SHA-256 digests replaced by placeholders, ``\\r`` dropped."""
    return _DIGEST.sub(b"<digest>", _PORT.sub(b"127.0.0.1:<port>", data)).replace(b"\r", b"")


@dataclass
class Outcome:
    """What one board ended with, normalised for comparing."""

    console: bytes
    database: bytes | None  # None: no image_database.csv
    boot_control: bytes
    ota_files: tuple[tuple[str, int], ...] | None  # None: the volume does not mount
    status: str = ""  # the scenario's result (PASS, FAIL ...), scenario pairs only

    def lines(self) -> list[bytes]:
        return [line.strip() for line in self.console.split(b"\n") if line.strip()]


def outcome_of(board: VirtualBoard, status: str = "") -> Outcome:
    """Read a board's console, DB, boot control and ``ota/`` listing (the board is left as it is)."""
    fs = ExternalFlash(board.external)
    database: bytes | None = None
    files: tuple[tuple[str, int], ...] | None = None
    try:
        fs.mount()
        if fs.exists(DB_PATH):
            database = normalise(fs.open(DB_PATH, "r").read(1 << 16))
        listing = []
        for name in sorted(fs.listdir(OTA_DIR)):
            fh = fs.open(f"{OTA_DIR}/{name}", "r")
            listing.append((name, fh.size()))
            fh.close()
        files = tuple(listing)
    except FsError:
        pass
    return Outcome(
        normalise(bytes(board.transcript)),
        database,
        bytes(board.internal.read(BOOT_CTL_PHYS, PAGE_SIZE)),
        files,
        status,
    )


@dataclass
class AppDivergence:
    case: str
    aspects: list[str]  # "result", "console", "image_database.csv", "boot control", "ota/ files"
    model: Outcome
    native: Outcome
    notes: list[str] = field(default_factory=list)

    def report(self, max_lines: int = 40) -> str:
        out = [f"DIVERGENCE {self.case}: {', '.join(self.aspects)} differ"]
        if "result" in self.aspects:
            out.append(f"  scenario result: model {self.model.status} | native {self.native.status}")
        if "console" in self.aspects:
            out.append("  console (model | native):")
            out += side_by_side(b"\n".join(self.model.lines()), b"\n".join(self.native.lines()), max_lines)
        if "image_database.csv" in self.aspects:
            out.append(f"  image_database.csv: model {self.model.database!r}")
            out.append(f"                      native {self.native.database!r}")
        if "boot control" in self.aspects:
            a, b = self.model.boot_control, self.native.boot_control
            first = next(i for i in range(len(a)) if a[i] != b[i])
            out.append(
                f"  boot control differs from byte {first}: model {a[first : first + 16].hex()} | "
                f"native {b[first : first + 16].hex()}"
            )
        if "ota/ files" in self.aspects:
            out.append(f"  ota/: model {self.model.ota_files} | native {self.native.ota_files}")
        out += [f"  {note}" for note in self.notes]
        return "\n".join(out)


def compare_outcomes(
    case: str, model: Outcome, native: Outcome, *, common_length: bool = False
) -> AppDivergence | None:
    """The aspects in which two outcomes differ, as a divergence (None when they agree).

    With ``common_length`` the console lines are compared up to the end of the shorter transcript: a scenario
    ends at a moment of wall time, so one board may have printed a line more (a periodic check) than the other.
    """
    aspects = []
    if model.status != native.status:
        aspects.append("result")
    a, b = model.lines(), native.lines()
    if common_length:
        n = min(len(a), len(b))
        a, b = a[:n], b[:n]
    if a != b:
        aspects.append("console")
    if model.database != native.database:
        aspects.append("image_database.csv")
    if model.boot_control != native.boot_control:
        aspects.append("boot control")
    if model.ota_files != native.ota_files:
        aspects.append("ota/ files")
    return AppDivergence(case, aspects, model, native) if aspects else None


# ------------------------------------------------------------------------------------------ starts
def scenario_pairs(
    application: str, names: Iterable[str] | None = None, profile: QuirkProfile = HARMONY
) -> Iterator[tuple[str, Outcome, Outcome]]:
    """Each selected scenario run on the model application and on ``application`` (``native:CACHE``)."""
    from harness.scenarios.runner import run_suite, select, virtual_provider

    for sc in select(names):
        outcomes = []
        for spec in (MODEL, application):
            boards: list[VirtualBoard] = []
            provider = virtual_provider(link="inproc", profile=profile, on_board=boards.append, application=spec)
            (result,) = run_suite([sc], provider)
            board = boards[-1] if boards else VirtualBoard()
            outcomes.append(outcome_of(board, result.status))
            board.power_off()
        yield f"scenario:{sc.name}", outcomes[0], outcomes[1]


def power_up_outcome(case: Case, application: ApplicationProgram | None, profile: QuirkProfile = HARMONY) -> Outcome:
    """Power ``case`` up with the network down and ``application`` after the jump; what it ended with."""
    board = VirtualBoard(BoardConfig(profile=profile, application=application))
    board.internal.data[:] = case.internal
    board.external.data[:] = case.external
    board.set_network(False)
    board.power_on()
    board.run_for(SETTLE_S)
    board.power_off()
    return outcome_of(board)


def sweep_pairs(
    cases: Iterable[Case], application: ApplicationProgram, profile: QuirkProfile = HARMONY
) -> Iterator[tuple[str, Outcome, Outcome]]:
    """Each flash state powered up on the model application and on ``application``."""
    for case in cases:
        yield case.name, power_up_outcome(case, None, profile), power_up_outcome(case, application, profile)


def run_app_compare(
    pairs: Iterable[tuple[str, Outcome, Outcome]],
    progress: Callable[[int, AppDivergence | None], None] | None = None,
) -> tuple[int, list[AppDivergence]]:
    """Compare every pair; returns (pairs compared, divergences)."""
    verdicts = (
        compare_outcomes(name, model, native, common_length=name.startswith("scenario:"))
        for name, model, native in pairs
    )
    return tally(verdicts, progress)
