"""What each flash operation of a recorded update writes, and in which step of the update it falls.

:func:`classify` labels operations by address. Internal flash: the boot control page, or the program flash
(an erase or rows). External flash: the regions of the FAT volume (boot sector, FAT, directories, read from
the volume's boot sector) and the files whose clusters an operation covers (``image_database.csv``, the
downloaded image, the factory backup), found by walking the volume's directories before and after the
update. The step follows from the recorded phase and the order of the writes: in the application before the
reset, ``download`` until the first write of the image database, then ``DB write``; in the bootloader,
``bootloader programming`` until the last program-flash write, then ``set image status``; in the new
application, ``confirm``. It reads recorded values; it runs no board.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bootloader_model.formats.boot_control import BOOT_CTL_PHYS
from bootloader_model.storage.block_device import SECTOR_SIZE
from bootloader_model.storage.fat.layout import HARMONY_FATTIME
from bootloader_model.storage.fat.mount import Layout, read_layout
from bootloader_model.storage.fat.mounted_volume import Core
from bootloader_model.storage.nor_flash import SST26VF032B

BOOT_CONTROL = "boot control"
PROGRAM_ERASE = "program-flash erase"
PROGRAM_ROWS = "program-flash rows"
IMAGE_DATA = "image file data"
DATABASE = "DB image_database.csv"
FAT = "FAT"
DIRECTORY = "directory"
BOOT_SECTOR = "boot sector"
FACTORY_BACKUP = "factory backup"
OTHER_FILE = "other file"
FREE = "free space"
#: When one external erase block holds several kinds of sectors, the label names the first of these it covers.
PRIORITY = (DATABASE, DIRECTORY, FAT, BOOT_SECTOR, IMAGE_DATA, FACTORY_BACKUP, OTHER_FILE, FREE)

DOWNLOAD, DB_WRITE, PROGRAMMING, SET_STATUS, CONFIRM = (
    "download",
    "DB write",
    "bootloader programming",
    "set image status",
    "confirm",
)
PAGE = 4096  # the internal boot control page


class Operation(Protocol):
    """What :func:`classify` reads of a recorded operation."""

    @property
    def device(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def address(self) -> int: ...
    @property
    def length(self) -> int: ...
    @property
    def phase(self) -> str: ...
    @property
    def data(self) -> bytes: ...


class _Sectors:
    """A raw external flash image as the block device the volume code reads."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.sector_count = len(data) // SECTOR_SIZE

    def read(self, lba: int, count: int = 1) -> bytes:
        return self.data[lba * SECTOR_SIZE : (lba + count) * SECTOR_SIZE]

    def write(self, lba: int, data: bytes | bytearray | memoryview) -> None:
        raise AssertionError("a recorded flash image is read only")


def file_sectors(external: bytes) -> tuple[Layout | None, dict[int, str]]:
    """The volume layout of an external flash image and, for every data sector of a file or a directory,
    what it holds (:data:`DATABASE`, :data:`IMAGE_DATA`, :data:`FACTORY_BACKUP`, :data:`DIRECTORY`, ...)."""
    dev = _Sectors(external)
    layout = read_layout(dev)
    if layout is None:
        return None, {}
    core = Core(dev, layout, HARMONY_FATTIME)
    found: dict[int, str] = {}

    def mark(cluster: int, what: str) -> None:
        for c in core.chain(cluster):
            first = layout.sector_of(c)
            for sector in range(first, first + layout.sectors_per_cluster):
                found[sector] = what

    def walk(cluster: int, depth: int) -> None:
        for entry in core.entries(cluster):
            if entry.name in (".", "..") or entry.cluster < 2:
                continue
            name = entry.name.lower()
            if entry.is_dir:
                if depth < 8:
                    mark(entry.cluster, DIRECTORY)
                    walk(entry.cluster, depth + 1)
            elif name == "image_database.csv":
                mark(entry.cluster, DATABASE)
            elif name == "factory_reset.bin":
                mark(entry.cluster, FACTORY_BACKUP)
            elif name.endswith(".bin"):
                mark(entry.cluster, IMAGE_DATA)
            else:
                mark(entry.cluster, OTHER_FILE)

    walk(0, 0)
    return layout, found


def _region(layout: Layout | None, files: dict[int, str], sector: int) -> str:
    if layout is None:
        return FREE
    if sector < layout.fat_start:
        return BOOT_SECTOR
    if sector < layout.root_start:
        return FAT
    if sector < layout.data_start:
        return DIRECTORY
    return files.get(sector, FREE)


