"""Long commands in a CI log: with stderr a pipe, ``otaloop sweep`` and ``otaloop fuzz`` print plain progress
lines (done/total, rate, time left) instead of staying silent, and stdout still holds only the report."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.sweeps.progress import INTERVAL_ENV

CLI = [sys.executable, "-m", "harness.cli"]
# A line at every step, so the test does not depend on how fast this machine is.
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), INTERVAL_ENV: "0"}
LINE = r"{label}: \d+/{total} {unit}, [\d,]+/s, (\d+ s|\d+:\d\d|\?) left{tail}"


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*CLI, *argv], capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize(
    ("argv", "label"),
    [
        (("sweep", "update", "--stride", "60", "--jobs", "1"), "sweep update"),
        (("sweep", "bootloader", "--scene", "program", "--device", "internal", "--jobs", "1"), "sweep bootloader"),
    ],
)
def test_a_sweep_prints_plain_progress_lines_when_stderr_is_a_pipe(argv: tuple[str, ...], label: str) -> None:
    done = _run(*argv)
    lines = done.stderr.splitlines()
    assert lines, "no progress line on a piped stderr"
    total = re.search(r"/(\d+) cases", lines[0])
    assert total is not None
    pattern = LINE.format(label=re.escape(label) + r"[^:]*", total=total[1], unit="cases", tail="")
    assert all(re.fullmatch(pattern, line) for line in lines), lines
    assert lines[-1].startswith(f"{label}") and f" {total[1]}/{total[1]} cases" in lines[-1]
    assert "\r" not in done.stderr and "\x1b" not in done.stderr  # no bar drawing codes in a log
    assert label not in done.stdout  # the progress stays off stdout, which holds only the report


def test_fuzz_prints_plain_progress_lines_when_stderr_is_a_pipe() -> None:
    done = _run("fuzz", "--budget", "3", "--steps", "4")
    lines = done.stderr.splitlines()
    pattern = LINE.format(label="fuzz", total=3, unit="examples", tail=r", \d+ hazard\(s\) found")
    assert lines and all(re.fullmatch(pattern, line) for line in lines), lines
    assert lines[-1].startswith("fuzz: 3/3 examples")
