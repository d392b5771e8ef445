"""``otaloop native build --sanitize memcheck``: every boot under valgrind's memcheck, on the example and on Harmony.

The example bootloader carries a planted uninitialised read: SELECT counts the chosen version's digits through
a helper that sets the count only up to 999 and then tests it, so only a database row with a version above 999
reads it. These tests build the example statically (real gcc, ``-m32`` when it links), run the scenario library
clean under memcheck, show the planted input ending the boot with memcheck's report and its C stack in the
example's file, and the fuzzer naming the hazard with a replay token. Without valgrind (or a 32-bit static C
library) they skip and say why. With ``OTALOOP_HARMONY_APPS`` set, Harmony's own bootloader is built the same
way and its first boot, which formats the external flash, is reported at ``f_mkfs``'s read of the format
parameter the bootloader never set. The report parser is also checked on a stored log, without valgrind.
"""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from bootloader_model.board.virtual_board import AppState, BoardConfig, VirtualBoard
from bootloader_model.bootloader.result import Outcome
from bootloader_model.errors import CallerError
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from conftest import NATIVE_URL as URL
from conftest import (
    assert_checked_scenarios_pass,
    booted_native_board,
    harmony_apps,
    plant_db_version,
    require_gcc_links,
    require_tool,
)
from harness.cli import main as cli_main
from harness.fuzzing.hazards import HazardFound
from harness.fuzzing.machine import BoardStateMachine
from harness.fuzzing.strategies import ImageSpec
from harness.image.server import ImageServer
from harness.native import memcheck
from harness.native.build import (
    EXAMPLE_APP_DIR,
    EXAMPLE_DIR,
    Instrumentation,
    build,
    build_application,
    build_example,
    locate,
    locate_application,
)
from harness.native.build_record import NativeBuild
from harness.native.programs import application_from_spec, bootloader_from_spec
from harness.native.sanitizers import NativeMemoryError, compile_flags, link_flags, parse_sanitize

EXAMPLE_C = str(EXAMPLE_DIR / "example_bootloader.c")
SYS_OTA_C = EXAMPLE_APP_DIR / "sys_ota.c"
UNINITIALISED = "Conditional jump or move depends on uninitialised value(s)"


def _valgrind() -> None:
    require_tool("cc", "gcc")
    if shutil.which("valgrind") is None or not Path("/usr/include/valgrind/memcheck.h").is_file():
        pytest.skip("valgrind is not installed (apt-get install valgrind): --sanitize memcheck runs under it")
    require_gcc_links(["-static"], "static programs", "gcc-multilib")


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _valgrind()
    cache = tmp_path_factory.mktemp("example-memcheck")
    build_example(cache, checks=Instrumentation.of("memcheck"))
    return cache


def test_memcheck_names_and_flags() -> None:
    assert parse_sanitize("memcheck") == ("memcheck",)
    assert parse_sanitize("memcheck,undefined") == ("undefined", "memcheck")
    with pytest.raises(CallerError, match="memcheck and address do not combine"):
        parse_sanitize("address,memcheck")
    with pytest.raises(CallerError, match="does not combine with --coverage"):
        Instrumentation.of("memcheck", coverage=True)
    assert compile_flags(("memcheck",)) == ["-fno-omit-frame-pointer", "-g"]  # no -fsanitize: valgrind runs it
    assert link_flags(("memcheck",)) == ["-static"]
    assert link_flags(("undefined", "memcheck")) == ["-fsanitize=undefined", "-static"]


LOG = """\
==4242== Conditional jump or move depends on uninitialised value(s)
==4242==    at 0x8054662: f_mkfs (/src/config/fs/ff.c:5923)
==4242==    by 0x8050081: FATFS_mkfs (/src/config/fs/sys_fs_fat_interface.c:669)
==4242==    by 0x8073BD0: strlen (in /cache/bootloader)
==4242==    by 0x8057EC1: run (/otaloop/c/otaloop_runner.c:669)
==4242==  Uninitialised value was created by a stack allocation
==4242==    at 0x80497B6: open_file (/src/bootloader/bootloader_wolfcrypt.c:431)
==4242==
==4242==
==4242== Exit program on first error (--exit-on-first-error=yes)
"""


def test_a_memcheck_log_becomes_a_report_with_its_origin() -> None:
    report = memcheck.parse_log(LOG, [Path("/src")])
    assert report is not None
    assert (report.tool, report.kind) == ("Memcheck", UNINITIALISED)
    assert report.access == "created by a stack allocation at open_file /src/bootloader/bootloader_wolfcrypt.c:431"
    assert [(f.function, f.file, f.line, f.own) for f in report.frames] == [
        ("f_mkfs", "/src/config/fs/ff.c", 5923, True),
        ("FATFS_mkfs", "/src/config/fs/sys_fs_fat_interface.c", 669, True),
        ("strlen", "", 0, False),
        ("run", "/otaloop/c/otaloop_runner.c", 669, False),
    ]
    assert report.headline().endswith("in f_mkfs at /src/config/fs/ff.c:5923")
    assert memcheck.parse_log("==1== \n==1== Exit program on first error\n") is None


