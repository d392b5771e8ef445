"""Fault ids of the whole-update power-cut sweep: stable text that names one cut and how to rebuild it.

``<scenario>:<int|ext>@op<k>:<before|after|torn>[:s<seed>]``: ``k`` is the global operation index of the
update's reference run (:mod:`harness.sweeps.update`), ``int``/``ext`` the flash that operation touches. The
scenario is ``update`` plus any non-default :class:`Params` item: ``update/size=65536``,
``update/quirks=corrected``, ``update/v2=crash``. Parsing and printing round-trip exactly. This module
only names cuts; it runs nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bootloader_model.bootloader.program import MODEL
from bootloader_model.errors import CallerError
from bootloader_model.formats.app_descriptor import BEHAVIOURS
from bootloader_model.formats.app_image import SLOT_SIZE
from bootloader_model.quirks import HARMONY_NAME, QuirkProfile
from bootloader_model.storage.nor_flash import CutMode, FaultPlan

SCENARIO = "update"
DEFAULT_SIZE = 16 * 1024
DEFAULT_PROFILE = HARMONY_NAME
DEFAULT_SEED = 1
SLOT_APP_MAX = SLOT_SIZE  # 0xDF000: boot control page plus the application

_ID = re.compile(r"^(?P<scn>[^:]+):(?P<dev>int|ext)@op(?P<op>\d+):(?P<mode>before|after|torn)(?::s(?P<seed>\d+))?$")
_SECOND = re.compile(r"^(?P<dev>int|ext)@op(?P<op>\d+):(?P<mode>before|after|torn)(?::s(?P<seed>\d+))?$")


@dataclass(frozen=True, slots=True)  # slots: an exhaustive double sweep holds millions
class SecondCut:
    """A second power cut during the recovery run after the first: ``k`` counts the recovery's flash
    operations (both flashes, from the first power-on after the first cut)."""

    device: str  # "int" or "ext"
    op: int
    mode: CutMode
    seed: int = DEFAULT_SEED

    def __str__(self) -> str:
        return f"{self.device}@{FaultPlan(self.op, self.mode, self.seed).fault_id}"


@dataclass(frozen=True)
class Params:
    """What makes one update reproducible besides the cut: image size, quirk profile, v2's behaviour."""

    size: int = DEFAULT_SIZE
    quirks: str = DEFAULT_PROFILE
    v2: str = "healthy"  # "crash" or "hang": what v2 does right after the bootloader jumps to it
    #: The board's bootloader (:data:`~bootloader_model.bootloader.program.MODEL` or "native:CACHE_DIR"). Not
    #: part of the fault id: the same cut can be replayed on either bootloader, and ids compare equal across them.
    bootloader: str = field(default=MODEL, compare=False)

    def __post_init__(self) -> None:
        if not 8 * 1024 <= self.size <= SLOT_APP_MAX:
            raise CallerError(
                f"--size must be 8192..{SLOT_APP_MAX} bytes (the application slot 0xDF000), got {self.size}"
            )
        QuirkProfile.named(self.quirks)  # raises CallerError for an unknown profile
        if self.v2 not in BEHAVIOURS:
            raise CallerError(f"unknown v2 behaviour {self.v2!r}; choose {', '.join(BEHAVIOURS)}")

    @property
    def scenario(self) -> str:
        parts = [SCENARIO]
        if self.size != DEFAULT_SIZE:
            parts.append(f"size={self.size}")
        if self.quirks != DEFAULT_PROFILE:
            parts.append(f"quirks={self.quirks}")
        if self.v2 != "healthy":
            parts.append(f"v2={self.v2}")
        return "/".join(parts)

    @classmethod
    def parse(cls, scenario: str) -> Params:
        name, *items = scenario.split("/")
        if name != SCENARIO:
            raise CallerError(f"unknown sweep scenario {name!r} in fault id; only {SCENARIO!r} exists")
        kw: dict[str, str] = {}
        for item in items:
            key, eq, value = item.partition("=")
            if not eq or key not in ("size", "quirks", "v2") or key in kw:
                raise CallerError(
                    f"bad scenario item {item!r} in fault id: expected size=N, quirks=PROFILE or v2=BEHAVIOUR"
                )
            kw[key] = value
        size = kw.get("size", str(DEFAULT_SIZE))
        if not size.isdigit():
            raise CallerError(f"bad size {size!r} in fault id")
        return cls(int(size), kw.get("quirks", DEFAULT_PROFILE), kw.get("v2", "healthy"))


@dataclass(frozen=True, slots=True)
class FaultId:
    params: Params
    device: str  # "int" or "ext"
    op: int  # global operation index in the reference run
    mode: CutMode
    seed: int = DEFAULT_SEED
    second: SecondCut | None = None  # a second cut during the recovery run (``first+second``)

    @property
    def first(self) -> FaultId:
        """The first cut alone."""
        return FaultId(self.params, self.device, self.op, self.mode, self.seed)

    @property
    def plan(self) -> FaultPlan:
        """The cut as a fault plan counted from the first operation of the reference run."""
        return FaultPlan(self.op, self.mode, self.seed)

    def __str__(self) -> str:
        second = f"+{self.second}" if self.second is not None else ""
        return f"{self.params.scenario}:{self.device}@{self.plan.fault_id}{second}"

    @classmethod
    def parse(cls, text: str) -> FaultId:
        # A quirk spec may hold "+name" too: the second cut is the part after the last "+" before "int@"/"ext@".
        first, plus, rest = text.strip().rpartition("+")
        if not plus or not rest.startswith(("int@", "ext@")):
            first, plus, rest = text.strip(), "", ""
        m = _ID.match(first)
        s = _SECOND.match(rest) if plus else None
        if not m or (plus and not s):
            raise CallerError(
                f"bad fault id {text!r}: expected {SCENARIO}[/size=N][/quirks=P][/v2=B]:<int|ext>@op<k>:"
                "<before|after|torn>[:s<seed>][+<int|ext>@op<j>:<mode>[:s<seed>]], e.g. update:int@op437:before"
            )
        mode = CutMode(m["mode"])
        seed = int(m["seed"]) if m["seed"] is not None else DEFAULT_SEED
        second = None
        if s is not None:
            second = SecondCut(s["dev"], int(s["op"]), CutMode(s["mode"]), int(s["seed"] or DEFAULT_SEED))
        return cls(Params.parse(m["scn"]), m["dev"], int(m["op"]), mode, seed, second)
