"""``otaloop flash``: look inside and change a raw external-flash image (``external.bin``) from the host.

The image is the SST26 contents byte for byte (4 or 8 MiB), as the virtual board's state directory keeps
it and as ``NorFlash.dump`` writes it. Sub-commands go through the same block layer and FAT code as the
virtual board, so what they write is what the board would write:

* ``format IMAGE [--size 4M|8M] [--bare]`` -- the bootloader's first-boot format (and ``ota/`` unless
  ``--bare``); creates the image if it does not exist;
* ``ls IMAGE [PATH]``, ``get IMAGE PATH -o OUT``, ``put IMAGE LOCAL PATH`` (written in 4 KiB chunks; a file
  larger than the free space is refused before anything is written, with its size and the space free);
* ``fsck IMAGE`` -- a read-only consistency check; prints the partition offset for mtools and fsck.fat;
* ``dump STATE -o FILE`` / ``load STATE FILE`` -- copy a virtual board's raw flash image out of, or into,
  its state directory (``--internal`` for the 1 MiB program flash; default the external SST26). ``load``
  takes, for example, an SST26 read back from a real board with a programmer. The files ``put`` and ``load``
  read must be regular files (a device such as ``/dev/zero`` or a FIFO is refused, not read for ever).

``format``, ``put`` and ``load`` on an image in a board's state directory take the board's lock, as the
board does, and are refused while an ``otaloop board`` runs on it: the board keeps its flash in memory and
would overwrite the change at its next save.

Paths may be volume paths (``/ota/x.bin``) or Harmony paths (``/mnt/myDrive1/ota/x.bin``). It does not
repair volumes (use ``fsck.fat`` on a copy) or touch the internal flash image.
"""

from __future__ import annotations

import argparse
import contextlib
import stat
from collections.abc import Iterator
from pathlib import Path

from bootloader_model.board import state_directory
from bootloader_model.board.virtual_board import EXTERNAL_FILE, INTERNAL_FILE, META_FILE
from bootloader_model.errors import CallerError
from bootloader_model.storage.external_flash import SIZES, ExternalFlash
from bootloader_model.storage.fat.check import check
from bootloader_model.storage.file_api import MOUNT_POINT, OTA_DIR, FsError
from bootloader_model.storage.nor_flash import PIC32MZ1025W104132, NorFlash
from harness.output_files import write_atomic

CHUNK = 4096


def _harmony_path(path: str) -> str:
    if path == MOUNT_POINT or path.startswith(MOUNT_POINT + "/"):
        return path
    if not path.startswith("/"):
        raise CallerError(f"path {path!r} must be absolute, e.g. /ota/image_database.csv")
    return MOUNT_POINT + path.rstrip("/") if path != "/" else MOUNT_POINT


#: Files whose presence beside an image makes its folder a board's state directory (``otaloop board --state``).
_STATE_MARKS = (state_directory.LOCK_FILE, INTERNAL_FILE, META_FILE, state_directory.JOURNAL)


def _state_directory_of(image: Path) -> Path | None:
    """The board state directory ``image`` lies in, or None for an image of its own."""
    folder = image.parent
    return folder if any((folder / name).exists() for name in _STATE_MARKS) else None


@contextlib.contextmanager
def _writing(image: Path, *, state: bool = False) -> Iterator[None]:
    """Hold the board's lock while ``image`` is changed, when it lies in a board's state directory.

    A running ``otaloop board`` keeps its flash in memory and writes the whole set back at its next save, so
    a change made under it would be lost; it holds the lock for as long as it runs, and the change is refused.
    """
    folder = _state_directory_of(image)
    if folder is None:
        yield
        return
    try:
        held = state_directory.lock(folder)
    except state_directory.StateLocked as exc:
        raise CallerError(
            f"{exc} (nothing changed: a running board would overwrite {image.name} at its next save)"
        ) from None
    with held:
        state_directory.recover(folder)  # finish or discard a save a killed board left half done
        yield


def _open_image(image: Path) -> ExternalFlash:
    if image.is_dir():
        hint = f" (the board's SST26 image is {image / EXTERNAL_FILE})" if (image / EXTERNAL_FILE).is_file() else ""
        raise CallerError(f"{image} is a directory, not a flash image{hint}")
    if _state_directory_of(image) is not None:  # the newest complete save, as the board would read it
        image = state_directory.current_path(image.parent, image.name)
    try:
        size = image.stat().st_size
    except OSError as exc:
        raise CallerError(f"cannot read flash image {image}: {exc.strerror}") from None
    for geometry in SIZES.values():
        if geometry.size == size:
            flash = NorFlash(geometry, keep_log=False)
            flash.load(image)
            return ExternalFlash(flash)
    raise CallerError(f"flash image {image} has {size} bytes; expected 4 MiB (SST26VF032B) or 8 MiB (SST26VF064B)")


