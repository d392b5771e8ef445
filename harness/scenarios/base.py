"""The pieces every scenario uses: the bench, app configurations, image factories, traces and line matching.

A scenario is a plain function ``scenario(bench) -> Trace``. It talks to the board only through the
:class:`~harness.board_link.driver.BoardDriver` / :class:`~harness.board_link.console.Console` of its
:class:`Bench` and serves
images from the bench's :class:`~harness.image.server.ImageServer`, so the same function runs against a real
board on a serial port and against the virtual board on a pty. What only the virtual board can do (cut
power at a flash operation, look into flash, provision a factory application) sits behind
:attr:`Bench.virtual` and a scenario that needs it declares so in its ``requires`` set.

Console text is matched line by line, exactly: :func:`expect_lines` waits for the first expected line and
then demands the following lines verbatim, and on a mismatch raises :class:`ScenarioFailed` showing the
expected and the seen lines side by side.

This module does not start boards or servers (see :mod:`harness.scenarios.benches`) and holds no scenario.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, overload

from bootloader_model.errors import BoardError, CallerError
from bootloader_model.formats.app_descriptor import DEFAULT_CMD_MAX_LENGTH, AppDescriptor, Behaviour
from bootloader_model.formats.app_image import build_app
from harness.board_link.console import Console
from harness.board_link.driver import BoardDriver, BootInfo
from harness.image.hex2bin import digest
from harness.image.manifest import ManifestEntry, write_manifest
from harness.image.server import ImageServer

if TYPE_CHECKING:
    from harness.board_link.power import PowerControl
    from harness.board_link.switch import SwitchControl
    from harness.scenarios.virtual_hooks import VirtualHooks


class ScenarioFailed(BoardError):
    """The board did something other than the scenario expects; the message shows expected and seen."""


class ScenarioSkipped(Exception):
    """The bench cannot run this scenario (a missing capability or image); the message says why."""


# ------------------------------------------------------------------------------------ app configuration
@dataclass(frozen=True)
class AppConfig:
    """The MHC options of the OTA service compiled into an application (spec section 3)."""

    name: str
    periodic: bool
    auto_update: bool
    autoreset: bool
    interval_s: int = 60
    num_images: int = 2
    #: SYS_COMMAND's SYS_CMD_MAX_LENGTH (an MHC option of the console, not of the OTA service): the longest
    #: command line the firmware takes. ``otactl start <url> <version> <digest>`` needs about 120.
    cmd_max_length: int = DEFAULT_CMD_MAX_LENGTH

    def descriptor(self, version: int, manifest_url: str, behaviour: Behaviour = Behaviour.HEALTHY) -> AppDescriptor:
        """The app descriptor of an application built with these options."""
        return AppDescriptor(
            version=version,
            autoreset=self.autoreset,
            periodic_check=self.periodic,
            interval_s=self.interval_s,
            auto_update=self.auto_update,
            num_images=self.num_images,
            manifest_url=manifest_url,
            cmd_max_length=self.cmd_max_length,
            behaviour=behaviour,
        )


#: The configurations the library needs. On a real board each is a separate firmware build.
CONFIGS: dict[str, AppConfig] = {
    # MHC defaults: periodic check every 60 s, download and reset on its own.
    "auto": AppConfig("auto", periodic=True, auto_update=True, autoreset=True),
    # Periodic check, but an available update waits for `otactl start` (spec 1.6 F).
    "notify": AppConfig("notify", periodic=True, auto_update=False, autoreset=True),
    # No periodic check, so the service idles and accepts control messages (spec 2.1).
    "manual": AppConfig("manual", periodic=False, auto_update=True, autoreset=True),
    # As manual, without the reset after a download: only `otactl sysreset` resets (spec 1.6 C, M).
    "manual-noreset": AppConfig("manual-noreset", periodic=False, auto_update=True, autoreset=False),
    # As manual, built with SYS_CMD_MAX_LENGTH 256 so `otactl start <url> <version> <digest>` fits on a line.
    "manual-longcmd": AppConfig("manual-longcmd", periodic=False, auto_update=True, autoreset=True, cmd_max_length=256),
}


class ImageFactory(Protocol):
    """Where a scenario gets application images: synthetic for the virtual board, files for a real one."""

    def app(self, config: AppConfig, version: int, size: int | None = None) -> bytes: ...


def image_name(version: int) -> str:
    """The file name an update is served under (the demo's naming, spec section 6)."""
    return f"wifi_ota_app_upgrade_ver{version}.bin"


@dataclass
class SyntheticImages:
    """Builds virtual applications whose descriptor points at the bench's manifest URL (loopback only)."""

    manifest_url: str
    default_size: int = 96 * 1024

    def __post_init__(self) -> None:
        if not re.match(r"http://127\.0\.0\.1[:/]", self.manifest_url):
            raise CallerError(f"synthetic images must point at a 127.0.0.1 manifest URL, not {self.manifest_url!r}")

    def app(self, config: AppConfig, version: int, size: int | None = None) -> bytes:
        return synthetic_app(config, version, self.manifest_url, size or self.default_size + 4096 * version)


def synthetic_app(config: AppConfig, version: int, manifest_url: str, size: int | None = None) -> bytes:
    """A virtual application of ``version`` built with ``config``'s MHC options and ``manifest_url`` as
    SYS_OTA_URL; by default 96 KiB plus 4 KiB per version, so a mix-up shows in the DB and download counts."""
    return build_app(config.descriptor(version, manifest_url), size or SyntheticImages.default_size + 4096 * version)


@dataclass
class DirImages:
    """Images for a real board: ``DIR/<config>_v<version>.bin`` built with the matching MHC options."""

    directory: Path

    def path(self, config: AppConfig, version: int) -> Path:
        return self.directory / f"{config.name}_v{version}.bin"

    def write_set(self, config: AppConfig, versions: int, manifest_url: str) -> list[Path]:
        """Fill the directory with virtual applications v1..``versions`` of ``config`` and an ``ota.json``.

        The images are what a served virtual board (``otaloop board``) runs when it is used as a real one:
        v1 is its factory application, and ``--images DIR`` hands the rest to the scenarios. ``ota.json``
        announces the last version at the manifest URL's server (``<config>_v<N>.bin`` beside it), for
        serving the directory by hand.

        Args:
            config: the MHC options every image is built with.
            versions: how many versions (1..255).
            manifest_url: the firmware's SYS_OTA_URL, ``http://HOST:PORT/PATH``; the bench's ``--http``
                must be HOST:PORT and its manifest path PATH.

        Returns:
            The paths written, the images in version order, then ``ota.json``.

        Raises:
            CallerError: a bad version count or URL, or the directory cannot be written.
        """
        if not 1 <= versions <= 255:
            raise CallerError(f"versions must be 1..255, not {versions}")
        if not re.fullmatch(r"http://[^/\s]+(/\S*)?", manifest_url):
            raise CallerError(
                f"the manifest URL must be http://HOST:PORT/PATH (no TLS in this build), not {manifest_url!r}"
            )
        written = []
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            last = b""
            for version in range(1, versions + 1):
                last = synthetic_app(config, version, manifest_url)
                path = self.path(config, version)
                path.write_bytes(last)
                written.append(path)
            url = urllib.parse.urljoin(manifest_url, self.path(config, versions).name)
            manifest = self.directory / "ota.json"
            manifest.write_text(write_manifest([ManifestEntry(versions, url, digest(last))]))
        except OSError as exc:
            raise CallerError(f"cannot write {exc.filename or self.directory}: {exc.strerror or exc}") from None
        return [*written, manifest]

    def app(self, config: AppConfig, version: int, size: int | None = None) -> bytes:
        p = self.path(config, version)
        try:
            return p.read_bytes()
        except OSError:
            raise ScenarioSkipped(f"no image {p.name} in {self.directory}") from None


# ------------------------------------------------------------------------------------------------ trace
@dataclass
class Trace:
    """What a scenario observed: console lines, OTA events, and one line saying what mattered."""

    lines: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    observation: str = ""


def split_lines(data: bytes) -> list[str]:
    """Console bytes as lines: CR/LF in any pairing ends a line; empty lines and bare prompts are dropped.

    A SYS_COMMAND prompt ``>`` printed before asynchronous output ends up at the start of that output's
    line (the firmware prints it after every command); it is not part of the line and is removed here.
    """
    text = data.decode("utf-8", "replace")
    out = []
    for part in re.split(r"\r\n|\n\r|\r|\n", text):
        part = part.lstrip(">")
        if part.strip():
            out.append(part)
    return out


# ------------------------------------------------------------------------------------------------ bench
@dataclass
class Bench:
    """One board under test and everything around it. ``speed`` is virtual seconds per wall second."""

    driver: BoardDriver
    server: ImageServer
    images: ImageFactory
    factory: AppConfig
    speed: float = 1.0
    power: PowerControl | None = None
    virtual: VirtualHooks | None = None
    manifest_path: str = "/ota.json"
    start_offset: int = 0
    capabilities: frozenset[str] = frozenset()
    #: Console offsets of the first and the last line of the last :func:`expect_lines` match.
    last_span: tuple[int, int] = (0, 0)
    #: SWITCH1 of a real board (``--switch-press``/``--switch-release`` commands); a virtual one is pressed
    #: through :attr:`virtual`.
    switch: SwitchControl | None = None

    @property
    def console(self) -> Console:
        return self.driver.console

    @property
    def manifest_url(self) -> str:
        return self.server.url(self.manifest_path)

    @overload
    def expect(self, pattern: re.Pattern[str], timeout: float = 30.0) -> re.Match[str]: ...
    @overload
    def expect(self, pattern: str | bytes | re.Pattern[bytes], timeout: float = 30.0) -> re.Match[bytes]: ...
    def expect(
        self, pattern: str | bytes | re.Pattern[bytes] | re.Pattern[str], timeout: float = 30.0
    ) -> re.Match[bytes] | re.Match[str]:
        """The board's console, as pytest-embedded's ``dut.expect``: see :meth:`BoardDriver.expect`."""
        return self.driver.expect(pattern, timeout)

    def write(self, line: str) -> None:
        """Type ``line`` and a carriage return on the board's console (pytest-embedded's ``dut.write``)."""
        self.driver.write(line)

    def wall(self, board_seconds: float) -> float:
        """A console timeout (wall seconds) for something that takes ``board_seconds`` on the board."""
        return board_seconds / self.speed + 5.0

    def board_time(self) -> float | None:
        """Virtual seconds since the bench was made (None on a real board)."""
        return self.virtual.now() if self.virtual else None

    def printed_at(self, offset: int) -> float | None:
        """Board time at which console byte ``offset`` was printed (virtual board only, else None)."""
        return self.virtual.printed_at(offset) if self.virtual else None

    def span_seconds(self, start_offset: int) -> float | None:
        """Board seconds from the line at ``start_offset`` to the last line of the last match."""
        t0, t1 = self.printed_at(start_offset), self.printed_at(self.last_span[1])
        return t1 - t0 if t0 is not None and t1 is not None else None

    # --------------------------------------------------------------------------------------- lifecycle
    def start(self, app_timeout: float | None = None) -> BootInfo:
        """Bring the board up from its current flash and wait for the application (first boot included);
        ``app_timeout`` as in :meth:`wait_boot`."""
        if self.virtual is not None:
            self.virtual.power_on()
        elif self.power is not None:
            self.power.cycle()
        else:
            self.console.send_line("reset")
        return self.wait_boot(app_timeout)

    def wait_boot(self, app_timeout: float | None = None) -> BootInfo:
        """The banner within the driver's boot timeout (the bootloader prints it at once), then the
        application within ``app_timeout`` wall seconds, by default 200 board seconds (a first boot backs the
        factory image up first)."""
        wait = self.wall(200) if app_timeout is None else app_timeout
        return self.driver.wait_boot(min(self.driver.boot_timeout, self.wall(200)), app_timeout=wait)

    def power_cycle(self, off_time: float = 1.0) -> None:
        """Switch power off and on again (the virtual board's, or the bench's power backend); needs "power".

        On a real board behind a switchable USB hub the console port vanishes meanwhile; the console reopens
        it (see :class:`~harness.board_link.console.Console`) on its next read.
        """
        if self.virtual is not None:
            self.virtual.power_off()
            self.virtual.power_on()
        elif self.power is not None:
            self.power.cycle(off_time)
        else:
            raise ScenarioSkipped("needs power control (--power-on/--power-off)")

    def press_switch(self) -> None:
        """Press SWITCH1 and hold it (the virtual board's, or the bench's switch commands)."""
        if self.virtual is not None:
            self.virtual.press_switch()
        else:
            self._switch().press()

    def release_switch(self) -> None:
        """Let go of SWITCH1."""
        if self.virtual is not None:
            self.virtual.release_switch()
        else:
            self._switch().release()

    def click_switch(self, hold_s: float = 0.1) -> None:
        """Press SWITCH1 and let go ``hold_s`` seconds later (board seconds on a virtual board)."""
        if self.virtual is not None:
            self.virtual.click_switch(hold_s)
        else:
            self._switch().click(hold_s)

    def _switch(self) -> SwitchControl:
        if self.switch is None:
            raise ScenarioSkipped("needs SWITCH1 control (--switch-press/--switch-release)")
        return self.switch

    def reset(self) -> BootInfo:
        """Type the built-in ``reset`` command and wait for the application to come back."""
        self.console.send_line("reset")
        self.console.expect(b" *** System Reboot ***", self.wall(5))
        return self.wait_boot()

    # ------------------------------------------------------------------------------------------ serving
    def publish(
        self,
        version: int,
        *,
        config: AppConfig | None = None,
        image: bytes | None = None,
        erase_ver: bool | None = None,
    ) -> tuple[str, str, bytes]:
        """Serve an update image of ``version`` and a manifest for it; return (URL, digest, image)."""
        data = image if image is not None else self.images.app(config or self.factory, version)
        url, digest = self.server.put_image(image_name(version), data)
        self.server.put_manifest(version, url, digest, erase_ver=erase_ver, path=self.manifest_path)
        return url, digest, data

    def serve_manifest_text(self, body: bytes) -> None:
        self.server.put(self.manifest_path, body, "application/json")

    # -------------------------------------------------------------------------------------------- trace
    def trace(self, observation: str) -> Trace:
        seen = split_lines(bytes(self.console.buffer[self.start_offset :]))
        events = [line for line in seen if re.fullmatch(r"SYS_OTA_[A-Z_]+", line)]
        return Trace(seen, events, observation)


# ----------------------------------------------------------------------------------------- line matching
LineSpec = str | re.Pattern[str]


def _matches(spec: LineSpec, line: str) -> bool:
    return bool(spec.fullmatch(line)) if isinstance(spec, re.Pattern) else spec == line


def _show(spec: LineSpec) -> str:
    return f"/{spec.pattern}/" if isinstance(spec, re.Pattern) else repr(spec)


def _diff(expected: Sequence[LineSpec], seen: Sequence[str]) -> str:
    rows = []
    for i in range(max(len(expected), len(seen))):
        e = _show(expected[i]) if i < len(expected) else "-"
        s = repr(seen[i]) if i < len(seen) else "(nothing)"
        mark = "  " if i < len(expected) and i < len(seen) and _matches(expected[i], seen[i]) else "!="
        rows.append(f"  {mark} expected {e}\n     seen     {s}")
    return "\n".join(rows)


def _line_ends(data: bytes) -> list[tuple[str, int, int]]:
    """Complete lines of ``data`` with the byte offsets of their start and of just past their end."""
    out = []
    start = 0
    for m in re.finditer(rb"\r\n|\n\r|\r|\n", data):
        for line in split_lines(data[start : m.start()] + b"\n"):
            out.append((line, start, m.end()))
        start = m.end()
    return out


def expect_lines(bench: Bench, expected: Sequence[LineSpec], board_seconds: float = 120.0) -> list[str]:
    """Wait for a run of whole lines that are exactly ``expected``, in order and adjacent.

    Searching starts at the console's current position; on success the position moves past the last
    matched line. Lines are compared after :func:`split_lines` (empty lines and prompts ignored). A run
    that starts like ``expected`` but then differs is skipped, not fatal: a board (real or virtual) keeps
    running while the harness changes the server, so a periodic check may still show the previous
    manifest. If no matching run arrives in time, the error shows the closest differing run.
    """
    con = bench.console
    deadline = time.monotonic() + bench.wall(board_seconds)
    closest: list[str] | None = None
    while True:
        base = con.pos
        lines = _line_ends(bytes(con.buffer[base:]))
        seen_lines = [line for line, _, _ in lines]
        for first, line in enumerate(seen_lines):
            if not _matches(expected[0], line):
                continue
            got = lines[first : first + len(expected)]
            seen = [text for text, _, _ in got]
            if any(not _matches(e, t) for e, t in zip(expected, seen, strict=False)):
                if len(seen) == len(expected) or first + len(seen) < len(lines):
                    closest = seen
                continue  # a differing run: look for the next start
            if len(got) == len(expected):
                bench.last_span = (base + got[0][1], base + got[-1][1])
                con.pos = base + got[-1][2]
                return seen
            break  # a matching run still being printed: wait for the rest
        if time.monotonic() >= deadline:
            if closest is not None:
                raise ScenarioFailed("console lines differ:\n" + _diff(expected, closest))
            raise ScenarioFailed(
                f"within {board_seconds:g} board seconds the console did not show:\n"
                + _diff(expected, [])
                + "\n  last lines: "
                + repr(seen_lines[-12:])
            )
        con.poll()


def expect_events(bench: Bench, events: Iterable[str], board_seconds: float = 120.0) -> list[str]:
    """Wait for exactly this sequence of OTA event lines, ignoring the other lines in between."""
    want = list(events)
    got: list[str] = []
    try:
        for _ in want:
            got.append(bench.driver.next_event(bench.wall(board_seconds)))
    except BoardError as exc:
        raise ScenarioFailed(f"expected events {want}, saw {got} and then: {exc}") from None
    if got != want:
        raise ScenarioFailed(f"expected events {want}, saw {got}")
    return got


def check(condition: bool, expected: str, seen: object) -> None:
    """Fail the scenario with ``expected`` vs ``seen`` unless ``condition`` holds."""
    if not condition:
        raise ScenarioFailed(f"expected {expected}; seen {seen!r}")


@dataclass(frozen=True)
class Scenario:
    """A library entry: the function, its factory configuration and what the bench must offer."""

    name: str
    func: Callable[[Bench], Trace]
    factory: AppConfig
    requires: frozenset[str]
    summary: str


REGISTRY: dict[str, Scenario] = {}


def scenario(
    name: str, *, factory: str = "auto", requires: Iterable[str] = ()
) -> Callable[[Callable[[Bench], Trace]], Callable[[Bench], Trace]]:
    """Register a scenario under ``name``; its docstring's first line is the summary."""

    def deco(func: Callable[[Bench], Trace]) -> Callable[[Bench], Trace]:
        if name in REGISTRY:
            raise CallerError(f"scenario {name!r} registered twice")
        summary = (func.__doc__ or name).strip().splitlines()[0]
        REGISTRY[name] = Scenario(name, func, CONFIGS[factory], frozenset(requires), summary)
        return func

    return deco
