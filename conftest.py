"""Project-wide pytest setup: hypothesis profiles, helpers for tests that need real Debian tools, and the
image folder a served board's tests hand to the harness."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# pytest's own `pytester` fixture: the plugin's tests run pytest on test files a user would write.
pytest_plugins = ["pytester"]

# dosfstools installs fsck.fat and mkfs.fat in /usr/sbin, which an ordinary user's PATH often lacks.
for _sbin in ("/usr/sbin", "/sbin"):
    if _sbin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.environ.get("PATH", "") + os.pathsep + _sbin

# "dev" explores freshly each run; "ci" is derandomized so a CI failure reproduces on any machine.
settings.register_profile("dev", deadline=None, max_examples=60)
settings.register_profile(
    "ci", deadline=None, max_examples=60, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked slow run first: under ``pytest -n`` the workers then share the longest tests from the
    start, instead of one worker finishing them alone while the others wait at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def harmony_apps() -> str:
    """The wireless_apps_pic32mzw1_wfi32e01 checkout ``OTALOOP_HARMONY_APPS`` names, or skip the calling test
    saying it is not set (tests on Harmony's own sources read it)."""
    root = os.environ.get("OTALOOP_HARMONY_APPS")
    if not root:
        pytest.skip("OTALOOP_HARMONY_APPS is not set (point it at a wireless_apps_pic32mzw1_wfi32e01 checkout)")
    return root


def require_tool(name: str, package: str) -> str:
    """Return the path of a host tool, or skip the calling test saying which Debian package brings it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (apt-get install {package}); .ci/run installs it")
    return path


def write_board_images(folder: Path, http_port: int, config: str = "auto") -> Path:
    """``folder`` made and filled with v1 and v2 of ``config`` as ``--images`` wants them
    (``<config>_v<n>.bin``), their manifest URL at 127.0.0.1:``http_port``; returns ``folder``."""
    from harness.scenarios import CONFIGS
    from harness.scenarios.base import DirImages, SyntheticImages

    folder.mkdir(parents=True, exist_ok=True)
    synth, layout = SyntheticImages(f"http://127.0.0.1:{http_port}/ota.json"), DirImages(folder)
    for version in (1, 2):
        layout.path(CONFIGS[config], version).write_bytes(synth.app(CONFIGS[config], version))
    return folder


def require_gcc_links(flags: list[str], what: str, install: str) -> None:
    """Skip the calling test, saying why, unless gcc links a 32-bit program with ``flags`` (``what`` names
    such programs in the message, ``install`` the packages that bring what is missing)."""
    require_tool("cc", "gcc")
    probe = subprocess.run(
        ["gcc", "-m32", *flags, "-x", "c", "-", "-o", "/dev/null"],
        input="int main(void){return 0;}",
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"gcc cannot link 32-bit {what} (install {install}): {probe.stderr[-200:]}")


def require_sanitizers() -> None:
    """Skip the calling test, saying why, unless gcc links 32-bit AddressSanitizer/UBSan programs."""
    require_gcc_links(["-fsanitize=address,undefined"], "sanitizer programs", "lib32asan8 lib32ubsan1")


def line_of(source: Path, text: str) -> int:
    """The number of the one line of ``source`` that contains ``text`` (tests that name planted C lines)."""
    (number,) = [i + 1 for i, line in enumerate(source.read_text().splitlines()) if text in line]
    return number


def assert_memory_error_hazard(machine: Any, function: str) -> None:
    """After the steps a test gave ``machine`` (a BoardStateMachine on a sanitizer build): its safety check
    names the ``native-memory-error`` hazard, a stack-buffer-overflow in ``function``, and the hazard's replay
    token finds it again on a fresh machine."""
    from harness.fuzzing.hazards import HazardFound

    machine._close_step()
    with pytest.raises(HazardFound) as caught:
        machine.safety()
    found = caught.value
    assert found.hazard.name == "native-memory-error"
    assert "stack-buffer-overflow" in found.seen and f"in {function} at" in found.seen
    assert "your bootloader's or application's C code" in found.report()
    replayed = type(machine).replay(found.token)
    assert replayed.hazard is not None and replayed.hazard.hazard.name == "native-memory-error"


#: A manifest URL on a closed loopback port: a native board's checks never get an answer.
NATIVE_URL = "http://127.0.0.1:9/ota.json"
#: The library scenarios a checked native build must pass (a boot, an update, a factory reset, a rollback).
CHECKED_SCENARIOS = ("first_boot", "c_update", "k_factory_reset", "l_rollback")


def assert_checked_scenarios_pass(bootloader: str) -> None:
    """:data:`CHECKED_SCENARIOS` on virtual boards with ``bootloader`` (``native:CACHE``) all pass."""
    from harness.scenarios.runner import run_suite, select, virtual_provider

    results = run_suite(select(list(CHECKED_SCENARIOS)), virtual_provider(link="inproc", bootloader=bootloader))
    assert [(r.name, r.status) for r in results] == [(n, "PASS") for n in CHECKED_SCENARIOS], [
        r.detail for r in results
    ]


def booted_native_board(cache: Path) -> Any:
    """A virtual board on the native bootloader built at ``cache``, provisioned with factory v1, booted once
    into it and powered off again."""
    from bootloader_model.board.virtual_board import AppState, BoardConfig, VirtualBoard
    from bootloader_model.formats.app_descriptor import AppDescriptor
    from bootloader_model.formats.app_image import build_app
    from harness.native.programs import bootloader_from_spec

    board = VirtualBoard(BoardConfig(bootloader=bootloader_from_spec(f"native:{cache}"), timed_flash=False))
    board.provision(build_app(AppDescriptor(version=1, manifest_url=NATIVE_URL), 16 * 1024))
    board.power_on()
    assert board.state is AppState.RUNNING
    board.power_off()
    return board


def plant_db_version(internal: Any, external: Any, version: int) -> None:
    """A downloaded image of ``version`` in the DB (hex, as the corrected service writes it) and boot control
    naming v1 as the production image: the next boot goes CHECK (no row of v1) -> SELECT (the new row)."""
    import hashlib

    from bootloader_model.formats.app_descriptor import AppDescriptor
    from bootloader_model.formats.app_image import build_app
    from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, production_header, with_header
    from bootloader_model.formats.image_database import new_entry
    from bootloader_model.quirks import QuirkProfile
    from bootloader_model.storage.external_flash import ExternalFlash
    from bootloader_model.storage.file_api import OTA_DIR, write_file

    image = build_app(AppDescriptor(version=version, manifest_url=NATIVE_URL), 16 * 1024)
    fs = ExternalFlash(external)
    fs.mount()
    write_file(fs, f"{OTA_DIR}/app_v{version}.bin", image)
    digest = hashlib.sha256(image).hexdigest()
    corrected = QuirkProfile.named("corrected")
    assert new_entry(fs, f"{OTA_DIR}/app_v{version}.bin", version, digest, db_full=False, profile=corrected) == 0
    page = with_header(bytes(internal.read(BOOT_CTL_PHYS, 4096)), production_header(1, 0xF8))
    internal.erase(BOOT_CTL_PHYS, internal.geometry.smallest_erase_kind())
    for row in range(0, 4096, 1024):
        internal.program(BOOT_CTL_PHYS + row, page[row : row + 1024])


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain build of otaloop's example native bootloader (no checks), once per test module."""
    from harness.native.build import build_example

    require_tool("cc", "gcc")
    cache = tmp_path_factory.mktemp("example")
    build_example(cache)
    return cache


def publish_app_v2(server: Any, url: str, size: int = 30_000, **descriptor: object) -> str:
    """Serve v2 of ``size`` bytes (manifest URL ``url``, more descriptor fields as given) with its manifest
    on ``server`` (an ImageServer); returns its digest."""
    from bootloader_model.formats.app_descriptor import AppDescriptor
    from bootloader_model.formats.app_image import build_app

    v2 = build_app(AppDescriptor(version=2, manifest_url=url, **descriptor), size)  # type: ignore[arg-type]
    image_url, digest = server.put_image("app_v2.bin", v2)
    server.put_manifest(2, image_url, digest)
    return str(digest)
