"""What a test that used a board leaves in pytest's reports: its console, a failure's last lines, a log file,
and JUnit XML properties.

:class:`TestConsole` is stored on the test item (``item.stash[CONSOLE]``) by the ``ota_bench`` fixture. From
it, :func:`add_to_report` attaches the console printed during the test as a report section ("otaloop
console"), and on a failure adds the last ``--otaloop-tail`` lines to the failure text (so they also reach
``--junitxml``'s failure element). :func:`finish` writes ``<log folder>/<test id>.log`` (the raw bytes the
board printed during the test, commands it echoed included, after one line counting the bytes the port had
buffered before it, which are left out) and records the properties ``otaloop_board``,
``otaloop_app_version`` (the last ``APP: version <n>`` seen) and ``otaloop_log``. :class:`LogNotes` counts
the logs for the terminal summary; :func:`skip_at_the_test` reports a skip the plugin raised at the test's
own line.

It does not decide pass or fail; a scenario's expected-vs-seen block comes from the scenario's own error.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness.board_link.console import Console

_APP_VERSION = re.compile(rb"APP: version (\d+)\r?\n")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.,=+\-\[\]]+")


@dataclass
class TestConsole:
    """The console of one test's board and the byte offset at which the test began."""

    __test__ = False  # not a test class, whatever pytest's name patterns say

    console: Console
    start: int
    board: str
    log_path: Path | None = None
    #: Bytes the port had buffered before the test began: read, and left out of the test's console.
    backlog: int = 0

    def raw(self) -> bytes:
        return bytes(self.console.buffer[self.start :])

    def lines(self) -> list[str]:
        """The test's console as lines (CR/LF in any pairing ends one; blank lines dropped, bad bytes replaced)."""
        text = self.raw().decode("utf-8", "replace")
        return [line for line in re.split(r"\r\n|\n\r|\r|\n", text) if line.strip()]

    def text(self) -> str:
        return "\n".join(self.lines())

    def tail(self, count: int) -> list[str]:
        """The last ``count`` lines the board printed during the test."""
        return self.lines()[-count:] if count else []

    def app_version(self) -> int | None:
        """The application version of the last ``APP: version <n>`` line the console has shown."""
        found = None
        for m in _APP_VERSION.finditer(self.console.buffer):
            found = int(m.group(1))
        return found


CONSOLE = pytest.StashKey[TestConsole]()


def log_name(nodeid: str) -> str:
    """A file name for a test id: ``tests/test_a.py::test_b[x]`` becomes ``tests_test_a.py__test_b[x].log``."""
    name = _UNSAFE.sub("_", nodeid.replace("::", "__").replace("/", "_")).strip("._") or "test"
    if len(name) > 180:  # file names have limits; keep them apart with a digest of the whole id
        name = name[:160] + "-" + hashlib.sha256(nodeid.encode()).hexdigest()[:12]
    return name + ".log"


def add_to_report(item: pytest.Item, report: pytest.TestReport, tail: int) -> None:
    """Attach the console section to the call report (or a failed setup) and the tail to a failure."""
    record = item.stash.get(CONSOLE, None)
    if record is None or (report.when == "teardown" and not report.failed):
        return
    if report.when == "call" or report.failed:
        report.sections.append((f"otaloop console ({record.board})", record.text()))
    if report.failed and tail:
        lines = record.tail(tail)
        title = f"last {len(lines)} console lines ({record.board})"
        body = "\n".join(lines) if lines else "(the board printed nothing)"
        longrepr = report.longrepr
        addsection = getattr(longrepr, "addsection", None)  # a traceback's representation takes sections
        if callable(addsection):
            addsection(title, body)
        elif isinstance(longrepr, str):  # a plain-text failure (a library scenario's): the same look
            report.longrepr = f"{longrepr}\n{f' {title} '.center(80, '-')}\n{body}"


def backlog_line(count: int) -> bytes:
    """The line a log starts with when the port had buffered ``count`` bytes before the test (none: no line)."""
    if not count:
        return b""
    return f"[otaloop] {count} bytes the port buffered before this test were discarded\n".encode()


def finish(item: pytest.Item, record: TestConsole, log_dir: Path) -> None:
    """At the end of a test: write its log file and record its JUnit properties."""
    props = item.user_properties
    props.append(("otaloop_board", record.board))
    version = record.app_version()
    if version is not None:
        props.append(("otaloop_app_version", version))
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / log_name(item.nodeid)
    path.write_bytes(backlog_line(record.backlog) + record.raw())
    record.log_path = path
    props.append(("otaloop_log", str(path)))


class LogNotes:
    """Where this run's console logs went (folder -> tests), from the tests' reports; registered as a pytest
    plugin of its own so that it also sees the reports pytest-xdist's workers send the controller."""

    def __init__(self) -> None:
        self.folders: dict[str, int] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return
        for name, value in report.user_properties:
            if name == "otaloop_log":
                folder = str(Path(str(value)).parent.absolute())
                self.folders[folder] = self.folders.get(folder, 0) + 1

    def lines(self) -> list[str]:
        """The terminal summary's lines naming the folders of the console logs written in this run."""
        return [f"otaloop: console logs of {n} test(s) in {folder}" for folder, n in sorted(self.folders.items())]


LOG_NOTES = pytest.StashKey[LogNotes]()


_PACKAGE = str(Path(__file__).resolve().parents[1])  # the harness package: a skip raised in here is the plugin's


def skip_at_the_test(item: pytest.Item, report: pytest.TestReport) -> None:
    """A skip the plugin raised (a fixture or marker the run cannot serve) is reported at the test, not at the
    line of the plugin that raised it: pytest's ``-rs`` then names the user's file and line, as for a
    ``skip`` marker."""
    longrepr = report.longrepr
    if not (isinstance(longrepr, tuple) and len(longrepr) == 3):
        return
    path, _line, reason = longrepr
    if not str(Path(str(path)).resolve()).startswith(_PACKAGE):
        return
    where, line = item.reportinfo()[:2]
    report.longrepr = (str(where), (line or 0) + 1, reason)
