"""Output files appear whole or not at all, unusable targets are refused up front, JSON is read back with bounds."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bootloader_model.errors import CallerError
from harness.output_files import atomic_file, check_output, read_json, write_atomic


def test_a_write_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    write_atomic(target, "first\n")
    write_atomic(target, b"second\n")
    assert target.read_bytes() == b"second\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]  # no temporary file left behind


def test_a_write_that_fails_half_way_leaves_the_earlier_file(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text('{"earlier": true}\n')
    with pytest.raises(ZeroDivisionError), atomic_file(target) as fh:
        fh.write(b'{"later": ' + b"1" * 100_000)
        raise ZeroDivisionError  # the drawing or the dump failed after half the bytes
    assert target.read_text() == '{"earlier": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


_KILLED_WRITER = """
import sys
from harness.output_files import atomic_file
with atomic_file(sys.argv[1]) as fh:
    for _ in range(64):
        fh.write(b"x" * (1 << 20))
    print("written", flush=True)
    sys.stdin.read()  # held here, half way, until killed
"""


def test_a_writer_killed_mid_write_leaves_the_earlier_file(tmp_path: Path) -> None:
    target = tmp_path / "sweep.json"
    target.write_text('{"earlier": true}\n')
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "written\n"  # 64 MiB are in the temporary file
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert target.read_text() == '{"earlier": true}\n'


def test_a_new_file_gets_the_usual_permissions_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    mask = os.umask(0o027)
    try:
        write_atomic(tmp_path / "new.json", "{}")
    finally:
        os.umask(mask)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o640
    old = tmp_path / "old.json"
    old.write_text("{}")
    old.chmod(0o604)
    write_atomic(old, "[]")
    assert old.stat().st_mode & 0o777 == 0o604


def test_a_symbolic_link_is_written_through(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_text("old")
    (tmp_path / "link.json").symlink_to("real.json")
    write_atomic(tmp_path / "link.json", "new")
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "real.json").read_text() == "new"


@pytest.mark.parametrize(
    ("name", "needle"),
    [(".", "it is a directory"), ("no/such/x.json", "no such directory"), ("/dev/null", "not a regular file")],
)
def test_unusable_targets_are_refused_naming_the_path_given(tmp_path: Path, name: str, needle: str) -> None:
    path = name if name.startswith("/") else str(tmp_path / name)
    with pytest.raises(CallerError, match=needle) as caught:
        check_output(path, "--json")
    assert f"--json {path}" in str(caught.value)
    with pytest.raises(CallerError, match=needle):
        write_atomic(path, "{}")
    assert Path("/dev/null").is_char_device()  # never replaced by a regular file


# ------------------------------------------------------------------------------------------ reading
@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d: Path("/dev/zero"), "not a regular file"),
        (lambda d: (os.mkfifo(d / "pipe"), d / "pipe")[1], "not a regular file"),  # no writer: would block
        (lambda d: d, "not a regular file"),
        (lambda d: d / "absent.json", "cannot read"),
        (lambda d: _file(d, b"[" * 200_000 + b"]" * 200_000), "nested too deeply"),
        (lambda d: _file(d, b'{"a": NaN}'), "NaN"),
        (lambda d: _file(d, b"\xff\xfe{}"), "not UTF-8"),
        (lambda d: _file(d, b""), "not JSON"),
        (lambda d: _file(d, b"[1, 2"), "not JSON"),
        (lambda d: _file(d, b" " * 2000 + b"{}"), "more than the 1,000 bytes"),
    ],
)
def test_reading_json_is_bounded(tmp_path: Path, make: object, needle: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(CallerError, match=needle):
        read_json(path, "a result", limit=1000 if needle.startswith("more") else 10_000_000)


def _file(folder: Path, data: bytes) -> Path:
    path = folder / "in.json"
    path.write_bytes(data)
    return path


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_read_as_json_give_a_value_or_a_caller_error(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    path = _file(tmp_path_factory.mktemp("bytes"), raw)
    with contextlib.suppress(CallerError):  # a value or a CallerError; anything else fails the test
        read_json(path, "a result")
