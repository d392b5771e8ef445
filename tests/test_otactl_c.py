"""Contract test: the C ``otactl`` group answers exactly as the virtual board's Python model.

``firmware/otactl/otactl.c`` is compiled with the host ``gcc`` against the stub Harmony headers and the
fake runtime in ``tests/otactl_stubs/``. The same console lines then go through the C build and through
``sysota_cli.otactl`` on a real :class:`OtaService` put in the same state with the same download counters;
the answers must be byte-identical and the service calls (control messages, ``SYS_OTA_SET_PARAMETERS``
arguments, download-status reads) identical. The fake's ``SYS_OTA_CtrlMsg`` returns success only in
``SYS_OTA_STATE_IDLE``, the service's rule (spec 2.1), so a model that accepted a control message in another
state would show up as a different answer. The same source is also compiled for the target CPU
(``mipsel-linux-gnu-gcc -march=mips32r2 -EL -Os``) when that cross compiler is installed.

This file does not test SYS_COMMAND's line editing (``tests/test_command_processor.py`` does): lines are split with
:func:`bootloader_model.board.command_processor.split_args` on the Python side and by the fake runtime on the C side.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bootloader_model.board.command_processor import MAX_ARGS, split_args
from bootloader_model.clock import VirtualClock
from bootloader_model.service.commands import OTACTL_USAGE, otactl
from bootloader_model.service.configuration import CtrlMsg, ServiceConfig, SysResult, SysState
from bootloader_model.service.core.state import OTA_URL_SIZE
from bootloader_model.service.ota_service import OtaService
from bootloader_model.storage.file_api import OTA_DIR, MemoryFileSystem
from bootloader_model.storage.nor_flash import PIC32MZ1025W104132, NorFlash
from conftest import require_tool
from harness.board_link.driver import APP_VERSION

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = ROOT / "firmware" / "otactl"
STUBS = ROOT / "tests" / "otactl_stubs"
APP_VER = 7  # SYS_OTA_APP_VER_NUM of the test build; the Python service gets the same
WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wshadow", "-Wconversion"]
FILE_DOWNLOAD = "-DSYS_OTA_FILE_DOWNLOAD_ENABLED"
DIGEST = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
URL = "http://192.168.1.2:8000/app_v2.bin"

Call = tuple[object, ...]


@dataclass
class Answer:
    out: bytes
    calls: list[Call]


def _includes() -> list[str]:
    return [f"-I{STUBS / 'include'}", f"-I{SOURCE_DIR}", f"-DSYS_OTA_APP_VER_NUM={APP_VER}"]


def _build(tmp: Path, *defines: str) -> Path:
    gcc = require_tool("gcc", "gcc")
    exe = tmp / ("otactl_fake" + "".join(d.replace("-D", "_") for d in defines))
    cmd = [gcc, *WARNINGS, *_includes(), *defines, str(SOURCE_DIR / "otactl.c"), str(STUBS / "fake_harmony.c")]
    res = subprocess.run([*cmd, "-o", str(exe)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    return exe


@pytest.fixture(scope="module")
def fake_c(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("otactl"))


@pytest.fixture(scope="module")
def fake_c_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("otactl_files"), FILE_DOWNLOAD)


def _parse_call(line: str) -> Call:
    kind, *args = line.split(" ")[1:]
    if kind == "CtrlMsg":
        name, buffer_is_null, length = args
        assert (buffer_is_null, length) == ("1", "0"), f"control message with a buffer: {line}"
        return ("CtrlMsg", name)
    if kind == "SetParams":
        url, version, digest = args
        return ("SetParams", bytes.fromhex(url), int(version), bytes.fromhex(digest))
    if kind == "ADDGRP":
        group, menu, count, *names = args
        return ("ADDGRP", group, bytes.fromhex(menu), int(count), *names)
    return (kind, *args)


def run_c(exe: Path, lines: list[bytes]) -> list[Answer]:
    """Feed the fake runtime one line each; one :class:`Answer` per line."""
    assert all(b"\n" not in ln and b"\0" not in ln for ln in lines)
    res = subprocess.run([str(exe)], input=b"".join(ln + b"\n" for ln in lines), capture_output=True, check=False)
    assert res.returncode == 0, (res.returncode, res.stdout[-300:], res.stderr)
    answers: list[Answer] = []
    current: Answer | None = None
    for rec in res.stdout.decode("ascii").splitlines():
        if rec.startswith("OUT "):
            current = Answer(bytes.fromhex(rec[4:]), [])
        elif rec.startswith("CALL ") and current is not None:
            current.calls.append(_parse_call(rec))
        elif rec == "END" and current is not None:
            answers.append(current)
            current = None
        else:
            raise AssertionError(f"unexpected output of the fake runtime: {rec!r}")
    assert len(answers) == len(lines)
    return answers


# ------------------------------------------------------------------------------------ Python side
@dataclass
class Case:
    """A service state, download counters, and one console line."""

    state: str
    downloaded: int
    total: int
    line: bytes


def _new_service() -> OtaService:
    fs = MemoryFileSystem()
    fs.mkdir(OTA_DIR)
    return OtaService(
        ServiceConfig(app_version=APP_VER, periodic_check=False),
        fs,
        NorFlash(PIC32MZ1025W104132),
        VirtualClock(),
        lambda data: None,
        demo_app=False,
    )


@pytest.fixture(scope="module")
def service() -> OtaService:
    return _new_service()


def run_python(svc: OtaService, case: Case) -> Answer:
    """``otactl`` on the Python model, with the service calls it makes recorded."""
    calls: list[Call] = []
    svc.state = SysState[case.state]
    svc.core.params.total_data_downloaded = case.downloaded
    svc.core.params.server_image_length = case.total
    real_ctrl, real_set, real_status = svc.ctrl_msg, svc.set_parameters, svc.download_status

    def ctrl_msg(msg: int, callback: object = None) -> SysResult:
        assert callback is None
        calls.append(("CtrlMsg", CtrlMsg(msg).name))
        return real_ctrl(msg)

    def set_parameters(url: str, version: int, digest: str) -> None:
        calls.append(("SetParams", url.encode("latin-1"), version, digest.encode("latin-1")))
        real_set(url, version, digest)

    def download_status() -> tuple[int, int]:
        calls.append(("GetDownloadStatus",))
        return real_status()

    patches: dict[str, Callable[..., object]] = {
        "ctrl_msg": ctrl_msg,
        "set_parameters": set_parameters,
        "download_status": download_status,
    }
    for name, fn in patches.items():
        setattr(svc, name, fn)
    try:
        argv = split_args(case.line)
        assert argv is not None and 0 < len(argv) <= MAX_ARGS, case.line
        # The board hands the group the console bytes as latin-1 text (bootloader_model/board/virtual_board.py).
        text = otactl(svc, [a.decode("latin-1") for a in argv])
    finally:
        for name in patches:
            delattr(svc, name)
    return Answer(text.encode("latin-1"), calls)


def c_script(cases: list[Case]) -> tuple[list[bytes], list[int]]:
    """Directive and command lines for the fake runtime, and the indexes of the command lines' answers."""
    lines = [b"@init"]
    picks: list[int] = []
    for case in cases:
        result = "SUCCESS" if case.state == "SYS_OTA_STATE_IDLE" else "FAILURE"
        lines += [f"@state {case.state}".encode(), f"@dl {case.downloaded} {case.total}".encode()]
        lines += [f"@result {result}".encode()]
        picks.append(len(lines))
        lines.append(case.line)
    return lines, picks


