"""What a whole virtual board does after a power cut: power it on twice, let it settle, name the outcome.

:func:`settle` powers a board (already holding the flash bytes a cut left) on, runs it for a bounded
virtual time with the network down (so a surviving v1 cannot simply download the update again and hide
what the cut did), power-cycles it once more to see whether the first recovery holds, and :func:`judge`
turns what the bootloader runs chose and what runs at the end into a :class:`Verdict`.

Verdicts, from the worst: ``stuck`` (the bootloader loops for ever, with a reason), ``silent`` (no valid
code runs), ``hung``, ``crash-loop``, ``volume-damaged`` (the FAT volume fails its check),
``reprogram-loop`` (the second power-on programs internal flash again), ``repeated-backup`` (the
first-boot factory backup ran again), ``factory-fallback`` (the bootloader chose ``factory_reset.bin``),
``db-damaged`` (an app runs but ``image_database.csv`` no longer decodes), ``unknown-image``,
``old-image`` (v1 still runs) and ``new-image`` (v2 runs).

It does not run updates or arm cuts; :mod:`harness.sweeps.update` does that.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bootloader_model.board.virtual_board import AppState, VirtualBoard
from bootloader_model.bootloader.result import BootResult
from bootloader_model.errors import DescriptorError
from bootloader_model.formats import image_database
from bootloader_model.formats.app_descriptor import read_descriptor
from bootloader_model.formats.app_image import SLOT_SIZE, SLOT_START
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, HEADER_SIZE, BootControl, is_blank
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.fat.check import check
from bootloader_model.storage.file_api import FsError

#: Virtual seconds each power-on runs after the bootloader: the application's boot-time confirm step
#: (DB row and boot control to F8) happens in its first 1 ms tick, and a crash-at-boot image resets after
#: 50 ms, so this is ample; the bootloader's own flash time is charged before the application starts.
SETTLE_S = 0.1


class Verdict(str, Enum):
    STUCK = "stuck"
    SILENT = "silent"
    HUNG = "hung"
    CRASH_LOOP = "crash-loop"
    VOLUME_DAMAGED = "volume-damaged"
    REPROGRAM_LOOP = "reprogram-loop"
    REPEATED_BACKUP = "repeated-backup"
    FACTORY_FALLBACK = "factory-fallback"
    DB_DAMAGED = "db-damaged"
    UNKNOWN_IMAGE = "unknown-image"
    OLD_IMAGE = "old-image"
    NEW_IMAGE = "new-image"

    @property
    def severity(self) -> int:
        """0 is the worst outcome; the enum lists verdicts from the worst to the best."""
        return list(Verdict).index(self)

    @property
    def bricked(self) -> bool:
        """No application answers (a stuck bootloader at least says why; the others do not)."""
        return self in (Verdict.STUCK, Verdict.SILENT, Verdict.HUNG, Verdict.CRASH_LOOP)


@dataclass(frozen=True)
class Judgement:
    """The verdict and the facts behind it."""

    verdict: Verdict
    running: int | None  # version of the application running at the end, if a healthy one runs
    database: str  # "absent", "<n> rows", or "damaged: <why>"
    boot_control: str  # the header at the end, in words
    detail: str = ""  # stuck reason, deleted DB, programming counts, lost clusters

    def line(self) -> str:
        run = f"v{self.running} running" if self.running is not None else "no app running"
        why = f"; {self.detail}" if self.detail else ""
        return f"{self.verdict.value}: {run}; DB {self.database}; boot control {self.boot_control}{why}"


def settle(board: VirtualBoard, settle_s: float = SETTLE_S, *, shortcut: bool = False) -> list[list[BootResult]]:
    """Power on, run, power-cycle, run again (network down); the bootloader runs of each power-on.

    With ``shortcut``, a first power-on that wrote neither flash is not repeated: the second would start
    from the same flash with RAM lost again, so it would do exactly the same; its runs are the first's.
    """
    board.set_network(False)
    runs: list[list[BootResult]] = []
    for power_on in range(2):
        first = len(board.boots)
        ops = (board.internal.op_count, board.external.op_count)
        board.power_cycle()
        board.run_for(settle_s)
        runs.append(board.boots[first:])
        if shortcut and power_on == 0 and (board.internal.op_count, board.external.op_count) == ops:
            runs.append(runs[0])
            break
    return runs


def _database(board: VirtualBoard) -> tuple[str, bool]:
    """(description, decodes) of ``image_database.csv`` on a fresh mount."""
    try:
        fs = ExternalFlash(board.external)
        if not fs.exists(image_database.DB_PATH):
            return "absent", True
        status, table = image_database.load_db(fs)
    except FsError as exc:
        return f"damaged: {exc}", False
    if status != image_database.LOAD_OK:
        return f"damaged: load status {status}", False
    rows = table.height
    versions = [table.field_value(image_database.DbField.VERSION, r) for r in range(rows)]
    if any(v is None for v in versions):
        return f"damaged: {rows} rows, unreadable version", False
    return f"{rows} rows", True


def _boot_control(board: VirtualBoard) -> str:
    raw = board.internal.read(BOOT_CTL_PHYS, HEADER_SIZE)
    if is_blank(raw[:16]):
        return "blank"
    hdr = BootControl.decode(raw)
    return f"status {hdr.status:02X} type {hdr.type:02X} version {hdr.version}"


def running_version(board: VirtualBoard) -> int | None:
    """Version of the healthy application running now, read from its descriptor in internal flash."""
    if board.state is not AppState.RUNNING:
        return None
    try:
        return read_descriptor(board.internal.read(SLOT_START, SLOT_SIZE)).version
    except DescriptorError:
        return None


def judge(board: VirtualBoard, runs: list[list[BootResult]], old: int, new: int) -> Judgement:
    """Name what :func:`settle` left: ``old`` and ``new`` are the versions before and after the update."""
    database, db_ok = _database(board)
    bctl = _boot_control(board)
    boots = [b for run in runs for b in run]
    running = running_version(board)
    notes: list[str] = []
    if any(b.db_deleted for b in boots):
        notes.append("DB deleted by the bootloader")
    programmed = [len([p for b in run for p in b.programmed]) for run in runs]
    if any(programmed):
        notes.append("programmed " + "+".join(str(n) for n in programmed) + " time(s)")
    report = check(ExternalFlash(board.external))
    if report.lost_clusters:
        notes.append(f"{report.lost_clusters} lost clusters")

    def verdict(v: Verdict, *extra: str) -> Judgement:
        return Judgement(v, running, database, bctl, "; ".join([*extra, *notes]))

    last = boots[-1] if boots else None
    state = board.state
    if state is AppState.BOOTLOADER_STUCK:
        reason = last.stuck_reason if last is not None and last.stuck_reason else "bootloader reset loop"
        return verdict(Verdict.STUCK, reason)
    if state is AppState.SILENT:
        return verdict(Verdict.SILENT, "internal flash holds no valid application")
    if state is AppState.HUNG:
        return verdict(Verdict.HUNG)
    if state is not AppState.RUNNING or running is None:
        if programmed[-1]:
            # Spec hazard 10: an image that resets before its OTA core init leaves boot control at FC, so
            # every boot reselects its FE row and programs it again.
            return verdict(Verdict.REPROGRAM_LOOP, "the application resets before confirming itself")
        return verdict(Verdict.CRASH_LOOP, f"board {state.value}")
    if not report.ok:
        return verdict(Verdict.VOLUME_DAMAGED, report.errors[0] if report.errors else "unmountable")
    if programmed[-1]:
        return verdict(Verdict.REPROGRAM_LOOP)
    if any(b.factory_backup for b in boots):
        return verdict(Verdict.REPEATED_BACKUP)
    if any(b.chosen is not None and b.chosen.factory for b in boots):
        return verdict(Verdict.FACTORY_FALLBACK)
    if not db_ok:
        return verdict(Verdict.DB_DAMAGED)
    if running == new:
        return verdict(Verdict.NEW_IMAGE)
    if running == old:
        return verdict(Verdict.OLD_IMAGE)
    return verdict(Verdict.UNKNOWN_IMAGE)
