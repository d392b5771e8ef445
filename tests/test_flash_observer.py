"""``NorFlash.observer`` sees every counted operation, in order, with its bytes, even the one a cut stops."""

from __future__ import annotations

import pytest

from bootloader_model.errors import PowerCut
from bootloader_model.storage.nor_flash import SST26VF032B, CutMode, FaultPlan, NorFlash


def test_observer_sees_erases_and_programs_with_counts() -> None:
    flash = NorFlash(SST26VF032B)
    seen: list[tuple[str, int, bytes, int]] = []
    flash.observer = lambda f, kind, addr, data: seen.append((kind, addr, data, f.op_count))
    flash.erase(0x1000)
    flash.program(0x1000, b"\x12\x34")
    flash.read(0x1000, 2)  # reads are not operations
    assert seen == [("erase:sector", 0x1000, b"", 0), ("program", 0x1000, b"\x12\x34", 1)]


@pytest.mark.parametrize("mode", list(CutMode))
def test_observer_sees_the_cut_operation(mode: CutMode) -> None:
    flash = NorFlash(SST26VF032B)
    seen: list[str] = []
    flash.observer = lambda f, kind, addr, data: seen.append(kind)
    flash.arm(FaultPlan(1, mode))
    flash.erase(0)
    with pytest.raises(PowerCut):
        flash.program(0, b"\x00" * 16)
    assert seen == ["erase:sector", "program"] and flash.op_count == 2
