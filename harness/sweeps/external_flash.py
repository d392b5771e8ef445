"""Power-cut sweeps over the external flash: cut at every flash operation of a file job, mount, report.

A scenario runs once on a recording flash that keeps every erase and page program with its data. Cutting
power *before* operation ``k`` leaves exactly the flash state after operations ``0..k-1`` (the FAT layer's
RAM state is simply lost), so the sweep replays the recorded operations one by one onto a second flash and,
after each, mounts a fresh :class:`~bootloader_model.storage.external_flash.ExternalFlash` and classifies what survived.
A full survey only runs when the last operation touched an erase block the survey reads (system area,
directory clusters, clusters of files with a size); otherwise the previous outcome stands. The tests check
against real :class:`~bootloader_model.storage.nor_flash.FaultPlan` cuts that the replayed states are the same bytes.

Run ``python -m harness.sweeps.external_flash`` to print the outcome tables that ``docs/external-flash.md`` quotes.
It does not model torn operations (see ``FaultPlan`` with ``CutMode.TORN`` for that).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.fat.check import Report, check
from bootloader_model.storage.file_api import MOUNT_POINT, OTA_DIR, FsError, read_file, write_file
from bootloader_model.storage.nor_flash import SST26VF032B, NorFlash

Op = tuple[str, int, bytes]  # ("erase", address, b"") or ("program", address, data)


class RecordingFlash(NorFlash):
    """A NorFlash that also keeps every erase and program, with the programmed bytes."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.ops: list[Op] = []

    def erase(self, address: int, kind: str | None = None) -> None:
        self.ops.append(("erase", address, b""))
        super().erase(address, kind)

    def program(self, address: int, data: bytes | bytearray | memoryview) -> None:
        self.ops.append(("program", address, bytes(data)))
        super().program(address, data)


@dataclass(frozen=True)
class Outcome:
    """What a fresh mount finds after a cut."""

    target: str  # absent, empty, old, new, corrupt (<size> B), or "-" when the volume is damaged
    volume: str  # ok, or "damaged: <path>" naming the first directory or file found broken
    others: str  # intact, or the other files that lost data
    lost_clusters: int
    detail: str = ""  # the first problem found, in words

    def kind(self) -> tuple[str, str, str, bool]:
        """The outcome without counts and details, for grouping neighbouring cuts."""
        return self.target, self.volume, self.others, self.lost_clusters > 0

    def label(self, lost: str = "") -> str:
        leak = f"; {lost or self.lost_clusters} lost clusters" if self.lost_clusters else ""
        why = f" (first: {self.detail})" if self.detail else ""
        return f"file {self.target}; volume {self.volume}{why}; other files {self.others}{leak}"


@dataclass(frozen=True)
class Scenario:
    name: str
    target: str  # full path of the file the job writes
    old: bytes | None
    new: bytes
    others: dict[str, bytes]
    setup: Callable[[ExternalFlash], None]
    job: Callable[[ExternalFlash], None]


@dataclass(frozen=True)
class Cut:
    index: int  # power is lost before this operation (after index-1 completed)
    op: str  # "erase 0x0000D000" / "program 0x0000D100"
    outcome: Outcome


def _write_chunks(x: ExternalFlash, path: str, data: bytes, chunk: int = 4096) -> None:
    fh = x.open(path, "w")
    for i in range(0, len(data), chunk):
        fh.write(data[i : i + chunk])
    fh.close()


def _pattern(n: int, seed: int) -> bytes:
    return hashlib.shake_256(seed.to_bytes(4, "little")).digest(n)


def big_file_scenario() -> Scenario:
    """(a) Write a 900 KiB OTA image in 4 KiB chunks to a freshly formatted volume with ``ota/``."""
    target = OTA_DIR + "/wifi_ota_app_upgrade_ver2.bin"
    new = _pattern(900 * 1024, 1)
    return Scenario(
        "write a 900 KiB image in 4 KiB chunks",
        target,
        None,
        new,
        {},
        lambda x: x.mkdir(OTA_DIR),
        lambda x: _write_chunks(x, target, new),
    )


def csv_rewrite_scenario() -> Scenario:
    """(b) Rewrite a 200-byte ``image_database.csv`` next to the factory backup (open WRITE, write, close)."""
    target = OTA_DIR + "/image_database.csv"
    old, new = _pattern(200, 2), _pattern(200, 3)
    factory = _pattern(913_408, 4)

    def setup(x: ExternalFlash) -> None:
        x.mkdir(OTA_DIR)
        _write_chunks(x, OTA_DIR + "/factory_reset.bin", factory)
        write_file(x, target, old)

    return Scenario(
        "rewrite a 200-byte CSV",
        target,
        old,
        new,
        {OTA_DIR + "/factory_reset.bin": factory},
        setup,
        lambda x: write_file(x, target, new),
    )


