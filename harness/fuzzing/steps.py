"""The steps of a state-machine run as plain words, and the replay token that carries them.

Every board or server action of a :class:`~harness.fuzzing.machine.BoardStateMachine` is an
:class:`Action`: a name and keyword arguments made of ints, floats, strings, booleans, bytes, ``None`` and
the specs of :mod:`harness.fuzzing.strategies`. The actions between two invariant checks form one :class:`Step`
(one hypothesis rule), shown as one numbered line. A replay token is the list of steps, with the quirk
profile, the image size and the hazards the run tolerated, as compressed JSON in URL-safe base64 behind the prefix
``otaloop-fuzz1:``; :func:`decode` turns it back into the same steps, so a finding replays without
hypothesis and on another machine.

A token is input from outside, so :func:`decode` is the one place that reads it, and it checks everything
before anything runs: the actions the machine has, their argument names, types and ranges, the set-up step
first, and bounds (``MAX_*`` below) on sizes, counts and virtual time that every run a search records keeps
within; anything else is a :class:`~bootloader_model.errors.CallerError` saying what is wrong.
:func:`encode_run` applies the same checks, so a token handed out always replays.

This module only records and encodes; it runs nothing.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bootloader_model.bootloader.program import MODEL
from bootloader_model.errors import CallerError
from bootloader_model.formats.app_descriptor import BEHAVIOURS
from bootloader_model.formats.app_image import APP_OFFSET, MIN_APP_SIZE, SLOT_SIZE
from bootloader_model.quirks import QuirkProfile
from bootloader_model.storage.nor_flash import CutMode
from harness.fuzzing.hazards import HAZARDS
from harness.fuzzing.strategies import (
    ALL_MANIFEST_KINDS,
    DAMAGES,
    IMAGE_PATH,
    INSTANT_FAULTS,
    MANIFEST_FIELDS,
    MANIFEST_PATH,
    CutPlan,
    ImageSpec,
    ManifestSpec,
    ServerFault,
)
from harness.native.programs import NATIVE_PREFIX
from harness.scenarios.base import CONFIGS

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
    #: erases and programs each flash (``internal``, ``external``) did during the step
    flash_ops: dict[str, int] = field(default_factory=dict)

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
    bootloader: str = MODEL  # what runs at reset: MODEL or "native:CACHE_DIR"
    application: str = MODEL  # what runs after the jump: MODEL or "native:CACHE_DIR"


def image_sizes(run: Run) -> str:
    """The sizes of the images a run serves, in words: the factory v1 and the first v2 are
    ``run.image_size`` bytes; an image a step serves with another size is named with its step, e.g.
    ``factory v1 and first v2 of 8192 bytes, 12288 bytes in step 2``."""
    steps_of: dict[int, list[int]] = {}
    for number, step in enumerate(run.steps, 1):
        for _, args in step:
            for value in args.values():
                if isinstance(value, ImageSpec) and value.size != run.image_size:
                    numbers = steps_of.setdefault(value.size, [])
                    if number not in numbers:
                        numbers.append(number)
    text = f"factory v1 and first v2 of {run.image_size} bytes"
    for size, numbers in sorted(steps_of.items()):
        where = f"step {numbers[0]}" if len(numbers) == 1 else f"steps {', '.join(map(str, numbers))}"
        text += f", {size} bytes in {where}"
    return text


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


def encode(
    quirks: str,
    image_size: int,
    steps: list[Step],
    tolerate: frozenset[str] = frozenset(),
    bootloader: str = MODEL,
    application: str = MODEL,
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
    if run.bootloader != MODEL:
        body["bootloader"] = run.bootloader
    if run.application != MODEL:
        body["application"] = run.application
    if run.application != MODEL:
        body["application"] = run.application
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    try:
        _body(json.loads(raw))
    except CallerError as exc:
        raise CallerError(f"these steps cannot be replayed from a token: {exc}") from None
    return PREFIX + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")


# ------------------------------------------------------------------------------------------ decoding
# A token comes from outside (a bug report, a CI log, a chat message): everything in it is checked against
# what a search can record before anything runs. The bounds follow the machine's rules
# (harness/fuzzing/machine.py) and the strategies they draw from (harness/fuzzing/strategies.py).

#: Rules one replay token holds at most, besides its set-up step (``otaloop fuzz --steps`` allows 1..200).
MAX_RULES = 200
#: Actions one step holds at most (a built-in rule records one; a user's rule may call several).
MAX_ACTIONS = 16
#: The longest wait the wait rule draws (virtual seconds).
LONGEST_WAIT_S = 200.0
#: Virtual seconds one token may ask for in all: waits, settle times, cut windows, the 5 s after a control
#: message. :data:`MAX_RULES` rules of the longest wait, with room for the rest; shrinking joins waits, so
#: one wait may take all of it. An idle board passes it in about a wall second.
MAX_RUN_S = 50_000.0
#: The longest cut window (``cut_power(within_s=...)``): the machine's ``CUT_WINDOW_S``.
MAX_CUT_WINDOW_S = 70.0
#: The longest settle time after a typed line (the machine's rules use 1 s).
MAX_SETTLE_S = LONGEST_WAIT_S
#: The longest typed line (``console_lines()`` draws up to 307 bytes).
MAX_LINE_BYTES = 512
#: Largest flash operation index a cut may name (a whole-slot update does fewer than 20,000).
MAX_CUT_OP = 1 << 20
#: Largest seed of a torn operation (``fault_plans()`` draws 0..9).
MAX_SEED = 0xFFFF_FFFF
#: Largest application version (``SYS_OTA_APP_VER_NUM`` is 32 bits).
MAX_VERSION = 0xFFFF_FFFF
#: How many requests a server fault may affect at most (``server_faults()`` draws 1..2 or all).
MAX_FAULT_TIMES = 1000
#: Longest token, and longest JSON it may unpack to (a 200-rule token is about 10 KB).
MAX_TOKEN_CHARS = 1_000_000
MAX_JSON_BYTES = 4_000_000
#: Longest ``native:CACHE_DIR`` bootloader text.
MAX_BOOTLOADER_CHARS = 4096
#: Words the machine's actions accept (``BoardStateMachine.power``, ``control`` and ``during``).
POWER_ACTIONS = ("on", "off", "cycle", "reset")
CONTROL_MESSAGES = ("check", "start", "sysreset", "factory", "rollback")
MOMENTS = ("check", "download")
#: Virtual seconds an action runs besides the times its arguments name (``control``: 5 s after the line).
_FIXED_S = {"control": 5.0, "start_update": 5.0, "during": MAX_CUT_WINDOW_S + 5.0}

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_TOP_KEYS = frozenset({"quirks", "size", "steps", "tolerate", "bootloader", "application"})
_CUT_MODES = tuple(m.value for m in CutMode)


def _kind(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _int(value: Any, where: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CallerError(f"{where} must be an integer, not {_kind(value)}")
    if not lo <= value <= hi:
        raise CallerError(f"{where} must be {lo}..{hi}, got {value}")
    return value


def _seconds(value: Any, where: str, hi: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise CallerError(f"{where} must be a number of seconds, not {_kind(value)}")
    if not 0.0 <= value <= hi:  # also refuses NaN
        raise CallerError(f"{where} must be 0..{hi:g} s, got {value!r}")
    return float(value)


def _word(value: Any, where: str, choices: Iterable[str]) -> str:
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
        shown = repr(value) if isinstance(value, str) else _kind(value)
        raise CallerError(f"{where} must be one of {', '.join(options)}; got {shown[:60]}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise CallerError(f"{where} must be true or false, not {_kind(value)}")
    return value


def _fields(value: Any, where: str, spec: str, required: Iterable[str], optional: Iterable[str]) -> dict[str, Any]:
    """The fields of a ``{"$": spec, ...}`` object, every required one present and no other."""
    if not isinstance(value, dict) or value.get("$") != spec:
        raise CallerError(f"{where} must be a {spec}, not {_kind(value)}")
    fields = {k: v for k, v in value.items() if k != "$"}
    need, may = set(required), set(optional)
    missing = sorted(need - fields.keys())
    if missing:
        raise CallerError(f"{where}: {spec} without {', '.join(missing)}")
    unknown = sorted(fields.keys() - need - may)
    if unknown:
        raise CallerError(f"{where}: {spec} has no field {unknown[0][:40]!r}")
    return fields


def _image(value: Any, where: str) -> ImageSpec:
    f = _fields(value, where, "ImageSpec", ("version",), ("behaviour", "size", "damage", "damage_at", "config"))
    size = _int(f.get("size", 8192), f"{where}.size", MIN_APP_SIZE, SLOT_SIZE)
    damage = _word(f.get("damage", "none"), f"{where}.damage", DAMAGES)
    # As images() draws it: no offset without damage, and damage inside the application (never an empty file).
    first = 0 if damage == "none" else min(APP_OFFSET, size - 1)
    last = 0 if damage == "none" else size - 1
    return ImageSpec(
        _int(f["version"], f"{where}.version", 0, MAX_VERSION),
        _word(f.get("behaviour", "healthy"), f"{where}.behaviour", BEHAVIOURS),
        size,
        damage,
        _int(f.get("damage_at", 0), f"{where}.damage_at", first, last),
        _word(f.get("config", "auto"), f"{where}.config", CONFIGS),
    )


def _manifest(value: Any, where: str) -> ManifestSpec | None:
    if value is None:
        return None
    f = _fields(value, where, "ManifestSpec", (), ("kind", "missing"))
    return ManifestSpec(
        _word(f.get("kind", "valid"), f"{where}.kind", ALL_MANIFEST_KINDS),
        _word(f.get("missing", "Digest"), f"{where}.missing", MANIFEST_FIELDS),
    )


def _server_fault(value: Any, where: str) -> ServerFault:
    f = _fields(value, where, "ServerFault", ("path", "kind"), ("after", "status", "times"))
    times = f.get("times")
    return ServerFault(
        _word(f["path"], f"{where}.path", (IMAGE_PATH, MANIFEST_PATH)),
        _word(f["kind"], f"{where}.kind", INSTANT_FAULTS),  # the machine uses no fault that costs wall time
        _int(f.get("after", 0), f"{where}.after", 0, SLOT_SIZE),
        _int(f.get("status", 404), f"{where}.status", 100, 599),
        None if times is None else _int(times, f"{where}.times", 1, MAX_FAULT_TIMES),
    )


def _cut_plan(value: Any, where: str) -> CutPlan:
    f = _fields(value, where, "CutPlan", ("device", "op"), ("mode", "seed"))
    return CutPlan(
        _word(f["device"], f"{where}.device", ("internal", "external")),
        _int(f["op"], f"{where}.op", 0, MAX_CUT_OP),
        CutMode(_word(f.get("mode", CutMode.BEFORE.value), f"{where}.mode", _CUT_MODES)),
        _int(f.get("seed", 0), f"{where}.seed", 0, MAX_SEED),
    )


def _line(value: Any, where: str) -> bytes:
    if not isinstance(value, dict) or set(value) != {"$bytes"} or not isinstance(value["$bytes"], str):
        raise CallerError(f'{where} must be bytes ({{"$bytes": HEX}}), not {_kind(value)}')
    text = value["$bytes"]
    if len(text) > 2 * MAX_LINE_BYTES:
        raise CallerError(f"{where} is longer than {MAX_LINE_BYTES} bytes")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise CallerError(f"{where} is not hex") from None


_Check = Callable[[Any, str], Any]
#: Every action a token may name: its arguments, each with its check and its default (``...``: required).
_ACTIONS: dict[str, dict[str, tuple[_Check, Any]]] = {
    "setup": {"config": (lambda v, w: _word(v, w, CONFIGS), ...)},
    "power": {"action": (lambda v, w: _word(v, w, POWER_ACTIONS), ...)},
    "wait": {"seconds": (lambda v, w: _seconds(v, w, MAX_RUN_S), ...)},
    "type_line": {"line": (_line, ...), "settle_s": (lambda v, w: _seconds(v, w, MAX_SETTLE_S), 1.0)},
    "control": {"message": (lambda v, w: _word(v, w, CONTROL_MESSAGES), ...)},
    "start_update": {"image": (_image, ...), "good_digest": (_bool, True)},
    "serve": {"image": (_image, ...), "manifest": (_manifest, None)},
    "server_fault": {"fault": (_server_fault, ...)},
    "heal_server": {},
    "set_network": {"up": (_bool, ...)},
    "cut_power": {
        "plan": (_cut_plan, ...),
        "within_s": (lambda v, w: _seconds(v, w, MAX_CUT_WINDOW_S), MAX_CUT_WINDOW_S),
    },
    "during": {
        "moment": (lambda v, w: _word(v, w, MOMENTS), ...),
        "message": (lambda v, w: _word(v, w, CONTROL_MESSAGES), ...),
    },
}
#: The names of the actions a replay token may hold, and the names of each one's arguments.
ACTIONS = frozenset(_ACTIONS)
ARGUMENTS: dict[str, frozenset[str]] = {name: frozenset(schema) for name, schema in _ACTIONS.items()}


def _action(value: Any, where: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(value, list) or len(value) != 2:
        raise CallerError(f"{where} must be a pair [action, arguments], not {_kind(value)}")
    name, given = value
    if not isinstance(name, str) or name not in _ACTIONS:
        shown = repr(name[:40]) if isinstance(name, str) else _kind(name)
        raise CallerError(f"{where} names an unknown action {shown}; known: {', '.join(sorted(_ACTIONS))}")
    if not isinstance(given, dict):
        raise CallerError(f"{where}: the arguments of {name} must be an object, not {_kind(given)}")
    schema = _ACTIONS[name]
    unknown = sorted(set(given) - set(schema))
    if unknown:
        raise CallerError(f"{where}: {name} takes no argument {unknown[0][:40]!r}")
    args: dict[str, Any] = {}
    for key, (check, default) in schema.items():
        if key in given:
            args[key] = check(given[key], f"{where} {name} {key}")
        elif default is ...:
            raise CallerError(f"{where}: {name} without its argument {key!r}")
    return name, args


def _virtual_seconds(name: str, args: dict[str, Any]) -> float:
    """An upper bound of the virtual time one action runs for (see :data:`MAX_RUN_S`)."""
    named = args.get("seconds", 0.0) + args.get("settle_s", 1.0 if name == "type_line" else 0.0)
    if name == "cut_power":
        named += args.get("within_s", MAX_CUT_WINDOW_S)
    return float(named) + _FIXED_S.get(name, 0.0)


def _steps(value: Any) -> list[list[tuple[str, dict[str, Any]]]]:
    if not isinstance(value, list):
        raise CallerError(f"its steps must be an array, not {_kind(value)}")
    if not 1 <= len(value) <= MAX_RULES + 1:
        raise CallerError(f"it holds {len(value)} steps; a token holds the set-up step and 0..{MAX_RULES} more")
    steps: list[list[tuple[str, dict[str, Any]]]] = []
    total = 0.0
    for i, step in enumerate(value, 1):
        if not isinstance(step, list) or not 1 <= len(step) <= MAX_ACTIONS:
            shown = f"{len(step)} actions" if isinstance(step, list) else _kind(step)
            raise CallerError(f"step {i} must hold 1..{MAX_ACTIONS} actions, not {shown}")
        actions = [_action(a, f"step {i}" if len(step) == 1 else f"step {i}.{j}") for j, a in enumerate(step, 1)]
        for j, (name, args) in enumerate(actions):
            if (name == "setup") != (i == 1 and j == 0):
                raise CallerError("the set-up step comes first, once: step 1 starts with setup and no other does")
            total += _virtual_seconds(name, args)
        steps.append(actions)
    if total > MAX_RUN_S:
        raise CallerError(f"its steps run for {total:,.0f} virtual seconds; a token may ask for {MAX_RUN_S:,.0f}")
    return steps


def _body(body: Any) -> Run:
    if not isinstance(body, dict):
        raise CallerError(f"it holds {_kind(body)}, not an object")
    unknown = sorted(k[:40] for k in body.keys() - _TOP_KEYS)
    if unknown:
        raise CallerError(f"unknown field {unknown[0]!r}")
    for key in ("quirks", "size", "steps"):
        if key not in body:
            raise CallerError(f"no {key!r}")
    quirks = body["quirks"]
    if not isinstance(quirks, str) or len(quirks) > 1000:
        raise CallerError("its quirks must be a profile name such as harmony-3.9.1")
    QuirkProfile.named(quirks)  # a CallerError names an unknown profile or quirk
    size = _int(body["size"], "its image size", MIN_APP_SIZE, SLOT_SIZE)
    steps = _steps(body["steps"])
    names = body.get("tolerate", [])
    if not isinstance(names, list) or len(names) > len(HAZARDS):
        raise CallerError(f"its tolerated hazards must be an array of at most {len(HAZARDS)} names")
    tolerate = frozenset(_word(n, "a tolerated hazard", HAZARDS) for n in names)
    bootloader = _program(body.get("bootloader", MODEL), "bootloader")
    application = _program(body.get("application", MODEL), "application")
    return Run(quirks, size, steps, tolerate, bootloader, application)


def _program(spec: Any, what: str) -> str:
    """A token's ``bootloader`` or ``application``: ``model`` or ``native:CACHE_DIR`` of a sane length."""
    if not (isinstance(spec, str) and len(spec) <= MAX_BOOTLOADER_CHARS and "\0" not in spec) or (
        spec != MODEL and not (spec.startswith(NATIVE_PREFIX) and spec[len(NATIVE_PREFIX) :])
    ):
        raise CallerError(f"its {what} must be 'model' or 'native:CACHE_DIR'")
    return spec


