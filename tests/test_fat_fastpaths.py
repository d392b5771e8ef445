"""The FAT layer's two shortcuts behave exactly like the slow paths they replace.

* A seek to the same or a later cluster walks on from the current cluster (as FatFs's f_lseek does);
  reads after any mix of forward and backward seeks return the file's bytes.
* The check reads the FAT once and decodes it itself; every entry and the count of allocated clusters equal
  a get_fat per cluster.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bootloader_model.storage.external_flash import ExternalFlash, new_external
from bootloader_model.storage.fat.check import FatTable, check
from bootloader_model.storage.file_api import OTA_DIR, write_file

DATA = hashlib.shake_256(b"fastpaths").digest(23 * 1024 + 77)
_volume: ExternalFlash | None = None


def _vol() -> ExternalFlash:
    global _volume
    if _volume is None:
        x = new_external("4M")
        x.format()
        x.mkdir(OTA_DIR)
        write_file(x, OTA_DIR + "/small.bin", DATA[:3000])
        write_file(x, OTA_DIR + "/big.bin", DATA)
        _volume = x
    return _volume


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(DATA) + 10), st.integers(0, 5000)), min_size=1, max_size=12))
def test_reads_after_any_seeks_return_the_file_bytes(steps: list[tuple[int, int]]) -> None:
    fh = _vol().open(OTA_DIR + "/big.bin", "r")
    try:
        for pos, n in steps:
            fh.seek(pos)
            start = min(pos, len(DATA))  # a read-only seek is clamped to the end
            assert fh.tell() == start
            assert fh.read(n) == DATA[start : start + n]
    finally:
        fh.close()


@pytest.mark.parametrize("size", ["4M", "8M"])
def test_fat_table_matches_get_fat_per_cluster(size: str) -> None:
    x = new_external(size)
    x.format()
    x.mkdir(OTA_DIR)
    write_file(x, OTA_DIR + "/a.bin", DATA)
    write_file(x, OTA_DIR + "/b.bin", DATA[:5000])
    core = x.core()
    lay = core.lay
    entries = [core.get_fat(c) for c in range(2, lay.clusters + 2)]
    slow = sum(1 for v in entries if v != 0)
    assert slow > 20
    table = FatTable(core)
    assert [table.entry(c) for c in range(2, lay.clusters + 2)] == entries
    assert table.allocated() == slow
    report = check(ExternalFlash(x.flash))
    assert report.ok and report.lost_clusters == 0
