"""Every ``otaloop`` command whose stdout pipe is closed by its reader (``otaloop ... | head``) ends quietly
with status 141, as a Unix tool ended by SIGPIPE does: no ``error: Broken pipe``, no traceback, no
``Exception ignored`` from the interpreter's last flush."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import EXIT_BROKEN_PIPE

CLI = [sys.executable, "-m", "harness.cli"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _into_a_closed_pipe(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with stdout a pipe whose read end is closed before it starts: its first write fails."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(argv, stdout=write, stderr=subprocess.PIPE, text=True, env=env, timeout=60)
    finally:
        os.close(write)


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize(
    "args",
    [["image", "--synthetic", "-o", "{tmp}/app.bin"], ["run", "--list"], ["sweep", "update", "--help"]],
    ids=["image", "run-list", "help"],
)
def test_a_closed_stdout_pipe_ends_the_command_quietly(tmp_path: Path, args: list[str], unbuffered: bool) -> None:
    # Unbuffered (PYTHONUNBUFFERED=1, common in CI), the command's own print fails; buffered, the last flush.
    env = {**ENV, "PYTHONUNBUFFERED": "1"} if unbuffered else {k: v for k, v in ENV.items() if k != "PYTHONUNBUFFERED"}
    done = _into_a_closed_pipe([*CLI, *(a.format(tmp=tmp_path) for a in args)], env)
    assert done.stderr == ""
    # argparse itself ignores a failed write of its help, so unbuffered --help ends with 0.
    assert done.returncode == (0 if unbuffered and "--help" in args else EXIT_BROKEN_PIPE)


def test_an_output_file_that_is_a_pipe_is_refused_not_ended_quietly(tmp_path: Path) -> None:
    """-o names a file written whole or not at all; a pipe (-o /dev/stdout) is refused with the reason."""
    done = _into_a_closed_pipe([*CLI, "image", "--synthetic", "-o", "/dev/stdout"], ENV)
    assert done.returncode == 2
    assert (
        done.stderr
        == "otaloop image: error: cannot write /dev/stdout: not a regular file (a device, a pipe ...); name a file\n"
    )