def _no_constant(name: str) -> Any:
    raise CallerError(f"it holds {name}, which JSON does not have")


def decode(token: str) -> Run:
    """Read a replay token back, checking every field against what a search can record.

    Args:
        token: ``otaloop-fuzz1:...`` as a finding prints it (surrounding white space is ignored).

    Returns:
        The :class:`Run`: every action one the machine has, with arguments of the right names, types and
        ranges (see the ``MAX_*`` bounds of this module), the set-up step first.

    Raises:
        CallerError: the token is not one, is damaged, or holds anything out of bounds; the message says what.
    """
    if not isinstance(token, str):
        raise CallerError(f"a replay token is text, not {type(token).__name__}")
    token = token.strip()
    if not token.startswith(PREFIX):
        raise CallerError(f"not a replay token: it must start with {PREFIX!r}")
    data = token[len(PREFIX) :]
    if len(data) > MAX_TOKEN_CHARS:
        raise CallerError(f"a replay token is at most {MAX_TOKEN_CHARS:,} characters; this one has {len(data):,}")
    damaged = "damaged replay token ({}): copy it whole, on one line"
    if not _BASE64URL.fullmatch(data) or len(data) % 4 == 1:
        raise CallerError(damaged.format("not URL-safe base64"))
    try:
        packed = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
        unpack = zlib.decompressobj()
        raw = unpack.decompress(packed, MAX_JSON_BYTES)
    except (binascii.Error, zlib.error) as exc:
        raise CallerError(damaged.format(exc.__class__.__name__)) from None
    if unpack.unconsumed_tail:
        raise CallerError(f"replay token unpacks to more than {MAX_JSON_BYTES:,} bytes")
    if not unpack.eof or unpack.unused_data:
        raise CallerError(damaged.format("cut short" if not unpack.eof else "bytes after its end"))
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise CallerError("bad replay token: its JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, or _no_constant's CallerError
        reason = str(exc) if isinstance(exc, CallerError) else f"not JSON ({exc.__class__.__name__})"
        raise CallerError(f"bad replay token: {reason}") from None
    try:
        return _body(body)
    except CallerError as exc:
        raise CallerError(f"bad replay token: {exc}") from None
