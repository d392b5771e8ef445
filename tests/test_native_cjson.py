"""Harmony's cJSON against the model's parser (``otaloop native cjson``).

The dump form, the corpus and the comparison are tested without Harmony's sources; the comparison with
Harmony's own ``cjson.c`` needs a ``wireless_system_pic32mzw1_wfi32e01`` checkout at
``$OTALOOP_HARMONY_SYSTEM`` and skips, saying so, without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

from bootloader_model.errors import BoardError, CallerError
from harness.native.cjson import (
    HAND,
    NativeCJson,
    build_cjson,
    compare_parsers,
    documents,
    locate_cjson,
    model_dump,
)

SYSTEM_ENV = "OTALOOP_HARMONY_SYSTEM"
BAD_ESCAPE = b'"\\u00zz"'


def test_model_dump_prints_every_kind_of_value() -> None:
    doc = b'{"Version":2,"URL":"h\\u00e9","ok":[true,false,null,-1.5e0,3e10],"x":{}}'
    assert model_dump(doc) == (
        "obj{56657273696f6e=num:2:2,55524c=str:68c3a9,"
        "6f6b=arr[true,false,null,num:-1.5:-1,num:30000000000:2147483647],78=obj{}}"
    )
    assert model_dump(b"{") == "NULL"
    assert model_dump(b'"a\\u0000b"') == "str:61"  # a C string ends at its NUL


def test_model_dump_follows_the_nesting_limit_at_any_depth() -> None:
    deepest = model_dump(b"[" * 1000 + b"]" * 1000)
    assert deepest == "arr[" * 1000 + "]" * 1000
    assert model_dump(b"[" * 1001 + b"]" * 1001) == "NULL"


def test_the_corpus_is_the_same_for_a_seed_and_starts_with_the_hand_cases() -> None:
    first, again, other = documents(500, seed=7), documents(500, seed=7), documents(500, seed=8)
    assert first == again and first != other
    assert first[: len(HAND)] == list(HAND) and len(first) == len(HAND) + 500
    assert BAD_ESCAPE in HAND
    with pytest.raises(CallerError, match=">= 0"):
        documents(-1)


def test_the_comparison_reports_each_document_the_parsers_read_differently() -> None:
    docs = documents(2000, seed=1)
    n, found = compare_parsers(docs, model_dump, partial(model_dump, bad_hex_escape_is_nul=False))
    assert n == len(docs)
    assert BAD_ESCAPE in [d.document for d in found]
    assert all("\\u" in d.document.decode("latin-1") for d in found)  # only the quirk separates them
    report = next(d for d in found if d.document == BAD_ESCAPE).report()
    assert report.splitlines() == ["DIVERGENCE on b'\"\\\\u00zz\"'", "  model:    str:", "  Harmony:  NULL"]


def test_locating_cjson_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(CallerError, match="no such file"):
        locate_cjson(tmp_path / "absent")
    with pytest.raises(CallerError, match=r"no cjson\.c"):
        locate_cjson(tmp_path)
    folder = tmp_path / "system" / "ota" / "framework" / "cjson"
    folder.mkdir(parents=True)
    (folder / "cjson.c").write_text("")
    (folder / "cjson.h").write_text("")
    assert locate_cjson(tmp_path) == folder / "cjson.c"


def test_a_native_parser_that_dies_is_a_board_error(tmp_path: Path) -> None:
    exe = tmp_path / "dies"
    exe.write_text("#!/bin/sh\nexit 3\n")
    exe.chmod(0o755)
    with NativeCJson(exe) as native, pytest.raises(BoardError, match="status 3"):
        native.dump(b"{}")
    with pytest.raises(CallerError, match="not built"):
        NativeCJson(tmp_path / "absent")


# ------------------------------------------------------------------------------- the real sources
@pytest.fixture(scope="module")
def harmony_cjson(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = os.environ.get(SYSTEM_ENV)
    if not path:
        pytest.skip(f"{SYSTEM_ENV} is not set (point it at a wireless_system_pic32mzw1_wfi32e01 checkout)")
    return build_cjson(path, tmp_path_factory.mktemp("cjson"))


def test_harmony_cjson_reads_every_document_as_the_model_does(harmony_cjson: Path) -> None:
    docs = documents(20000, seed=1)
    with NativeCJson(harmony_cjson) as native:
        n, found = compare_parsers(docs, model_dump, native.dump)
        assert native.dump(BAD_ESCAPE) == "str:"  # the quirk is Harmony's
    assert n == len(docs)
    assert found == [], "\n".join(d.report() for d in found[:5])


def test_the_command_exits_one_when_the_corrected_model_differs(harmony_cjson: Path) -> None:
    system = os.environ[SYSTEM_ENV]
    cli = [sys.executable, "-m", "harness.cli", "native", "cjson", "--harmony-system", system]
    cache = ["--cache", str(harmony_cjson.parent), "--documents", "500"]
    same = subprocess.run([*cli, *cache], capture_output=True, text=True)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "0 divergences" in same.stdout
    corrected = subprocess.run([*cli, *cache, "--quirks", "corrected"], capture_output=True, text=True)
    assert corrected.returncode == 1
    assert "DIVERGENCE on b'\"\\\\u00zz\"'" in corrected.stdout
