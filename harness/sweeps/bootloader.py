"""Power-cut sweeps of the OTA bootloader model: cut at every flash operation, power up, classify.

A :class:`BootScene` is a virtual board frozen just before one bootloader run: internal flash, the
external volume (a :class:`~bootloader_model.storage.file_api.MemoryFileSystem`, or the FAT volume on emulated SST26
flash), and the images it knows. :func:`sweep` replays that run once per (operation, cut mode) on the
internal or the external flash, lets power fail there, powers the board up again (booting until it jumps
or gets stuck, at most :data:`MAX_BOOTS` times) and names what the board ends up doing
(:class:`Verdict`). :func:`summarize` folds consecutive operations with the same verdict into ranges,
which is the table in ``docs/bootloader.md``.

The scenes here are the three of the bootloader issue: the first-boot factory backup, programming a
downloaded image, and the verify-failure path. Where the application would act between boots (promote
an image to F8, write boot control after a download), :func:`app_write_boot_control` does what the OTA
core does: erase the page and program a fresh header. This module runs no application code.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from bootloader_model.bootloader.provisioning import provision_unified, synthetic_app_bin
from bootloader_model.bootloader.result import BootResult, Outcome
from bootloader_model.bootloader.step_machine import FACTORY_PATH, FACTORY_RESET_IMG_SIZE, Bootloader
from bootloader_model.errors import BoardError, CallerError, PowerCut
from bootloader_model.formats import image_database
from bootloader_model.formats.boot_control import (
    APP_BOOT_ADDR,
    BOOT_CTL_PHYS,
    PAGE_SIZE,
    BootControl,
    placeholder_page,
    with_header,
)
from bootloader_model.quirks import HARMONY, QuirkProfile
from bootloader_model.storage.external_flash import ExternalFlash, new_external
from bootloader_model.storage.file_api import OTA_DIR, FileSystem, FsError, MemoryFileSystem, write_file
from bootloader_model.storage.nor_flash import PIC32MZ1025W104132, CutMode, FaultPlan, NorFlash, OpRecord
from harness.sweeps.executor import Executor, InProcess, Work
from harness.sweeps.progress import Progress

MAX_BOOTS = 4
SCENES = ("backup", "program", "verify-failure")
#: Smallest downloaded image a scene can store: the 4 KiB boot control page.
MIN_IMAGE_SIZE = PAGE_SIZE
DEVICES = ("internal", "external")


class Verdict(str, Enum):
    NEW = "new image running"
    OLD = "old image running"
    FACTORY_DB_DELETED = "factory fallback, database deleted"
    FACTORY = "factory image running"
    REPEATED_BACKUP = "backup repeated, then factory image running"
    BACKUP_LOST = "factory image running, factory_reset.bin lost"
    UNKNOWN_IMAGE = "unverified image running"
    STUCK = "stuck"


# ------------------------------------------------------------------------------------------- volumes


class Volume:
    """The external volume of a scene, with snapshots. ``flash`` is None for the in-memory stand-in."""

    def __init__(self, fat: bool) -> None:
        self.fat = fat
        self._ext: ExternalFlash | None = new_external(keep_log=True) if fat else None
        self._mem: MemoryFileSystem | None = None if fat else MemoryFileSystem(formatted=False)

    @property
    def flash(self) -> NorFlash | None:
        return self._ext.flash if self._ext is not None else None

    def mount(self) -> FileSystem:
        """The file system as the firmware sees it after a reset (for FAT: a new mount over the flash)."""
        if self._ext is not None:
            self._ext = ExternalFlash(self._ext.flash)
            return self._ext
        assert self._mem is not None
        self._mem.initialize(None)  # a reset empties SYS_FS's file table; who runs next sizes it
        return self._mem

    def snapshot(self) -> object:
        return self._ext.flash.snapshot() if self._ext is not None else copy.deepcopy(self._mem)

    def restore(self, snap: object) -> None:
        if self._ext is not None:
            self._ext.flash.restore(snap)  # type: ignore[arg-type]
        else:
            self._mem = copy.deepcopy(snap)  # type: ignore[assignment]


# --------------------------------------------------------------------------------------------- board


@dataclass
class BootRig:
    """A bootloader test rig: internal flash, the external volume and the images a test knows by name.

    Lighter than :class:`bootloader_model.board.virtual_board.VirtualBoard`: no application, clock or console, only what
    the bootloader reads and writes, so sweeps can run thousands of boots.
    """

    flash: NorFlash
    volume: Volume
    factory: bytes
    images: dict[str, bytes] = field(default_factory=dict)
    profile: QuirkProfile = HARMONY

    def bootloader(self, variant: str = "wolfcrypt") -> Bootloader:
        """A bootloader over this board's flash and a fresh mount of its volume."""
        return Bootloader(self.flash, self.volume.mount(), self.profile, variant=variant)

    def boot(self, variant: str = "wolfcrypt") -> BootResult:
        return self.bootloader(variant).boot()

    def store_image(self, name: str, image: bytes, version: int, *, digest: str | None = None) -> None:
        """What a finished download leaves: the file, and a DB row added by ``OTADbNewEntry``."""
        fs = self.volume.mount()
        write_file(fs, f"{OTA_DIR}/{name}", image)
        digest = digest if digest is not None else hashlib.sha256(image).hexdigest()
        image_database.new_entry(fs, f"{OTA_DIR}/{name}", version, digest, db_full=False, profile=self.profile)
        self.images[name] = image

    def running(self) -> str | None:
        """Name of the known image whose bytes from 0x1000 on are in internal flash ('factory' included)."""
        for name, image in (("factory", self.factory), *self.images.items()):
            body = image[PAGE_SIZE:]
            if self.flash.read(BOOT_CTL_PHYS + PAGE_SIZE, len(body)) == body:
                return name
        return None


