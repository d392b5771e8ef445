"""Harmony's cJSON (the OTA service's manifest parser) built for the host and held to the model's parser.

:func:`build_cjson` compiles ``cjson.c`` from the user's ``wireless_system_pic32mzw1_wfi32e01`` checkout
with a small driver (``c/cjson/otaloop_cjson_dump.c``) that prints the tree ``OTA_cJSON_Parse`` builds.
:func:`model_dump` prints the tree :func:`bootloader_model.formats.cjson.parse` builds in the same form, and
:func:`compare_parsers` runs documents through both and reports each document where the two differ.
:func:`documents` is the corpus: hand-written cases for every rule the model's docstring names (numbers,
escapes, bytes that are not UTF-8, the nesting limit, NUL bytes, a BOM, duplicate names, manifests) and
seeded random mutations of them.

What it does not do: run the rest of the service's C code (``SYS_OTA_ParseJsonContent`` is a template of
the MHC generator, not a C file), or model cJSON's heap use: the host build allocates from the host's heap.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bootloader_model.errors import BoardError, CallerError
from bootloader_model.formats import cjson
from harness.native.build import SHIM_DIR, host_compiler, host_data_model

DRIVER_DIR = SHIM_DIR / "cjson"
EXECUTABLE = "otaloop_cjson_dump"


def locate_cjson(path: str | os.PathLike[str]) -> Path:
    """``cjson.c`` in a wireless_system checkout, its ``system/ota/framework`` folder or the cjson folder."""
    root = Path(path).expanduser()
    if not root.exists():
        raise CallerError(f"{root}: no such file or directory (give a wireless_system_pic32mzw1_wfi32e01 checkout)")
    for sub in ("", "cjson", "framework/cjson", "ota/framework/cjson", "system/ota/framework/cjson"):
        candidate = root / sub / "cjson.c" if root.is_dir() else root
        if candidate.is_file() and candidate.name == "cjson.c" and (candidate.parent / "cjson.h").is_file():
            return candidate
    raise CallerError(
        f"{root}: no cjson.c with its cjson.h found (looked in system/ota/framework/cjson of a "
        "wireless_system_pic32mzw1_wfi32e01 checkout)"
    )


def build_cjson(path: str | os.PathLike[str], cache: Path) -> Path:
    """Compile Harmony's cJSON with the driver into ``cache``; the executable's path."""
    source = locate_cjson(path)
    cache.mkdir(parents=True, exist_ok=True)
    cc = host_compiler()
    flags, _model, _notes = host_data_model(cc, cache)
    exe = cache / EXECUTABLE
    command = [
        cc,
        *flags,
        "-O1",
        "-fno-strict-aliasing",
        f"-I{DRIVER_DIR}",
        f"-I{source.parent}",
        str(source),
        str(DRIVER_DIR / "otaloop_cjson_dump.c"),
        "-lm",
        "-o",
        str(exe),
    ]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        tail = "\n".join(line for line in run.stderr.splitlines()[-20:] if line.strip())
        raise CallerError(f"building {source} failed:\n{tail or '(no compiler output)'}")
    return exe


class NativeCJson:
    """A running build of Harmony's cJSON: :meth:`dump` parses one document and returns its tree line."""

    def __init__(self, executable: Path) -> None:
        if not executable.is_file():
            raise CallerError(f"{executable}: not built (run build_cjson first)")
        self.executable = executable
        self._proc: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [str(self.executable)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            )
        return self._proc

    def dump(self, document: bytes) -> str:
        """The tree Harmony's ``OTA_cJSON_Parse`` builds for ``document`` (``NULL``: the parse failed)."""
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(struct.pack("<I", len(document)) + document)
            proc.stdin.flush()
            line = proc.stdout.readline()
        except BrokenPipeError:
            line = b""
        if not line.endswith(b"\n"):
            code = proc.wait()
            self._proc = None
            raise BoardError(f"Harmony's cJSON ended with status {code} on a {len(document)}-byte document")
        return line[:-1].decode("ascii")

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None

    def __enter__(self) -> NativeCJson:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _number(value: cjson.CJsonNumber) -> str:
    return f"num:{value.valuedouble:.17g}:{value.valueint}"


def model_dump(document: bytes, *, bad_hex_escape_is_nul: bool = True) -> str:
    """The tree the model's parser builds, in the driver's form (iterative: any depth the parser accepts)."""
    tree = cjson.parse(document, bad_hex_escape_is_nul=bad_hex_escape_is_nul)
    if tree is None:
        return "NULL"
    out: list[str] = []
    # A stack of pending pieces: values to print, and literal text (closing brackets, separators).
    todo: list[object] = [tree]
    while todo:
        item = todo.pop()
        if isinstance(item, _Text):
            out.append(item.text)
        elif item is cjson.NULL:
            out.append("null")
        elif item is True or item is False:
            out.append("true" if item else "false")
        elif isinstance(item, cjson.CJsonNumber):
            out.append(_number(item))
        elif isinstance(item, bytes):
            out.append("str:" + item.hex())
        elif isinstance(item, list):
            out.append("arr[")
            pieces: list[object] = []
            for i, child in enumerate(item):
                if i:
                    pieces.append(_Text(","))
                pieces.append(child)
            pieces.append(_Text("]"))
            todo.extend(reversed(pieces))
        elif isinstance(item, cjson.CJsonObject):
            out.append("obj{")
            pieces = []
            for i, (name, child) in enumerate(item.members):
                pieces.append(_Text(("," if i else "") + name.hex() + "="))
                pieces.append(child)
            pieces.append(_Text("}"))
            todo.extend(reversed(pieces))
        else:
            raise TypeError(f"unexpected value in a parse tree: {item!r}")
    return "".join(out)


