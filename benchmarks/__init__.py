"""Benchmarks for otaloop. Each module has ``run() -> list[str]`` and prints ratios to an in-process baseline.

Run all of them with ``python -m benchmarks`` (or ``make bench``), one with ``python -m benchmarks flash``.
"""
