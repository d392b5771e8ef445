"""Shared timing helper: best-of-N wall time, the least noisy single number on a shared machine."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], repeat: int = 7) -> float:
    """Return the smallest wall time, in seconds, of ``repeat`` calls to ``fn``."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def sha256_and_copy(data: bytes) -> float:
    """The shared baseline: best-of wall time to hash ``data`` with SHA-256 and copy it once."""
    target = bytearray(len(data))

    def baseline() -> None:
        hashlib.sha256(data).digest()
        target[:] = data

    return best_of(baseline)


def line(label: str, seconds: float, baseline: float, baseline_label: str) -> str:
    return f"{label:<44} {seconds * 1e3:8.2f} ms   {seconds / baseline:7.1f}x {baseline_label}"