@dataclass(frozen=True)
class _Text:
    text: str


# ------------------------------------------------------------------------------------------- corpus
_MANIFEST = (
    b'{"ota":[{"Version":2,"URL":"http://192.168.43.173:8000/app_v2.bin",'
    b'"Digest":"6f1b6c8a2d0c7e4e3b1a9f0d2c5e8b7a6f1b6c8a2d0c7e4e3b1a9f0d2c5e8b7a","EraseVer":false}]}'
)

#: Hand-written documents: each rule of the model's parser, and manifests as servers send them.
HAND: tuple[bytes, ...] = (
    _MANIFEST,
    _MANIFEST.replace(b'"Version":2', b'"Version":"2"'),
    _MANIFEST.replace(b'"EraseVer":false', b'"EraseVer":true'),
    _MANIFEST + b"trailing garbage",
    _MANIFEST[:-5],
    b'{"ota":[]}',
    b"",
    b" ",
    b"\xef\xbb\xbf{}",
    b"\xef\xbb\xbf",
    b"{}\0{",
    b'{"a":1}\0garbage',
    b'"text"',
    b"null",
    b"nul",
    b"true false",
    b"01",
    b"1.",
    b".5",
    b"-",
    b"-0",
    b"+1",
    b"1e5",
    b"1E+2",
    b"1e",
    b"1e999",
    b"-1e999",
    b"2147483647",
    b"2147483648",
    b"-2147483648",
    b"-2147483649",
    b"4294967295",
    b"1.5e-320",
    b"0.1",
    b"123456789012345678901234567890",
    b"1-2",
    b"1..2",
    b"NaN",
    b"Infinity",
    b"[1,]",
    b"[,1]",
    b"[1 2]",
    b'{"a" 1}',
    b'{"a":}',
    b'{"a":1,}',
    b"{a:1}",
    b'{"a":1,"A":2,"a":3}',
    b'{"":0}',
    b'"\\u00e9\\u20ac\\ud83d\\ude00"',
    b'"\\ud83d"',
    b'"\\ude00"',
    b'"\\ud83d\\u0041"',
    b'"a\\u0000b"',
    b'"\\u00zz"',
    b'"x\\u12"',
    b'"\\uFFFF"',
    b'"\\q"',
    b'"\\/\\b\\f\\n\\r\\t\\"\\\\"',
    b'"raw\ttab\x01ctl"',
    b'"\xff\xfe\x80 not utf-8"',
    b'"unterminated',
    b'"\\',
    b"[" * 999 + b"]" * 999,
    b"[" * 1000 + b"]" * 1000,
    b"[" * 1001 + b"]" * 1001,
    b'{"a":' * 1000 + b"1" + b"}" * 1000,
    b"[" * 5000,
    b"\x01{}",
    b"\x20\x09\x0a\x0d\x1f[\x1f1\x7f]",
)

#: Bytes a mutation inserts: the ones JSON's grammar and cJSON's edge cases turn on.
_ALPHABET = b'{}[]":,\\u0123456789abcdefzEe+-. \t\n\r\x00\x01\x7f\x80\xc3\xa9\xff'


def _mutate(rng: random.Random, doc: bytes) -> bytes:
    data = bytearray(doc)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        at = rng.randrange(len(data) + 1)
        if op == 0 or not data:
            data[at:at] = bytes([rng.choice(_ALPHABET)])
        elif op == 1:
            del data[min(at, len(data) - 1)]
        elif op == 2:
            data[min(at, len(data) - 1)] = rng.choice(_ALPHABET)
        else:
            start = rng.randrange(len(data))
            piece = data[start : start + rng.randint(1, 12)]
            data[at:at] = piece
    return bytes(data)


def documents(count: int, seed: int = 1) -> list[bytes]:
    """The hand-written documents, then ``count`` seeded mutations of them (the same list for a seed)."""
    if count < 0:
        raise CallerError(f"the number of documents must be >= 0, got {count}")
    rng = random.Random(seed)
    small = [d for d in HAND if len(d) < 600]
    return [*HAND, *(_mutate(rng, rng.choice(small)) for _ in range(count))]


# ------------------------------------------------------------------------------------------ compare
@dataclass(frozen=True)
class ParserDivergence:
    """A document the two parsers read differently."""

    document: bytes
    model: str
    native: str

    def report(self, width: int = 160) -> str:
        def cut(text: str) -> str:
            return text if len(text) <= width else text[:width] + f"... ({len(text)} characters)"

        doc = repr(self.document)
        return f"DIVERGENCE on {cut(doc)}\n  model:    {cut(self.model)}\n  Harmony:  {cut(self.native)}"


def compare_parsers(
    docs: Iterable[bytes],
    model: Callable[[bytes], str],
    native: Callable[[bytes], str],
    progress: Callable[[int], None] | None = None,
) -> tuple[int, list[ParserDivergence]]:
    """(documents compared, divergences) of ``model`` and ``native`` over ``docs``."""
    n = 0
    found: list[ParserDivergence] = []
    for doc in docs:
        left, right = model(doc), native(doc)
        if left != right:
            found.append(ParserDivergence(doc, left, right))
        n += 1
        if progress is not None and n % 10000 == 0:
            progress(n)
    return n, found


def iter_lines(found: Sequence[ParserDivergence], show: int) -> Iterator[str]:
    """The first ``show`` divergences in full, then how many more there are."""
    for d in found[:show]:
        yield d.report()
    if len(found) > show:
        yield f"... and {len(found) - show} more"


def default_cjson_cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "otaloop" / "native-cjson"