def compare(exe: Path, svc: OtaService, cases: list[Case]) -> list[Answer]:
    lines, picks = c_script(cases)
    answers = run_c(exe, lines)
    for case, i in zip(cases, picks, strict=True):
        py = run_python(svc, case)
        assert answers[i] == py, f"{case}: C {answers[i]} != Python {py}"
    return [answers[i] for i in picks]


# --------------------------------------------------------------------------------------- corpus
SIMPLE = ["check", "sysreset", "factory", "rollback"]
URL_99 = "http://h/" + "u" * (OTA_URL_SIZE - 1 - len("http://h/"))

LINES: list[str] = [
    *(f"otactl {s}" for s in SIMPLE),
    "otactl status",
    "otactl start",
    f"otactl start {URL} 2 {DIGEST}",
    f"otactl start {URL} 0 {DIGEST}",
    f"otactl start {URL} 007 {DIGEST}",
    f"otactl start {URL} 4294967295 {DIGEST}",
    f"otactl start {URL} 2 {DIGEST}{DIGEST}",  # the service cuts the digest; otactl passes it whole
    'otactl start "http://h/a b.bin" 3 abc',  # a quoted argument keeps its blank
    "otactl,check",
    "otactl\tstatus",
    '"otactl" "status"',
    # bad subcommands
    "otactl",
    "otactl bogus",
    "otactl CHECK",
    "otactl statuss",
    "otactl help",
    # missing or extra arguments
    "otactl check now",
    "otactl status x",
    "otactl sysreset 1 2 3 4 5 6 7 8",
    f"otactl start {URL}",
    f"otactl start {URL} 2",
    f"otactl start {URL} 2 {DIGEST} extra",
    # bad versions
    *(f"otactl start {URL} {v} {DIGEST}" for v in ("v2", "-1", "+1", "0x10", "1.0", "2a", "4294967296")),
    f"otactl start {URL} 99999999999999999999999 {DIGEST}",
    # URL length around the 100-byte OTA_PARAMS field
    f"otactl start {URL_99} 2 {DIGEST}",
    f"otactl start {URL_99}v 2 {DIGEST}",
    f"otactl start {URL_99 * 3} 2 {DIGEST}",
    f"otactl start {URL_99}v bad {DIGEST}",  # both wrong: the URL is checked first
]


