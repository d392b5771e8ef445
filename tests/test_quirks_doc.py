"""The quirk table: docs/quirks.md is the CLI's output, and every bootloader/database quirk is tested."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootloader_model.quirks import QUIRKS, Quirk
from harness.cli import main
from harness.cli.quirks import markdown
from tests import test_bootloader, test_image_database

ROOT = Path(__file__).resolve().parent.parent


def test_docs_quirks_md_equals_cli_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quirks", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out == markdown()
    assert (ROOT / "docs" / "quirks.md").read_text() == out, "regenerate: otaloop quirks --markdown > docs/quirks.md"


def test_plain_listing_names_every_quirk(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quirks"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == [q.name for q in QUIRKS]


@pytest.mark.parametrize("q", [q for q in QUIRKS if q.component in ("bootloader", "database")], ids=lambda q: q.name)
def test_bootloader_and_database_quirks_are_tested_in_both_profiles(q: Quirk) -> None:
    fn_name = "test_quirk_" + q.name.replace("-", "_")
    found = [getattr(m, fn_name) for m in (test_bootloader, test_image_database) if hasattr(m, fn_name)]
    assert found, f"no test named {fn_name}"
    marks = [m for m in getattr(found[0], "pytestmark", []) if m.name == "parametrize" and m.args[0] == "profile"]
    assert marks and {p.name for p in marks[0].args[1]} == {"harmony-3.9.1", "corrected"}
