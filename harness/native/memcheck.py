"""``--sanitize memcheck``: a native bootloader's helper run under valgrind's memcheck, its reports as findings.

AddressSanitizer finds bad addresses; a read of bytes nobody wrote (a stack variable never set, a ``malloc``
block never filled) needs a tool that tracks which bytes are defined. This module holds what running under
memcheck takes, for :mod:`harness.native.bootloader_program` to use:

* :func:`command` is the valgrind command line the fork server is started with: memcheck with
  ``--track-origins=yes`` (the report says where the undefined value came from), the first error ends the
  process with :data:`~harness.native.sanitizers.EXIT_CODE`, one log file per process
  (``CACHE/memcheck/<pid>.log``: every boot is a forked child, and valgrind follows a fork on its own),
  full source paths, otaloop's suppressions and the user's own (:func:`install_user_suppressions`, from
  ``otaloop native build --suppressions FILE``: a known finding set aside so the next one shows);
* :func:`write_suppressions` writes those suppressions into the build folder: the runner's cycle search
  hashes the program's RAM, heap blocks included, a static glibc's start-up reads its own early
  allocations, and its allocator (an application's heap) reads words of the blocks it hands out and
  takes back, which a Harmony application's ``OSAL_Malloc`` marks undefined: none of it the user's code;
* :func:`take_log` reads (and removes) the log of one boot's child; :func:`parse_log` turns it into the
  :class:`~harness.native.sanitizers.MemoryErrorReport` an AddressSanitizer report becomes, so a finding
  is the same :class:`~harness.native.sanitizers.NativeMemoryError`, the same stuck reason on fuzz boards.

A memcheck build is linked statically (:func:`harness.native.sanitizers.link_flags`): valgrind needs the
symbols of the dynamic loader, and Debian's 32-bit ``libc6-i386`` ships it stripped with no debug package
to restore them. The heap shim marks each new block undefined (``OTALOOP_MEMCHECK`` in ``otaloop_heap.c``).

It does not build anything, and starts no process itself but valgrind's check of a user's suppression file.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from bootloader_model.errors import CallerError
from harness.native import sanitizers

#: The folder of a build where the logs go, one per process.
LOG_DIR = "memcheck"
#: The suppressions file otaloop writes into a memcheck build's folder.
SUPPRESSIONS_FILE = "otaloop.supp"
#: The folder of a build that holds copies of the user's own suppression files (``--suppressions``).
USER_SUPPRESSIONS_DIR = "suppressions"
#: How much longer a main-loop pass may take under memcheck than natively (its CPU-time watchdog).
SLOWDOWN = 60

# Each entry names frames of otaloop's own code or of the C library's start-up, never the user's files.
_SUPPRESSIONS = """\
{
   otaloop-cycle-search-hashes-ram-with-undefined-heap-bytes-cond
   Memcheck:Cond
   ...
   fun:after_pass
}
{
   otaloop-cycle-search-hashes-ram-with-undefined-heap-bytes-value4
   Memcheck:Value4
   ...
   fun:after_pass
}
{
   otaloop-cycle-search-hashes-ram-with-undefined-heap-bytes-value8
   Memcheck:Value8
   ...
   fun:after_pass
}
{
   the-jump-into-flash-is-the-runners-end-of-a-boot
   Memcheck:Jump
   obj:/memfd:otaloop-internal*
}
{
   static-glibc-word-at-a-time-strlen-reads-past-the-terminator-cond
   Memcheck:Cond
   fun:*strlen*
}
{
   static-glibc-word-at-a-time-strlen-reads-past-the-terminator-value4
   Memcheck:Value4
   fun:*strlen*
}
{
   static-glibc-word-at-a-time-strnlen-reads-past-the-terminator-cond
   Memcheck:Cond
   fun:*strnlen*
}
{
   static-glibc-word-at-a-time-strnlen-reads-past-the-terminator-value4
   Memcheck:Value4
   fun:*strnlen*
}
{
   static-glibc-word-at-a-time-strchr-reads-past-the-terminator-cond
   Memcheck:Cond
   fun:*strchr*
}
{
   static-glibc-word-at-a-time-strchr-reads-past-the-terminator-value4
   Memcheck:Value4
   fun:*strchr*
}
{
   static-glibc-word-at-a-time-strrchr-reads-past-the-terminator-cond
   Memcheck:Cond
   fun:*strrchr*
}
{
   static-glibc-word-at-a-time-strrchr-reads-past-the-terminator-value4
   Memcheck:Value4
   fun:*strrchr*
}
{
   static-glibc-word-at-a-time-rawmemchr-reads-past-the-terminator-cond
   Memcheck:Cond
   fun:*rawmemchr*
}
{
   static-glibc-word-at-a-time-rawmemchr-reads-past-the-terminator-value4
   Memcheck:Value4
   fun:*rawmemchr*
}
{
   static-glibc-word-at-a-time-memchr-reads-past-the-terminator-cond
   Memcheck:Cond
   fun:*memchr*
}
{
   static-glibc-word-at-a-time-memchr-reads-past-the-terminator-value4
   Memcheck:Value4
   fun:*memchr*
}
{
   static-glibc-word-at-a-time-strcmp-reads-past-the-terminator-cond
   Memcheck:Cond
   fun:*strcmp*
}
{
   static-glibc-word-at-a-time-strcmp-reads-past-the-terminator-value4
   Memcheck:Value4
   fun:*strcmp*
}
{
   static-glibc-word-at-a-time-strncmp-reads-past-the-terminator-cond
   Memcheck:Cond
   fun:*strncmp*
}
{
   static-glibc-word-at-a-time-strncmp-reads-past-the-terminator-value4
   Memcheck:Value4
   fun:*strncmp*
}
{
   static-glibc-word-at-a-time-strcasecmp-reads-past-the-terminator-cond
   Memcheck:Cond
   fun:*strcasecmp*
}
{
   static-glibc-word-at-a-time-strcasecmp-reads-past-the-terminator-value4
   Memcheck:Value4
   fun:*strcasecmp*
}
{
   static-glibc-word-at-a-time-stpcpy-reads-past-the-terminator-cond
   Memcheck:Cond
   fun:*stpcpy*
}
{
   static-glibc-word-at-a-time-stpcpy-reads-past-the-terminator-value4
   Memcheck:Value4
   fun:*stpcpy*
}
{
   static-glibc-word-at-a-time-strcpy-reads-past-the-terminator-cond
   Memcheck:Cond
   fun:*strcpy*
}
{
   static-glibc-word-at-a-time-strcpy-reads-past-the-terminator-value4
   Memcheck:Value4
   fun:*strcpy*
}
{
   static-glibc-tls-setup
   Memcheck:Param
   set_robust_list(head)
   ...
   fun:__libc_setup_tls
}
{
   static-glibc-start-up-cond
   Memcheck:Cond
   ...
   fun:__libc_init_first
}
{
   static-glibc-start-up-value4
   Memcheck:Value4
   ...
   fun:__libc_init_first
}
"""
#: A static glibc's allocator (an application's heap) reads words of the blocks it hands out and takes
#: back, which OSAL_Malloc marks undefined: a decision there is the allocator's, not the user's code.
_ALLOCATOR = ("_int_free", "free", "_int_malloc", "malloc", "_int_realloc", "realloc")
_SUPPRESSIONS += "".join(
    f"{{\n   static-glibc-allocator-reads-its-own-block-words-{name.strip('_').replace('_', '-')}-{kind.lower()}\n"
    f"   Memcheck:{kind}\n   fun:{name}\n}}\n"
    for name in _ALLOCATOR
    for kind in ("Cond", "Value4")
)


def require_valgrind() -> str:
    """The path of ``valgrind``.

    Raises:
        CallerError: valgrind is not installed.
    """
    found = shutil.which("valgrind")
    if found is None:
        raise CallerError(
            "a --sanitize memcheck build runs under valgrind, which is not installed (apt-get install valgrind)"
        )
    return found


def write_suppressions(build_dir: Path) -> Path:
    """Write otaloop's suppressions into ``build_dir`` (each launch: they follow this version of otaloop)."""
    path = build_dir / SUPPRESSIONS_FILE
    if not path.is_file() or path.read_text() != _SUPPRESSIONS:
        path.write_text(_SUPPRESSIONS)
    return path


