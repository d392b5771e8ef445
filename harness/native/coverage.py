"""Which of the user's C lines and branches the runs reached: ``--coverage`` builds and their reports.

``otaloop native build --coverage`` compiles the user's files with GCC's ``--coverage``
(``-fprofile-update=atomic``, ``-fdata-sections``) and links :data:`LINKER_SCRIPT`, which gathers gcov's
counters into one section the runner leaves out of the RAM it hashes to find loops (they change on every
pass). Every helper process adds its counts to the ``.gcda`` files beside the objects
(``CACHE/objects``) when its run ends -- gcov merges them under a file lock, so sweep workers, Dask
workers on a shared folder and parallel tests add up. A power cut does not kill a coverage build
blind: the board answers the interrupted flash operation with "cut", the helper writes its counts and
exits without running another line of the firmware (so a cut costs one ``.gcda`` write and an
ordinary operation nothing).

Each run also tells the host which gcov counters it moved (a bitmap, :data:`ARCS`): a coverage-guided
search (:mod:`harness.fuzzing.guided`) steers by how many of them an example reached, without reading
files. :func:`report` reads every count since the build (or the last :func:`reset`) with gcovr
(``pip install 'otaloop[coverage]'``) into line and branch figures per file of the user's tree, and can
write gcovr's HTML pages; :func:`reset` clears the counts. It does not build or run anything else.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bootloader_model.errors import CallerError
from harness.native.build_record import NativeBuild
from harness.output_files import check_output, write_atomic

LINKER_SCRIPT = Path(__file__).resolve().parent / "c" / "otaloop_gcov.ld"
#: Compiler options for the user's files.
COMPILE_FLAGS = ["--coverage", "-fprofile-update=atomic", "-fdata-sections"]
#: Macros for otaloop's runner: write the counts at the end of a run and at a power cut.
SHIM_FLAGS = ["-DOTALOOP_COVERAGE=1"]


def link_flags() -> list[str]:
    """Linker options: gcov's runtime, and the counters in their own section."""
    return ["--coverage", f"-Wl,-T,{LINKER_SCRIPT}"]


class ArcLog:
    """The gcov counters (arcs of the control-flow graph) the runs of this process moved, per build.

    ``total`` holds every arc reached since the process started; ``example`` since the last
    :meth:`begin_example` (one example of a search). Bit i is the i-th counter of the build's counter
    section.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total: dict[Path, int] = {}
        self._example: dict[Path, int] = {}

    def add(self, build: Path, bitmap: bytes) -> None:
        bits = int.from_bytes(bitmap, "little")
        with self._lock:
            self._total[build] = self._total.get(build, 0) | bits
            self._example[build] = self._example.get(build, 0) | bits

    def begin_example(self, build: Path) -> None:
        with self._lock:
            self._example[build] = 0

    def counts(self, build: Path) -> tuple[int, int]:
        """(arcs reached since the process started, arcs reached by the current example)."""
        with self._lock:
            return self._total.get(build, 0).bit_count(), self._example.get(build, 0).bit_count()


#: The arcs of every coverage build this process ran (filled by the native bootloader's sessions).
ARCS = ArcLog()


@dataclass(frozen=True)
class FileCoverage:
    """The figures of one source file, and what each line did."""

    path: str  # relative to the build's source folder
    lines_total: int
    lines_covered: int
    branches_total: int
    branches_covered: int
    #: line number -> times it ran
    lines: dict[int, int] = field(default_factory=dict, repr=False, compare=False)
    #: line number -> how often each of its branches was taken
    branches: dict[int, tuple[int, ...]] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class CoverageReport:
    """Every file of the user's tree the build compiled, with the counts of all runs since the build."""

    root: Path
    files: tuple[FileCoverage, ...]

    def file(self, name: str) -> FileCoverage:
        """The file whose path is ``name`` or ends with ``/name``; KeyError if none."""
        for f in self.files:
            if f.path == name or f.path.endswith("/" + name):
                return f
        raise KeyError(name)

    @property
    def lines(self) -> tuple[int, int]:
        return sum(f.lines_covered for f in self.files), sum(f.lines_total for f in self.files)

    @property
    def branches(self) -> tuple[int, int]:
        return sum(f.branches_covered for f in self.files), sum(f.branches_total for f in self.files)

    def reached_branches(self) -> frozenset[tuple[str, int, int]]:
        """Every branch taken at least once, as (file, line, branch index)."""
        return frozenset(
            (f.path, line, i)
            for f in self.files
            for line, counts in f.branches.items()
            for i, n in enumerate(counts)
            if n
        )

    def missed(self) -> list[str]:
        """Every line with a branch no run took, as ``file:line: k of n branches never taken`` (paths as
        the build's source folder names them, so an editor or CI log can open them)."""
        out = []
        for f in self.files:
            for line, counts in sorted(f.branches.items()):
                never = sum(1 for n in counts if not n)
                if never:
                    out.append(f"{self.root / f.path}:{line}: {never} of {len(counts)} branches never taken")
        return out

    def table(self) -> list[str]:
        """One row per file, then the totals: lines and branches reached of all."""
        rows = [("file", "lines", "%", "branches", "%")]

        def pct(a: int, b: int) -> str:
            return f"{100 * a / b:.1f}" if b else "-"

        for f in self.files:
            rows.append(
                (
                    f.path,
                    f"{f.lines_covered}/{f.lines_total}",
                    pct(f.lines_covered, f.lines_total),
                    f"{f.branches_covered}/{f.branches_total}",
                    pct(f.branches_covered, f.branches_total),
                )
            )
        (lc, lt), (bc, bt) = self.lines, self.branches
        rows.append(("total", f"{lc}/{lt}", pct(lc, lt), f"{bc}/{bt}", pct(bc, bt)))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        out = []
        for i, r in enumerate(rows):
            out.append(
                "  ".join([r[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True))])
            )
            if i == 0 or i == len(rows) - 2:
                out.append("  ".join("-" * w for w in widths))
        return out


