"""What a user keeps from an update sweep: the JSON file (it round-trips), the plot (one point per case),
and shards that merge into exactly the whole sweep."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bootloader_model.errors import CallerError
from harness.cli import main
from harness.sweeps.executor import InProcess
from harness.sweeps.results import SweepRun, dump, dumps, load, loads, merge
from harness.sweeps.update import Reference, plan_sweep, run_sweep, shard_spans

STRIDE = 11


@pytest.fixture(scope="module")
def whole(ref: Reference) -> SweepRun:
    plan = plan_sweep(ref, stride=STRIDE)
    return SweepRun.of(plan, run_sweep(plan, InProcess()))


def test_json_round_trips(whole: SweepRun, tmp_path: Path) -> None:
    text = dumps(whole)
    again = loads(text)
    assert again == whole
    assert dumps(again) == text
    dump(whole, tmp_path / "sweep.json")
    assert load(tmp_path / "sweep.json") == whole


def test_json_holds_every_case_with_its_facts(whole: SweepRun) -> None:
    doc = json.loads(dumps(whole))
    assert doc["scenario"] == "update" and doc["stride"] == STRIDE and len(doc["ops"]) == len(whole.ops)
    assert len(doc["cases"]) == len(whole.cases) > 0
    for case, row in zip(whole.cases, doc["cases"], strict=True):
        assert row["fault"] == str(case.fault)
        assert row["phase"] == case.op.phase and row["operation"] == case.op.label()
        assert row["outcome"] == case.verdict.value and row["detail"] == case.judgement.detail


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{", "not JSON"),
        ("[]", "not an otaloop sweep result"),
        ('{"format": "otaloop-sweep/1"}', "missing 'size'"),
    ],
)
def test_malformed_json_is_a_caller_error(text: str, needle: str) -> None:
    with pytest.raises(CallerError, match=needle):
        loads(text)


def test_edited_case_is_refused(whole: SweepRun) -> None:
    doc = json.loads(dumps(whole))
    doc["cases"][0]["outcome"] = "on-fire"
    with pytest.raises(CallerError, match="unknown outcome"):
        loads(json.dumps(doc))
    doc = json.loads(dumps(whole))
    doc["cases"][0]["fault"] = "update/size=65536:ext@op0:before"
    with pytest.raises(CallerError, match="does not match"):
        loads(json.dumps(doc))


def _shards(ref: Reference, n: int) -> list[SweepRun]:
    plan = plan_sweep(ref, stride=STRIDE)
    return [
        SweepRun.of(plan, run_sweep(plan, InProcess(), spans=shard_spans(len(plan.ops), (i, n))), (i, n))
        for i in range(1, n + 1)
    ]


def test_shards_merge_into_the_whole_sweep(ref: Reference, whole: SweepRun, tmp_path: Path) -> None:
    parts = _shards(ref, 3)
    assert all(p.cases for p in parts) and sum(len(p.cases) for p in parts) == len(whole.cases)
    files = []
    for part in parts:
        files.append(tmp_path / f"shard{part.shard}.json")
        dump(part, files[-1])
    merged = merge(load(f) for f in reversed(files))
    assert merged == whole
    assert dumps(merged) == dumps(whole)
    out = tmp_path / "merged.json"
    assert main(["sweep", "merge", *map(str, files), "--json", str(out)]) == 0
    assert out.read_text() == dumps(whole)


def test_merge_refuses_incomplete_doubled_or_foreign_shards(ref: Reference, whole: SweepRun) -> None:
    a, b, c = _shards(ref, 3)
    with pytest.raises(CallerError, match=r"missing shard\(s\) 2/3"):
        merge([a, c])
    with pytest.raises(CallerError, match="shard given twice"):
        merge([a, a, b, c])
    other = SweepRun.of(plan_sweep(ref, stride=STRIDE + 1), [], (2, 3))
    with pytest.raises(CallerError, match="different sweeps"):
        merge([a, other, c])


def _svg_points(path: Path) -> int:
    ns = "{http://www.w3.org/2000/svg}"
    groups = [g for g in ET.parse(path).iter(f"{ns}g") if g.get("id", "").startswith("cases-")]
    return sum(1 for g in groups for _ in g.iter(f"{ns}use"))


def test_plot_draws_one_point_per_case(whole: SweepRun, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="plots need the plot extra: pip install 'otaloop[plot]'")
    from harness.sweeps.plot import plot

    svg, png = tmp_path / "sweep.svg", tmp_path / "sweep.png"
    assert plot(whole, svg) == len(whole.cases)
    assert _svg_points(svg) == len(whole.cases)
    assert plot(whole, png) == len(whole.cases)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    again = tmp_path / "again.svg"
    plot(whole, again)
    assert again.read_bytes() == svg.read_bytes()  # regenerated plots change only when the sweep does


def test_cli_writes_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib", reason="plots need the plot extra: pip install 'otaloop[plot]'")
    out, pic = tmp_path / "s.json", tmp_path / "s.svg"
    argv = ["sweep", "update", "--stride", "200", "--modes", "after", "--jobs", "1"]
    assert main([*argv, "--json", str(out), "--plot", str(pic)]) == 0
    run = load(out)
    assert len(run.cases) == 5 and _svg_points(pic) == 5  # operations 0, 200, 400, 600 and the last
    assert "5 cases" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["update", "--plot", "x.pdf"], "must end in .svg or .png"),
        (["update", "--json", "/nonexistent/dir/x.json"], "no such directory"),
        (["update", "--shard", "0/2"], "bad --shard"),
        (["update", "--shard", "3/2"], "bad --shard"),
        (["merge", "/nonexistent.json"], "cannot read /nonexistent.json"),
    ],
)
def test_bad_report_options_are_one_line_errors(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err
