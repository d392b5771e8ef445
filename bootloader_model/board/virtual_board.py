"""The virtual board: internal and external flash, the OTA bootloader and the application, on one clock.

A :class:`VirtualBoard` behaves like a WFI32E Curiosity board with Harmony's OTA bootloader and an OTA
application: power on runs the bootloader (:mod:`bootloader_model.bootloader.step_machine`) on the emulated internal
flash and the FAT volume on the emulated SST26; when it jumps, the application in internal flash decides
what happens next through its app descriptor (:mod:`bootloader_model.formats.app_descriptor`):

* a healthy app runs the board's application program (:attr:`BoardConfig.application`): by default the
  model of Harmony's generated OTA application (:mod:`bootloader_model.application.model`), which prints
  ``APP: version <n>`` and runs the OTA service and the SYS_COMMAND console; the network comes up after a
  short virtual delay;
* a crash-at-boot app resets shortly after the jump (the bootloader then runs again);
* a hang-at-boot app goes silent and ignores input;
* internal flash whose descriptor or body CRC fails runs as garbage code would: silence.

SWITCH1 (the Curiosity board's user button) is an input the application reads: :meth:`VirtualBoard.press_switch`,
:meth:`~VirtualBoard.release_switch` and :meth:`~VirtualBoard.click_switch` set :attr:`VirtualBoard.switch_pressed`.
The model application ignores it, as Harmony's generated OTA application does; a user's own application
(:attr:`BoardConfig.application`) reads it.

Reset and power cycle are separate actions; both lose RAM (the service, the console line, FatFs state)
and keep flash. A :class:`~bootloader_model.errors.PowerCut` raised by a flash fault plan turns the board
off at that operation, leaving the flash exactly as the cut left it.

The console is a byte stream: :meth:`VirtualBoard.uart_rx` takes typed bytes, :meth:`VirtualBoard.take_output`
returns what the board printed. Serving it on a pty and pacing virtual time against wall time is the host
runner's job (:mod:`harness.served_board.runner`); this module never sleeps.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import NoReturn

from bootloader_model.application.program import AppContext, ApplicationProgram, AppRun
from bootloader_model.board.moment_cut import MomentCut, MomentHit, compile_pattern
from bootloader_model.board.state_directory import current_path, save_set
from bootloader_model.bootloader.program import MODEL, BootProgram, ModelProgram
from bootloader_model.bootloader.provisioning import provision_unified
from bootloader_model.bootloader.result import BootResult, Outcome
from bootloader_model.bootloader.state import DEFAULT_BUILD_STAMP, VARIANTS
from bootloader_model.clock import Alarm, VirtualClock
from bootloader_model.errors import CallerError, DescriptorError, PowerCut
from bootloader_model.formats.app_descriptor import AppDescriptor, Behaviour, read_descriptor
from bootloader_model.formats.app_image import SLOT_SIZE, SLOT_START
from bootloader_model.quirks import HARMONY, QuirkProfile
from bootloader_model.service.ota_service import OtaService
from bootloader_model.storage.external_flash import SIZES
from bootloader_model.storage.nor_flash import PIC32MZ1025W104132, FaultPlan, NorFlash

INTERNAL_FILE = "internal.bin"
EXTERNAL_FILE = "external.bin"
META_FILE = "board.json"

#: How many back-to-back software resets one power-on follows before reporting a reset loop.
MAX_RESETS_PER_STEP = 8
#: Bytes UART1's receive ring holds: ``UART1_READ_BUFFER_SIZE`` (128) of the application's PLIB, less the
#: slot a ring buffer keeps free.
UART_RX_BYTES = 127
#: Default transcript window (bytes of console output the board keeps for hosts and tests).
TRANSCRIPT_WINDOW = 1 << 20
#: Boots and board events kept: the latest KEEP_RECORDS to 2 x KEEP_RECORDS.
KEEP_RECORDS = 1000
#: Board seconds :meth:`VirtualBoard.click_switch` holds SWITCH1 down by default (a finger's press).
CLICK_HOLD_S = 0.1


class AppState(str, Enum):
    """What the CPU is doing, as seen from outside."""

    OFF = "off"  # no power
    RUNNING = "running"  # healthy application: OTA service and console
    HUNG = "hung"  # application hung at boot (descriptor behaviour), silent
    SILENT = "silent"  # internal flash holds no valid application: garbage code, silent
    BOOTLOADER_STUCK = "bootloader-stuck"  # the bootloader loops for ever (BootResult.stuck_reason)
    CRASHING = "crashing"  # crash-at-boot application between its jump and its reset


@dataclass(frozen=True)
class BoardConfig:
    """Knobs of one virtual board. Defaults model the WFI32E Curiosity with Harmony v3.9.1.

    Every field is checked when the value is made, so a board is never built from a bad one.

    Raises:
        CallerError: a field holds a value the board cannot take; the message names the field, the value
            and what is accepted.
    """

    profile: QuirkProfile = HARMONY
    ext_size: str = "4M"  # SST26VF032B; "8M" for SST26VF064B
    build_stamp: tuple[str, str] = DEFAULT_BUILD_STAMP
    bootloader_variant: str = "wolfcrypt"
    network_delay_s: float = 1.5  # virtual seconds from the jump until the IP address is obtained
    crash_delay_s: float = 0.05  # virtual seconds from the jump until a crash-at-boot application resets
    timed_flash: bool = True  # flash operations take datasheet time on the virtual clock
    network: str = "loopback"  # "loopback": only 127.0.0.0/8 and localhost are reachable; "open": any host
    transcript_window: int = TRANSCRIPT_WINDOW  # console bytes kept in VirtualBoard.transcript (>= 1)
    #: Wall seconds a silent socket is waited for before virtual time passes (0: the usual 1:1 grace). With
    #: a loopback server that answers, runs then do not depend on how loaded the host is.
    network_patience_s: float = 0.0
    #: What runs at reset: None for the Python model of Harmony's bootloader (made from profile, build_stamp
    #: and bootloader_variant), or any :class:`~bootloader_model.bootloader.program.BootProgram` -- the host
    #: hands in the user's bootloader C code this way (``harness.native.programs.bootloader_from_spec``).
    bootloader: BootProgram | None = None
    #: What runs after the jump when the image is healthy: None for the Python model of Harmony's generated
    #: OTA application, or any :class:`~bootloader_model.application.program.ApplicationProgram` -- the host
    #: hands in the user's application C code this way (``harness.native.programs.application_from_spec``).
    application: ApplicationProgram | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.profile, QuirkProfile):
            named = f"; make one from a name with QuirkProfile.named({self.profile!r})"
            _config_error(
                "profile",
                self.profile,
                "a QuirkProfile such as bootloader_model.quirks.HARMONY or CORRECTED",
                named if isinstance(self.profile, str) else "",
            )
        if not isinstance(self.ext_size, str) or self.ext_size not in SIZES:
            _config_error("ext_size", self.ext_size, f"an external flash size: {' or '.join(map(repr, SIZES))}")
        stamp = self.build_stamp
        if not (isinstance(stamp, (tuple, list)) and len(stamp) == 2 and all(isinstance(p, str) for p in stamp)):
            _config_error("build_stamp", stamp, "a pair of strings (date, time), e.g. ('Nov 26 2026', '16:13:00')")
        object.__setattr__(self, "build_stamp", tuple(stamp))
        if self.bootloader_variant not in VARIANTS:
            _config_error("bootloader_variant", self.bootloader_variant, f"{' or '.join(map(repr, VARIANTS))}")
        for name in ("network_delay_s", "crash_delay_s"):
            _seconds_field(name, getattr(self, name), "virtual")
        _seconds_field("network_patience_s", self.network_patience_s, "wall")
        if not isinstance(self.timed_flash, bool):
            _config_error("timed_flash", self.timed_flash, "True or False")
        if self.network not in ("loopback", "open"):
            _config_error("network", self.network, "a network policy: 'loopback' or 'open'")
        window = self.transcript_window
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            _config_error("transcript_window", window, "a positive whole number of bytes")
        program = self.bootloader
        if program is not None and not (
            isinstance(getattr(program, "label", None), str) and callable(getattr(program, "boot", None))
        ):
            _config_error(
                "bootloader",
                program,
                "None (the Python model) or a BootProgram (an object with a str label and a callable boot)",
                f"; harness.native.programs.bootloader_from_spec turns text ({MODEL!r} or 'native:CACHE_DIR') "
                "into a program",
            )
        app = self.application
        if app is not None and not (
            isinstance(getattr(app, "label", None), str) and callable(getattr(app, "start", None))
        ):
            _config_error(
                "application",
                app,
                "None (the Python model) or an ApplicationProgram (an object with a str label and a callable start)",
                f"; harness.native.programs.application_from_spec turns text ({MODEL!r} or 'native:CACHE_DIR') "
                "into a program",
            )


def _config_error(name: str, value: object, accepted: str, hint: str = "") -> NoReturn:
    raise CallerError(f"BoardConfig.{name} must be {accepted}, not {value!r}{hint}")


def _seconds_field(name: str, value: object, kind: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        _config_error(name, value, f"a finite number of {kind} seconds >= 0")


@dataclass
class BoardEvent:
    """A line in the board's own history (boots, resets, cuts) for reports and tests."""

    at: float
    kind: str
    detail: str = ""


