"""``otaloop image`` and ``otaloop manifest``: make an OTA ``.bin`` and its ``ota.json`` from the shell;
``otaloop image set``: a served board's whole image directory for one configuration.

This module only parses arguments and prints; the rules live in :mod:`harness.image` and
:mod:`bootloader_model.formats.app_image`. Every expected failure is a CallerError subclass, which the dispatcher
prints as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bootloader_model.errors import CallerError, ImageError, ManifestError
from bootloader_model.formats.app_descriptor import BEHAVIOURS, DEFAULT_CMD_MAX_LENGTH, AppDescriptor, Behaviour
from bootloader_model.formats.app_image import SLOT_SIZE, build_app, build_factory_bin
from harness.cli.help import help_text
from harness.image import ManifestEntry, bin_from_file, digest, read_manifest, write_manifest
from harness.image.manifest import VERSION_MAX, VERSION_MIN, manifest_notes
from harness.output_files import write_atomic
from harness.scenarios.base import CONFIGS, DirImages

_SYNTHETIC_ONLY = ("version", "size", "no_autoreset", "no_periodic", "interval", "no_autoupdate", "num_images",
                   "manifest_url", "behaviour", "cmd_max_length")  # fmt: skip
DEFAULT_SYNTHETIC_SIZE = 0x4000


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def write_output(path: str, data: bytes | str) -> None:
    write_atomic(path, data)  # whole or not at all; a CallerError names an unusable path


def register(sub: Any) -> None:
    p = sub.add_parser(
        "image",
        help="make an OTA .bin from an ELF, an Intel HEX or a synthetic virtual application",
        description="Make an OTA .bin with Harmony hex2bin rules and print its SHA-256 digest.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--elf", metavar="FILE", help="application ELF (MIPS32 little-endian)")
    src.add_argument("--hex", metavar="FILE", help="application-only Intel HEX (not the unified hex)")
    src.add_argument("--synthetic", action="store_true", help="a virtual application with an app descriptor")
    g = p.add_argument_group("synthetic application (only with --synthetic)")
    g.add_argument("--version", type=_int, help="SYS_OTA_APP_VER_NUM, 1..255 as in a manifest (default 1)")
    g.add_argument("--size", type=_int, help=f"image size in bytes (default {DEFAULT_SYNTHETIC_SIZE:#x})")
    g.add_argument("--no-autoreset", action="store_true", help="SYS_OTA_AUTORESET_ENABLE false")
    g.add_argument("--no-periodic", action="store_true", help="SYS_OTA_PERODIC_UPDATE false")
    g.add_argument("--interval", type=_int, help="SYS_OTA_TIME_INTERVAL seconds (default 60)")
    g.add_argument("--no-autoupdate", action="store_true", help="SYS_OTA_AUTOUPDATE_ENABLE false")
    g.add_argument("--num-images", type=_int, help="SYS_OTA_NUM_IMGS, 1..5 (default 2; MHC's 0 is refused)")
    g.add_argument(
        "--manifest-url", help="SYS_OTA_URL compiled into the application: an http:// URL (empty is refused)"
    )
    g.add_argument("--behaviour", choices=sorted(BEHAVIOURS), help="what the application does at boot")
    g.add_argument(
        "--cmd-max-length",
        type=_int,
        metavar="N",
        help=f"SYS_CMD_MAX_LENGTH, the longest console line (default {DEFAULT_CMD_MAX_LENGTH}; "
        "`otactl start <url> <version> <digest>` needs about 120)",
    )
    p.add_argument("--factory", action="store_true", help=f"factory variant: full {SLOT_SIZE:#x} bytes, byte 0 = F8")
    p.add_argument("-o", "--output", metavar="OUT.bin", help="the .bin to write (required)")
    p.set_defaults(func=run_image)
    kinds = p.add_subparsers(dest="image_kind", metavar="set", parser_class=type(p))
    s = kinds.add_parser(
        "set",
        help="write DIR/<config>_v1..vN.bin and ota.json: the images of a served board used as a real one",
        description=help_text(SET_HELP),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("directory", type=Path, metavar="DIR", help="where the images go (made if missing)")
    s.add_argument("--config", required=True, choices=sorted(CONFIGS), help="the factory configuration's MHC options")
    s.add_argument("--versions", type=_int, default=4, metavar="N", help="versions 1..N (default 4)")
    s.add_argument(
        "--http",
        required=True,
        metavar="HOST:PORT",
        help="where otaloop run / pytest --otaloop-http will serve images: compiled in as SYS_OTA_URL",
    )
    s.add_argument("--manifest-path", default="/ota.json", help="path of SYS_OTA_URL on the server")
    s.set_defaults(func=run_image_set)

    m = sub.add_parser(
        "manifest",
        help="write or check an ota.json manifest",
        description="Write an ota.json with Harmony's field names, or validate one with --check.",
    )
    m.add_argument("--check", metavar="OTA.json", help="validate this manifest and print a summary")
    m.add_argument("--version", type=_int, help=f"image version ({VERSION_MIN}..{VERSION_MAX})")
    m.add_argument("--url", help="http(s) URL of the .bin on the image server")
    m.add_argument("--digest", help="SHA-256 of the .bin (64 hex characters)")
    m.add_argument("--image", metavar="FILE.bin", help="compute the digest from this .bin (with --check: compare)")
    m.add_argument("--erase-ver", type=_bool, metavar="true|false", help="add EraseVer")
    m.add_argument("-o", "--output", metavar="ota.json")
    m.set_defaults(func=run_manifest)


def _descriptor(args: argparse.Namespace) -> AppDescriptor:
    d = AppDescriptor()
    if args.version is not None and not VERSION_MIN <= args.version <= VERSION_MAX:
        # MHC allows SYS_OTA_APP_VER_NUM 0..255, but a manifest cannot announce 0 (it reads as "no version"):
        # one rule for images and manifests.
        raise CallerError(
            f"--version {args.version} is out of range {VERSION_MIN}..{VERSION_MAX} "
            "(the MHC range of SYS_OTA_APP_VER_NUM without 0, which no manifest can announce)"
        )
    if args.num_images is not None and not 1 <= args.num_images <= 5:
        # MHC offers 0..5, but with 0 the service finds its database full at every boot (OTA DB FULL) and still
        # keeps the one image it downloads: never a configuration anyone means.
        raise CallerError(
            f"--num-images {args.num_images}: SYS_OTA_NUM_IMGS must be 1..5 (MHC's range; 0 would find the "
            "image database full at every boot)"
        )
    if args.manifest_url is not None and not args.manifest_url.strip():
        raise CallerError("--manifest-url is empty: give SYS_OTA_URL, e.g. http://192.168.1.10:8000/ota.json")
    if args.manifest_url is not None and not args.manifest_url.startswith(("http://", "https://")):
        raise CallerError(
            f"--manifest-url {args.manifest_url!r}: SYS_OTA_URL must be an http:// URL, "
            "e.g. http://192.168.1.10:8000/ota.json"
        )
    if args.cmd_max_length is not None and not 1 <= args.cmd_max_length <= 0xFFFF:
        raise CallerError(f"--cmd-max-length {args.cmd_max_length}: SYS_CMD_MAX_LENGTH must be 1..65535")
    return AppDescriptor(
        version=d.version if args.version is None else args.version,
        autoreset=not args.no_autoreset,
        periodic_check=not args.no_periodic,
        interval_s=d.interval_s if args.interval is None else args.interval,
        auto_update=not args.no_autoupdate,
        num_images=d.num_images if args.num_images is None else args.num_images,
        manifest_url=d.manifest_url if args.manifest_url is None else args.manifest_url,
        behaviour=Behaviour.named(args.behaviour) if args.behaviour else d.behaviour,
        cmd_max_length=d.cmd_max_length if args.cmd_max_length is None else args.cmd_max_length,
    )


SET_HELP = """Write the images a served virtual board needs to be used as a real one.

