"""The steps of a state-machine run as plain words, and the replay token that carries them.

Every board or server action of a :class:`~harness.fuzzing.machine.BoardStateMachine` is an
:class:`Action`: a name and keyword arguments made of ints, floats, strings, booleans, bytes, ``None`` and
the specs of :mod:`harness.fuzzing.strategies`. The actions between two invariant checks form one :class:`Step`
(one hypothesis rule), shown as one numbered line. A replay token is the list of steps, with the quirk
profile, the image size and the hazards the run tolerated, as compressed JSON in URL-safe base64 behind the prefix
``otaloop-fuzz1:``; :func:`decode` turns it back into the same steps, so a finding replays without
hypothesis and on another machine.

This module only records and encodes; it runs nothing.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from bootloader_model.errors import CallerError
from bootloader_model.storage.nor_flash import CutMode
from harness.fuzzing.strategies import CutPlan, ImageSpec, ManifestSpec, ServerFault

PREFIX = "otaloop-fuzz1:"
_SPECS: dict[str, type[Any]] = {cls.__name__: cls for cls in (ImageSpec, ManifestSpec, ServerFault, CutPlan)}


@dataclass(frozen=True)
class Action:
    """One replayable board or server action: the machine method ``name`` called with ``args``."""

    name: str
    args: dict[str, Any]
    text: str  # what it did, in words (may say what happened, e.g. whether a cut fired)


@dataclass
class Step:
    """The actions of one rule, shown as one numbered line."""

    actions: list[Action] = field(default_factory=list)
    seconds: float = 0.0  # virtual time the step took

    @property
    def text(self) -> str:
        return "; ".join(a.text for a in self.actions) if self.actions else "(nothing)"


@dataclass(frozen=True)
class Run:
    """What a replay needs: the machine's quirk profile, its image size, the steps, the bootloader and the
    application."""

    quirks: str
    image_size: int
    steps: list[list[tuple[str, dict[str, Any]]]]
    tolerate: frozenset[str] = frozenset()  # hazards the run did not report
    bootloader: str = "model"  # what runs at reset: "model" or "native:CACHE_DIR"
    application: str = "model"  # what runs after the jump: "model" or "native:CACHE_DIR"


def numbered(steps: list[Step]) -> str:
    """The steps as a numbered list, one line each."""
    if not steps:
        return "   (no steps: the starting state itself)\n"
    width = len(str(len(steps)))
    return "".join(f"  {i:>{width}}. {s.text}\n" for i, s in enumerate(steps, 1))


def _plain(value: Any) -> Any:
    if isinstance(value, CutMode):
        return value.value
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and type(value).__name__ in _SPECS:
        return {"$": type(value).__name__, **{k: _plain(v) for k, v in dataclasses.asdict(value).items()}}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    raise CallerError(f"a step argument of type {type(value).__name__} cannot go into a replay token")


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        if "$bytes" in value:
            return bytes.fromhex(value["$bytes"])
        kind = value.get("$")
        cls = _SPECS.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise CallerError(f"unknown value {value!r} in replay token")
        return cls(**{k: _typed(v) for k, v in value.items() if k != "$"})
    return value


def encode(
    quirks: str,
    image_size: int,
    steps: list[Step],
    tolerate: frozenset[str] = frozenset(),
    bootloader: str = "model",
    application: str = "model",
) -> str:
    """The replay token of ``steps`` (raises CallerError if an argument cannot be written)."""
    actions = [[(a.name, a.args) for a in s.actions] for s in steps]
    return encode_run(Run(quirks, image_size, actions, tolerate, bootloader, application))


def encode_run(run: Run) -> str:
    """The token of an already decoded run (the steps given as (action, arguments) pairs)."""
    body: dict[str, Any] = {
        "quirks": run.quirks,
        "size": run.image_size,
        "steps": [[[name, {k: _plain(v) for k, v in args.items()}] for name, args in s] for s in run.steps],
    }
    if run.tolerate:
        body["tolerate"] = sorted(run.tolerate)
    if run.bootloader != "model":
        body["bootloader"] = run.bootloader
    if run.application != "model":
        body["application"] = run.application
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return PREFIX + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


def decode(token: str) -> Run:
    """Read a replay token back; a damaged or foreign token is a CallerError saying so."""
    token = token.strip()
    if not token.startswith(PREFIX):
        raise CallerError(f"not a replay token: it must start with {PREFIX!r}")
    data = token[len(PREFIX) :]
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        body = json.loads(raw)
        steps = [[(str(name), {k: _typed(v) for k, v in args.items()}) for name, args in s] for s in body["steps"]]
        tolerate = frozenset(str(name) for name in body.get("tolerate", ()))
        bootloader = str(body.get("bootloader", "model"))
        application = str(body.get("application", "model"))
        return Run(str(body["quirks"]), int(body["size"]), steps, tolerate, bootloader, application)
    except (binascii.Error, zlib.error, ValueError, KeyError, TypeError) as exc:
        raise CallerError(f"damaged replay token ({exc.__class__.__name__}): copy it whole, on one line") from None
