"""SWITCH1 as a board input: the virtual board's button in-process (press, release, a click that lets go on
board time, state kept across a power cut), through a served board's control socket with `otaloop switch`,
the ``ota_switch`` plugin fixture, and the command backend a real rig uses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bootloader_model.board.virtual_board import VirtualBoard
from bootloader_model.errors import CallerError
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from harness.board_link.switch import CommandSwitch
from harness.served_board.power_channel import ChannelSwitch, send_command

CLI = [sys.executable, "-m", "harness.cli"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def test_press_release_and_click_on_board_time() -> None:
    board = VirtualBoard()
    assert board.switch_pressed is False
    board.press_switch()
    assert board.switch_pressed is True
    board.run_for(5.0)
    assert board.switch_pressed is True  # held until released
    board.release_switch()
    assert board.switch_pressed is False
    board.click_switch(0.25)
    assert board.switch_pressed is True
    board.run_for(0.2)
    assert board.switch_pressed is True
    board.run_for(0.1)
    assert board.switch_pressed is False
    kinds = [(e.kind, e.detail) for e in board.history if e.kind == "switch"]
    assert kinds == [("switch", "press"), ("switch", "release"), ("switch", "press"), ("switch", "release")]


def test_a_press_cancels_a_pending_click_release_and_survives_power() -> None:
    board = VirtualBoard()
    board.click_switch(0.1)
    board.press_switch()  # a second press holds it: the click's release must not let go
    board.power_on()  # no application: silent, but time passes
    board.power_off()
    board.run_for(1.0)
    assert board.switch_pressed is True


@pytest.mark.parametrize("hold", [0, -1, float("nan"), "1"])
def test_click_refuses_a_bad_hold_time(hold: object) -> None:
    with pytest.raises(CallerError, match="hold_s"):
        VirtualBoard().click_switch(hold)  # type: ignore[arg-type]


def test_otaloop_switch_through_a_served_boards_control_socket(tmp_path: Path) -> None:
    ctl = tmp_path / "b.ctl"
    factory = tmp_path / "app_v1.bin"
    factory.write_bytes(build_app(AppDescriptor(version=1, manifest_url="http://127.0.0.1:9/ota.json"), 40_000))
    argv = [
        *CLI,
        "board",
        "--state",
        str(tmp_path / "state"),
        "--control",
        str(ctl),
        "--off",
        "--factory",
        str(factory),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("console: ")
        assert proc.stdout.readline().strip() == f"control: {ctl}"

        def switch(*words: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*CLI, "switch", *words, "--control", str(ctl)], capture_output=True, text=True, env=ENV, timeout=60
            )

        assert switch("status").stdout.strip() == "released"
        assert switch("press").stdout.strip() == "pressed"
        assert ChannelSwitch(ctl).status() == "pressed"
        assert switch("release").stdout.strip() == "released"
        done = switch("click", "--hold", "0")
        assert done.returncode == 2 and "otaloop switch: error: --hold" in done.stderr
        assert switch("click", "--hold", "600").stdout.strip() == "pressed"  # lets go 600 board seconds later
        ChannelSwitch(ctl).release()
        assert ChannelSwitch(ctl).status() == "released"
        with pytest.raises(CallerError, match="switch takes one of"):
            send_command(ctl, ["switch", "wiggle"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


def test_command_switch_runs_the_rigs_commands(tmp_path: Path) -> None:
    log = tmp_path / "relay.log"
    press = f"{sys.executable} -c \"open({str(log)!r}, 'a').write('on\\n')\""
    release = f"{sys.executable} -c \"open({str(log)!r}, 'a').write('off\\n')\""
    switch = CommandSwitch(press, release)
    switch.click(0.0)
    switch.press()
    assert log.read_text().split() == ["on", "off", "on"]
    with pytest.raises(CallerError, match="not found"):
        CommandSwitch("no-such-relay-tool on", "no-such-relay-tool off").press()


def test_ota_switch_fixture_presses_the_virtual_boards_button(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_press(ota_bench, ota_switch, virtual_board):
            ota_switch.press()
            assert virtual_board.switch_pressed() is True
            ota_bench.release_switch()
            assert virtual_board.call(lambda b: b.switch_pressed) is False
            ota_bench.click_switch(0.5)
            assert virtual_board.switch_pressed() is True
        """
    )
    result = pytester.runpytest_subprocess("-p", "otaloop", "--otaloop-link", "inproc")
    result.assert_outcomes(passed=1)