SCENARIOS = {"big": big_file_scenario, "csv": csv_rewrite_scenario}


def record(scn: Scenario) -> tuple[bytes, list[Op], bytes]:
    """Format, set up, then run the job on a recording flash: (state before the job, its ops, final state)."""
    flash = RecordingFlash(SST26VF032B, keep_log=False)
    x = ExternalFlash(flash)
    x.format()
    scn.setup(x)
    before = bytes(flash.data)
    flash.ops.clear()
    scn.job(ExternalFlash(flash))  # a fresh mount, as after a reboot
    return before, flash.ops, bytes(flash.data)


def classify(scn: Scenario, flash: NorFlash) -> tuple[Outcome, Report]:
    x = ExternalFlash(flash)
    report = check(x)
    if not report.ok:
        problem = report.errors[0] if report.errors else "unmountable: no FAT file system"
        where, _, what = problem.partition(": ")
        return Outcome("-", f"damaged: {where}", "-", report.lost_clusters, what), report
    key = scn.target[len(MOUNT_POINT) :]
    if key not in report.files:
        target = "absent"
    else:
        try:
            got = read_file(x, scn.target)
        except FsError:
            got = None
        if got == scn.new:
            target = "new"
        elif got == scn.old:
            target = "old"
        elif got == b"":
            target = "empty"
        else:
            target = f"corrupt ({report.files[key]} B)"
    hurt = []
    for path, data in scn.others.items():
        try:
            if read_file(x, path) != data:
                hurt.append(path.rsplit("/", 1)[1])
        except FsError:
            hurt.append(path.rsplit("/", 1)[1])
    return Outcome(target, "ok", "damaged: " + ", ".join(hurt) if hurt else "intact", report.lost_clusters), report


def _watched_blocks(x: ExternalFlash, report: Report) -> set[int]:
    """Erase blocks whose bytes a survey reads: MBR to the end of the root directory, and every owned cluster."""
    g = x.geometry()
    per_block = x.blocks.erase_size // 512
    blocks = set(range(0, (g.data_start + per_block - 1) // per_block))
    core = x.core()
    for c in report.owners:
        first = core.lay.sector_of(c)
        blocks.update(range(first // per_block, (first + core.lay.sectors_per_cluster - 1) // per_block + 1))
    return blocks


def replay(before: bytes, ops: list[Op]) -> Iterator[tuple[int, NorFlash]]:
    """Yield (k, flash holding the state after ops 0..k-1) for k = 0..len(ops); one flash, updated in place."""
    flash = NorFlash(SST26VF032B, keep_log=False)
    flash.data[:] = before
    for k in range(len(ops) + 1):
        if k:
            kind, addr, data = ops[k - 1]
            if kind == "erase":
                flash.erase(addr)
            else:
                flash.program(addr, data)
        yield k, flash


def sweep(scn: Scenario, *, survey_every: bool = False) -> Iterator[Cut]:
    """Yield the outcome of cutting power before each operation of the job, and after the last one.

    ``survey_every`` surveys every state instead of only those after an operation on a watched block
    (slow; the tests use it to show that skipping changes nothing).
    """
    before, ops, _ = record(scn)
    erase = SST26VF032B.min_erase
    outcome: Outcome | None = None
    watched: set[int] | None = None
    for k, flash in replay(before, ops):
        if survey_every or outcome is None or watched is None or ops[k - 1][1] // erase in watched:
            outcome, report = classify(scn, flash)
            watched = _watched_blocks(ExternalFlash(flash), report) if report.ok else None
        label = f"{ops[k][0]} 0x{ops[k][1]:08X}" if k < len(ops) else "(job finished)"
        yield Cut(k, label, outcome)


def table(scn: Scenario) -> list[str]:
    """Markdown rows grouping consecutive cut points with the same outcome."""
    rows = [
        f"**{scn.name}**",
        "",
        "| cut before op | first op of the range | outcome after mounting again |",
        "|---|---|---|",
    ]
    cuts = list(sweep(scn))
    start = 0
    for i in range(1, len(cuts) + 1):
        if i == len(cuts) or cuts[i].outcome.kind() != cuts[start].outcome.kind():
            span = f"{cuts[start].index}" if i - 1 == start else f"{cuts[start].index}-{cuts[i - 1].index}"
            lost = sorted({c.outcome.lost_clusters for c in cuts[start:i]})
            spread = f"{lost[0]}-{lost[-1]}" if len(lost) > 1 else ""
            rows.append(f"| {span} | {cuts[start].op} | {cuts[start].outcome.label(spread)} |")
            start = i
    rows.append(f"\n{len(cuts) - 1} flash operations.\n")
    return rows


def main() -> None:
    for make in SCENARIOS.values():
        print("\n".join(table(make())))


if __name__ == "__main__":
    main()
