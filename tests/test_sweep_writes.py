"""What each operation of the default update writes and in which step, as the sweep plot labels its x axis:
derived from addresses (boot control page, FAT regions, the files' clusters), checked against what the
update is known to do, kept in the JSON, and drawn as text in the SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bootloader_model.formats.boot_control import BOOT_CTL_PHYS
from harness.sweeps import writes
from harness.sweeps.executor import InProcess
from harness.sweeps.results import SweepRun, dumps, loads
from harness.sweeps.update import OpInfo, Reference, plan_sweep, run_sweep


def _runs(ops: list[OpInfo]) -> list[tuple[str, str, str, str]]:
    """(phase, device, writes, step) of each run of consecutive operations that share them."""
    out: list[tuple[str, str, str, str]] = []
    for op in ops:
        key = (op.phase, op.device, op.writes, op.step)
        if not out or out[-1] != key:
            out.append(key)
    return out


def test_every_operation_of_the_default_update_is_labelled_as_the_update_goes(ref: Reference) -> None:
    ops = list(ref.ops)
    assert all(op.writes and op.step for op in ops)
    boot_control = [op for op in ops if op.device == "internal" and op.address // 4096 == BOOT_CTL_PHYS // 4096]
    assert boot_control and all(op.writes == writes.BOOT_CONTROL for op in boot_control)
    assert [op.writes for op in ops if op.device == "internal" and op.kind.startswith("erase")].count(
        writes.BOOT_CONTROL
    ) == 3  # v1 before the reset, the bootloader's erase of the slot, v2's confirmation
    assert all(op.writes == writes.PROGRAM_ERASE for op in ops if op.kind == "erase:page" and op not in boot_control)
    # The download: the file's directory entry, then its data, then the FAT and directory at close.
    download = [op for op in ops if op.step == writes.DOWNLOAD]
    data = [op for op in download if op.writes == writes.IMAGE_DATA]
    assert len(data) > len(download) // 2 and all(op.device == "external" and op.phase == "app v1" for op in data)
    assert _runs(ops) == [
        ("app v1", "external", writes.DIRECTORY, writes.DOWNLOAD),
        ("app v1", "external", writes.IMAGE_DATA, writes.DOWNLOAD),
        ("app v1", "external", writes.FAT, writes.DOWNLOAD),
        ("app v1", "external", writes.DIRECTORY, writes.DOWNLOAD),
        ("app v1", "external", writes.DATABASE, writes.DB_WRITE),
        ("app v1", "external", writes.FAT, writes.DB_WRITE),
        ("app v1", "external", writes.DIRECTORY, writes.DB_WRITE),
        ("app v1", "internal", writes.BOOT_CONTROL, writes.DB_WRITE),
        ("bootloader", "internal", writes.BOOT_CONTROL, writes.PROGRAMMING),
        ("bootloader", "internal", writes.PROGRAM_ERASE, writes.PROGRAMMING),
        ("bootloader", "internal", writes.PROGRAM_ROWS, writes.PROGRAMMING),
        ("bootloader", "internal", writes.BOOT_CONTROL, writes.PROGRAMMING),  # PROGRAM_BOOT_CTL
        ("bootloader", "internal", writes.BOOT_CONTROL, writes.SET_STATUS),
        ("app v2", "external", writes.DIRECTORY, writes.CONFIRM),
        ("app v2", "external", writes.FAT, writes.CONFIRM),
        ("app v2", "external", writes.DATABASE, writes.CONFIRM),
        ("app v2", "external", writes.FAT, writes.CONFIRM),
        ("app v2", "external", writes.DIRECTORY, writes.CONFIRM),
        ("app v2", "internal", writes.BOOT_CONTROL, writes.CONFIRM),
    ]


def test_an_unformatted_external_flash_is_free_space() -> None:
    class Op:
        device, kind, address, length, phase, data = "external", "erase:sector", 0x1000, 0, "app v1", b""

    assert writes.classify([Op()], b"\xff" * 0x10000, b"\xff" * 0x10000) == [(writes.FREE, writes.DOWNLOAD)]


@pytest.fixture(scope="module")
def swept(ref: Reference) -> SweepRun:
    plan = plan_sweep(ref, stride=7)
    return SweepRun.of(plan, run_sweep(plan, InProcess()))


def test_labels_are_kept_in_the_json_and_drawn_as_text_in_the_svg(swept: SweepRun, tmp_path: Path) -> None:
    again = loads(dumps(swept))
    assert [(op.writes, op.step) for op in again.ops] == [(op.writes, op.step) for op in swept.ops]
    pytest.importorskip("matplotlib", reason="plots need the plot extra: pip install 'otaloop[plot]'")
    from harness.sweeps.plot import plot

    svg = tmp_path / "sweep.svg"
    plot(swept, svg)
    ns = "{http://www.w3.org/2000/svg}"
    texts = {"".join(t.itertext()).strip() for t in ET.parse(svg).iter(f"{ns}text")}
    for step in (writes.DOWNLOAD, writes.DB_WRITE, writes.PROGRAMMING, writes.SET_STATUS, writes.CONFIRM):
        assert step in texts
    assert "ext: image file data" in texts and "int: program-flash erase" in texts  # on the bars
    for legend in ("internal: boot control", "external: DB image_database.csv", "external: FAT"):
        assert legend in texts
    assert "flash: what the cut operation writes" in texts and "update step" in texts
    bars = [g.get("id", "") for g in ET.parse(svg).iter(f"{ns}g") if g.get("id", "").startswith("writes-")]
    assert "writes-internal-boot-control-396" in bars  # the bootloader's erase of the boot control page
