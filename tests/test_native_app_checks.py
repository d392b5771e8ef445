"""``--sanitize`` and ``--coverage`` on application builds, end to end on otaloop's example application.

The example application (``harness/native/c/example_app``) carries a planted memory error: its manifest
parser copies the URL whole into the 100-byte ``url[]`` on the stack, as Harmony's SYS_OTA_ParseJsonContent
copies it into ``ota_server_url`` (quirk svc-url-overflows-digest), so a manifest URL of 100 bytes or more
overflows it. And a planted rare branch: a server version of 0 or below. These tests build the example with
real gcc (``-m32`` when the multilib runtimes are there) and show that a sanitizer build finds the overflow
with its C stack in the example's file (a board step, ``otaloop run``'s scenario result, the fuzzer's
hazard and its replay token), that a URL of 99 bytes is clean, and that a coverage build's counts add up
across runs, survive a power cut, leave the planted branch unreached by the library and reach it with its
input. Builds the machine cannot make skip with the reason.

With ``OTALOOP_HARMONY_APPS`` set (skipped with that reason otherwise), Harmony's own application built with
AddressSanitizer shows the findings of docs/findings.md: every DB entry reads past a heap block in csv.c's
``csv_realloc``, and a manifest URL longer than the whole ``ota_params`` object overflows it in
``SYS_OTA_ParseJsonContent``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import pickle
from pathlib import Path
from typing import Any

import pytest

from bootloader_model.board.virtual_board import AppState, BoardConfig, VirtualBoard
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from bootloader_model.storage.nor_flash import FaultPlan
from conftest import assert_memory_error_hazard, harmony_apps, line_of, require_sanitizers, require_tool
from harness.cli import main
from harness.fuzzing.machine import BoardStateMachine
from harness.fuzzing.strategies import LONG_URL, ImageSpec, ManifestSpec
from harness.image.server import ImageServer
from harness.native import coverage
from harness.native.application_program import NativeApplication
from harness.native.build import (
    EXAMPLE_APP_DIR,
    Instrumentation,
    build_application,
    build_example_application,
    locate_application,
)
from harness.native.build_record import NativeBuild
from harness.native.programs import application_from_spec
from harness.native.sanitizers import NativeMemoryError
from harness.scenarios.runner import run_suite, select, virtual_provider

SYS_OTA_C = EXAMPLE_APP_DIR / "sys_ota.c"
OVERFLOW = line_of(SYS_OTA_C, "memcpy(url, at + 1, n);")
PLANTED = line_of(SYS_OTA_C, "if (version <= 0) {")
PLANTED_BODY = line_of(SYS_OTA_C, "ota.bad_versions++;")
CHECK_START = line_of(SYS_OTA_C, "notify(SYS_OTA_UPDATE_CHECK_START);")
WRITE_CHUNK = line_of(SYS_OTA_C, "size_t n = SYS_FS_FileWrite(ota.file, ota.body, ota.body_len);")
DOWNLOADED = line_of(SYS_OTA_C, "notify(SYS_OTA_DOWNLOAD_SUCCESS);")


@pytest.fixture(scope="module")
def sanitized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_sanitizers()
    cache = tmp_path_factory.mktemp("example-app-asan")
    build_example_application(cache, checks=Instrumentation.of("address,undefined"))
    return cache


@pytest.fixture(scope="module")
def covered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("cc", "gcc")
    if importlib.util.find_spec("gcovr") is None:
        pytest.skip("gcovr is not installed (pip install 'otaloop[coverage]')")
    cache = tmp_path_factory.mktemp("example-app-coverage")
    build_example_application(cache, checks=Instrumentation.of(coverage=True))
    return cache


@pytest.fixture
def server() -> Any:
    with ImageServer() as srv:
        yield srv


def _board(cache: Path, manifest_url: str) -> VirtualBoard:
    board = VirtualBoard(BoardConfig(application=application_from_spec(f"native:{cache}")))
    board.provision(build_app(AppDescriptor(version=1, manifest_url=manifest_url), 30_000))
    return board


def _offer(server: ImageServer, version: int, url_length: int | None = None) -> None:
    """Serve v``version`` and a manifest naming it; its URL padded to ``url_length`` bytes (query string)."""
    image = build_app(AppDescriptor(version=max(version, 2), manifest_url=server.url("/ota.json")), 30_000)
    url, digest = server.put_image(f"app_v{version}.bin", image)
    if url_length is not None:
        url = f"{url}?{'p' * (url_length - len(url) - 1)}"
        assert len(url) == url_length
    server.put_manifest(version, url, digest)


# ------------------------------------------------------------------------------------------ --sanitize
def test_the_application_build_records_its_sanitizers_and_leaves_the_shims_alone(sanitized: Path) -> None:
    build = NativeBuild.load(sanitized)
    assert (build.role, build.sanitize) == ("application", ("address", "undefined"))
    objects = {o.name.split("-")[0]: o.read_bytes() for o in (sanitized / "objects").glob("*.o")}
    assert b"__asan_report" in objects["sys_ota"] and b"__asan_report" in objects["app"]
    assert b"__asan_report" not in objects["otaloop_app_runner"]  # otaloop's shims stay uninstrumented
    assert b"__asan_report" not in objects["example_sha256"]
    env = NativeApplication(sanitized).env
    assert env is not None and "handle_segv=1" in env["ASAN_OPTIONS"]  # no handler of its own: ASan reports a SEGV


def test_a_url_of_99_bytes_fits(sanitized: Path, server: ImageServer) -> None:
    board = _board(sanitized, server.url("/ota.json"))
    _offer(server, 2, url_length=99)
    board.power_on()
    assert board.run_until(lambda: "Server app version: 2" in board.text, 120), board.text
    assert board.state is AppState.RUNNING


def test_the_planted_overflow_is_reported_with_its_c_stack(sanitized: Path, server: ImageServer) -> None:
    board = _board(sanitized, server.url("/ota.json"))
    _offer(server, 2, url_length=120)
    board.power_on()
    with pytest.raises(NativeMemoryError) as caught:
        board.run_for(120)
    report = caught.value.report
    assert (report.tool, report.kind, report.access) == (
        "AddressSanitizer",
        "stack-buffer-overflow",
        "WRITE of size 120",
    )
    own = report.own_frames
    assert [f.function for f in own[:3]] == ["json_url", "parse_manifest", "SYS_OTA_Tasks"]
    assert (own[0].file, own[0].line) == (str(SYS_OTA_C), OVERFLOW)
    assert f"in json_url at {SYS_OTA_C}:{OVERFLOW}" in str(caught.value)
    assert f"(native application {sanitized})" in str(caught.value)
    assert "'url'" in report.text  # ASan names the variable
    again = pickle.loads(pickle.dumps(caught.value))  # a sweep worker's error crosses back whole
    assert isinstance(again, NativeMemoryError) and str(again) == str(caught.value) and again.role == "application"


def test_the_fuzzer_s_boards_record_it_as_a_hung_run(sanitized: Path, server: ImageServer) -> None:
    program = NativeApplication(sanitized, memory_errors="stuck")
    board = VirtualBoard(BoardConfig(application=program))
    board.provision(build_app(AppDescriptor(version=1, manifest_url=server.url("/ota.json")), 30_000))
    _offer(server, 2, url_length=120)
    board.power_on()
    board.run_for(120)
    assert board.state is AppState.HUNG
    assert [r.kind for r in program.memory_errors_found] == ["stack-buffer-overflow"]


def test_otaloop_run_fails_the_scenario_with_the_report(sanitized: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    put_manifest = ImageServer.put_manifest

    def long_urls(self: ImageServer, version: int, url: str, digest: str, **kw: Any) -> str:
        return put_manifest(self, version, f"{url}?{'p' * 100}", digest, **kw)

    monkeypatch.setattr(ImageServer, "put_manifest", long_urls)  # every manifest URL 100+ bytes
    provider = virtual_provider(link="inproc", application=f"native:{sanitized}")
    (result,) = run_suite(select(["c_update"]), provider)
    assert result.status == "FAIL"
    first = result.detail.splitlines()[0]
    assert first.startswith("NativeMemoryError: memory error found by AddressSanitizer: stack-buffer-overflow")
    assert f"in json_url at {SYS_OTA_C}:{OVERFLOW}" in first


def test_fuzz_names_the_hazard_and_its_token_replays_it(sanitized: Path) -> None:
    machine = BoardStateMachine.with_application(f"native:{sanitized}")()
    machine.setup()
    machine.serve(ImageSpec(3, size=8192), ManifestSpec(LONG_URL))
    machine.wait(200)
    assert_memory_error_hazard(machine, "json_url")


# ------------------------------------------------------------------------------------------ --coverage
def _sys_ota(cache: Path) -> coverage.FileCoverage:
    return coverage.report(cache).file("sys_ota.c")


def test_a_fresh_application_build_has_reached_nothing(covered: Path) -> None:
    coverage.reset(covered)
    found = coverage.report(covered)
    assert [f.path for f in found.files] == ["app.c", "app_ota.c", "initialization.c", "sys_ota.c"]
    c = found.file("sys_ota.c")
    assert c.lines_covered == 0 and c.lines_total > 200 and c.branches_total > 100


def test_runs_add_up_and_a_power_cut_keeps_the_counts_up_to_it(covered: Path, server: ImageServer) -> None:
    coverage.reset(covered)
    for expected in (1, 2):
        board = _board(covered, server.url("/ota.json"))
        board.power_on()
        assert board.run_until(lambda b=board: "SYS_OTA_UPDATE_CHECK_FAILED" in b.text, 120), board.text
        board.power_off()  # the helper writes its counts; a second run's are added, not overwritten
        assert _sys_ota(covered).lines[CHECK_START] == expected

    coverage.reset(covered)
    _offer(server, 2)
    board = _board(covered, server.url("/ota.json"))
    board.power_on()
    assert board.run_until(lambda: "SYS_OTA_DOWNLOAD_START" in board.text, 120), board.text
    board.arm_cut("external", FaultPlan(6))  # a few flash operations into the download
    board.run_for(60)
    assert board.last_cut is not None and board.state is AppState.OFF
    c = _sys_ota(covered)
    assert c.lines[WRITE_CHUNK] > 0  # the download ran until the cut ...
    assert c.lines[DOWNLOADED] == 0  # ... and not one line further


def test_the_planted_branch_is_unreached_by_the_library_and_reached_by_its_input(
    covered: Path, server: ImageServer
) -> None:
    coverage.reset(covered)
    provider = virtual_provider(link="inproc", application=f"native:{covered}")
    (result,) = run_suite(select(["b_no_update"]), provider)  # the example has no console: no otactl scenarios
    assert result.status == "PASS", result.detail
    c = _sys_ota(covered)
    assert c.lines[PLANTED] > 0 and c.lines[PLANTED_BODY] == 0
    before = coverage.report(covered).reached_branches()

    board = _board(covered, server.url("/ota.json"))
    _offer(server, 0)
    board.power_on()
    assert board.run_until(lambda: "SYS_OTA_UPDATE_NOTAVAILABLE" in board.text, 120), board.text
    board.power_off()
    assert _sys_ota(covered).lines[PLANTED_BODY] == 1
    new = coverage.report(covered).reached_branches() - before
    assert ("sys_ota.c", PLANTED, 0) in new


def test_cli_reports_an_application_cache(covered: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["native", "coverage", str(covered)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split() == ["file", "lines", "%", "branches", "%"]
    assert any(r.startswith("sys_ota.c") for r in rows)


# ------------------------------------------------------------------------------------ Harmony's application


@pytest.fixture(scope="module")
def harmony_asan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = harmony_apps()
    require_sanitizers()
    cache = tmp_path_factory.mktemp("harmony-app-asan")
    build_application(locate_application(root), cache, checks=Instrumentation.of("address"))
    return cache


def _harmony_report(cache: Path, server: ImageServer, url_length: int | None) -> NativeMemoryError:
    """Harmony's application offered v2 under a URL of ``url_length`` bytes (a padded folder name, so the file
    name stays app_v2.bin; None: the short URL): the error that ends its run."""
    board = _board(cache, server.url("/ota.json"))
    image = build_app(AppDescriptor(version=2, manifest_url=server.url("/ota.json")), 30_000)
    folder = "d" if url_length is None else "d" * (url_length - len(server.url("/d/app_v2.bin")) + 1)
    url = server.put(f"/{folder}/app_v2.bin", image)
    assert url_length is None or len(url) == url_length
    server.put_manifest(2, url, hashlib.sha256(image).hexdigest())
    board.power_on()
    with pytest.raises(NativeMemoryError) as caught:
        board.run_for(300)
    return caught.value


def _reported_line(error: NativeMemoryError) -> str:
    top = error.report.own_frames[0]
    return Path(top.file).read_text(errors="replace").splitlines()[top.line - 1]


def test_every_db_entry_of_harmonys_application_reads_past_a_heap_block(
    harmony_asan: Path, server: ImageServer
) -> None:
    error = _harmony_report(harmony_asan, server, None)
    report = error.report
    assert (report.kind, report.access) == ("heap-buffer-overflow", "READ of size 11")  # "app_v2.bin" and its NUL
    functions = [f.function for f in report.own_frames]
    assert functions[:4] == ["csv_realloc", "set_field", "csv_set_field", "OTADbNewEntry"]
    assert report.own_frames[0].file.endswith("/csv/csv.c") and "memcpy" in _reported_line(error)


def test_a_url_longer_than_ota_params_overflows_it_in_sys_ota_parse(harmony_asan: Path, server: ImageServer) -> None:
    error = _harmony_report(harmony_asan, server, 220)
    report = error.report
    assert (report.kind, report.access) == ("global-buffer-overflow", "WRITE of size 221")
    top = report.own_frames[0]
    assert top.function == "SYS_OTA_ParseJsonContent" and top.file.endswith("/system/ota/sys_ota.c")
    assert "memcpy" in _reported_line(error) and "ota_server_url" in _reported_line(error)
    assert "'ota_params'" in report.text  # ASan names the object the copy ran off


def test_harmonys_application_coverage_names_every_file_in_its_tree(
    tmp_path: Path, server: ImageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    root = harmony_apps()
    require_tool("cc", "gcc")
    if importlib.util.find_spec("gcovr") is None:
        pytest.skip("gcovr is not installed (pip install 'otaloop[coverage]')")
    build_application(locate_application(root), tmp_path, checks=Instrumentation.of(coverage=True))
    board = _board(tmp_path, server.url("/ota.json"))
    _offer(server, 2)
    board.power_on()
    assert board.run_until(lambda: "SYS_OTA_DB_ENTRY_SUCCESS" in board.text, 300), board.text
    board.power_off()
    found = coverage.report(tmp_path)
    assert all(not Path(f.path).is_absolute() for f in found.files)  # cjson.c's "cJSON.h" is the tree's cjson.h
    assert found.file("cjson/cjson.h").lines_covered > 0
    parse = found.file("system/ota/sys_ota.c")
    assert 0 < parse.lines_covered < parse.lines_total


def test_cli_builds_an_application_with_both_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_sanitizers()
    cache = tmp_path / "app"
    argv = ["native", "build", "--application", "--example", "--sanitize", "address,undefined", "--coverage"]
    assert main([*argv, "--cache", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "sanitizers: address, undefined (a memory error during a run is reported with its C stack)" in out
    assert f"coverage: every run adds its counts; see them with otaloop native coverage {cache}" in out
    build = NativeBuild.load(cache)
    assert (build.role, build.sanitize, build.coverage) == ("application", ("address", "undefined"), True)
    assert main(["native", "build", "--application", "--example", "--sanitize", "thread"]) == 2
