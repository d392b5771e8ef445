"""A parser that accepts what Harmony's bundled cJSON (``OTA_cJSON_Parse``) accepts, and reads it the same way.

Python's :mod:`json` differs from cJSON in ways a manifest can hit, so the OTA service model parses with
this instead:

* the text ends at the first NUL byte (the C buffer is a string), and anything after the first complete
  value is ignored (``cJSON_Parse`` does not require the end of input);
* whitespace is any byte <= 0x20, and a UTF-8 BOM at the start is skipped;
* numbers are whatever the characters ``0-9 + - e E .`` after a leading ``-`` or digit give to ``strtod``
  (so ``01`` and ``1.`` are numbers, ``NaN`` and ``Infinity`` are not); every number is a double, and
  ``valueint`` is the saturated integer conversion;
* strings are bytes: whatever bytes the text holds are copied unchanged (no UTF-8 check), ``\\uXXXX``
  escapes become their UTF-8 bytes, and a string ends at its first NUL as a C string does;
* raw control characters inside strings are accepted; escapes are the JSON ones, except that
  ``parse_hex4`` reads a ``\\u`` escape with a non-hexadecimal digit as 0, so the string ends there and
  the parse succeeds (quirk ``svc-cjson-bad-hex-escape``);
* at most 1000 arrays and objects may be open at once (``CJSON_NESTING_LIMIT``); the parser keeps its own
  stack, so the depth does not depend on Python's recursion limit;
* objects keep every member in order, duplicates included; lookup (:meth:`CJsonObject.get`) is
  case-insensitive for ASCII letters and returns the first match, like ``cJSON_GetObjectItem``.

It returns ``None`` where cJSON returns NULL. It does not print or serialise JSON.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

INT_MAX = 2**31 - 1
INT_MIN = -(2**31)
NESTING_LIMIT = 1000


@dataclass(frozen=True)
class CJsonNumber:
    valuedouble: float

    @property
    def valueint(self) -> int:
        d = self.valuedouble
        if d >= INT_MAX:
            return INT_MAX
        if d <= INT_MIN:
            return INT_MIN
        return int(d)

    def as_c_int(self) -> int:
        """``(int) valuedouble`` as the compiler does it (truncation; saturated where C is undefined)."""
        return self.valueint


class CJsonObject:
    """An object's members in document order."""

    def __init__(self, members: list[tuple[bytes, object]]) -> None:
        self.members = members

    def get(self, name: str) -> object | None:
        """``cJSON_GetObjectItem``: first member whose name matches case-insensitively (ASCII letters only,
        as ``tolower`` in the C locale)."""
        low = name.encode("latin-1").lower()
        for key, value in self.members:
            if key.lower() == low:
                return value
        return None


class _Null:
    """The JSON ``null`` (distinct from Python ``None``, which means "absent / parse failure")."""


NULL = _Null()

_NUM = re.compile(rb"[0-9+\-eE.]*")
_STRTOD = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ESC = {
    ord("b"): 0x08,
    ord("f"): 0x0C,
    ord("n"): 0x0A,
    ord("r"): 0x0D,
    ord("t"): 0x09,
    ord('"'): ord('"'),
    ord("\\"): ord("\\"),
    ord("/"): ord("/"),
}
_HEX = {c: int(chr(c), 16) for c in b"0123456789abcdefABCDEF"}
_WORDS = ((b"null", NULL), (b"false", False), (b"true", True))


class _Fail(Exception):
    pass


class _Open:
    """One array or object being filled: its value and, for an object, the name of the member being read."""

    __slots__ = ("close", "key", "value")

    def __init__(self, value: list[object] | CJsonObject, close: int) -> None:
        self.value = value
        self.key = b""
        self.close = close