def check_user_suppressions(files: Sequence[Path]) -> None:
    """Check the user's suppression files before a build: each must be readable text valgrind accepts.

    Raises:
        CallerError: a file that cannot be read, or that valgrind rejects (its message says where).
    """
    if not files:
        return
    valgrind = require_valgrind()
    for source in files:
        try:
            Path(source).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CallerError(f"--suppressions {source}: cannot read it ({exc})") from None
        checked = subprocess.run(
            [valgrind, "--tool=memcheck", f"--suppressions={source}", "-q", "true"],
            capture_output=True,
            text=True,
            check=False,
        )
        if checked.returncode != 0:
            said = " ".join(line.strip() for line in (checked.stderr or checked.stdout).splitlines() if line.strip())
            raise CallerError(f"--suppressions {source}: valgrind rejects it: {said[:300]}")


def install_user_suppressions(build_dir: Path, files: Sequence[Path]) -> list[Path]:
    """Copy the user's suppression files (:func:`check_user_suppressions` first) into ``build_dir``,
    replacing any a previous build left; every later run of the build uses them."""
    folder = build_dir / USER_SUPPRESSIONS_DIR
    shutil.rmtree(folder, ignore_errors=True)
    installed = []
    for n, source in enumerate(files, 1):
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{n:02d}-{Path(source).name}"
        shutil.copyfile(source, target)
        installed.append(target)
    return installed


