"""The checks of safety properties (a)..(g), over a run's records, the running board and a power-up of its flash.

:class:`SafetyProperties` is mixed into :class:`~harness.fuzzing.machine.BoardStateMachine`: it keeps the
records the properties judge against (images served, digests the service accepted, DB rows it recorded,
versions the user excused) and :meth:`SafetyProperties.find_hazard` names the first broken property of
:data:`~harness.fuzzing.hazards.PROPERTIES` as a hazard of :data:`~harness.fuzzing.hazards.HAZARDS`.
(a), (c), (d) and (e) are checked on the probe of :mod:`harness.fuzzing.probe` (what the board does
when power returns), (b) and (e) also on the running board, (f) and (g) on its console.

This module judges and names; it does not act on the board, record steps or raise the finding (the
machine's ``safety`` invariant does).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import ClassVar, NamedTuple

from bootloader_model.board.virtual_board import AppState, VirtualBoard
from bootloader_model.bootloader.state import FACTORY_PATH
from bootloader_model.errors import OtaloopError
from bootloader_model.formats.app_image import APP_OFFSET, SLOT_START
from bootloader_model.quirks import QuirkProfile
from bootloader_model.storage.external_flash import ExternalFlash
from harness.fuzzing.probe import Probe, db_rows, power_returns
from harness.native.application_program import NativeApplication
from harness.native.sanitizers import STUCK_PREFIX as MEMORY_ERROR
from harness.sweeps.verdicts import Verdict

#: Virtual seconds a check may run before property (g) calls it endless (a stalled manifest read fails after
#: 70 s; a download cannot run during a check).
CHECK_LIMIT_S = 150.0
_RESULTS = re.compile(
    rb"SYS_OTA_UPDATE_AVAILABLE|SYS_OTA_UPDATE_NOTAVAILABLE|SYS_OTA_UPDATE_CHECK_FAILED|SYS_OTA_IMAGE_ERASE"
)
_OFFER = re.compile(rb"Server app version: (-?\d+)\r\n    current app version: (\d+)\r\n")


class Violation(NamedTuple):
    """A broken property: the hazard it shows, the property's letter, what was seen, DB rows lost."""

    name: str
    prop: str
    seen: str
    lost: frozenset[tuple[int, str]] = frozenset()


def board_slot(board: VirtualBoard, length: int) -> bytes | None:
    """The running board's internal flash from the slot start, or None when no healthy app runs.

    Args:
        board: the board to read.
        length: bytes to read from the slot start.
    """
    if board.state is not AppState.RUNNING:
        return None
    return bytes(board.internal.read(SLOT_START, length))


