"""docs/findings.md: its fuzzing section is what the report module writes, and every documented finding
still replays to the hazard the page names (the page is rewritten by ``python -m harness.fuzzing.report``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.cli import main
from harness.fuzzing import HAZARDS, BoardStateMachine
from harness.fuzzing.report import BEGIN, END, update_page

PAGE = Path(__file__).resolve().parents[1] / "docs" / "findings.md"


def _documented() -> list[tuple[str, str]]:
    section = PAGE.read_text().partition(BEGIN)[2].partition(END)[0]
    names = re.findall(r"^### ([a-z-]+)$", section, re.M)
    tokens = re.findall(r"^otaloop fuzz --replay (otaloop-fuzz1:\S+)$", section, re.M)
    assert len(names) == len(tokens) and names, "the fuzzing section lists no findings"
    return list(zip(names, tokens, strict=True))


@pytest.mark.parametrize(("name", "token"), _documented())
def test_documented_finding_replays_to_its_hazard(name: str, token: str) -> None:
    assert name in HAZARDS
    again = BoardStateMachine.replay(token).hazard
    assert again is not None and again.hazard.name == name, f"{name}: the page is stale; rerun the report module"


def test_the_page_names_the_spec_hazards_the_search_must_find() -> None:
    names = {name for name, _ in _documented()}
    assert {"power-cut-factory-fallback", "reprogram-loop", "ota-directory-erased"} <= names
    assert any(HAZARDS[n].quirk for n in names)


def test_update_page_keeps_other_sections(tmp_path: Path) -> None:
    page = tmp_path / "findings.md"
    page.write_text(f"# Findings\n\nintro\n\n{BEGIN}\nold\n{END}\n\n## Sweeps\n\ntable\n")
    update_page(page, f"{BEGIN}\nnew\n{END}\n")
    assert page.read_text() == f"# Findings\n\nintro\n\n{BEGIN}\nnew\n{END}\n\n## Sweeps\n\ntable\n"
    fresh = tmp_path / "fresh.md"
    update_page(fresh, f"{BEGIN}\nx\n{END}\n")
    assert fresh.read_text().startswith("# ") and fresh.read_text().endswith(f"{END}\n")


def test_cli_markdown_prints_the_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fuzz", "--budget", "3", "--seed", "1", "--steps", "4", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(BEGIN) and out.rstrip().endswith(END)
    assert "| hazard | property | spec (behaviour reference) | cause | steps | found at example |" in out
