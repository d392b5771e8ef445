"""Power cuts at flash operations of the bootloader: what the spec predicts, on internal and external flash.

These sweeps sample operations (the first ones, a stride, and the last ones) to keep the suite fast;
``otaloop sweep bootloader`` visits every operation and prints the tables of ``docs/bootloader.md``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bootloader_model.quirks import CORRECTED
from bootloader_model.storage.nor_flash import CutMode, OpRecord
from harness.sweeps.bootloader import (
    BootScene,
    CutResult,
    Verdict,
    build_scene,
    dry_run,
    markdown_table,
    summarize,
    sweep,
)

ALL_MODES = (CutMode.BEFORE, CutMode.TORN, CutMode.AFTER)


def sampled(n: int, head: int = 3, tail: int = 12, stride: int = 37) -> Callable[[int, OpRecord], bool]:
    def pick(k: int, op: OpRecord) -> bool:
        return k < head or k >= n - tail or k % stride == 0

    return pick


def run(scene: BootScene, modes: tuple[CutMode, ...] = ALL_MODES) -> list[CutResult]:
    n = len(dry_run(scene, "internal"))
    return sweep(scene, "internal", modes, sampled(n))


def verdict(results: list[CutResult], k: int, mode: str) -> Verdict:
    (hit,) = [r for r in results if r.op_index == k and r.mode == mode]
    return hit.verdict


@pytest.fixture(scope="module")
def program_scene() -> BootScene:
    return build_scene("program", image_size=16 * 1024)


@pytest.fixture(scope="module")
def program_results(program_scene: BootScene) -> list[CutResult]:
    return run(program_scene)


def test_program_run_is_223_erases_then_rows_then_boot_control_twice(program_scene: BootScene) -> None:
    ops = dry_run(program_scene, "internal")
    assert [op.kind for op in ops[:223]] == ["erase:page"] * 223
    assert len(ops) == 223 + 12 + 4 + 4  # 3 chunks of 4 rows, boot control, SET_IMAGE_STATUS


def test_cut_between_erase_and_boot_control_write_gives_factory_and_deletes_db(
    program_results: list[CutResult],
) -> None:
    # the spec's prediction (section 7, power loss): no resume, the factory image, the database gone
    n = 243
    window = [r for r in program_results if (r.op_index == 0 and r.mode == "after") or 0 < r.op_index < n - 8]
    window += [r for r in program_results if r.op_index == n - 8 and r.mode == "before"]
    assert window and {r.verdict for r in window} == {Verdict.FACTORY_DB_DELETED}


def test_cut_before_anything_or_after_boot_control_keeps_new_image(program_results: list[CutResult]) -> None:
    n = 243
    assert verdict(program_results, 0, "before") is Verdict.NEW
    late = [r for r in program_results if r.op_index > n - 8 or (r.op_index == n - 8 and r.mode == "after")]
    assert late and {r.verdict for r in late} == {Verdict.NEW}


def test_torn_first_boot_control_row_mostly_reprograms(program_results: list[CutResult]) -> None:
    # a torn row keeps a prefix of the header: non-blank, so CHECK runs and SELECT reprograms v3
    assert verdict(program_results, 243 - 8, "torn") in (Verdict.NEW, Verdict.FACTORY_DB_DELETED)


def test_verify_failure_path_cuts_harmony_hangs_outside_the_erase_window() -> None:
    scene = build_scene("verify-failure", image_size=8 * 1024)
    results = run(scene, (CutMode.BEFORE, CutMode.AFTER))
    per_pass = 223 + 4 + 4  # erase, one chunk of 4 rows, boot control
    assert len(dry_run(scene, "internal")) == per_pass  # the broken v3 leaks the only file object: no 2nd pass
    for r in results:
        pos = r.op_index
        in_window = (
            (0 < pos < per_pass - 4) or (pos == 0 and r.mode == "after") or (pos == per_pass - 4 and r.mode == "before")
        )
        # blank boot control: "Uninitialized sector", the factory image opens (no leak yet) and the DB goes;
        # otherwise v3 is programmed again, fails again and the bootloader loops on "file open error"
        assert r.verdict is (Verdict.FACTORY_DB_DELETED if in_window else Verdict.STUCK), r
        if r.verdict is Verdict.STUCK:
            assert "file open error" in r.detail


def test_verify_failure_path_cuts_corrected() -> None:
    scene = build_scene("verify-failure", image_size=8 * 1024, profile=CORRECTED)
    results = run(scene, (CutMode.BEFORE, CutMode.AFTER))
    per_pass = 223 + 4 + 4
    assert len(dry_run(scene, "internal")) == 2 * per_pass + 4
    for r in results:
        pos = r.op_index % per_pass if r.op_index < 2 * per_pass else per_pass
        in_window = (
            (0 < pos < per_pass - 4) or (pos == 0 and r.mode == "after") or (pos == per_pass - 4 and r.mode == "before")
        )
        expected = Verdict.FACTORY_DB_DELETED if in_window else Verdict.OLD
        assert r.verdict is expected, r


def test_backup_cuts_on_internal_flash_repeat_backup_or_run_factory() -> None:
    scene = build_scene("backup")
    results = sweep(scene, "internal", ALL_MODES)
    assert len(results) == 12
    assert verdict(results, 0, "before") is Verdict.REPEATED_BACKUP  # status still FF: everything again
    assert {r.verdict for r in results if r.mode == "after"} == {Verdict.FACTORY}


def test_summary_merges_ranges_and_renders_markdown(program_results: list[CutResult]) -> None:
    rows = summarize(program_results)
    assert len(rows) < len({r.op_index for r in program_results})
    table = markdown_table(program_results)
    assert table.splitlines()[0].startswith("| operations (cut before, torn, after)")
    assert Verdict.FACTORY_DB_DELETED.value in table


# ---------------------------------------------------------------------------- external (FAT on SST26)


def test_backup_cut_on_external_flash_repeats_backup() -> None:
    scene = build_scene("backup", fat=True)
    n = len(dry_run(scene, "external"))
    assert n > 10_000  # format + 223 file writes through DRV_MEMORY's read-modify-write
    results = sweep(scene, "external", (CutMode.BEFORE,), lambda k, op: k in (0, n // 3, 2 * n // 3))
    assert {r.verdict for r in results} == {Verdict.REPEATED_BACKUP}


def test_backup_cut_during_final_directory_update_loses_the_backup() -> None:
    # Finding: boot control already says F8 when the file is closed, so a cut while FatFs writes the
    # directory entry leaves the factory app running with no usable factory_reset.bin.
    scene = build_scene("backup", fat=True)
    n = len(dry_run(scene, "external"))
    results = sweep(scene, "external", (CutMode.BEFORE,), lambda k, op: k >= n - 40)
    verdicts = [r.verdict for r in results]
    assert Verdict.BACKUP_LOST in verdicts
    assert verdicts[-1] is Verdict.FACTORY  # the last operation done: a complete backup
    assert set(verdicts) <= {Verdict.BACKUP_LOST, Verdict.FACTORY, Verdict.REPEATED_BACKUP}


def test_database_save_cut_on_external_flash() -> None:
    harmony = build_scene("verify-failure", fat=True, image_size=8 * 1024)
    assert dry_run(harmony, "external") == []  # the leaked file object makes INVALIDATE's save fail at open
    scene = build_scene("verify-failure", fat=True, image_size=8 * 1024, profile=CORRECTED)
    ops = dry_run(scene, "external")
    assert ops, "INVALIDATE_IMAGE saves the database"
    results = sweep(scene, "external", (CutMode.BEFORE, CutMode.AFTER), lambda k, op: k % 6 == 0)
    allowed = {Verdict.OLD, Verdict.FACTORY_DB_DELETED, Verdict.STUCK, Verdict.UNKNOWN_IMAGE}
    assert {r.verdict for r in results} <= allowed
    assert verdict(results, 0, "before") is Verdict.OLD  # nothing written yet
    # a torn database is handled as "factory" (spec section 7) ...
    assert Verdict.FACTORY_DB_DELETED in {r.verdict for r in results}
    # ... and DRV_MEMORY's block erase can take the ota/ directory with it: the board is stuck
    stuck = [r for r in results if r.verdict is Verdict.STUCK]
    assert stuck and all("factory_reset.bin" in r.detail for r in stuck)
