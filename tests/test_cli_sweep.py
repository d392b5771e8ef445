"""``otaloop sweep bootloader`` prints the power-cut tables; bad options are one-line errors."""

from __future__ import annotations

import pytest

from harness.cli import main


def test_sweep_backup_internal_prints_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "bootloader", "--scene", "backup", "--device", "internal"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### backup: internal flash (4 operations; 12 cuts)")
    assert "| #0 program 0x10020000 | before: backup repeated, then factory image running;" in out


def test_sweep_rejects_bad_modes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "bootloader", "--scene", "backup", "--modes", "sideways"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad --modes" in err


def test_sweep_rejects_bad_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "bootloader", "--scene", "backup", "--device", "internal", "--profile", "x"]) == 2
    assert "unknown quirk profile" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["sweep", "bootloader", "--scene", "backup", "--device", "internal", "--quirks", ""],
        ["sweep", "update", "--jobs", "1", "--quirks", ""],
        ["sweep", "timed", "--after", "x", "--from", "1", "--to", "2", "--quirks", ""],
        ["fuzz", "--budget", "1", "--quirks", ""],
        ["run", "--only", "c_update", "--quirks", ""],
    ],
)
def test_an_empty_quirks_value_is_refused_by_every_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # Leaving --quirks out gives the default; an empty value (an unset shell variable) is a mistake everywhere.
    assert main(argv) == 2
    out, err = capsys.readouterr()
    refusal = "unknown quirk profile ''; choose harmony-3.9.1 or corrected"
    assert err.splitlines() == [f"otaloop {argv[0]}: error: {refusal}"]
    assert out == ""  # refused before any work


def test_docs_hold_the_generated_backup_table(capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    assert main(["sweep", "bootloader", "--scene", "backup", "--device", "internal"]) == 0
    table = capsys.readouterr().out.replace("### ", "#### ").strip()
    doc = (Path(__file__).resolve().parent.parent / "docs" / "bootloader.md").read_text()
    assert table in doc, "regenerate the tables in docs/bootloader.md with: otaloop sweep bootloader"


@pytest.mark.parametrize("size", ["-1", "0", "4095", "913409", "2000000"])
def test_sweep_rejects_a_bad_image_size_before_any_table(size: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "bootloader", "--device", "internal", "--image-size", size]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--image-size" in err and len(err.strip().splitlines()) == 1
