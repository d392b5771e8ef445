"""The user's own application C code, built for the host, as the virtual board's application.

``otaloop native build --application`` compiles an application (otaloop's example application, or a
user's build of the same shape) with otaloop's application shims into a helper executable in a cache
directory. A :class:`NativeApplication` is the board's
:class:`~bootloader_model.application.program.ApplicationProgram`: at each jump into a healthy image it
starts one helper process, which lives for the whole run -- until the next reset or power cut, when
:meth:`NativeRun.stop` kills it (RAM lost, the C code stops where it is).

The helper runs the application's main loop, one pass per 1 ms tick of board time (the OTA task's
``vTaskDelay(1)`` on the part). A pass that did nothing the host must see (no output, flash, file or socket
data) is followed by the next one inside the helper, within the budget of the last GO record; a pass that did
something, or the end of the budget, is handed back (``MSG_PASS``, with the ticks run), and
:meth:`NativeRun.run` moves the board's clock by those ticks before answering with the next GO record: board
time since the jump, the next budget (at most 1 s, never past a board alarm such as a switch release or a
timed cut, nor past the end of the board's step), SWITCH1, the network's state and the console bytes typed
meanwhile (sent when the next pass is served, so an input that changes between two steps of the board reaches
the next pass). So the application's clock is the board's, tick for tick, and idle ticks cost no round trip.
A pass that waits on a silent socket polls it for up to 5 ms of wall time during the first 250 ms of silence,
so a live server on 127.0.0.1 is not outrun.

Console bytes, flash erases and programs (on the board's :class:`~bootloader_model.storage.nor_flash.NorFlash`,
counted: a power cut planned at operation k raises inside that call and propagates out of :meth:`NativeRun.run`),
flash reads, and SYS_FS calls (:class:`~harness.native.remote_fs.RemoteFiles`) arrive as messages. Sockets are
the host's own; the helper applies the board's network policy before any DNS lookup or connect
(``c/otaloop_net.c``) and reports refused hosts, which land in the board's ``blocked_hosts``. A software reset
ends the run with ``reset_requested``; a helper that dies (a crash in the C code) counts as an application
that hung, as the part's exception handler loops.

The app descriptor of the running image gives the helper its version, SYS_OTA_URL and MHC options
(docs/native-application.md).

A build made with ``--sanitize`` runs with the sanitizers' options (:mod:`harness.native.sanitizers`), and a
``--sanitize memcheck`` build's helper runs under valgrind (:mod:`harness.native.memcheck`): a
report ends the run and raises :class:`~harness.native.sanitizers.NativeMemoryError` out of
:meth:`NativeRun.run`, or (``memory_errors="stuck"``, the fuzzer's boards) ends it hung and is kept in
:attr:`NativeApplication.memory_errors_found`. A build made with ``--coverage``
(:mod:`harness.native.coverage`) is not killed at a reset or power cut: the host closes its pipes, and the
helper, waiting on an answer, writes its gcov counts and exits without running another line.

What it does not do: build anything (:mod:`harness.native.build`), map flash into the helper, or charge
flash busy time inside a step (the board charges it after each step).
"""

from __future__ import annotations

import contextlib
import os
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from bootloader_model.application.program import AppContext
from bootloader_model.errors import BoardError, CallerError
from bootloader_model.service.ota_service import OtaService
from bootloader_model.storage.nor_flash import NorFlash
from harness.native import memcheck, protocol, sanitizers
from harness.native.build_record import NativeBuild
from harness.native.remote_fs import RemoteFiles

#: Board seconds one main-loop pass costs: one tick of the part's 1 kHz FreeRTOS tick (the OTA task's
#: ``vTaskDelay(1)``).
TICK_S = protocol.CODES["TICK_US"] / 1e6
#: The most board time the helper may run idle passes on its own before it hands a pass back.
MAX_BUDGET_S = 1.0
GO = struct.Struct("<QQIII")
assert GO.size == protocol.CODES["GO_SIZE"]


class NativeApplication:
    """An application built by ``otaloop native build --application``, one helper process per run.

    ``memory_errors`` says what a sanitizer report during a run (a build made with ``--sanitize``) becomes:
    ``"raise"`` (default) raises :class:`~harness.native.sanitizers.NativeMemoryError` out of the run;
    ``"stuck"`` ends the run hung, as the part's exception handler would loop, and appends the report to
    :attr:`memory_errors_found` (the fuzzer names the hazard from it).
    """

    def __init__(self, cache: Path, *, memory_errors: str = "raise") -> None:
        self.memory_errors = sanitizers.memory_error_mode(memory_errors)
        #: The sanitizer reports of this program's runs so far (``memory_errors="stuck"`` only).
        self.memory_errors_found: list[sanitizers.MemoryErrorReport] = []
        self.build = NativeBuild.load(Path(cache))
        if self.build.role != "application":
            raise CallerError(
                f"{cache} holds a native {self.build.role} build, not an application: build one with "
                "otaloop native build --application"
            )
        self.label = f"native:{cache}"
        #: The helper's environment: a sanitizer build's runtime options (None: this process's).
        self.env = helper_env(self.build)

    def start(self, context: AppContext) -> NativeRun:
        return NativeRun(self.build, context, self)