def user_suppressions(build_dir: Path) -> list[Path]:
    """The user's suppression files a build holds (``--suppressions``), in the order given."""
    folder = build_dir / USER_SUPPRESSIONS_DIR
    return sorted(folder.glob("*")) if folder.is_dir() else []


def command(build_dir: Path) -> list[str]:
    """The valgrind command line a memcheck build's fork server is started with (the helper's own follow).

    Raises:
        CallerError: valgrind is not installed.
    """
    valgrind = require_valgrind()
    logs = build_dir / LOG_DIR
    logs.mkdir(exist_ok=True)
    return [
        valgrind,
        "--tool=memcheck",
        "--track-origins=yes",
        "--expensive-definedness-checks=yes",
        "--exit-on-first-error=yes",
        f"--error-exitcode={sanitizers.EXIT_CODE}",
        f"--log-file={logs}/%p.log",
        f"--suppressions={write_suppressions(build_dir)}",
        *(f"--suppressions={f}" for f in user_suppressions(build_dir)),
        "--fullpath-after=",
        "--leak-check=no",
        "--num-callers=24",
        "-q",
    ]


def take_log(build_dir: Path, pid: int) -> str:
    """The memcheck log of process ``pid`` ("" when it wrote none), removed once read."""
    path = build_dir / LOG_DIR / f"{pid}.log"
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        return ""
    with contextlib.suppress(OSError):
        path.unlink()
    return text


_PREFIX = re.compile(r"^==\d+== ?", re.M)
_KIND = re.compile(
    r"^(Conditional jump or move depends on uninitialised value\(s\)|Use of uninitialised value of size \d+"
    r"|Syscall param .* uninitialised byte\(s\)|Invalid (?:read|write|free).*|Jump to the invalid address.*"
    r"|Source and destination overlap.*|Mismatched free.*|Argument .* of function .* has a fishy.*)$",
    re.M,
)
_FRAME = re.compile(r"^\s+(?:at|by) 0x[0-9A-Fa-f]+: (.+?) \((?:in )?([^()]*?)(?::(\d+))?\)$")
_ORIGIN = re.compile(r"^\s*(Uninitialised value was created by .*|Address 0x[0-9a-f]+ is .*)$")


def parse_log(text: str, own_roots: Sequence[Path] = ()) -> sanitizers.MemoryErrorReport | None:
    """The first memcheck error in a log, as a sanitizer report; None when the log holds none.

    Args:
        text: the log valgrind wrote for one process.
        own_roots: folders of the user's sources; frames in files under them are the user's own.

    Returns:
        The report: the kind (valgrind's first line), where the undefined value came from as its access
        (``created by a stack allocation at f_mkfs ff.c:5890``), and the stack as ``function file:line``.
    """
    body = _PREFIX.sub("", text)
    kind = _KIND.search(body)
    if kind is None:
        return None
    roots = [str(r.resolve()) for r in own_roots]
    frames: list[sanitizers.Frame] = []
    origin = ""
    lines = body[kind.end() :].lstrip("\n").splitlines()
    i = 0
    while i < len(lines) and (frame := _frame(lines[i], roots)) is not None:
        frames.append(frame)
        i += 1
    origins: list[str] = []
    for j in range(i, len(lines)):
        line = lines[j]
        if not line.strip() and origins:
            break
        o = _ORIGIN.match(line)
        if o is None:
            continue
        # where it came from: the user's own frame below otaloop's heap shims, else the first one
        below = []
        for rest in lines[j + 1 :]:
            if (frame := _frame(rest, roots)) is None:
                break
            below.append(frame)
        where = next((f for f in below if f.own), below[0] if below else None)
        found = o[1].replace("Uninitialised value was ", "").replace("a client request", "a heap allocation")
        origins.append(found + (f" at {where.function} {where.where()}" if where is not None else ""))
    # an undefined value's creation says more than the address it was read at
    origin = next((o for o in origins if o.startswith("created")), origins[0] if origins else "")
    return sanitizers.MemoryErrorReport("Memcheck", kind[1], origin, tuple(frames), text)


def _frame(line: str, roots: Sequence[str]) -> sanitizers.Frame | None:
    m = _FRAME.match(line)
    if m is None:
        return None
    function, file, number = m[1], m[2], int(m[3]) if m[3] else 0
    if not number:  # "(in /path/to/module)": no line information
        file = ""
    own = bool(file) and any(sanitizers.is_under(file, r) for r in roots)
    return sanitizers.Frame(function, file, number, own)