def cmd_format(args: argparse.Namespace) -> int:
    image = Path(args.image)
    with _writing(image):
        return _format(args, image)


def _format(args: argparse.Namespace, image: Path) -> int:
    if image.exists():
        x = _open_image(image)
        if x.flash.geometry is not SIZES[args.size] and args.size_given:
            raise CallerError(f"{image} is {x.flash.geometry.name}; --size {args.size} does not match")
    else:
        x = ExternalFlash(NorFlash(SIZES[args.size], keep_log=False))
    x.format()
    if not args.bare:
        x.mkdir(OTA_DIR)
    x.flash.dump(image)
    g = x.geometry()
    print(
        f"{image}: {x.flash.geometry.name}, FAT{g.fat_bits}, {g.clusters} clusters of {g.sectors_per_cluster * 512} "
        f"bytes, partition at byte {x.partition_offset} (mtools: -i {image}@@{x.partition_offset})"
    )
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    x = _open_image(Path(args.image))
    path = _harmony_path(args.path)
    try:
        names = x.listdir(path)
        for name in names:
            full = f"{path}/{name}"
            try:
                print(f"{x.file_size(full):>10}  {name}")
            except FsError:
                print(f"{'<DIR>':>10}  {name}/")
    except FsError as exc:
        raise CallerError(str(exc)) from None
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    x = _open_image(Path(args.image))
    try:
        fh = x.open(_harmony_path(args.path), "r")
        data = fh.read(fh.size())
        fh.close()
    except FsError as exc:
        raise CallerError(str(exc)) from None
    _write(Path(args.output), data)
    print(f"{args.path}: {len(data)} bytes -> {args.output}")
    return 0


def cmd_put(args: argparse.Namespace) -> int:
    image = Path(args.image)
    with _writing(image):
        return _put(args, image)


