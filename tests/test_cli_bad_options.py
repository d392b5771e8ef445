"""Options that are numbers or lists are checked where they are parsed: `sweep timed` delays and sizes,
`native compare --modes`. A bad value exits 2 with one error line, never a traceback, before any work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bootloader_model.errors import CallerError
from bootloader_model.storage.nor_flash import CutMode
from harness.cli import main
from harness.sweeps.fault_ids import parse_modes
from harness.sweeps.timed.sweep import delays_ms

TIMED = ["sweep", "timed", "--after", "BOOTLOADER Build"]


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line argparse printed (after the usage) for ``argv``, which must exit 2."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    last = err.rstrip("\n").splitlines()[-1]
    assert err.startswith("usage: ") and err.count(": error: ") == 1
    return last


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (["--from", "nan", "--to", "10"], "argument --from: must be a finite number of milliseconds, not 'nan'"),
        (["--from", "0", "--to", "inf"], "argument --to: must be a finite number of milliseconds, not 'inf'"),
        (["--from", "0", "--to=-inf"], "argument --to: must be a finite number"),
        (["--from", "-5", "--to", "10"], "argument --from: must be 0..3600000 ms, not -5"),
        (["--from", "0", "--to", "1e300"], "argument --to: must be 0..3600000 ms"),
        (["--from", "0", "--to", "10", "--step", "0"], "argument --step: must be more than 0..3600000 ms, not 0"),
        (["--from", "0", "--to", "10", "--step", "nan"], "argument --step: must be a finite number"),
        (["--from", "ten", "--to", "10"], "argument --from: not a number of milliseconds: 'ten'"),
        (["--from", "0", "--to", "10", "--size", "0"], "argument --size: must be 8192..913408 bytes"),
        (["--from", "0", "--to", "10", "--size", "8191"], "argument --size: must be 8192..913408 bytes"),
        (["--from", "0", "--to", "10", "--size", "913409"], "argument --size: must be 8192..913408 bytes"),
    ],
)
def test_timed_sweep_values_are_checked_when_parsed(
    options: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _usage_error([*TIMED, *options], capsys)
    assert line.startswith("otaloop sweep timed: error: ") and needle in line, line


def test_timed_sweep_delays_out_of_order_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TIMED, "--from", "50", "--to", "10"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "otaloop sweep: error: --from 50 --to 10: need 0 <= from <= to <= 3600000 ms\n"


@pytest.mark.parametrize(
    ("start", "stop", "step", "needle"),
    [
        (float("nan"), 10.0, 1.0, "--from must be a finite number"),
        (0.0, float("inf"), 1.0, "--to must be a finite number"),
        (0.0, 10.0, float("nan"), "--step must be a finite number"),
        (0.0, 10.0, 0.0, "--step must be > 0"),
        (0.0, 3_600_000.0, 5e-324, "more than 100,000 delays"),
        (0.0, 1e12, 1.0, "need 0 <= from <= to <= 3600000 ms"),
    ],
)
def test_delays_refuse_what_cannot_be_counted(start: float, stop: float, step: float, needle: str) -> None:
    with pytest.raises(CallerError, match=needle):
        delays_ms(start, stop, step)


def test_a_timed_sweep_of_the_smallest_size_is_not_run_at_the_default() -> None:
    # --size 0 used to fall back silently to 16384; the smallest size taken is the smallest the sweep runs.
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", *TIMED, "--from", "10", "--to", "10", "--size", "8192"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "update/size=8192 (virtual board)" in done.stdout


# ------------------------------------------------------------------------------------ native compare
@pytest.mark.parametrize(
    ("modes", "needle"),
    [
        ("bogus", "bad --modes 'bogus': 'bogus' is not a cut mode; use a comma list of before, after, torn"),
        ("before,sideways", "'sideways' is not a cut mode"),
        (",", "--modes is empty"),
    ],
)
def test_native_compare_refuses_bad_modes_when_parsed(
    modes: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _usage_error(["native", "compare", str(tmp_path), "--modes", modes], capsys)
    assert line.startswith("otaloop native compare: error: argument --modes: ") and needle in line, line


def test_native_compare_modes_in_a_subprocess_exit_2_without_a_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "native", "compare", str(tmp_path), "--modes", "bogus"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith("otaloop native compare: error: argument --modes: bad --modes")


def test_modes_are_parsed_once_each_in_order() -> None:
    assert parse_modes(" torn, before,torn ") == (CutMode.TORN, CutMode.BEFORE)
