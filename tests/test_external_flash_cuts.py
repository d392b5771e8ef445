"""Power cuts at every flash operation of two file jobs on the external flash, and what a remount finds.

The outcomes asserted here are the ones the layering makes inevitable: DRV_MEMORY's read-erase-program of
4 KiB blocks loses a whole block between its erase and its page programs, FatFs updates a file's directory
entry only at close, and the FAT sits in its own erase block.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bootloader_model.errors import PowerCut
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.nor_flash import SST26VF032B, CutMode, FaultPlan, NorFlash
from conftest import require_tool
from harness.sweeps.external_flash import (
    Cut,
    Op,
    Scenario,
    big_file_scenario,
    classify,
    csv_rewrite_scenario,
    record,
    replay,
    sweep,
    table,
)

BLOCK = SST26VF032B.min_erase
Swept = tuple[Scenario, bytes, list[Op], list[Cut]]


@pytest.fixture(scope="module")
def csv() -> Swept:
    scn = csv_rewrite_scenario()
    before, ops, _ = record(scn)
    return scn, before, ops, list(sweep(scn))


@pytest.fixture(scope="module")
def big() -> Swept:
    scn = big_file_scenario()
    before, ops, _ = record(scn)
    return scn, before, ops, list(sweep(scn))


def _layout_blocks(before: bytes) -> tuple[int, int, int]:
    """(block of the FAT, block of the /ota directory cluster, sector of /ota) on the volume ``before``."""
    flash = NorFlash(SST26VF032B)
    flash.data[:] = before
    x = ExternalFlash(flash)
    core = x.core()
    ota = core.find(0, "ota")
    assert ota is not None
    sector = core.lay.sector_of(ota.cluster)
    return core.lay.fat_start * 512 // BLOCK, sector * 512 // BLOCK, sector


def _real_cut(scn: Scenario, before: bytes, k: int) -> bytes:
    flash = NorFlash(SST26VF032B, keep_log=False)
    flash.data[:] = before
    flash.arm(FaultPlan(k, CutMode.BEFORE))
    with pytest.raises(PowerCut):
        scn.job(ExternalFlash(flash))
    return bytes(flash.data)


def test_replayed_states_are_the_bytes_a_real_fault_plan_cut_leaves(csv: Swept, big: Swept) -> None:
    for (scn, before, ops, _), stride in ((csv, 1), (big, 211)):
        wanted = set(range(0, len(ops), stride)) | {1, len(ops) - 1}
        for k, flash in replay(before, ops):
            if k in wanted:
                assert bytes(flash.data) == _real_cut(scn, before, k), (scn.name, k)


def test_skipping_unwatched_states_changes_no_outcome(csv: Swept) -> None:
    scn, _, _, cuts = csv
    assert [c.outcome for c in sweep(scn, survey_every=True)] == [c.outcome for c in cuts]


def test_csv_rewrite_outcomes(csv: Swept) -> None:
    _, before, ops, cuts = csv
    fat_block, ota_block, _ = _layout_blocks(before)
    assert cuts[0].outcome.target == "old" and cuts[-1].outcome.target == "new"
    assert cuts[-1].outcome.others == "intact" and cuts[-1].outcome.lost_clusters == 0
    # FatFs writes the entry (size 0) before the data and the final entry after it: never a torn CSV.
    assert {c.outcome.target for c in cuts} <= {"old", "empty", "new", "-"}
    last_dir_erase = max(i for i, (kind, addr, _) in enumerate(ops) if kind == "erase" and addr // BLOCK == ota_block)
    assert all(c.outcome.target != "new" for c in cuts[: last_dir_erase + 1])
    for i, (kind, addr, _) in enumerate(ops):
        if kind != "erase":
            continue
        after_erase = cuts[i + 1].outcome
        if addr // BLOCK == ota_block:
            # The block holds the root directory tail and the /ota table: damaged until programmed again.
            assert after_erase.volume.startswith("damaged: /"), (i, after_erase)
        elif addr // BLOCK == fat_block:
            # The FAT block erased: the factory backup's chain reads as end-of-chain everywhere.
            assert "factory_reset.bin" in after_erase.volume, (i, after_erase)
        else:
            # A data block shared with the factory backup's last clusters: the neighbour loses its bytes.
            assert after_erase.volume == "ok" and after_erase.others == "damaged: factory_reset.bin", (i, after_erase)


def test_big_file_outcomes(big: Swept) -> None:
    _, before, ops, cuts = big
    fat_block, ota_block, _ = _layout_blocks(before)
    assert cuts[0].outcome.target == "absent" and cuts[-1].outcome.target == "new"
    assert {c.outcome.target for c in cuts} <= {"absent", "empty", "corrupt (921600 B)", "new", "-"}
    dir_erases = [i for i, (kind, addr, _) in enumerate(ops) if kind == "erase" and addr // BLOCK == ota_block]
    # The entry, the first data cluster and the final entry all live in the /ota block: three RMWs of it.
    assert len(dir_erases) == 3
    for i in dir_erases:
        assert cuts[i + 1].outcome.volume.startswith("damaged: /")
    # The size reaches the entry only at close, and the entry's block also holds the file's first cluster:
    # between the entry's page and the last page of that block the file reads back wrong.
    corrupt = [c.index for c in cuts if c.outcome.target.startswith("corrupt")]
    assert corrupt and min(corrupt) > dir_erases[-1] and max(corrupt) == len(ops) - 1
    assert all(c.outcome.target in ("absent", "empty", "-") for c in cuts[: dir_erases[-1]])
    fat_erases = [i for i, (kind, addr, _) in enumerate(ops) if kind == "erase" and addr // BLOCK == fat_block]
    assert fat_erases, "the FAT must be written back while the file grows"
    for i in fat_erases:
        # Erased FAT entries read 0xFFF (end of chain): no file is hurt, every cluster looks allocated.
        assert cuts[i + 1].outcome.volume == "ok" and cuts[i + 1].outcome.lost_clusters > 2000


def test_fsck_fat_agrees_with_the_survey_on_every_csv_cut(csv: Swept, tmp_path: Path) -> None:
    require_tool("fsck.fat", "dosfstools")
    scn, before, ops, _ = csv
    part = tmp_path / "partition.img"
    for k, flash in replay(before, ops):
        part.write_bytes(bytes(flash.data[63 * 512 :]))
        rc = subprocess.run(["fsck.fat", "-n", str(part)], capture_output=True, check=False).returncode
        outcome, _ = classify(scn, flash)
        assert (rc == 0) == (outcome.volume == "ok" and outcome.lost_clusters == 0), (k, outcome)


def test_table_groups_every_cut(csv: Swept) -> None:
    scn, _, ops, _ = csv
    rows = [r for r in table(scn) if r.startswith("| ") and not r.startswith("| cut")]
    spans = [r.split("|")[1].strip() for r in rows]
    covered = sum(int(s.split("-")[1]) - int(s.split("-")[0]) + 1 if "-" in s else 1 for s in spans)
    assert covered == len(ops) + 1