def _put(args: argparse.Namespace, image: Path) -> int:
    x = _open_image(image)
    size = _regular_size(Path(args.local), "a local file to put")
    target = _harmony_path(args.path)
    try:
        cluster = x.core().lay.cluster_bytes
        free = x.free_bytes()
        with contextlib.suppress(FsError):  # no such file yet
            free += -(-x.file_size(target) // cluster) * cluster  # an existing file is replaced: its space returns
    except FsError as exc:
        raise CallerError(str(exc)) from None
    need = -(-size // cluster) * cluster
    if need > free:
        raise CallerError(
            f"{args.local} is {size} bytes ({need} in {cluster}-byte clusters) but the volume has {free} bytes free "
            f"for {args.path} (image left unchanged)"
        )
    data = _read_regular(Path(args.local), size)
    try:
        fh = x.open(target, "w")
        for i in range(0, len(data), CHUNK):
            fh.write(data[i : i + CHUNK])
        fh.close()
    except FsError as exc:
        raise CallerError(f"{args.local} ({size} bytes) did not fit: {exc} (image left unchanged)") from None
    x.flash.dump(image)
    print(f"{args.local}: {len(data)} bytes -> {args.path}")
    return 0


def cmd_fsck(args: argparse.Namespace) -> int:
    x = _open_image(Path(args.image))
    report = check(x)
    if not report.mounted:
        print(f"{args.image}: no FAT file system (a SYS_FS mount succeeds, every file call fails)")
        return 1
    core = x.core()
    lay = core.lay
    offset = lay.volume_start * 512
    print(
        f"{args.image}: FAT{lay.fat_bits}, partition at sector {lay.volume_start} (byte {offset}), "
        f"{lay.clusters} clusters of {lay.cluster_bytes} bytes, {x.free_bytes()} bytes free"
    )
    print(f"  mtools:    mdir -i {args.image}@@{offset} ::/ota")
    print(f"  fsck.fat:  dd if={args.image} of=part.img bs=512 skip={lay.volume_start} && fsck.fat -n part.img")
    for d in report.dirs:
        print(f"  {'<DIR>':>10}  {d}/")
    for path, size in sorted(report.files.items()):
        print(f"  {size:>10}  {path}")
    if report.lost_clusters:
        print(f"  {report.lost_clusters} lost clusters (allocated in the FAT, owned by no file)")
    for err in report.errors:
        print(f"  error: {err}")
    print("  clean" if report.ok and not report.lost_clusters else "  NOT clean")
    return 0 if report.ok and not report.lost_clusters else 1


def _regular_size(path: Path, what: str) -> int:
    """The size of ``path``, which must be a regular file: a device (``/dev/zero``), a FIFO or a folder would
    be read for ever or not at all."""
    try:
        st = path.stat()
    except OSError as exc:
        raise CallerError(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file (a device, FIFO or socket)"
        raise CallerError(f"{path} is {kind}; {what} must be a regular file")
    return st.st_size


def _read_regular(path: Path, size: int) -> bytes:
    """The bytes of the regular file ``path``, which :func:`_regular_size` found ``size`` bytes long."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(size + 1)
    except OSError as exc:
        raise CallerError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) != size:
        raise CallerError(f"{path} changed size while it was read ({size} bytes, then {len(data)})")
    return data


def _write(path: Path, data: bytes) -> None:
    """Write a file whole or not at all (:func:`harness.output_files.write_atomic`)."""
    write_atomic(path, data)


def _state_file(args: argparse.Namespace) -> tuple[Path, set[int]]:
    state = Path(args.state)
    if not state.is_dir():
        raise CallerError(f"{state} is not a board state directory")
    if args.internal:
        return state / INTERNAL_FILE, {PIC32MZ1025W104132.size}
    return state / EXTERNAL_FILE, {g.size for g in SIZES.values()}


def cmd_dump(args: argparse.Namespace) -> int:
    src, _ = _state_file(args)
    src = state_directory.current_path(src.parent, src.name)  # the newest complete save
    try:
        data = src.read_bytes()
    except OSError as exc:
        raise CallerError(f"cannot read {src}: {exc.strerror}") from None
    _write(Path(args.output), data)
    print(f"{src}: {len(data)} bytes -> {args.output}")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    dst, sizes = _state_file(args)
    size = _regular_size(Path(args.file), "a raw flash image")
    if size not in sizes:
        want = " or ".join(f"{n} bytes" for n in sorted(sizes))
        raise CallerError(f"{args.file} has {size} bytes; {dst.name} must be {want} (state left unchanged)")
    data = _read_regular(Path(args.file), size)
    if dst.exists() and dst.stat().st_size != len(data):
        raise CallerError(f"{args.file} is not the size of the board's {dst.name} ({dst.stat().st_size} bytes)")
    with _writing(dst, state=True):  # not under a running board's feet
        _write(dst, data)
    print(f"{args.file}: {len(data)} bytes -> {dst}")
    return 0


class _SizeAction(argparse.Action):
    def __call__(
        self, parser: argparse.ArgumentParser, ns: argparse.Namespace, value: object, opt: object = None
    ) -> None:
        setattr(ns, self.dest, value)
        ns.size_given = True


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("flash", help="inspect or change a raw external-flash image (FAT on SST26)")
    sub = p.add_subparsers(dest="flash_command", metavar="SUBCOMMAND")
    sub.required = True

    f = sub.add_parser("format", help="format like the bootloader's first boot (creates ota/)")
    f.add_argument("image")
    f.add_argument("--size", choices=sorted(SIZES), default="4M", action=_SizeAction, help="flash size (default 4M)")
    f.add_argument("--bare", action="store_true", help="do not create the ota/ directory")
    f.set_defaults(func=cmd_format, size_given=False)

    ls = sub.add_parser("ls", help="list a directory")
    ls.add_argument("image")
    ls.add_argument("path", nargs="?", default="/")
    ls.set_defaults(func=cmd_ls)

    g = sub.add_parser("get", help="copy a file out of the image")
    g.add_argument("image")
    g.add_argument("path")
    g.add_argument("-o", "--output", required=True)
    g.set_defaults(func=cmd_get)

    pt = sub.add_parser("put", help="copy a local file into the image (4 KiB writes, like the OTA service)")
    pt.add_argument("image")
    pt.add_argument("local")
    pt.add_argument("path")
    pt.set_defaults(func=cmd_put)

    c = sub.add_parser("fsck", help="read-only consistency check; prints the partition offset")
    c.add_argument("image")
    c.set_defaults(func=cmd_fsck)

    for name, func, text in (
        ("dump", cmd_dump, "copy a board's raw flash image out of its state directory"),
        ("load", cmd_load, "replace a board's raw flash image in its state directory (board not running)"),
    ):
        d = sub.add_parser(name, help=text)
        d.add_argument("state", help="the board's state directory (otaloop board --state)")
        if name == "dump":
            d.add_argument("-o", "--output", required=True)
        else:
            d.add_argument("file", help="raw image: 4 or 8 MiB external, or 1 MiB with --internal")
        d.add_argument("--internal", action="store_true", help="the 1 MiB program flash instead of the SST26")
        d.set_defaults(func=func)
