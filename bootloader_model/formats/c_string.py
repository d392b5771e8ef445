"""How the model holds the firmware's C strings: a ``str`` with one character per byte.

The firmware's strings (manifest URLs and digests, console arguments, file names, DB fields) are bytes
with no encoding; cJSON, ``strncpy`` and ``SYS_CONSOLE_PRINT`` copy whatever bytes they get. The model
keeps them in ``str`` decoded as latin-1, so every byte sequence, invalid UTF-8 included, survives a round
trip, and turns them back into bytes with :func:`c_bytes` wherever the firmware writes them (console,
HTTP request, files). It does not decide what a string means or how long it may be.
"""

from __future__ import annotations


def c_bytes(text: str) -> bytes:
    """The bytes of a model string: one byte per character.

    A character above U+00FF cannot come from the firmware's bytes; it can only come from Python code
    that built the string (a literal in a test, say), and it is written as its UTF-8 bytes, as a C
    compiler would store it.
    """
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return b"".join(c.encode("latin-1") if ord(c) < 0x100 else c.encode("utf-8") for c in text)


def from_c_bytes(raw: bytes) -> str:
    """The model string for ``raw``: one character per byte."""
    return raw.decode("latin-1")
