"""Native builds that find memory errors: the sanitizer options of a build, its runtime settings, its reports.

``otaloop native build --sanitize address,undefined`` compiles the user's C code with GCC's
AddressSanitizer and UndefinedBehaviorSanitizer. This module holds what every native build that offers
the option shares (the bootloader build of :mod:`harness.native.build` and any other program built from
the user's tree):

* :func:`parse_sanitize` reads the option's comma list and refuses unknown names;
* :func:`compile_flags` and :func:`link_flags` are the compiler's ``-fsanitize=`` options (with
  ``-fno-omit-frame-pointer`` and ``-g`` so a report names file and line);
* :func:`runtime_env` is the helper process's ``ASAN_OPTIONS``/``UBSAN_OPTIONS``: the first error ends the
  process with :data:`EXIT_CODE` and a symbolised report on its stderr pipe (GCC's runtime symbolises
  with ``llvm-symbolizer`` when it is on ``PATH``, else with its own libbacktrace; frames it leaves as
  ``(module+0xOFFSET)`` are resolved here with ``addr2line``);
* :func:`parse_report` turns that stderr into a :class:`MemoryErrorReport`: the kind, the access, and the
  C stack as ``function file:line``, the user's own frames marked;
* :func:`report_of` is what a helper that ended left: its report, or None (both native programs, the
  bootloader's boots and the application's runs, read their helper's end with it);
* :class:`NativeMemoryError` is the typed error a boot or an application run raises with it (a
  :class:`BoardError`: the code on the board misbehaved); :data:`MEMORY_ERROR_MODES` are the other
  things a program may make of a report instead (the fuzzer's boards record it as a stuck boot or a hung
  application).

On i386 ASan's shadow memory is 0x2000_0000..0x4000_0000 (shadow offset 0x2000_0000, one byte per eight),
so the runner's fixed flash mappings at 0x9000_0000 and 0xB000_0000 are ordinary application memory.
The shim layer is not instrumented (the runner hashes the program's RAM, redzones included); the
firmware's heap poisons its headers and free space itself (``otaloop_heap.c``), so an overflow of a
``malloc`` block or a use after ``free`` is reported as ``use-after-poison``.

It does not compile or run anything itself.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bootloader_model.errors import BoardError, CallerError

#: The sanitizers a build may ask for, with what each finds.
SANITIZERS: dict[str, str] = {
    "address": "out-of-bounds reads and writes of stack, globals and heap; use after free",
    "undefined": "undefined behaviour: signed overflow, bad shifts, misaligned or null pointers, out-of-range enums",
    "memcheck": "reads of uninitialised stack and heap bytes (valgrind's memcheck; every boot runs under valgrind)",
}
#: Sanitizers that are compiler options (``-fsanitize=``); ``memcheck`` is valgrind, a way to run the helper.
COMPILED = ("address", "undefined")
#: How a helper process that found a memory error exits (distinct from the runner's own codes 64..77).
EXIT_CODE = 86
#: The first words of a boot's stuck reason when a sanitizer ended it (the fuzzer names the hazard by them).
STUCK_PREFIX = "memory error"
#: What a native program makes of a sanitizer report: ``raise`` a :class:`NativeMemoryError`, or ``stuck``
#: (a bootloader's boot ends stuck with the report's headline; an application's run ends hung and the
#: program keeps the report for the fuzzer).
MEMORY_ERROR_MODES = ("raise", "stuck")


def memory_error_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MEMORY_ERROR_MODES`.

    Raises:
        CallerError: any other text.
    """
    if mode not in MEMORY_ERROR_MODES:
        raise CallerError(f"memory_errors must be 'raise' or 'stuck', not {mode!r}")
    return mode