@dataclass
class _App:
    descriptor: AppDescriptor
    run: AppRun | None = None  # a healthy application's run (None: hung, crashing)
    started_at: float = 0.0


class VirtualBoard:
    """One virtual PIC32MZ W1 board running Harmony's OTA bootloader and an OTA application.

    Times are virtual seconds (board time, :attr:`clock`) unless a name says wall seconds; sizes and
    offsets are bytes.
    """

    def __init__(self, config: BoardConfig | None = None, *, clock: VirtualClock | None = None) -> None:
        """Make a board, powered off, with erased flash.

        Args:
            config: the board's knobs (None: the defaults, a WFI32E Curiosity with Harmony v3.9.1).
            clock: the virtual clock to run on (None: a new one at time 0); share one between boards or with
                other models that must keep the same time.

        Raises:
            CallerError: ``config`` is not a :class:`BoardConfig` or ``clock`` not a :class:`VirtualClock`.
        """
        if config is not None and not isinstance(config, BoardConfig):
            raise CallerError(f"VirtualBoard takes a BoardConfig (or nothing for the defaults), not {config!r}")
        if clock is not None and not isinstance(clock, VirtualClock):
            raise CallerError(f"clock must be a VirtualClock, not {clock!r}")
        self.config = cfg = config or BoardConfig()  # checked when it was made
        self.clock = clock or VirtualClock()
        self.bootloader: BootProgram = cfg.bootloader or ModelProgram(
            cfg.profile, cfg.build_stamp, cfg.bootloader_variant
        )
        if cfg.application is None:
            from bootloader_model.application.model import ModelApplication  # here: model imports board modules

            self.application: ApplicationProgram = ModelApplication()
        else:
            self.application = cfg.application
        self.internal = NorFlash(PIC32MZ1025W104132, strict=False, timed=cfg.timed_flash, keep_log=False)
        self.external = NorFlash(SIZES[cfg.ext_size], strict=False, timed=cfg.timed_flash, keep_log=False)
        self.state = AppState.OFF
        # The last ``config.transcript_window`` bytes printed (older bytes are dropped in blocks), for hosts and
        # tests; :attr:`printed` counts every byte ever printed, so offsets stay absolute.
        self.transcript = bytearray()
        self.printed = 0
        # (offset, virtual time) of every print that started at a new time, so a host can tell when a line
        # came out (:meth:`printed_at`); trimmed with the transcript.
        self.print_times: list[tuple[int, float]] = []
        self._out = bytearray()  # printed and not yet taken by the UART link (at most one window)
        self._rx = bytearray()  # UART1's receive ring: at most UART_RX_BYTES unread bytes
        self.uart_overruns = 0  # bytes lost because the receive ring was full
        self.network_enabled = True
        self.boots: list[BootResult] = []  # the last KEEP_RECORDS or more boots
        self.history: list[BoardEvent] = []  # the last KEEP_RECORDS or more events; see event_count
        self.history_dropped = 0  # events trimmed off the front of history
        self.last_cut: PowerCut | None = None
        self._app: _App | None = None
        self._pending_reset = False
        self._crash_alarm: Alarm | None = None
        self._ext_busy = 0.0
        self._int_busy = 0.0  # internal flash busy time charged to the clock (the bootloader's, per run)
        self._in_boot = False
        self._moment_cut: MomentCut | None = None
        self._moment_alarm: Alarm | None = None
        self._last_moment_hit: MomentHit | None = None
        self.blocked_hosts: list[str] = []  # hosts the loopback-only network refused
        self.switch_pressed = False  # SWITCH1 held down (a button, not RAM: power and resets keep it)
        self._switch_alarm: Alarm | None = None

    # ------------------------------------------------------------------------------------ console I/O
    def _print(self, data: bytes) -> None:
        if not data:
            return
        now = self.moment()
        if not self.print_times or self.print_times[-1][1] != now:
            self.print_times.append((self.printed, now))
        self.printed += len(data)
        self.transcript += data
        self._out += data
        window = self.config.transcript_window
        if len(self.transcript) > window + window // 4:  # trim in blocks: amortised O(1) per byte
            del self.transcript[: len(self.transcript) - window]
            start = self.printed - len(self.transcript)
            keep = max(0, bisect.bisect_right(self.print_times, (start, float("inf"))) - 1)
            del self.print_times[:keep]
        if len(self._out) > window:  # nobody takes the output: a UART with nothing attached loses it
            del self._out[: len(self._out) - window]
        cut = self._moment_cut
        if cut is not None and cut.printed(self.transcript, self.printed, now):
            assert cut.at is not None
            self._moment_alarm = self.clock.call_at(cut.at, self._moment_reached)

    def moment(self) -> float:
        """Board time now, including flash busy time not yet charged to the clock (inside a bootloader run).

        Returns:
            Virtual seconds since the clock's start; at least :meth:`clock.now() <VirtualClock.now>`.
        """
        pending = self.external.busy_s - self._ext_busy
        if self._in_boot:
            pending += self.internal.busy_s - self._int_busy
        return self.clock.now() + max(0.0, pending)

    def take_output(self) -> bytes:
        """What the board printed since the last call (the bytes a UART would have sent).

        Output nobody takes is kept up to ``config.transcript_window`` bytes; older bytes are lost, as on a
        UART with nothing attached (:attr:`transcript` keeps its own copy).

        Returns:
            The bytes printed since the previous call, oldest first (empty when there are none).
        """
        out = bytes(self._out)
        self._out.clear()
        return out

    def uart_rx(self, data: bytes) -> None:
        """Bytes arriving on UART1. Only a running healthy application reads them; otherwise lost.

        They wait in the PLIB's receive ring (``UART1_READ_BUFFER_SIZE`` 128, one slot kept free) until the
        console task reads them at the board's next step; what arrives while the ring is full is lost
        (counted in :attr:`uart_overruns`), as on the board. The model's console task empties the ring at
        every step, where the firmware's takes one character per 10 ms pass.

        Args:
            data: the bytes typed (``bytes``, ``bytearray`` or ``memoryview``), e.g. ``b"otactl status\r"``.

        Raises:
            CallerError: ``data`` is not bytes-like (text must be encoded first).
        """
        data = _bytes_arg(data, "uart_rx")
        if self.state is not AppState.RUNNING:
            return
        room = max(0, UART_RX_BYTES - len(self._rx))
        self._rx += data[:room]
        self.uart_overruns += max(0, len(data) - room)

    def printed_at(self, offset: int) -> float | None:
        """Virtual time at which byte ``offset`` (counted from the board's first print) was printed.

        Args:
            offset: a byte offset over everything the board ever printed (:attr:`printed` counts them).

        Returns:
            Virtual seconds on the board's clock, or None past the end and for bytes older than the
            transcript window.
        """
        if not isinstance(offset, int) or isinstance(offset, bool):
            raise CallerError(f"printed_at's offset must be a byte offset (int), not {offset!r}")
        if not self.printed - len(self.transcript) <= offset < self.printed:
            return None
        i = bisect.bisect_right(self.print_times, (offset, float("inf"))) - 1
        return self.print_times[i][1] if i >= 0 else None

    @property
    def event_count(self) -> int:
        """Events noted since the board was made (``history`` keeps only the latest)."""
        return self.history_dropped + len(self.history)

    def events_since(self, count: int) -> list[BoardEvent]:
        """The events noted after the first ``count`` (as far as ``history`` still holds them).

        Args:
            count: how many events had been noted before, as :attr:`event_count` said then.

        Returns:
            The later events, oldest first; events already trimmed from ``history`` are left out.

        Raises:
            CallerError: ``count`` is not a whole number >= 0.
        """
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise CallerError(f"events_since's count must be a whole number >= 0 (e.g. event_count), not {count!r}")
        return self.history[max(0, count - self.history_dropped) :]

    @property
    def text(self) -> str:
        """The transcript (the last ``config.transcript_window`` bytes printed) as text, bad UTF-8 replaced."""
        return self.transcript.decode("utf-8", "replace")

    # -------------------------------------------------------------------------------------- lifecycle
    def provision(self, factory_app_bin: bytes) -> bool:
        """Program the unified hex (bootloader + factory application) as MPLAB would, board off.

        Given hex2bin's factory-reset variant (``otaloop image --factory``) it programs the application that
        variant holds, as the unified hex would.

        Args:
            factory_app_bin: the factory application's OTA ``.bin`` (boot control placeholder page first, at
                most the application window), or its factory-reset variant; any bytes-like object.

        Returns:
            True when ``factory_app_bin`` was a factory-reset variant, False for a plain application.

        Raises:
            CallerError: the board is powered, ``factory_app_bin`` is not bytes-like, or it is smaller than
                the 4 KiB boot control page or larger than the application window.
        """
        if self.state is not AppState.OFF:
            raise CallerError("provision a board while it is powered off")
        factory_app_bin = _bytes_arg(factory_app_bin, "provision")
        variant = provision_unified(self.internal, factory_app_bin)
        note = " (a factory-reset variant: programmed as its application)" if variant else ""
        self._note("provision", f"{len(factory_app_bin)} byte factory application{note}")
        return variant

    @property
    def service(self) -> OtaService | None:
        """The model OTA service of the running application (None when off, or when another application runs)."""
        run = self._app.run if self._app else None
        return run.service if run is not None else None

    @property
    def app_version(self) -> int | None:
        """The version in the app descriptor of the healthy application running now (None otherwise)."""
        app = self._app
        return app.descriptor.version if app is not None and app.run is not None else None

    @property
    def app_run(self) -> AppRun | None:
        """The running application's run (None when no healthy application runs)."""
        return self._app.run if self._app else None

    @property
    def powered(self) -> bool:
        """Whether the board has power (any state but :attr:`AppState.OFF`)."""
        return self.state is not AppState.OFF

    def power_on(self) -> None:
        """Apply power: run the bootloader and start whatever it jumps to; nothing if already powered.

        The bootloader runs at once, taking its flash time on the virtual clock. A power cut armed with
        :meth:`arm_cut` or :meth:`arm_moment_cut` that fires during the boot leaves the board off (see
        :attr:`last_cut`); it is not raised.
        """
        if self.powered:
            return
        self._note("power-on")
        self._guard(self._boot)

    def power_off(self) -> None:
        """Remove power: RAM is lost (the service, the console line, open sockets), flash keeps what it holds."""
        if self.powered:
            self._note("power-off")
        self._halt()

    def power_cycle(self) -> None:
        """:meth:`power_off`, then :meth:`power_on` at the same board moment."""
        self.power_off()
        self.power_on()

    def reset(self) -> None:
        """A reset (MCLR, or the software reset the firmware requests): RAM lost, bootloader runs again.

        Nothing happens while the board is off. A power cut during the boot leaves the board off, as in
        :meth:`power_on`.
        """
        if not self.powered:
            return
        self._note("reset")
        self._halt()
        self._guard(self._boot)

    def arm_moment_cut(self, pattern: str | bytes | re.Pattern[bytes], delay_s: float, *, seed: int = 0) -> MomentCut:
        """Cut power ``delay_s`` board seconds after the console next shows ``pattern`` (see :mod:`moment_cut`).

        The cut tears the flash operation under way at that moment (seeded by ``seed``), or falls between
        operations; :attr:`moment_hit` says which. Arming again replaces an earlier moment cut. Only output
        printed after this call counts.

        Args:
            pattern: literal text or bytes, or a compiled bytes regular expression, to find in the console
                output.
            delay_s: virtual seconds from the console write that completed ``pattern`` until the cut.
            seed: chooses the damage of a torn flash operation (the same seed tears it the same way).

        Returns:
            The armed cut; its ``at`` is the cut's board moment once the pattern has been printed.

        Raises:
            CallerError: ``pattern`` is empty, or ``delay_s`` is not a finite number of seconds >= 0.
        """
        _duration_arg(delay_s, "delay_s")
        self.disarm_moment_cut()
        self._last_moment_hit = None
        cut = MomentCut(compile_pattern(pattern), delay_s, search_from=self.printed, seed=seed)
        self._moment_cut = cut
        self.internal.observer = self._observed(self.internal, "internal", self.internal.observer)
        self.external.observer = self._observed(self.external, "external", self.external.observer)
        return cut

    def disarm_moment_cut(self) -> None:
        """Forget the moment cut armed with :meth:`arm_moment_cut`, if any, before it fires."""
        cut = self._moment_cut
        if cut is None:
            return
        self._moment_cut = None
        self.clock.cancel(self._moment_alarm)
        self._moment_alarm = None
        for flash in (self.internal, self.external):
            chained = getattr(flash.observer, "chained", None)
            if getattr(flash.observer, "moment_cut", False):
                flash.observer = chained

    @property
    def moment_cut_armed(self) -> bool:
        """Whether a moment cut is armed and has not fired yet."""
        return self._moment_cut is not None

    @property
    def moment_hit(self) -> MomentHit | None:
        """Where the last moment cut landed (None while it is pending or when none was armed)."""
        return self._last_moment_hit

    def _observed(
        self, flash: NorFlash, device: str, chained: Callable[[NorFlash, str, int, bytes], None] | None
    ) -> Callable[[NorFlash, str, int, bytes], None]:
        def observe(f: NorFlash, kind: str, address: int, data: bytes) -> None:
            if chained is not None:
                chained(f, kind, address, data)
            cut = self._moment_cut
            if cut is not None:
                counts = (self.internal.op_count, self.external.op_count)
                try:
                    cut.before_operation(flash, device, kind, address, self.moment(), counts)
                finally:
                    if cut.hit is not None:
                        self._last_moment_hit = cut.hit
                        self.disarm_moment_cut()

        observe.moment_cut = True  # type: ignore[attr-defined]
        observe.chained = chained  # type: ignore[attr-defined]
        return observe

    def _moment_reached(self) -> None:
        cut = self._moment_cut
        self._moment_alarm = None
        if cut is None:
            return
        if not self.powered:
            self.disarm_moment_cut()  # power went off before the moment: nothing left to cut
            return
        try:
            cut.reached((self.internal.op_count, self.external.op_count), self.internal.op_count)
        finally:
            if cut.hit is not None:
                self._last_moment_hit = cut.hit
                self.disarm_moment_cut()

    def arm_cut(self, device: str, plan: FaultPlan) -> None:
        """Cut power at a planned operation of ``"internal"`` or ``"external"`` flash.

        The board goes off at that operation (during a boot or while the application runs) and the flash
        holds what the plan's mode leaves; :attr:`last_cut` says which cut fired.

        Args:
            device: ``"internal"`` (program flash) or ``"external"`` (the SST26).
            plan: the operation to cut at, counted from this call on that flash, and how (before, after,
                torn); arming again replaces the flash's earlier plan.

        Raises:
            CallerError: ``device`` is neither ``"internal"`` nor ``"external"``, or ``plan`` is not a FaultPlan.
        """
        if device not in ("internal", "external"):
            raise CallerError(f"unknown flash {device!r}; choose internal or external")
        if not isinstance(plan, FaultPlan):
            raise CallerError(
                f"arm_cut's plan must be a FaultPlan, e.g. FaultPlan(5) or FaultPlan.parse('op5:before'), not {plan!r}"
            )
        (self.internal if device == "internal" else self.external).arm(plan)

    def set_network(self, up: bool) -> None:
        """Bring the board's network up or down (Harmony's service never notices a loss, spec 1.4).

        The network decides only whether the application obtains its IP address (``network_delay_s``
        after the jump): a service that already has it goes on as before.

        Args:
            up: True: up; False: an application that has not obtained its IP address waits for it.

        Raises:
            CallerError: ``up`` is not a bool.
        """
        if not isinstance(up, bool):
            raise CallerError(f"set_network takes True or False, not {up!r}")
        self.network_enabled = up

    # ------------------------------------------------------------------------------------------ SWITCH1
    def press_switch(self) -> None:
        """Press SWITCH1 and hold it down until :meth:`release_switch` (cancels a click's pending release)."""
        self._cancel_click()
        if not self.switch_pressed:
            self._note("switch", "press")
        self.switch_pressed = True

    def release_switch(self) -> None:
        """Let go of SWITCH1 (cancels a click's pending release)."""
        self._cancel_click()
        if self.switch_pressed:
            self._note("switch", "release")
        self.switch_pressed = False

    def click_switch(self, hold_s: float = CLICK_HOLD_S) -> None:
        """Press SWITCH1 now and let go ``hold_s`` board seconds later (when the board's time gets there).

        Args:
            hold_s: board seconds the switch stays down (> 0).

        Raises:
            CallerError: ``hold_s`` is not a finite number of seconds > 0.
        """
        _duration_arg(hold_s, "hold_s")
        if hold_s <= 0:
            raise CallerError(f"hold_s must be > 0 board seconds, not {hold_s!r}")
        self.press_switch()

        def release() -> None:
            self._switch_alarm = None
            self.release_switch()

        self._switch_alarm = self.clock.call_later(hold_s, release)

    def _cancel_click(self) -> None:
        if self._switch_alarm is not None:
            self.clock.cancel(self._switch_alarm)
            self._switch_alarm = None

    # ------------------------------------------------------------------------------------------- state
    def save(self, state_dir: str | os.PathLike[str]) -> None:
        """Write both flash arrays as raw images and a small metadata file, as one set.

        A process killed at any moment leaves the previous set or this one, never a mix
        (:mod:`bootloader_model.board.state_directory`). RAM (the running application) is not saved.

        Args:
            state_dir: the state directory; made (with its parents) if missing.

        Raises:
            CallerError: ``state_dir`` exists and is not a directory, or cannot be made.
        """
        if not isinstance(state_dir, (str, os.PathLike)) or not os.fspath(state_dir):
            raise CallerError(f"save's state_dir must be a directory path (str or os.PathLike), not {state_dir!r}")
        d = Path(state_dir)
        if d.exists() and not d.is_dir():
            raise CallerError(f"cannot save the board to {d}: it exists and is not a directory")
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CallerError(f"cannot create state directory {d}: {exc.strerror or exc}") from None
        meta = {"ext_size": self.config.ext_size, "internal": INTERNAL_FILE, "external": EXTERNAL_FILE}
        files: dict[str, bytes | bytearray] = {
            INTERNAL_FILE: self.internal.data,
            EXTERNAL_FILE: self.external.data,
            META_FILE: (json.dumps(meta, indent=2) + "\n").encode(),
        }
        save_set(d, files)

    def load(self, state_dir: str | os.PathLike[str]) -> None:
        """Load flash images saved by :meth:`save` (board off): the newest complete set.

        Args:
            state_dir: a state directory written by :meth:`save`.

        Raises:
            CallerError: the board is powered, or an image is missing, unreadable or of the wrong size
                (``ext_size`` differs from the saved board's).
        """
        if not isinstance(state_dir, (str, os.PathLike)) or not os.fspath(state_dir):
            raise CallerError(f"load's state_dir must be a directory path (str or os.PathLike), not {state_dir!r}")
        if self.powered:
            raise CallerError("load state while the board is powered off")
        self.internal.load(current_path(state_dir, INTERNAL_FILE))
        self.external.load(current_path(state_dir, EXTERNAL_FILE))

    @staticmethod
    def has_state(state_dir: str | os.PathLike[str]) -> bool:
        """Whether ``state_dir`` holds a saved board.

        Args:
            state_dir: the directory to look in.

        Returns:
            True when both flash images are there (a complete set, as :meth:`load` reads it).

        Raises:
            CallerError: ``state_dir`` is not a path.
        """
        if not isinstance(state_dir, (str, os.PathLike)) or not os.fspath(state_dir):
            raise CallerError(f"has_state's state_dir must be a directory path (str or os.PathLike), not {state_dir!r}")
        return current_path(state_dir, INTERNAL_FILE).is_file() and current_path(state_dir, EXTERNAL_FILE).is_file()

    # -------------------------------------------------------------------------------------------- time
    def run_until(self, predicate: Callable[[], bool], max_virtual_s: float, *, speed: float = 1e6) -> bool:
        """Run the board until ``predicate()`` holds or ``max_virtual_s`` pass; fast-forwards idle time.

        Args:
            predicate: called without arguments between steps (and by the OTA service's tick loop); True
                stops the run.
            max_virtual_s: the most virtual seconds to run.
            speed: virtual seconds per wall second while the application waits on a silent network socket
                (after a short 1:1 grace, so a live server is never timed out early).

        Returns:
            True if ``predicate()`` held (at once, or within ``max_virtual_s``), False if the time ran out.

        Raises:
            CallerError: ``predicate`` is not callable, ``max_virtual_s`` is not a finite number >= 0, or
                ``speed`` is not > 0.
        """
        if not callable(predicate):
            raise CallerError(f"run_until needs a callable predicate, not {predicate!r}")
        _duration_arg(max_virtual_s, "max_virtual_s")
        _speed_arg(speed)
        end = self.clock.now() + max_virtual_s
        while not predicate():
            now = self.clock.now()
            if now >= end - 1e-9:
                return False
            self.step(end - now, speed=speed, predicate=predicate)
        return True

    def run_for(self, virtual_s: float, *, speed: float = 1e6) -> None:
        """Run ``virtual_s`` seconds of board time; idle time is fast-forwarded.

        Args:
            virtual_s: virtual seconds to run.
            speed: virtual seconds per wall second while the application waits on a silent network socket
                (after a short 1:1 grace).

        Raises:
            CallerError: ``virtual_s`` is not a finite number >= 0, or ``speed`` is not > 0.
        """
        _duration_arg(virtual_s, "virtual_s")
        _speed_arg(speed)
        end = self.clock.now() + virtual_s
        while self.clock.now() < end - 1e-9:
            self.step(end - self.clock.now(), speed=speed)

    def step(
        self,
        budget_s: float,
        *,
        speed: float = 1e6,
        predicate: Callable[[], bool] | None = None,
        wall_limit_s: float | None = None,
    ) -> None:
        """Advance at most ``budget_s`` virtual seconds, stopping early when something needs attention.

        ``wall_limit_s`` bounds the wall time spent waiting on the network (a slow server): the step then
        returns with less virtual time passed, and the OTA service's wait goes on at the next step, as the
        service task on the board waits while the console task runs.

        Args:
            budget_s: the most virtual seconds to advance.
            speed: virtual seconds per wall second while the application waits on a silent network socket
                (after a short 1:1 grace).
            predicate: called without arguments while the application runs; True ends the step early.
            wall_limit_s: the most wall seconds to spend waiting on the network (None: no limit).

        Raises:
            CallerError: ``budget_s`` or ``wall_limit_s`` is not a finite number >= 0, ``speed`` is not > 0,
                or ``predicate`` is neither callable nor None.
        """
        _duration_arg(budget_s, "budget_s")
        _speed_arg(speed)
        if predicate is not None and not callable(predicate):
            raise CallerError(f"step's predicate must be callable or None, not {predicate!r}")
        if wall_limit_s is not None:
            _duration_arg(wall_limit_s, "wall_limit_s")
        self._guard(lambda: self._step(budget_s, speed, predicate, wall_limit_s))

    def _step(
        self, budget_s: float, speed: float, predicate: Callable[[], bool] | None, wall_limit_s: float | None
    ) -> None:
        if self._pending_reset:
            self._pending_reset = False
            self._note("software-reset")
            self._halt(keep_power=True)
            self._boot()
            return
        app = self._app
        if self.state is AppState.RUNNING and app is not None and app.run is not None:
            run = app.run
            if self._rx:
                data = bytes(self._rx)
                self._rx.clear()
                run.uart_rx(data)
                if self._pending_reset or run.reset_requested:
                    self._pending_reset = True
                    return
            stop = predicate or (lambda: False)
            run.run(
                budget_s,
                speed=speed,
                stop=lambda: stop() or self._pending_reset or bool(self._rx),
                wall_limit_s=wall_limit_s,
            )
            self._charge_external_time()
            if run.reset_requested:
                self._pending_reset = True
            elif run.hung:
                # A write through NULL ends in the PIC32 general exception handler's endless loop.
                self._note("app-hang", "application hung")
                self.state = AppState.HUNG
            return
        # Nothing runs (off, hung, silent, stuck, or a crash pending): time passes up to the next alarm,
        # so a pending crash reset is handled at its moment rather than at the end of the budget.
        nxt = self.clock.next_deadline()
        now = self.clock.now()
        self.clock.advance(budget_s if nxt is None else max(0.0, min(budget_s, nxt - now)))

    # -------------------------------------------------------------------------------------- internals
    def _note(self, kind: str, detail: str = "") -> None:
        self.history.append(BoardEvent(self.clock.now(), kind, detail))
        if len(self.history) > 2 * KEEP_RECORDS:
            self.history_dropped += len(self.history) - KEEP_RECORDS
            del self.history[:-KEEP_RECORDS]

    def _guard(self, action: Callable[[], None]) -> None:
        try:
            action()
        except PowerCut as cut:
            self.last_cut = cut
            self._note("power-cut", cut.fault_id)
            self._halt()

    def _halt(self, keep_power: bool = False) -> None:
        if self._crash_alarm is not None:
            self.clock.cancel(self._crash_alarm)
            self._crash_alarm = None
        app, self._app = self._app, None
        if app is not None and app.run is not None:
            app.run.stop()  # RAM is gone: sockets close, a helper process ends
        self._rx.clear()
        self._pending_reset = False
        self.state = AppState.RUNNING if keep_power else AppState.OFF

    def _charge_external_time(self) -> None:
        busy, charged = self.external.busy_s, self._ext_busy
        self._ext_busy = busy  # first: a cut fired by the clock below must not leave it charged twice
        if busy > charged:
            self.clock.advance(busy - charged)

    def _boot(self) -> None:
        """From reset: bootloader runs (possibly resetting itself), then the application starts."""
        self.state = AppState.CRASHING  # powered, nothing running yet
        for _ in range(MAX_RESETS_PER_STEP):
            self._int_busy = self.internal.busy_s
            self._in_boot = True
            try:
                result = self.bootloader.boot(self.internal, self.external, self._print)
            finally:
                self._in_boot = False
            self.boots.append(result)
            if len(self.boots) > 2 * KEEP_RECORDS:
                del self.boots[:-KEEP_RECORDS]
            busy, self._int_busy = self.internal.busy_s - self._int_busy, self.internal.busy_s
            self._charge_external_time()
            self.clock.advance(max(0.0, busy))
            if result.outcome is Outcome.RESET:
                self._note("bootloader-reset")
                continue
            if result.outcome is Outcome.STUCK:
                self._note("bootloader-stuck", result.stuck_reason or "")
                self.state = AppState.BOOTLOADER_STUCK
                return
            self._note("jump", f"0x{result.jump_addr or 0:08X}")
            self._start_app()
            return
        self._note("reset-loop", f"{MAX_RESETS_PER_STEP} bootloader resets in a row")
        self.state = AppState.BOOTLOADER_STUCK

    def _start_app(self) -> None:
        window = self.internal.read(SLOT_START, SLOT_SIZE)
        try:
            desc = read_descriptor(window)
        except DescriptorError as exc:
            self._note("app-invalid", str(exc))
            self.state = AppState.SILENT
            return
        self._app = app = _App(desc, started_at=self.clock.now())
        if desc.behaviour is Behaviour.HANG_AT_BOOT:
            self._note("app-hang", f"version {desc.version}")
            self.state = AppState.HUNG
            return
        if desc.behaviour is Behaviour.CRASH_AT_BOOT:
            self._note("app-crash", f"version {desc.version}")
            self.state = AppState.CRASHING

            def crash() -> None:
                self._crash_alarm = None
                self._pending_reset = True  # the next step performs the reset

            self._crash_alarm = self.clock.call_later(self.config.crash_delay_s, crash)
            return
        up_at = self.clock.now() + self.config.network_delay_s
        context = AppContext(
            descriptor=desc,
            internal=self.internal,
            external=self.external,
            clock=self.clock,
            console=self._print,
            switch=lambda: self.switch_pressed,
            network_up=lambda: self.network_enabled and self.clock.now() >= up_at,
            request_reset=self._request_reset,
            profile=self.config.profile,
            loopback_only=self.config.network == "loopback",
            blocked_hosts=self.blocked_hosts,  # one list across boots, for the host to report
            network_patience_s=self.config.network_patience_s,
        )
        self.state = AppState.RUNNING  # the application prints and takes input from its first instruction
        app.run = self.application.start(context)
        self._note("app-start", f"version {desc.version}")

    def _request_reset(self) -> None:
        self._pending_reset = True


