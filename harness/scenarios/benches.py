"""Benches for the scenario library: a fresh virtual board per scenario, or a real board on a serial port.

:func:`virtual_bench` provisions a new :class:`~bootloader_model.board.virtual_board.VirtualBoard` with the scenario's
factory application, serves its UART through a :class:`~harness.served_board.runner.BoardRunner` on a real pty
(opened with pyserial, exactly as a USB serial adapter would be) or, for speed, an in-process
:class:`~harness.served_board.runner.VirtualPort`, and starts an :class:`~harness.image.server.ImageServer` on
127.0.0.1 whose manifest URL is built into every synthetic image.

:class:`SerialBench` wraps a real board: one pyserial port for the whole suite, images from a directory,
optional power commands. Its console reopens the port when it vanishes (a USB serial port re-enumerating
after a power cycle), waiting at most ``reconnect`` seconds. :meth:`SerialBench.start_session` checks the rig
against the options (:mod:`harness.scenarios.rig_check`) and brings the board to its factory app before the
first scenario. It cannot provision, cut power at a flash
operation or look into flash; scenarios that need those are skipped by the runner.

Nothing here decides what a scenario checks.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bootloader_model.board.virtual_board import BoardConfig, VirtualBoard
from bootloader_model.bootloader.program import MODEL
from bootloader_model.errors import BoardDead, BoardError, CallerError, ConsoleTimeout, RigMismatch
from bootloader_model.quirks import HARMONY, QuirkProfile
from harness.board_link.console import Console, Port
from harness.board_link.driver import BOOT_BANNER, BoardDriver
from harness.board_link.power import PowerControl
from harness.board_link.switch import SwitchControl
from harness.board_link.transport import open_port, reopen_port
from harness.image.server import ImageServer
from harness.native.programs import application_from_spec, bootloader_from_spec
from harness.scenarios.base import AppConfig, Bench, DirImages, SyntheticImages
from harness.scenarios.rig_check import FACTORY_VERSION, START_MODES, SeenOptions, images_mismatch, options_mismatch
from harness.scenarios.virtual_hooks import VirtualHooks
from harness.served_board.runner import DEFAULT_SPEED, BoardRunner, VirtualPort, check_speed
from harness.served_board.uart_link import PtyLink

T = TypeVar("T")

#: What a virtual bench offers on top of a console: power, provisioning, flash cuts, looking into flash.
VIRTUAL_CAPS = frozenset({"virtual", "power", "provision", "power-cut", "inspect", "switch"})
LINKS = ("pty", "inproc")
#: Seconds a real board's console may stay gone (USB re-enumeration after a power cycle) before PortLost.
DEFAULT_RECONNECT = 30.0
#: A real board prints its bootloader banner at once after reset; this leaves time for power switching.
DEFAULT_BOOT_TIMEOUT = 20.0
#: The service's line once the board has its IP address (spec 1.4), the first sign its application is up.
IP_LINE = b"SYS OTA : IP address obtained for preferred interface for OTA"
#: Seconds a running application gets to answer ``otactl status`` at the start of a session before it is reset.
START_ANSWER = 3.0
#: Seconds from the banner to ``APP: version <n>`` when the session start resets the board: enough for the
#: bootloader to program a pending update or back the factory image up, short of the 200 board seconds a
#: scenario allows.
START_APP_WAIT = 60.0


@contextlib.contextmanager
def virtual_bench(
    factory: AppConfig,
    *,
    link: str = "pty",
    speed: float = DEFAULT_SPEED,
    profile: QuirkProfile = HARMONY,
    log: str | Path | None = None,
    bootloader: str = MODEL,
    on_board: Callable[[VirtualBoard], None] | None = None,
    application: str = MODEL,
) -> Iterator[Bench]:
    """A fresh, provisioned, powered-off virtual board with its console, driver and image server."""
    if link not in LINKS:
        raise CallerError(f"unknown link {link!r}; choose {' or '.join(LINKS)}")
    check_speed(speed)
    with contextlib.ExitStack() as stack:
        server = ImageServer().start()
        stack.callback(server.stop)
        images = SyntheticImages(server.url("/ota.json"))
        board = VirtualBoard(
            BoardConfig(
                profile=profile,
                bootloader=bootloader_from_spec(bootloader, profile),
                application=application_from_spec(application),
            )
        )
        stack.callback(board.power_off)  # last: a native application's helper process ends with the bench
        if on_board is not None:
            on_board(board)  # e.g. wrap its bootloader to record the state of every boot
        board.provision(images.app(factory, 1))
        port: Any
        runner_side: Any
        if link == "pty":
            pty = PtyLink()
            stack.callback(pty.close)
            port = open_port(pty.url)
            stack.callback(port.close)
            runner_side = pty
        else:
            port = VirtualPort()
            runner_side = port.link()
        runner = BoardRunner(board, runner_side, speed=speed)
        console = Console(port, log=log)
        stack.callback(console.close)
        runner.start()
        stack.callback(runner.stop)
        driver = BoardDriver(console, boot_timeout=300 / speed + 5, cmd_timeout=10, max_line=factory.cmd_max_length)
        yield Bench(
            driver=driver,
            server=server,
            images=images,
            factory=factory,
            speed=speed,
            virtual=VirtualHooks(runner, console),
            capabilities=VIRTUAL_CAPS,
        )


@dataclass
class SerialBench:
    """A real board on ``port`` flashed with the unified hex of ``factory`` version 1.

    The image server listens on ``http_host:http_port``: the address compiled into the board's
    ``SYS_OTA_URL`` (with ``manifest_path``). Every scenario gets a :class:`Bench` sharing one console.
    """

    port: str
    images: Path
    factory: AppConfig
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    manifest_path: str = "/ota.json"
    power: PowerControl | None = None
    log: str | Path | None = None
    reconnect: float = DEFAULT_RECONNECT
    #: Seconds to wait for the bootloader banner after a reset or power-on before calling the board dead.
    boot_timeout: float = DEFAULT_BOOT_TIMEOUT
    #: An already open port to use instead of opening ``port`` (a labgrid console driver), and how to reopen it.
    connection: Port | None = None
    reopen: Callable[[float], Port] | None = None
    #: SWITCH1 pressed by a relay or GPIO across it (``--switch-press``/``--switch-release``), if wired.
    switch: SwitchControl | None = None

    def __post_init__(self) -> None:
        if not self.images.is_dir():
            raise CallerError(f"--images {self.images} is not a directory")
        if self.reconnect < 0:
            raise CallerError(f"reconnect wait must be >= 0 seconds, got {self.reconnect:g}")
        if not self.boot_timeout > 0:
            raise CallerError(f"boot timeout must be > 0 seconds, got {self.boot_timeout:g}")
        self.dead: str | None = None  # why the board is dead, until it shows a banner again
        port: Any  # pyserial's stubs lack in_waiting
        if self.connection is not None:
            port = self.connection
        else:
            try:
                port = open_port(self.port)
            except CallerError:
                if self.power is None:
                    raise
                # A board behind a switchable USB hub has no port while it is off: switch it on and wait.
                self.power.on()
                port = reopen_port(self.port, max(self.reconnect, 1.0))
        self._console = Console(port, log=self.log, url=self.port, reconnect=self.reconnect, reopen=self.reopen)
        self._server = ImageServer(self.http_host, self.http_port).start()
        self._dirty = False  # a scenario has run, so the board may hold updates
        self._start_failure: str | None = None  # set by start_session("keep") off the factory app
        #: Bytes the port had buffered before the last :meth:`bench` began (read and left out of its console),
        #: and the console offset just after them, where that bench's own console begins.
        self.backlog = 0
        self.began_at = 0

    @property
    def capabilities(self) -> frozenset[str]:
        """What this bench offers: power switching if it has power commands, SWITCH1 if it has switch commands,
        nothing a real board lacks."""
        return frozenset({"power"} if self.power else ()) | frozenset({"switch"} if self.switch else ())

    @property
    def console(self) -> Console:
        """The one console every scenario on this board shares."""
        return self._console

    @property
    def manifest_url(self) -> str:
        """The URL the firmware's ``SYS_OTA_URL`` should be: the image server's address and manifest path."""
        return self._server.url(self.manifest_path)

    def _new_bench(self) -> Bench:
        return Bench(
            driver=BoardDriver(
                self._console, boot_timeout=self.boot_timeout, cmd_timeout=10, max_line=self.factory.cmd_max_length
            ),
            server=self._server,
            images=DirImages(self.images),
            factory=self.factory,
            speed=1.0,
            power=self.power,
            switch=self.switch,
            manifest_path=self.manifest_path,
            start_offset=len(self._console.buffer),
            capabilities=self.capabilities,
        )

    def start_session(self, mode: str = "factory", *, option: str = "--start") -> str:
        """Check the rig and, with ``mode`` ``factory``, bring the board to its factory app, before the first
        scenario or test; return one line saying what was done.

        The checks answer in seconds: the image directory must hold images of the declared configuration
        pointing at the declared manifest URL (:func:`~harness.scenarios.rig_check.images_mismatch`); the
        running application must answer ``otactl status`` (the board is reset and asked again if it does not
        answer at once) and report, in ``sysota get info``, the declared configuration's OTA options and
        manifest URL (:func:`~harness.scenarios.rig_check.options_mismatch`). Then, with ``factory``, a board
        that runs another version than its factory app or holds an image database is factory-reset as
        between scenarios; with ``keep`` it is left as it is, and if it does not run its factory app the
        first :meth:`bench` fails, naming the version seen and expected (:meth:`take_start_failure`).

        Args:
            mode: ``factory`` or ``keep``.
            option: the option's name in the caller's terms, for the messages (``--otaloop-start`` in pytest).

        Returns:
            What was done, e.g. ``factory: the board ran v2 with 1 image database row(s); factory reset, now v1
            (3.2 s)``.

        Raises:
            RigMismatch: the board or the images do not fit the options (one line: declared and seen).
            BoardError: the board gave no sign of life, or did not come back to its factory app.
        """
        if mode not in START_MODES:
            raise CallerError(f"{option} {mode!r}: choose {' or '.join(START_MODES)}")
        t0 = time.monotonic()
        where = f"the board at {self.port}"
        mismatch = images_mismatch(self.images, self.factory, self.manifest_url)
        if mismatch:
            raise RigMismatch(f"{where} is not set up as declared: {mismatch}")
        self._server.clear()
        printed = self._console.drain(quiet=0.2, limit=0.5 if self.dead else 2.0)
        if self.dead is not None:
            if not BOOT_BANNER.search(printed):
                raise BoardDead(f"the board is still dead ({self.dead}); not tried again")
            self.dead = None  # it came back
        self._console.pos = len(self._console.buffer)
        bench = self._new_bench()
        driver = bench.driver
        woken = ""
        booted: int | None = None  # where the boot the session start caused began, if it caused one
        try:
            st = driver.status(START_ANSWER)
        except ConsoleTimeout:  # not running its application (or busy booting): start it and ask again
            woken = (
                "it did not answer, so it was power-cycled; " if self.power else "it did not answer, so it was reset; "
            )
            try:
                booted = len(self._console.buffer)
                info = bench.start(app_timeout=START_APP_WAIT)
            except BoardDead as exc:
                self.dead = str(exc).split(":", 1)[0]  # later calls fail at once unless a banner shows
                raise
            if info.app_version is None:
                raise RigMismatch(
                    f"{where} booted but printed no 'APP: version <n>' within {START_APP_WAIT:g} s: its application "
                    "needs otactl's banner (docs/otactl.md)"
                ) from None
            try:
                st = driver.status(START_ANSWER)
            except ConsoleTimeout:
                raise RigMismatch(
                    f"{where} runs v{info.app_version} but does not answer `otactl status`: its firmware needs the "
                    "otactl command group (docs/otactl.md)"
                ) from None
        mismatch = options_mismatch(self.factory, SeenOptions.from_info(driver.info()), self.manifest_url)
        if mismatch:
            raise RigMismatch(f"{where} is not set up as declared: {mismatch}")
        rows = driver.image_db()
        seen = f"v{st.version}" + (f" with {len(rows)} image database row(s)" if rows else "")
        self._dirty = False
        self._start_failure = None
        if mode == "keep":
            if st.version != FACTORY_VERSION:
                self._start_failure = (
                    f"{option} keep left the board as it was: it runs v{st.version}, the tests expect its factory "
                    f"app v{FACTORY_VERSION} ({option} factory brings it back)"
                )
            return f"keep: {woken}the board runs {seen}; left as it is"
        if st.version == FACTORY_VERSION and rows is None:
            if booted is not None:
                # Let the boot it caused end (its clean-up included) before the first scenario resets again.
                self._finish_boot(bench, since=booted)
            took = time.monotonic() - t0
            return f"factory: {woken}the board runs its factory app v{FACTORY_VERSION} already ({took:.1f} s)"
        self._to_factory(bench)
        self._server.clear()
        took = time.monotonic() - t0
        return f"factory: {woken}the board ran {seen}; factory reset, now v{FACTORY_VERSION} ({took:.1f} s)"

    def take_start_failure(self) -> str | None:
        """Why the first scenario must fail (``keep`` found the board off its factory app), once; else None."""
        failure, self._start_failure = self._start_failure, None
        return failure

    @contextlib.contextmanager
    def bench(self, *, restore: bool = True) -> Iterator[Bench]:
        """A :class:`Bench` for one scenario; with ``restore`` (the default) the board is first brought back
        to its factory app with no image database if an earlier scenario may have changed it, and the image
        server is emptied (first, so that the board cannot fetch an earlier scenario's image with its faults
        gone while it is being restored).

        What the port buffered since the last scenario is read and left behind (:attr:`backlog` counts its
        bytes). A board :meth:`start_session` left off its factory app (``keep``) fails the first scenario here
        with :class:`~bootloader_model.errors.BoardError`, naming the version seen and expected."""
        failure = self.take_start_failure()
        if failure is not None:
            self._dirty = True  # the board is not at its factory app: the next scenario restores it
            raise BoardError(failure)
        if restore:
            self._server.clear()
        else:
            self._server.clear_faults()
        # Start each scenario after what the board printed so far (a real board may be mid-check).
        seen = self._console.drain(quiet=0.2, limit=0.5 if self.dead else 2.0)
        self.backlog = len(self._console.buffer) - self._console.pos
        self.began_at = len(self._console.buffer)
        if self.dead is not None:
            if not BOOT_BANNER.search(seen):
                raise BoardDead(f"the board is still dead ({self.dead}); not tried again")
            self.dead = None  # it came back
        self._console.pos = len(self._console.buffer)
        bench = self._new_bench()
        try:
            if restore:
                if self._dirty:
                    self._to_factory(bench)
                # As on a fresh virtual bench, the server offers nothing until the scenario publishes (the
                # restore's own erase manifest included): a leftover manifest would start an update.
                self._server.clear()
            bench.start_offset = self._console.pos = len(self._console.buffer)
            self._dirty = True
            yield bench
        except BoardDead as exc:
            self.dead = str(exc).split(":", 1)[0]  # the rest fail at once unless the board shows a banner again
            raise
        self._console.pos = len(self._console.buffer)

    def _to_factory(self, bench: Bench) -> None:
        """Bring the board back to its factory app with no image database, as each scenario expects.

        Control messages are refused while the periodic timer runs (spec 2.1); a manifest asking to erase
        the running version leaves the service idle (spec 1.6 J), after which the factory reset is accepted.
        """
        info = bench.start()
        # Control messages need the idle service (with periodic checking on, the erase below leaves it idle).
        self._finish_boot(bench)
        if info.app_version == 1 and bench.driver.image_db() is None:
            return
        if self.factory.periodic:
            version = info.app_version or 1
            bench.server.put_manifest(version, bench.server.url("/erase.bin"), "00" * 32, erase_ver=True)
            bench.driver.events_until({"SYS_OTA_IMAGE_ERASED", "SYS_OTA_IMAGE_ERASE_FAILED"}, bench.wall(200))
        if not bench.driver.factory_reset():
            raise BoardError("the board refused `otactl factory`; reflash the unified hex to continue")
        bench.driver.wait_event("SYS_OTA_FACTORY_RESET_SUCCESS", bench.wall(30))
        info = bench.reset()
        if info.app_version != 1:
            raise BoardError(f"after a factory reset the board runs version {info.app_version}, not 1")
        # This boot's OTA_CleanUp deletes the files of the erased image database (spec 1.6 A). A scenario that
        # reset the board before then would cut the clean-up short, and its own first boot would print the
        # `SYS OTA : Removed file` lines a fresh board never prints.
        self._finish_boot(bench)

    def _finish_boot(self, bench: Bench, since: int | None = None) -> None:
        """Wait until the application that just came up has finished its boot: its IP line, then the service
        at rest (idle, or waiting for its periodic timer). The service gets there only once the OTA core has
        ended its boot-time init (``SYS_OTA_WAITFOR_OTAIDLE``, spec 1.4), which mounts the volume and deletes
        the files no image database row names (``OTA_CleanUp``, spec 1.6 A).

        ``since`` is the console offset to look for the IP line from (the boot's start) when the console has
        been read past it meanwhile; the console then moves to its end (past the replies to commands sent).
        """
        con = bench.console
        if since is not None:
            con.pos = since
        con.expect(IP_LINE, bench.wall(60))
        if since is not None:
            con.pos = len(con.buffer)
        bench.driver.wait_idle(bench.wall(10))

    def close(self) -> None:
        self._server.stop()
        self._console.close()
        port: Any = self._console.port  # the last port opened: the console may have reopened the URL
        port.close()