def _coverage_build(cache: Path) -> NativeBuild:
    build = NativeBuild.load(Path(cache))
    if not build.coverage:
        raise CallerError(f"{build.directory} is not a coverage build: rebuild it with otaloop native build --coverage")
    return build


def require_gcovr() -> None:
    """Raise a one-line CallerError that says how to install gcovr when it is missing."""
    if importlib.util.find_spec("gcovr") is None:
        raise CallerError("coverage reports need gcovr: pip install 'otaloop[coverage]'")
    if shutil.which("gcov") is None:
        raise CallerError("coverage reports need gcov (it comes with gcc)")


def reset(cache: str | Path) -> int:
    """Clear the counts of a coverage build (every ``.gcda`` file); returns how many files were removed.

    Raises:
        CallerError: no build there, or not a coverage build.
    """
    build = _coverage_build(Path(cache))
    removed = 0
    for gcda in (build.directory / "objects").glob("*.gcda"):
        gcda.unlink(missing_ok=True)
        removed += 1
    return removed


def report(
    cache: str | Path, *, html: Path | None = None, cobertura: Path | None = None, lcov: Path | None = None
) -> CoverageReport:
    """The lines and branches of the user's tree that the runs since the build (or the last reset) reached.

    Args:
        cache: a folder made by ``otaloop native build --coverage``.
        html: a folder to write gcovr's HTML pages into (``index.html`` and one page per file).
        cobertura: a file to write the counts to as Cobertura XML (what GitLab, Jenkins and Azure show).
        lcov: a file to write the counts to as an LCOV tracefile (``genhtml``, Codecov, IDE plugins).

    Returns:
        The figures per file, sorted by path. A build no run has used yet reports every line unreached.

    Raises:
        CallerError: no coverage build there, or gcovr/gcov missing, or gcovr failing (its message).
    """
    build = _coverage_build(Path(cache))
    require_gcovr()
    for option, target in (("--cobertura", cobertura), ("--lcov", lcov)):
        if target is not None:
            check_output(target, option)  # before gcovr's work
    root = Path(build.source).resolve()
    objects = build.directory / "objects"
    with tempfile.TemporaryDirectory(prefix="otaloop-gcovr-") as tmp:
        full = Path(tmp) / "full.json"
        summary = Path(tmp) / "summary.json"
        argv = [
            sys.executable,
            "-m",
            "gcovr",
            "--root",
            str(root),
            "--filter",
            str(root),
            "--gcov-ignore-errors=no_working_dir_found",
            "--json",
            str(full),
            "--json-summary",
            str(summary),
            str(objects),
        ]
        if html is not None:
            html.mkdir(parents=True, exist_ok=True)
            argv[-1:-1] = ["--html-details", str(html / "index.html")]
        for option, target in (("--cobertura", cobertura), ("--lcov", lcov)):
            if target is not None:
                argv[-1:-1] = [option, str(Path(tmp) / option.strip("-"))]
        run = subprocess.run(argv, capture_output=True, text=True, cwd=str(objects))
        if run.returncode != 0:
            tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-5:])
            raise CallerError(f"gcovr failed on {objects}: {tail}")
        files = _parse(json.loads(full.read_text()), json.loads(summary.read_text()))
        for option, target in (("--cobertura", cobertura), ("--lcov", lcov)):
            if target is not None:  # whole or not at all, like every file otaloop writes
                write_atomic(target, (Path(tmp) / option.strip("-")).read_bytes(), option)
    return CoverageReport(root, files)


def _parse(full: dict[str, Any], summary: dict[str, Any]) -> tuple[FileCoverage, ...]:
    per_line: dict[str, tuple[dict[int, int], dict[int, tuple[int, ...]]]] = {}
    for entry in full.get("files", []) if isinstance(full.get("files"), list) else []:
        lines: dict[int, int] = {}
        branches: dict[int, tuple[int, ...]] = {}
        for line in entry.get("lines", []):
            number = int(line["line_number"])
            lines[number] = lines.get(number, 0) + int(line["count"])
            taken = tuple(int(b["count"]) for b in line.get("branches", []))
            if taken:
                old = branches.get(number, ())
                branches[number] = old + taken
        per_line[str(entry["file"])] = (lines, branches)
    out = []
    for entry in summary.get("files", []) if isinstance(summary.get("files"), list) else []:
        name = str(entry["filename"])
        lines, branches = per_line.get(name, ({}, {}))
        out.append(
            FileCoverage(
                name,
                int(entry["line_total"]),
                int(entry["line_covered"]),
                int(entry["branch_total"]),
                int(entry["branch_covered"]),
                lines,
                branches,
            )
        )
    return tuple(sorted(out, key=lambda f: f.path))
