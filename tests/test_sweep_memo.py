"""The fast sweep path gives exactly the verdicts of the full one: the verdict cache keyed on the blocks a
judgement read, the shortened settle, the in-place torn states and the FAT allocation count."""

from __future__ import annotations

import ast
import random
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from bootloader_model.storage.fat import check as fat_check
from bootloader_model.storage.nor_flash import PIC32MZ1025W104132, SST26VF032B, NorFlash
from conftest import harmony_apps, require_tool
from harness.image.server import ImageServer
from harness.native.build import build, build_example, locate
from harness.sweeps.executor import InProcess
from harness.sweeps.fault_ids import Params
from harness.sweeps.memo import BLOCK, BlockDigests, ReadSet, VerdictMemo
from harness.sweeps.update import (
    Case,
    Reference,
    SweepWorker,
    UpdateRig,
    blank_board,
    judge_params,
    plan_sweep,
    record,
    run_sweep,
    tasks,
)
from harness.sweeps.verdicts import judge, settle


def test_cached_and_shortened_verdicts_equal_the_full_ones(ref: Reference) -> None:
    # A sample of every phase, each cut mode; the fast worker must actually have used its cache.
    fast_plan, full_plan = plan_sweep(ref, stride=7), plan_sweep(ref, stride=7, fast=False)
    fast_worker = SweepWorker(fast_plan)
    fast = [case for span in tasks(len(ref.ops)) for case in fast_worker.run(span)]
    full = [case for span in tasks(len(ref.ops)) for case in SweepWorker(full_plan).run(span)]
    assert fast == full
    assert fast_worker.memo is not None and fast_worker.memo.hits > fast_worker.memo.misses > 0