def _bytes_arg(data: object, what: str) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    hint = " (encode text first, e.g. 'help\\r'.encode())" if isinstance(data, str) else ""
    raise CallerError(f"{what} takes bytes, bytearray or memoryview, not {type(data).__name__}{hint}")


def _duration_arg(value: object, name: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise CallerError(f"{name} must be a number of virtual seconds, not {value!r}")
    if not math.isfinite(value):
        raise CallerError(f"{name} must be finite, not {value!r}")
    if value < 0:
        raise CallerError(f"{name} must be >= 0 virtual seconds, not {value!r}")


def _speed_arg(speed: object) -> None:
    if not isinstance(speed, (int, float)) or isinstance(speed, bool) or not speed > 0:
        raise CallerError(f"speed must be a number > 0 (virtual seconds per wall second), not {speed!r}")


def provisioned_board(factory_app_bin: bytes, config: BoardConfig | None = None) -> VirtualBoard:
    """A powered-off board made to ``config``, programmed as MPLAB would with ``factory_app_bin``.

    Args:
        factory_app_bin: the factory application's OTA ``.bin`` (see :meth:`VirtualBoard.provision`).
        config: the board's knobs (None: the defaults).

    Returns:
        The board, powered off.

    Raises:
        CallerError: ``factory_app_bin`` is not bytes, or ``config`` is not a :class:`BoardConfig`.
    """
    board = VirtualBoard(config)
    board.provision(factory_app_bin)
    return board