def new_rig(
    *, factory_size: int = 16 * 1024, fat: bool = False, profile: QuirkProfile = HARMONY, backup: bool = True
) -> BootRig:
    """A board programmed with the unified hex; with ``backup`` it has also run its first-boot backup."""
    flash = NorFlash(PIC32MZ1025W104132, keep_log=True)
    factory = synthetic_app_bin(factory_size, seed=1)
    provision_unified(flash, factory)
    board = BootRig(flash, Volume(fat), factory, profile=profile)
    if backup:
        first = board.boot()
        if first.outcome is not Outcome.RESET:
            raise BoardError(f"the first boot did not back up the factory image: {first}")
    return board


def app_write_boot_control(flash: NorFlash, *, status: int, version: int, type_: int = 1) -> None:
    """What the application's OTA core does to boot control: erase the page, program a fresh header."""
    header = BootControl(status=status, order=0xFF, type=type_, version=version, boot_addr=APP_BOOT_ADDR)
    page = with_header(placeholder_page(), header)
    flash.erase(BOOT_CTL_PHYS)
    for i in range(0, PAGE_SIZE, 1024):
        flash.program(BOOT_CTL_PHYS + i, page[i : i + 1024])


def promote(board: BootRig, version: int) -> None:
    """The application's boot-time confirm step for the running image: row and boot control to F8."""
    fs = board.volume.mount()
    _, table = image_database.load_db(fs)
    row = table.image_row(version, uint8_cast=False)
    image_database.set_status(fs, row, 0xF8, profile=board.profile)
    app_write_boot_control(board.flash, status=0xF8, version=version)


# -------------------------------------------------------------------------------------------- scenes


