"""The sweep benchmark runs and states its figures against one clean update (small sizes here, no time limit)."""

from __future__ import annotations

import re

from benchmarks import sweep_bench


def test_sweep_benchmark_reports_per_core_rate_and_clean_update_multiple() -> None:
    lines = sweep_bench.run(small=16 * 1024, big=16 * 1024, compare=False, repeat=1, double_stride=200)
    text = "\n".join(lines)
    assert lines[0].startswith("sweep: power-cut sweeps of a whole update")
    assert "one clean update, 900,000-byte image" in text and "x baseline" in text
    assert "default sweep, 16 KiB, 2187 cases, 1 core:" in text and "cases/s per core" in text
    assert "cases per CPU second" in text and "clean updates" in text
    assert "stretch target 1000 cases/s per core: " in text and "  target 120 s: " in text
    assert "scaling, 1 worker against" in text
    assert re.search(r"full sweep, 16,384 B, 2187 cases: 1 worker +[\d.]+ s \(CPU [\d.]+ s\), \d+ workers", text)
    assert re.search(r"double cuts, 16 KiB, --stride 200, [1-9]\d* double cuts: 1 worker .*x faster", text)
