"""Replay tokens from outside: every field checked and bounded before anything runs; bad ones are one-line errors.

A token is pasted from a bug report or a CI log, so it may be cut, edited or made up. These tests tamper with
real tokens (pack edited JSON the way :func:`~harness.fuzzing.steps.encode_run` does, without its checks),
feed the decoder arbitrary bytes and JSON, and check that everything a search can record still replays.
"""

from __future__ import annotations

import base64
import inspect
import json
import subprocess
import sys
import zlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootloader_model.errors import CallerError
from bootloader_model.storage.nor_flash import CutMode
from harness.cli import main
from harness.fuzzing import BoardStateMachine
from harness.fuzzing import steps as steps_mod
from harness.fuzzing.strategies import CutPlan

SETUP = ["setup", {"config": "auto"}]


def _body(*steps: list[Any], **top: Any) -> dict[str, Any]:
    return {"quirks": "harmony-3.9.1", "size": 8192, "steps": [[SETUP], *steps], **top}


def _pack(body: Any) -> str:
    """A token holding ``body`` as it is (no checks): what a person editing a token by hand makes."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return steps_mod.PREFIX + base64.urlsafe_b64encode(zlib.compress(raw)).decode().rstrip("=")


TAMPERED: list[tuple[Any, str]] = [
    (_body([["wait", 5]]), "arguments of wait must be an object, not integer"),
    (_body([["wait", {"seconds": 1e9}]]), r"seconds must be 0..50000 s"),
    (_body([["wait", {"seconds": "long"}]]), "must be a number of seconds, not string"),
    (_body([["wait", {"seconds": True}]]), "must be a number of seconds, not boolean"),
    (_body([["wait", {"seconds": -1}]]), r"0..50000 s, got -1"),
    (_body([["wait", {}]]), "wait without its argument 'seconds'"),
    (_body([["wait", {"seconds": 1, "speed": 2}]]), "wait takes no argument 'speed'"),
    (_body(*[[["wait", {"seconds": 300.0}]]] * 200), "run for 60,000 virtual seconds"),
    (_body([["cut_power", {"plan": {"$": "CutPlan", "device": "internal", "op": 3}, "within_s": 1e300}]]), "0..70 s"),
    (_body([["cut_power", {"plan": {"$": "CutPlan", "device": "flash", "op": 3}}]]), "device must be one of"),
    (_body([["cut_power", {"plan": {"$": "CutPlan", "device": "internal", "op": 3, "mode": "x"}}]]), "mode must"),
    (_body([["cut_power", {"plan": {"$": "CutPlan", "device": "internal", "op": -4}}]]), r"op must be 0\.\."),
    (_body([["cut_power", {"plan": {"$": "ImageSpec", "version": 2}}]]), "plan must be a CutPlan"),
    (_body([["serve", {"image": {"$": "ImageSpec", "version": "2"}}]]), "version must be an integer, not string"),
    (_body([["serve", {"image": {"$": "ImageSpec", "version": 2, "size": 10**9}}]]), "size must be"),
    (_body([["serve", {"image": {"$": "ImageSpec", "version": 2, "colour": 1}}]]), "has no field 'colour'"),
    (
        _body([["serve", {"image": {"$": "ImageSpec", "version": 2, "damage": "truncated"}}]]),
        r"damage_at must be 4096\.\.",
    ),
    (_body([["serve", {"image": {"$": "ImageSpec", "version": 2, "damage_at": 9}}]]), r"damage_at must be 0\.\.0"),
    (_body([["serve", {"image": {"$": "ImageSpec"}}]]), "ImageSpec without version"),
    (_body([["serve", {"image": {"$": "ImageSpec", "version": 2}, "manifest": 3}]]), "must be a ManifestSpec"),
    (_body([["server_fault", {"fault": {"$": "ServerFault", "path": "image", "kind": "stall"}}]]), "kind must be"),
    (_body([["server_fault", {"fault": {"$": "ServerFault", "path": "x", "kind": "drop"}}]]), "path must be"),
    (_body([["type_line", {"line": {"$bytes": "zz"}}]]), "is not hex"),
    (_body([["type_line", {"line": {"$bytes": "41" * 513}}]]), "longer than 512 bytes"),
    (_body([["type_line", {"line": "help"}]]), "must be bytes"),
    (_body([["power", {"action": "explode"}]]), "action must be one of on, off, cycle, reset"),
    (_body([["launch", {}]]), "unknown action 'launch'"),
    (_body([["wait"]]), r"must be a pair \[action, arguments\]"),
    (_body([]), "step 2 must hold 1..16 actions, not 0 actions"),
    (_body([["setup", {"config": "auto"}]]), "the set-up step comes first, once"),
    ({"quirks": "harmony-3.9.1", "size": 8192, "steps": [[["wait", {"seconds": 1}]]]}, "set-up step comes first"),
    ({"quirks": "harmony-3.9.1", "size": 8192, "steps": []}, "holds 0 steps"),
    ({"quirks": "harmony-3.9.1", "size": 8192}, "no 'steps'"),
    (_body(size=8192.5), "image size must be an integer"),
    (_body(quirks="sloppy"), "unknown quirk profile"),
    (_body(quirks=7), "quirks must be a profile name"),
    (_body(tolerate=["no-such-hazard"]), "a tolerated hazard must be one of"),
    (_body(bootloader="rom"), "bootloader must be 'model' or 'native:CACHE_DIR'"),
    (_body(application="rom"), "application must be 'model' or 'native:CACHE_DIR'"),
    (_body(application=5), "application must be 'model' or 'native:CACHE_DIR'"),
    (_body(extra=1), "unknown field 'extra'"),
    ([1, 2], "holds array, not an object"),
    (b'{"quirks": NaN}', "holds NaN"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"\x80{}", "not JSON"),
]


@pytest.mark.parametrize(("body", "needle"), TAMPERED)
def test_tampered_tokens_are_caller_errors_saying_what_is_wrong(body: Any, needle: str) -> None:
    with pytest.raises(CallerError, match=needle):
        steps_mod.decode(_pack(body))


@pytest.mark.parametrize(
    ("token", "needle"),
    [
        ("hello", "must start with"),
        (steps_mod.PREFIX, "damaged"),
        (steps_mod.PREFIX + "!!!!", "not URL-safe base64"),
        (steps_mod.PREFIX + "A", "not URL-safe base64"),
        (_pack(_body())[:-6], "damaged"),
        (_pack(_body()) + "AAAA", "damaged"),
        (steps_mod.PREFIX + base64.urlsafe_b64encode(zlib.compress(b" " * 5_000_000)).decode(), "more than"),
        (steps_mod.PREFIX + "A" * 1_000_004, "at most 1,000,000 characters"),
    ],
)
def test_damaged_or_oversized_tokens_are_caller_errors(token: str, needle: str) -> None:
    with pytest.raises(CallerError, match=needle):
        steps_mod.decode(token)


def test_a_valid_token_decodes_to_typed_values() -> None:
    plan = {"$": "CutPlan", "device": "external", "op": 40, "mode": "torn", "seed": 3}
    run = steps_mod.decode(_pack(_body([["cut_power", {"plan": plan}]], tolerate=["image-lost"])))
    assert run.steps[0] == [("setup", {"config": "auto"})]
    assert run.steps[1] == [("cut_power", {"plan": CutPlan("external", 40, CutMode.TORN, 3)})]
    assert run.tolerate == frozenset({"image-lost"}) and run.bootloader == "model"


def test_steps_that_cannot_be_replayed_get_no_token() -> None:
    run = steps_mod.Run("harmony-3.9.1", 8192, [[("setup", {"config": "auto"})], [("wait", {"seconds": 1e9})]])
    with pytest.raises(CallerError, match="cannot be replayed from a token"):
        steps_mod.encode_run(run)


def test_the_decoder_knows_every_action_of_the_machine_and_its_arguments() -> None:
    for name in steps_mod.ACTIONS:  # every argument the decoder lets through, the action takes, and no other
        params = inspect.signature(getattr(BoardStateMachine, name)).parameters
        assert steps_mod.ARGUMENTS[name] == set(params) - {"self"}, name
    within = inspect.signature(BoardStateMachine.cut_power).parameters["within_s"].default
    assert within <= steps_mod.MAX_CUT_WINDOW_S  # the machine's own cut window replays
    recorded = {m for m in dir(BoardStateMachine) if not m.startswith("_") and m in steps_mod.ACTIONS}
    assert recorded == steps_mod.ACTIONS


def _rules(kind: str = "hypothesis_stateful_rule") -> list[Any]:
    return [r for _, m in inspect.getmembers(BoardStateMachine) if (r := getattr(m, kind, None)) is not None]


class _Recorder:
    """Stands in for the machine: records the actions a rule calls, with their arguments by name."""

    def __init__(self) -> None:
        self.actions: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> None:
            bound = inspect.signature(getattr(BoardStateMachine, name)).bind(None, *args, **kwargs)
            bound.apply_defaults()
            self.actions.append((name, {k: v for k, v in bound.arguments.items() if k != "self"}))

        return record


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_everything_the_search_draws_goes_into_a_token_and_back(data: st.DataObject) -> None:
    (setup,) = _rules("hypothesis_stateful_initialize_rule")
    rules = _rules()
    assert len(rules) >= 11
    steps: list[list[tuple[str, dict[str, Any]]]] = []
    for i in range(data.draw(st.integers(2, 7))):
        rule = setup if i == 0 else data.draw(st.sampled_from(rules))
        recorder = _Recorder()
        rule.function(recorder, **data.draw(st.fixed_dictionaries(rule.arguments)))
        steps.append(recorder.actions)
    run = steps_mod.Run("harmony-3.9.1", 8192, steps)
    assert steps_mod.decode(steps_mod.encode_run(run)) == run


# ------------------------------------------------------------------------------- hostile input, at large
def _decodes_or_refuses(token: str) -> None:
    try:
        run = steps_mod.decode(token)
    except CallerError:
        return
    assert isinstance(run, steps_mod.Run) and run.steps[0][0][0] == "setup"
    assert steps_mod.decode(steps_mod.encode_run(run)) == run


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_in_a_token_decode_or_are_refused(raw: bytes) -> None:
    _decodes_or_refuses(_pack(raw))
    _decodes_or_refuses(steps_mod.PREFIX + base64.urlsafe_b64encode(raw).decode())


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=30,
)
SPEC_WORDS = ("$", "$bytes", "ImageSpec", "CutPlan", "ServerFault", "ManifestSpec", "version", "plan", "fault", "image")
WORDS = st.sampled_from([*SPEC_WORDS, *sorted(steps_mod.ACTIONS)])


def _near_valid() -> st.SearchStrategy[Any]:
    """Bodies shaped like a token's, with arbitrary JSON where the values go."""
    value = st.recursive(
        JSON | WORDS,
        lambda inner: st.dictionaries(WORDS | st.text(max_size=6), inner, max_size=5) | st.lists(inner, max_size=3),
        max_leaves=12,
    )
    action = st.tuples(st.sampled_from(sorted(steps_mod.ACTIONS)), st.dictionaries(WORDS, value, max_size=3)).map(list)
    return st.fixed_dictionaries(
        {"quirks": st.sampled_from(["harmony-3.9.1", "corrected"]) | JSON, "size": st.integers(0, 2**20) | JSON},
        optional={"steps": st.lists(st.lists(action, max_size=3), max_size=4), "tolerate": JSON},
    )


@settings(max_examples=200, deadline=None)
@given(JSON | _near_valid())
def test_arbitrary_json_in_a_token_decodes_or_is_refused(body: Any) -> None:
    _decodes_or_refuses(_pack(json.dumps(body, allow_nan=True).encode()))


# ------------------------------------------------------------------------------------------- the CLI
@pytest.mark.parametrize(
    "body",
    [
        _body([["wait", 5]]),
        _body([["wait", {"seconds": 1e9}]]),
        {"quirks": "harmony-3.9.1", "size": 8192, "steps": []},
        _body([["wait", {"seconds": 1, "speed": 2}]]),
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_otaloop_fuzz_replay_refuses_a_tampered_token_in_one_line(
    body: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fuzz", "--replay", _pack(body)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("otaloop fuzz: error: bad replay token: ") and err.count("\n") == 1


def test_a_tampered_token_is_refused_by_the_installed_command_without_a_traceback() -> None:
    token = _pack(_body([["cut_power", {"plan": {"$": "CutPlan", "device": "internal", "op": 3}, "within_s": 1e300}]]))
    code = "import sys; from harness.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, "fuzz", "--replay", token], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("otaloop fuzz: error: bad replay token: step 2 cut_power within_s must be 0..70 s")
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
