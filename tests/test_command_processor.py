"""SYS_COMMAND line discipline: echo, editing, history, argument splitting, built-ins, limits."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bootloader_model.board.command_processor import MAX_LENGTH, CommandGroup, CommandProcessor, split_args


class Rig:
    def __init__(self) -> None:
        self.out = bytearray()
        self.resets = 0
        self.calls: list[list[bytes]] = []
        self.cp = CommandProcessor(self.out.extend, self._reset)
        self.cp.add_group(
            CommandGroup(b"sysota", b": Sys OTA commands", [(b"sysota", self.calls.append, b": SysOta commands")])
        )

    def _reset(self) -> None:
        self.resets += 1

    def type(self, data: bytes) -> bytes:
        start = len(self.out)
        self.cp.feed(data)
        return bytes(self.out[start:])


def test_echo_then_dispatch_then_prompt() -> None:
    r = Rig()
    assert r.type(b"sysota get info\r") == b"sysota get info\r\n>"
    assert r.calls == [[b"sysota", b"get", b"info"]]


def test_crlf_gives_an_extra_prompt_for_the_lf() -> None:
    r = Rig()
    assert r.type(b"\r") == b"\r\n>"
    assert r.type(b"x\r\n") == b"x\r\n *** Command Processor: unknown command. ***\r\n>\r\n>"


def test_reset_prints_the_reboot_banner_and_resets() -> None:
    r = Rig()
    assert r.type(b"reset\r") == b"reset\r\n\r\n *** System Reboot ***\r\n>"
    assert r.resets == 1


def test_quit_stops_the_processor() -> None:
    r = Rig()
    # CommandQuit frees the device node and sets stopRequested; RunCmdTask, back from ParseCmdBuffer, still
    # prints the prompt through the API pointer it read before the call. Then SYS_CMD_Tasks returns at once.
    assert r.type(b"q\r") == b"q\r\n\r\n *** Quitting the Command Processor. Bye ***\r\n>"
    assert r.type(b"reset\r") == b""
    assert r.resets == 0


def test_quit_hidden_in_a_byte_flood() -> None:
    r = Rig()
    # NUL ends the C string, so "q\0..." is the command q; comma and tab separate arguments like spaces.
    out = r.type(b"\x07\xfe garbage\r\t q\x00zz,\r" + b"sysota get info\r")
    assert out.endswith(b" *** Quitting the Command Processor. Bye ***\r\n>")
    assert r.cp.stopped and r.calls == []


def test_buffer_exceeded_on_the_81st_character() -> None:
    r = Rig()
    out = r.type(b"a" * MAX_LENGTH)
    assert out == b"a" * MAX_LENGTH
    assert r.type(b"b") == b" *** Command Processor buffer exceeded. Retry. ***\r\n>"
    assert r.type(b"\r") == b"\r\n>"  # the line was dropped


def test_too_many_arguments() -> None:
    r = Rig()
    out = r.type(b"sysota 1 2 3 4 5 6 7 8 9 10\r")
    assert b"Too many arguments. Maximum args supported: 10!" in out
    assert r.calls == []


def test_split_args_rules() -> None:
    assert split_args(b"a b\tc,d") == [b"a", b"b", b"c", b"d"]
    assert split_args(b'set "a b" c') == [b"set", b"a b", b"c"]
    assert split_args(b'bad "open') is None
    assert split_args(b'empty ""') is None
    assert split_args(b"   ") == []


def test_unmatched_quote_is_an_unknown_command() -> None:
    r = Rig()
    assert r.type(b'sysota "x\r').endswith(b" *** Command Processor: unknown command. ***\r\n>")


def test_backspace_and_delete_edit_the_line() -> None:
    r = Rig()
    r.type(b"sysotx\bq")
    assert r.type(b"\x1b[D\x1b[D\x7f\r")  # left twice, delete the 't'
    assert r.calls == [] and r.out.endswith(b"unknown command. ***\r\n>")
    r2 = Rig()
    assert r2.type(b"ab\b") == b"ab\b\x1b[K"


def test_cursor_insert_redraws_the_tail() -> None:
    r = Rig()
    r.type(b"sysot")
    assert r.type(b"\x1b[D") == b"\x1b[D"
    assert r.type(b"o") == b"ot\x1b[1D"
    r.type(b"\x1b[4~a\r")
    assert r.calls == [[b"sysotoa"]] or r.out.endswith(b"unknown command. ***\r\n>")


def test_history_recall_with_up_arrow() -> None:
    r = Rig()
    r.type(b"sysota one\r")
    r.type(b"sysota two\r")
    assert r.type(b"\x1b[A") == b"\r\n>sysota two"
    assert r.type(b"\x1b[A").endswith(b"\r\n>sysota one")
    r.type(b"\r")
    assert r.calls[-1] == [b"sysota", b"one"]


def test_nul_byte_ends_the_command_text() -> None:
    r = Rig()
    assert r.type(b"\0") == b""  # echoed as an empty C string
    assert r.type(b"\r") == b"\r\n *** Command Processor: Please type in a command***\r\n>"


def test_help_lists_groups_and_builtins() -> None:
    r = Rig()
    out = r.type(b"help\r")
    assert b" *** sysota: Sys OTA commands ***" in out and b" *** reset: Reset host ***" in out
    assert r.type(b"help nope\r").startswith(b"help nope\r\n\r\nUnknown command group. Try help\r\n")


@given(st.binary(max_size=300))
def test_any_input_never_raises_and_stays_usable(data: bytes) -> None:
    r = Rig()
    r.type(data)
    # An unfinished escape sequence swallows at most three more bytes; then CR runs whatever is left.
    r.type(b"\r\r\r\r")
    if r.cp.stopped:  # the input itself typed the built-in "q"
        return
    r.type(b"sysota ping\r")
    assert r.calls and r.calls[-1] == [b"sysota", b"ping"]


def test_line_length_is_the_configured_sys_cmd_max_length() -> None:
    out = bytearray()
    cp = CommandProcessor(out.extend, lambda: None, max_length=200)
    calls: list[list[bytes]] = []
    cp.add_group(CommandGroup(b"otactl", b"", [(b"otactl", calls.append, b"")]))
    line = b"otactl start http://127.0.0.1:8000/app_v2.bin 2 " + b"ab" * 32
    assert 80 < len(line) <= 200
    cp.feed(line + b"\r")
    assert calls == [line.split(b" ")]
    cp.feed(b"x" * 200)
    assert b"buffer exceeded" not in out
    cp.feed(b"x")  # the 201st character
    assert out.endswith(b"x *** Command Processor buffer exceeded. Retry. ***\r\n>")
