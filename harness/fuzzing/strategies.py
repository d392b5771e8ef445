"""Hypothesis strategies for property tests of Harmony OTA failure paths, and the values they draw.

Every strategy draws a small, frozen *spec* that prints as plain words in a failing step list and turns
into the real thing only when a board or server needs it: :class:`ImageSpec` builds an application image
for a given manifest URL, :class:`ManifestSpec` builds ``ota.json`` for an image, :class:`ServerFault` is
an :class:`~harness.image.server.Fault` on the image or manifest path, :class:`CutPlan` is a
:class:`~bootloader_model.storage.nor_flash.FaultPlan` on one flash. Specs hold only ints, strings and
booleans, so :mod:`harness.fuzzing.steps` can write them into a replay token and read them back.

Usage, with the :class:`~harness.fuzzing.machine.BoardStateMachine` base or on its own::

    from hypothesis import given
    from harness.fuzzing import strategies as ota

    @given(image=ota.images(versions=(2, 3)), manifest=ota.manifests())
    def test_bad_updates_keep_v1(image, manifest):
        ...  # bench.server: image.build(url) and manifest.build(image, image_url, manifest_url)

    ota.console_lines()          # b"otactl check", b"sysota set 1 0 1 45", garbage bytes, over-long lines
    ota.fault_plans()            # CutPlan(device="external", op=37, mode=CutMode.TORN, seed=3)
    ota.server_faults()          # ServerFault(path="image", kind="truncate", after=4096)

The strategies draw values only; they start no server and touch no board.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from bootloader_model.errors import CallerError
from bootloader_model.formats.app_descriptor import BEHAVIOURS
from bootloader_model.formats.app_image import APP_OFFSET, MIN_APP_SIZE, SLOT_SIZE, build_app
from bootloader_model.storage.nor_flash import CutMode, FaultPlan
from harness.image.server import Fault, FaultKind
from harness.scenarios.base import CONFIGS

#: What may be wrong with the image file itself (transport faults are :class:`ServerFault`).
DAMAGES = ("none", "corrupted", "truncated")
#: ``ota.json`` variants: see :class:`ManifestSpec`.
MANIFEST_KINDS = ("valid", "wrong-digest", "missing-field", "oversize", "erase")
#: A manifest whose URL is padded (a query string the server ignores) to :data:`LONG_URL_LENGTH` bytes, past
#: the service's 100-byte URL field (Harmony's quirk svc-url-overflows-digest) and past the whole 204-byte
#: ``ota_params`` it sits in (a 32-bit host build of Harmony's service). Not drawn by default: give it to
#: :func:`manifests` (``kinds=ALL_MANIFEST_KINDS``) or write it in a step.
LONG_URL = "long-url"
LONG_URL_LENGTH = 240
ALL_MANIFEST_KINDS = (*MANIFEST_KINDS, LONG_URL)
MANIFEST_FIELDS = ("Version", "URL", "Digest")
#: Harmony's SYS_OTA_JSON_FILE_MAXSIZE: a manifest longer than this minus 10 bytes cannot be read.
MANIFEST_MAX = 1990
#: Server faults that cost no wall-clock time (STALL and SLOW hold a real connection open).
INSTANT_FAULTS = ("status", "no-length", "chunked", "truncate", "corrupt", "drop", "lower-header")
IMAGE_PATH = "image"
MANIFEST_PATH = "manifest"


@dataclass(frozen=True)
class ImageSpec:
    """An application image: version, behaviour at boot, size, damage to the file, and MHC options.

    ``build(manifest_url)`` gives the bytes a server hands out; :meth:`pristine` the undamaged image whose
    digest a manifest advertises. A corrupted image has one byte flipped at ``damage_at``; a truncated one
    stops after ``damage_at`` bytes. ``config`` names the OTA service options compiled in
    (:data:`harness.scenarios.base.CONFIGS`: ``auto`` is MHC's default).
    """

    version: int
    behaviour: str = "healthy"
    size: int = 8192
    damage: str = "none"
    damage_at: int = 0
    config: str = "auto"

    def __post_init__(self) -> None:
        if self.config not in CONFIGS:
            raise CallerError(f"unknown app configuration {self.config!r}; choose {', '.join(CONFIGS)}")
        if self.behaviour not in BEHAVIOURS:
            raise CallerError(f"unknown image behaviour {self.behaviour!r}; choose {', '.join(BEHAVIOURS)}")
        if self.damage not in DAMAGES:
            raise CallerError(f"unknown image damage {self.damage!r}; choose {', '.join(DAMAGES)}")
        if not MIN_APP_SIZE <= self.size <= SLOT_SIZE:
            raise CallerError(f"image size {self.size} out of range {MIN_APP_SIZE}..{SLOT_SIZE}")
        if not 0 <= self.damage_at < self.size:
            raise CallerError(f"damage offset {self.damage_at} outside the {self.size}-byte image")

    def pristine(self, manifest_url: str) -> bytes:
        """The image as built, before any damage: what its manifest's digest describes."""
        desc = CONFIGS[self.config].descriptor(self.version, manifest_url, BEHAVIOURS[self.behaviour])
        return build_app(desc, self.size)

    def build(self, manifest_url: str) -> bytes:
        """The bytes a server serves: the pristine image with this spec's damage applied."""
        image = self.pristine(manifest_url)
        if self.damage == "corrupted":
            bad = bytearray(image)
            bad[self.damage_at] ^= 0xFF
            return bytes(bad)
        if self.damage == "truncated":
            return image[: self.damage_at]
        return image

    @property
    def file_name(self) -> str:
        """The name the image is served under (distinct for every spec, ends in ``.bin``)."""
        tail = "" if self.behaviour == "healthy" else f"_{self.behaviour}"
        hurt = "" if self.damage == "none" else f"_{self.damage}{self.damage_at}"
        options = "" if self.config == "auto" else f"_{self.config}"
        return f"app_v{self.version}{tail}_{self.size}{hurt}{options}.bin"

    def __str__(self) -> str:
        what = {"healthy": "", "crash": ", crashes at boot", "hang": ", hangs at boot"}[self.behaviour]
        hurt = {
            "none": "",
            "corrupted": f", byte {self.damage_at} flipped",
            "truncated": f", truncated to {self.damage_at} bytes",
        }[self.damage]
        return f"v{self.version} ({self.size} bytes{what}{hurt})"


@dataclass(frozen=True)
class ManifestSpec:
    """How ``ota.json`` describes an image.

    ``valid``: Version, URL and the image's SHA-256; ``wrong-digest``: another digest; ``missing-field``:
    ``missing`` left out; ``oversize``: valid but padded past Harmony's 1990-byte limit; ``erase``:
    ``"EraseVer": true``, asking the board to erase the image of that version; ``long-url``
    (:data:`LONG_URL`): valid, its URL padded to :data:`LONG_URL_LENGTH` bytes.
    """

    kind: str = "valid"
    missing: str = "Digest"

    def __post_init__(self) -> None:
        if self.kind not in ALL_MANIFEST_KINDS:
            raise CallerError(f"unknown manifest kind {self.kind!r}; choose {', '.join(ALL_MANIFEST_KINDS)}")
        if self.missing not in MANIFEST_FIELDS:
            raise CallerError(f"unknown manifest field {self.missing!r}; choose {', '.join(MANIFEST_FIELDS)}")

    def entry(self, version: int, image_url: str, digest: str) -> dict[str, Any]:
        """The manifest's one entry for an image at ``image_url`` whose true digest is ``digest``."""
        entry: dict[str, Any] = {"Version": version, "URL": image_url, "Digest": digest}
        if self.kind == "wrong-digest":
            entry["Digest"] = hashlib.sha256(digest.encode()).hexdigest()
        elif self.kind == "missing-field":
            del entry[self.missing]
        elif self.kind == "erase":
            entry["EraseVer"] = True
        elif self.kind == LONG_URL:
            entry["URL"] = f"{image_url}?{'p' * max(0, LONG_URL_LENGTH - len(image_url) - 1)}"
        return entry

    def build(self, version: int, image_url: str, digest: str) -> bytes:
        """The ``ota.json`` bytes."""
        body: dict[str, Any] = {"ota": [self.entry(version, image_url, digest)]}
        if self.kind == "oversize":
            body["comment"] = "x" * MANIFEST_MAX
        return json.dumps(body).encode()

    def __str__(self) -> str:
        return {
            "valid": "a valid manifest",
            "wrong-digest": "a manifest with a wrong digest",
            "missing-field": f"a manifest without {self.missing}",
            "oversize": f"a manifest over {MANIFEST_MAX} bytes",
            "erase": 'a manifest with "EraseVer": true',
            LONG_URL: f"a manifest whose URL is {LONG_URL_LENGTH} bytes long",
        }[self.kind]


@dataclass(frozen=True)
class ServerFault:
    """A network fault on the image or the manifest path of an image server (see :class:`FaultKind`)."""

    path: str  # IMAGE_PATH or MANIFEST_PATH
    kind: str
    after: int = 0
    status: int = 404
    times: int | None = None

    def __post_init__(self) -> None:
        if self.path not in (IMAGE_PATH, MANIFEST_PATH):
            raise CallerError(f"server fault path must be {IMAGE_PATH!r} or {MANIFEST_PATH!r}, not {self.path!r}")
        self.fault()  # validates kind, status and offsets

    def fault(self) -> Fault:
        return Fault(FaultKind(self.kind), status=self.status, after=self.after, times=self.times)

    def __str__(self) -> str:
        what = {
            "status": f"answers {self.status}",
            "no-length": "omits Content-Length",
            "chunked": "sends chunked",
            "truncate": f"closes after {self.after} bytes",
            "corrupt": f"flips byte {self.after}",
            "stall": f"stalls after {self.after} bytes",
            "drop": "drops the connection",
            "slow": "sends slowly",
            "lower-header": 'spells "content-length" in lower case',
        }.get(self.kind, self.kind)
        times = "" if self.times is None else f" ({self.times} time{'s' if self.times != 1 else ''})"
        return f"the {self.path} request {what}{times}"


@dataclass(frozen=True)
class CutPlan:
    """A power cut at the ``op``-th erase or program (counted from when it is armed) of one flash."""

    device: str  # "internal" or "external"
    op: int
    mode: CutMode = CutMode.BEFORE
    seed: int = 0

    def __post_init__(self) -> None:
        if self.device not in ("internal", "external"):
            raise CallerError(f"cut device must be internal or external, not {self.device!r}")
        object.__setattr__(self, "mode", CutMode(self.mode))
        self.plan()

    def plan(self) -> FaultPlan:
        return FaultPlan(self.op, self.mode, self.seed)

    @property
    def fault_id(self) -> str:
        """The sweep's fault-id text: ``int@op12:after``, ``ext@op40:torn:s3``."""
        return f"{self.device[:3]}@{self.plan().fault_id}"

    def __str__(self) -> str:
        how = {CutMode.BEFORE: "just before", CutMode.AFTER: "just after", CutMode.TORN: "half way through"}
        return f"{how[self.mode]} the {_ordinal(self.op + 1)} {self.device} flash operation ({self.fault_id})"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# ------------------------------------------------------------------------------------------ strategies
def images(
    versions: Sequence[int] = (2, 3),
    *,
    behaviours: Sequence[str] = tuple(BEHAVIOURS),
    damages: Sequence[str] = DAMAGES,
    min_size: int = 8192,
    max_size: int = SLOT_SIZE,
    sizes: Sequence[int] | None = None,
) -> st.SearchStrategy[ImageSpec]:
    """Application images: healthy, crash or hang at boot, corrupted or truncated, any size in the slot.

    ``sizes`` picks from a few sizes instead of the whole ``min_size..max_size`` range.
    """
    if not MIN_APP_SIZE <= min_size <= max_size <= SLOT_SIZE:
        raise CallerError(f"image sizes must satisfy {MIN_APP_SIZE} <= min_size <= max_size <= {SLOT_SIZE}")
    size_strategy = st.sampled_from(list(sizes)) if sizes else st.integers(min_size, max_size)

    @st.composite
    def draw(d: st.DrawFn) -> ImageSpec:
        size = d(size_strategy)
        damage = d(st.sampled_from(list(damages)))
        # Damage inside the application (past the boot control page) so it reaches the digest.
        at = 0 if damage == "none" else d(st.integers(min(APP_OFFSET, size - 1), size - 1))
        return ImageSpec(d(st.sampled_from(list(versions))), d(st.sampled_from(list(behaviours))), size, damage, at)

    return draw()


def healthy_images(versions: Sequence[int] = (2, 3), *, size: int = 8192) -> st.SearchStrategy[ImageSpec]:
    """Undamaged images that run normally."""
    return images(versions, behaviours=("healthy",), damages=("none",), min_size=size, max_size=size)


def manifests(kinds: Sequence[str] = MANIFEST_KINDS) -> st.SearchStrategy[ManifestSpec]:
    """Manifests: valid, wrong digest, a missing field, oversize, or an EraseVer request."""
    return st.builds(ManifestSpec, st.sampled_from(list(kinds)), st.sampled_from(MANIFEST_FIELDS))


def server_faults(
    kinds: Sequence[str] = INSTANT_FAULTS, paths: Sequence[str] = (IMAGE_PATH, MANIFEST_PATH), *, max_after: int = 16384
) -> st.SearchStrategy[ServerFault]:
    """Network faults on the image or manifest request. By default only those that cost no wall time."""
    return st.builds(
        ServerFault,
        st.sampled_from(list(paths)),
        st.sampled_from(list(kinds)),
        st.integers(0, max_after),
        st.sampled_from([404, 500, 301, 403]),
        st.one_of(st.none(), st.integers(1, 2)),
    )


#: Commands a running application's console understands (``otactl`` and Harmony's ``sysota``).
VALID_COMMANDS: tuple[bytes, ...] = (
    b"otactl status",
    b"otactl check",
    b"otactl start",
    b"otactl sysreset",
    b"otactl rollback",
    b"otactl factory",
    b"sysota get info",
    b"sysota getfs info",
    b"sysota set 1 1 1 30",
    b"sysota set 1 0 1 45",
    b"sysota set 1 1 0 60",
    b"sysota set 0",
    b"sysotahelp",
    b"help",
)


def commands(lines: Sequence[bytes] = VALID_COMMANDS) -> st.SearchStrategy[bytes]:
    """Valid ``otactl`` / ``sysota`` command lines, without the line ending."""
    return st.sampled_from(list(lines))


def console_lines() -> st.SearchStrategy[bytes]:
    """What a person or a broken script types: valid commands, printable text, raw bytes, over-long lines."""
    return st.one_of(
        commands(),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.encode),
        st.binary(max_size=48),
        st.integers(81, 300).map(lambda n: b"otactl " + b"x" * n),
    )


def fault_plans(
    devices: Sequence[str] = ("internal", "external"),
    *,
    max_op: int = 400,
    modes: Sequence[CutMode] = tuple(CutMode),
) -> st.SearchStrategy[CutPlan]:
    """Power cuts: which flash, at which of its next operations, before / after / half way through it."""
    return st.builds(
        CutPlan,
        st.sampled_from(list(devices)),
        st.integers(0, max_op),
        st.sampled_from(list(modes)),
        st.integers(0, 9),
    )


def digest(data: bytes) -> str:
    """SHA-256 hex digest, as ``ota.json`` carries it."""
    return hashlib.sha256(data).hexdigest()
