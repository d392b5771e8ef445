"""Power control for boards under test: one small protocol, a command-line backend for real hardware.

Real labs switch board power with a relay, a switchable USB hub or a PDU, usually through a vendor
command (``uhubctl``, ``usbrelay``, ``snmpset``...). :class:`CommandPower` runs such commands; the
virtual board implements the same :class:`PowerControl` protocol in-process (and adds cuts at a chosen
flash operation, a capability real boards lack).

This module does not know any relay's protocol; it only runs the commands it is given.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from typing import Protocol

from bootloader_model.errors import BoardError, CallerError


class PowerControl(Protocol):
    def on(self) -> None: ...
    def off(self) -> None: ...
    def cycle(self, off_time: float = 1.0) -> None: ...


class CommandPower:
    """Switch power by running shell-free commands, e.g. ``CommandPower("uhubctl -a on -p 2", ...)``."""

    def __init__(self, on_cmd: str, off_cmd: str, *, timeout: float = 30.0) -> None:
        if not on_cmd.strip() or not off_cmd.strip():
            raise CallerError("power commands must not be empty")
        self.on_cmd = shlex.split(on_cmd)
        self.off_cmd = shlex.split(off_cmd)
        self.timeout = timeout

    def _run(self, argv: list[str]) -> None:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout, check=False)
        except FileNotFoundError:
            raise CallerError(f"power command not found: {argv[0]}") from None
        except subprocess.TimeoutExpired:
            raise BoardError(f"power command timed out after {self.timeout:g} s: {shlex.join(argv)}") from None
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise BoardError(
                f"power command failed (exit {done.returncode}): {shlex.join(argv)}"
                + (f": {detail[-1]}" if detail else "")
            )

    def on(self) -> None:
        self._run(self.on_cmd)

    def off(self) -> None:
        self._run(self.off_cmd)

    def cycle(self, off_time: float = 1.0) -> None:
        self.off()
        time.sleep(off_time)  # let the board's supply rails discharge before power returns
        self.on()
