"""The native sweep benchmark runs and states its ratios against the model (small sizes here, no time limit)."""

from __future__ import annotations

from benchmarks import native_bench
from conftest import require_tool


def test_native_benchmark_reports_ratio_to_the_model_and_scaling() -> None:
    require_tool("cc", "gcc")
    lines = native_bench.run(small=16 * 1024, big=16 * 1024, repeat=1, harmony="")
    text = "\n".join(lines)
    assert lines[0].startswith("native: power-cut sweeps judged by native bootloaders")
    assert "default sweep, 16 KiB, 2187 cases, 1 core, model (baseline):" in text
    assert "example native bootloader:" in text and "x the model's rate (target 0.5: " in text
    assert "example native bootloader, scaling: 1 worker " in text and "workers " in text and "x faster" in text
    assert "  full sweep, 16,384 B, 2187 cases, " in text and "workers' peak RSS" in text and "(target 120 s: " in text
    assert "Harmony" not in text
