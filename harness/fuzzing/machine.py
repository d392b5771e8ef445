"""``BoardStateMachine``: a hypothesis state machine over a whole virtual board and a faulty image server.

The machine starts where an update starts (step 1, :meth:`BoardStateMachine.setup`): factory v1, built with
one of the OTA service configurations of :data:`harness.scenarios.base.CONFIGS`, has booted once (first-boot
backup done) and runs with the network up, and an :class:`~harness.image.server.ImageServer` on 127.0.0.1
advertises a healthy v2. Its rules power the board off and on, cut power at a flash operation, type
console lines and control messages (also while a check or a download runs), serve images and manifests
of every kind from :mod:`harness.fuzzing.strategies`, break the server, take the network down and let virtual
time pass. After every step it checks the safety properties of :data:`~harness.fuzzing.hazards.PROPERTIES`
(the checks: :mod:`harness.fuzzing.safety`), most of them on a copy of the flash powered up as if the power
failed right now (:mod:`harness.fuzzing.probe`, "when power returns"); a broken property raises
:class:`~harness.fuzzing.hazards.HazardFound` naming the hazard, with the numbered steps and a replay token.

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
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from bootloader_model.board.virtual_board import AppState, VirtualBoard
from bootloader_model.bootloader.program import MODEL
from bootloader_model.errors import CallerError
from bootloader_model.quirks import HARMONY_NAME, QuirkProfile
from bootloader_model.storage.nor_flash import NorFlash, Snapshot
from harness.fuzzing import steps as steps_mod
from harness.fuzzing import strategies as ota
from harness.fuzzing.hazards import HAZARDS, HazardFound, hazard_error
from harness.fuzzing.probe import board_config
from harness.fuzzing.safety import SafetyProperties
from harness.fuzzing.steps import Action, Step
from harness.fuzzing.strategies import CutPlan, ImageSpec, ManifestSpec, ServerFault
from harness.image.server import ImageServer
from harness.native.programs import application_from_spec, bootloader_from_spec
from harness.scenarios.base import CONFIGS
from harness.sweeps.verdicts import running_version

MANIFEST = "/ota.json"
#: Virtual seconds the cut rule runs the board with a cut armed (the periodic check comes 62 s after boot).
CUT_WINDOW_S = 70.0
#: Virtual seconds a control message or an ``otactl start`` is given before the step ends.
CONTROL_WAIT_S = 5.0
#: Sizes the image rules draw from (small: every flash operation is emulated).
IMAGE_SIZES = (8192, 12288)
CONTROL_MESSAGES = ("check", "start", "sysreset", "factory", "rollback")
#: The actions a replay token may name: the machine's public methods that record a step.
ACTIONS = frozenset(
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

_server: ImageServer | None = None
_first_boot: dict[tuple[str, int, str, str, str, str], tuple[Snapshot, Snapshot]] = {}


def shared_server() -> ImageServer:
    """The process's image server on 127.0.0.1 (started on first use; a daemon thread)."""
    global _server
    if _server is None:
        _server = ImageServer().start()
    return _server