def test_the_build_records_memcheck_and_is_static(checked: Path) -> None:
    built = NativeBuild.load(checked)
    assert built.sanitize == ("memcheck",)
    with built.executable.open("rb") as exe:  # static: no dynamic loader, whose symbols valgrind would need
        assert all(seg["p_type"] != "PT_INTERP" for seg in ELFFile(exe).iter_segments())
    program = bootloader_from_spec(f"native:{checked}")
    assert "--track-origins=yes" in program.launcher and program.pass_cpu_s > 2  # type: ignore[attr-defined]
    assert (checked / memcheck.SUPPRESSIONS_FILE).read_text().count("fun:after_pass") == 3


def test_scenario_boots_run_clean_under_memcheck(checked: Path) -> None:
    assert_checked_scenarios_pass(f"native:{checked}")


def test_version_999_is_counted(checked: Path) -> None:
    board = booted_native_board(checked)
    plant_db_version(board.internal, board.external, 999)
    board.power_on()
    assert board.boots[-1].outcome is Outcome.JUMP and board.app_version == 999


def test_the_planted_uninitialised_read_is_reported_with_its_c_stack(checked: Path) -> None:
    board = booted_native_board(checked)
    plant_db_version(board.internal, board.external, 1000)
    with pytest.raises(NativeMemoryError) as caught:
        board.power_on()
    report = caught.value.report
    assert (report.tool, report.kind) == ("Memcheck", UNINITIALISED)
    assert report.access.startswith("created by a stack allocation at ")
    own = report.own_frames
    assert [f.function for f in own[:2]] == ["select_image", "SYS_Tasks"]
    assert all(f.file == EXAMPLE_C and f.line > 0 for f in own)
    lines = Path(EXAMPLE_C).read_text().splitlines()
    assert "if (digits > 3)" in lines[own[0].line - 1]
    assert f"in select_image at {EXAMPLE_C}:{own[0].line}" in str(caught.value)
    again = pickle.loads(pickle.dumps(caught.value))
    assert isinstance(again, NativeMemoryError) and again.report == report
    # each boot's log is read and removed; what stays are the fork servers' own, empty logs
    assert all(log.stat().st_size == 0 for log in (checked / memcheck.LOG_DIR).glob("*.log"))


def test_fuzz_names_the_hazard_and_its_token_replays_it(checked: Path) -> None:
    machine = BoardStateMachine.with_bootloader(f"native:{checked}")()
    machine.setup()
    machine.wait(200)
    machine.serve(ImageSpec(1000, size=8192))  # the service installs it; the next boot selects v1000
    machine.wait(200)
    machine._close_step()
    with pytest.raises(HazardFound) as caught:
        machine.safety()
    found = caught.value
    assert found.hazard.name == "native-memory-error"
    assert "found by Memcheck" in found.seen and "in select_image at" in found.seen
    replayed = BoardStateMachine.replay(found.token)
    assert replayed.hazard is not None and replayed.hazard.hazard.name == "native-memory-error"


# ------------------------------------------------------------------------------- the user's suppressions
SET_ASIDE = """\
{
   the-planted-version-count-we-know-about
   Memcheck:Cond
   fun:select_image
}
"""