def helper_env(build: NativeBuild) -> dict[str, str] | None:
    """The environment of ``build``'s helper: a sanitizer build's runtime options, else None (this process's).

    The application helper has no SIGSEGV handler of its own, so AddressSanitizer reports a segmentation fault
    with its stack: a wild pointer is a finding too.
    """
    if not build.sanitize:
        return None
    return {**os.environ, **sanitizers.runtime_env(build.sanitize, report_segv=True)}


class NativeRun:
    """One run of a native application: its helper process, from the jump to the next reset or power cut."""

    def __init__(self, build: NativeBuild, context: AppContext, program: NativeApplication | None = None) -> None:
        self.context = context
        self.build = build
        self.program = program
        desc = context.descriptor
        self._started = context.clock.now()
        self._rx = bytearray()
        self._end = context.clock.now()  # the end of the current step: idle passes run up to it
        self._told = 0  # ticks since the last GO already added to the board's clock (MSG_TIME)
        self._reset = False
        self._hung = False
        self._ended = False
        self.exit_note = ""
        self.files = RemoteFiles(context.external)
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        argv = [
            str(build.executable),
            str(to_r),
            str(from_w),
            "loopback" if context.loopback_only else "open",
            str(desc.version),
            desc.manifest_url,
            str(int(desc.periodic_check)),
            str(desc.interval_s),
            str(int(desc.auto_update)),
            str(int(desc.autoreset)),
            str(desc.num_images),
            str(desc.cmd_max_length),
            str(context.external.geometry.size),
        ]
        #: valgrind's command line for a memcheck build, which runs the helper under it
        self.launcher = memcheck.command(build.directory) if "memcheck" in build.sanitize else []
        try:
            self.proc = subprocess.Popen(
                [*self.launcher, *argv],
                pass_fds=(to_r, from_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=program.env if program is not None else helper_env(build),
            )
        except OSError as exc:
            for fd in (to_r, to_w, from_r, from_w):
                os.close(fd)
            raise CallerError(f"cannot start {build.executable}: {exc.strerror}") from None
        os.close(to_r)
        os.close(from_w)
        self.reply: BinaryIO = os.fdopen(to_w, "wb", buffering=0)
        self.stream: BinaryIO = os.fdopen(from_r, "rb", buffering=1 << 16)
        # The GO record is sent when the next pass is served, so what changed in between (a switch press,
        # typed bytes) reaches the application on its next pass.
        self._go_due = True

    # ----------------------------------------------------------------------------------- AppRun
    @property
    def service(self) -> OtaService | None:
        return None

    @property
    def reset_requested(self) -> bool:
        return self._reset

    @property
    def hung(self) -> bool:
        return self._hung

    def uart_rx(self, data: bytes) -> None:
        self._rx += data

    def run(self, budget_s: float, *, speed: float, stop: Callable[[], bool], wall_limit_s: float | None) -> None:
        """Serve passes until ``stop()``, a reset, the end of the helper, ``budget_s`` board seconds, or about
        ``wall_limit_s`` wall seconds; at least one pass per call. ``speed`` is not used: an idle application
        lets board time run on by itself."""
        clock = self.context.clock
        end = self._end = clock.now() + budget_s
        wall_end = None if wall_limit_s is None else time.monotonic() + wall_limit_s
        while not self._ended:
            ticks = self._serve()
            if ticks is None:
                return
            clock.advance(ticks * TICK_S)  # the rest of the passes the helper ran, one tick each
            self._go_due = True
            if stop() or clock.now() >= end - 1e-12 or (wall_end is not None and time.monotonic() >= wall_end):
                return

    def stop(self) -> None:
        """Reset or power off: the helper is killed where it is; open files and sockets go with it.

        A coverage build's helper is not killed but told by its closed pipe: it waits on an answer whenever
        the board stops it, so it writes its counts and exits without running another line (killed after
        10 s all the same)."""
        if self.proc.poll() is None and not self.build.coverage:
            self.proc.kill()
        for stream in (self.stream, self.reply):
            with contextlib.suppress(OSError):
                stream.close()
        if self.build.coverage:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            _, err = self.proc.communicate(timeout=10)
            if err and not self.exit_note:
                self.exit_note = err.decode("utf-8", "replace").strip()[-500:]
        self.files.forget()
        if self.launcher:  # killed at a reset or power cut: its (empty) log goes
            memcheck.take_log(self.build.directory, self.proc.pid)
        self._ended = True

    # --------------------------------------------------------------------------------- the wire
    def _go(self) -> None:
        ctx = self.context
        rx = bytes(self._rx)
        self._rx.clear()
        clock = ctx.clock
        now = clock.now()
        now_us = max(0, round((now - self._started) * 1e6))
        limit = min(MAX_BUDGET_S, self._end - now)
        nxt = clock.next_deadline()
        if nxt is not None:
            limit = min(limit, nxt - now)  # a board alarm (a switch release, a timed cut) is met on time
        budget_us = max(0, int(limit * 1e6))
        self._told = 0
        try:
            self.reply.write(GO.pack(now_us, budget_us, int(ctx.switch()), int(ctx.network_up()), len(rx)) + rx)
        except (BrokenPipeError, ValueError):
            self._died()

    def _died(self) -> None:
        """The helper ended without a reset: a crash in the C code (the part's exception handler loops), or a
        sanitizer's report (raised, or kept by the program, as ``memory_errors`` says)."""
        if not self._ended:
            self._ended = True
            self._hung = True
            code = self.proc.wait()
            err = (self.proc.stderr.read() if self.proc.stderr else b"").decode("utf-8", "replace")
            tail = err.strip()[-300:]
            self.exit_note = f"exit status {code}" + (f": {tail}" if tail else "")
            report = self._report(err, code) if self.build.sanitize else None
            if report is not None:
                self.exit_note = f"{report.headline()}\n{report.stack()}"
                if self.program is None or self.program.memory_errors == "raise":
                    raise sanitizers.NativeMemoryError(report, str(self.build.directory), "application")
                self.program.memory_errors_found.append(report)

    def _report(self, stderr: str, code: int) -> sanitizers.MemoryErrorReport | None:
        """The sanitizer's report of a helper that died: memcheck's log first (its exit status is the
        sanitizers' own), then what the compiled sanitizers wrote to stderr."""
        if self.launcher:
            roots = [Path(self.build.source)] if self.build.source else []
            found = memcheck.parse_log(memcheck.take_log(self.build.directory, self.proc.pid), roots)
            if found is not None:
                return found
        return sanitizers.report_of(stderr, code, self.build.source)

    def _flash(self, device: int) -> NorFlash:
        if device == protocol.INTERNAL:
            return self.context.internal
        if device == protocol.EXTERNAL:
            return self.context.external
        raise BoardError(f"native application named an unknown flash device {device}")

    def _serve(self) -> int | None:
        """Messages until a pass is handed back (the ticks run since the last GO and not yet added to the clock)
        or the run ends (None)."""
        ctx = self.context
        if self._go_due:
            self._go_due = False
            self._go()
            if self._ended:
                return None
        while True:
            try:
                kind, a, b, n = protocol.HEADER.unpack(protocol.read_exact(self.stream, protocol.HEADER.size))
                payload = protocol.read_exact(self.stream, n) if n else b""
            except (EOFError, ValueError):
                self._died()
                return None
            if kind == protocol.MSG_CONSOLE:
                ctx.console(payload)
            elif kind == protocol.MSG_PASS:
                return max(0, int(b) - self._told)
            elif kind == protocol.MSG_TIME:  # what follows happened this many ticks after the last GO
                if a > self._told:
                    ctx.clock.advance((a - self._told) * TICK_S)
                    self._told = int(a)
            elif kind == protocol.MSG_ERASE:
                flash = self._flash(a & 0xFF)
                unit = a >> 8
                flash.erase(b, protocol.erase_kind(unit, flash.geometry.smallest_erase_kind()))
                self.reply.write(protocol.OK)
            elif kind == protocol.MSG_PROGRAM:
                self._flash(a).program(b, payload)
                self.reply.write(protocol.OK)
            elif kind == protocol.MSG_READ:
                (length,) = struct.unpack_from("<I", payload)
                self.reply.write(bytes(self._flash(a).read(b, length)))
            elif kind == protocol.MSG_FS:
                code, data = self.files.call(a, b, payload)
                self.reply.write(protocol.FILE_REPLY.pack(code, len(data)) + data)
            elif kind == protocol.MSG_BLOCKED:
                ctx.blocked_hosts.append(payload.decode("utf-8", "replace"))
            elif kind == protocol.MSG_END:
                self._ended = True
                self._reset = a == protocol.END_RESET
                self._hung = not self._reset
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=10)
                return None
            else:
                raise BoardError(f"native application sent an unknown message type {kind}")
