"""The whole-board update benchmark runs and reports a ratio to its in-process baseline (no time limit here)."""

from __future__ import annotations

from benchmarks import update_bench


def test_benchmark_reports_ratio_and_target() -> None:
    lines = update_bench.run()
    assert "900,000-byte image" in lines[0]
    assert lines[1].rstrip().endswith("1.0x baseline") and lines[2].rstrip().endswith("x baseline")
    assert lines[3].startswith("  target 250 ms: ")