@dataclass
class BootScene:
    """A board frozen before the bootloader run to sweep, plus what each verdict means for it."""

    name: str
    board: BootRig
    new: str | None = None  # image name of the "new" image, if any
    old: str | None = None
    _snaps: tuple[object, object] | None = None

    def freeze(self) -> None:
        self._snaps = (self.board.flash.snapshot(), self.board.volume.snapshot())

    def thaw(self) -> None:
        assert self._snaps is not None
        self.board.flash.restore(self._snaps[0])  # type: ignore[arg-type]
        self.board.volume.restore(self._snaps[1])


def check_image_size(image_size: int) -> None:
    """The downloaded images of the ``program`` and ``verify-failure`` scenes: the boot control page at least,
    the application slot at most."""
    if not isinstance(image_size, int) or not MIN_IMAGE_SIZE <= image_size <= FACTORY_RESET_IMG_SIZE:
        raise CallerError(
            f"--image-size must be {MIN_IMAGE_SIZE}..{FACTORY_RESET_IMG_SIZE} bytes (from the boot control page "
            f"to the whole 0x{FACTORY_RESET_IMG_SIZE:X}-byte application slot), got {image_size}"
        )


def build_scene(
    name: str, *, fat: bool = False, image_size: int = 32 * 1024, profile: QuirkProfile = HARMONY
) -> BootScene:
    """``backup``: first boot after the unified hex. ``program``: v2 runs, v3 downloaded. ``verify-failure``:
    as ``program`` but the stored v3 file no longer matches its digest."""
    if name not in SCENES:
        raise CallerError(f"unknown bootloader scene {name!r}; choose one of {', '.join(SCENES)}")
    check_image_size(image_size)
    board = new_rig(fat=fat, profile=profile, backup=name != "backup")
    scene = BootScene(name, board)
    if name != "backup":
        board.boot()  # the factory application runs once
        old, new = synthetic_app_bin(image_size, seed=2), synthetic_app_bin(image_size, seed=3)
        board.store_image("app_v2.bin", old, 2)
        app_write_boot_control(board.flash, status=0xF0, version=2)
        if board.boot().chosen is None:
            raise BoardError("the bootloader did not program v2 for the scene")
        promote(board, 2)
        if name == "program":
            board.store_image("app_v3.bin", new, 3)
        else:
            board.store_image("app_v3.bin", new, 3, digest=hashlib.sha256(new[:-1] + b"\0").hexdigest())
        app_write_boot_control(board.flash, status=0xF0, version=3)
        scene.old, scene.new = "app_v2.bin", "app_v3.bin"
    board.flash.log.clear()
    scene.freeze()
    return scene


# -------------------------------------------------------------------------------------------- sweeps


@dataclass(frozen=True)
class CutResult:
    device: str
    op_index: int
    op: OpRecord
    mode: str
    verdict: Verdict
    detail: str = ""  # stuck reason, or extra facts (e.g. how many boots it took)

    @property
    def fault_id(self) -> str:
        prefix = "int@" if self.device == "internal" else "ext@"
        return prefix + FaultPlan(self.op_index, CutMode(self.mode), self.op_index).fault_id


def _target(scene: BootScene, device: str) -> NorFlash:
    if device == "internal":
        return scene.board.flash
    ext = scene.board.volume.flash
    if ext is None:
        raise CallerError("external-flash cuts need the FAT volume (fat=True)")
    return ext


def dry_run(scene: BootScene, device: str) -> list[OpRecord]:
    """The operations the swept run performs on ``device``, in order."""
    scene.thaw()
    target = _target(scene, device)
    start = len(target.log)
    scene.board.boot()
    ops = list(target.log[start:])
    scene.thaw()
    return ops


