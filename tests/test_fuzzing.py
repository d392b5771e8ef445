"""The board state machine: its actions, safety properties, step lists, replay tokens, and ``otaloop fuzz --replay``.

Each test drives the machine's public actions directly (no search), so a hazard is shown by the steps that
cause it and must be named the same way in both places it can be seen: ``find_hazard`` and a replay.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import invariant, rule, run_state_machine_as_test

from bootloader_model.errors import CallerError
from bootloader_model.storage.nor_flash import CutMode
from conftest import require_tool
from harness.cli import main
from harness.fuzzing import HAZARDS, BoardStateMachine, HazardFound
from harness.fuzzing import steps as steps_mod
from harness.fuzzing.machine import ACTIONS
from harness.fuzzing.search import find_hazards
from harness.fuzzing.strategies import CutPlan, ImageSpec, ManifestSpec, ServerFault
from harness.native.build import build_example


def _steps(
    machine: BoardStateMachine, *actions: tuple[str, dict[str, object]], config: str = "auto"
) -> BoardStateMachine:
    machine.setup(config)
    machine._close_step()
    for name, args in actions:
        getattr(machine, name)(**args)
        machine._close_step()
    return machine


def test_a_plain_update_breaks_nothing() -> None:
    m = _steps(BoardStateMachine(), ("wait", {"seconds": 65.0}))
    assert m.running_version() == 2
    assert m.find_hazard() is None
    assert {v for v, _ in m.recorded} == {2}  # the service recorded v2: from now on it is protected


def test_crash_at_boot_release_is_the_reprogram_loop() -> None:
    m = _steps(
        BoardStateMachine(),
        ("serve", {"image": ImageSpec(3, "crash")}),
        ("wait", {"seconds": 65.0}),
    )
    found = m.find_hazard()
    assert found is not None and found[:2] == ("reprogram-loop", "a")
    assert "programmed 2+2 time(s)" in found[2]


def test_cut_in_the_bootloader_window_is_hazard_11() -> None:
    m = _steps(BoardStateMachine(), ("cut_power", {"plan": CutPlan("internal", 100, CutMode.AFTER)}))
    found = m.find_hazard()
    assert found is not None and found[:2] == ("power-cut-factory-fallback", "c")
    assert "DB deleted by the bootloader" in found[2]


def test_cut_in_v2s_first_db_rewrite_erases_the_ota_directory() -> None:
    # The 8 KiB update does 255 external operations before the reset; v2's confirm step comes next.
    m = _steps(BoardStateMachine(), ("cut_power", {"plan": CutPlan("external", 258, CutMode.AFTER)}))
    found = m.find_hazard()
    assert found is not None and found[0] == "ota-directory-erased"
    assert "'file open error' printed on every pass" in found[2]


STALE = (
    ("serve", {"image": ImageSpec(2), "manifest": ManifestSpec("wrong-digest")}),
    ("wait", {"seconds": 65.0}),  # UPDATE_AVAILABLE, the download fails its digest: the service goes idle
    ("server_fault", {"fault": ServerFault("manifest", "status", status=404)}),
    ("control", {"message": "check"}),  # fails before any manifest is read
)


def test_stale_check_result_under_harmony_not_when_corrected() -> None:
    found = _steps(BoardStateMachine(), *STALE).find_hazard()
    assert found is not None and found[:2] == ("stale-check-result", "f")
    assert _steps(BoardStateMachine.with_quirks("corrected")(), *STALE).find_hazard() is None


def test_tolerated_hazards_are_not_reported() -> None:
    machine = type("Tolerant", (BoardStateMachine,), {"tolerate": frozenset({"reprogram-loop"})})
    m = _steps(machine(), ("serve", {"image": ImageSpec(3, "crash")}), ("wait", {"seconds": 65.0}))
    assert m.find_hazard() is None


def test_token_round_trip_and_replay() -> None:
    m = _steps(BoardStateMachine(), *STALE)
    token = m.replay_token()
    run = steps_mod.decode(token)
    assert run.quirks == "harmony-3.9.1" and len(run.steps) == len(STALE) + 1
    assert run.steps[0] == [("setup", {"config": "auto"})]
    assert run.steps[1] == [("serve", {"image": ImageSpec(2), "manifest": ManifestSpec("wrong-digest")})]
    done = BoardStateMachine.replay(token)
    assert done.hazard is not None and done.hazard.hazard.name == "stale-check-result"
    assert done.hazard.token == token
    assert "5. type `otactl check`, wait 5 s" in done.hazard.steps
    assert "SYS_OTA_UPDATE_AVAILABLE" in done.hazard.transcript


@pytest.mark.parametrize("token", ["hello", steps_mod.PREFIX + "AAAA", steps_mod.PREFIX + "!!"])
def test_damaged_tokens_are_caller_errors(token: str) -> None:
    with pytest.raises(CallerError):
        steps_mod.decode(token)


def test_hazard_report_is_a_readable_finding() -> None:
    done = BoardStateMachine.replay(_steps(BoardStateMachine(), *STALE).replay_token())
    err = done.hazard
    assert isinstance(err, HazardFound) and isinstance(err, AssertionError)
    text = str(err)
    assert text.startswith("hazard stale-check-result: ")
    assert "cause: quirk svc-stale-check-result" in text
    assert "broken property (f)" in text
    assert "\n  1. factory v1 built with MHC options `auto` (periodic check every 60 s, automatic update, " in text
    assert "\n  2. serve v2 (8192 bytes) with a manifest with a wrong digest\n" in text
    assert "replay: otaloop-fuzz1:" in text
    assert type(err).__name__ == "StaleCheckResultFound"  # one class per hazard: hypothesis keeps them apart
    assert all(h.spec for h in HAZARDS.values())


class UserMachine(BoardStateMachine):
    """What a user writes: the base's rules, one more, and an invariant that fails on purpose."""

    tolerate = frozenset(HAZARDS)

    @rule()
    def release_v5(self) -> None:
        self.serve(ImageSpec(5))
        self.wait(65.0)

    @invariant()
    def never_runs_v5(self) -> None:
        assert self.running_version() != 5, "v5 runs"