class _Parser:
    """One pass over the text with an explicit stack of open containers (no recursion, no Python limit)."""

    def __init__(self, data: bytes, bad_hex_escape_is_nul: bool) -> None:
        self.s = data
        self.i = 0
        self.bad_hex_is_nul = bad_hex_escape_is_nul

    def ws(self) -> None:
        s, i = self.s, self.i
        while i < len(s) and s[i] <= 32:
            i += 1
        self.i = i

    def at(self) -> int:
        if self.i >= len(self.s):
            raise _Fail
        return self.s[self.i]

    def parse(self) -> object:
        stack: list[_Open] = []
        while True:
            # A value starts here (parse_value).
            self.ws()
            c = self.at()
            value: object
            if c in (ord("["), ord("{")):
                if len(stack) >= NESTING_LIMIT:
                    raise _Fail  # parse_array / parse_object: depth >= CJSON_NESTING_LIMIT
                is_array = c == ord("[")
                frame = _Open([] if is_array else CJsonObject([]), ord("]") if is_array else ord("}"))
                self.i += 1
                self.ws()
                if self.i < len(self.s) and self.s[self.i] == frame.close:
                    self.i += 1
                    value = frame.value
                else:
                    stack.append(frame)
                    if not is_array:
                        self.member_name(frame)
                    continue
            else:
                value = self.scalar(c)
            # A value is complete: hand it to the containers it closes, innermost first.
            while stack:
                frame = stack[-1]
                if isinstance(frame.value, list):
                    frame.value.append(value)
                else:
                    frame.value.members.append((frame.key, value))
                self.ws()
                c = self.at()
                self.i += 1
                if c == ord(","):
                    if isinstance(frame.value, CJsonObject):
                        self.ws()
                        self.member_name(frame)
                    break
                if c != frame.close:
                    raise _Fail
                value = stack.pop().value
            else:
                return value

    def member_name(self, frame: _Open) -> None:
        """``"name" :`` of the next object member; the value follows."""
        if self.at() != ord('"'):
            raise _Fail
        frame.key = self.string()
        self.ws()
        if self.at() != ord(":"):
            raise _Fail
        self.i += 1

    def scalar(self, c: int) -> object:
        s, i = self.s, self.i
        for word, val in _WORDS:
            if s.startswith(word, i):
                self.i = i + len(word)
                return val
        if c == ord('"'):
            return self.string()
        if c == ord("-") or 48 <= c <= 57:
            return self.number()
        raise _Fail

    def number(self) -> CJsonNumber:
        m = _NUM.match(self.s, self.i, self.i + 63)
        assert m is not None
        text = m.group(0)
        d = _STRTOD.match(text)
        if d is None:
            raise _Fail
        self.i += d.end()
        value = float(d.group(0))
        if math.isinf(value):
            value = math.copysign(math.inf, value)  # strtod gives HUGE_VAL
        return CJsonNumber(value)

    def string(self) -> bytes:
        """``parse_string``: find the closing quote first (a backslash skips one byte), then unescape."""
        s = self.s
        start = end = self.i + 1
        while end < len(s) and s[end] != ord('"'):
            if s[end] == ord("\\"):
                if end + 1 >= len(s):
                    raise _Fail
                end += 1
            end += 1
        if end >= len(s):
            raise _Fail
        out = bytearray()
        p = start
        while p < end:
            bs = s.find(b"\\", p, end)
            if bs < 0:
                out += s[p:end]
                break
            out += s[p:bs]
            e = s[bs + 1]
            if e in _ESC:
                out.append(_ESC[e])
                p = bs + 2
            elif e == ord("u"):
                p = bs + self._utf16(bs, end, out)
            else:
                raise _Fail
        self.i = end + 1
        nul = out.find(0)
        return bytes(out if nul < 0 else out[:nul])  # a \u0000 (or a bad \u) ends the C string

    def _hex4(self, at: int) -> int:
        """``parse_hex4``: an invalid digit makes the whole value 0 (or, corrected, fails the parse)."""
        h = 0
        for c in self.s[at : at + 4]:
            digit = _HEX.get(c)
            if digit is None:
                if self.bad_hex_is_nul:
                    return 0
                raise _Fail
            h = (h << 4) | digit
        return h

    def _utf16(self, p: int, end: int, out: bytearray) -> int:
        """``utf16_literal_to_utf8``: UTF-8 bytes of ``\\uXXXX`` (or a surrogate pair) into ``out``."""
        if end - p < 6:
            raise _Fail
        first = self._hex4(p + 2)
        if 0xDC00 <= first <= 0xDFFF:
            raise _Fail
        if 0xD800 <= first <= 0xDBFF:
            second_at = p + 6
            if end - second_at < 6 or self.s[second_at : second_at + 2] != b"\\u":
                raise _Fail
            second = self._hex4(second_at + 2)
            if not 0xDC00 <= second <= 0xDFFF:
                raise _Fail
            out += chr(0x10000 + (((first & 0x3FF) << 10) | (second & 0x3FF))).encode("utf-8")
            return 12
        out += chr(first).encode("utf-8")
        return 6


def parse(data: bytes, *, bad_hex_escape_is_nul: bool = True) -> object | None:
    """``OTA_cJSON_Parse``: the parsed value, or ``None`` for a parse error.

    ``bad_hex_escape_is_nul=False`` (quirk ``svc-cjson-bad-hex-escape`` off) refuses a ``\\u`` escape with
    a non-hexadecimal digit instead of reading it as U+0000.
    """
    data = data.split(b"\0", 1)[0]
    p = _Parser(data, bad_hex_escape_is_nul)
    if data.startswith(b"\xef\xbb\xbf"):
        p.i = 3
    try:
        return p.parse()
    except _Fail:
        return None


def is_number(v: object) -> bool:
    return isinstance(v, CJsonNumber)


def is_string(v: object) -> bool:
    return isinstance(v, bytes)


def is_bool(v: object) -> bool:
    return isinstance(v, bool)


def array_size(v: object) -> int:
    """``cJSON_GetArraySize``: children of an array or object, 0 for anything else."""
    if isinstance(v, list):
        return len(v)
    if isinstance(v, CJsonObject):
        return len(v.members)
    return 0


def array_item(v: object, index: int) -> object | None:
    """``cJSON_GetArrayItem``: the index-th child of an array or object (objects are child lists too)."""
    if index < 0:
        return None
    if isinstance(v, list):
        return v[index] if index < len(v) else None
    if isinstance(v, CJsonObject):
        return v.members[index][1] if index < len(v.members) else None
    return None


def object_item(v: object, name: str) -> object | None:
    """``cJSON_GetObjectItem`` on any value: ``None`` unless ``v`` is an object with that member."""
    return v.get(name) if isinstance(v, CJsonObject) else None
