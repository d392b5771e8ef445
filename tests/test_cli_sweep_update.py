"""``otaloop sweep update``: the outcome table, ``--replay``, and one-line errors for bad options."""

from __future__ import annotations

import re

import pytest

from harness.cli import main


def test_sampled_sweep_prints_the_outcome_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "update", "--stride", "150", "--modes", "before,after"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Power-cut sweep of update: ")
    assert "cut every 150th operation and the last, modes before, after:" in out
    assert "| outcome | app v1 | bootloader | app v2 | total |" in out
    cases = int(re.search(r": (\d+) cases\.", out).group(1))  # type: ignore[union-attr]
    assert re.search(rf"\| cases \| \d+ \| \d+ \| \d+ \| {cases} \|", out)
    assert "Worst outcomes" in out and re.search(r"- update:(int|ext)@op\d+:(before|after) \(", out)


def test_markdown_keeps_the_emphasis(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "update", "--stride", "300", "--modes", "before", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Power-cut sweep of `update`:") and "| **cases** |" in out


def test_replay_prints_transcript_hashes_and_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "update", "--replay", "update:int@op450:before"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fault update:int@op450:before: power cut before operation 450 of ")
    assert "(bootloader: internal erase at 0x" in out
    assert re.search(r"internal flash after the cut: sha256 [0-9a-f]{64}", out)
    assert "outcome: factory-fallback: v1 running; DB absent;" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--stride", "0"], "--stride must be at least 1"),
        (["--modes", "sideways"], "bad --modes"),
        (["--size", "100"], "--size must be 8192.."),
        (["--quirks", "nope"], "unknown quirk profile"),
        (["--replay", "update:op1"], "bad fault id"),
        (["--replay", "update:int@op0:before", "--size", "9000"], "takes size, quirks, v2 and seed from the fault id"),
        (["--replay", "update:int@op0:before"], "operation 0 is on external flash"),
        (["--replay", "update:ext@op99999:before"], "the update has operations 0.."),
    ],
)
def test_bad_arguments_are_one_line_errors(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    assert main(["sweep", "update", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err
