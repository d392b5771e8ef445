"""Harmony's SYS_COMMAND line discipline, as the application's console input sees it.

Bytes typed on UART1 go through this state machine one character per task run, as ``sys_command.c`` does
it: characters are echoed; CR or LF ends a line; backspace and DEL edit; the VT100 arrow, Home and End
keys move the cursor or recall one of the last four commands; a line may hold ``SYS_CMD_MAX_LENGTH``
characters (80 unless the application was built with another value, which its app descriptor records),
and the next one prints `` *** Command Processor buffer exceeded. Retry. ***`` and drops the line. A
finished line is split into at most 10 arguments on space, tab and comma (a quoted part is one argument;
an unmatched quote makes the line unknown), then looked up in the built-in commands (``reset``, ``q``,
``help``) and the registered command groups. The prompt ``>`` is printed after each line.

Strings are C strings here: a NUL byte typed into the line ends the command text at that point, as
``strncpy``/``strtok`` would see it.

The built-in ``q`` is the one way input can stop the console for good: ``CommandQuit`` prints
`` *** Quitting the Command Processor. Bye ***``, clears the command groups, frees the console's device node
and sets ``stopRequested``, after which ``SYS_CMD_Tasks`` returns at once on every call, so nothing typed is
read, echoed or answered until a reset runs ``SYS_CMD_Initialize`` again. The prompt is still printed once
after the message. A line that reduces to ``q`` (``q`` alone, or followed by a NUL, a comma or a tab) is
enough, which is how random bytes on the console can end it; the application's own prints go on.

What this module does not do: run the commands' effects. ``reset`` calls the ``on_reset`` hook (the board
performs the software reset); command groups are callables supplied by the application model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

LINE_TERM = b"\r\n"
PROMPT = b">"
MAX_LENGTH = 80  # SYS_CMD_MAX_LENGTH, Harmony's default
MAX_ARGS = 10  # MAX_CMD_ARGS
HISTORY_DEPTH = 4  # COMMAND_HISTORY_DEPTH

Write = Callable[[bytes], None]
Handler = Callable[[list[bytes]], None]

_KEYS = {
    b"\x1b[A": "up",
    b"\x1b[B": "down",
    b"\x1b[C": "right",
    b"\x1b[D": "left",
    b"\x1b[1~": "home",
    b"\x1b[4~": "end",
}


@dataclass
class CommandGroup:
    """A registered group (``SYS_CMD_ADDGRP``): its name, help string and commands."""

    name: bytes
    menu: bytes
    commands: list[tuple[bytes, Handler, bytes]]  # (command, handler, description)


def split_args(line: bytes) -> list[bytes] | None:
    """``StringToArgs``: tokens on space, tab or comma; ``"..."`` is one token. ``None`` on a bad quote.

    The returned list may hold more than :data:`MAX_ARGS` tokens; the caller reports that.
    """
    args: list[bytes] = []
    rest = line
    while True:
        quote = rest.find(b'"')
        head = rest if quote < 0 else rest[:quote]
        args.extend(t for t in head.replace(b"\t", b" ").replace(b",", b" ").split(b" ") if t)
        if quote < 0:
            return args
        end = rest.find(b'"', quote + 1)
        if end < 0 or end == quote + 1:
            return None  # no closing quote, or an empty quoted string
        args.append(rest[quote + 1 : end])
        rest = rest[end + 1 :]


def _cstr(buf: bytes) -> bytes:
    nul = buf.find(b"\0")
    return buf if nul < 0 else buf[:nul]


class CommandProcessor:
    """One console device node of SYS_COMMAND. Feed it input bytes; it writes the echo and the output."""

    def __init__(self, write: Write, on_reset: Callable[[], None], *, max_length: int = MAX_LENGTH) -> None:
        self._write = write
        self.max_length = max_length  # SYS_CMD_MAX_LENGTH of this build
        self._on_reset = on_reset
        self.groups: list[CommandGroup] = []
        self.stopped = False  # set by the built-in "q" (stopRequested): input is never read again until reset
        self._buf = bytearray()
        self._cur = 0
        self._seq = bytearray()
        self._history: list[bytes] = []  # newest first
        self._hist_pos: int | None = None

    def add_group(self, group: CommandGroup) -> None:
        self.groups.append(group)

    # ------------------------------------------------------------------------------------------- input
    def feed(self, data: bytes) -> None:
        for ch in data:
            if self.stopped:
                return
            self._char(ch)

    def _char(self, ch: int) -> None:
        w = self._write
        if self._seq:
            self._escape(ch)
        elif ch in (0x0D, 0x0A):
            if not self._buf:
                w(LINE_TERM + PROMPT)  # just an extra CR or LF
                return
            w(LINE_TERM)
            line = bytes(self._buf)
            self._buf.clear()
            self._cur = 0
            self._parse(line)
            w(PROMPT)  # also after "q": RunCmdTask prints it through the API pointer it read before parsing
        elif ch == 0x08:
            if self._cur > 0:
                tail = bytes(self._buf[self._cur :])
                del self._buf[self._cur - 1]
                self._cur -= 1
                if tail:
                    w(b"\b\x1b[K" + _cstr(tail) + b"\x1b[%dD" % len(tail))
                else:
                    w(b"\b\x1b[K")
        elif ch == 0x7F:
            if self._cur < len(self._buf):
                del self._buf[self._cur]
                tail = bytes(self._buf[self._cur :])
                w(b"\x1b[K" + _cstr(tail) + b"\x1b[%dD" % len(tail))
        elif ch == 0x1B:
            self._seq = bytearray([ch])
        elif len(self._buf) < self.max_length:
            tail = bytes(self._buf[self._cur :])
            self._buf.insert(self._cur, ch)
            self._cur += 1
            echo = bytes([ch]) + (tail + b"\x1b[%dD" % len(tail) if tail else b"")
            w(_cstr(echo))  # printed as a C string: a typed NUL echoes nothing
        else:
            w(b" *** Command Processor buffer exceeded. Retry. ***" + LINE_TERM)
            self._buf.clear()
            self._cur = 0
            w(PROMPT)

    def _escape(self, ch: int) -> None:
        # Sequences are recognised on their first three bytes, then read to their full length.
        self._seq.append(ch)
        if len(self._seq) < 3:
            return
        match = next((k for k in _KEYS if k[:3] == bytes(self._seq[:3])), None)
        if match is None:
            self._seq.clear()
            return
        if len(self._seq) < len(match):
            return
        seq = bytes(self._seq)
        self._seq.clear()
        if seq == match:
            getattr(self, "_key_" + _KEYS[match])(match)

    def _key_up(self, code: bytes) -> None:
        if not self._history:
            return
        nxt = 0 if self._hist_pos is None else self._hist_pos + 1
        if nxt >= len(self._history):
            return  # reached the oldest entry
        self._show_history(nxt)

    def _key_down(self, code: bytes) -> None:
        if self._hist_pos is not None and self._hist_pos > 0:
            self._show_history(self._hist_pos - 1)

    def _key_right(self, code: bytes) -> None:
        if self._cur < len(self._buf):
            self._write(code)
            self._cur += 1

    def _key_left(self, code: bytes) -> None:
        if self._cur > 0:
            self._cur -= 1
            self._write(code)

    def _key_home(self, code: bytes) -> None:
        if self._cur:
            self._write(b"\x1b[%dD" % self._cur)
            self._cur = 0

    def _key_end(self, code: bytes) -> None:
        n = len(self._buf) - self._cur
        if n:
            self._write(b"\x1b[%dC" % n)
            self._cur = len(self._buf)

    def _show_history(self, pos: int) -> None:
        entry = self._history[pos]
        if not entry:
            return
        old = len(self._buf)
        out = bytearray()
        while old > len(entry):
            out += b"\b \b"
            old -= 1
        out += b"\b" * old
        out += b"\r\n>" + entry
        self._write(bytes(out))
        self._buf[:] = entry
        self._cur = len(entry)
        self._hist_pos = pos

    # ------------------------------------------------------------------------------------------- parse
    def _parse(self, raw: bytes) -> None:
        w = self._write
        line = _cstr(raw)
        args = split_args(line)
        if args is not None and not args:
            w(b" *** Command Processor: Please type in a command***" + LINE_TERM)
            return
        if args is not None:
            self._history.insert(0, line)
            del self._history[HISTORY_DEPTH:]
            self._hist_pos = None
            too_many = b"\n\r Too many arguments. Maximum args supported: %d!\r\n" % MAX_ARGS
            builtin = {b"reset": self._cmd_reset, b"q": self._cmd_quit, b"help": self._cmd_help}
            if args[0] in builtin:
                if len(args) > MAX_ARGS:
                    w(too_many)
                else:
                    builtin[args[0]](args)
                return
            for group in self.groups:
                if len(args) > MAX_ARGS:
                    w(too_many)
                    return
                for name, handler, _ in group.commands:
                    if name == args[0]:
                        handler(args)
                        return
        w(b" *** Command Processor: unknown command. ***\r\n")

    def _cmd_reset(self, args: list[bytes]) -> None:
        self._write(LINE_TERM + b" *** System Reboot ***\r\n")
        self._on_reset()

    def _cmd_quit(self, args: list[bytes]) -> None:
        self._write(LINE_TERM + b" *** Quitting the Command Processor. Bye ***\r\n")
        self.stopped = True

    def _cmd_help(self, args: list[bytes]) -> None:
        w = self._write
        if len(args) == 1:
            if self.groups:
                w(LINE_TERM + b"------- Supported command groups ------")
                for g in self.groups:
                    w(LINE_TERM + b" *** " + g.name + g.menu + b" ***")
            w(LINE_TERM + b"---------- Built in commands ----------")
            for name, descr in ((b"reset", b": Reset host"), (b"q", b": quit command processor"), (b"help", b": help")):
                w(LINE_TERM + b" *** " + name + descr + b" ***")
            w(LINE_TERM)
            return
        group = next((g for g in self.groups if g.name == args[1]), None)
        if group is None:
            w(LINE_TERM + b"Unknown command group. Try help" + LINE_TERM)
            return
        for name, _, descr in group.commands:
            w(LINE_TERM + b" *** " + name + descr + b" ***")
        w(LINE_TERM)
