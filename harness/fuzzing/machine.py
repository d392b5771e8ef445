"""``BoardStateMachine``: a hypothesis state machine over a whole virtual board and a faulty image server.

The machine starts where an update starts (step 1, :meth:`BoardStateMachine.setup`): factory v1, built with
one of the OTA service configurations of :data:`harness.scenarios.base.CONFIGS`, has booted once (first-boot
backup done) and runs with the network up, and an :class:`~harness.image.server.ImageServer` on 127.0.0.1
advertises a healthy v2. Its rules power the board off and on, cut power at a flash operation, type
console lines and control messages (also while a check or a download runs), serve images and manifests
of every kind from :mod:`harness.fuzzing.strategies`, break the server, take the network down and let virtual
time pass. After every step it checks the safety properties of :data:`~harness.fuzzing.hazards.PROPERTIES`,
most of them on a copy of the flash powered up as if the power failed right now ("when power returns");
a broken property raises :class:`~harness.fuzzing.hazards.HazardFound` naming the hazard, with the
numbered steps and a replay token.

Write your own property test by subclassing it: add rules that call the machine's *actions* (the public
methods below, each recorded as a replayable step) and invariants over ``self.board``::

    from hypothesis import settings
    from hypothesis.stateful import initialize, invariant, rule
    from harness.fuzzing import strategies as ota
    from harness.fuzzing import BoardStateMachine

    class MyUpdates(BoardStateMachine):
        tolerate = frozenset({"reprogram-loop"})  # hazards this test does not report

        @initialize()
        def setup_rule(self):  # one configuration instead of all four
            self.setup("auto")

        @rule(image=ota.healthy_images(versions=(5,)))
        def publish_release(self, image):
            self.serve(image)
            self.wait(65.0)

        @invariant()
        def version_never_goes_back(self):
            assert self.running_version() in (None, 1, 2, 3, 5), self.board.text[-400:]

    MyUpdates.TestCase.settings = settings(max_examples=50, stateful_step_count=15, deadline=None)
    TestMyUpdates = MyUpdates.TestCase

A failing run of such a test shows the shrunk steps as a numbered list with a replay token (for a
hazard in the exception message, for any other failure as a note under it);
``MyUpdates.replay(token)`` runs them again without hypothesis. A built-in rule is removed by defining a
plain method of the same name in the subclass. :func:`harness.fuzzing.search.find_hazards` runs the machine
with a budget and a seed and collects every hazard it finds.

The machine does not use wall-clock faults (server stalls), and it never talks to a real board.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import re
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from bootloader_model.board.virtual_board import AppState, BoardConfig, VirtualBoard
from bootloader_model.bootloader.program import MODEL
from bootloader_model.bootloader.state import FACTORY_PATH
from bootloader_model.errors import CallerError, OtaloopError
from bootloader_model.formats import image_database
from bootloader_model.formats.app_image import APP_OFFSET, SLOT_START
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, HEADER_SIZE, is_blank
from bootloader_model.quirks import QuirkProfile
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import OTA_DIR
from bootloader_model.storage.nor_flash import NorFlash, Snapshot
from harness.fuzzing import steps as steps_mod
from harness.fuzzing import strategies as ota
from harness.fuzzing.hazards import HAZARDS, HazardFound, hazard_error
from harness.fuzzing.steps import Action, Step
from harness.fuzzing.strategies import CutPlan, ImageSpec, ManifestSpec, ServerFault
from harness.image.server import ImageServer
from harness.native.programs import application_from_spec, bootloader_from_spec
from harness.scenarios.base import CONFIGS
from harness.sweeps.verdicts import Judgement, Verdict, judge, running_version, settle

MANIFEST = "/ota.json"
#: Virtual seconds a check may run before property (g) calls it endless (a stalled manifest read fails after
#: 70 s; a download cannot run during a check).
CHECK_LIMIT_S = 150.0
#: Virtual seconds the cut rule runs the board with a cut armed (the periodic check comes 62 s after boot).
CUT_WINDOW_S = 70.0
CONTROL_MESSAGES = ("check", "start", "sysreset", "factory", "rollback")
#: Virtual seconds from the jump until the application has its IP address. Shorter than the board's
#: default 1.5 s: the service polls for it every 1 ms tick, which would be most of the machine's run time.
NETWORK_DELAY_S = 0.05
#: Wall seconds the board waits for the loopback image server before virtual time passes, so a step takes
#: the same virtual time however loaded the host is (hypothesis needs repeatable runs).
NETWORK_PATIENCE_S = 5.0
_RESULTS = re.compile(
    rb"SYS_OTA_UPDATE_AVAILABLE|SYS_OTA_UPDATE_NOTAVAILABLE|SYS_OTA_UPDATE_CHECK_FAILED|SYS_OTA_IMAGE_ERASE"
)
_OFFER = re.compile(rb"Server app version: (-?\d+)\r\n    current app version: (\d+)\r\n")

_server: ImageServer | None = None
_first_boot: dict[tuple[str, int, str, str, str, str], tuple[Snapshot, Snapshot]] = {}
_PROBES: OrderedDict[Hashable, Probe] = OrderedDict()
_PROBE_CACHE = 400


def shared_server() -> ImageServer:
    """The process's image server on 127.0.0.1 (started on first use; a daemon thread)."""
    global _server
    if _server is None:
        _server = ImageServer().start()
    return _server


