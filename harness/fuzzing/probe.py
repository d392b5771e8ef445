"""What the board does when power returns: a copy of its flash powered up on a fresh board, and what it showed.

:func:`power_returns` copies both flashes of a board into a fresh :class:`VirtualBoard` (RAM lost, as at
a power cut), powers it up twice with the network down (:func:`harness.sweeps.verdicts.settle`, the
power-up the sweeps use) and returns a :class:`Probe`: the verdict, the version that runs, the slot bytes,
the image database rows, the factory backup, ``ota/``, the boot control page as power returned, and the
console. A probe keyed by the flash contents is cached, so only a step that changed the flash costs a
power-up. :func:`board_config` is the board both the probe and
:class:`~harness.fuzzing.machine.BoardStateMachine` run.

This module only looks: it judges no property (:mod:`harness.fuzzing.safety` does) and never changes the
board it copies.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from bootloader_model.board.virtual_board import BoardConfig, VirtualBoard
from bootloader_model.bootloader.program import MODEL
from bootloader_model.bootloader.state import FACTORY_PATH
from bootloader_model.errors import OtaloopError
from bootloader_model.formats import image_database
from bootloader_model.formats.app_image import SLOT_START
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, HEADER_SIZE, is_blank
from bootloader_model.quirks import QuirkProfile
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import OTA_DIR
from harness.native.programs import application_from_spec, bootloader_from_spec
from harness.sweeps.verdicts import Judgement, judge, running_version, settle

#: Virtual seconds from the jump until the application has its IP address. Shorter than the board's
#: default 1.5 s: the service polls for it every 1 ms tick, which would be most of the machine's run time.
NETWORK_DELAY_S = 0.05
#: Wall seconds the board waits for the loopback image server before virtual time passes, so a step takes
#: the same virtual time however loaded the host is (hypothesis needs repeatable runs).
NETWORK_PATIENCE_S = 5.0
#: Probes kept in the cache (least recently used first out).
PROBE_CACHE = 400

_PROBES: OrderedDict[Hashable, Probe] = OrderedDict()


@dataclass(frozen=True)
class Probe:
    """What the board does when power returns: a copy of the flash powered up twice (network down)."""

    judgement: Judgement
    running: int | None  # version of the healthy application running at the end
    slot: bytes  # internal flash from the slot start, for the byte-identity check
    rows: tuple[tuple[int, str], ...] | None  # (version, digest) of the DB rows; None if it does not parse
    db_problem: str
    backup: bool  # factory_reset.bin exists
    ota_dir: bool  # the ota/ directory can be listed
    boot_control_before: str  # "blank", "torn" or "valid" when power returned
    factory_chosen: bool
    db_deleted: bool
    transcript: str


def board_config(profile: QuirkProfile, bootloader: str = MODEL, application: str = MODEL) -> BoardConfig:
    """The configuration of a fuzzed board: loopback network, quick IP address, patient with the server.

    Args:
        profile: the quirk profile the board runs.
        bootloader: what runs at every reset: ``model`` or ``native:CACHE_DIR``.
        application: what runs after every jump: ``model`` or ``native:CACHE_DIR``.

    Returns:
        A :class:`BoardConfig` with ``network_delay_s`` :data:`NETWORK_DELAY_S` and ``network_patience_s``
        :data:`NETWORK_PATIENCE_S`.

    Raises:
        CallerError: ``bootloader`` or ``application`` is not a known spec, or its native build is missing.
    """
    return BoardConfig(
        profile=profile,
        network="loopback",
        network_delay_s=NETWORK_DELAY_S,
        network_patience_s=NETWORK_PATIENCE_S,
        bootloader=bootloader_from_spec(bootloader, profile, memory_errors="stuck"),
        application=application_from_spec(application, memory_errors="stuck"),
    )


def db_rows(fs: ExternalFlash) -> tuple[tuple[tuple[int, str], ...] | None, str]:
    """The image database of ``fs`` as (version, lower-case digest) rows.

    Args:
        fs: the mounted external flash volume.

    Returns:
        ``(rows, "")``, an absent database being ``()``; or ``(None, why)`` when it does not parse.
    """
    try:
        if not fs.exists(image_database.DB_PATH):
            return (), ""
        status, table = image_database.load_db(fs)
    except OtaloopError as exc:
        return None, f"unreadable: {exc}"
    if status != image_database.LOAD_OK:
        return None, f"load status {status}"
    rows = []
    for r in range(table.height):
        version = table.field_value_32(image_database.DbField.VERSION, r)
        digest = table.field_string(image_database.DbField.DIGEST, r)
        if version is None or digest is None:
            return None, f"row {r} has an unreadable version or digest"
        rows.append((version, digest.lower()))
    return tuple(rows), ""


def _boot_control_state(board: VirtualBoard) -> str:
    raw = board.internal.read(BOOT_CTL_PHYS, HEADER_SIZE)
    if is_blank(raw[:16]):
        return "blank"
    return "valid" if raw[0] in (0xF0, 0xF8, 0xFC, 0xFE, 0xFF) and raw[1] != 0xFF else "torn"


def power_returns(
    board: VirtualBoard,
    profile: QuirkProfile,
    slot_bytes: int,
    key: Hashable = None,
    bootloader: str = MODEL,
    application: str = MODEL,
) -> Probe:
    """Copy the board's flash into a fresh board (RAM lost, as at a power cut), power it up and look.

    Args:
        board: the board whose flash is copied; it is not changed.
        profile: the quirk profile of the fresh board.
        slot_bytes: bytes of internal flash from the slot start to keep in :attr:`Probe.slot`.
        key: if given, names the flash contents (equal keys: equal contents) and caches the result.
        bootloader: what runs at every reset of the fresh board: ``model`` or ``native:CACHE_DIR``.
        application: what runs after every jump of the fresh board: ``model`` or ``native:CACHE_DIR``.

    Returns:
        The :class:`Probe`.

    Raises:
        CallerError: ``bootloader`` or ``application`` is not a known spec, or its native build is missing.
    """
    hit = _PROBES.get(key) if key is not None else None
    if hit is not None:
        _PROBES.move_to_end(key)
        return hit
    probe = VirtualBoard(board_config(profile, bootloader, application))
    probe.internal.data[:] = board.internal.data
    probe.external.data[:] = board.external.data
    before = _boot_control_state(probe)
    runs = settle(probe)
    judgement = judge(probe, runs, 1, 2)
    boots = [b for run in runs for b in run]
    try:
        fs = ExternalFlash(probe.external)
        rows, problem = db_rows(fs)
        backup = fs.exists(FACTORY_PATH)
        try:
            fs.listdir(OTA_DIR)
            ota_dir = True
        except OtaloopError:
            ota_dir = False
    except OtaloopError as exc:
        rows, problem, backup, ota_dir = None, f"volume unmountable: {exc}", False, False
    result = Probe(
        judgement=judgement,
        running=running_version(probe),
        slot=bytes(probe.internal.read(SLOT_START, slot_bytes)),
        rows=rows,
        db_problem=problem,
        backup=backup,
        ota_dir=ota_dir,
        boot_control_before=before,
        factory_chosen=any(b.chosen is not None and b.chosen.factory for b in boots),
        db_deleted=any(b.db_deleted for b in boots),
        transcript=probe.text,
    )
    if key is not None:
        _PROBES[key] = result
        if len(_PROBES) > PROBE_CACHE:
            _PROBES.popitem(last=False)
    return result