class BoardStateMachine(SafetyProperties, RuleBasedStateMachine):
    """The whole virtual board and a fault-injecting image server, with Harmony users' safety properties."""

    #: Quirk profile of the board (``otaloop fuzz --quirks``); :func:`with_quirks` makes a subclass.
    quirks: ClassVar[str] = HARMONY_NAME
    #: What runs at every reset: ``model``, or ``native:CACHE_DIR`` for a bootloader's C code built by
    #: ``otaloop native build`` (``otaloop fuzz --bootloader``); :func:`with_bootloader` makes a subclass.
    bootloader: ClassVar[str] = MODEL
    #: What runs after every jump into a healthy image: ``model``, or ``native:CACHE_DIR`` for application C code
    #: built by ``otaloop native build --application`` (``otaloop fuzz --application``; the rules type ``otactl``
    #: commands, so the application needs the otactl group); :func:`with_application` makes a subclass.
    application: ClassVar[str] = MODEL
    #: Size of the factory image and of the v2 served at the start.
    image_size: ClassVar[int] = 8192
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
        self.factory = b""
        self.accepted = {ota.digest(self.factory)}
        self.steps: list[Step] = []
        self._step = Step()
        self._cuts_seen = 0
        self._armed: dict[str, CutPlan] = {}
        self._step_started = 0.0
        self._ops_started: dict[str, int] = {}
        self.config = "auto"
        self.board: VirtualBoard  # made by setup(), the first step of every run

    # ----------------------------------------------------------------------------------- set-up
    def setup(self, config: str = "auto") -> None:
        """The first step: factory v1 has done its first boot and runs; the server offers a healthy v2.

        The board is provisioned with factory v1 (:attr:`image_size` bytes), booted once with the network
        down (the first-boot backup is made; the flash after it is cached per configuration), then powered
        on with the network up. The server advertises v2 of the same size and options with a valid manifest.

        Args:
            config: the MHC options v1 and v2 are built with, a name of ``CONFIGS``
                (``auto``, ``notify``, ``manual``, ``manual-noreset``).

        Raises:
            CallerError: an unknown ``config``, a bad ``bootloader`` spec, or a factory image that did not
                start within 100 virtual seconds.
        """
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
        board = VirtualBoard(board_config(self.profile, type(self).bootloader, type(self).application))
        if key not in _first_boot:
            board.provision(self.factory)
            board.set_network(False)
            board.power_on()
            if not board.run_until(lambda: board.state is AppState.RUNNING, 100.0):
                raise CallerError(f"the factory image did not start:\n{board.text}")
            board.power_off()
            _first_boot[key] = (board.internal.snapshot(), board.external.snapshot())
            board = VirtualBoard(board_config(self.profile, type(self).bootloader, type(self).application))
        board.internal.restore(_first_boot[key][0])
        board.external.restore(_first_boot[key][1])
        return board

    @classmethod
    def with_quirks(cls, quirks: str) -> type[BoardStateMachine]:
        """This machine under another quirk profile (a subclass; ``quirks`` is checked here)."""
        QuirkProfile.named(quirks)
        return cls._with("quirks", quirks)

    @classmethod
    def with_bootloader(cls, bootloader: str) -> type[BoardStateMachine]:
        """This machine with another bootloader at reset (a subclass; a native cache is checked here)."""
        bootloader_from_spec(bootloader.strip())  # a CallerError names a bad spec or a missing build
        return cls._with("bootloader", bootloader.strip())

    @classmethod
    def with_application(cls, application: str) -> type[BoardStateMachine]:
        """This machine with another application after the jump (a subclass; a native cache is checked here)."""
        application_from_spec(application.strip())  # a CallerError names a bad spec or a missing build
        return cls._with("application", application.strip())

    @classmethod
    def _with(cls, attribute: str, value: str) -> type[BoardStateMachine]:
        """This machine, or a subclass of the same name whose class ``attribute`` is ``value``."""
        if getattr(cls, attribute) == value:
            return cls
        return type(cls.__name__, (cls,), {attribute: value, "__module__": cls.__module__})

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
        """Switch the board's power or press its reset button; no virtual time passes.

        ``off`` loses RAM and closes the service's socket; ``on`` and ``cycle`` boot it (bootloader, then
        the application); ``reset`` is MCLR: RAM lost, the bootloader runs again, power stays on.

        Args:
            action: ``on``, ``off``, ``cycle`` or ``reset``.

        Raises:
            CallerError: an unknown ``action``.
        """
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
        """Let virtual time pass: the board runs (periodic checks, downloads, armed cuts fire).

        Args:
            seconds: virtual seconds to run.
        """
        self.board.run_for(seconds)
        self._record("wait", {"seconds": seconds}, f"wait {seconds:g} s")

    def type_line(self, line: bytes, settle_s: float = 1.0) -> None:
        """Type ``line`` and Enter on the board's console, then let the board run.

        A line that asks for a factory reset or a rollback excuses the loss of the images recorded so far
        (property (c)).

        Args:
            line: the bytes typed, without the Enter (any bytes: text, control characters, over-long lines).
            settle_s: virtual seconds the board runs after the Enter.
        """
        self._excuse_if_asked(line)
        self.board.uart_rx(line + b"\r")
        self.board.run_for(settle_s)
        shown = line.decode("latin-1")
        text = f"type `{shown}`" if shown.isprintable() else f"type bytes {line!r}"
        self._record("type_line", {"line": line, "settle_s": settle_s}, text)

    def control(self, message: str) -> None:
        """Type ``otactl <message>`` on the console (a control message to the service), then run 5 virtual s.

        ``factory`` and ``rollback`` excuse the loss of the images recorded so far (property (c)).

        Args:
            message: one of ``CONTROL_MESSAGES``: ``check``, ``start``, ``sysreset``, ``factory``, ``rollback``.

        Raises:
            CallerError: an unknown ``message``.
        """
        if message not in CONTROL_MESSAGES:
            raise CallerError(f"unknown control message {message!r}; choose {', '.join(CONTROL_MESSAGES)}")
        self._excuse_if_asked(message.encode())
        self.board.uart_rx(b"\rotactl " + message.encode() + b"\r")
        self.board.run_for(CONTROL_WAIT_S)
        self._record("control", {"message": message}, f"type `otactl {message}`, wait 5 s")

    def start_update(self, image: ImageSpec, good_digest: bool = True) -> None:
        """Put ``image`` on the server and type ``otactl start <url> <version> <digest>``, then run 5 virtual s.

        The manifest on the server is left as it is; the image is built with the board's MHC options.

        Args:
            image: the image to serve (its damage, if any, is in the served bytes, not in its digest).
            good_digest: type the digest of the pristine image (True) or a wrong one (False).
        """
        image = dataclasses.replace(image, config=self.config)  # built with the board's MHC options
        data = image.build(self.manifest_url)
        url = self.server.put("/" + image.file_name, data)
        true = ota.digest(image.pristine(self.manifest_url))
        self.images[true] = image.pristine(self.manifest_url)
        sent = true if good_digest else ota.digest(true.encode())
        self.board.uart_rx(f"\rotactl start {url} {image.version} {sent}\r".encode())
        self.board.run_for(CONTROL_WAIT_S)
        which = "its digest" if good_digest else "a wrong digest"
        self._record(
            "start_update",
            {"image": image, "good_digest": good_digest},
            f"type `otactl start` for {image} with {which}, wait 5 s",
        )

    def serve(self, image: ImageSpec, manifest: ManifestSpec | None = None) -> None:
        """Put ``image`` on the server and advertise it in the manifest; no virtual time passes.

        The image is built with the board's MHC options; the board sees it at its next check. An
        ``erase`` manifest excuses the loss of the image's version (property (c)).

        Args:
            image: the image to serve.
            manifest: how the manifest describes it; None: a valid manifest.
        """
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
        """Make the server misbehave from now on, on the manifest or on the image served last.

        No virtual time passes; the board meets the fault at its next request.

        Args:
            fault: what goes wrong, on which request (a fault already set on that path is replaced).
        """
        path = MANIFEST if fault.path == ota.MANIFEST_PATH else self._image_path
        self.server.fault(path, fault.fault())
        self._record("server_fault", {"fault": fault}, f"from now on {fault}")

    def heal_server(self) -> None:
        """Remove every server fault; no virtual time passes."""
        self.server.clear_faults()
        self._record("heal_server", {}, "the server works again")

    def set_network(self, up: bool) -> None:
        """Bring the board's network up or down (Harmony's service never notices); no virtual time passes.

        Args:
            up: True for up, False for down.

        Raises:
            CallerError: ``up`` is not a bool.
        """
        self.board.set_network(up)
        self._record("set_network", {"up": up}, "network up" if up else "network down")

    def cut_power(self, plan: CutPlan, within_s: float = CUT_WINDOW_S) -> None:
        """Arm a power cut at a flash operation and, if the board is on, run until it fires.

        The cut replaces one armed on the same flash. A cut that has not come within ``within_s`` stays
        armed for the steps that follow; power stays off after it fires.

        Args:
            plan: which flash, the how-many-th erase or program from now, and before / after / half way
                through it.
            within_s: virtual seconds the board runs at most.
        """
        before = self._cut_count()
        self.board.arm_cut(plan.device, plan.plan())
        self._armed[plan.device] = plan
        if self.board.powered:
            self.board.run_until(lambda: self._cut_count() > before, within_s)
        self._record("cut_power", {"plan": plan, "within_s": within_s}, f"arm a cut {plan}, run up to {within_s:g} s")

    def _cut_count(self) -> int:
        return sum(1 for e in self.board.history if e.kind == "power-cut")

    def during(self, moment: str, message: str) -> None:
        """Run until a check or a download starts, then type ``otactl <message>`` and run 5 virtual s.

        A control message overlapping the service's own work. If the moment does not come within
        ``CUT_WINDOW_S`` (70 virtual s) the message is typed then.

        Args:
            moment: ``check`` (``SYS_OTA_UPDATE_CHECK_START``) or ``download`` (``SYS_OTA_DOWNLOAD_START``).
            message: one of ``CONTROL_MESSAGES``.

        Raises:
            CallerError: an unknown ``moment`` or ``message``.
        """
        marker = {"check": b"SYS_OTA_UPDATE_CHECK_START", "download": b"SYS_OTA_DOWNLOAD_START"}.get(moment)
        if marker is None or message not in CONTROL_MESSAGES:
            raise CallerError(f"unknown moment {moment!r} or message {message!r}")
        start = len(self.board.transcript)
        came = self.board.run_until(lambda: marker in self.board.transcript[start:], CUT_WINDOW_S)
        self._excuse_if_asked(message.encode())
        self.board.uart_rx(b"\rotactl " + message.encode() + b"\r")
        self.board.run_for(CONTROL_WAIT_S)
        when = f"as a {moment} starts" if came else f"after 70 s (no {moment} started)"
        self._record("during", {"moment": moment, "message": message}, f"{when}, type `otactl {message}`, wait 5 s")

    # ------------------------------------------------------------------------------------ rules
    # Half the boards run MHC's defaults (updates happen on their own), the other half the other options.
    @initialize(config=st.sampled_from(["auto", "auto", "auto", "notify", "manual", "manual-noreset"]))
    def setup_rule(self, config: str) -> None:
        """Step 1 of every example: :meth:`setup` with MHC options ``config`` (half of them ``auto``)."""
        self.setup(config)

    @rule(action=st.sampled_from(["cycle", "off", "on", "reset"]))
    def power_rule(self, action: str) -> None:
        """:meth:`power`: power ``on``, ``off``, ``cycle`` or press ``reset``."""
        self.power(action)

    @rule(plan=ota.fault_plans(max_op=350))
    def cut_power_rule(self, plan: CutPlan) -> None:
        """:meth:`cut_power`: a cut at one of the next 350 operations of either flash, run up to 70 virtual s."""
        self.cut_power(plan)

    @rule(message=st.sampled_from(CONTROL_MESSAGES))
    def control_rule(self, message: str) -> None:
        """:meth:`control`: ``otactl`` with one of ``CONTROL_MESSAGES``, then 5 virtual s."""
        self.control(message)

    @rule(line=ota.console_lines())
    def type_rule(self, line: bytes) -> None:
        """:meth:`type_line`: a valid command, text, raw bytes or an over-long line, then 1 virtual s."""
        self.type_line(line)

    @rule(image=ota.images(sizes=IMAGE_SIZES), good_digest=st.booleans())
    def start_update_rule(self, image: ImageSpec, good_digest: bool) -> None:
        """:meth:`start_update`: any image of :data:`IMAGE_SIZES`, with its digest or a wrong one."""
        self.start_update(image, good_digest)

    @rule(image=ota.images(sizes=IMAGE_SIZES, damages=("none",)))
    def serve_release_rule(self, image: ImageSpec) -> None:
        """:meth:`serve` a release as its maker meant it (healthy, or one that crashes or hangs at boot)."""
        self.serve(image)

    @rule(image=ota.images(sizes=IMAGE_SIZES), manifest=ota.manifests())
    def serve_rule(self, image: ImageSpec, manifest: ManifestSpec) -> None:
        """:meth:`serve` any image (corrupted, truncated) with any manifest (wrong digest, missing field, ...)."""
        self.serve(image, manifest)

    @rule(fault=st.none() | ota.server_faults(max_after=max(IMAGE_SIZES)))
    def server_fault_rule(self, fault: ServerFault | None) -> None:
        """:meth:`server_fault` on the image or the manifest request, or (``None``) :meth:`heal_server`."""
        if fault is None:
            self.heal_server()
        else:
            self.server_fault(fault)

    @rule(up=st.booleans())
    def network_rule(self, up: bool) -> None:
        """:meth:`set_network`: the board's network up or down."""
        self.set_network(up)

    @rule(seconds=st.sampled_from([0.5, 3.0, 30.0, 65.0, 200.0]))
    def wait_rule(self, seconds: float) -> None:
        """:meth:`wait` 0.5, 3, 30, 65 or 200 virtual seconds."""
        self.wait(seconds)

    @rule(moment=st.sampled_from(["check", "download"]), message=st.sampled_from(CONTROL_MESSAGES))
    def during_rule(self, moment: str, message: str) -> None:
        """:meth:`during`: a control message as a check or a download starts."""
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
        ops = self._flash_ops()
        if self._step.actions:
            self._step.seconds = now - self._step_started
            self._step.flash_ops = {k: n - self._ops_started.get(k, 0) for k, n in ops.items()}
            self.steps.append(self._step)
            self._step = Step()
        self._step_started = now
        self._ops_started = ops

    def _flash_ops(self) -> dict[str, int]:
        if not hasattr(self, "board"):
            return {}
        return {"internal": self.board.internal.op_count, "external": self.board.external.op_count}

    def step_report(self) -> str:
        """The steps so far as a numbered list, and their replay token."""
        return f"steps:\n{steps_mod.numbered(self.steps)}replay: {self.replay_token()}"

    def replay_token(self) -> str:
        """The steps so far as a replay token, or ``(none: why)`` when a step cannot be written into one."""
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

    def running_version(self) -> int | None:
        """Version of the healthy application running on the board now, or None."""
        return running_version(self.board)

    def teardown(self) -> None:
        """Power the board off at the end of an example (closes the service's socket, if any)."""
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
        error: BaseException | None = None
        try:
            for actions in run.steps:
                for name, args in actions:
                    if name not in ACTIONS:
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


@dataclass
class Replay:
    """A replayed run: the machine after its last step and what broke (None: nothing)."""

    machine: BoardStateMachine
    error: BaseException | None

    @property
    def hazard(self) -> HazardFound | None:
        """The hazard the replay found, or None (nothing broke, or an assertion of a subclass did)."""
        return self.error if isinstance(self.error, HazardFound) else None
