"""SWITCH1 of a board under test: one small protocol, a command-line backend for real hardware.

A firmware engineer who follows Harmony's OTA developer guide triggers an update check, an OTA or a factory
reset from SWITCH1. On a rig the button is pressed by a relay or a GPIO of a lab computer wired across it,
switched by a vendor command (``usbrelay``, ``gpioset``...). :class:`CommandSwitch` runs such commands; a
virtual board is pressed in-process (:class:`~harness.scenarios.virtual_hooks.VirtualHooks`) or through
its control channel (``otaloop switch``).

This module does not know any relay's protocol; it only runs the commands it is given.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from typing import Protocol

from bootloader_model.errors import BoardError, CallerError

#: Seconds a click holds the button down by default (a finger's press).
CLICK_HOLD_S = 0.1


class SwitchControl(Protocol):
    def press(self) -> None: ...
    def release(self) -> None: ...
    def click(self, hold_s: float = CLICK_HOLD_S) -> None: ...


class CommandSwitch:
    """Press and release SWITCH1 by running shell-free commands, e.g. ``CommandSwitch("usbrelay R1=1", ...)``."""

    def __init__(self, press_cmd: str, release_cmd: str, *, timeout: float = 30.0) -> None:
        if not press_cmd.strip() or not release_cmd.strip():
            raise CallerError("switch commands must not be empty")
        self.press_cmd = shlex.split(press_cmd)
        self.release_cmd = shlex.split(release_cmd)
        self.timeout = timeout

    def _run(self, argv: list[str]) -> None:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout, check=False)
        except FileNotFoundError:
            raise CallerError(f"switch command not found: {argv[0]}") from None
        except subprocess.TimeoutExpired:
            raise BoardError(f"switch command timed out after {self.timeout:g} s: {shlex.join(argv)}") from None
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise BoardError(
                f"switch command failed (exit {done.returncode}): {shlex.join(argv)}"
                + (f": {detail[-1]}" if detail else "")
            )

    def press(self) -> None:
        self._run(self.press_cmd)

    def release(self) -> None:
        self._run(self.release_cmd)

    def click(self, hold_s: float = CLICK_HOLD_S) -> None:
        """Press, hold ``hold_s`` wall seconds, release."""
        self.press()
        try:
            time.sleep(hold_s)
        finally:
            self.release()
