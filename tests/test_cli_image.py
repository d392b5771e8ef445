"""``otaloop image``, ``otaloop manifest`` and ``otaloop demo``: in process and as a real subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bootloader_model.formats.app_descriptor import Behaviour, read_descriptor
from bootloader_model.formats.app_image import SLOT_SIZE
from harness.cli import main
from harness.image import bin_from_file

ROOT = Path(__file__).resolve().parents[1]
FW = ROOT / "fixtures" / "firmware"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, env=env)


def _digest_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("Digest: ")).split()[1]


def test_image_from_elf_and_hex(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["image", "--elf", str(FW / "app_v2.elf"), "-o", str(tmp_path / "e.bin")]) == 0
    out_elf = capsys.readouterr().out
    assert main(["image", "--hex", str(FW / "app_v2.hex"), "-o", str(tmp_path / "h.bin")]) == 0
    out_hex = capsys.readouterr().out
    data = (tmp_path / "e.bin").read_bytes()
    assert data == (tmp_path / "h.bin").read_bytes()
    assert _digest_line(out_elf) == _digest_line(out_hex) == hashlib.sha256(data).hexdigest()
    assert f"{len(data)} bytes" in out_elf
    assert read_descriptor(data).version == 2


def test_image_factory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["image", "--hex", str(FW / "app_v1.hex"), "--factory", "-o", str(tmp_path / "f.bin")]) == 0
    data = (tmp_path / "f.bin").read_bytes()
    assert len(data) == SLOT_SIZE and data[0] == 0xF8
    assert _digest_line(capsys.readouterr().out) == hashlib.sha256(data).hexdigest()


def test_image_synthetic_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["image", "--synthetic", "--version", "7", "--size", "0x3000", "--no-autoreset", "--no-periodic"]
    args += ["--interval", "120", "--no-autoupdate", "--num-images", "3", "--manifest-url", "http://h:1/o.json"]
    args += ["--behaviour", "hang", "-o", str(tmp_path / "s.bin")]
    assert main(args) == 0
    data = (tmp_path / "s.bin").read_bytes()
    d = read_descriptor(data)
    assert len(data) == 0x3000
    assert (d.version, d.autoreset, d.periodic_check, d.interval_s, d.auto_update, d.num_images) == (
        7,
        False,
        False,
        120,
        False,
        3,
    )
    assert d.manifest_url == "http://h:1/o.json" and d.behaviour is Behaviour.HANG_AT_BOOT
    assert _digest_line(capsys.readouterr().out) == hashlib.sha256(data).hexdigest()


def test_image_synthetic_factory_keeps_descriptor(tmp_path: Path) -> None:
    assert main(["image", "--synthetic", "--behaviour", "crash", "--factory", "-o", str(tmp_path / "f.bin")]) == 0
    data = (tmp_path / "f.bin").read_bytes()
    assert len(data) == SLOT_SIZE and read_descriptor(data).behaviour is Behaviour.CRASH_AT_BOOT


def test_manifest_write_from_image_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "app.bin"
    assert main(["image", "--synthetic", "--version", "2", "-o", str(image)]) == 0
    capsys.readouterr()
    ota = tmp_path / "ota.json"
    url = "http://127.0.0.1:8000/app.bin"
    assert main(["manifest", "--version", "2", "--url", url, "--image", str(image), "--erase-ver", "false",
                 "-o", str(ota)]) == 0  # fmt: skip
    doc = json.loads(ota.read_text())
    assert doc == {
        "ota": [{"Version": 2, "URL": url, "Digest": hashlib.sha256(image.read_bytes()).hexdigest(), "EraseVer": False}]
    }
    capsys.readouterr()
    assert main(["manifest", "--check", str(ota), "--image", str(image)]) == 0
    out = capsys.readouterr().out
    assert "valid, 1 entry" in out and "Version 2" in out and "matches the digest" in out


def test_manifest_with_explicit_digest(tmp_path: Path) -> None:
    digest = "ab" * 32
    ota = tmp_path / "ota.json"
    assert main(["manifest", "--version", "9", "--url", "https://h/x.bin", "--digest", digest, "-o", str(ota)]) == 0
    assert json.loads(ota.read_text())["ota"][0] == {"Version": 9, "URL": "https://h/x.bin", "Digest": digest}


def test_demo_builds_fixtures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for v in (1, 2, 3):
        data = bin_from_file(FW / f"app_v{v}.elf", "elf")
        expected = f"app_v{v}.bin: version {v}, {len(data)} bytes, Digest: {hashlib.sha256(data).hexdigest()}"
        assert expected in out
    assert "ELF-built and HEX-built .bin are byte-identical" in out


def test_cli_subprocess_success_prints_digest(tmp_path: Path) -> None:
    out = tmp_path / "a.bin"
    proc = _run("image", "--elf", str(FW / "app_v3.elf"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert _digest_line(proc.stdout) == hashlib.sha256(out.read_bytes()).hexdigest()


def _bad_cases(tmp: Path) -> list[tuple[list[str], str]]:
    garbage = tmp / "garbage.bin"
    garbage.write_bytes(b"\x00" * 64)
    bad_json = tmp / "bad.json"
    bad_json.write_text('{"ota":[{"Version":0,"URL":"http://h/a.bin","Digest":"' + "0" * 64 + '"}]}')
    good_json = tmp / "good.json"
    good_json.write_text('{"ota":[{"Version":1,"URL":"http://h/a.bin","Digest":"' + "0" * 64 + '"}]}')
    o = str(tmp / "o.bin")
    return [
        (["image", "--elf", str(tmp / "missing.elf"), "-o", o], "cannot read"),
        (["image", "--elf", str(garbage), "-o", o], "not an ELF file"),
        (["image", "--hex", str(garbage), "-o", o], "not an Intel HEX record"),
        (["image", "--hex", str(FW / "app_v1.elf"), "-o", o], "non-ASCII"),
        (["image", "--elf", str(FW / "app_v1.elf"), "--version", "3", "-o", o], "only to --synthetic"),
        (["image", "--synthetic", "--size", "100", "-o", o], "out of range"),
        (["image", "--synthetic", "--manifest-url", "http://" + "a" * 130, "-o", o], "at most 128"),
        (["image", "--synthetic", "--num-images", "300", "-o", o], "--num-images 300: SYS_OTA_NUM_IMGS must be 1..5"),
        (["image", "--synthetic", "--version", "0", "-o", o], "--version 0 is out of range 1..255"),
        (["image", "--synthetic", "--version", "300", "-o", o], "--version 300 is out of range 1..255"),
        (["image", "--synthetic", "--cmd-max-length", "0", "-o", o], "SYS_CMD_MAX_LENGTH"),
        (["image", "--synthetic", "--cmd-max-length", "70000", "-o", o], "SYS_CMD_MAX_LENGTH"),
        (["image", "--elf", str(FW / "app_v1.elf"), "--cmd-max-length", "256", "-o", o], "only to --synthetic"),
        (["image", "--synthetic", "-o", str(tmp / "no" / "dir" / "o.bin")], "cannot write"),
        (["manifest", "--check", str(tmp / "missing.json")], "cannot read"),
        (["manifest", "--check", str(garbage)], "not JSON"),
        (["manifest", "--check", str(bad_json)], "out of range 1..255"),
        (["manifest", "--check", str(bad_json), "--version", "2"], "--check does not take --version"),
        (["manifest", "--version", "2", "--url", "http://h/a.bin", "-o", o], "exactly one of --digest"),
        (["manifest", "--version", "2", "-o", o, "--digest", "0" * 64], "missing --url"),
        (["manifest", "--version", "2", "--url", "http://h/a.bin", "--digest", "xyz", "-o", o], "64 hex"),
        (["manifest", "--version", "2", "--url", "http://h/a.bin", "--image", str(tmp / "nope.bin"), "-o", o],
         "cannot read"),
        (["manifest", "--version", "2", "--url", "http://h/a.bin", "--image", str(garbage), "--digest", "0" * 64,
          "-o", o], "exactly one of"),
        (["demo", "--fixtures", str(tmp)], "no fixture applications"),
        (["manifest", "--check", str(good_json), "--image", str(garbage)], "the manifest says"),
        (["image", "--synthetic", "--num-images", "0", "-o", o], "--num-images 0: SYS_OTA_NUM_IMGS must be 1..5"),
        (["image", "--synthetic", "--num-images", "6", "-o", o], "--num-images 6: SYS_OTA_NUM_IMGS must be 1..5"),
        (["image", "--synthetic", "--manifest-url", "", "-o", o], "--manifest-url is empty: give SYS_OTA_URL"),
        (["image", "--synthetic", "--manifest-url", " ", "-o", o], "--manifest-url is empty"),
        (["image", "--synthetic", "--manifest-url", "127.0.0.1:8000/ota.json", "-o", o], "must be an http:// URL"),
    ]  # fmt: skip


def test_bad_input_in_process_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args, match in _bad_cases(tmp_path):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert match in err, (args, err)
        assert err.count("\n") == 1 and err.startswith(f"otaloop {args[0]}: error: "), err


def test_bad_input_as_subprocess_has_no_traceback(tmp_path: Path) -> None:
    # A representative subset through a real interpreter (each start costs ~0.2 s on a shared machine).
    cases = _bad_cases(tmp_path)
    for args, match in [cases[1], cases[3], cases[10], cases[15]]:
        proc = _run(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and match in proc.stderr
        assert proc.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args",
    [
        ["image", "-o", "x.bin"],  # no source
        ["image", "--elf", "a", "--hex", "b", "-o", "x.bin"],  # two sources
        ["image", "--synthetic", "--behaviour", "explode", "-o", "x.bin"],
        ["image", "--synthetic", "--version", "two", "-o", "x.bin"],
        ["manifest", "--erase-ver", "maybe"],
    ],
)
def test_usage_errors_exit_2_without_traceback(args: list[str]) -> None:
    proc = _run(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "error:" in proc.stderr


def test_manifest_check_prints_notes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ota = tmp_path / "ota.json"
    assert main(["manifest", "--version", "12", "--url", "http://h/a.bin", "--digest", "0" * 64, "-o", str(ota)]) == 0
    capsys.readouterr()
    assert main(["manifest", "--check", str(ota)]) == 0
    assert "Note: Version 12 >= 10" in capsys.readouterr().out


def test_unexpected_os_errors_are_one_line_not_tracebacks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    import harness.cli

    def broken(args: object) -> int:
        raise PermissionError(13, "Permission denied", "/srv/otaloop/state")

    def parser() -> argparse.ArgumentParser:
        p = argparse.ArgumentParser(prog="otaloop")
        sub = p.add_subparsers(dest="command")
        sub.add_parser("demo").set_defaults(func=broken)
        return p

    monkeypatch.setattr(harness.cli, "build_parser", parser)
    assert main(["demo"]) == 2
    assert capsys.readouterr().err == "otaloop demo: error: Permission denied: /srv/otaloop/state\n"


def test_image_synthetic_cmd_max_length(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s.bin"
    assert main(["image", "--synthetic", "--cmd-max-length", "256", "-o", str(out)]) == 0
    assert read_descriptor(out.read_bytes()).cmd_max_length == 256
    assert main(["image", "--synthetic", "-o", str(out)]) == 0
    assert read_descriptor(out.read_bytes()).cmd_max_length == 80


@pytest.mark.parametrize("version", ["1", "255"])
def test_image_and_manifest_share_the_version_range(version: str, tmp_path: Path) -> None:
    assert main(["image", "--synthetic", "--version", version, "-o", str(tmp_path / "a.bin")]) == 0
    args = ["manifest", "--version", version, "--url", "http://h/a.bin", "--image", str(tmp_path / "a.bin")]
    assert main([*args, "-o", str(tmp_path / "ota.json")]) == 0
