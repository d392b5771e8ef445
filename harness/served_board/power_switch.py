"""Power (and SWITCH1) for a served virtual board, switched from outside as a hub port or relay switches a real one.

:class:`BoardPower` is what ``otaloop board`` answers on its control channel
(:mod:`harness.served_board.power_channel`):
``on``, ``off``, ``cycle [SECONDS]`` and ``status``, and the timed cut only a model can make exactly:
``cut-after PATTERN SECONDS [SEED]`` arms a cut that many board seconds after the console next shows
``PATTERN`` (:mod:`bootloader_model.board.moment_cut`), and ``cut-status`` answers ``pending``, ``none`` or
the JSON of where the cut landed. Beside power sits the board's one button, SWITCH1:
``switch press|release|click [SECONDS]|status`` answers ``pressed`` or ``released`` (a click's release comes
that many board seconds later). Without a console link the console stays put while
the board is off, as the PKOB4 virtual COM port of a Curiosity board whose target supply is switched by a
relay does. With a :class:`~harness.served_board.usb_console.UsbConsoleLink` the console goes with the power, as a
board powered through a switchable USB hub does: ``off`` removes the port, ``on`` plugs a new one and
holds the board in reset until a host has opened it (or the link's hold time has passed).

Every change goes through :meth:`BoardRunner.call <harness.served_board.runner.BoardRunner.call>`, so it is safe
while the runner's thread drives the board. It does not parse the control channel's lines.
"""

from __future__ import annotations

import dataclasses
import json
import time

from bootloader_model.board.virtual_board import CLICK_HOLD_S, VirtualBoard
from bootloader_model.errors import CallerError
from harness.served_board.runner import BoardRunner
from harness.served_board.usb_console import UsbConsoleLink

#: What ``switch`` takes: SWITCH1 pressed and held, let go, pressed and let go, or only read.
SWITCH_ACTIONS = ("press", "release", "click", "status")
#: Seconds ``cycle`` keeps the board off when no time is given (supply rails discharge, USB disconnects).
DEFAULT_OFF_TIME = 0.5


class BoardPower:
    """Switch a served board's power; with a USB console link the console vanishes and returns with it."""

    def __init__(self, runner: BoardRunner, link: UsbConsoleLink | None = None) -> None:
        self.runner = runner
        self.link = link
        self._held = False  # power applied, board held in reset until a host opens the new port
        if link is not None:
            link.on_host_ready = self._release

    def _release(self) -> None:
        # Called by the link from inside a runner turn (the runner's lock is held).
        if self._held:
            self._held = False
            self.runner.board.power_on()

    def on(self) -> None:
        def apply(board: VirtualBoard) -> None:
            if self.link is None:
                board.power_on()
                return
            if self.link.present and not board.powered and not self._held:
                self.link.unplug()  # a timed cut turned the board off: its port goes now, as with a cut supply
            if not self.link.present:
                self.link.plug()
                self._held = True

        self.runner.call(apply)

    def off(self) -> None:
        def apply(board: VirtualBoard) -> None:
            board.power_off()
            self._held = False
            if self.link is not None:
                self.link.unplug()

        self.runner.call(apply)

    def cycle(self, off_time: float = DEFAULT_OFF_TIME) -> None:
        self.off()
        time.sleep(off_time)
        self.on()

    def arm_cut_after(self, pattern: str, delay_s: float, seed: int = 0) -> None:
        """Cut power ``delay_s`` board seconds after the console next shows ``pattern`` (exact, board time)."""
        self.runner.call(lambda b: b.arm_moment_cut(pattern, delay_s, seed=seed))

    def cut_status(self) -> str:
        """``pending`` (armed, not yet cut), ``none`` (nothing armed or hit), or the hit as JSON."""

        def read(board: VirtualBoard) -> str:
            hit = board.moment_hit
            if hit is not None:
                return json.dumps(dataclasses.asdict(hit))
            return "pending" if board.moment_cut_armed else "none"

        return self.runner.call(read)

    def status(self) -> str:
        """``on``, ``off``, or ``held`` (power applied, waiting for a host to open the new port)."""

        def read(board: VirtualBoard) -> str:
            if self._held:
                return "held"
            return "on" if board.powered else "off"

        return self.runner.call(read)

    def switch(self, action: str, hold_s: float = CLICK_HOLD_S) -> str:
        """Press, release or click SWITCH1 (``status``: leave it); answer ``pressed`` or ``released``."""

        def apply(board: VirtualBoard) -> str:
            if action == "press":
                board.press_switch()
            elif action == "release":
                board.release_switch()
            elif action == "click":
                board.click_switch(hold_s)
            return "pressed" if board.switch_pressed else "released"

        return self.runner.call(apply)

    # ---------------------------------------------------------------------------------- control lines
    def command(self, words: list[str]) -> str:
        """Run one control-channel command; return the text after ``ok``. Bad commands are CallerErrors."""
        if not words:
            raise CallerError("empty command; expected on, off, cycle [SECONDS] or status")
        verb, args = words[0], words[1:]
        if verb in ("on", "off", "status", "cut-status") and args:
            raise CallerError(f"{verb} takes no arguments")
        if verb == "cut-status":
            return self.cut_status()
        if verb == "switch":
            if not args or args[0] not in SWITCH_ACTIONS:
                raise CallerError(f"switch takes one of {', '.join(SWITCH_ACTIONS)}")
            if len(args) > (2 if args[0] == "click" else 1):
                raise CallerError("switch click takes at most one argument, the hold time in board seconds")
            hold = CLICK_HOLD_S
            if len(args) == 2:
                hold = _seconds(args[1])
                if hold <= 0:
                    raise CallerError(f"bad hold time {args[1]!r}: expected seconds > 0")
            return self.switch(args[0], hold)
        if verb == "cut-after":
            if not 2 <= len(args) <= 3:
                raise CallerError("cut-after takes PATTERN SECONDS [SEED]")
            seed = _whole(args[2]) if len(args) == 3 else 0
            self.arm_cut_after(args[0], _seconds(args[1]), seed)
            return "armed"
        if verb == "on":
            self.on()
        elif verb == "off":
            self.off()
        elif verb == "cycle":
            if len(args) > 1:
                raise CallerError("cycle takes at most one argument, the off time in seconds")
            off_time = _seconds(args[0]) if args else DEFAULT_OFF_TIME
            self.cycle(off_time)
        elif verb != "status":
            raise CallerError(
                f"unknown command {verb!r}; expected on, off, cycle [SECONDS], status, cut-after, cut-status or switch"
            )
        return self.status()


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise CallerError(f"bad time {text!r}: expected seconds between 0 and 3600")
    return value


def _whole(text: str) -> int:
    if not text.isdigit():
        raise CallerError(f"bad seed {text!r}: expected a whole number >= 0")
    return int(text)