class SafetyProperties:
    """The records a run's properties judge against, and the checks. The host class provides the board."""

    board: VirtualBoard
    profile: QuirkProfile
    bootloader: ClassVar[str]
    application: ClassVar[str]
    tolerate: ClassVar[frozenset[str]]

    def __init__(self) -> None:
        super().__init__()
        #: Digest -> pristine bytes of every image served: what an accepted digest stands for.
        self.images: dict[str, bytes] = {}
        #: Versions whose DB row the user may lose (erase asked, factory reset, rollback).
        self.excused: set[int] = set()
        #: (version, digest) rows seen in the DB: images the service verified and recorded.
        self.recorded: set[tuple[int, str]] = set()
        #: Digests the service ever accepted (recorded in the DB), and the factory image's.
        self.accepted: set[str] = set()
        self._db_seen_at: tuple[int, int] = (-1, -1)
        self._scanned = 0
        self._backup_gone = False
        self._app_errors_seen = 0

    def contents_key(self) -> Hashable:
        """Equal keys mean equal flash contents (the host class knows what changed the flash)."""
        raise NotImplementedError

    def slot_bytes(self) -> int:
        """How much of internal flash the byte-identity check compares (covers every image served)."""
        return max(len(image) for image in self.images.values())

    def when_power_returns(self) -> Probe:
        """What the board does if power fails now and returns (cached by flash contents)."""
        length = self.slot_bytes()
        cls = type(self)
        key = (self.contents_key(), length)
        return power_returns(self.board, self.profile, length, key, cls.bootloader, cls.application)

    def find_hazard(self) -> tuple[str, str, str] | None:
        """(hazard, property letter, what was seen) for the first broken property, or None.

        A hazard in ``tolerate`` is forgiven with its consequences: the images it lost are no longer
        expected, a factory backup it removed is no longer required.
        """
        found = self._violations()
        if not found:
            return None
        primary = found[0]  # what broke first; the others are usually its consequences
        if primary.name not in type(self).tolerate:
            return primary.name, primary.prop, primary.seen
        for v in found:
            if v.prop == "c":
                self.recorded -= v.lost
            elif v.prop == "d":
                self._backup_gone = True
        return None

    def _excuse_if_asked(self, typed: bytes) -> None:
        # A factory reset or rollback the user asks for may lose recorded images (property c).
        if b"factory" in typed or b"rollback" in typed:
            self.excused.update(v for v, _ in self.recorded)

    def _violations(self) -> list[Violation]:
        out = self._application_memory_errors()
        out += self._running_db()
        self._accepted_check(board_slot(self.board, self.slot_bytes()), out, where="the running board")
        out.extend(self._console_hazards())
        out.extend(self._power_return_hazards(self.when_power_returns()))
        return out

    def _application_memory_errors(self) -> list[Violation]:
        """A sanitizer report of the running board's native application since the last look (property a: the
        run ended hung)."""
        app = self.board.config.application
        if not isinstance(app, NativeApplication) or len(app.memory_errors_found) <= self._app_errors_seen:
            return []
        report = app.memory_errors_found[-1]
        self._app_errors_seen = len(app.memory_errors_found)
        return [Violation("native-memory-error", "a", f"the native application: {report.headline()}")]

    def _running_db(self) -> list[Violation]:
        """Property (e) on the running board; its new rows are images the service verified and recorded."""
        board = self.board
        ops = (board.internal.op_count, board.external.op_count)
        if ops == self._db_seen_at:
            return []
        self._db_seen_at = ops
        try:
            rows, problem = db_rows(ExternalFlash(board.external))
        except OtaloopError as exc:
            rows, problem = None, f"volume unmountable: {exc}"
        if rows is None:
            return [Violation("db-damaged", "e", f"the board's DB: {problem}")] if board.powered else []
        now = set(rows)
        if now - self.recorded:  # a new row may take an old one's place (DB full): not a loss
            self.recorded &= now
        self.recorded |= now
        self.accepted |= {d for _, d in now}
        return []

    def _power_return_hazards(self, probe: Probe) -> list[Violation]:
        """Properties (a), (c), (d), (e) and (b) on what the board does when power returns."""
        out: list[Violation] = []
        j = probe.judgement
        if probe.running is None:
            verdict = j.verdict
            seen = j.line()
            if verdict is Verdict.STUCK and j.detail.startswith(MEMORY_ERROR):
                out.append(Violation("native-memory-error", "a", seen))  # a sanitizer ended the boot
            elif verdict is Verdict.STUCK:
                ota_gone = not (probe.ota_dir and probe.backup) and not self._backup_gone
                # The loop's own words: the model names them in its stuck reason; a native build only
                # prints them, so the end of the power-up's console counts too.
                looping_on_open = "file open error" in j.detail or "file open error" in probe.transcript[-200:]
                erased = looping_on_open and ota_gone
                out.append(Violation("ota-directory-erased" if erased else "bootloader-stuck", "a", seen))
            elif verdict is Verdict.HUNG:
                out.append(Violation("hang-at-boot", "a", seen))
            elif verdict is Verdict.SILENT:
                out.append(Violation("no-application", "a", seen))
            else:
                out.append(Violation("reprogram-loop", "a", seen))
        if probe.rows is not None:
            kept = set(probe.rows)
            lost = sorted(r for r in self.recorded if r not in kept and r[0] not in self.excused)
            if lost:
                what = f"{j.line()}; recorded {', '.join(f'v{v}' for v, _ in lost)} lost"
                svc = self.board.service
                if probe.factory_chosen and probe.db_deleted:
                    cut = probe.boot_control_before != "valid"
                    name = "power-cut-factory-fallback" if cut else "factory-fallback"
                elif svc is not None and svc.erase_request and svc.params.delete_img_version in {v for v, _ in lost}:
                    name = "stuck-erase-flag"  # the service erased an image no EraseVer manifest named
                else:
                    name = "image-lost"
                out.append(Violation(name, "c", what, frozenset(lost)))
        else:
            out.append(Violation("db-damaged", "e", f"after power returns: {probe.db_problem}"))
        if not probe.backup and not self._backup_gone:
            out.append(Violation("factory-backup-lost", "d", f"no {FACTORY_PATH} after power returns; {j.line()}"))
        if probe.running is not None:
            self._accepted_check(probe.slot, out, where="after power returns")
        return out

    def _accepted_check(self, slot: bytes | None, out: list[Violation], where: str) -> None:
        """Property (b): the application in ``slot`` is one the service accepted (None: none runs)."""
        if slot is None:
            return
        for d in self.accepted:
            image = self.images.get(d)
            if image is not None and slot[APP_OFFSET : len(image)] == image[APP_OFFSET:]:
                return
        out.append(Violation("unaccepted-image-runs", "b", f"{where}: the application matches no accepted image"))

    def _console_hazards(self) -> list[Violation]:
        """Properties (f) and (g) on what the running board printed since the last look."""
        out: list[Violation] = []
        board = self.board
        t = board.transcript
        base = board.printed - len(t)  # the transcript is a window: offsets below count from the first print
        pos = t.find(b"SYS_OTA_UPDATE_AVAILABLE", max(0, self._scanned - base))
        while pos >= 0:
            begin = max(t.rfind(b"SYS_OTA_UPDATE_CHECK_START", 0, pos), t.rfind(b"APP: version", 0, pos))
            offers = _OFFER.findall(bytes(t[max(begin, 0) : pos]))
            if not offers or int(offers[-1][0]) <= int(offers[-1][1]):
                at = board.printed_at(base + pos) or 0.0
                out.append(
                    Violation(
                        "stale-check-result",
                        "f",
                        f"SYS_OTA_UPDATE_AVAILABLE at {at:.1f} s after a check that read no manifest offering "
                        "a newer version",
                    )
                )
            pos = t.find(b"SYS_OTA_UPDATE_AVAILABLE", pos + 1)
        self._scanned = board.printed
        svc = board.service
        last_app = t.rfind(b"APP: version")
        last_start = t.rfind(b"SYS_OTA_UPDATE_CHECK_START")
        if board.state is AppState.RUNNING and svc is not None and last_start > last_app >= 0:
            started = board.printed_at(base + last_start)
            if started is not None and not _RESULTS.search(t, last_start):
                waited = board.clock.now() - started
                if waited > CHECK_LIMIT_S:
                    if svc.erase_request:
                        name = "stuck-erase-flag"
                    elif svc.download_success or svc.fw_in_progress:
                        name = "check-after-download-hangs"
                    else:
                        name = "check-never-completes"
                    seen = f"a check started at {started:.1f} s has no result {waited:.0f} s later"
                    out.append(Violation(name, "g", seen))
        return out