def classify(ops: Sequence[Operation], external_before: bytes, external_after: bytes) -> list[tuple[str, str]]:
    """(what it writes, update step) of every operation of ``ops``, in order.

    An external write goes through the block layer as a read-modify-write of a whole 4 KiB erase block: its
    erase and the programs that put the block back are labelled together, by the sectors whose bytes the
    block write changed (the region or file those sectors belong to, :data:`PRIORITY` deciding between
    several), not by the unchanged neighbours it rewrites.

    Args:
        ops: the recorded operations of both flashes, in the update's order, with the bytes they programmed.
        external_before: the external flash before the first operation.
        external_after: the external flash after the last one (its files name the clusters they own).

    Returns:
        One pair per operation, e.g. ``("image file data", "download")`` or ``("boot control", "confirm")``.
    """
    layout, files = file_sectors(external_before)
    layout_after, files_after = file_sectors(external_after)
    files.update(files_after)  # a file of the update wins over what the sectors held before it
    layout = layout_after or layout
    flash = bytearray(external_before)
    writes: list[str] = [""] * len(ops)
    group: list[int] = []  # the external operations of one block write
    before = b""

    def close() -> None:
        if not group:
            return
        block = ops[group[0]].address // PAGE * PAGE
        sectors = range(block // SECTOR_SIZE, (block + PAGE) // SECTOR_SIZE)
        changed = [s for s in sectors if flash[s * SECTOR_SIZE : (s + 1) * SECTOR_SIZE] != _sector(before, s, block)]
        kinds = {_region(layout, files, s) for s in (changed or sectors)}
        label = next(k for k in PRIORITY if k in kinds)
        for i in group:
            writes[i] = label
        group.clear()

    for i, op in enumerate(ops):
        if op.device == "internal":
            if BOOT_CTL_PHYS <= op.address < BOOT_CTL_PHYS + PAGE:
                writes[i] = BOOT_CONTROL
            else:
                writes[i] = PROGRAM_ERASE if op.kind.startswith("erase") else PROGRAM_ROWS
            continue
        block = op.address // PAGE * PAGE
        if op.kind.startswith("erase") or not group or ops[group[0]].address // PAGE * PAGE != block:
            close()
            before = bytes(flash[block : block + PAGE])
        group.append(i)
        if op.kind.startswith("erase"):
            size = SST26VF032B.erase_units.get(op.kind.partition(":")[2], PAGE)
            end = min(op.address + size, len(flash))
            flash[op.address : end] = b"\xff" * (end - op.address)
        else:
            old = flash[op.address : op.address + len(op.data)]
            flash[op.address : op.address + len(op.data)] = bytes(a & b for a, b in zip(old, op.data, strict=True))
    close()
    return list(zip(writes, _steps(ops, writes), strict=True))


def _sector(block_bytes: bytes, sector: int, block: int) -> bytes:
    start = sector * SECTOR_SIZE - block
    return block_bytes[start : start + SECTOR_SIZE]


def _steps(ops: Sequence[Operation], writes: list[str]) -> list[str]:
    """The update step of each operation (see the module docstring)."""
    first_db = next((i for i, w in enumerate(writes) if w == DATABASE), len(ops))
    in_boot = [i for i, op in enumerate(ops) if op.phase == "bootloader"]
    last_rows = max((i for i in in_boot if writes[i] in (PROGRAM_ERASE, PROGRAM_ROWS)), default=-1)
    # After the program flash the bootloader writes the boot control page once as part of programming
    # (PROGRAM_BOOT_CTL); a later write of the page is SET_IMAGE_STATUS.
    page_writes = [
        i for i in in_boot if i > last_rows and ops[i].address == BOOT_CTL_PHYS and writes[i] == BOOT_CONTROL
    ]
    status_from = page_writes[1] if last_rows >= 0 and len(page_writes) > 1 else (page_writes or [len(ops)])[0]
    booted = False
    steps = []
    for i, op in enumerate(ops):
        if op.phase == "bootloader":
            booted = True
            steps.append(SET_STATUS if i >= status_from else PROGRAMMING)
        elif booted:
            steps.append(CONFIRM)
        else:
            steps.append(DOWNLOAD if i < first_db else DB_WRITE)
    return steps
