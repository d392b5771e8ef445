"""A parser that accepts what Harmony's bundled cJSON (``OTA_cJSON_Parse``) accepts, and reads it the same way.

Python's :mod:`json` differs from cJSON in ways a manifest can hit, so the OTA service model parses with
this instead:

* the text ends at the first NUL byte (the C buffer is a string), and anything after the first complete
  value is ignored (``cJSON_Parse`` does not require the end of input);
* whitespace is any byte <= 0x20, and a UTF-8 BOM at the start is skipped;
* numbers are whatever the characters ``0-9 + - e E .`` after a leading ``-`` or digit give to ``strtod``
  (so ``01`` and ``1.`` are numbers, ``NaN`` and ``Infinity`` are not); every number is a double, and
  ``valueint`` is the saturated integer conversion;
* raw control characters inside strings are accepted; escapes are the JSON ones;
* objects keep every member in order, duplicates included; lookup (:meth:`CJsonObject.get`) is
  case-insensitive and returns the first match, like ``cJSON_GetObjectItem``.

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

    def __init__(self, members: list[tuple[str, object]]) -> None:
        self.members = members

    def get(self, name: str) -> object | None:
        """``cJSON_GetObjectItem``: first member whose name matches case-insensitively."""
        low = name.lower()
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
    ord("b"): "\b",
    ord("f"): "\f",
    ord("n"): "\n",
    ord("r"): "\r",
    ord("t"): "\t",
    ord('"'): '"',
    ord("\\"): "\\",
    ord("/"): "/",
}


class _Fail(Exception):
    pass


class _Parser:
    def __init__(self, data: bytes) -> None:
        self.s = data
        self.i = 0

    def ws(self) -> None:
        s, i = self.s, self.i
        while i < len(s) and s[i] <= 32:
            i += 1
        self.i = i

    def value(self, depth: int) -> object:
        s, i = self.s, self.i
        if depth > NESTING_LIMIT or i >= len(s):
            raise _Fail
        for word, val in ((b"null", NULL), (b"false", False), (b"true", True)):
            if s.startswith(word, i):
                self.i = i + len(word)
                return val
        c = s[i]
        if c == ord('"'):
            return self.string()
        if c == ord("-") or 48 <= c <= 57:
            return self.number()
        if c == ord("["):
            return self.array(depth + 1)
        if c == ord("{"):
            return self.obj(depth + 1)
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

    def string(self) -> str:
        s = self.s
        i = self.i + 1
        out: list[str] = []
        start = i
        while True:
            if i >= len(s):
                raise _Fail
            c = s[i]
            if c == ord('"'):
                break
            if c == ord("\\"):
                out.append(s[start:i].decode("utf-8", "replace"))
                if i + 1 >= len(s):
                    raise _Fail
                e = s[i + 1]
                if e in _ESC:
                    out.append(_ESC[e])
                    i += 2
                elif e == ord("u"):
                    i = self._unicode(i, out)
                else:
                    raise _Fail
                start = i
                continue
            i += 1
        out.append(s[start:i].decode("utf-8", "replace"))
        self.i = i + 1
        return "".join(out).split("\0", 1)[0]

    def _unicode(self, i: int, out: list[str]) -> int:
        def hex4(at: int) -> int:
            h = self.s[at : at + 4]
            if len(h) != 4 or not all(chr(b) in "0123456789abcdefABCDEF" for b in h):
                raise _Fail
            return int(h, 16)

        first = hex4(i + 2)
        if 0xDC00 <= first <= 0xDFFF:
            raise _Fail
        if 0xD800 <= first <= 0xDBFF:
            if self.s[i + 6 : i + 8] != b"\\u":
                raise _Fail
            second = hex4(i + 8)
            if not 0xDC00 <= second <= 0xDFFF:
                raise _Fail
            out.append(chr(0x10000 + (((first & 0x3FF) << 10) | (second & 0x3FF))))
            return i + 12
        out.append(chr(first))  # a \u0000 is copied as NUL, which ends the C string (see string())
        return i + 6

    def array(self, depth: int) -> list[object]:
        self.i += 1
        self.ws()
        items: list[object] = []
        if self.i < len(self.s) and self.s[self.i] == ord("]"):
            self.i += 1
            return items
        while True:
            self.ws()
            items.append(self.value(depth))
            self.ws()
            if self.i >= len(self.s):
                raise _Fail
            c = self.s[self.i]
            self.i += 1
            if c == ord("]"):
                return items
            if c != ord(","):
                raise _Fail

    def obj(self, depth: int) -> CJsonObject:
        self.i += 1
        self.ws()
        members: list[tuple[str, object]] = []
        if self.i < len(self.s) and self.s[self.i] == ord("}"):
            self.i += 1
            return CJsonObject(members)
        while True:
            self.ws()
            if self.i >= len(self.s) or self.s[self.i] != ord('"'):
                raise _Fail
            key = self.string()
            self.ws()
            if self.i >= len(self.s) or self.s[self.i] != ord(":"):
                raise _Fail
            self.i += 1
            self.ws()
            members.append((key, self.value(depth)))
            self.ws()
            if self.i >= len(self.s):
                raise _Fail
            c = self.s[self.i]
            self.i += 1
            if c == ord("}"):
                return CJsonObject(members)
            if c != ord(","):
                raise _Fail


def parse(data: bytes) -> object | None:
    """``OTA_cJSON_Parse``: the parsed value, or ``None`` for a parse error."""
    data = data.split(b"\0", 1)[0]
    p = _Parser(data)
    if data.startswith(b"\xef\xbb\xbf"):
        p.i = 3
    try:
        p.ws()
        return p.value(0)
    except _Fail:
        return None


def is_number(v: object) -> bool:
    return isinstance(v, CJsonNumber)


def is_string(v: object) -> bool:
    return isinstance(v, str)


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