def parse_sanitize(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """The sanitizers of a ``--sanitize`` option, in a fixed order.

    Args:
        text: a comma list (``"address,undefined"``), a sequence of names, or None/empty for none.

    Returns:
        The names, each once, in the order of :data:`SANITIZERS`.

    Raises:
        CallerError: a name that is not one of :data:`SANITIZERS`.
    """
    if not text:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    names = {t.strip() for t in items if t.strip()}
    unknown = sorted(names - set(SANITIZERS))
    if unknown:
        raise CallerError(f"unknown sanitizer {', '.join(unknown)}: choose from {', '.join(SANITIZERS)}")
    if {"memcheck", "address"} <= names:
        raise CallerError("memcheck and address do not combine: valgrind cannot run an AddressSanitizer build")
    return tuple(n for n in SANITIZERS if n in names)


def compile_flags(sanitize: Sequence[str]) -> list[str]:
    """Compiler options for the user's sources (none without sanitizers)."""
    compiled = [n for n in sanitize if n in COMPILED]
    flags = ["-fno-omit-frame-pointer", "-g"] if sanitize else []
    if compiled:
        flags = [f"-fsanitize={','.join(compiled)}", *flags, "-fno-sanitize-recover=all"]
    return flags


def shim_defines(sanitize: Sequence[str]) -> list[str]:
    """Macros for otaloop's (uninstrumented) shims: the heap poisons its free space under ASan, and tells
    memcheck that a new block's bytes are undefined (with ``-g``, so memcheck's suppressions match the shims'
    own frames)."""
    if "address" in sanitize:
        return ["-DOTALOOP_ASAN_HEAP=1"]
    return ["-DOTALOOP_MEMCHECK=1", "-g"] if "memcheck" in sanitize else []


def link_flags(sanitize: Sequence[str]) -> list[str]:
    """Linker options: the sanitizer runtimes; a memcheck build is static (valgrind needs the symbols of the
    dynamic loader, which Debian's 32-bit ``libc6-i386`` strips and no package restores)."""
    compiled = [n for n in sanitize if n in COMPILED]
    return ([f"-fsanitize={','.join(compiled)}"] if compiled else []) + (["-static"] if "memcheck" in sanitize else [])


def runtime_env(sanitize: Sequence[str], *, report_segv: bool = False) -> dict[str, str]:
    """Environment of a helper built with ``sanitize``: first error ends it with :data:`EXIT_CODE`, report on stderr.

    The bootloader runner's SIGSEGV handler stays in charge (the jump into flash is a fault on the host);
    ``report_segv`` lets AddressSanitizer report a segmentation fault with its stack instead (the
    application helper, which has no handler of its own: a wild pointer is a finding there). Leaks are
    not checked (a run ends with ``_exit``), and the report goes to the stderr pipe the host reads.
    """
    if not [n for n in sanitize if n in COMPILED]:
        return {}
    common = f"halt_on_error=1:abort_on_error=0:exitcode={EXIT_CODE}:log_path=stderr:symbolize=1:print_summary=1"
    symbolizer = shutil.which("llvm-symbolizer")
    if symbolizer:
        common += f":external_symbolizer_path={symbolizer}"
    env = {"UBSAN_OPTIONS": f"{common}:print_stacktrace=1:report_error_type=1"}
    if "address" in sanitize:
        env["ASAN_OPTIONS"] = (
            f"{common}:detect_leaks=0:handle_segv={int(report_segv)}:handle_sigbus={int(report_segv)}"
            ":allow_user_segv_handler=1:print_legend=0:detect_stack_use_after_return=0"
        )
    return env


@dataclass(frozen=True)
class Frame:
    """One line of a sanitizer's stack: the function and where it is."""

    function: str
    file: str
    line: int
    own: bool  # in the user's tree (or otaloop's example), not a runtime or libc frame

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file else "?"


@dataclass(frozen=True)
class MemoryErrorReport:
    """A sanitizer report of one boot."""

    tool: str  # "AddressSanitizer" or "UndefinedBehaviorSanitizer"
    kind: str  # "stack-buffer-overflow", "runtime error: left shift of ...", ...
    access: str  # "WRITE of size 5", or "" when the tool does not say
    frames: tuple[Frame, ...]
    text: str = field(repr=False)

    @property
    def own_frames(self) -> tuple[Frame, ...]:
        return tuple(f for f in self.frames if f.own)

    def headline(self) -> str:
        """One line: the tool, the kind and the first frame in the user's code."""
        top = self.own_frames[0] if self.own_frames else (self.frames[0] if self.frames else None)
        where = f" in {top.function} at {top.where()}" if top else ""
        access = f" ({self.access})" if self.access else ""
        return f"{STUCK_PREFIX} found by {self.tool}: {self.kind}{access}{where}"

    def stack(self) -> str:
        """The C stack, the user's frames only when there are any, one ``function file:line`` a line."""
        frames = self.own_frames or self.frames
        return "\n".join(f"  #{i} {f.function} {f.where()}" for i, f in enumerate(frames))


_ASAN = re.compile(r"ERROR: AddressSanitizer: ([\w-]+)")
_UBSAN = re.compile(r"^(\S+?):(\d+):\d+: runtime error: (.*)$", re.M)
_ACCESS = re.compile(r"^(READ|WRITE) of size (\d+)", re.M)
_FRAME = re.compile(r"^\s*#(\d+) 0x[0-9a-f]+ (?:in (\S+) )?(.*)$")
_MODULE = re.compile(r"\(([^()+]+)\+(0x[0-9a-f]+)\)")
_WHERE = re.compile(r"^(\S+?):(\d+)(?::\d+)?$")


def parse_report(stderr: str, own_roots: Sequence[Path] = ()) -> MemoryErrorReport | None:
    """The sanitizer report in a helper's stderr, or None when it holds none.

    Args:
        stderr: everything the helper wrote to its stderr.
        own_roots: folders of the user's sources; frames in files under them are the user's own.

    Returns:
        The report, its first stack only (where the error happened), frames symbolised as far as possible.
    """
    asan = _ASAN.search(stderr)
    ubsan = _UBSAN.search(stderr)
    if asan is None and ubsan is None:
        return None
    if asan is not None and (ubsan is None or asan.start() < ubsan.start()):
        tool, kind, start = "AddressSanitizer", asan[1], asan.end()
        access_match = _ACCESS.search(stderr, start)
        access = f"{access_match[1]} of size {access_match[2]}" if access_match else ""
    else:
        assert ubsan is not None
        tool, kind, start, access = "UndefinedBehaviorSanitizer", f"runtime error: {ubsan[3]}", ubsan.start(), ""
    frames: list[Frame] = []
    roots = [str(r.resolve()) for r in own_roots]
    for line in stderr[start:].splitlines():
        m = _FRAME.match(line)
        if m is None:
            if frames:
                break  # the first stack ended (the next one says where memory was allocated or defined)
            continue
        function, rest = m[2] or "?", m[3].strip()
        file, number = "", 0
        w = _WHERE.match(rest)
        if w is not None:
            file, number = w[1], int(w[2])
        else:
            mod = _MODULE.search(rest)
            if mod is not None:
                function, file, number = _addr2line(mod[1], mod[2], function)
        own = bool(file) and any(_under(file, r) for r in roots)
        frames.append(Frame(function, file, number, own))
    if tool == "UndefinedBehaviorSanitizer" and ubsan is not None and not frames:
        file = ubsan[1]
        frames.append(Frame("?", file, int(ubsan[2]), any(_under(file, r) for r in roots)))
    return MemoryErrorReport(tool, kind, access, tuple(frames), stderr)


def report_of(stderr: str, status: int, source: str) -> MemoryErrorReport | None:
    """What a sanitizer build's helper left when it ended: its report, or None when it ended otherwise.

    Args:
        stderr: everything the helper wrote to its stderr.
        status: its exit status (:data:`EXIT_CODE` when a sanitizer ended it).
        source: the build's source folder (frames under it are the user's own); empty for none.

    Returns:
        The parsed report; a report of kind ``unparsed report`` (the whole stderr as its text) when the
        exit status says a sanitizer ended it but no report parses; None when neither.
    """
    report = parse_report(stderr, [Path(source)] if source else [])
    if report is None and status == EXIT_CODE:
        report = MemoryErrorReport("a sanitizer", "unparsed report", "", (), stderr)
    return report


def is_under(file: str, root: str) -> bool:
    """True when ``file`` (a path a report names) lies in the folder ``root``."""
    return _under(file, root)


def _under(file: str, root: str) -> bool:
    try:
        return Path(file).resolve().is_relative_to(root)
    except (OSError, ValueError):
        return False


def _addr2line(module: str, offset: str, function: str) -> tuple[str, str, int]:
    """(function, file, line) of ``module+offset`` by addr2line; what is known when it cannot say."""
    tool = shutil.which("addr2line")
    if tool is None or not Path(module).is_file():
        return function, "", 0
    try:
        run = subprocess.run([tool, "-f", "-e", module, offset], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return function, "", 0
    lines = run.stdout.splitlines()
    if run.returncode != 0 or len(lines) < 2:
        return function, "", 0
    w = _WHERE.match(lines[1].split(" ")[0])
    name = lines[0] if lines[0] != "??" else function
    return (name, w[1], int(w[2])) if w is not None else (name, "", 0)


class NativeMemoryError(BoardError):
    """A sanitizer found a memory error (or undefined behaviour) in native C code: the bootloader during a
    boot, or the application during its run (``role``).

    ``str()`` is the headline and the C stack in the user's tree; :attr:`report` holds the whole report.
    """

    def __init__(self, report: MemoryErrorReport, program: str, role: str = "bootloader") -> None:
        self.report = report
        self.program = program
        self.role = role
        super().__init__(f"{report.headline()} (native {role} {program})\n{report.stack()}")

    def __reduce__(self) -> tuple[type[NativeMemoryError], tuple[MemoryErrorReport, str, str]]:
        # Sweep workers are other processes: the error crosses back with its report.
        return (NativeMemoryError, (self.report, self.program, self.role))