@pytest.fixture(scope="module", params=["example", "harmony"])
def native_ref(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The default update recorded on a board whose bootloader is a native build: the example, and
    Harmony's OTA bootloader when ``OTALOOP_HARMONY_APPS`` names its sources."""
    require_tool("cc", "gcc")
    cache = tmp_path_factory.mktemp(request.param)
    if request.param == "example":
        build_example(cache)
    else:
        apps = harmony_apps()
        build(locate(Path(apps)), cache)
    with ImageServer() as server:
        return record(UpdateRig(Params(bootloader=f"native:{cache}"), server))


def _sweep_both(
    ref: Reference, stride: int, part: tuple[float, float] = (0.0, 1.0)
) -> tuple[list[Case], list[Case], VerdictMemo]:
    """The cases of the sweep's ranges from fraction ``part[0]`` to ``part[1]`` of them (a worker's
    contiguous share, judged from a fresh cache), once through the verdict cache and once judged in full."""
    fast_plan, full_plan = plan_sweep(ref, stride=stride), plan_sweep(ref, stride=stride, fast=False)
    assert fast_plan.fast and not full_plan.fast
    spans = tasks(len(ref.ops))
    spans = spans[round(len(spans) * part[0]) : round(len(spans) * part[1])]
    fast_worker = SweepWorker(fast_plan)
    fast = [case for span in spans for case in fast_worker.run(span)]
    full = [case for span in spans for case in SweepWorker(full_plan).run(span)]
    assert fast_worker.memo is not None
    return fast, full, fast_worker.memo


def test_cached_native_verdicts_equal_the_full_ones(native_ref: Reference) -> None:
    # The native helper reports the first touch of each flash block it maps; the cache must see every
    # byte a native judgement depends on, or a hit would give another state's verdict.
    fast, full, memo = _sweep_both(native_ref, stride=9)
    assert fast == full
    assert memo.hits > memo.misses > 0


@pytest.mark.slow
def test_cached_native_verdicts_equal_the_full_ones_on_the_whole_default_sweep(native_ref: Reference) -> None:
    fast, full, memo = _sweep_both(native_ref, stride=1)
    assert fast == full and len(fast) == 3 * len(native_ref.ops)
    assert memo.hits > memo.misses > 0


def test_cached_verdicts_equal_the_full_ones_at_a_larger_image(ref: Reference) -> None:
    with ImageServer() as server:
        big = record(UpdateRig(Params(size=96 * 1024), server))
    spans = [(0, 40), (big.reset_at - 20, big.reset_at + 60), (len(big.ops) - 60, len(big.ops))]
    fast = run_sweep(plan_sweep(big, stride=3), InProcess(), spans=spans)
    full = run_sweep(plan_sweep(big, stride=3, fast=False), InProcess(), spans=spans)
    assert fast == full and len(fast) > 100


def test_shortened_settle_equals_two_power_ons(ref: Reference) -> None:
    # The start state: v1 boots and writes nothing, so the second power-on is skipped.
    worker = SweepWorker(plan_sweep(ref, fast=False))
    worker.seek(0)
    state = worker.cursor.state()
    full = judge_params(ref.params, state)[0]
    board = blank_board(ref.params)
    board.internal.data[:], board.external.data[:] = state
    runs = settle(board, shortcut=True)
    assert len(board.history) < len(judge_params(ref.params, state)[1].history)  # one power-on, not two
    assert judge(board, runs, 1, 2) == full


def test_tearing_in_place_is_undone(ref: Reference) -> None:
    worker = SweepWorker(plan_sweep(ref))
    cursor = worker.cursor
    worker.seek(ref.reset_at + 3)
    before, digests = cursor.state(), [list(v) for v in cursor.views()]
    op = ref.ops[ref.reset_at + 3]
    torn_views = cursor.tear(op, 1)
    torn = cursor.state()
    cursor.untear()
    assert torn != before and cursor.state() == before and cursor.views() == digests
    assert torn_views is not None
    assert torn_views[0] == BlockDigests(torn[0]).digests and torn_views[1] == BlockDigests(torn[1]).digests


def test_read_set_counts_reads_and_programs_before_an_erase() -> None:
    flash = NorFlash(SST26VF032B, strict=False)
    watched = ReadSet(flash).watch()
    flash.read(0, 10)  # block 0: read first -> input
    flash.erase(BLOCK)  # block 1: erased first -> output only
    flash.read(BLOCK, 100)
    flash.program(BLOCK + 256, b"\x00" * 16)
    flash.program(2 * BLOCK, b"\x00")  # block 2: programmed over old bytes -> input
    flash.read(5 * BLOCK - 1, 2)  # a read across blocks 4 and 5
    watched.release()
    assert watched.blocks() == (0, 2, 4, 5)
    assert flash.read_observer is None and flash.observer is None


def test_memo_hits_only_states_equal_on_the_blocks_read() -> None:
    a = bytearray(b"\xff" * (4 * BLOCK))
    memo = VerdictMemo()
    views = [BlockDigests(a).digests]
    memo.store(((1, 2),), views, "verdict")
    b = bytearray(a)
    b[0] = 0  # block 0 was not read: same verdict
    assert memo.lookup([BlockDigests(b).digests]) == "verdict"
    b[BLOCK * 2 + 7] = 0  # block 2 was: unknown
    assert memo.lookup([BlockDigests(b).digests]) is None
    assert (memo.hits, memo.misses) == (1, 1)


def _allocated_reference(raw: bytes, n: int, bits: int) -> int:
    if bits == 16:
        entries = [int.from_bytes(raw[i : i + 2], "little") for i in range(4, n * 2, 2)]
    else:
        entries = []
        for c in range(2, n):
            bc = c + c // 2
            v = raw[bc] | raw[bc + 1] << 8
            entries.append(v >> 4 if c & 1 else v & 0xFFF)
    return len(entries) - entries.count(0)


@pytest.mark.parametrize("bits", [12, 16])
def test_fat_allocation_count_matches_entry_by_entry_decoding(bits: int) -> None:
    rng = random.Random(bits)
    for clusters in (1, 2, 3, 341, 342, 4000, 4085):
        n = clusters + 2
        size = (n * 3 + 1) // 2 if bits == 12 else n * 2
        sectors = -(-size // 512)
        raw = bytes(rng.choice((0, 0, 0, 0x0F, 0xF0, rng.randrange(256))) for _ in range(sectors * 512))
        lay = SimpleNamespace(clusters=clusters, fat_bits=bits, fat_start=0)
        dev = SimpleNamespace(read=lambda lba, count, raw=raw: raw[lba * 512 : (lba + count) * 512])
        core = SimpleNamespace(lay=lay, dev=dev)
        assert fat_check.FatTable(core).allocated() == _allocated_reference(raw, n, bits), clusters  # type: ignore[arg-type]


def test_block_size_fits_both_flashes() -> None:
    for geometry in (PIC32MZ1025W104132, SST26VF032B):
        assert geometry.min_erase % BLOCK == 0 and geometry.size % BLOCK == 0


ROOT = Path(__file__).resolve().parents[1]
#: Every module a judgement runs: the bootloader model, storage, formats, board and service (all of
#: bootloader_model), the verdicts, and the native runner's host half.
JUDGED = sorted(
    [
        *(ROOT / "bootloader_model").rglob("*.py"),
        ROOT / "harness" / "sweeps" / "verdicts.py",
        ROOT / "harness" / "native" / "bootloader_program.py",
    ]
)


FLASHLIKE = re.compile(r"flash|internal|external|snap", re.IGNORECASE)


def _reflects(node: ast.AST) -> bool:
    """``vars(x)``, ``x.__dict__`` or ``getattr(x, name)`` of a flash-like ``x`` (or of ``"data"``)."""
    if isinstance(node, ast.Attribute) and node.attr == "__dict__":
        return bool(FLASHLIKE.search(ast.unparse(node.value)))
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args):
        return False
    if node.func.id == "vars":
        return bool(FLASHLIKE.search(ast.unparse(node.args[0])))
    if node.func.id in ("getattr", "setattr") and len(node.args) >= 2:
        name = node.args[1]
        if isinstance(name, ast.Constant):
            return name.value == "data"
        return bool(FLASHLIKE.search(ast.unparse(node.args[0])))
    return False


def _flash_aliases(source: str) -> list[int]:
    """Lines that reach raw bytes around ``NorFlash.read``: any ``.data`` attribute (``flash.data``,
    ``self._flash.data``, a snapshot's ``.data``, ``memoryview(x.data)``), ``getattr(x, "data")``, and
    ``vars(x)``, ``x.__dict__`` or ``getattr(x, name)`` of a flash or a snapshot."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and node.attr == "data") or _reflects(node):
            found.append(node.lineno)
    return sorted(set(found))


def _allowed(path: Path, line: str) -> bool:
    if path == ROOT / "bootloader_model" / "storage" / "nor_flash.py":
        return True  # the flash itself
    if "_FILE: self." in line:
        return True  # saving the state directory is not behaviour
    # The native runner mirrors the flash into the helper's shared memory; the helper reports the first
    # touch of each block, so what the C code reads reaches read_observer.
    return path.name == "bootloader_program.py" and ".map[" in line


def test_the_model_reads_flash_only_through_read() -> None:
    # The verdict cache learns what a judgement depended on from NorFlash.read (and a native helper's
    # first-touch reports): code that reached the flash bytes any other way would be invisible to it.
    offenders = []
    for path in JUDGED:
        text = path.read_text()
        lines = text.splitlines()
        offenders += [f"{path.relative_to(ROOT)}:{n}" for n in _flash_aliases(text) if not _allowed(path, lines[n - 1])]
    assert not offenders, f"flash bytes reached around NorFlash.read: {offenders}"


@pytest.mark.parametrize(
    "source",
    [
        "x = flash.data[0]",
        "view = memoryview(self._flash.data)",
        "raw = snapshot.data",
        "b = board.internal.snapshot().data[5]",
        "d = getattr(flash, 'data')",
        "d = getattr(flash, name)",
        "d = vars(flash)",
        "d = flash.__dict__",
    ],
)
def test_the_guard_catches_every_alias_of_the_flash_bytes(source: str) -> None:
    assert _flash_aliases(source) == [1]
    harmless = "x = flash.read(0, 4)\ny = getattr(flash, 'geometry')\nz = getattr(self, name)\nc = vars(config)"
    assert _flash_aliases(harmless) == []


def _cached_equals_full(params: Params, stride: int = 1) -> None:
    with ImageServer() as server:
        ref = record(UpdateRig(params, server))
    fast, full, memo = _sweep_both(ref, stride)
    assert fast == full
    assert memo.hits > memo.misses > 0


@pytest.mark.slow
@pytest.mark.parametrize("params", [Params(quirks="corrected"), Params(v2="crash"), Params(v2="hang")], ids=str)
def test_cached_verdicts_equal_the_full_ones_on_whole_sweeps(params: Params) -> None:
    _cached_equals_full(params)


@pytest.fixture(scope="module")
def full_size_ref() -> Reference:
    with ImageServer() as server:
        return record(UpdateRig(Params(size=900_000), server))


#: Where the four shares of the full-size sweep end: the last ranges (the boots after the update's reset)
#: cost about twice as much as the others, so the later shares are shorter and all take about as long.
FULL_SIZE_SHARES = (0.0, 0.30, 0.61, 0.835, 1.0)


@pytest.mark.slow
@pytest.mark.parametrize("share", range(4))
def test_cached_verdicts_equal_the_full_ones_on_the_full_size_sweep(full_size_ref: Reference, share: int) -> None:
    # In four shares, as four workers would take them, so that the suite's workers can share the time too.
    fast, full, memo = _sweep_both(full_size_ref, 1, (FULL_SIZE_SHARES[share], FULL_SIZE_SHARES[share + 1]))
    assert fast == full and fast
    assert memo.hits > memo.misses > 0
