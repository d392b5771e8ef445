"""Property-based fuzzing of the whole virtual board's state transitions (hypothesis state machine).

Rules: power off/on/cycle, reset, console input (valid ``otactl``/``sysota`` lines, random text, garbage
bytes, over-long lines), serving a new manifest and image, corrupting the served image, network up and
down, power cuts armed at random flash operations, and virtual time passing. Invariants after every rule:
the board never raises out of its API; a running healthy application with a live console answers
``otactl status`` with a well-formed line at once; every bootloader run ended in a jump, a reset, or a
stuck loop with a reason; boot control decodes and the DB either loads or reports a load status.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from bootloader_model.board.virtual_board import AppState, BoardConfig, VirtualBoard
from bootloader_model.bootloader.result import Outcome
from bootloader_model.formats import image_database
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, HEADER_SIZE, BootControl
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import FsError
from bootloader_model.storage.nor_flash import CutMode, FaultPlan, Snapshot
from harness.image_server import Fault, FaultKind, ImageServer

SIZE = 8 * 1024
STATUS = re.compile(rb"otactl: state=SYS_OTA_\w+ downloaded=\d+ total=\d+ version=\d+\r\n")
LINES = [
    b"otactl status",
    b"otactl check",
    b"otactl start",
    b"otactl sysreset",
    b"otactl rollback",
    b"otactl factory",
    b"otactl bogus",
    b"sysota getfs info",
    b"sysota get info",
    b"sysota set ?",
    b"sysota set 1 1 1 30",
    b"sysota set 0",
    b"sysota set 1 0 1 45",
    b"sysotahelp",
    b"sysota",
    b"help",
    b"q",
]

_server: ImageServer | None = None
_images: dict[int, bytes] = {}
_start: tuple[Snapshot, Snapshot] | None = None


def _srv() -> ImageServer:
    global _server
    if _server is None:
        _server = ImageServer().start()
    return _server


def _image(version: int) -> bytes:
    if version not in _images:
        url = _srv().url("/ota.json")  # loopback only, never the MHC default address
        _images[version] = build_app(AppDescriptor(version=version, manifest_url=url), SIZE)
    return _images[version]


@pytest.fixture(scope="module", autouse=True)
def _stop_server() -> object:
    yield None
    global _server
    if _server is not None:
        _server.stop()
        _server = None


def _serve(version: int) -> None:
    url, digest = _srv().put_image(f"app_v{version}.bin", _image(version))
    _srv().put_manifest(version, url, digest)


def _fresh_board() -> VirtualBoard:
    """A board provisioned with factory v1 that has done its first-boot backup, powered off."""
    global _start
    board = VirtualBoard(BoardConfig(network="loopback"))
    if _start is None:
        board.provision(_image(1))
        board.set_network(False)
        board.power_on()
        board.run_until(lambda: board.state is AppState.RUNNING, 100)
        board.power_off()
        _start = (board.internal.snapshot(), board.external.snapshot())
        board = VirtualBoard(BoardConfig(network="loopback"))
    board.internal.restore(_start[0])
    board.external.restore(_start[1])
    return board


class BoardMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        _srv().clear_faults()
        _serve(2)
        self.board = _fresh_board()
        self.board.power_on()

    # ------------------------------------------------------------------------------------------- power
    @rule()
    def power_cycle(self) -> None:
        self.board.power_cycle()

    @rule()
    def power_off(self) -> None:
        self.board.power_off()

    @rule()
    def power_on(self) -> None:
        self.board.power_on()

    @rule()
    def reset(self) -> None:
        self.board.reset()

    @rule(
        device=st.sampled_from(["internal", "external"]),
        op=st.integers(0, 600),
        mode=st.sampled_from(list(CutMode)),
        seed=st.integers(0, 9),
    )
    def power_cut_during_an_update(self, device: str, op: int, mode: CutMode, seed: int) -> None:
        self.board.arm_cut(device, FaultPlan(op, mode, seed))
        self.board.uart_rx(b"\rotactl check\r")  # give the cut something to interrupt: an update
        self.board.run_for(70.0)

    # ----------------------------------------------------------------------------------------- console
    @rule(line=st.sampled_from(LINES))
    def type_command(self, line: bytes) -> None:
        self.board.uart_rx(line + b"\r")

    @rule(version=st.integers(0, 5), good_digest=st.booleans())
    def type_start_with_url(self, version: int, good_digest: bool) -> None:
        url = _srv().url(f"/app_v{version}.bin")  # loopback only
        digest = hashlib.sha256(_image(version)).hexdigest() if good_digest and version else "00" * 32
        self.board.uart_rx(f"\rotactl start {url} {version} {digest}\r".encode())

    @rule(text=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
    def type_text(self, text: str) -> None:
        self.board.uart_rx(text.encode() + b"\r")

    @rule(data=st.binary(max_size=48))
    def type_garbage(self, data: bytes) -> None:
        self.board.uart_rx(data)

    @rule(n=st.integers(81, 400))
    def type_overlong_line(self, n: int) -> None:
        self.board.uart_rx(b"otactl " + b"x" * n + b"\r")

    # ----------------------------------------------------------------------------------------- network
    @rule(version=st.integers(0, 4))
    def serve_version(self, version: int) -> None:
        _serve(version)

    @rule(version=st.integers(2, 4), offset=st.integers(0, SIZE - 1))
    def serve_corrupted_image(self, version: int, offset: int) -> None:
        _serve(version)
        _srv().fault(f"/app_v{version}.bin", Fault(FaultKind.CORRUPT, after=offset))

    @rule(up=st.booleans())
    def network(self, up: bool) -> None:
        self.board.set_network(up)

    # -------------------------------------------------------------------------------------------- time
    @rule(seconds=st.sampled_from([0.01, 0.5, 3.0, 30.0, 61.0, 200.0]))
    def let_time_pass(self, seconds: float) -> None:
        self.board.run_for(seconds)

    @rule()
    def wait_for_the_periodic_check(self) -> None:
        self.board.run_for(65.0)

    @rule()
    def check_now_and_wait(self) -> None:
        self.board.uart_rx(b"\rotactl check\r")
        self.board.run_for(5.0)

    # ------------------------------------------------------------------------------------- invariants
    @invariant()
    def running_app_answers_status(self) -> None:
        board = self.board
        board.run_for(0.01)  # a pending reset or a crash happens first
        app = getattr(board, "_app", None)
        console = getattr(app, "console", None)
        if board.state is not AppState.RUNNING or console is None or console.stopped:
            return
        board.take_output()
        board.uart_rx(b"\r\r\rotactl status\r")  # end whatever half line or escape sequence is pending
        board.step(0.01)
        assert STATUS.search(board.take_output()), board.text[-400:]

    @invariant()
    def bootloader_runs_end_cleanly(self) -> None:
        for result in self.board.boots:
            assert result.outcome in (Outcome.JUMP, Outcome.RESET, Outcome.STUCK)
            if result.outcome is Outcome.STUCK:
                assert result.stuck_reason
        if self.board.state is AppState.BOOTLOADER_STUCK and self.board.boots:
            last = self.board.boots[-1]
            assert last.stuck_reason or last.outcome is Outcome.RESET  # a reset loop is reported as such

    @invariant()
    def boot_control_and_db_decode(self) -> None:
        BootControl.decode(self.board.internal.read(BOOT_CTL_PHYS, HEADER_SIZE))
        try:
            status, _ = image_database.load_db(ExternalFlash(self.board.external))
        except FsError:
            return  # an unmountable volume: the bootloader's mount retry handles it
        assert status in (image_database.LOAD_OK, image_database.LOAD_NOT_FOUND, image_database.LOAD_READ_HANG)


BoardMachine.TestCase.settings = settings(
    max_examples=50,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBoardMachine = BoardMachine.TestCase
