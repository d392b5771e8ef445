"""``otaloop native build --coverage`` and ``otaloop native coverage``: which C lines the runs reached.

The example bootloader is built with gcov (real gcc) and run on virtual boards; gcovr reads the counts.
Its planted rare branch (a DB row whose name does not fit the 100-byte name field) proves the figures:
unreached after the library scenarios, reached after one boot that reads such a row. The tests skip,
saying so, when gcovr is not installed (``pip install 'otaloop[coverage]'``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

from bootloader_model.board.virtual_board import AppState, BoardConfig, VirtualBoard
from bootloader_model.bootloader.result import Outcome
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, production_header, with_header
from bootloader_model.formats.image_database import DB_PATH
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import OTA_DIR, write_file
from bootloader_model.storage.nor_flash import FaultPlan
from conftest import require_tool
from harness.cli import main
from harness.native import coverage
from harness.native.build import EXAMPLE_DIR, Instrumentation, build_example
from harness.native.build_record import NativeBuild
from harness.native.programs import bootloader_from_spec
from harness.scenarios.runner import run_suite, select, virtual_provider

URL = "http://127.0.0.1:9/ota.json"
SOURCE = (EXAMPLE_DIR / "example_bootloader.c").read_text().splitlines()


def _line(text: str) -> int:
    (number,) = [i + 1 for i, line in enumerate(SOURCE) if text in line]
    return number


PLANTED = _line("if (strlen(f[0]) >= sizeof r->name) {")
PLANTED_BODY = _line("bl.long_names++;")
BANNER = _line('printf("\\nBOOTLOADER Build')
BACKUP_STEP = _line("SYS_FS_FileWrite(bl.file, bl.buf, PAGE);")
RESET = _line("RSWRSTSET = _RSWRST_SWRST_MASK;")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("cc", "gcc")
    if importlib.util.find_spec("gcovr") is None:
        pytest.skip("gcovr is not installed (pip install 'otaloop[coverage]')")
    folder = tmp_path_factory.mktemp("example-coverage")
    build_example(folder, checks=Instrumentation.of(coverage=True))
    return folder


def _board(cache: Path) -> VirtualBoard:
    board = VirtualBoard(BoardConfig(bootloader=bootloader_from_spec(f"native:{cache}"), timed_flash=False))
    board.provision(build_app(AppDescriptor(version=1, manifest_url=URL), 16 * 1024))
    return board


def _example(cache: Path) -> coverage.FileCoverage:
    return coverage.report(cache).file("example_bootloader.c")


def test_a_fresh_build_has_reached_nothing(cache: Path) -> None:
    coverage.reset(cache)
    assert NativeBuild.load(cache).coverage
    found = coverage.report(cache)
    assert [f.path for f in found.files] == ["example_bootloader.c", "example_sha256.c"]  # the user's tree only
    c = found.file("example_bootloader.c")
    assert c.lines_covered == 0 and c.lines_total > 200 and c.branches_total > 100
    assert c.lines[PLANTED] == 0 and c.branches[PLANTED] == (0, 0)


def test_runs_add_up(cache: Path) -> None:
    coverage.reset(cache)
    for expected in (2, 4):  # each power-on: the backup run (software reset), then the run that jumps
        _board(cache).power_on()
        assert _example(cache).lines[BANNER] == expected  # a second process's counts are added, not overwritten


def test_a_power_cut_keeps_the_counts_up_to_the_cut(cache: Path) -> None:
    coverage.reset(cache)
    board = _board(cache)
    board.arm_cut("external", FaultPlan(3000))  # in the middle of the factory backup
    board.power_on()
    assert board.last_cut is not None and board.state is AppState.OFF
    c = _example(cache)
    pages = c.lines[BACKUP_STEP]
    assert 0 < pages < 223  # the backup ran until the cut ...
    assert c.lines[RESET] == 0  # ... and not one line further
    assert c.lines[BANNER] == 1


def test_the_loop_detector_ignores_the_counters(cache: Path) -> None:
    board = _board(cache)
    board.power_on()
    board.power_off()
    board.internal.erase(0x1002_0000)  # boot control blank: the factory path ...
    ExternalFlash(board.external).remove(f"{OTA_DIR}/factory_reset.bin")  # ... with nothing to restore
    board.power_on()
    assert board.state is AppState.BOOTLOADER_STUCK
    assert "cycle of 1 pass" in (board.boots[-1].stuck_reason or "")  # counters change, the RAM hash does not


def test_the_planted_branch_is_unreached_by_the_library_and_reached_by_its_input(cache: Path) -> None:
    coverage.reset(cache)
    provider = virtual_provider(link="inproc", bootloader=f"native:{cache}")
    results = run_suite(select(["c_update", "l_rollback", "i_db_full"]), provider)
    assert [r.status for r in results] == ["PASS"] * 3, [r.detail for r in results]
    c = _example(cache)
    assert c.lines[PLANTED] > 0  # every DB row read passes the test ...
    assert c.lines[PLANTED_BODY] == 0  # ... and no row of the library has a long name
    taken, not_taken = c.branches[PLANTED]
    assert taken == 0 and not_taken == c.lines[PLANTED]
    before = coverage.report(cache).reached_branches()

    board = _board(cache)
    board.power_on()
    board.power_off()
    fs = ExternalFlash(board.external)
    fs.mount()
    long_name = "v2_" + "x" * 110 + ".bin"
    write_file(fs, DB_PATH, f"{long_name},FE,2,0x01,{'0' * 64}\n".encode())
    page = with_header(bytes(board.internal.read(BOOT_CTL_PHYS, 4096)), production_header(1, 0xF8))
    board.internal.erase(BOOT_CTL_PHYS, board.internal.geometry.smallest_erase_kind())
    for row in range(0, 4096, 1024):
        board.internal.program(BOOT_CTL_PHYS + row, page[row : row + 1024])
    board.power_on()  # CHECK reads the row (no v1 row), SELECT cannot open the cut name: the factory image
    assert board.boots[-1].outcome in (Outcome.JUMP, Outcome.RESET)
    after = _example(cache)
    assert after.lines[PLANTED_BODY] == 1
    assert after.branches[PLANTED][0] == 1
    new = coverage.report(cache).reached_branches() - before
    assert ("example_bootloader.c", PLANTED, 0) in new  # the planted branch, first reached by this boot


def test_cli_reports_writes_html_and_json_and_resets(
    cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _board(cache).power_on()
    capsys.readouterr()
    assert (
        main(["native", "coverage", str(cache), "--html", str(tmp_path / "html"), "--json", str(tmp_path / "c.json")])
        == 0
    )
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["file", "lines", "%", "branches", "%"]
    assert any(line.startswith("example_bootloader.c") for line in out.splitlines())
    assert "example_bootloader.c" in (tmp_path / "html" / "index.html").read_text()
    doc = json.loads((tmp_path / "c.json").read_text())
    assert {f["file"] for f in doc["files"]} == {"example_bootloader.c", "example_sha256.c"}
    assert main(["native", "coverage", str(cache), "--reset"]) == 0
    assert "cleared the counts" in capsys.readouterr().out
    assert coverage.report(cache).lines[0] == 0


def test_a_plain_build_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("cc", "gcc")
    build_example(tmp_path)
    assert main(["native", "coverage", str(tmp_path)]) == 2
    assert "is not a coverage build: rebuild it with otaloop native build --coverage" in capsys.readouterr().err


def test_ci_formats_and_the_missed_branches(cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Cobertura XML and LCOV for a CI's coverage view, and the lines with an untaken branch as file:line."""
    coverage.reset(cache)
    _board(cache).power_on()
    capsys.readouterr()
    xml, info = tmp_path / "cov.xml", tmp_path / "cov.info"
    assert main(["native", "coverage", str(cache), "--cobertura", str(xml), "--lcov", str(info), "--missed"]) == 0
    out = capsys.readouterr().out
    root = ElementTree.parse(xml).getroot()
    assert root.tag == "coverage"
    assert any(c.get("filename", "").endswith("example_bootloader.c") for c in root.iter("class"))
    assert 0 < float(root.get("line-rate", "0")) < 1
    tracefile = info.read_text()
    assert "SF:" in tracefile and "example_bootloader.c" in tracefile and "BRDA:" in tracefile
    found = coverage.report(cache)
    missed = found.missed()
    assert missed and f"{len(missed)} line(s) with a branch no run took:" in out
    planted = f"example_bootloader.c:{PLANTED}: "
    assert any(planted in line for line in missed)  # no plain boot takes the planted branch
    assert all(line.split(":")[0].startswith(str(found.root)) for line in missed)


def test_ci_format_targets_are_checked_before_the_work(
    cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["native", "coverage", str(cache), "--cobertura", str(tmp_path / "no" / "cov.xml")]) == 2
    assert "cannot write --cobertura" in capsys.readouterr().err
    assert main(["native", "coverage", str(cache), "--lcov", str(tmp_path)]) == 2
    assert "it is a directory" in capsys.readouterr().err
    assert main(["native", "coverage", str(cache), "--reset", "--missed"]) == 2
    assert "--reset clears the counts" in capsys.readouterr().err
