"""The files otaloop writes for a user to keep, whole or not at all, and the JSON it reads back, bounded.

Every result file (sweep ``--json``, plots, the findings pages, images and dumps the CLI writes) goes through
:func:`write_atomic` or :func:`atomic_file`: the bytes go to a temporary file in the target's own folder,
are flushed to the disk (``fsync``), and only then take the target's name (``os.replace``, atomic on one
file system). A writer killed half way, a full disk or an exception while drawing leaves the earlier file
as it was and no half file under the target's name. :func:`check_output` refuses a target that cannot be
written (a directory, a missing folder, a device or pipe) before a long run starts.

:func:`read_json` reads a JSON file back with bounds: a regular file only (never a device such as
``/dev/zero`` or a pipe, which would never end), at most ``limit`` bytes, UTF-8, no NaN or Infinity, and
nesting too deep for the parser as a one-line error. What the JSON must hold is its caller's business.

This module knows nothing about what is in the files.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from bootloader_model.errors import CallerError

#: The largest JSON file :func:`read_json` reads unless told otherwise.
JSON_LIMIT = 256 * 1024 * 1024


def _umask() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # pragma: no cover - no /proc: read it the only other way
    os.umask(mask)  # pragma: no cover
    return mask  # pragma: no cover


def check_output(path: str | os.PathLike[str], option: str = "") -> Path:
    """Refuse, before any work, a target :func:`write_atomic` could not write.

    Args:
        path: the file the user named.
        option: the option it came with (``--json``), for the message.

    Returns:
        The path to write: ``path``, or the file a symbolic link at ``path`` points to.

    Raises:
        CallerError: ``path`` is a directory, a device, a pipe or another non-regular file, or its folder
            does not exist or is not a folder.
    """
    shown = f"{option} {os.fspath(path)}" if option else os.fspath(path)
    target = Path(os.path.realpath(path))
    if str(path).endswith(os.sep) or target.is_dir():
        raise CallerError(f"cannot write {shown}: it is a directory; name a file")
    if (target.exists() or os.path.exists(path)) and not os.path.isfile(path):  # /dev/stdout: a pipe, not a file
        raise CallerError(f"cannot write {shown}: not a regular file (a device, a pipe ...); name a file")
    if not target.parent.is_dir():
        raise CallerError(f"cannot write {shown}: no such directory")
    return target


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], option: str = "") -> Iterator[IO[bytes]]:
    """A binary file to write ``path`` through: it takes the name ``path`` only if the block ends normally.

    Args:
        path: the file to write (see :func:`check_output`).
        option: the option it came with, for messages.

    Returns:
        A context manager yielding the open temporary file.

    Raises:
        CallerError: the target is unusable, or the file could not be written (the message names ``path``).
    """
    target = check_output(path, option)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise CallerError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from None
    try:
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o666 & ~_umask()
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise CallerError(f"cannot write {os.fspath(path)}: {exc.strerror or exc}") from None
        raise
    with contextlib.suppress(OSError):  # the rename itself reaches the disk (not every file system can)
        folder = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def write_atomic(path: str | os.PathLike[str], data: bytes | str, option: str = "") -> None:
    """Write ``data`` (text is written as UTF-8) to ``path``, whole or not at all.

    Args:
        path: the file to write (see :func:`check_output`).
        data: its new contents.
        option: the option ``path`` came with (``--json``), for messages.

    Raises:
        CallerError: the target is unusable or could not be written; the earlier file is then unchanged.
    """
    with atomic_file(path, option) as fh:
        fh.write(data.encode() if isinstance(data, str) else data)


def _no_constant(name: str) -> Any:
    raise CallerError(f"holds {name}, which JSON does not have")


def read_json(path: str | os.PathLike[str], what: str, limit: int = JSON_LIMIT) -> Any:
    """The JSON value in the file ``path``, read with bounds.

    Args:
        path: the file to read.
        what: what the file should be (``an otaloop sweep result``), for messages.
        limit: the largest file read, in bytes.

    Returns:
        The parsed value (its shape is the caller's to check).

    Raises:
        CallerError: the file is missing, unreadable, not a regular file, over ``limit`` bytes, not UTF-8,
            not JSON, holds NaN or Infinity, or is nested too deeply; the message names ``path``.
    """
    shown = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a pipe must not block the open
    except OSError as exc:
        raise CallerError(f"cannot read {shown}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):  # /dev/zero never ends, a pipe may never answer
        os.close(fd)
        raise CallerError(f"{shown}: not a regular file, so not {what}")
    with os.fdopen(fd, "rb") as fh:
        if info.st_size > limit:
            raise CallerError(f"{shown}: {info.st_size:,} bytes, more than the {limit:,} bytes {what} may have")
        try:
            raw = fh.read(limit + 1)
        except OSError as exc:
            raise CallerError(f"cannot read {shown}: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise CallerError(f"{shown}: more than the {limit:,} bytes {what} may have")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise CallerError(f"{shown}: not {what} (JSON nested too deeply)") from None
    except UnicodeDecodeError:
        raise CallerError(f"{shown}: not {what} (not UTF-8 text)") from None
    except CallerError as exc:
        raise CallerError(f"{shown}: not {what} ({exc})") from None
    except json.JSONDecodeError as exc:
        raise CallerError(f"{shown}: not {what} (not JSON: {exc})") from None