``otaloop image set --config manual --versions 3 --http 127.0.0.1:8000 DIR`` writes ``DIR/manual_v1.bin`` ..
``manual_v3.bin`` (virtual applications built with the ``manual`` configuration's MHC options and
``http://127.0.0.1:8000/ota.json`` as SYS_OTA_URL) and ``DIR/ota.json`` announcing v3. Start the board with
v1 as its factory application (``otaloop board --factory DIR/manual_v1.bin``) and hand the directory to
``otaloop run --images DIR --factory-config manual --http 127.0.0.1:8000`` or to pytest's
``--otaloop-images DIR``. A configuration's scenarios need up to 4 versions (auto); a missing one is skipped.
"""


def run_image(args: argparse.Namespace) -> int:
    if not (args.elf or args.hex or args.synthetic):
        raise CallerError("give one of --elf FILE, --hex FILE, --synthetic (or: otaloop image set ...)")
    if args.output is None:
        raise CallerError("-o/--output OUT.bin is required")
    if not args.synthetic:
        stray = [f"--{n.replace('_', '-')}" for n in _SYNTHETIC_ONLY if getattr(args, n) not in (None, False)]
        if stray:
            raise CallerError(f"{', '.join(stray)} {'applies' if len(stray) == 1 else 'apply'} only to --synthetic")
        data = bin_from_file(
            args.elf or args.hex,
            "elf" if args.elf else "hex",
            factory=args.factory,
            warn=lambda message: print(f"otaloop image: warning: {message}", file=sys.stderr),
        )
        source = args.elf or args.hex
    else:
        data = build_app(_descriptor(args), DEFAULT_SYNTHETIC_SIZE if args.size is None else args.size)
        if args.factory:
            data = build_factory_bin(data)
        source = "synthetic application"
    write_output(args.output, data)
    kind = "factory image" if args.factory else "OTA image"
    print(f"Wrote {args.output}: {kind} from {source}, {len(data)} bytes")
    print(f"Digest: {digest(data)}")
    return 0


def run_image_set(args: argparse.Namespace) -> int:
    host, sep, port = args.http.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise CallerError(f"bad --http {args.http!r}: expected HOST:PORT, e.g. 127.0.0.1:8000")
    if not args.manifest_path.startswith("/"):
        raise CallerError(f"--manifest-path {args.manifest_path!r} must start with /")
    url = f"http://{args.http}{args.manifest_path}"
    written = DirImages(args.directory).write_set(CONFIGS[args.config], args.versions, url)
    for path in written[:-1]:
        print(f"Wrote {path}: {args.config} v{path.stem.rpartition('_v')[2]}, {path.stat().st_size} bytes")
    print(f"Wrote {written[-1]}: announces v{args.versions}")
    print(f"SYS_OTA_URL: {url}")
    return 0


def _read_bin(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from None


def run_manifest(args: argparse.Namespace) -> int:
    if args.check:
        stray = [f"--{n.replace('_', '-')}" for n in ("version", "url", "digest", "erase_ver", "output")
                 if getattr(args, n) is not None]  # fmt: skip
        if stray:
            raise CallerError(f"--check does not take {', '.join(stray)}")
        try:
            text = Path(args.check).read_bytes()
        except OSError as exc:
            raise ManifestError(f"cannot read {args.check}: {exc.strerror or exc}") from None
        manifest = read_manifest(text)
        e = manifest.effective
        erase = "absent" if e.erase_ver is None else str(e.erase_ver).lower()
        print(f"{args.check}: valid, {len(manifest.entries)} entr{'y' if len(manifest.entries) == 1 else 'ies'}")
        print(f"The board uses the last: Version {e.version}, URL {e.url}, EraseVer {erase}")
        print(f"Digest: {e.digest.lower()}")
        for note in manifest_notes(manifest):
            print(f"Note: {note}")
        if args.image:
            actual = digest(_read_bin(args.image))
            if actual != e.digest.lower():
                raise ManifestError(f"{args.image} has digest {actual}, the manifest says {e.digest.lower()}")
            print(f"{args.image} matches the digest")
        return 0
    missing = [f"--{n}" for n in ("version", "url", "output") if getattr(args, n) is None]
    if missing:
        raise CallerError(f"missing {', '.join(missing)} (or use --check FILE)")
    if (args.digest is None) == (args.image is None):
        raise CallerError("give exactly one of --digest HEX or --image FILE.bin")
    dig = args.digest if args.digest is not None else digest(_read_bin(args.image))
    entry = ManifestEntry(version=args.version, url=args.url, digest=dig, erase_ver=args.erase_ver)
    doc = write_manifest([entry])
    write_output(args.output, doc)
    print(f"Wrote {args.output}: {len(doc)} bytes")
    print(doc)
    return 0
