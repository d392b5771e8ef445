"""The user's application C code on the virtual board: otaloop's example application built with real gcc,
run as a helper process per run, updating v1 -> v2 over real HTTP on 127.0.0.1 (with the model bootloader
and with the native example bootloader), a power cut inside the download at a flash operation, the SWITCH1
trigger, the loopback-only network policy in the C code, and `otaloop board --application` with
`otaloop switch` through a served board's control socket; and the comparison with the model application."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootloader_model.board.virtual_board import AppState, BoardConfig, VirtualBoard
from bootloader_model.errors import CallerError
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, HEADER_SIZE, PAGE_SIZE, BootControl
from bootloader_model.quirks import CORRECTED, HARMONY
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.nor_flash import CutMode, FaultPlan
from conftest import harmony_apps, publish_app_v2, require_tool
from harness.board_link.console import Console
from harness.board_link.driver import BoardDriver
from harness.board_link.transport import open_port
from harness.fuzzing import steps as steps_mod
from harness.fuzzing.search import find_hazards
from harness.image.server import ImageServer
from harness.native.app_compare import Outcome, compare_outcomes, normalise, run_app_compare, sweep_pairs
from harness.native.application_program import NativeApplication, NativeRun
from harness.native.bootloader_program import NativeProgram
from harness.native.build import build_application, build_example, build_example_application, locate_application
from harness.native.compare import sweep_cases
from harness.native.programs import application_from_spec, bootloader_from_spec
from harness.scenarios.runner import run_suite, select, virtual_provider
from harness.served_board.power_channel import ChannelPower, ChannelSwitch
from harness.sweeps.fault_ids import Params

DB = "/mnt/myDrive1/ota/image_database.csv"
CLI = [sys.executable, "-m", "harness.cli"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


@pytest.fixture(scope="module")
def app_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("cc", "gcc")
    cache = tmp_path_factory.mktemp("example-app")
    build_example_application(cache)
    return cache


@pytest.fixture(scope="module")
def bootloader_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("cc", "gcc")
    cache = tmp_path_factory.mktemp("example-bootloader")
    build_example(cache)
    return cache


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with ImageServer() as srv:
        yield srv


def _board(app_cache: Path, url: str, *, bootloader: str = "model", **descriptor: object) -> VirtualBoard:
    board = VirtualBoard(
        BoardConfig(
            bootloader=bootloader_from_spec(bootloader), application=application_from_spec(f"native:{app_cache}")
        )
    )
    board.provision(build_app(AppDescriptor(version=1, manifest_url=url, **descriptor), 30_000))  # type: ignore[arg-type]
    return board


def _db(board: VirtualBoard) -> bytes:
    fs = ExternalFlash(board.external)
    fs.mount()
    return fs.open(DB, "r").read(4096)


def _boot_control(board: VirtualBoard) -> BootControl:
    return BootControl.decode(board.internal.read(BOOT_CTL_PHYS, HEADER_SIZE))


def _lines(board: VirtualBoard) -> list[str]:
    return [line.strip() for line in board.text.splitlines() if line.strip()]


@pytest.mark.parametrize("bootloader", ["model", "native"])
def test_update_v1_to_v2_over_http(
    app_cache: Path, bootloader_cache: Path, server: ImageServer, bootloader: str
) -> None:
    url = server.url("/ota.json")
    spec = "model" if bootloader == "model" else f"native:{bootloader_cache}"
    board = _board(app_cache, url, bootloader=spec)
    digest = publish_app_v2(server, url)
    board.power_on()
    assert isinstance(board.app_run, NativeRun)
    assert board.run_until(lambda: "APP: version 2" in board.text, 300), board.text
    board.run_for(5)
    lines = _lines(board)
    start = lines.index("APP: version 1")
    assert lines[start : start + 6] == [
        "APP: version 1",
        "SYS OTA : IP address obtained for preferred interface for OTA",
        "SYS_OTA_UPDATE_CHECK_START",
        f"SYS OTA : Connecting to server : {url}",
        "SYS_OTA : JSON parsing",
        f'Server app URL "{server.url("/app_v2.bin")}"',
    ]
    tail = lines[lines.index("SYS_OTA_UPDATE_AVAILABLE") :]
    assert tail[:7] == [
        "SYS_OTA_UPDATE_AVAILABLE",
        f"SYS OTA : Starting OTA with server: {server.url('/app_v2.bin')}",
        "SYS_OTA_DOWNLOAD_START",
        "SYS_OTA_DOWNLOAD_SUCCESS",
        "SYS_OTA_IMAGE_DIGEST_VERIFY_START",
        "SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS",
        "SYS_OTA_DB_ENTRY_SUCCESS",
    ]
    assert "SYS_OTA_UPDATE_NOTAVAILABLE" in lines[lines.index("APP: version 2") :]
    # v2 confirmed itself at boot, as Harmony's service does: DB row f8, boot control F8 with version 2.
    assert _db(board) == f"app_v2.bin,f8,2,0x01,{digest}".encode()
    header = _boot_control(board)
    assert (header.status, header.version, header.type) == (0xF8, 2, 0x01)
    assert [e.kind for e in board.history].count("software-reset") == 1
    assert board.blocked_hosts == []
    board.power_off()
    assert board.app_run is None


def test_a_power_cut_inside_the_download_recovers(app_cache: Path, server: ImageServer) -> None:
    url = server.url("/ota.json")
    publish_app_v2(server, url, size=120_000)
    reference = _board(app_cache, url)
    reference.power_on()
    assert reference.run_until(lambda: "SYS_OTA_DOWNLOAD_START" in reference.text, 300)
    first = reference.external.op_count
    assert reference.run_until(lambda: "SYS_OTA_DOWNLOAD_SUCCESS" in reference.text, 300)
    last = reference.external.op_count
    reference.power_off()
    assert last - first > 20  # a 120 KB download is many SST26 operations

    board = _board(app_cache, url)
    board.power_on()
    assert board.run_until(lambda: "SYS_OTA_DOWNLOAD_START" in board.text, 300)
    board.arm_cut("external", FaultPlan((last - first) // 2, CutMode.TORN, seed=3))
    assert board.run_until(lambda: not board.powered, 300), board.text
    assert board.last_cut is not None
    assert "SYS_OTA_DOWNLOAD_SUCCESS" not in board.text
    # Power returns: v1 boots again, checks again, downloads again, and v2 runs.
    board.power_on()
    assert board.run_until(lambda: "APP: version 2" in board.text, 400), board.text[-3000:]
    assert _boot_control(board).version == 2
    board.power_off()


def test_switch1_triggers_the_update_check(app_cache: Path, server: ImageServer) -> None:
    url = server.url("/ota.json")
    board = _board(app_cache, url, periodic_check=False)
    publish_app_v2(server, url, periodic_check=False)
    board.power_on()
    assert board.run_until(lambda: "IP address obtained" in board.text, 60)
    board.run_for(120)  # no periodic check: nothing happens until the button
    assert "SYS_OTA_UPDATE_CHECK_START" not in board.text
    board.click_switch()
    assert board.run_until(lambda: "APP: version 2" in board.text, 300), board.text
    lines = _lines(board)
    at = lines.index("APP: SWITCH1 pressed")
    assert lines[at + 1] == "SYS_OTA_UPDATE_CHECK_START"
    board.power_off()


def test_a_switch_press_before_the_network_is_refused(app_cache: Path, server: ImageServer) -> None:
    url = server.url("/ota.json")
    board = _board(app_cache, url, periodic_check=False)
    board.set_network(False)
    board.power_on()
    assert board.run_until(lambda: "APP: version 1" in board.text, 60)
    board.click_switch()
    assert board.run_until(lambda: "SYS_OTA_CtrlMsg refused" in board.text, 5), board.text
    board.power_off()


@pytest.mark.parametrize("host", ["192.168.43.173:8000", "ota.example.invalid"])
def test_the_loopback_policy_refuses_other_hosts_in_the_c_code(app_cache: Path, host: str) -> None:
    url = f"http://{host}/ota.json"  # Harmony's example SYS_OTA_URL is a LAN address
    board = _board(app_cache, url)
    board.power_on()
    assert board.run_until(lambda: "SYS_OTA_UPDATE_CHECK_FAILED" in board.text, 60), board.text
    assert board.blocked_hosts and board.blocked_hosts[0] == host.split(":")[0]
    assert board.state is AppState.RUNNING
    board.power_off()


def test_programs_refuse_a_cache_of_the_other_role(app_cache: Path, bootloader_cache: Path) -> None:
    with pytest.raises(CallerError, match="not a bootloader"):
        NativeProgram(app_cache)
    with pytest.raises(CallerError, match="not an application"):
        NativeApplication(bootloader_cache)
    with pytest.raises(CallerError, match="unknown application"):
        application_from_spec("python")
    assert application_from_spec("model") is None


def test_otaloop_board_runs_the_application_and_takes_switch_presses(
    app_cache: Path, server: ImageServer, tmp_path: Path
) -> None:
    url = server.url("/ota.json")
    factory = tmp_path / "app_v1.bin"
    factory.write_bytes(build_app(AppDescriptor(version=1, manifest_url=url, periodic_check=False), 30_000))
    publish_app_v2(server, url, periodic_check=False)
    ctl = tmp_path / "b.ctl"
    argv = [*CLI, "board", "--state", str(tmp_path / "state"), "--control", str(ctl), "--off"]
    argv += ["--factory", str(factory), "--application", f"native:{app_cache}", "--speed", "100"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("console: "), first
        assert proc.stdout.readline().strip() == f"control: {ctl}"
        port = open_port(first.split(" ", 1)[1].strip())
        ChannelPower(ctl).on()
        drv = BoardDriver(Console(port), boot_timeout=30)
        assert drv.wait_boot(app_timeout=60).app_version == 1
        drv.console.expect(b"IP address obtained", 30)
        ChannelSwitch(ctl).click(0.2)
        drv.console.expect(b"APP: SWITCH1 pressed", 30)
        assert drv.wait_boot(app_timeout=60).app_version == 2
        port.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def test_the_pytest_plugin_runs_tests_on_the_native_application(app_cache: Path, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_switch_while_checking_periodically(ota_board, ota_bench, ota_switch):
            assert b"APP: version 1" in ota_bench.console.buffer  # ota_board waited for it and the network
            ota_switch.click(0.2)
            ota_bench.console.expect(b"APP: SWITCH1 pressed", ota_bench.wall(5))
            # periodic checks keep the service out of IDLE: Harmony's service refuses control messages then
            ota_bench.console.expect(b"APP: SYS_OTA_CtrlMsg refused", ota_bench.wall(5))
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "otaloop", "--otaloop-link", "inproc", f"--otaloop-application=native:{app_cache}"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*application native:{app_cache}*"])
    bad = pytester.runpytest_subprocess("-p", "otaloop", f"--otaloop-application=native:{pytester.path}")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--otaloop-application*holds no native build*"])


def test_compare_reports_where_the_applications_differ(app_cache: Path) -> None:
    cases = list(sweep_cases(Params(), (CutMode.BEFORE,), stride=100))
    assert len(cases) >= 5
    n, found = run_app_compare(sweep_pairs(cases, NativeApplication(app_cache)))
    assert n == len(cases)
    # The model's OTA_CleanUp removes a .bin the DB does not name at boot; the example application has no
    # clean-up, so a state holding a partial download diverges on the console and the ota/ files.
    partial = [d for d in found if "SYS OTA : Removed file" in d.report()]
    assert partial, [d.report() for d in found]
    assert set(partial[0].aspects) == {"console", "ota/ files"}
    agree = [c.name for c in cases if c.name not in {d.case for d in found}]
    assert agree  # states without a stray file: both applications print and leave the same


def test_compare_agrees_with_itself_and_normalises_ports_and_digests() -> None:
    a = Outcome(normalise(b"GET http://127.0.0.1:4242/x " + b"ab" * 32 + b"\r\n"), None, b"\xff" * 16, ())
    b = Outcome(normalise(b"GET http://127.0.0.1:5151/x " + b"cd" * 32 + b"\n"), None, b"\xff" * 16, ())
    assert compare_outcomes("same", a, b) is None
    c = Outcome(a.console, b"row", a.boot_control, ())
    d = compare_outcomes("db", a, c)
    assert d is not None and d.aspects == ["image_database.csv"]
    assert "image_database.csv: model None" in d.report()


def test_otaloop_native_compare_application_is_a_failing_report(app_cache: Path) -> None:
    done = subprocess.run(
        [*CLI, "native", "compare", "--application", str(app_cache), "--cases", "scenarios", "--only", "b_no_update"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr  # b_no_update: both print the same checks
    assert "scenarios: 1 compared, 1 agree, 0 diverge" in done.stdout
    bad = subprocess.run(
        [*CLI, "native", "compare", "--application", str(app_cache.parent)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert bad.returncode == 2 and "otaloop native: error:" in bad.stderr


# ------------------------------------------------------------------------ Harmony's own application


@pytest.fixture(scope="module")
def harmony_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = harmony_apps()
    require_tool("cc", "gcc")
    cache = tmp_path_factory.mktemp("harmony-app")
    build_application(locate_application(root), cache)
    return cache


def _until_db_entry(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[: lines.index("SYS_OTA_DB_ENTRY_SUCCESS") + 1]


def test_harmonys_application_updates_as_the_model_does(harmony_app: Path, server: ImageServer) -> None:
    url = server.url("/ota.json")
    digest = publish_app_v2(server, url)
    runs = {}
    for spec in ("model", f"native:{harmony_app}"):
        board = VirtualBoard(BoardConfig(application=application_from_spec(spec)))
        board.provision(build_app(AppDescriptor(version=1, manifest_url=url), 30_000))
        board.power_on()
        assert board.run_until(lambda b=board: b.app_version == 2, 400), board.text
        board.run_for(5)
        runs[spec] = board
        assert _db(board) == f"app_v2.bin,f8,2,0x01,{digest}".encode()
        header = _boot_control(board)
        assert (header.status, header.version, header.type) == (0xF8, 2, 0x01)
        board.power_off()
    model, native = runs["model"], runs[f"native:{harmony_app}"]
    # Harmony's stock app.c prints no banner; the model's "APP: version N" is the only line it adds.
    expected = [line for line in _until_db_entry(model.text) if not line.startswith("APP: version")]
    assert _until_db_entry(native.text) == expected
    assert expected[-7:] == [
        "SYS_OTA_UPDATE_AVAILABLE",
        f"SYS OTA : Starting OTA with server: {server.url('/app_v2.bin')}",
        "SYS_OTA_DOWNLOAD_START",
        "SYS_OTA_DOWNLOAD_SUCCESS",
        "SYS_OTA_IMAGE_DIGEST_VERIFY_START",
        "SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS",
        "SYS_OTA_DB_ENTRY_SUCCESS",
    ]


def test_harmonys_boot_control_page_after_the_db_entry_is_the_models(harmony_app: Path, server: ImageServer) -> None:
    """Quirk core-boot-control-stale-buffer: Harmony's status step writes boot control from a malloc'd block it
    never initialises past the header; on the host that block is the digest check's freed buffer, which the
    model reproduces byte for byte but for the slot byte (a byte of a heap address, different every run)."""
    url = server.url("/ota.json")
    publish_app_v2(server, url)
    pages = {}
    for name, spec, profile in (
        ("native", f"native:{harmony_app}", HARMONY),
        ("harmony", "model", HARMONY),
        ("corrected", "model", CORRECTED),
    ):
        board = VirtualBoard(BoardConfig(application=application_from_spec(spec), profile=profile))
        board.provision(build_app(AppDescriptor(version=1, manifest_url=url, autoreset=False), 30_000))
        board.power_on()
        assert board.run_until(lambda b=board: "SYS_OTA_DB_ENTRY_SUCCESS" in b.text, 400), board.text
        board.run_for(2)
        pages[name] = board.internal.read(BOOT_CTL_PHYS, PAGE_SIZE)
        board.power_off()
    native, model = pages["native"], pages["harmony"]
    assert [i for i in range(PAGE_SIZE) if native[i] != model[i]] in ([], [1])
    assert native[256:] != b"\xff" * (PAGE_SIZE - 256)
    assert pages["corrected"][256:] == b"\xff" * (PAGE_SIZE - 256)
    assert pages["corrected"][:256] == model[:16] + bytes(240)


def test_harmonys_application_survives_a_cut_inside_its_download(harmony_app: Path, server: ImageServer) -> None:
    url = server.url("/ota.json")
    publish_app_v2(server, url, size=120_000)
    board = VirtualBoard(BoardConfig(application=application_from_spec(f"native:{harmony_app}")))
    board.provision(build_app(AppDescriptor(version=1, manifest_url=url), 30_000))
    board.power_on()
    assert board.run_until(lambda: "SYS_OTA_DOWNLOAD_START" in board.text, 300), board.text
    board.arm_cut("external", FaultPlan(15, CutMode.TORN, seed=1))
    assert board.run_until(lambda: not board.powered, 300), board.text
    assert "SYS_OTA_DOWNLOAD_SUCCESS" not in board.text
    board.power_on()
    assert board.run_until(lambda: board.app_version == 2, 600), board.text[-3000:]
    assert _boot_control(board).version == 2
    board.power_off()


def test_harmonys_lan_url_fails_like_an_unreachable_server(harmony_app: Path) -> None:
    board = VirtualBoard(BoardConfig(application=application_from_spec(f"native:{harmony_app}")))
    board.provision(build_app(AppDescriptor(version=1, manifest_url="http://192.168.76.183:8000/ota.json"), 30_000))
    board.power_on()
    assert board.run_until(lambda: "SYS_OTA_UPDATE_CHECK_FAILED" in board.text, 1000), board.text
    lines = _lines(board)
    at = lines.index("SYS OTA : Connecting to server : http://192.168.76.183:8000/ota.json")
    # No SYN is answered (none is sent): the connect never completes, the service's check stalls and aborts.
    assert lines[at + 1 : at + 3] == ["SYS_OTA : DOWNLOADER_HTTPClient_Abort", "SYS_OTA_UPDATE_CHECK_FAILED"]
    t = board.transcript
    base = board.printed - len(t)
    started = board.printed_at(base + t.find(b"SYS OTA : Connecting to server"))
    failed = board.printed_at(base + t.find(b"SYS_OTA_UPDATE_CHECK_FAILED"))
    assert started is not None and failed is not None and failed - started > 60  # not a quick refusal
    assert board.blocked_hosts == ["192.168.76.183"]
    board.power_off()


def test_an_application_tree_without_the_freertos_configuration_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "apps" / "wifi_ota_app_upgrade" / "firmware" / "src"
    (src / "config" / "my_board_bare").mkdir(parents=True)
    (src / "app.c").write_text("void APP_Tasks(void) {}\n")
    with pytest.raises(CallerError, match="pic32mz_w1_curiosity_freertos only; this tree has: my_board_bare"):
        locate_application(tmp_path)
    with pytest.raises(CallerError, match="holds no Harmony OTA application"):
        locate_application(tmp_path / "apps" / "wifi_ota_app_upgrade" / "firmware" / "src" / "config")


SWITCH1_MACROS = """
#ifndef SWITCH1_Get
#define SWITCH1_Get() ((PORTA >> 10) & 0x1U)
#define SWITCH1_STATE_PRESSED 0U
#endif
"""
SWITCH1_TRIGGER = """
            static uint32_t last_switch = 1U;
            uint32_t now_switch = SWITCH1_Get();
            if (now_switch == SWITCH1_STATE_PRESSED && last_switch != now_switch) {
                SYS_CONSOLE_PRINT("APP: SWITCH1 pressed\\r\\n");
                if (SYS_OTA_CtrlMsg(SYS_OTA_UPDATECHCK, NULL, 0) != SYS_OTA_SUCCESS) {
                    SYS_CONSOLE_PRINT("APP: SYS_OTA_CtrlMsg refused\\r\\n");
                }
            }
            last_switch = now_switch;
