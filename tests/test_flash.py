"""NorFlash semantics: erase, AND programming, strictness, alignment, fault plans, wear, snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bootloader_model.errors import CallerError, FlashAddressError, FlashProgramError, PowerCut
from bootloader_model.storage.nor_flash import (
    GEOMETRIES,
    PIC32MZ1025W104132,
    SST26VF032B,
    SST26VF064B,
    CutMode,
    FaultPlan,
    NorFlash,
)

BASE = PIC32MZ1025W104132.base


def test_geometries_match_the_parts() -> None:
    assert PIC32MZ1025W104132.size == 0x100000 and PIC32MZ1025W104132.base == 0x1000_0000
    assert PIC32MZ1025W104132.erase_units["page"] == 4096
    assert PIC32MZ1025W104132.program_sizes == (8, 32, 1024)
    assert SST26VF032B.size == 4 * 1024 * 1024 and SST26VF032B.page_wrap == 256
    assert SST26VF032B.erase_units == {"sector": 4096, "block": 65536, "chip": 4 * 1024 * 1024}
    assert SST26VF064B.size == 8 * 1024 * 1024
    assert set(GEOMETRIES) == {"PIC32MZ1025W104132", "SST26VF032B", "SST26VF064B"}


def test_new_flash_is_erased() -> None:
    f = NorFlash(PIC32MZ1025W104132)
    assert f.read(BASE, 16) == b"\xff" * 16
    assert f.op_count == 0


def test_program_ands_in_lenient_mode() -> None:
    f = NorFlash(PIC32MZ1025W104132, strict=False)
    f.program(BASE, bytes([0xF0] * 8))
    f.program(BASE, bytes([0x3C] * 8))
    assert f.read(BASE, 8) == bytes([0x30] * 8)


def test_strict_mode_rejects_zero_to_one_and_names_the_address() -> None:
    f = NorFlash(PIC32MZ1025W104132)
    f.program(BASE + 8, bytes([0xF0] * 8))
    f.program(BASE + 8, bytes([0xE0] * 8))  # clearing more bits is fine
    with pytest.raises(FlashProgramError, match="0x10000008"):
        f.program(BASE + 8, bytes([0xF0] * 8))
    assert f.read(BASE + 8, 8) == bytes([0xE0] * 8)


def test_erase_restores_ff_and_counts_wear() -> None:
    f = NorFlash(PIC32MZ1025W104132)
    f.program(BASE + 4096, b"\x00" * 1024)
    f.erase(BASE + 4096)
    assert f.read(BASE + 4096, 1024) == b"\xff" * 1024
    assert f.wear[1] == 1 and f.wear[0] == 0
    f.erase(BASE, "chip")
    assert all(w >= 1 for w in f.wear)


@pytest.mark.parametrize(
    ("op", "match"),
    [
        (lambda f: f.erase(BASE + 100), "not aligned"),
        (lambda f: f.erase(BASE - 4096), "outside"),
        (lambda f: f.erase(BASE, "sector"), "no erase unit"),
        (lambda f: f.program(BASE + 4, b"\0" * 8), "not aligned"),
        (lambda f: f.program(BASE, b"\0" * 12), "supported sizes"),
        (lambda f: f.program(BASE + 0x100000 - 8, b"\0" * 16), "supported sizes|outside"),
        (lambda f: f.read(BASE + 0x100000, 1), "outside"),
    ],
)
def test_bad_operations_raise_caller_errors(op, match) -> None:  # type: ignore[no-untyped-def]
    f = NorFlash(PIC32MZ1025W104132)
    with pytest.raises(FlashAddressError, match=match):
        op(f)
    assert isinstance(FlashAddressError("x"), ValueError)
    assert f.op_count == 0


def test_sst26_page_program_wraps_inside_the_page() -> None:
    f = NorFlash(SST26VF032B)
    f.program(0x1F0, bytes(range(32)))  # 16 bytes fit before 0x200; 16 wrap to 0x100
    assert f.read(0x1F0, 16) == bytes(range(16))
    assert f.read(0x100, 16) == bytes(range(16, 32))
    assert f.read(0x200, 16) == b"\xff" * 16
    with pytest.raises(FlashAddressError):
        f.program(0, b"\0" * 257)


def test_sst26_block_and_chip_erase() -> None:
    f = NorFlash(SST26VF032B)
    f.program(0x10000, b"\0" * 256)
    f.program(0x20000, b"\0" * 256)
    f.erase(0x10000, "block")
    assert f.read(0x10000, 256) == b"\xff" * 256
    assert f.read(0x20000, 1) == b"\0"
    assert f.wear[0x10000 // 4096 : 0x20000 // 4096] == [1] * 16
    f.erase(0, "chip")
    assert f.read(0x20000, 1) == b"\xff"
    assert [r.kind for r in f.log] == ["program", "program", "erase:block", "erase:chip"]


def test_log_records_every_operation() -> None:
    f = NorFlash(PIC32MZ1025W104132)
    f.erase(BASE)
    f.program(BASE, b"\0" * 1024)
    f.program(BASE + 1024, b"\0" * 32)
    assert [(r.kind, r.address, r.length) for r in f.log] == [
        ("erase:page", BASE, 4096),
        ("program", BASE, 1024),
        ("program", BASE + 1024, 32),
    ]
    assert f.op_count == 3


def _three_ops(f: NorFlash) -> None:
    f.program(BASE, b"\x00" * 1024)
    f.erase(BASE)
    f.program(BASE, b"\x0f" * 1024)


def test_cut_before_leaves_the_operation_undone() -> None:
    f = NorFlash(PIC32MZ1025W104132)
    f.arm(FaultPlan(1, CutMode.BEFORE))
    with pytest.raises(PowerCut) as ei:
        _three_ops(f)
    assert ei.value.fault_id == "op1:before" and ei.value.op_index == 1
    assert f.read(BASE, 1024) == b"\x00" * 1024  # erase never happened


def test_cut_after_applies_the_operation() -> None:
    f = NorFlash(PIC32MZ1025W104132)
    f.arm(FaultPlan(1, CutMode.AFTER))
    with pytest.raises(PowerCut):
        _three_ops(f)
    assert f.read(BASE, 1024) == b"\xff" * 1024


def test_torn_program_lands_a_reproducible_prefix() -> None:
    results = []
    for _ in range(2):
        f = NorFlash(PIC32MZ1025W104132)
        f.arm(FaultPlan.parse("op0:torn:s5"))
        with pytest.raises(PowerCut):
            f.program(BASE, b"\x00" * 1024)
        results.append(f.read(BASE, 1024))
    assert results[0] == results[1]
    zeros = results[0].count(0)
    assert results[0] == b"\x00" * zeros + b"\xff" * (1024 - zeros)
    assert zeros < 1024


def test_torn_erase_is_neither_old_nor_erased_and_reproducible() -> None:
    outs = []
    for _ in range(2):
        f = NorFlash(PIC32MZ1025W104132)
        f.program(BASE, b"\x00" * 1024)
        f.arm(FaultPlan(0, CutMode.TORN, seed=9))
        with pytest.raises(PowerCut):
            f.erase(BASE)
        outs.append(f.read(BASE, 4096))
    assert outs[0] == outs[1]
    assert outs[0][:1024] != b"\x00" * 1024
    assert outs[0] != b"\xff" * 4096


def test_power_cut_is_not_an_exception() -> None:
    assert not issubclass(PowerCut, Exception)
    f = NorFlash(PIC32MZ1025W104132)
    f.arm(FaultPlan(0))
    with pytest.raises(PowerCut):
        try:
            f.erase(BASE)
        except Exception:  # model code like this must not swallow the cut
            pytest.fail("PowerCut was caught as an Exception")


def test_plan_counts_from_arming_and_fires_once() -> None:
    f = NorFlash(PIC32MZ1025W104132)
    f.erase(BASE)
    f.arm(FaultPlan(0))
    with pytest.raises(PowerCut) as ei:
        f.erase(BASE)
    assert ei.value.op_index == 1
    f.erase(BASE)  # disarmed after firing
    assert f.plan is None


@given(st.integers(0, 10_000), st.sampled_from(list(CutMode)), st.integers(0, 2**31))
def test_fault_ids_round_trip(op: int, mode: CutMode, seed: int) -> None:
    plan = FaultPlan(op, mode, seed if mode is CutMode.TORN else 0)
    assert FaultPlan.parse(plan.fault_id) == plan
    assert FaultPlan.parse("int@" + plan.fault_id) == plan


@pytest.mark.parametrize("bad", ["", "op", "opx:before", "op1:sideways", "op-1:before", "op1:torn:seed"])
def test_bad_fault_ids_are_caller_errors(bad: str) -> None:
    with pytest.raises(CallerError, match="bad fault id"):
        FaultPlan.parse(bad)


def test_snapshot_restore_round_trip() -> None:
    f = NorFlash(PIC32MZ1025W104132)
    f.program(BASE, b"\x01" * 8)
    snap = f.snapshot()
    f.erase(BASE)
    f.program(BASE + 8, b"\0" * 8)
    f.restore(snap)
    assert f.read(BASE, 16) == b"\x01" * 8 + b"\xff" * 8
    assert f.op_count == 1 and len(f.log) == 1 and f.wear[0] == 0


def test_dump_and_load(tmp_path: Path) -> None:
    f = NorFlash(SST26VF032B)
    f.program(0x1234, b"hello")
    path = tmp_path / "ext.bin"
    f.dump(path)
    assert path.stat().st_size == SST26VF032B.size
    g = NorFlash(SST26VF032B)
    g.load(path)
    assert g.read(0x1234, 5) == b"hello"
    with pytest.raises(CallerError, match="needs"):
        NorFlash(PIC32MZ1025W104132).load(path)
    with pytest.raises(CallerError, match="cannot read"):
        g.load(tmp_path / "missing.bin")
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_timing_model_accumulates_when_enabled() -> None:
    f = NorFlash(SST26VF032B, timed=True)
    f.erase(0)
    f.program(0, b"\0" * 256)
    assert f.busy_s == pytest.approx(0.018 + 0.0015)
    assert NorFlash(SST26VF032B).busy_s == 0.0


@given(st.lists(st.tuples(st.integers(0, 127), st.binary(min_size=8, max_size=8)), max_size=40))
def test_lenient_program_is_and_of_all_writes(writes: list[tuple[int, bytes]]) -> None:
    f = NorFlash(PIC32MZ1025W104132, strict=False)
    model = bytearray(b"\xff" * 1024)
    for slot, data in writes:
        f.program(BASE + slot * 8, data)
        for i, b in enumerate(data):
            model[slot * 8 + i] &= b
    assert f.read(BASE, 1024) == bytes(model)
