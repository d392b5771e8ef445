"""The start of a session on a real board: ``--otaloop-start factory|keep`` (pytest) and ``otaloop run --start``,
and the setup checks that answer in seconds when the rig is not what the options declare. The board is an
``otaloop board`` process on a pty, flashed with the ``auto`` factory app, brought to v2 by a real update before
the session, as an earlier run on the bench may leave it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.board_link.console import Console
from harness.board_link.driver import BoardDriver
from harness.board_link.transport import open_port
from harness.image.server import ImageServer
from harness.scenarios.base import CONFIGS, SyntheticImages
from tests import test_pytest_plugin
from tests.test_pytest_plugin import ROOT, RealBoard, _run

#: An ``otaloop board`` process on a pty with its images (the fixture of the plugin's tests).
real_board = test_pytest_plugin.real_board

#: A user's test that expects what every test may expect: the factory app, and nothing recorded.
FACTORY_TEST = """
def test_starts_on_the_factory_app(ota_board):
    assert ota_board.status().version == 1
    assert ota_board.image_db() is None


def test_second(ota_board):
    assert ota_board.status().version == 1
"""


def _bring_to_v2(board: RealBoard) -> None:
    """Serve v2 where the board's SYS_OTA_URL points and let its periodic check install it."""
    host, port = board.http.split(":")
    server = ImageServer(host, int(port)).start()
    console = Console(open_port(board.tty))
    try:
        url, digest = server.put_image("auto_v2.bin", (board.images / "auto_v2.bin").read_bytes())
        server.put_manifest(2, url, digest)
        driver = BoardDriver(console)
        driver.events_until({"SYS_OTA_DB_ENTRY_SUCCESS"}, 60)
        assert driver.wait_boot(30, app_timeout=30).app_version == 2
    finally:
        console.close()
        console.port.close()  # type: ignore[attr-defined]  # pyserial's port
        server.stop()


def _args(board: RealBoard, *more: str) -> list[str]:
    return [f"--otaloop-port={board.tty}", "--otaloop-http", board.http, f"--otaloop-images={board.images}", *more]


def test_factory_start_brings_a_board_left_on_v2_back(pytester: pytest.Pytester, real_board: RealBoard) -> None:
    _bring_to_v2(real_board)
    pytester.makepyfile(test_user=FACTORY_TEST)
    result = _run(pytester, *_args(real_board))
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "otaloop: real board(s) at *; session start: version, OTA options and images checked, board brought to "
            "its factory app v1 before the first test",
            "otaloop: session start: factory: the board ran v2 with 1 image database row(s); factory reset, now v1 (*",
        ]
    )


def test_keep_leaves_it_and_the_first_test_says_which_version(pytester: pytest.Pytester, real_board: RealBoard) -> None:
    _bring_to_v2(real_board)
    pytester.makepyfile(test_user=FACTORY_TEST)
    pytester.makeini("[pytest]\notaloop_start = keep\n")  # the ini key, as a bench's pytest.ini would set it
    result = _run(pytester, *_args(real_board))
    result.assert_outcomes(failed=1, passed=1)  # the second test gets the board back at its factory app
    result.stdout.fnmatch_lines(
        [
            "otaloop: --otaloop-start keep left the board as it was: it runs v2, the tests expect its factory app v1 "
            "(--otaloop-start factory brings it back)",
            "otaloop: session start: keep: the board runs v2 with 1 image database row(s); left as it is",
        ]
    )


@pytest.mark.parametrize(
    ("more", "seen"),
    [
        (
            ["--otaloop-factory-config", "manual"],
            "declared factory config manual (periodic check 0, auto reset 1), seen periodic check 1, auto reset 1 "
            "(as factory config auto or notify is)",
        ),
        (
            ["--otaloop-manifest-path", "/fw/ota.json"],
            "declared manifest URL http://127.0.0.1:*/fw/ota.json, seen SYS_OTA_URL http://127.0.0.1:*/ota.json",
        ),
    ],
    ids=["factory-config", "manifest-path"],
)
def test_a_rig_not_set_up_as_declared_stops_the_run_with_one_line(
    pytester: pytest.Pytester, real_board: RealBoard, more: list[str], seen: str
) -> None:
    if "manual" in more:
        for version in (1, 2):  # images of the declared configuration exist: the board is what differs
            (real_board.images / f"manual_v{version}.bin").write_bytes((real_board.images / "auto_v1.bin").read_bytes())
    pytester.makepyfile(test_user=FACTORY_TEST)
    result = _run(pytester, *_args(real_board, *more))
    result.assert_outcomes(errors=1)  # the second test is not run
    line = f"otaloop: the board at {real_board.tty} is not set up as declared: {seen}"
    result.stdout.fnmatch_lines([line, f"!* Interrupted: {line} !*"])  # the error, then why the run stopped
    assert "Traceback" not in result.stdout.str()


