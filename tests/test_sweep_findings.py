"""The sweep section of docs/findings.md: written between its markers, the rest of the page kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.sweeps.findings import BEGIN, END, TITLE, section, write


def test_write_replaces_only_the_sweep_section(tmp_path: Path) -> None:
    page = tmp_path / "findings.md"
    write(page, ["first"])
    assert page.read_text().startswith(TITLE) and f"{BEGIN}\nfirst\n{END}" in page.read_text()
    page.write_text(page.read_text() + "\n<!-- fuzz findings: begin -->\nfuzz\n<!-- fuzz findings: end -->\n")
    write(page, ["second"])
    text = page.read_text()
    assert "first" not in text and f"{BEGIN}\nsecond\n{END}" in text and "\nfuzz\n" in text


def test_write_appends_to_a_page_without_markers(tmp_path: Path) -> None:
    page = tmp_path / "findings.md"
    page.write_text("# Findings\n\nthe fuzzer's part\n")
    write(page, ["sweeps"])
    assert page.read_text() == f"# Findings\n\nthe fuzzer's part\n\n{BEGIN}\nsweeps\n{END}\n"


def test_section_at_a_small_size(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="plots need the plot extra: pip install 'otaloop[plot]'")
    page = tmp_path / "findings.md"
    lines = section(16384, 1, 250, tmp_path / "img", page)
    text = "\n".join(lines)
    assert "Power-cut sweep of `update`: 729 flash operations" in text
    assert "Power-cut sweep of `update/v2=crash`" in text and "Double power cuts of `update`" in text
    assert "![outcome of every cut against the operation index](img/sweep-update-16384.svg)" in text
    assert (tmp_path / "img" / "sweep-update-16384.svg").stat().st_size > 10_000