def test_a_users_suppression_sets_a_known_finding_aside(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _valgrind()
    mine = tmp_path / "known.supp"
    mine.write_text(SET_ASIDE)
    cache = tmp_path / "cache"
    argv = ["native", "build", "--example", "--sanitize", "memcheck", "--cache", str(cache)]
    assert cli_main([*argv, "--suppressions", str(mine)]) == 0
    assert f"memcheck suppressions: {cache / 'suppressions' / '01-known.supp'}" in capsys.readouterr().out
    board = booted_native_board(cache)
    plant_db_version(board.internal, board.external, 1000)
    board.power_on()  # the planted read is set aside: the boot selects v1000 and jumps
    assert board.boots[-1].outcome is Outcome.JUMP and board.app_version == 1000
    assert cli_main(argv) == 0  # a rebuild without the option drops it
    assert memcheck.user_suppressions(cache) == []


def test_suppression_files_are_checked_before_the_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _valgrind()
    broken = tmp_path / "broken.supp"
    broken.write_text("{\n   half a suppression\n")
    cache = tmp_path / "cache"
    argv = ["native", "build", "--example", "--cache", str(cache), "--suppressions"]
    assert cli_main([*argv, str(broken), "--sanitize", "memcheck"]) == 2
    err = capsys.readouterr().err
    assert f"--suppressions {broken}: valgrind rejects it" in err and "near line" in err
    assert cli_main([*argv, str(tmp_path / "missing.supp"), "--sanitize", "memcheck"]) == 2
    assert "missing.supp: no such file" in capsys.readouterr().err
    assert cli_main([*argv, str(broken)]) == 2
    assert "--suppressions applies to --sanitize memcheck builds" in capsys.readouterr().err
    assert not cache.exists()  # nothing was built


# ---------------------------------------------------------------------------------- application builds
@pytest.fixture(scope="module")
def checked_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _valgrind()
    cache = tmp_path_factory.mktemp("example-app-memcheck")
    argv = ["native", "build", "--application", "--example", "--sanitize", "memcheck", "--cache", str(cache)]
    assert cli_main(argv) == 0
    return cache


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with ImageServer() as srv:
        yield srv


def _app_board(cache: Path, server: ImageServer, offered: int) -> VirtualBoard:
    """A board running ``cache``'s application (v1), with v``offered`` and its manifest served."""
    board = VirtualBoard(BoardConfig(application=application_from_spec(f"native:{cache}")))
    board.provision(build_app(AppDescriptor(version=1, manifest_url=server.url("/ota.json")), 30_000))
    image = build_app(AppDescriptor(version=offered, manifest_url=server.url("/ota.json")), 30_000)
    url, digest = server.put_image(f"app_v{offered}.bin", image)
    server.put_manifest(offered, url, digest)
    return board


def test_the_application_build_records_memcheck_and_is_static(checked_app: Path) -> None:
    build = NativeBuild.load(checked_app)
    assert (build.role, build.sanitize) == ("application", ("memcheck",))
    with build.executable.open("rb") as f:
        assert not any(seg["p_type"] == "PT_INTERP" for seg in ELFFile(f).iter_segments())


def test_an_update_runs_clean_under_memcheck(checked_app: Path, server: ImageServer) -> None:
    board = _app_board(checked_app, server, 2)
    board.power_on()
    assert board.run_until(lambda: "APP: version 2" in board.text, 300), board.text
    assert board.state is AppState.RUNNING


def test_the_planted_manifest_version_is_reported_with_its_c_stack(checked_app: Path, server: ImageServer) -> None:
    board = _app_board(checked_app, server, 1000)
    board.power_on()
    with pytest.raises(NativeMemoryError) as caught:
        board.run_for(120)
    report = caught.value.report
    assert (report.tool, report.kind) == ("Memcheck", UNINITIALISED)
    assert report.access.startswith("created by a stack allocation at ")
    own = report.own_frames
    assert [f.function for f in own[:2]] == ["parse_manifest", "SYS_OTA_Tasks"]
    lines = SYS_OTA_C.read_text().splitlines()
    assert "if (digits > 3)" in lines[own[0].line - 1]
    assert f"(native application {checked_app})" in str(caught.value)
    assert all(log.stat().st_size == 0 for log in (checked_app / memcheck.LOG_DIR).glob("*.log"))


def test_harmonys_application_programs_boot_control_from_a_buffer_it_never_filled(
    tmp_path: Path, server: ImageServer
) -> None:
    """Quirk core-boot-control-stale-buffer, found by memcheck: the OTA core's SetImageStatus copies boot
    control into an OSAL_Malloc'd buffer that covers more than it fills, and programs all of it."""
    root = harmony_apps()
    _valgrind()
    build_application(locate_application(root), tmp_path, checks=Instrumentation.of("memcheck"))
    board = _app_board(tmp_path, server, 2)
    board.power_on()
    with pytest.raises(NativeMemoryError) as caught:
        board.run_for(300)
    report = caught.value.report
    assert report.kind == "Syscall param write(buf) points to uninitialised byte(s)"  # the flash program
    assert [(f.function, Path(f.file).name) for f in report.own_frames[:2]] == [
        ("INT_Flash_Write", "int_flash.c"),
        ("OTA_Task_SetImageStatus", "ota.c"),
    ]
    assert report.access.startswith("created by a heap allocation at OTA_Task_SetImageStatus ")
    assert report.access.endswith("ota.c:1409")
    assert board.text.endswith("SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS\r\n")  # downloaded and verified first


def test_harmonys_first_boot_reads_the_format_parameters_it_never_set(tmp_path: Path) -> None:
    """The bootloader's open_file() sets only fmt and au_size of the SYS_FS_FORMAT_PARAM it hands f_mkfs."""
    root = harmony_apps()
    _valgrind()
    build(locate(root), tmp_path, checks=Instrumentation.of("memcheck"))
    board = VirtualBoard(BoardConfig(bootloader=bootloader_from_spec(f"native:{tmp_path}"), timed_flash=False))
    board.provision(build_app(AppDescriptor(version=1, manifest_url=URL), 16 * 1024))
    with pytest.raises(NativeMemoryError) as caught:
        board.power_on()  # external flash erased: the factory backup formats the volume first
    report = caught.value.report
    assert report.kind == UNINITIALISED
    top = report.own_frames[0]
    assert (top.function, Path(top.file).name, top.line) == ("f_mkfs", "ff.c", 5923)
    assert (
        Path(top.file).read_text(errors="replace").splitlines()[top.line - 1].strip().startswith("if (sz_blk == 0)")
    )  # sz_blk = opt->align, one line before
    assert [f.function for f in report.own_frames[1:5]] == [
        "FATFS_mkfs",
        "SYS_FS_DriveFormat",
        "open_file",
        "Bootloader_Task_FactoryReset",
    ]
    assert report.access.startswith("created by a stack allocation at open_file ")
    assert report.access.endswith("bootloader_wolfcrypt.c:431")
