"""A board's state directory: its files saved as one set, read back as one set, and locked to one board.

The directory holds ``internal.bin``, ``external.bin`` and ``board.json``. They change together (a reset
after a download touches both flash arrays), so a save must never leave a mix of an old and a new file.
:func:`save_set` writes every file as ``NAME.new``, then the journal ``save.journal`` naming them (written
to a temporary name and renamed, so it appears whole or not at all), then renames each ``NAME.new`` over
``NAME`` and removes the journal. A process killed at any moment therefore leaves either no journal (the
old set is intact; ``.new`` leftovers are ignored) or a journal (the new set is complete in the ``.new``
files). :func:`read_set` reads the newest complete set without changing anything; :func:`recover` finishes
or discards an interrupted save on disk and may only run under the lock.

:func:`lock` takes an exclusive ``flock`` on ``board.lock`` and writes the holder's PID into it. The
kernel releases the lock when its process ends, however it ends, so a lock left by a killed board never
blocks the next one; a second live board is refused with :class:`StateLocked`, naming the holder's PID.

This module moves files; what the bytes mean is the board's business.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Mapping
from pathlib import Path

from bootloader_model.errors import CallerError

JOURNAL = "save.journal"
LOCK_FILE = "board.lock"
NEW = ".new"

Data = bytes | bytearray | memoryview


class StateLocked(CallerError):
    """Another live process holds the state directory."""


def _write_file(path: Path, data: Data) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _sync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _journal_names(d: Path) -> list[str] | None:
    try:
        text = (d / JOURNAL).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return [name for name in text.splitlines() if name and "/" not in name and name not in (".", "..")]


def save_set(d: str | os.PathLike[str], files: Mapping[str, Data]) -> None:
    """Replace the files named in ``files`` as one set (see the module docstring for the protocol)."""
    directory = Path(d)
    recover(directory)  # finish an interrupted save first: its journal must not be mixed with this one
    for name, data in files.items():
        _write_file(directory / (name + NEW), data)
    tmp = directory / (JOURNAL + ".tmp")
    _write_file(tmp, "".join(name + "\n" for name in files).encode())
    os.replace(tmp, directory / JOURNAL)  # the commit point
    _sync_dir(directory)
    recover(directory)


def recover(d: str | os.PathLike[str]) -> None:
    """Finish an interrupted save (journal present) or discard its partial files (no journal)."""
    directory = Path(d)
    names = _journal_names(directory)
    if names is not None:
        for name in names:
            with contextlib.suppress(FileNotFoundError):  # renamed before the interruption
                os.replace(directory / (name + NEW), directory / name)
        _sync_dir(directory)
        (directory / JOURNAL).unlink(missing_ok=True)
    for leftover in directory.glob("*" + NEW):
        leftover.unlink(missing_ok=True)
    (directory / (JOURNAL + ".tmp")).unlink(missing_ok=True)


def current_path(d: str | os.PathLike[str], name: str) -> Path:
    """Where the newest complete version of ``name`` is: ``NAME.new`` while a committed save is unfinished."""
    directory = Path(d)
    names = _journal_names(directory)
    if names is not None and name in names and (directory / (name + NEW)).is_file():
        return directory / (name + NEW)
    return directory / name


def read_set(d: str | os.PathLike[str], name: str) -> bytes:
    """The newest complete version of ``name``, read without changing the directory."""
    for _ in range(3):  # a saver may rename NAME.new over NAME between the look and the read
        path = current_path(d, name)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            continue
    return (Path(d) / name).read_bytes()


class StateLock:
    """An exclusive hold on a state directory until :meth:`release` (or the process ends)."""

    def __init__(self, directory: Path, fd: int) -> None:
        self.directory = directory
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> StateLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock(d: str | os.PathLike[str]) -> StateLock:
    """Lock the state directory ``d`` for this process, or raise :class:`StateLocked` naming the holder."""
    directory = Path(d)
    path = directory / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise CallerError(f"cannot lock state directory {directory}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        who = f"PID {holder}" if holder.isdigit() else "another process"
        raise StateLocked(
            f"state directory {directory} is in use by another otaloop board ({who}); "
            "stop that board or use another directory"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return StateLock(directory, fd)