def test_images_for_another_server_are_refused_before_the_board_is_asked(
    pytester: pytest.Pytester, real_board: RealBoard
) -> None:
    host, _ = real_board.http.split(":")
    with socket.socket() as probe:  # a free port, not the board's own plus one (another test may hold that)
        probe.bind((host, 0))
        other = f"{host}:{probe.getsockname()[1]}"
    pytester.makepyfile(test_user=FACTORY_TEST)
    result = _run(
        pytester,
        f"--otaloop-port={real_board.tty}",
        "--otaloop-http",
        other,
        f"--otaloop-images={real_board.images}",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"!* Interrupted: otaloop: * declared manifest URL http://{other}/ota.json, seen http://{real_board.http}"
            "/ota.json in auto_v1.bin !*"
        ]
    )


def test_otaloop_run_starts_from_the_factory_app_or_keeps_the_board(real_board: RealBoard) -> None:
    _bring_to_v2(real_board)
    command = [sys.executable, "-m", "harness.cli", "run", "--port", real_board.tty, "--http", real_board.http]
    command += ["--images", str(real_board.images), "--only", "c_update"]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    kept = subprocess.run([*command, "--start", "keep"], capture_output=True, text=True, env=env, timeout=300)
    lines = kept.stdout.splitlines()
    assert lines[1] == "Session start: keep: the board runs v2 with 1 image database row(s); left as it is", lines
    assert kept.returncode == 1
    assert (
        "c_update: BoardError: --start keep left the board as it was: it runs v2, the tests expect its factory app v1"
        in kept.stdout
    )
    factory = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    lines = factory.stdout.splitlines()
    # c_update failed above before it ran, so the board is still on v2; the default start brings it back.
    assert lines[1].startswith(
        "Session start: factory: the board ran v2 with 1 image database row(s); factory reset, now v1"
    ), lines
    assert factory.returncode == 0, factory.stdout


def test_a_workers_session_start_reaches_the_controllers_summary(
    pytester: pytest.Pytester, real_board: RealBoard
) -> None:
    _bring_to_v2(real_board)
    pytester.makepyfile(test_user=FACTORY_TEST)
    result = _run(pytester, *_args(real_board), "-n", "1")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "otaloop: session start (gw0) factory: the board ran v2 with 1 image database row(s); factory reset, "
            "now v1 (*"
        ]
    )


def test_a_board_that_does_not_answer_is_switched_on_by_the_session_start(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    # A board behind a power switch, left off by the last session: its console is there, nothing answers.
    port = test_pytest_plugin._free_port()
    images = tmp_path / "images"
    images.mkdir()
    synthetic = SyntheticImages(f"http://127.0.0.1:{port}/ota.json", default_size=64 * 1024)
    (images / "manual_v1.bin").write_bytes(synthetic.app(CONFIGS["manual"], 1))
    control = tmp_path / "board.ctl"
    board = subprocess.Popen(
        [
            *test_pytest_plugin.CLI,
            "board",
            "--factory",
            str(images / "manual_v1.bin"),
            "--state",
            str(tmp_path / "s"),
            "--control",
            str(control),
            "--off",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert board.stdout is not None
        tty = board.stdout.readline().split(" ", 1)[1].strip()
        power = f"{sys.executable} -m harness.cli power {{}} --control {control}"
        pytester.makepyfile(test_user=FACTORY_TEST)
        result = _run(
            pytester,
            f"--otaloop-port={tty}",
            "--otaloop-http",
            f"127.0.0.1:{port}",
            f"--otaloop-images={images}",
            "--otaloop-factory-config",
            "manual",
            f"--otaloop-power-on={power.format('on')}",
            f"--otaloop-power-off={power.format('off')}",
        )
    finally:
        board.terminate()
        board.communicate(timeout=20)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "otaloop: session start: factory: it did not answer, so it was power-cycled; the board runs its factory "
            "app v1 already (*"
        ]
    )