def test_a_users_failing_invariant_shows_numbered_steps_and_a_token() -> None:
    config = settings(
        max_examples=30,
        stateful_step_count=4,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    with pytest.raises(AssertionError) as info:
        run_state_machine_as_test(UserMachine, settings=config)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "v5 runs" in str(info.value)
    assert "steps:\n" in notes and "serve v5 (8192 bytes) with a valid manifest; wait 65 s" in notes
    token = notes.split("replay: ")[-1].split()[0]
    done = UserMachine.replay(token)
    assert isinstance(done.error, AssertionError) and "v5 runs" in str(done.error)


def test_cli_replay_prints_steps_hazard_and_console(capsys: pytest.CaptureFixture[str]) -> None:
    hung = _steps(BoardStateMachine(), ("serve", {"image": ImageSpec(3, "hang")}), ("wait", {"seconds": 65.0}))
    assert main(["fuzz", "--replay", hung.replay_token()]) == 0
    out = capsys.readouterr().out
    assert "  2. serve v3 (8192 bytes, hangs at boot) with a valid manifest\n  3. wait 65 s\n" in out
    assert "hazard hang-at-boot:" in out
    assert "--- console ---" in out and "APP: version 1" in out


def test_cli_replay_header_names_every_image_size_it_serves(capsys: pytest.CaptureFixture[str]) -> None:
    big = ("serve", {"image": ImageSpec(3, "hang", size=12288)})
    done = _steps(BoardStateMachine(), ("wait", {"seconds": 1.0}), big, ("wait", {"seconds": 65.0}))
    assert main(["fuzz", "--replay", done.replay_token()]) == 0
    header, *steps = capsys.readouterr().out.splitlines()
    assert header == (
        "replay: 4 step(s), quirks harmony-3.9.1, factory v1 and first v2 of 8192 bytes, 12288 bytes in step 3"
    )
    assert steps[2] == "  3. serve v3 (12288 bytes, hangs at boot) with a valid manifest"
    plain = _steps(BoardStateMachine(), ("wait", {"seconds": 1.0})).replay_token()
    assert steps_mod.image_sizes(steps_mod.decode(plain)) == "factory v1 and first v2 of 8192 bytes"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["fuzz", "--replay", "nonsense"], "not a replay token"),
        (["fuzz", "--budget", "0"], "--budget must be at least 1"),
        (["fuzz", "--quirks", "harmony-9"], "quirk"),
        (["fuzz", "--replay", "x", "--seed", "3"], "drop --budget"),
    ],
)
def test_cli_refusals_are_one_line(argv: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err


# ------------------------------------------------------------------------- a native bootloader at reset
@pytest.fixture(scope="module")
def example_bootloader(tmp_path_factory: pytest.TempPathFactory) -> str:
    require_tool("cc", "gcc")
    cache = tmp_path_factory.mktemp("example")
    build_example(cache)
    return f"native:{cache}"


def test_a_token_replays_on_the_native_bootloader_it_names(example_bootloader: str) -> None:
    steps = [[("setup", {"config": "auto"})], [("wait", {"seconds": 200.0})]]
    token = steps_mod.encode_run(steps_mod.Run("harmony-3.9.1", 8192, steps, bootloader=example_bootloader))
    assert steps_mod.decode(token).bootloader == example_bootloader
    done = BoardStateMachine.replay(token)
    assert done.error is None, done.error
    board = done.machine.board
    assert board.bootloader.label.startswith("native:")
    assert "BOOTLOADER Build" in board.text.split("SYS_OTA_DB_ENTRY_SUCCESS")[1]  # the C code at the reset
    assert "APP: version 2" in board.text  # it programmed the v2 the service downloaded
    assert done.machine.when_power_returns().running == 2  # and a power-up on it runs v2 again
    assert done.machine.replay_token() != steps_mod.encode_run(steps_mod.Run("harmony-3.9.1", 8192, steps))


def test_a_search_runs_on_a_native_bootloader(example_bootloader: str, capsys: pytest.CaptureFixture[str]) -> None:
    search = find_hazards(budget=3, seed_value=2, steps=4, bootloader=example_bootloader)
    assert search.examples >= 3
    assert main(["fuzz", "--budget", "2", "--steps", "3", "--bootloader", example_bootloader]) == 0
    assert capsys.readouterr().out.strip()


def test_a_bad_bootloader_is_refused_before_the_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CallerError, match="unknown bootloader"):
        find_hazards(budget=1, bootloader="bogus")
    assert main(["fuzz", "--bootloader", f"native:{tmp_path}"]) == 2
    assert "otaloop fuzz: error:" in capsys.readouterr().err
    token = steps_mod.encode_run(steps_mod.Run("harmony-3.9.1", 8192, [[("setup", {"config": "auto"})]]))
    assert main(["fuzz", "--replay", token, "--bootloader", "model"]) == 2


