"""Sweep result files from outside: read with bounds and checked field by field, and a partial sweep never
passes for a whole one; output paths are refused before a sweep runs, and results are written whole."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootloader_model.errors import CallerError
from bootloader_model.storage.nor_flash import CutMode
from harness.cli import main
from harness.sweeps.executor import InProcess
from harness.sweeps.results import SweepRun, check_whole, dump, dumps, load, loads, merge
from harness.sweeps.update import Reference, plan_sweep, run_sweep, shard_spans

STRIDE = 200  # operations 0, 200, 400, 600 and the last: five cases a mode


@pytest.fixture(scope="module")
def small(ref: Reference) -> SweepRun:
    plan = plan_sweep(ref, [CutMode.AFTER, CutMode.BEFORE], stride=STRIDE)
    return SweepRun.of(plan, run_sweep(plan, InProcess()))


def _doc(run: SweepRun) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(dumps(run))
    return doc


def _shard(ref: Reference, i: int, n: int) -> SweepRun:
    plan = plan_sweep(ref, [CutMode.AFTER, CutMode.BEFORE], stride=STRIDE)
    return SweepRun.of(plan, run_sweep(plan, InProcess(), spans=shard_spans(len(plan.ops), (i, n))), (i, n))


def test_a_whole_run_has_nothing_missing(small: SweepRun) -> None:
    assert len(small.cases) == len(small.expected()) == 10 and small.missing() == []
    check_whole(small)


def test_a_half_run_is_partial_and_merge_refuses_it(small: SweepRun) -> None:
    half = loads(json.dumps({**_doc(small), "cases": _doc(small)["cases"][:4]}))  # a sweep cut short
    assert len(half.missing()) == 6
    with pytest.raises(CallerError, match=r"PARTIAL: the sweep holds 4 of its 10 cases \(6 missing, the first "):
        check_whole(half)
    with pytest.raises(CallerError, match="PARTIAL"):
        merge([half])


def test_a_shard_cut_short_is_partial(ref: Reference) -> None:
    one, two = _shard(ref, 1, 2), _shard(ref, 2, 2)
    check_whole(one)
    check_whole(two)
    assert merge([two, one]).missing() == []
    cut = copy.copy(two)
    cut.cases = two.cases[:-1]
    with pytest.raises(CallerError, match="PARTIAL: shard 2/2 holds"):
        merge([one, cut])


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.update(stride=0), "'stride' must be 1.."),
        (lambda d: d.update(seed=-1), "'seed' must be 0.."),
        (lambda d: d.update(shard=[3, 2]), "'shard' must be"),
        (lambda d: d.update(shard=[True, 1]), "'shard' must be"),
        (lambda d: d.update(modes=[]), "'modes' must list"),
        (lambda d: d.update(modes=["after", "after"]), "'modes' must list"),
        (lambda d: d.update(modes=[{}]), "'modes' must list"),
        (lambda d: d.update(reset_at=10**9), "'reset_at' must be 0.."),
        (lambda d: d["ops"][1].update(device="sideways"), "device must be internal or external"),
        (lambda d: d["ops"][1].update(index=7), "in order"),
        (lambda d: d["ops"].__setitem__(0, 5), "operation 0 is not an object"),
        (lambda d: d["cases"].append(d["cases"][0]), "appears twice"),
        (lambda d: d["cases"][0].update(running=-2), "'running' must be"),
        (lambda d: d["cases"][0].update(fault=d["cases"][0]["fault"] + "+int@op3:after"), "second cut"),
        (lambda d: d.update(size=True), "'size' has the wrong type"),
        (lambda d: d.update(cases={}), "'cases' has the wrong type"),
    ],
)
def test_edited_fields_are_refused(small: SweepRun, edit: Any, needle: str) -> None:
    doc = _doc(small)
    edit(doc)
    with pytest.raises(CallerError, match=needle):
        loads(json.dumps(doc))


def test_a_case_outside_the_stride_or_shard_is_refused(small: SweepRun, ref: Reference) -> None:
    doc = _doc(small)
    other = SweepRun.of(plan_sweep(ref, [CutMode.AFTER, CutMode.BEFORE], stride=1), [])
    doc["cases"][1]["op"] = 1  # operation 1 is not on a stride of 200
    doc["cases"][1]["fault"] = doc["cases"][1]["fault"].replace("@op0:", "@op1:")
    doc["cases"][1]["fault"] = doc["cases"][1]["fault"].replace("int@", other.ops[1].short_device + "@")
    with pytest.raises(CallerError, match="is not part of the sweep"):
        loads(json.dumps(doc))


# ---------------------------------------------------------------------------------- otaloop sweep merge
def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    _, err = capsys.readouterr()
    assert err.startswith("otaloop sweep: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and all(n in err for n in needles), err


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"", "not JSON"),
        (b'{"format": "otaloop-sweep/1", "size": NaN}', "NaN"),
        (b"\x00\x01\x02", "not"),
    ],
)
def test_merge_of_a_hostile_file_is_a_one_line_error(
    tmp_path: Path, content: bytes, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shard.json"
    path.write_bytes(content)
    assert main(["sweep", "merge", str(path)]) == 2
    _one_line_error(capsys, str(path), needle)


def test_merge_of_dev_zero_is_refused_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "merge", "/dev/zero"]) == 2
    _one_line_error(capsys, "/dev/zero: not a regular file")


def test_merge_of_a_half_shard_fails_and_says_partial(
    small: SweepRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "half.json"
    path.write_text(json.dumps({**_doc(small), "cases": _doc(small)["cases"][:5]}))
    out = tmp_path / "merged.json"
    assert main(["sweep", "merge", str(path), "--json", str(out)]) == 2
    _one_line_error(capsys, f"{path}: PARTIAL: the sweep holds 5 of its 10 cases")
    assert not out.exists()  # nothing that looks like a whole sweep is written
    dump(small, path)
    assert main(["sweep", "merge", str(path), "--json", str(out)]) == 0
    assert load(out) == small


# ------------------------------------------------------------------------------- output paths up front
@pytest.mark.parametrize(
    "argv",
    [
        ["sweep", "update", "--stride", "200", "--jobs", "1", "--json", "{d}"],
        ["sweep", "update", "--double", "--stride", "200", "--jobs", "1", "--json", "{d}"],
        ["sweep", "bootloader", "--scene", "backup", "--device", "internal", "--json", "{d}"],
        ["sweep", "merge", "{f}", "--json", "{d}"],
    ],
)
def test_a_directory_as_json_is_refused_before_the_sweep_runs(
    argv: list[str], small: SweepRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump(small, tmp_path / "whole.json")
    given = str(tmp_path / "results")
    (tmp_path / "results").mkdir()
    assert main([a.format(d=given, f=tmp_path / "whole.json") for a in argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"otaloop sweep: error: cannot write --json {given}: it is a directory; name a file\n"


def test_sweep_bootloader_writes_its_json_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cuts.json"
    out.write_text("earlier")
    assert main(["sweep", "bootloader", "--scene", "backup", "--device", "internal", "--json", str(out)]) == 0
    assert isinstance(json.loads(out.read_text()), (dict, list))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cuts.json"]


# ------------------------------------------------------------------------------- hostile input, at large
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)


def _loads_or_refuses(text: str) -> None:
    try:
        run = loads(text)
    except CallerError:
        return
    assert isinstance(run, SweepRun) and loads(dumps(run)) == run


@settings(max_examples=150, deadline=None)
@given(JSON)
def test_arbitrary_json_is_a_sweep_run_or_a_caller_error(doc: Any) -> None:
    _loads_or_refuses(json.dumps(doc))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_real_result_with_any_field_replaced_is_a_sweep_run_or_a_caller_error(
    small: SweepRun, data: st.DataObject
) -> None:
    doc = _doc(small)
    holder: Any = doc
    path = data.draw(
        st.sampled_from(
            [["size"], ["quirks"], ["modes"], ["stride"], ["seed"], ["shard"], ["reset_at"], ["ops"], ["cases"]]
            + [["ops", i, k] for i in (0, 3) for k in ("index", "device", "count", "address", "length", "phase")]
            + [["cases", i, k] for i in (0, 9) for k in ("fault", "op", "mode", "outcome", "running", "detail")]
        )
    )
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = data.draw(JSON)
    _loads_or_refuses(json.dumps(doc))