def test_every_corpus_line_answers_identically_in_idle_and_busy_states(fake_c: Path, service: OtaService) -> None:
    cases = [
        Case(state, 1234, 5000, line.encode("latin-1"))
        for state in ("SYS_OTA_STATE_IDLE", "SYS_OTA_WAIT_FOR_OTA_COMPLETE")
        for line in LINES
    ]
    answers = compare(fake_c, service, cases)
    outs = {a.out for a in answers}
    # The corpus reaches every kind of answer, so agreement above covers all of them.
    assert {b"otactl: SYS_OTA_SUCCESS\r\n", b"otactl: SYS_OTA_FAILURE\r\n", OTACTL_USAGE.encode()} <= outs
    assert {b"otactl: bad version\r\n", b"otactl: url too long\r\n"} <= outs
    assert any(o.startswith(b"otactl: state=SYS_OTA_STATE_IDLE ") for o in outs)


def test_long_url_is_refused_before_any_service_call(fake_c: Path, service: OtaService) -> None:
    lines = [f"otactl start {URL_99}v 2 {DIGEST}", f"otactl start {URL_99} 2 {DIGEST}"]
    refused, accepted = compare(fake_c, service, [Case("SYS_OTA_STATE_IDLE", 0, 0, ln.encode()) for ln in lines])
    assert refused == Answer(b"otactl: url too long\r\n", [])
    assert accepted.calls[0] == ("SetParams", URL_99.encode(), 2, DIGEST.encode())


def test_status_names_every_state_and_passes_counters_through(fake_c: Path, service: OtaService) -> None:
    counters = [(0, 0), (5000, 5000), (1, 0xFFFF_FFFF)]
    cases = [Case(s.name, d, t, b"otactl status") for s in SysState for d, t in counters]
    answers = compare(fake_c, service, cases)
    for case, answer in zip(cases, answers, strict=True):
        want = f"otactl: state={case.state} downloaded={case.downloaded} total={case.total} version={APP_VER}\r\n"
        assert answer.out == want.encode()


def test_state_names_survive_the_file_download_option(fake_c_files: Path, service: OtaService) -> None:
    """With File Download the enum gains SYS_OTA_DOWNLOAD_FILES mid-list; later names must not shift."""
    cases = [Case(s.name, 3, 4, b"otactl status") for s in SysState]
    compare(fake_c_files, service, cases)
    (answer,) = run_c(fake_c_files, [b"@init", b"@state SYS_OTA_DOWNLOAD_FILES", b"otactl status"])[2:]
    assert answer.out == f"otactl: state=SYS_OTA_DOWNLOAD_FILES downloaded=0 total=0 version={APP_VER}\r\n".encode()


