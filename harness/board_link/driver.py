"""Typed operations on a board over its console; the same class drives a real board and the virtual one.

The contract is text on UART1 (spec section 9): the bootloader banner at every reset, the application's
``APP: version <n>`` line, the OTA demo callback's event names, the service's ``SYS OTA : ...`` lines, and
the ``sysota``/``otactl`` command groups. :class:`BoardDriver` turns those into method calls and parsed
values; anything unexpected raises a :class:`~bootloader_model.errors.BoardError` that shows what the
board printed.

It does not start boards, serve images or cut power: see :mod:`harness.image.server` and the power
backends for that.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import overload

from bootloader_model.errors import BoardDead, BoardError, CallerError, ConsoleTimeout
from harness.board_link.console import Console

#: Callback events as the demo's ``app_ota.c`` prints them (spec section 1.2 and 9).
EVENTS = (
    "SYS_OTA_UPDATE_CHECK_START",
    "SYS_OTA_UPDATE_CHECK_FAILED",
    "SYS_OTA_UPDATE_AVAILABLE",
    "SYS_OTA_UPDATE_NOTAVAILABLE",
    "SYS_OTA_TRIGGER_OTA_FAILED",
    "SYS_OTA_FACTORY_RESET_SUCCESS",
    "SYS_OTA_FACTORY_RESET_FAILED",
    "SYS_OTA_ROLLBACK_SUCCESS",
    "SYS_OTA_ROLLBACK_FAILED",
    "SYS_OTA_DOWNLOAD_START",
    "SYS_OTA_DOWNLOAD_SUCCESS",
    "SYS_OTA_DOWNLOAD_FAILED",
    "SYS_OTA_IMAGE_DIGEST_VERIFY_START",
    "SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS",
    "SYS_OTA_IMAGE_VERIFICATION_FAILED",  # the demo's spelling of IMAGE_DIGEST_VERIFY_FAILED
    "SYS_OTA_DB_ENTRY_SUCCESS",
    "SYS_OTA_IMAGE_ERASE_FAILED",
    "SYS_OTA_IMAGE_ERASED",
    "SYS_OTA_IMAGE_DATABASE_FULL",
)

MAX_LINE = 80  # SYS_CMD_MAX_LENGTH by default: a longer line is answered "buffer exceeded" and dropped
BOOT_BANNER = re.compile(rb"BOOTLOADER Build [A-Z][a-z]{2} [ \d]\d \d{4} \d\d:\d\d:\d\d")
APP_VERSION = re.compile(rb"APP: version (\d+)\r\n")
_EVENT_LINE = re.compile(rb"(" + b"|".join(e.encode() for e in EVENTS) + rb")\r\n")
_OTACTL = re.compile(rb"otactl: (SYS_OTA_SUCCESS|SYS_OTA_FAILURE|url too long|bad version|usage: [^\r\n]*)")
_STATUS = re.compile(rb"otactl: state=(\w+) downloaded=(\d+) total=(\d+) version=(\d+)")
#: The service's state while it takes control messages (spec 2.1).
IDLE = "SYS_OTA_STATE_IDLE"
#: The state a service with periodic checking rests in between checks: nothing in progress, yet every control
#: message is refused until it falls to IDLE (after an erase, a failed download, ...; spec 2.1).
TIMER_WAIT = "SYS_OTA_WAIT_FOR_OTA_TIMER_TRIGGER"
#: Seconds :meth:`BoardDriver.status` waits, after a reset, for the answer to a command the application may have
#: read before it asks again (an application echoes and answers a command line within milliseconds).
RESET_GRACE = 1.0
#: The states :meth:`BoardDriver.wait_idle` takes as "at rest".
AT_REST = (IDLE, TIMER_WAIT)


@dataclass(frozen=True)
class Status:
    """``otactl status``: the SYS_OTA state, download progress and the running app version."""

    state: str
    downloaded: int
    total: int
    version: int

    @property
    def takes_control(self) -> bool:
        """Whether the service takes control messages now (``otactl check``, ``factory``, ...): only when idle."""
        return self.state == IDLE


@dataclass(frozen=True)
class BootInfo:
    """One observed boot: what the bootloader printed and which application came up (None: silent)."""

    bootloader_lines: tuple[str, ...]
    app_version: int | None


class BoardDriver:
    """Drive one board through its console.

    Every timeout is in wall seconds (on a virtual board served at ``speed``, one wall second is ``speed``
    board seconds). What the board printed and what was typed stay in :attr:`console`.
    """

    def __init__(
        self, console: Console, *, boot_timeout: float = 20.0, cmd_timeout: float = 10.0, max_line: int = MAX_LINE
    ) -> None:
        """Drive the board behind ``console``; nothing is sent until a method is called.

        Args:
            console: the board's console (a real port, a pty of a served virtual board, or in-process).
            boot_timeout: wall seconds :meth:`wait_boot` waits for the banner, and then for the application.
            cmd_timeout: wall seconds each command waits for the board's answer.
            max_line: the firmware's ``SYS_CMD_MAX_LENGTH`` in characters: the longest command line sent.

        Raises:
            CallerError: ``max_line`` is not a positive integer.
        """
        if not isinstance(max_line, int) or isinstance(max_line, bool) or max_line < 1:
            raise CallerError(
                f"max_line (the firmware's SYS_CMD_MAX_LENGTH) must be a positive integer, got {max_line!r}"
            )
        self.console = console
        #: The firmware's SYS_CMD_MAX_LENGTH: the longest command line this driver sends.
        self.max_line = max_line
        self.boot_timeout = boot_timeout
        self.cmd_timeout = cmd_timeout
        #: Boots that interrupted :meth:`status` (or :meth:`wait_idle`) and were waited out.
        self.resets_survived = 0

    # ------------------------------------------------------------------------------------------- boots
    def wait_boot(self, timeout: float | None = None, *, app_timeout: float | None = None) -> BootInfo:
        """Wait for the bootloader banner, then for ``APP: version <n>`` (or report a silent application).

        Args:
            timeout: wall seconds to wait for the banner (None: ``boot_timeout``).
            app_timeout: wall seconds to wait, after the banner, for the application's version line (None:
                ``boot_timeout``).

        Returns:
            What the bootloader printed and the version of the application that came up; ``app_version`` is
            None when no application line came within ``app_timeout``.

        Raises:
            BoardDead: no bootloader banner within ``timeout``.
            BoardError: the console failed (:class:`~bootloader_model.errors.PortLost`) or the board printed
                a death string (:class:`~bootloader_model.errors.DeathString`) while waiting for the banner.
        """
        con = self.console
        wait = timeout or self.boot_timeout
        try:
            con.expect(BOOT_BANNER, wait)
        except ConsoleTimeout as exc:
            raise BoardDead(
                f"no bootloader banner within {wait:g} s: is the board powered, flashed and on this port? "
                f"last bytes seen: {exc.tail[-60:]!r}"
            ) from None
        start = con.pos
        try:
            m = con.expect(APP_VERSION, app_timeout or self.boot_timeout)
        except BoardError:
            tail = bytes(con.buffer[start:])
            return BootInfo(tuple(_lines(tail)), None)
        between = bytes(con.buffer[start : m.start()])
        return BootInfo(tuple(_lines(between)), int(m.group(1)))

    def reset(self) -> BootInfo:
        """Type the built-in ``reset`` command and wait for the board to come back.

        Returns:
            The boot that followed, as :meth:`wait_boot` gives it.

        Raises:
            ConsoleTimeout: no `` *** System Reboot *** `` within ``cmd_timeout``.
            BoardDead: no bootloader banner within ``boot_timeout`` after it.
        """
        self.console.send_line("reset")
        self.console.expect(b" *** System Reboot ***", self.cmd_timeout)
        return self.wait_boot()

    # ------------------------------------------------------------------------------------------ events
    def wait_event(self, name: str, timeout: float = 30.0) -> str:
        """Wait for the next event line; fail if a different event comes first.

        Args:
            name: the event, one of :data:`EVENTS` (e.g. ``"SYS_OTA_DOWNLOAD_SUCCESS"``).
            timeout: wall seconds to wait for the next event line.

        Returns:
            ``name``.

        Raises:
            CallerError: ``name`` is not an OTA event name.
            BoardError: another event came first.
            ConsoleTimeout: no event line within ``timeout``.
        """
        if name not in EVENTS:
            raise CallerError(f"unknown OTA event {name!r}")
        got = self.next_event(timeout)
        if got != name:
            raise BoardError(f"expected event {name}, board reported {got}")
        return got

    def next_event(self, timeout: float = 30.0) -> str:
        """Wait for the next OTA event line, whichever it is.

        Args:
            timeout: wall seconds to wait.

        Returns:
            The event's name, one of :data:`EVENTS`.

        Raises:
            ConsoleTimeout: no event line within ``timeout``.
        """
        return self.console.expect(_EVENT_LINE, timeout).group(1).decode()

    def events_until(self, final: set[str], timeout: float = 60.0) -> list[str]:
        """Collect events until one of ``final`` arrives (inclusive).

        Args:
            final: event names that end the wait.
            timeout: wall seconds to wait for each next event (not for all of them).

        Returns:
            Every event seen, in order, the final one last.

        Raises:
            ConsoleTimeout: no event line within ``timeout`` of the previous one.
        """
        seen: list[str] = []
        while True:
            ev = self.next_event(timeout)
            seen.append(ev)
            if ev in final:
                return seen

    # ----------------------------------------------------------------------------------------- otactl
    def _otactl(self, *args: str) -> bool:
        line = " ".join(("otactl", *args))
        if len(line) > self.max_line:
            raise CallerError(
                f"command line of {len(line)} characters: SYS_COMMAND drops lines over {self.max_line} "
                f"(SYS_CMD_MAX_LENGTH) ({line[:40]}...)"
            )
        self.console.send_line(line)  # paced by the echo when longer than the UART receive ring
        answer = self.console.expect(_OTACTL, self.cmd_timeout).group(1)
        if answer not in (b"SYS_OTA_SUCCESS", b"SYS_OTA_FAILURE"):
            # The board refused the arguments themselves (long URL, bad version, usage): the caller erred.
            raise CallerError(f"otactl {' '.join(args)}: board answered {answer.decode(errors='replace')!r}")
        return answer == b"SYS_OTA_SUCCESS"

    def check_update(self) -> bool:
        """``otactl check``: ``SYS_OTA_UPDATECHCK``, a manifest check now.

        Returns:
            True if the service accepted the message (it must be idle), False if refused; the outcome comes
            as events (``SYS_OTA_UPDATE_CHECK_START``, then available, not available or failed).

        Raises:
            ConsoleTimeout: no ``otactl:`` answer within ``cmd_timeout``.
        """
        return self._otactl("check")

    def start_ota(self, url: str | None = None, version: int | None = None, digest: str | None = None) -> bool:
        """``otactl start``: ``SYS_OTA_INITIATE_OTA``, optionally after ``SYS_OTA_SET_PARAMETERS``.

        Give all three of ``url``, ``version`` and ``digest`` to download that image without a manifest, or
        none to update from the manifest.

        Args:
            url: the image's URL.
            version: the image's application version.
            digest: the image's SHA-256 in hex.

        Returns:
            True if the service accepted it, False if refused.

        Raises:
            CallerError: only some of the three were given, the command line would exceed ``max_line``, or
                the board rejected the arguments (a URL too long, a bad version).
            ConsoleTimeout: no ``otactl:`` answer within ``cmd_timeout``.
        """
        given = [url, version, digest]
        if any(v is not None for v in given) and not all(v is not None for v in given):
            raise CallerError("start_ota needs url, version and digest together, or none of them")
        if url is None:
            return self._otactl("start")
        return self._otactl("start", url, str(version), str(digest))

    def system_reset(self) -> bool:
        """``otactl sysreset``: ``SYS_OTA_TRIGGER_SYSTEM_RESET``.

        The service resets the board only once an update's database entry is done; otherwise it prints
        ``OTA DB entry is not yet done`` and stays idle (spec section 1.6 M).

        Returns:
            True if the service accepted the message (it must be idle), False if refused. After a reset,
            follow with :meth:`wait_boot`.

        Raises:
            ConsoleTimeout: no ``otactl:`` answer within ``cmd_timeout``.
        """
        return self._otactl("sysreset")

    def factory_reset(self) -> bool:
        """``otactl factory``: ``SYS_OTA_TRIGGER_FACTORY_RESET``.

        The service deletes the image database and erases boot control, so the next boot programs the
        factory image; it does not reset the board.

        Returns:
            True if the service accepted the message (it must be idle), False if refused; the outcome comes
            as the event ``SYS_OTA_FACTORY_RESET_SUCCESS``.

        Raises:
            ConsoleTimeout: no ``otactl:`` answer within ``cmd_timeout``.
        """
        return self._otactl("factory")

    def rollback(self) -> bool:
        """``otactl rollback``: ``SYS_OTA_TRIGGER_ROLLBACK``.

        The service marks the running image's database row F0, so the next boot programs the previous
        image (or the factory image); it does not reset the board.

        Returns:
            True if the service accepted the message (it must be idle), False if refused; the outcome comes
            as the event ``SYS_OTA_ROLLBACK_SUCCESS``.

        Raises:
            ConsoleTimeout: no ``otactl:`` answer within ``cmd_timeout``.
        """
        return self._otactl("rollback")

    def status(self, timeout: float | None = None) -> Status:
        """``otactl status``: the service's state, download progress and the running version.

        A reset of the board while the command is on its way (the board's own, after an update, or a power
        cycle) loses the command; when the bootloader banner shows instead of the answer, the driver waits
        for the application to come back (``APP: version <n>``) and asks again, all within ``timeout``
        seconds (default: the driver's ``cmd_timeout``). The boot is consumed: a later :meth:`wait_boot`
        waits for the next one; :attr:`resets_survived` counts such boots.

        Args:
            timeout: wall seconds for the answer, resets included (None: ``cmd_timeout``).

        Returns:
            The state name (e.g. ``SYS_OTA_STATE_IDLE``), bytes downloaded and total, and the version.

        Raises:
            ConsoleTimeout: no answer within ``timeout`` (the tail of the console is in the message).
        """
        wait = self.cmd_timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        con = self.console
        send = True
        sent_at = 0
        while True:
            if send:
                sent_at = len(con.buffer)
                con.send_line("otactl status")
                send = False
            left = max(0.0, deadline - time.monotonic())
            try:
                i, m = con.expect_any([_STATUS, BOOT_BANNER], left)
            except ConsoleTimeout as exc:
                raise ConsoleTimeout(exc.pattern, wait, exc.tail) from None
            if i == 0:
                return Status(m.group(1).decode(), int(m.group(2)), int(m.group(3)), int(m.group(4)))
            if m.start() < sent_at:  # an earlier boot's banner the caller had not read: keep waiting
                continue
            self.resets_survived += 1  # the board reset meanwhile: the command may be lost
            try:
                con.expect(APP_VERSION, max(0.0, deadline - time.monotonic()))
            except ConsoleTimeout as exc:
                raise ConsoleTimeout(
                    "'otactl status' answer (the board reset meanwhile and its application did not come back)",
                    wait,
                    exc.tail,
                ) from None
            # Typed after the application came up, the command is echoed and answered; typed into the reset or
            # the bootloader, it is gone: ask again (never twice for one answer, or the next call reads a stale one).
            try:
                m = con.expect(_STATUS, min(RESET_GRACE, max(0.0, deadline - time.monotonic())))
            except ConsoleTimeout:
                send = True
                continue
            return Status(m.group(1).decode(), int(m.group(2)), int(m.group(3)), int(m.group(4)))

    def wait_idle(self, timeout: float) -> Status:
        """Ask ``otactl status`` until the service is at rest; return that status.

        At rest means :data:`IDLE`, or :data:`TIMER_WAIT` for a service with periodic checking (factory
        configurations ``auto`` and ``notify``), which rests there between checks and never idles on its own.
        Only IDLE takes control messages (spec 2.1; :attr:`Status.takes_control` says which), and the
        service reaches it a few ticks after the line that shows it is up (the IP line at boot,
        ``SYS_OTA_DB_ENTRY_SUCCESS`` with autoreset off): a command typed at once would be refused. A reset
        of the board meanwhile is survived as in :meth:`status`.

        Args:
            timeout: wall seconds to keep asking.

        Returns:
            The first status at rest (IDLE, or the periodic timer wait).

        Raises:
            BoardError: the service was not at rest within ``timeout`` seconds (the message names its state).
            ConsoleTimeout: a status line did not come within ``cmd_timeout``.
        """
        deadline = time.monotonic() + timeout
        while True:
            st = self.status(max(0.1, min(self.cmd_timeout, deadline - time.monotonic())))
            if st.state in AT_REST:
                return st
            if time.monotonic() >= deadline:
                raise BoardError(f"the OTA service was not at rest within {timeout:g} s: {st.state}")

    # ------------------------------------------------------------------------------- pytest-embedded style
    @overload
    def expect(self, pattern: re.Pattern[str], timeout: float = 30.0) -> re.Match[str]: ...
    @overload
    def expect(self, pattern: str | bytes | re.Pattern[bytes], timeout: float = 30.0) -> re.Match[bytes]: ...
    def expect(
        self, pattern: str | bytes | re.Pattern[bytes] | re.Pattern[str], timeout: float = 30.0
    ) -> re.Match[bytes] | re.Match[str]:
        """Wait for ``pattern`` on the console after the last match, and move past it (pytest-embedded's
        ``dut.expect``).

        Args:
            pattern: text (``str`` or ``bytes``, matched literally) or a compiled regular expression
                (``bytes`` or ``str``).
            timeout: seconds to wait.

        Returns:
            The match: a ``re.Match[str]`` for a ``str`` regular expression, else a ``re.Match[bytes]``.

        Raises:
            ConsoleTimeout: the pattern did not show within ``timeout``; the message ends with the
                console's last bytes (also in its ``tail``).
        """
        return self.console.expect(pattern, timeout)

    def write(self, line: str) -> None:
        """Type ``line`` and a carriage return on the console, as a terminal would (pytest-embedded's ``dut.write``).

        Args:
            line: the text to type, without its line ending.
        """
        self.console.send_line(line)

    # ----------------------------------------------------------------------------------------- sysota
    def sysota_set(
        self,
        periodic: bool,
        autoreset: bool | None = None,
        autoupdate: bool | None = None,
        interval: int | None = None,
        url: str | None = None,
    ) -> None:
        """``sysota set`` with as many leading arguments as given (the board accepts a short list).

        An argument is sent only if every one before it is given: ``autoupdate`` without ``autoreset`` is
        not sent, nor is ``url`` without ``interval``.

        Args:
            periodic: periodic update checks on or off.
            autoreset: reset into the new image after a download.
            autoupdate: download an available update without being asked.
            interval: seconds between periodic checks.
            url: the manifest's URL.

        Raises:
            ConsoleTimeout: the board did not echo the settings and its prompt within ``cmd_timeout``.
        """
        args = [str(int(periodic))]
        for value in (autoreset, autoupdate):
            if value is None:
                break
            args.append(str(int(value)))
        else:
            if interval is not None:
                args.append(str(interval))
                if url is not None:
                    args.append(url)
        self.console.send_line("sysota set " + " ".join(args))
        self.console.expect(b"periodic check : ", self.cmd_timeout)
        # Every echo of sysota set ends in "\n\r" (sys_ota.c), then SYS_COMMAND prints its prompt.
        self.console.expect(b"\n\r>", self.cmd_timeout)

    def info(self) -> dict[str, str]:
        """``sysota get info`` as a dict of its ``key : value`` lines.

        Returns:
            Each line's key and value, spaces trimmed, as the board printed them (text, not parsed).

        Raises:
            ConsoleTimeout: the framed block did not come within ``cmd_timeout``.
        """
        self.console.send_line("sysota get info")
        self.console.expect(b"*" * 43, self.cmd_timeout)
        m = self.console.expect(re.compile(rb"(.*?)\*{43}", re.S), self.cmd_timeout)
        out: dict[str, str] = {}
        for line in _lines(m.group(1)):
            key, sep, value = line.partition(":")
            if sep:
                out[key.strip()] = value.strip()
        return out

    def image_db(self) -> list[tuple[str, int, int, str]] | None:
        """``sysota getfs info``: the rows of the image database as the board lists them.

        Returns:
            ``(name, status, version, digest)`` per row: the status read as hex (``0xF0``..), the version as
            printed in decimal; None if the board has no image database.

        Raises:
            ConsoleTimeout: the listing did not come within ``cmd_timeout``.
        """
        self.console.send_line("sysota getfs info")
        i, _ = self.console.expect_any([b"NO info found", b"\tImage name\t\tStatus"], self.cmd_timeout)
        if i == 0:
            return None
        # Rows end in "\n\r" (SYS_CONSOLE_PRINT strings of sys_ota.c); the prompt follows the last one.
        m = self.console.expect(re.compile(rb"Digest(.*?)(?:\n\r|\r\n)>", re.S), self.cmd_timeout)
        rows = []
        for line in _lines(m.group(1)):
            fields = [f for f in line.split("\t") if f]
            if len(fields) == 4:
                rows.append((fields[0], int(fields[1], 16), int(fields[2]), fields[3]))
        return rows


def _lines(data: bytes) -> list[str]:
    text = data.decode("utf-8", "replace")
    return [p for p in re.split(r"\r\n|\n\r|\r|\n", text) if p.strip()]