"""


@pytest.fixture(scope="module")
def harmony_otactl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test firmware docs/real-boards.md describes -- Harmony's application with otactl added to app.c --
    and the developer guide's SWITCH1 trigger in app.c, built for the host from a copy of the user's tree (in a
    temporary folder; nothing of Harmony enters the repository)."""
    root = harmony_apps()
    require_tool("cc", "gcc")
    src = locate_application(root).src
    tree = tmp_path_factory.mktemp("harmony-otactl")
    copy = tree / "apps" / "wifi_ota_app_upgrade" / "firmware"
    shutil.copytree(src.parent, copy, symlinks=True)
    app_c = copy / "src" / "app.c"
    text = app_c.read_text()
    text = text.replace('#include "app.h"', '#include "app.h"\n#include "otactl.h"', 1)
    text = text.replace(
        "    appData.state = APP_STATE_INIT;",
        "    appData.state = APP_STATE_INIT;\n    OTACTL_Initialize();\n    OTACTL_PrintBanner();",
        1,
    )
    # The developer guide's user trigger: an update check when SWITCH1 is pressed (the board BSP's macros).
    text = text.replace('#include "otactl.h"', '#include "otactl.h"\n' + SWITCH1_MACROS, 1)
    service_tasks = "case APP_STATE_SERVICE_TASKS:\n        {\n"
    assert service_tasks in text
    text = text.replace(service_tasks, service_tasks + SWITCH1_TRIGGER, 1)
    app_c.write_text(text)
    for name in ("otactl.c", "otactl.h"):
        shutil.copy(Path(__file__).resolve().parents[1] / "firmware" / "otactl" / name, copy / "src" / name)
    cache = tree / "cache"
    build_application(locate_application(tree), cache)
    return cache