def _classify(scene: BootScene, results: Sequence[BootResult]) -> tuple[Verdict, str]:
    board = scene.board
    last = results[-1]
    boots = f"{len(results)} boot(s)"
    if last.outcome is Outcome.STUCK:
        return Verdict.STUCK, str(last.stuck_reason)
    if last.outcome is not Outcome.JUMP:
        return Verdict.STUCK, f"no jump after {MAX_BOOTS} boots"
    running = board.running()
    fs = board.volume.mount()
    try:
        db_gone = not fs.exists(image_database.DB_PATH)
    except FsError:
        db_gone = True
    if running == "factory":
        try:
            backup = fs.file_size(FACTORY_PATH) if fs.exists(FACTORY_PATH) else -1
        except FsError:
            backup = -1
        if backup != FACTORY_RESET_IMG_SIZE:
            return Verdict.BACKUP_LOST, f"factory_reset.bin {'missing' if backup < 0 else f'{backup} bytes'}"
        if scene.name == "backup":
            return (Verdict.REPEATED_BACKUP if any(r.factory_backup for r in results) else Verdict.FACTORY), boots
        return (Verdict.FACTORY_DB_DELETED if db_gone else Verdict.FACTORY), boots
    if running is not None and running == scene.new:
        return Verdict.NEW, boots
    if running is not None and running == scene.old:
        return Verdict.OLD, boots
    return Verdict.UNKNOWN_IMAGE, boots


def power_up(scene: BootScene) -> list[BootResult]:
    """Boot until a jump or a stuck loop (software resets boot again), at most :data:`MAX_BOOTS` times."""
    results: list[BootResult] = []
    for _ in range(MAX_BOOTS):
        res = scene.board.boot()
        results.append(res)
        if res.outcome is not Outcome.RESET:
            break
    return results


def cut_once(scene: BootScene, device: str, op_index: int, mode: CutMode, op: OpRecord) -> CutResult:
    scene.thaw()
    target = _target(scene, device)
    target.arm(FaultPlan(op_index, mode, seed=op_index))
    try:
        scene.board.boot()
        cut = False
    except PowerCut:
        cut = True
    finally:
        target.arm(None)
    if not cut:
        raise BoardError(f"the boot never reached operation {op_index} of the {device} flash that the recording had")
    verdict, detail = _classify(scene, power_up(scene))
    return CutResult(device, op_index, op, mode.value, verdict, detail)


def sweep(
    scene: BootScene,
    device: str = "internal",
    modes: Iterable[CutMode] = (CutMode.BEFORE, CutMode.TORN, CutMode.AFTER),
    pick: Callable[[int, OpRecord], bool] | None = None,
) -> list[CutResult]:
    """Cut at every operation (or those ``pick`` keeps) of the scene's run on ``device``, in each mode."""
    ops = dry_run(scene, device)
    out = [
        cut_once(scene, device, k, mode, op)
        for k, op in enumerate(ops)
        if pick is None or pick(k, op)
        for mode in modes
    ]
    scene.thaw()
    return out


# ------------------------------------------------------------------------------------------ reporting


def op_label(op: OpRecord) -> str:
    what = "erase" if op.kind.startswith("erase") else "program"
    return f"{what} 0x{op.address:08X}"


def _verdicts(group: Sequence[CutResult]) -> str:
    names = {r.verdict.value for r in group}
    if len(names) == 1:
        return names.pop()
    return "; ".join(f"{r.mode}: {r.verdict.value}" for r in group)


def summarize(results: Sequence[CutResult]) -> list[tuple[str, str, str]]:
    """Rows (operations, verdicts by cut mode, stuck reasons): consecutive operations with equal outcomes merged."""
    by_op: dict[int, list[CutResult]] = {}
    for r in results:
        by_op.setdefault(r.op_index, []).append(r)
    rows: list[tuple[str, str, str]] = []
    run: list[int] = []
    last_key: tuple[str, str] | None = None

    def flush() -> None:
        if not run or last_key is None:
            return
        a, b = by_op[run[0]][0].op, by_op[run[-1]][0].op
        span = f"#{run[0]} {op_label(a)}" if len(run) == 1 else f"#{run[0]}..#{run[-1]} {op_label(a)} .. {op_label(b)}"
        rows.append((span, *last_key))

    for k in sorted(by_op):  # neighbours among the visited operations merge (sampled sweeps skip some)
        group = by_op[k]
        notable = (Verdict.STUCK, Verdict.BACKUP_LOST)
        key = (_verdicts(group), "; ".join(sorted({r.detail for r in group if r.verdict in notable})))
        if key == last_key and run:
            run.append(k)
            continue
        flush()
        run, last_key = [k], key
    flush()
    return rows