def _examples_drawn(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    drawn: list[str] = []
    teardown = BoardStateMachine.teardown

    def record(machine: BoardStateMachine) -> None:
        drawn.append(repr([[(a.name, a.args) for a in s.actions] for s in machine.steps]))
        teardown(machine)

    monkeypatch.setattr(BoardStateMachine, "teardown", record)
    find_hazards(budget=25, seed_value=3, steps=6)
    monkeypatch.setattr(BoardStateMachine, "teardown", teardown)
    return drawn


def test_a_seeded_search_does_not_depend_on_the_modules_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Hypothesis draws constants found in loaded local modules; a new module full of them changes nothing.
    before = _examples_drawn(monkeypatch)
    (tmp_path / "user_constants_module.py").write_text(
        "".join(f"C{i} = {n}\n" for i, n in enumerate((11, 23, 47, 95, 191, 240, 248, 255, 313, 349)))
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("user_constants_module")
    assert _examples_drawn(monkeypatch) == before


def test_every_action_is_documented_where_users_read_it() -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "fuzzing.md").read_text()
    listed = re.search(r"Every rule acts through the machine's \*actions\* \(([^)]*)\)", page)
    assert listed is not None
    assert set(re.findall(r"`(\w+)`", listed.group(1))) == ACTIONS
    for name in ACTIONS:
        action = getattr(BoardStateMachine, name)
        doc = inspect.getdoc(action) or ""
        takes = [p for p in inspect.signature(action).parameters if p != "self"]
        assert doc and ("Args:" in doc) == bool(takes), name
        assert all(f"{p}:" in doc for p in takes), name
