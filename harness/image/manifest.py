"""The ``ota.json`` manifest: write it with Harmony's field names, read it back with Harmony's rules.

Shape (spec section 4): ``{"ota":[{"Version":N,"URL":"...","Digest":"<64 hex>","EraseVer":bool?}]}``.
The OTA service looks only at the **last** element of ``ota``; :attr:`Manifest.effective` is that one.
Validation is stricter than the board in a few places so mistakes show up on the host, with the reason:
``Version`` must be an integer 1..255 (the MHC range; 0 is "no update"), ``Digest`` exactly 64 hex
characters, ``URL`` an ``http(s)://`` URL of at most 99 bytes (the service copies it into a 100-byte
buffer with its NUL) whose file name has a ``.`` (the service derives the stored file name from it),
``EraseVer`` a bool if present, and the whole file at most ``SYS_OTA_JSON_FILE_MAXSIZE - 10`` bytes.

This module does not serve or download manifests, and ignores ``Signature``, ``Patch`` and ``files``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bootloader_model.errors import ManifestError

#: ``SYS_OTA_JSON_FILE_MAXSIZE`` default (2000) minus the 10 bytes the service keeps back.
DEFAULT_MAX_SIZE = 1990
URL_MAX_BYTES = 99
#: The application versions the tools accept, for images and manifests alike: MHC's SYS_OTA_APP_VER_NUM range
#: (0..255) without 0, which the board reads as "no version" in a manifest.
VERSION_MIN, VERSION_MAX = 1, 255
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class ManifestEntry:
    """One element of the ``ota`` array."""

    version: int
    url: str
    digest: str
    erase_ver: bool | None = None

    def __post_init__(self) -> None:
        _check_entry(self, "entry")

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"Version": self.version, "URL": self.url, "Digest": self.digest}
        if self.erase_ver is not None:
            obj["EraseVer"] = self.erase_ver
        return obj


@dataclass(frozen=True)
class Manifest:
    entries: tuple[ManifestEntry, ...]

    @property
    def effective(self) -> ManifestEntry:
        """The entry the board acts on: the last one."""
        return self.entries[-1]


def _check_entry(e: ManifestEntry, where: str) -> None:
    if not isinstance(e.version, int) or isinstance(e.version, bool):
        raise ManifestError(f"{where}: Version must be an integer, got {e.version!r}")
    if not VERSION_MIN <= e.version <= VERSION_MAX:
        raise ManifestError(
            f"{where}: Version {e.version} out of range {VERSION_MIN}..{VERSION_MAX} (0 means no update)"
        )
    if not isinstance(e.url, str):
        raise ManifestError(f"{where}: URL must be a string, got {e.url!r}")
    if not e.url.startswith(("http://", "https://")):
        raise ManifestError(f"{where}: URL {e.url!r} is not an http:// or https:// URL")
    if len(e.url.encode("utf-8")) > URL_MAX_BYTES:
        raise ManifestError(
            f"{where}: URL is {len(e.url.encode('utf-8'))} bytes; the board's buffer holds {URL_MAX_BYTES} plus NUL"
        )
    name = e.url.rsplit("/", 1)[-1]
    if "." not in name:
        raise ManifestError(f"{where}: URL file name {name!r} has no '.'; the board derives '<name>.bin' from it")
    if not isinstance(e.digest, str):
        raise ManifestError(f"{where}: Digest must be a string, got {e.digest!r}")
    if not _HEX64.fullmatch(e.digest):
        raise ManifestError(f"{where}: Digest must be 64 hex characters (SHA-256), got {len(e.digest)} characters")
    if e.erase_ver is not None and not isinstance(e.erase_ver, bool):
        raise ManifestError(f"{where}: EraseVer must be true or false, got {e.erase_ver!r}")


def write_manifest(entries: list[ManifestEntry] | tuple[ManifestEntry, ...]) -> str:
    """Return compact ``ota.json`` text for the entries (the last one is the one the board uses)."""
    if not entries:
        raise ManifestError("a manifest needs at least one entry")
    return json.dumps({"ota": [e.to_json() for e in entries]}, separators=(",", ":"))


def read_manifest(text: str | bytes, *, max_size: int = DEFAULT_MAX_SIZE) -> Manifest:
    """Parse and validate ``ota.json`` text; raise :class:`ManifestError` with the first problem found."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > max_size:
        raise ManifestError(
            f"manifest is {len(raw)} bytes; the board accepts at most {max_size} (SYS_OTA_JSON_FILE_MAXSIZE - 10)"
        )
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"manifest is not JSON: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise ManifestError("manifest nests arrays or objects too deeply to read") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("ota"), list):
        raise ManifestError('manifest has no "ota" array at the top level')
    if not doc["ota"]:
        raise ManifestError('manifest "ota" array is empty')
    entries: list[ManifestEntry] = []
    for i, item in enumerate(doc["ota"]):
        where = f"ota[{i}]"
        if not isinstance(item, dict):
            raise ManifestError(f"{where}: not a JSON object")
        missing = [k for k in ("Version", "URL", "Digest") if k not in item]
        if missing:
            raise ManifestError(f"{where}: missing mandatory field(s) {', '.join(missing)}")
        entry = object.__new__(ManifestEntry)
        for attr, key in (("version", "Version"), ("url", "URL"), ("digest", "Digest")):
            object.__setattr__(entry, attr, item[key])
        object.__setattr__(entry, "erase_ver", item.get("EraseVer"))
        _check_entry(entry, where)
        entries.append(entry)
    return Manifest(tuple(entries))


def manifest_notes(manifest: Manifest) -> list[str]:
    """Warnings about valid manifests that the board handles surprisingly (spec sections 4 and 6)."""
    notes: list[str] = []
    if len(manifest.entries) > 1:
        notes.append(f"only the last of the {len(manifest.entries)} entries is used by the board")
    version = manifest.effective.version
    if version >= 100:
        notes.append(
            f"Version {version} >= 100: the database stores it in decimal and reads it as hex, so the "
            "bootloader never finds its row and reprograms the image at every boot"
        )
    elif version >= 10:
        notes.append(
            f"Version {version} >= 10: the database stores it in decimal and reads it as hex "
            f"(0x{version}); ordering holds but EraseVer and patch lookups by version fail"
        )
    return notes