def markdown_table(results: Sequence[CutResult]) -> str:
    modes = ", ".join(dict.fromkeys(r.mode for r in results))
    lines = [f"| operations (cut {modes}) | after power-up | why |", "|---|---|---|"]
    for span, verdict, detail in summarize(results):
        lines.append(f"| {span} | {verdict} | {detail} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ on any executor


@dataclass(frozen=True)
class SceneSweep:
    """One (scene, device) sweep, as plain data a worker process rebuilds the scene from (scenes are
    deterministic: seeded images, a fixed first boot)."""

    scene: str
    device: str
    fat: bool
    image_size: int
    profile: str
    modes: tuple[CutMode, ...]
    stride: int = 1  # visit every stride-th operation ...
    tail: int = 0  # ... and the last ``tail`` ones

    def picks(self, n: int) -> list[int]:
        return [k for k in range(n) if k % self.stride == 0 or k >= n - self.tail]


@dataclass
class _SceneWorker:
    spec: SceneSweep
    scene: BootScene
    ops: list[OpRecord]


def _scene_setup(spec: SceneSweep) -> _SceneWorker:
    scene = build_scene(spec.scene, fat=spec.fat, image_size=spec.image_size, profile=QuirkProfile.named(spec.profile))
    return _SceneWorker(spec, scene, dry_run(scene, spec.device))


def _scene_run(worker: _SceneWorker, picks: Sequence[int]) -> list[CutResult]:
    spec, scene = worker.spec, worker.scene
    out = [cut_once(scene, spec.device, k, mode, worker.ops[k]) for k in picks for mode in spec.modes]
    scene.thaw()
    return out


def sweep_scene(
    spec: SceneSweep, executor: Executor | None = None, progress: Progress | None = None
) -> tuple[int, list[CutResult]]:
    """(operations in the run, every cut) of ``spec``, on ``executor``; results in operation order."""
    n = len(_scene_setup(spec).ops)
    picks = spec.picks(n)
    size = max(4, -(-len(picks) // 64))
    chunks = [picks[i : i + size] for i in range(0, len(picks), size)]
    work = Work(_scene_setup, _scene_run, spec, chunks)
    if progress is not None:
        progress.total = len(picks) * len(spec.modes)
    found: list[CutResult] = []
    for _, part in (executor or InProcess()).run(work):
        found.extend(part)
        if progress is not None:
            progress.advance(len(part))
    order = {m: i for i, m in enumerate(spec.modes)}
    found.sort(key=lambda r: (r.op_index, order[CutMode(r.mode)]))
    return n, found


def dumps_cuts(results: Iterable[tuple[SceneSweep, list[CutResult]]]) -> str:
    """JSON of bootloader sweeps: per (scene, device), every cut with its fault id, operation and verdict."""
    import json

    sweeps = [
        {
            "scene": spec.scene,
            "device": spec.device,
            "fat": spec.fat,
            "image_size": spec.image_size,
            "profile": spec.profile,
            "modes": [m.value for m in spec.modes],
            "cuts": [
                {
                    "fault": r.fault_id,
                    "op": r.op_index,
                    "operation": op_label(r.op),
                    "mode": r.mode,
                    "outcome": r.verdict.value,
                    "detail": r.detail,
                }
                for r in cuts
            ],
        }
        for spec, cuts in results
    ]
    return json.dumps({"format": "otaloop-bootloader-sweep/1", "sweeps": sweeps}, indent=1) + "\n"