class Violation(NamedTuple):
    """A broken property: the hazard it shows, the property's letter, what was seen, DB rows lost."""

    name: str
    prop: str
    seen: str
    lost: frozenset[tuple[int, str]] = frozenset()


@dataclass(frozen=True)
class Probe:
    """What the board does when power returns: a copy of the flash powered up twice (network down)."""

    judgement: Judgement
    running: int | None  # version of the healthy application running at the end
    slot: bytes  # internal flash from the slot start, for the byte-identity check
    rows: tuple[tuple[int, str], ...] | None  # (version, digest) of the DB rows; None if it does not parse
    db_problem: str
    backup: bool  # factory_reset.bin exists
    ota_dir: bool  # the ota/ directory can be listed
    boot_control_before: str  # "blank", "torn" or "valid" when power returned
    factory_chosen: bool
    db_deleted: bool
    transcript: str


def _db_rows(fs: ExternalFlash) -> tuple[tuple[tuple[int, str], ...] | None, str]:
    """The DB as (version, digest) rows, or None and why it does not parse (absent is an empty DB)."""
    try:
        if not fs.exists(image_database.DB_PATH):
            return (), ""
        status, table = image_database.load_db(fs)
    except OtaloopError as exc:
        return None, f"unreadable: {exc}"
    if status != image_database.LOAD_OK:
        return None, f"load status {status}"
    rows = []
    for r in range(table.height):
        version = table.field_value_32(image_database.DbField.VERSION, r)
        digest = table.field_string(image_database.DbField.DIGEST, r)
        if version is None or digest is None:
            return None, f"row {r} has an unreadable version or digest"
        rows.append((version, digest.lower()))
    return tuple(rows), ""


def _boot_control_state(board: VirtualBoard) -> str:
    raw = board.internal.read(BOOT_CTL_PHYS, HEADER_SIZE)
    if is_blank(raw[:16]):
        return "blank"
    return "valid" if raw[0] in (0xF0, 0xF8, 0xFC, 0xFE, 0xFF) and raw[1] != 0xFF else "torn"


def power_returns(
    board: VirtualBoard,
    profile: QuirkProfile,
    slot_bytes: int,
    key: Hashable = None,
    bootloader: str = MODEL,
    application: str = MODEL,
) -> Probe:
    """Copy the board's flash into a fresh board (RAM lost, as at a power cut), power it up and look.

    ``key``, if given, names the flash contents (equal keys: equal contents) and caches the result.
    """
    hit = _PROBES.get(key) if key is not None else None
    if hit is not None:
        _PROBES.move_to_end(key)
        return hit
    probe = VirtualBoard(
        BoardConfig(
            profile=profile,
            network="loopback",
            network_delay_s=NETWORK_DELAY_S,
            network_patience_s=NETWORK_PATIENCE_S,
            bootloader=bootloader_from_spec(bootloader, profile),
            application=application_from_spec(application),
        )
    )
    probe.internal.data[:] = board.internal.data
    probe.external.data[:] = board.external.data
    before = _boot_control_state(probe)
    runs = settle(probe)
    judgement = judge(probe, runs, 1, 2)
    boots = [b for run in runs for b in run]
    try:
        fs = ExternalFlash(probe.external)
        rows, problem = _db_rows(fs)
        backup = fs.exists(FACTORY_PATH)
        try:
            fs.listdir(OTA_DIR)
            ota_dir = True
        except OtaloopError:
            ota_dir = False
    except OtaloopError as exc:
        rows, problem, backup, ota_dir = None, f"volume unmountable: {exc}", False, False
    result = Probe(
        judgement=judgement,
        running=running_version(probe),
        slot=bytes(probe.internal.read(SLOT_START, slot_bytes)),
        rows=rows,
        db_problem=problem,
        backup=backup,
        ota_dir=ota_dir,
        boot_control_before=before,
        factory_chosen=any(b.chosen is not None and b.chosen.factory for b in boots),
        db_deleted=any(b.db_deleted for b in boots),
        transcript=probe.text,
    )
    if key is not None:
        _PROBES[key] = result
        if len(_PROBES) > _PROBE_CACHE:
            _PROBES.popitem(last=False)
    return result


