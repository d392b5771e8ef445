"""For any database and any boot control page the bootloader ends: a jump, a reset, or stuck with a reason."""

from __future__ import annotations

import copy
import hashlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootloader_model.bootloader.provisioning import synthetic_app_bin
from bootloader_model.bootloader.result import Outcome
from bootloader_model.bootloader.step_machine import FACTORY_PATH, Bootloader
from bootloader_model.formats import image_database
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, PAGE_SIZE, BootControl, placeholder_page, with_header
from bootloader_model.quirks import CORRECTED, HARMONY
from bootloader_model.storage.file_api import OTA_DIR, MemoryFileSystem, read_file, write_file
from harness.sweeps.bootloader import new_rig

BOARD = new_rig()
FLASH_SNAP = BOARD.flash.snapshot()
FS0 = BOARD.volume.mount()
assert isinstance(FS0, MemoryFileSystem)
FACTORY_FILE = read_file(FS0, FACTORY_PATH)
IMAGES = {f"app{i}.bin": synthetic_app_bin(PAGE_SIZE + 700 * i, seed=i) for i in range(1, 4)}

names = st.sampled_from([*IMAGES, "missing.bin", "", "a,b.bin", 'q"uote.bin', "n" * 120])
statuses = st.sampled_from(["FE", "f8", "f0", "fc", "ff", "", "zz", "-8", "f" * 31])
versions = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["", "x", "0x10", "-1", "1" * 31, "ffffffffff"]))
digests = st.one_of(
    st.sampled_from(["", "00" * 32, "zz", "a" * 101]),
    st.sampled_from(sorted(IMAGES)).map(lambda n: hashlib.sha256(IMAGES[n]).hexdigest()),
)
rows = st.lists(st.tuples(names, statuses, versions, st.just("0x01"), digests).map(list), max_size=5)
databases = st.one_of(
    st.none(),
    rows.map(lambda rs: image_database.render_csv(rs)),
    st.binary(max_size=200),
)
headers = st.one_of(
    st.just(b"\xff" * 16),
    st.builds(
        lambda status, type_, version, addr: BootControl(
            status=status, type=type_, version=version, boot_addr=addr
        ).encode()[:16],
        st.sampled_from([0xFF, 0xFE, 0xFC, 0xF8, 0xF0, 0x00]),
        st.sampled_from([0, 1, 2, 3, 0xFF, 0x42]),
        st.integers(0, 0x110),
        st.sampled_from([0xB002_1000, 0xFFFF_FFFF]),
    ),
    st.binary(min_size=16, max_size=16),
)
factory_files = st.sampled_from(["intact", "missing", "empty", "not-f8", "short"])


def install(ctl16: bytes, db: bytes | None, present: set[str], factory: str) -> MemoryFileSystem:
    BOARD.flash.restore(FLASH_SNAP)
    page = bytearray(with_header(placeholder_page(), BootControl.decode(ctl16 + bytes(240))))
    BOARD.flash.erase(BOOT_CTL_PHYS)
    for i in range(0, PAGE_SIZE, 1024):
        BOARD.flash.program(BOOT_CTL_PHYS + i, bytes(page[i : i + 1024]))
    fs = copy.deepcopy(FS0)
    for name in present:
        write_file(fs, f"{OTA_DIR}/{name}", IMAGES[name])
    if db is not None:
        write_file(fs, image_database.DB_PATH, db)
    if factory == "missing":
        fs.remove(FACTORY_PATH)
    elif factory == "empty":
        write_file(fs, FACTORY_PATH, b"")
    elif factory == "not-f8":
        write_file(fs, FACTORY_PATH, b"\xfe" + FACTORY_FILE[1:])
    elif factory == "short":
        write_file(fs, FACTORY_PATH, FACTORY_FILE[: 3 * PAGE_SIZE])
    return fs


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    headers,
    databases,
    st.sets(st.sampled_from(sorted(IMAGES))),
    factory_files,
    st.sampled_from([HARMONY, CORRECTED]),
    st.sampled_from(["wolfcrypt", "trustflex"]),
)
def test_boot_always_terminates(
    ctl16: bytes, db: bytes | None, present: set[str], factory: str, profile: object, variant: str
) -> None:
    fs = install(ctl16, db, present, factory)
    bl = Bootloader(BOARD.flash, fs, profile, variant=variant, max_iterations=20_000)  # type: ignore[arg-type]
    res = bl.boot()
    assert res.outcome in (Outcome.JUMP, Outcome.STUCK, Outcome.RESET)
    assert res.iterations < 20_000, "hit the step budget: an endless loop the model does not name"
    if res.outcome is Outcome.STUCK:
        assert res.stuck_reason
    if res.outcome is Outcome.JUMP:
        assert res.jump_addr == BootControl.decode(BOARD.flash.read(BOOT_CTL_PHYS, 256)).boot_addr
    assert res.console.startswith(b"\n")
