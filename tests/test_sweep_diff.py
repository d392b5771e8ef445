"""``otaloop sweep diff``: two real sweeps of one small update compared cut by cut; other updates refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.sweeps.diff import diff
from harness.sweeps.results import load


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real update sweeps of 8 KiB images, every 7th operation, in-process."""
    folder = tmp_path_factory.mktemp("sweeps")
    made: dict[str, Path] = {}
    for name, extra in (
        ("harmony", []),
        ("corrected", ["--quirks", "corrected"]),
        ("bigger", ["--size", "12288"]),
        ("seed2", ["--seed", "2"]),
    ):
        path = folder / f"{name}.json"
        size = [] if "--size" in extra else ["--size", "8192"]
        assert main(["sweep", "update", *size, "--stride", "7", "--jobs", "1", "--json", str(path), *extra]) == 0
        made[name] = path
    return made


def test_profiles_of_one_update_compare_cut_by_cut(sweeps: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = load(sweeps["harmony"]), load(sweeps["corrected"])
    assert a.params.quirks != b.params.quirks and len(a.cases) == len(b.cases) > 200
    d = diff(a, b)
    assert d.compared == len(a.cases) and d.ops_differ_at is None
    # Power cuts of this update end the same way under both profiles: the quirks it meets are not power-cut bugs.
    assert d.changes == []
    capsys.readouterr()
    assert main(["sweep", "diff", str(sweeps["harmony"]), str(sweeps["corrected"])]) == 0
    out = capsys.readouterr().out
    assert f"{len(a.cases)} cuts compared, 0 changed outcome" in out
    assert "update/size=8192/quirks=corrected" in out


def test_a_changed_outcome_is_listed_and_drawn(
    sweeps: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    # B: the corrected sweep with two cases judged otherwise (as a patched bootloader would change them).
    doc = json.loads(sweeps["corrected"].read_text())
    picked = [c for c in doc["cases"] if c["outcome"] == "factory-fallback"][:2]
    assert len(picked) == 2
    for case in picked:
        case["outcome"], case["running"] = "new-image", 2
    changed = tmp_path / "patched.json"
    changed.write_text(json.dumps(doc))
    svg = tmp_path / "diff.svg"
    capsys.readouterr()
    assert main(["sweep", "diff", str(sweeps["harmony"]), str(changed), "--plot", str(svg)]) == 1
    out = capsys.readouterr().out
    assert "2 changed outcome" in out
    assert "       2  factory-fallback -> new-image" in out
    for case in picked:
        cut = case["fault"].split(":", 1)[1]
        assert any(
            line.startswith(cut + " ") and line.rstrip().endswith("factory-fallback  new-image")
            for line in out.splitlines()
        )
    drawing = svg.read_text()
    assert drawing.startswith("<?xml") and "changed-0-new-image" in drawing


@pytest.mark.parametrize(("other", "why"), [("bigger", "image size 8192 vs 12288"), ("seed2", "seed 1 vs 2")])
def test_sweeps_of_different_updates_are_refused(
    sweeps: dict[str, Path], other: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", "diff", str(sweeps["harmony"]), str(sweeps[other])]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"otaloop sweep: error: these sweeps are of different updates ({why}): ")
    assert err.count("\n") == 1


def test_a_shard_is_refused(sweeps: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shard = tmp_path / "shard.json"
    argv = ["sweep", "update", "--size", "8192", "--stride", "7", "--quirks", "corrected", "--jobs", "1"]
    assert main([*argv, "--shard", "1/2", "--json", str(shard)]) == 0  # a real half of the corrected sweep
    capsys.readouterr()
    assert main(["sweep", "diff", str(sweeps["harmony"]), str(shard)]) == 2
    assert "sweep B is shard 1/2: join the shards with otaloop sweep merge first" in capsys.readouterr().err
