"""``otaloop flash`` over raw external-flash images, checked with mtools where it matters."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bootloader_model.board.virtual_board import VirtualBoard
from bootloader_model.formats.app_descriptor import AppDescriptor
from bootloader_model.formats.app_image import build_app
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import MOUNT_POINT, read_file
from bootloader_model.storage.nor_flash import SST26VF032B, NorFlash
from conftest import require_tool
from harness.cli import main


def test_format_put_ls_get_fsck(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "external.bin"
    assert main(["flash", "format", str(image)]) == 0
    assert image.stat().st_size == 4 * 1024 * 1024
    assert "partition at byte 32256" in capsys.readouterr().out
    payload = os.urandom(10_000)
    (tmp_path / "img.bin").write_bytes(payload)
    assert main(["flash", "put", str(image), str(tmp_path / "img.bin"), "/ota/wifi_ota_app_upgrade_ver2.bin"]) == 0
    capsys.readouterr()
    assert main(["flash", "ls", str(image), "/ota"]) == 0
    assert capsys.readouterr().out.split() == ["10000", "wifi_ota_app_upgrade_ver2.bin"]
    out = tmp_path / "out.bin"
    assert main(["flash", "get", str(image), "/mnt/myDrive1/ota/WIFI_OTA_APP_UPGRADE_VER2.BIN", "-o", str(out)]) == 0
    assert out.read_bytes() == payload
    capsys.readouterr()
    assert main(["flash", "fsck", str(image)]) == 0
    report = capsys.readouterr().out
    assert "10000  /ota/wifi_ota_app_upgrade_ver2.bin" in report and "clean" in report
    # The image is what the board model sees.
    flash = NorFlash(SST26VF032B)
    flash.load(image)
    assert read_file(ExternalFlash(flash), MOUNT_POINT + "/ota/wifi_ota_app_upgrade_ver2.bin") == payload


def test_printed_mtools_command_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("mdir", "mtools")
    image = tmp_path / "external.bin"
    main(["flash", "format", str(image)])
    (tmp_path / "db.csv").write_bytes(b"1,2,3")
    main(["flash", "put", str(image), str(tmp_path / "db.csv"), "/ota/image_database.csv"])
    capsys.readouterr()
    main(["flash", "fsck", str(image)])
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "mtools:" in ln)
    cmd = line.split("mtools:", 1)[1].split()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
    assert "image_database.csv" in out.stdout


def test_fsck_reports_a_damaged_volume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "external.bin"
    main(["flash", "format", str(image)])
    (tmp_path / "f").write_bytes(b"x" * 5000)
    main(["flash", "put", str(image), str(tmp_path / "f"), "/ota/f.bin"])
    raw = bytearray(image.read_bytes())
    raw[64 * 512 : 65 * 512] = b"\xff" * 512  # the first FAT sector, as after an erase without program
    image.write_bytes(bytes(raw))
    capsys.readouterr()
    assert main(["flash", "fsck", str(image)]) == 1
    out = capsys.readouterr().out
    assert "error: /ota/f.bin" in out and "NOT clean" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["flash", "ls", "{tmp}/missing.bin"], "cannot read flash image"),
        (["flash", "ls", "{tmp}"], "is a directory, not a flash image"),
        (["flash", "fsck", "{tmp}"], "is a directory, not a flash image"),
        (["flash", "ls", "{tmp}/small.bin"], "expected 4 MiB"),
        (["flash", "get", "{tmp}/e.bin", "/ota/nope", "-o", "{tmp}/o"], "no such file"),
        (["flash", "ls", "{tmp}/e.bin", "ota"], "must be absolute"),
        (["flash", "format", "{tmp}/e.bin", "--size", "8M"], "does not match"),
        (["flash", "put", "{tmp}/e.bin", "{tmp}/missing", "/x"], "cannot read"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "small.bin").write_bytes(b"\xff" * 1000)
    main(["flash", "format", str(tmp_path / "e.bin")])
    capsys.readouterr()
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_unformatted_image_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "blank.bin"
    image.write_bytes(b"\xff" * SST26VF032B.size)
    assert main(["flash", "fsck", str(image)]) == 1
    assert "no FAT file system" in capsys.readouterr().out
    assert main(["flash", "ls", str(image)]) == 2
    assert "no file system" in capsys.readouterr().err


def test_dump_and_load_a_board_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "board"
    board = VirtualBoard()
    board.provision(build_app(AppDescriptor(version=1, manifest_url="http://127.0.0.1:9/ota.json"), 20_000))
    board.power_on()  # first boot: format, ota/, factory backup
    board.power_off()
    board.save(state)
    ext = tmp_path / "ext.img"
    assert main(["flash", "dump", str(state), "-o", str(ext)]) == 0
    assert ext.read_bytes() == (state / "external.bin").read_bytes()
    assert main(["flash", "ls", str(ext), "/ota"]) == 0
    assert "factory_reset.bin" in capsys.readouterr().out
    # Put a file in the dumped image, load it back, and the board's volume holds it.
    (tmp_path / "note.txt").write_bytes(b"hello")
    assert main(["flash", "put", str(ext), str(tmp_path / "note.txt"), "/ota/note.txt"]) == 0
    assert main(["flash", "load", str(state), str(ext)]) == 0
    again = VirtualBoard()
    again.load(state)
    assert read_file(ExternalFlash(again.external), MOUNT_POINT + "/ota/note.txt") == b"hello"
    internal = tmp_path / "int.img"
    assert main(["flash", "dump", str(state), "--internal", "-o", str(internal)]) == 0
    assert internal.stat().st_size == 1024 * 1024


def test_dump_and_load_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flash", "dump", str(tmp_path / "nope"), "-o", str(tmp_path / "x")]) == 2
    assert "not a board state directory" in capsys.readouterr().err
    state = tmp_path / "s"
    state.mkdir()
    (tmp_path / "small.img").write_bytes(b"\xff" * 1000)
    assert main(["flash", "load", str(state), str(tmp_path / "small.img")]) == 2
    err = capsys.readouterr().err
    assert "has 1000 bytes" in err and "state left unchanged" in err and not (state / "external.bin").exists()
    assert main(["flash", "dump", str(state), "-o", str(tmp_path / "x")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_a_file_larger_than_the_free_space_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "e.bin"
    assert main(["flash", "format", str(image)]) == 0
    before = image.read_bytes()
    big = tmp_path / "big.bin"
    big.write_bytes(b"\x5a" * 5_000_000)
    capsys.readouterr()
    assert main(["flash", "put", str(image), str(big), "/ota/big.bin"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"otaloop flash: error: {big} is 5000000 bytes (5000192 in 1024-byte clusters) but the volume has "
        "4137984 bytes free for /ota/big.bin (image left unchanged)"
    ]
    assert image.read_bytes() == before
    # A file that fits may replace itself: the space of the file it replaces counts as free.
    fits = tmp_path / "fits.bin"
    fits.write_bytes(b"\xa5" * 4_000_000)
    assert main(["flash", "put", str(image), str(fits), "/ota/fits.bin"]) == 0
    assert main(["flash", "put", str(image), str(fits), "/ota/fits.bin"]) == 0


@pytest.mark.parametrize("command", ["put", "load"])
def test_a_device_or_fifo_as_input_is_refused_instead_of_read_for_ever(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "e.bin"
    assert main(["flash", "format", str(image)]) == 0
    state = tmp_path / "state"
    state.mkdir()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opened for reading, it would wait for a writer for ever
    what = "a local file to put" if command == "put" else "a raw flash image"
    for source in ("/dev/zero", str(fifo)):
        capsys.readouterr()
        argv = ["put", str(image), source, "/ota/x"] if command == "put" else ["load", str(state), source]
        assert main(["flash", *argv]) == 2
        assert capsys.readouterr().err.splitlines() == [
            f"otaloop flash: error: {source} is not a regular file (a device, FIFO or socket); {what} must be a "
            "regular file"
        ]
    assert not (state / "external.bin").exists()
