"""The sweep benchmark runs and states its figures against one clean update (small sizes here, no time limit)."""

from __future__ import annotations

from benchmarks import sweep_bench


def test_sweep_benchmark_reports_per_core_rate_and_clean_update_multiple() -> None:
    lines = sweep_bench.run(small=16 * 1024, big=16 * 1024, compare=False, repeat=1)
    text = "\n".join(lines)
    assert lines[0].startswith("sweep: power-cut sweeps of a whole update")
    assert "one clean update, 900,000-byte image" in text and "x baseline" in text
    assert "default sweep, 16 KiB, 2187 cases, 1 core:" in text and "cases/s per core" in text
    assert "cases per CPU second" in text and "clean updates" in text
    assert "stretch target 1000 cases/s per core: " in text and "  target 120 s: " in text
