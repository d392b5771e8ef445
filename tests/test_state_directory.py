"""The state directory: one board at a time (a lock naming the holder's PID, never stale after a kill), and
saves that leave the old set of files or the new one whatever moment the saving process dies at."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bootloader_model.board import state_directory
from bootloader_model.board.virtual_board import EXTERNAL_FILE, INTERNAL_FILE, META_FILE, VirtualBoard
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from tests.test_board_cli import CLI, ENV

FILES = (INTERNAL_FILE, EXTERNAL_FILE, META_FILE)


def _app(tmp_path: Path) -> Path:
    app = tmp_path / "app.bin"
    app.write_bytes(build_app(AppDescriptor(version=1, manifest_url="http://127.0.0.1:1/ota.json"), 8192))
    return app


def _start(state: Path, app: Path) -> tuple[subprocess.Popen[str], str]:
    argv = [*CLI, "board", "--state", str(state), "--factory", str(app)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout is not None
    return proc, proc.stdout.readline()


def test_a_second_board_on_the_same_directory_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    app, state = _app(tmp_path), tmp_path / "state"
    first, line = _start(state, app)
    try:
        assert line.startswith("console: "), line
        done = subprocess.run(
            [*CLI, "board", "--state", str(state)], capture_output=True, text=True, env=ENV, timeout=60
        )
        assert done.returncode == 2 and done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("otaloop board: error: "), done.stderr
        assert f"in use by another otaloop board (PID {first.pid})" in lines[0]
        assert first.poll() is None  # the first board was not disturbed
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=20)
    assert first.returncode == 0


def test_a_killed_boards_lock_does_not_block_the_next(tmp_path: Path) -> None:
    app, state = _app(tmp_path), tmp_path / "state"
    first, line = _start(state, app)
    assert line.startswith("console: "), line
    first.kill()
    first.wait(timeout=10)
    # The lock file still names the killed process, but the kernel released its lock.
    assert (state / state_directory.LOCK_FILE).read_text().strip() == str(first.pid)
    second, line = _start(state, app)
    try:
        assert line.startswith("console: "), line + (second.stderr.read() if second.stderr else "")
        assert (state / state_directory.LOCK_FILE).read_text().strip() == str(second.pid)
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=20)
    assert second.returncode == 0


def test_the_lock_in_process(tmp_path: Path) -> None:
    held = state_directory.lock(tmp_path)
    with pytest.raises(state_directory.StateLocked, match=f"PID {os.getpid()}"):
        state_directory.lock(tmp_path)
    held.release()
    state_directory.lock(tmp_path).release()  # free again once released


class Killed(BaseException):
    """The saving process dies here."""


def _sets(tmp_path: Path) -> tuple[VirtualBoard, dict[str, bytes], dict[str, bytes]]:
    board = VirtualBoard()
    board.provision(build_app(AppDescriptor(version=1), 8192))
    old_dir = tmp_path / "old"
    board.save(old_dir)
    old = {n: (old_dir / n).read_bytes() for n in FILES}
    board.provision(build_app(AppDescriptor(version=2), 12288))  # new internal flash
    board.external.data[0:4] = b"new!"  # and new external flash
    new_dir = tmp_path / "new"
    board.save(new_dir)
    new = {n: (new_dir / n).read_bytes() for n in FILES}
    assert old[INTERNAL_FILE] != new[INTERNAL_FILE] and old[EXTERNAL_FILE] != new[EXTERNAL_FILE]
    return board, old, new


def test_a_save_killed_at_any_step_leaves_the_old_set_or_the_new_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    board, old, new = _sets(tmp_path)
    # Every step a save takes on the file system: writing a file, renaming, removing.
    targets: list[tuple[Any, str]] = [(os, "replace"), (os, "rename"), (os, "unlink"), (Path, "unlink")]
    targets += [(Path, "write_bytes"), (Path, "write_text"), (os, "fsync")]
    outcomes = []
    for k in range(1, 60):
        d = tmp_path / f"case{k}"
        d.mkdir()
        for n in FILES:
            (d / n).write_bytes(old[n])
        calls = 0
        with monkeypatch.context() as m:
            for owner, name in targets:
                real: Callable[..., Any] = getattr(owner, name)

                def step(*a: Any, _real: Callable[..., Any] = real, _k: int = k, **kw: Any) -> Any:
                    nonlocal calls
                    calls += 1
                    if calls == _k:
                        raise Killed
                    return _real(*a, **kw)

                m.setattr(owner, name, step)
            try:
                board.save(d)
                finished = True
            except Killed:
                finished = False
        # What any reader sees right after the kill: one whole set.
        fresh = VirtualBoard()
        fresh.load(d)
        seen = {INTERNAL_FILE: bytes(fresh.internal.data), EXTERNAL_FILE: bytes(fresh.external.data)}
        which = "old" if seen == {n: old[n] for n in seen} else "new" if seen == {n: new[n] for n in seen} else "mix"
        assert which != "mix", f"a kill at step {k} left a mix of old and new flash images"
        # And what the next board finds on disk once it has recovered the directory under its lock.
        with state_directory.lock(d):
            state_directory.recover(d)
        on_disk = {n: (d / n).read_bytes() for n in FILES}
        assert on_disk in (old, new), f"step {k}: the files on disk are not one set after recovery"
        assert sorted(p.name for p in d.iterdir()) == sorted([*FILES, state_directory.LOCK_FILE])
        outcomes.append(which)
        if finished:
            assert which == "new"
            break
    assert finished and "old" in outcomes and outcomes[-1] == "new"
