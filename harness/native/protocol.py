"""The host half of the wire protocol between a native helper process and the board: codes and framing.

The codes are defined once, in the C header ``c/otaloop_protocol.h`` that the helper is compiled with;
this module reads them from that file when it is imported, so the two halves cannot disagree. It also
holds the framing both sides use: a 16-byte header of four little-endian ``uint32`` (kind, a, b, payload
length), the one-word answer to a flash operation (a bootloader helper's flash operations are posted: the
host carries them out in order without answering, except in coverage builds, which keep them answered),
the file calls' answers, and :class:`MessageReader`, which parses messages out of large reads.

It does not start processes or carry out flash operations (:mod:`harness.native.bootloader_program` does).
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import BinaryIO

HEADER_FILE = Path(__file__).resolve().parent / "c" / "otaloop_protocol.h"


def read_codes(path: Path = HEADER_FILE) -> dict[str, int]:
    """Every ``#define OTALOOP_<NAME> <number>u`` of the protocol header.

    Args:
        path: the header to read (the one shipped beside this module by default).

    Returns:
        ``{"MSG_CONSOLE": 1, ...}``: names without the ``OTALOOP_`` prefix.

    Raises:
        RuntimeError: the header is missing or defines no code (a broken installation, not a user error).
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise RuntimeError(f"the native protocol header {path} cannot be read: {exc}") from None
    codes = {
        m[1]: int(m[2], 0) for m in re.finditer(r"^#define OTALOOP_([A-Z_0-9]+) (0x[0-9A-Fa-f]+|\d+)u\b", text, re.M)
    }
    if not codes:
        raise RuntimeError(f"the native protocol header {path} defines no code")
    return codes


_CODES = read_codes()
#: Every code of the header, by name without the ``OTALOOP_`` prefix.
CODES = _CODES


# Message kinds, helper to host.
MSG_CONSOLE, MSG_ERASE, MSG_PROGRAM, MSG_FS, MSG_END, MSG_ARCS = (
    _CODES[f"MSG_{name}"] for name in ("CONSOLE", "ERASE", "PROGRAM", "FS", "END", "ARCS")
)
# Application helpers only.
MSG_PASS, MSG_BLOCKED, MSG_READ, MSG_TIME = (_CODES[f"MSG_{name}"] for name in ("PASS", "BLOCKED", "READ", "TIME"))
# Bootloader helpers only.
MSG_TOUCH = _CODES["MSG_TOUCH"]
#: The unit of MSG_TOUCH: the helper reports the first touch of each 4 KiB block of a flash mapping.
BLOCK = 4096
# How a run ended (``a`` of MSG_END).
END_JUMP, END_RESET, END_STUCK = (_CODES[f"END_{name}"] for name in ("JUMP", "RESET", "STUCK"))
# File opcodes of the example build's remote SYS_FS (``a`` of MSG_FS).
FS_MOUNT, FS_FORMAT, FS_MKDIR, FS_OPEN, FS_READ, FS_WRITE, FS_SEEK, FS_SIZE, FS_TELL, FS_CLOSE, FS_REMOVE = (
    _CODES[f"FS_{name}"]
    for name in ("MOUNT", "FORMAT", "MKDIR", "OPEN", "READ", "WRITE", "SEEK", "SIZE", "TELL", "CLOSE", "REMOVE")
)
#: A bootloader helper took the READ answered ahead (``a`` of MSG_FS; no answer).
FS_READ_TAKEN = _CODES["FS_READ_TAKEN"]
INTERNAL, EXTERNAL = _CODES["INTERNAL"], _CODES["EXTERNAL"]
ERASE_SMALLEST, ERASE_BLOCK, ERASE_CHIP = _CODES["ERASE_SMALLEST"], _CODES["ERASE_BLOCK"], _CODES["ERASE_CHIP"]