class BoardStateMachine(RuleBasedStateMachine):
    """The whole virtual board and a fault-injecting image server, with Harmony users' safety properties."""

    #: Quirk profile of the board (``otaloop fuzz --quirks``); :func:`with_quirks` makes a subclass.
    quirks: ClassVar[str] = "harmony-3.9.1"
    #: What runs at every reset: ``model``, or ``native:CACHE_DIR`` for a bootloader's C code built by
    #: ``otaloop native build`` (``otaloop fuzz --bootloader``); :func:`with_bootloader` makes a subclass.
    bootloader: ClassVar[str] = MODEL
    #: What runs after every jump into a healthy image: ``model``, or ``native:CACHE_DIR`` for application C code
    #: built by ``otaloop native build --application`` (``otaloop fuzz --application``; the rules type ``otactl``
    #: commands, so the application needs the otactl group); :func:`with_application` makes a subclass.
    application: ClassVar[str] = MODEL
    #: Size of the factory image and of the v2 served at the start.
    image_size: ClassVar[int] = 8192
    #: Sizes the image rules draw from (small: every flash operation is emulated).
    image_sizes: ClassVar[tuple[int, ...]] = (8192, 12288)
    #: Hazard names this machine does not report (a subclass's choice; the default reports all).
    tolerate: ClassVar[frozenset[str]] = frozenset()
    #: Called with the number of machines made so far (progress of a search); None: silent.
    on_new_example: ClassVar[Callable[[int], None] | None] = None
    examples_made: ClassVar[int] = 0

    def __init__(self) -> None:
        super().__init__()
        cls = type(self)
        BoardStateMachine.examples_made += 1
        if BoardStateMachine.on_new_example is not None:
            BoardStateMachine.on_new_example(BoardStateMachine.examples_made)
        self.profile = QuirkProfile.named(cls.quirks)
        self.server = shared_server()
        self.server.clear_faults()
        self.manifest_url = self.server.url(MANIFEST)
        #: Digest -> pristine bytes of every image served: what an accepted digest stands for.
        self.images: dict[str, bytes] = {}
        self.factory = b""
        self.steps: list[Step] = []
        self._step = Step()
        self._replaying = False
        #: Versions whose DB row the user may lose (erase asked, factory reset, rollback).
        self.excused: set[int] = set()
        #: (version, digest) rows seen in the DB: images the service verified and recorded.
        self.recorded: set[tuple[int, str]] = set()
        #: Digests the service ever accepted (recorded in the DB), and the factory image's.
        self.accepted: set[str] = {ota.digest(self.factory)}
        self._db_seen_at: tuple[int, int] = (-1, -1)
        self._scanned = 0
        self._backup_gone = False
        self._cuts_seen = 0
        self._armed: dict[str, CutPlan] = {}
        self._step_started = 0.0
        self.config = "auto"
        self.board: VirtualBoard  # made by setup(), the first step of every run

    def setup(self, config: str = "auto") -> None:
        """The first step: factory v1 built with MHC options ``config`` (see ``CONFIGS``) has done its first
        boot and is powered on with the network up; the server offers a healthy v2 with a valid manifest."""
        if config not in CONFIGS:
            raise CallerError(f"unknown app configuration {config!r}; choose {', '.join(CONFIGS)}")
        cls = type(self)
        self.config = config
        self.factory = ImageSpec(1, size=cls.image_size, config=config).pristine(self.manifest_url)
        self.images[ota.digest(self.factory)] = self.factory
        self.accepted = {ota.digest(self.factory)}
        self.board = self._first_booted_board()
        # The flash contents follow from the starting snapshot and the operations since: a running digest
        # of every erase, program and cut names them without hashing 5 MiB after each step.
        self._contents = hashlib.sha1(repr(self._start_key()).encode())
        self.board.internal.observer = self.board.external.observer = self._observe
        self._serve(ImageSpec(2, size=cls.image_size, config=config), ManifestSpec())
        self.board.power_on()
        c = CONFIGS[config]
        options = (
            f"periodic check every {c.interval_s} s" if c.periodic else "no periodic check",
            "automatic update" if c.auto_update else "update only on `otactl start`",
            "reset after the download" if c.autoreset else "no reset after the download",
        )
        text = f"factory v1 built with MHC options `{config}` ({', '.join(options)}) runs; the server offers v2"
        self._record("setup", {"config": config}, text)

    # ----------------------------------------------------------------------------------- set-up
    def _start_key(self) -> tuple[str, int, str, str, str, str]:
        cls = type(self)
        return (
            ",".join(sorted(self.profile.enabled)),
            cls.image_size,
            self.manifest_url,
            self.config,
            cls.bootloader,
            cls.application,
        )

    def _observe(self, flash: NorFlash, kind: str, address: int, data: bytes) -> None:
        self._contents.update(b"%d %s %d %d:" % (flash is self.board.internal, kind.encode(), address, len(data)))
        self._contents.update(data)

    def contents_key(self) -> Hashable:
        """Equal keys mean equal flash contents (folds in power cuts, whose tears depend on mode and seed)."""
        cuts = [e for e in self.board.history if e.kind == "power-cut"]
        for event in cuts[self._cuts_seen :]:
            self._contents.update(f"cut {event.detail}".encode())
        self._cuts_seen = len(cuts)
        return self._contents.digest()

    def _first_booted_board(self) -> VirtualBoard:
        key = self._start_key()
        board = VirtualBoard(self._config())
        if key not in _first_boot:
            board.provision(self.factory)
            board.set_network(False)
            board.power_on()
            if not board.run_until(lambda: board.state is AppState.RUNNING, 100.0):
                raise CallerError(f"the factory image did not start:\n{board.text}")
            board.power_off()
            _first_boot[key] = (board.internal.snapshot(), board.external.snapshot())
            board = VirtualBoard(self._config())
        board.internal.restore(_first_boot[key][0])
        board.external.restore(_first_boot[key][1])
        return board

    def _config(self) -> BoardConfig:
        return BoardConfig(
            profile=self.profile,
            network="loopback",
            network_delay_s=NETWORK_DELAY_S,
            network_patience_s=NETWORK_PATIENCE_S,
            bootloader=bootloader_from_spec(type(self).bootloader, self.profile),
            application=application_from_spec(type(self).application),
        )

    @classmethod
    def with_quirks(cls, quirks: str) -> type[BoardStateMachine]:
        """This machine under another quirk profile (a subclass; ``quirks`` is checked here)."""
        QuirkProfile.named(quirks)
        if quirks == cls.quirks:
            return cls
        return type(cls.__name__, (cls,), {"quirks": quirks, "__module__": cls.__module__})

    @classmethod
    def with_bootloader(cls, bootloader: str) -> type[BoardStateMachine]:
        """This machine with another bootloader at reset (a subclass; a native cache is checked here)."""
        spec = bootloader.strip()
        bootloader_from_spec(spec)  # a CallerError names a bad spec or a missing build
        if spec == cls.bootloader:
            return cls
        return type(cls.__name__, (cls,), {"bootloader": spec, "__module__": cls.__module__})

    @classmethod
    def with_application(cls, application: str) -> type[BoardStateMachine]:
        """This machine with another application after the jump (a subclass; a native cache is checked here)."""
        spec = application.strip()
        application_from_spec(spec)  # a CallerError names a bad spec or a missing build
        if spec == cls.application:
            return cls
        return type(cls.__name__, (cls,), {"application": spec, "__module__": cls.__module__})

    # ---------------------------------------------------------------------------------- actions
    def _record(self, name: str, args: dict[str, Any], text: str) -> None:
        if name != "setup":
            # Say where an armed cut fired, and which cut is still waiting for its operation.
            for device, plan in list(self._armed.items()):
                flash = self.board.internal if device == "internal" else self.board.external
                if flash.plan is None:
                    del self._armed[device]
                    text += f" -> power is cut {plan}"
            if name == "cut_power" and self._armed.get(args["plan"].device) == args["plan"]:
                text += " (the cut has not come yet: it stays armed)"
        self._step.actions.append(Action(name, args, text))

    def power(self, action: str) -> None:
        """``on``, ``off``, ``cycle`` or ``reset`` (MCLR)."""
        call = {
            "on": self.board.power_on,
            "off": self.board.power_off,
            "cycle": self.board.power_cycle,
            "reset": self.board.reset,
        }.get(action)
        if call is None:
            raise CallerError(f"unknown power action {action!r}; choose on, off, cycle or reset")
        call()
        words = {"on": "power on", "off": "power off", "cycle": "power cycle", "reset": "press reset"}[action]
        self._record("power", {"action": action}, words)

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass."""
        self.board.run_for(seconds)
        self._record("wait", {"seconds": seconds}, f"wait {seconds:g} s")

    def type_line(self, line: bytes, settle_s: float = 1.0) -> None:
        """Type ``line`` and Enter on the console, then let ``settle_s`` virtual seconds pass."""
        self._excuse_if_asked(line)
        self.board.uart_rx(line + b"\r")
        self.board.run_for(settle_s)
        shown = line.decode("latin-1")
        text = f"type `{shown}`" if shown.isprintable() else f"type bytes {line!r}"
        self._record("type_line", {"line": line, "settle_s": settle_s}, text)

    def control(self, message: str) -> None:
        """``otactl <message>`` (a control message: check, start, sysreset, factory, rollback), 5 s."""
        if message not in CONTROL_MESSAGES:
            raise CallerError(f"unknown control message {message!r}; choose {', '.join(CONTROL_MESSAGES)}")
        self._excuse_if_asked(message.encode())
        self.board.uart_rx(b"\rotactl " + message.encode() + b"\r")
        self.board.run_for(5.0)
        self._record("control", {"message": message}, f"type `otactl {message}`, wait 5 s")

    def start_update(self, image: ImageSpec, good_digest: bool = True) -> None:
        """Serve ``image`` (manifest unchanged) and type ``otactl start <url> <version> <digest>``, 5 s."""
        image = dataclasses.replace(image, config=self.config)  # built with the board's MHC options
        data = image.build(self.manifest_url)
        url = self.server.put("/" + image.file_name, data)
        true = ota.digest(image.pristine(self.manifest_url))
        self.images[true] = image.pristine(self.manifest_url)
        sent = true if good_digest else ota.digest(true.encode())
        self.board.uart_rx(f"\rotactl start {url} {image.version} {sent}\r".encode())
        self.board.run_for(5.0)
        which = "its digest" if good_digest else "a wrong digest"
        self._record(
            "start_update",
            {"image": image, "good_digest": good_digest},
            f"type `otactl start` for {image} with {which}, wait 5 s",
        )

    def serve(self, image: ImageSpec, manifest: ManifestSpec | None = None) -> None:
        """Put ``image`` on the server and advertise it with ``manifest`` (default: a valid one)."""
        manifest = manifest or ManifestSpec()
        image = dataclasses.replace(image, config=self.config)  # built with the board's MHC options
        self._serve(image, manifest)
        self._record("serve", {"image": image, "manifest": manifest}, f"serve {image} with {manifest}")

    def _serve(self, image: ImageSpec, manifest: ManifestSpec) -> None:
        pristine = image.pristine(self.manifest_url)
        image_url = self.server.put("/" + image.file_name, image.build(self.manifest_url))
        true = ota.digest(pristine)
        self.images[true] = pristine
        self.server.put(MANIFEST, manifest.build(image.version, image_url, true), "application/json")
        self._image_path = "/" + image.file_name
        if manifest.kind == "erase":
            self.excused.add(image.version)

    def server_fault(self, fault: ServerFault) -> None:
        """Make the server misbehave on the manifest or on the image last served."""
        path = MANIFEST if fault.path == ota.MANIFEST_PATH else self._image_path
        self.server.fault(path, fault.fault())
        self._record("server_fault", {"fault": fault}, f"from now on {fault}")

    def heal_server(self) -> None:
        """Remove every server fault."""
        self.server.clear_faults()
        self._record("heal_server", {}, "the server works again")

    def set_network(self, up: bool) -> None:
        """Bring the board's network up or down (Harmony's service never notices)."""
        self.board.set_network(up)
        self._record("set_network", {"up": up}, "network up" if up else "network down")

    def cut_power(self, plan: CutPlan, within_s: float = CUT_WINDOW_S) -> None:
        """Arm ``plan`` (replacing a cut armed on the same flash) and run until it fires or ``within_s``
        virtual seconds pass; a cut that has not come stays armed for the steps that follow."""
        before = self._cut_count()
        self.board.arm_cut(plan.device, plan.plan())
        self._armed[plan.device] = plan
        if self.board.powered:
            self.board.run_until(lambda: self._cut_count() > before, within_s)
        self._record("cut_power", {"plan": plan, "within_s": within_s}, f"arm a cut {plan}, run up to {within_s:g} s")

    def _cut_count(self) -> int:
        return sum(1 for e in self.board.history if e.kind == "power-cut")

    def during(self, moment: str, message: str) -> None:
        """Run until a check (``moment="check"``) or a download (``"download"``) starts, up to 70 s, then
        send ``otactl <message>`` and wait 5 s: a control message overlapping the service's own work."""
        marker = {"check": b"SYS_OTA_UPDATE_CHECK_START", "download": b"SYS_OTA_DOWNLOAD_START"}.get(moment)
        if marker is None or message not in CONTROL_MESSAGES:
            raise CallerError(f"unknown moment {moment!r} or message {message!r}")
        start = len(self.board.transcript)
        came = self.board.run_until(lambda: marker in self.board.transcript[start:], CUT_WINDOW_S)
        self._excuse_if_asked(message.encode())
        self.board.uart_rx(b"\rotactl " + message.encode() + b"\r")
        self.board.run_for(5.0)
        when = f"as a {moment} starts" if came else f"after 70 s (no {moment} started)"
        self._record("during", {"moment": moment, "message": message}, f"{when}, type `otactl {message}`, wait 5 s")

    def _excuse_if_asked(self, typed: bytes) -> None:
        # A factory reset or rollback the user asks for may lose recorded images (property c).
        if b"factory" in typed or b"rollback" in typed:
            self.excused.update(v for v, _ in self.recorded)

    # ------------------------------------------------------------------------------------ rules
    # Half the boards run MHC's defaults (updates happen on their own), the other half the other options.
    @initialize(config=st.sampled_from(["auto", "auto", "auto", "notify", "manual", "manual-noreset"]))
    def setup_rule(self, config: str) -> None:
        self.setup(config)

    @rule(action=st.sampled_from(["cycle", "off", "on", "reset"]))
    def power_rule(self, action: str) -> None:
        self.power(action)

    @rule(plan=ota.fault_plans(max_op=350))
    def cut_power_rule(self, plan: CutPlan) -> None:
        self.cut_power(plan)

    @rule(message=st.sampled_from(CONTROL_MESSAGES))
    def control_rule(self, message: str) -> None:
        self.control(message)

    @rule(line=ota.console_lines())
    def type_rule(self, line: bytes) -> None:
        self.type_line(line)

    @rule(image=ota.images(sizes=(8192, 12288)), good_digest=st.booleans())
    def start_update_rule(self, image: ImageSpec, good_digest: bool) -> None:
        self.start_update(image, good_digest)

    @rule(image=ota.images(sizes=(8192, 12288), damages=("none",)))
    def serve_release_rule(self, image: ImageSpec) -> None:
        # A release as its maker meant it: healthy, or one that crashes or hangs at boot.
        self.serve(image)

    @rule(image=ota.images(sizes=(8192, 12288)), manifest=ota.manifests())
    def serve_rule(self, image: ImageSpec, manifest: ManifestSpec) -> None:
        self.serve(image, manifest)

    @rule(fault=st.none() | ota.server_faults(max_after=12288))
    def server_fault_rule(self, fault: ServerFault | None) -> None:
        if fault is None:
            self.heal_server()
        else:
            self.server_fault(fault)

    @rule(up=st.booleans())
    def network_rule(self, up: bool) -> None:
        self.set_network(up)

    @rule(seconds=st.sampled_from([0.5, 3.0, 30.0, 65.0, 200.0]))
    def wait_rule(self, seconds: float) -> None:
        self.wait(seconds)

    @rule(moment=st.sampled_from(["check", "download"]), message=st.sampled_from(CONTROL_MESSAGES))
    def during_rule(self, moment: str, message: str) -> None:
        self.during(moment, message)

    # ------------------------------------------------------------------------------ invariants
    def check_invariants(self, *args: Any, **kwargs: Any) -> None:
        """Close the step the last rule made, then check every invariant (hypothesis calls this)."""
        self._close_step()
        try:
            super().check_invariants(*args, **kwargs)
        except HazardFound:
            raise
        except Exception as exc:
            if hasattr(exc, "add_note"):  # Python 3.11+: shown under the traceback
                exc.add_note(self.step_report())
            raise

    def _close_step(self) -> None:
        now = self.board.clock.now() if hasattr(self, "board") else 0.0
        if self._step.actions:
            self._step.seconds = now - self._step_started
            self.steps.append(self._step)
            self._step = Step()
        self._step_started = now

    def step_report(self) -> str:
        """The steps so far as a numbered list, and their replay token."""
        return f"steps:\n{steps_mod.numbered(self.steps)}replay: {self.replay_token()}"

    def replay_token(self) -> str:
        try:
            cls = type(self)
            return steps_mod.encode(
                cls.quirks, cls.image_size, self.steps, cls.tolerate, cls.bootloader, cls.application
            )
        except CallerError as exc:
            return f"(none: {exc})"

    @invariant()
    def safety(self) -> None:
        """Properties (a)..(g) of :data:`~harness.fuzzing.hazards.PROPERTIES`, after every step."""
        found = self.find_hazard()
        if found is not None:
            name, prop, seen = found
            raise hazard_error(name)(
                HAZARDS[name], prop, seen, steps_mod.numbered(self.steps), self.replay_token(), self.transcript()
            )

    def transcript(self) -> str:
        """The board's console, then what a power-up of the current flash printed."""
        probe = self.when_power_returns()
        return f"{self.board.text}\n--- power returns (network down) ---\n{probe.transcript}"

    def when_power_returns(self) -> Probe:
        """What the board does if power fails now and returns (cached by flash contents)."""
        length = self.slot_bytes()
        cls = type(self)
        key = (self.contents_key(), length)
        return power_returns(self.board, self.profile, length, key, cls.bootloader, cls.application)

    def slot_bytes(self) -> int:
        """How much of internal flash the byte-identity check compares (covers every image served)."""
        return max(len(image) for image in self.images.values())

    def running_version(self) -> int | None:
        """Version of the healthy application running on the board now, or None."""
        return running_version(self.board)

    def find_hazard(self) -> tuple[str, str, str] | None:
        """(hazard, property letter, what was seen) for the first broken property, or None."""
        found = self._hazards()
        if not found:
            return None
        primary = found[0]  # what broke first; the others are usually its consequences
        if primary.name not in type(self).tolerate:
            return primary.name, primary.prop, primary.seen
        # A tolerated hazard is forgiven with its consequences: they are not reported again under other names.
        for v in found:
            if v.prop == "c":
                self.recorded -= v.lost
            elif v.prop == "d":
                self._backup_gone = True
        return None

    def _hazards(self) -> list[Violation]:
        out: list[Violation] = []
        board = self.board
        # On the running board: the DB rows it holds (new rows are images the service verified and recorded).
        ops = (board.internal.op_count, board.external.op_count)
        if ops != self._db_seen_at:
            self._db_seen_at = ops
            try:
                rows, problem = _db_rows(ExternalFlash(board.external))
            except OtaloopError as exc:
                rows, problem = None, f"volume unmountable: {exc}"
            if rows is None:
                if board.powered:
                    out.append(Violation("db-damaged", "e", f"the board's DB: {problem}"))
            else:
                now = set(rows)
                if now - self.recorded:  # a new row may take an old one's place (DB full): not a loss
                    self.recorded &= now
                self.recorded |= now
                self.accepted |= {d for _, d in now}
        self._accepted_check(board_slot(board, self.slot_bytes()), "b", out, where="the running board")
        out.extend(self._console_hazards())
        # When power returns.
        probe = self.when_power_returns()
        j = probe.judgement
        if probe.running is None:
            verdict = j.verdict
            seen = j.line()
            if verdict is Verdict.STUCK:
                ota_gone = not (probe.ota_dir and probe.backup) and not self._backup_gone
                # The loop's own words: the model names them in its stuck reason; a native build only
                # prints them, so the end of the power-up's console counts too.
                looping_on_open = "file open error" in j.detail or "file open error" in probe.transcript[-200:]
                erased = looping_on_open and ota_gone
                out.append(Violation("ota-directory-erased" if erased else "bootloader-stuck", "a", seen))
            elif verdict is Verdict.HUNG:
                out.append(Violation("hang-at-boot", "a", seen))
            elif verdict is Verdict.SILENT:
                out.append(Violation("no-application", "a", seen))
            else:
                out.append(Violation("reprogram-loop", "a", seen))
        if probe.rows is not None:
            kept = set(probe.rows)
            lost = sorted(r for r in self.recorded if r not in kept and r[0] not in self.excused)
            if lost:
                what = f"{j.line()}; recorded {', '.join(f'v{v}' for v, _ in lost)} lost"
                svc = board.service
                if probe.factory_chosen and probe.db_deleted:
                    cut = probe.boot_control_before != "valid"
                    name = "power-cut-factory-fallback" if cut else "factory-fallback"
                elif svc is not None and svc.erase_request and svc.params.delete_img_version in {v for v, _ in lost}:
                    name = "stuck-erase-flag"  # the service erased an image no EraseVer manifest named
                else:
                    name = "image-lost"
                out.append(Violation(name, "c", what, frozenset(lost)))
        else:
            out.append(Violation("db-damaged", "e", f"after power returns: {probe.db_problem}"))
        if not probe.backup and not self._backup_gone:
            out.append(Violation("factory-backup-lost", "d", f"no {FACTORY_PATH} after power returns; {j.line()}"))
        if probe.running is not None:
            self._accepted_check(probe.slot, "b", out, where="after power returns")
        return out

    def _accepted_check(self, slot: bytes | None, prop: str, out: list[Violation], where: str) -> None:
        if slot is None:
            return
        for d in self.accepted:
            image = self.images.get(d)
            if image is not None and slot[APP_OFFSET : len(image)] == image[APP_OFFSET:]:
                return
        out.append(Violation("unaccepted-image-runs", prop, f"{where}: the application matches no accepted image"))

    def _console_hazards(self) -> list[Violation]:
        out: list[Violation] = []
        board = self.board
        t = board.transcript
        base = board.printed - len(t)  # the transcript is a window: offsets below count from the first print
        pos = t.find(b"SYS_OTA_UPDATE_AVAILABLE", max(0, self._scanned - base))
        while pos >= 0:
            begin = max(t.rfind(b"SYS_OTA_UPDATE_CHECK_START", 0, pos), t.rfind(b"APP: version", 0, pos))
            offers = _OFFER.findall(bytes(t[max(begin, 0) : pos]))
            if not offers or int(offers[-1][0]) <= int(offers[-1][1]):
                at = board.printed_at(base + pos) or 0.0
                out.append(
                    Violation(
                        "stale-check-result",
                        "f",
                        f"SYS_OTA_UPDATE_AVAILABLE at {at:.1f} s after a check that read no manifest offering "
                        "a newer version",
                    )
                )
            pos = t.find(b"SYS_OTA_UPDATE_AVAILABLE", pos + 1)
        self._scanned = board.printed
        svc = board.service
        last_app = t.rfind(b"APP: version")
        last_start = t.rfind(b"SYS_OTA_UPDATE_CHECK_START")
        if board.state is AppState.RUNNING and svc is not None and last_start > last_app >= 0:
            started = board.printed_at(base + last_start)
            if started is not None and not _RESULTS.search(t, last_start):
                waited = board.clock.now() - started
                if waited > CHECK_LIMIT_S:
                    if svc.erase_request:
                        name = "stuck-erase-flag"
                    elif svc.download_success or svc.fw_in_progress:
                        name = "check-after-download-hangs"
                    else:
                        name = "check-never-completes"
                    seen = f"a check started at {started:.1f} s has no result {waited:.0f} s later"
                    out.append(Violation(name, "g", seen))
        return out

    def teardown(self) -> None:
        if hasattr(self, "board"):
            self.board.power_off()  # closes the service's socket, if any

    # ----------------------------------------------------------------------------------- replay
    @classmethod
    def replay(cls, token: str) -> Replay:
        """Run the steps of ``token`` on a fresh machine, checking every invariant after each step."""
        run = steps_mod.decode(token)
        machine_cls = cls.with_quirks(run.quirks).with_bootloader(run.bootloader).with_application(run.application)
        if run.image_size != machine_cls.image_size or run.tolerate != machine_cls.tolerate:
            extra = {"image_size": run.image_size, "tolerate": run.tolerate, "__module__": cls.__module__}
            machine_cls = type(cls.__name__, (machine_cls,), extra)
        machine = machine_cls()
        machine._replaying = True
        error: BaseException | None = None
        try:
            for actions in run.steps:
                for name, args in actions:
                    if name not in _ACTIONS:
                        raise CallerError(f"replay token names an unknown action {name!r}")
                    getattr(machine, name)(**args)
                machine._close_step()
                machine._invariants_now()
        except (HazardFound, AssertionError) as exc:
            error = exc
        finally:
            machine.teardown()
        return Replay(machine, error)

    def _invariants_now(self) -> None:
        for _, member in inspect.getmembers(type(self)):
            inv = getattr(member, "hypothesis_stateful_invariant", None)
            if inv is not None and all(p(self) for p in inv.preconditions):
                inv.function(self)


def board_slot(board: VirtualBoard, length: int) -> bytes | None:
    """The running board's internal flash from the slot start, or None when no healthy app runs."""
    if board.state is not AppState.RUNNING:
        return None
    return bytes(board.internal.read(SLOT_START, length))


_ACTIONS = frozenset(
    {
        "setup",
        "power",
        "wait",
        "type_line",
        "control",
        "start_update",
        "serve",
        "server_fault",
        "heal_server",
        "set_network",
        "cut_power",
        "during",
    }
)


@dataclass
class Replay:
    """A replayed run: the machine after its last step and what broke (None: nothing)."""

    machine: BoardStateMachine
    error: BaseException | None

    @property
    def hazard(self) -> HazardFound | None:
        return self.error if isinstance(self.error, HazardFound) else None