def test_registration_and_banner(fake_c: Path) -> None:
    init, banner, unknown = run_c(fake_c, [b"@init", b"@banner", b"sysota get info"])
    assert init.calls == [("ADDGRP", "otactl", b": OTA control", 1, "otactl")]
    match = APP_VERSION.fullmatch(banner.out)  # what the harness waits for after a reset
    assert match is not None and int(match.group(1)) == APP_VER
    assert unknown.out == b"FAKE: unknown command\n"  # only the otactl group is registered


# A token vocabulary near the group's grammar, plus arbitrary printable bytes (no separators or quotes).
_WORD = st.sampled_from(["otactl", "start", *SIMPLE, "status", URL, URL_99, URL_99 + "x", DIGEST, "2", "0x2", "-3"])
_TEXT = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0xFF, blacklist_characters='",'), min_size=1, max_size=12
)
_LINE = st.lists(st.one_of(_WORD, _WORD, _TEXT), min_size=1, max_size=MAX_ARGS - 1).map(
    lambda toks: " ".join(["otactl", *toks]).encode("latin-1")
)


@settings(max_examples=40)
@given(
    lines=st.lists(_LINE, min_size=1, max_size=15),
    state=st.sampled_from(["SYS_OTA_STATE_IDLE", "SYS_OTA_UPDATE_USER"]),
    downloaded=st.integers(0, 0xFFFF_FFFF),
)
def test_random_lines_answer_identically(
    fake_c: Path, service: OtaService, lines: list[bytes], state: str, downloaded: int
) -> None:
    compare(fake_c, service, [Case(state, downloaded, 0xFFFF_FFFF - downloaded, ln) for ln in lines])


# ------------------------------------------------------------------------------------ target build
@pytest.mark.parametrize("defines", [[], [FILE_DOWNLOAD]], ids=["default", "file-download"])
def test_builds_for_the_pic32mz_cpu(tmp_path: Path, defines: list[str]) -> None:
    cc = require_tool("mipsel-linux-gnu-gcc", "gcc-mipsel-linux-gnu")
    readelf = require_tool("mipsel-linux-gnu-readelf", "binutils-mipsel-linux-gnu")
    nm = require_tool("mipsel-linux-gnu-nm", "binutils-mipsel-linux-gnu")
    obj = tmp_path / "otactl.o"
    flags = ["-c", "-march=mips32r2", "-EL", "-Os", "-std=c99", "-Wall", "-Wextra", "-Werror"]
    res = subprocess.run(
        [cc, *flags, *_includes(), *defines, str(SOURCE_DIR / "otactl.c"), "-o", str(obj)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    header = subprocess.run([readelf, "-h", str(obj)], capture_output=True, text=True, check=True).stdout
    assert "ELF32" in header and "little endian" in header and "MIPS" in header
    symbols = dict(
        (parts[-1], parts[-2])
        for parts in (
            ln.split() for ln in subprocess.run([nm, str(obj)], capture_output=True, text=True).stdout.splitlines()
        )
    )
    assert symbols["OTACTL_Initialize"] == "T" and symbols["OTACTL_PrintBanner"] == "T"
    for needed in (
        "SYS_CMD_ADDGRP",
        "SYS_OTA_CtrlMsg",
        "SYS_OTA_SET_PARAMETERS",
        "OTA_GetDownloadStatus",
        "sys_otaData",
    ):
        assert symbols[needed] == "U", needed


def test_stub_enums_follow_the_python_model() -> None:
    """The stub's state list is the model's SysState, in order (the fake sets states by these names)."""
    text = (STUBS / "include" / "system" / "ota" / "sys_ota.h").read_text()
    body = text[text.index("#define OTACTL_STUB_STATES(X)") :].split("\n\n")[0]
    names = [ln.strip().split("(")[1].split(")")[0] for ln in body.splitlines()[1:] if ln.strip().startswith("X(")]
    assert names == [s.name for s in SysState]
    msgs = text[text.index("#define OTACTL_STUB_CTRLMSGS(X)") :].split("\n\n")[0]
    assert [ln.strip()[2:-1].split(")")[0] for ln in msgs.splitlines()[1:]] == [m.name for m in CtrlMsg]