def erase_kind(unit: int, smallest: str) -> str:
    """The :class:`~bootloader_model.storage.nor_flash.NorFlash` erase kind an erase message's ``unit``
    names; ``smallest`` is the part's smallest kind (its 4 KiB sector)."""
    return smallest if unit == ERASE_SMALLEST else "block" if unit == ERASE_BLOCK else "chip"


#: SYS_FS open attribute -> the mode of :meth:`bootloader_model.storage.file_api.FileSystem.open`.
OPEN_MODES = {
    _CODES["OPEN_READ"]: "r",
    _CODES["OPEN_WRITE"]: "w",
    _CODES["OPEN_APPEND"]: "a",
    _CODES["OPEN_READ_PLUS"]: "r+",
    _CODES["OPEN_WRITE_PLUS"]: "w+",
    _CODES["OPEN_APPEND_PLUS"]: "a+",
}

#: The answer to a flash operation or a file call where the power is cut (coverage builds only): the
#: helper writes its coverage counts and exits without running another line of the firmware.
ANSWER_CUT = _CODES["ANSWER_CUT"]
CUT = struct.pack("<II", ANSWER_CUT, ANSWER_CUT)
#: The same for a bootloader helper, whose file-call answer is longer (it reads the first word for a
#: flash operation, the whole head for a file call: both see ANSWER_CUT).
BOOT_CUT = struct.pack("<IIQ", ANSWER_CUT, ANSWER_CUT, 0)

HEADER = struct.Struct("<IIII")
#: The answer to a coverage build's flash operation: it is carried out and in the shared memory.
OK = struct.pack("<I", 0)
#: The head of the answer to an application helper's file call: result, reply length.
FILE_REPLY = struct.Struct("<iI")
#: The head of the answer to a bootloader helper's file call: result, reply length, host state (0: the
#: call changed flash).
BOOT_FILE_REPLY = struct.Struct("<iIQ")
#: Set in that reply length when a READ answered ahead follows (see ``otaloop_protocol.h``): its head is
#: handle, bytes asked, bytes read, host state after the read; then the bytes (at most AHEAD_MAX).
REPLY_AHEAD = _CODES["REPLY_AHEAD"]
AHEAD_HEAD = struct.Struct("<IIIQ")
AHEAD_MAX = _CODES["AHEAD_MAX"]


def read_exact(stream: BinaryIO, n: int) -> bytes:
    """Exactly ``n`` bytes of a helper's message stream.

    Raises:
        EOFError: the helper closed the stream first (it ended, or was killed at a power cut).
    """
    data = stream.read(n)
    if data is None or len(data) != n:
        raise EOFError
    return data


class MessageReader:
    """A helper's messages, parsed out of large reads of its stream (a helper writes many at a time).

    ``stream`` must offer ``read1`` (a buffered binary stream): each refill takes what is there, waiting
    only when nothing is.
    """

    def __init__(self, stream: BinaryIO, chunk: int = 1 << 16) -> None:
        self.stream = stream
        self.chunk = chunk
        self.buf = b""
        self.pos = 0

    def next(self) -> tuple[int, int, int, bytes]:
        """The next message: ``(kind, a, b, payload)``.

        Raises:
            EOFError: the helper closed the stream first (it ended, or was killed at a power cut).
        """
        buf, pos = self.buf, self.pos
        if len(buf) - pos >= 16:
            kind, a, b, n = HEADER.unpack_from(buf, pos)
            end = pos + 16 + n
            if end <= len(buf):
                self.pos = end
                return kind, a, b, buf[pos + 16 : end]
        return self._refill()

    def _refill(self) -> tuple[int, int, int, bytes]:
        while True:
            more = self.stream.read1(self.chunk)  # type: ignore[attr-defined]
            if not more:
                raise EOFError
            self.buf = self.buf[self.pos :] + more
            self.pos = 0
            if len(self.buf) >= 16:
                n = HEADER.unpack_from(self.buf, 0)[3]
                if len(self.buf) >= 16 + n:
                    return self.next()