def test_the_scenario_library_runs_on_harmonys_application_with_otactl(harmony_otactl: Path) -> None:
    names = ["c_update", "f_manual_start", "k_factory_reset", "m_sysreset_after_download", "big_manifest", "g_stalled"]
    provider = virtual_provider(link="inproc", application=f"native:{harmony_otactl}")
    results = run_suite(select(names), provider)
    assert {r.name: r.status for r in results} == dict.fromkeys(names, "PASS"), [r.detail for r in results]


def test_the_fuzzer_finds_the_models_hazards_in_harmonys_application(harmony_otactl: Path) -> None:
    model = find_hazards(budget=150, seed_value=1)
    native = find_hazards(budget=150, seed_value=1, application=f"native:{harmony_otactl}")
    assert native.application == f"native:{harmony_otactl}"
    assert native.names and sorted(native.names) == sorted(model.names)
    token = native.findings[0].token
    assert steps_mod.decode(token).application == f"native:{harmony_otactl}"


def test_replay_tokens_carry_the_application() -> None:
    setup = [[("setup", {"config": "auto"})]]
    run = steps_mod.Run("harmony-3.9.1", 16384, setup, application="native:/x")
    assert steps_mod.decode(steps_mod.encode_run(run)).application == "native:/x"
    plain = steps_mod.Run("harmony-3.9.1", 16384, setup)
    assert "application" not in steps_mod.encode_run(plain)  # tokens of model runs are unchanged
    assert steps_mod.decode(steps_mod.encode_run(plain)).application == "model"


def test_otaloop_fuzz_refuses_a_missing_application_build(tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "fuzz", "--budget", "1", "--application", f"native:{tmp_path}"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert done.returncode == 2 and "otaloop fuzz: error:" in done.stderr and "holds no native build" in done.stderr


def test_switch1_triggers_harmonys_update_check(harmony_otactl: Path, server: ImageServer) -> None:
    url = server.url("/ota.json")
    board = _board(harmony_otactl, url, periodic_check=False)
    publish_app_v2(server, url, periodic_check=False)
    board.power_on()
    assert board.run_until(lambda: "IP address obtained" in board.text, 100), board.text
    board.run_for(120)  # periodic check off: the service idles until the button
    assert "SYS_OTA_UPDATE_CHECK_START" not in board.text
    board.click_switch()
    assert board.run_until(lambda: board.app_version == 2, 300), board.text
    lines = _lines(board)
    at = lines.index("APP: SWITCH1 pressed")
    assert lines[at + 1] == "SYS_OTA_UPDATE_CHECK_START"
    assert "SYS_OTA_DB_ENTRY_SUCCESS" in lines[at:]
    board.power_off()
