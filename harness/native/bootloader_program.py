"""The user's own bootloader C code, built for the host, as the virtual board's bootloader.

``otaloop native build`` compiles a Harmony OTA bootloader (or otaloop's small example bootloader) with
otaloop's shim layer into a helper executable in a cache directory, next to ``build.json``. A
:class:`NativeProgram` runs one boot as one helper process, forked from a *fork server*: the helper is
started once per executable and flash sizes (and per Python process), does its set-up, and then forks
one child per boot that runs the firmware from pristine RAM, so a boot costs a ``fork`` rather than a
process start, and RAM is lost between boots exactly as before. :func:`close_servers` ends them (it
also runs at exit):

* both flash arrays are copied into shared memory (one pair per server, kept across boots) the helper
  maps (internal flash at the PIC32's 0x9000_0000 and 0xB000_0000, so ``*(uint32_t *)0xB0020000`` reads
  boot control);
* the helper maps the flash without access and reports the first touch of each 4 KiB block; each such
  report reaches the flash's ``read_observer`` (as a :meth:`~bootloader_model.storage.nor_flash.NorFlash.read`
  of that block would), in order with the flash operations, so a sweep's verdict cache
  (:mod:`harness.sweeps.memo`) learns what a native boot read, as it does for the Python model;
* every erase and program the C code makes arrives here as one message and is carried out on the
  board's :class:`~bootloader_model.storage.nor_flash.NorFlash` -- one counted operation of the same
  :class:`~bootloader_model.storage.nor_flash.FaultPlan` machinery as the Python model's. The operations
  are *posted*: the helper goes on without an answer, having applied the operation to its own copy of the
  blocks concerned (erase: all 0xFF; program: old AND new -- the bytes the board's flash now holds), which
  its views of those blocks show from then on, so the C code reads its own writes without waiting and
  nothing is copied back into the shared memory (the next boot copies both arrays afresh). The helper
  writes its messages in large pieces, and this side parses them out of large reads. A planned power cut
  kills the helper when its operation comes up: whatever the helper did after that call is discarded
  unseen (it reached nothing but this pipe), so the C code stops where it is and its RAM is gone. The
  server announces each child it forks ahead, with its pipes, before it is asked, so a boot finds its
  child waiting; a boot that reported its end does not wait for the child's exit (its wait status is
  passed over when it comes);
* console bytes arrive on the same pipe, in order with the flash operations;
* the helper reports the jump (a call into flash faults, as flash is not executable on the host), the
  software reset, or a loop for ever (a repeated RAM state with no flash operation in between, a main-loop
  pass that never returns, a data fault, the pass budget), with the reason.

The example build's SYS_FS calls are answered here (:class:`~harness.native.remote_fs.RemoteFiles`), by the FAT volume
(:class:`~bootloader_model.storage.external_flash.ExternalFlash`), so its flash operations are counted
too. The answer to a SEEK carries the READ that usually follows, answered ahead (:data:`ANSWER_AHEAD`),
and the helper runs on the CPU of the thread that started the boot, so the conversation of file calls
wakes no other CPU. A Harmony build compiles SYS_FS, FatFs and DRV_MEMORY from the user's tree and only
the SST26 driver is shimmed.

The C code does not report its decisions, so :class:`~bootloader_model.bootloader.result.BootResult`
fields are filled from what was observed: ``programmed`` (one entry per erase of the boot control page,
with the highest address programmed after it), ``chosen`` (the boot control header after programming:
type 03 is the factory image), ``factory_backup`` (the run ended in a software reset), ``db_deleted``
(``image_database.csv`` existed before the run and not after). ``steps``, ``checked`` and
``verified`` stay empty.

A build made with ``--sanitize`` runs with the sanitizers' options (:mod:`harness.native.sanitizers`):
a report ends the boot as :class:`~harness.native.sanitizers.NativeMemoryError`, or as a stuck boot for
the fuzzer. A ``--sanitize memcheck`` build's fork server runs under valgrind (:mod:`harness.native.memcheck`:
its command line, each boot's log file read back as the report), answers flash operations one by one as a
coverage build does, and gets :data:`~harness.native.memcheck.SLOWDOWN` times the CPU time per pass. In a
build made with ``--coverage`` (:mod:`harness.native.coverage`) flash operations are not posted but answered
one by one, and a power cut answers the interrupted call with "cut" instead of
killing blind, so the helper writes its gcov counts first; the arcs each run reached are logged for a
guided search.

What it does not do: build anything (``harness.native.build`` does), run on anything but Linux, or
time the C code (flash busy time comes from the flash models, as for the Python model).
"""

from __future__ import annotations

import collections
import contextlib
import mmap
import os
import signal
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from bootloader_model.bootloader.result import BootResult, Outcome, Programming, Selection
from bootloader_model.bootloader.state import FACTORY_PATH
from bootloader_model.errors import BoardError, CallerError
from bootloader_model.formats.boot_control import BOOT_CTL_PHYS, HEADER_SIZE, BootControl, ImgType
from bootloader_model.formats.image_database import DB_PATH
from bootloader_model.storage.external_flash import ExternalFlash
from bootloader_model.storage.file_api import FsError
from bootloader_model.storage.nor_flash import NorFlash
from harness.native import coverage, memcheck, protocol, sanitizers
from harness.native.build_record import NativeBuild
from harness.native.remote_fs import RemoteFiles
from harness.sweeps.executor import at_exit

#: Whether a SEEK's answer carries the READ after it, answered ahead (see ``otaloop_protocol.h``); False:
#: every file call waits for its own answer (the tests compare the two).
ANSWER_AHEAD = True
#: Main-loop passes one boot may take before it counts as stuck (the Python model's bound).
MAX_PASSES = 200_000
#: CPU seconds one main-loop pass may take before it counts as a loop inside one call.
PASS_CPU_S = 2


class _SharedFlash:
    """A memfd the helper maps, holding a copy of one flash array."""

    def __init__(self, size: int, name: str) -> None:
        self.fd = os.memfd_create(name, 0)  # inheritable only through pass_fds
        os.ftruncate(self.fd, size)
        self.map = mmap.mmap(self.fd, size)
        self.size = size

    def close(self) -> None:
        self.map.close()
        os.close(self.fd)


class _ServerGone(Exception):
    """The fork server went away (killed, or it failed to start)."""


class _Server:
    """One fork server (``helper --serve``): its socket, its process and the shared flash it maps."""

    def __init__(
        self,
        executable: Path,
        int_size: int,
        ext_size: int,
        max_passes: int,
        cpu_s: int,
        env: dict[str, str] | None = None,
        launcher: Sequence[str] = (),
    ) -> None:
        self.lock = threading.Lock()  # one boot at a time
        self.owner = os.getpid()
        self.internal = _SharedFlash(int_size, "otaloop-internal")
        self.external = _SharedFlash(ext_size, "otaloop-external")
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        argv = [
            *launcher,  # valgrind's command line for a memcheck build
            str(executable),
            "--serve",
            str(theirs.fileno()),
            "-",
            str(self.internal.fd),
            str(self.external.fd),
            str(ext_size),
            str(max_passes),
            str(cpu_s),
        ]
        try:
            self.proc = subprocess.Popen(
                argv,
                pass_fds=(theirs.fileno(), self.internal.fd, self.external.fd),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,  # a sanitizer build's runtime options, inherited by every boot's child
            )
        except OSError as exc:
            mine.close()
            self._close_shared()
            raise CallerError(f"cannot start {executable}: {exc.strerror}") from None
        finally:
            theirs.close()
        self.sock = mine
        self.ready = collections.deque()

    # The server announces each child it forks ahead at once, unasked (READY, pid, with the child's pipe
    # ends), and reports each child's wait status (STATUS) once it has ended, in the order announced;
    # FAILED (-errno) stands for a child it could not fork.
    READY, STATUS, FAILED = 1, 2, 3
    RECORD = struct.Struct("<ii")

    #: Announced children not used yet: (pid, their pipe ends).
    ready: collections.deque[tuple[int, list[int]]]
    #: Statuses to pass over: those of children whose boots reported their end (see :meth:`defer`).
    skip = 0

    def _record(self) -> tuple[int, int, list[int]]:
        """The next record on the socket: (kind, value, descriptors it carried)."""
        fds: list[int] = []
        try:
            msg, fds, _, _ = socket.recv_fds(self.sock, self.RECORD.size, 3)
            while msg and len(msg) < self.RECORD.size:
                more = self.sock.recv(self.RECORD.size - len(msg))
                if not more:
                    break
                msg += more
        except BaseException:
            for fd in fds:
                os.close(fd)
            self.close()  # a record left half read would be taken for the next one: start afresh next time
            raise
        if len(msg) < self.RECORD.size:
            for fd in fds:
                os.close(fd)
            self.close()
            raise _ServerGone
        kind, value = self.RECORD.unpack(msg)
        return kind, value, fds

    def _next_record(self) -> tuple[int, int, list[int]]:
        try:
            return self._record()
        except OSError:
            raise _ServerGone from None

    def start(self) -> tuple[int, int, int, int]:
        """Take the child forked ahead for the next boot: its pid and this side's ends of its pipes (to the
        child, from the child, its stderr). It runs once it reads one byte from the first."""
        if self.proc.poll() is not None:  # the server has gone (killed): no child of it is used any more
            self.close()
            raise _ServerGone
        while not self.ready:
            kind, value, fds = self._next_record()
            if kind == self.READY and len(fds) == 3:
                self.ready.append((value, fds))
            elif kind == self.STATUS:
                self.skip = max(0, self.skip - 1)  # a boot that reported its end did not wait for this
            else:
                for fd in fds:
                    os.close(fd)
                reason = os.strerror(-value) if kind == self.FAILED and value < 0 else f"record {kind} {value}"
                raise BoardError(f"the native helper could not fork a boot: {reason}")
        pid, fds = self.ready.popleft()
        return pid, fds[0], fds[1], fds[2]

    def reaped(self) -> int:
        """The wait status of the child :meth:`start` handed out, once it has ended."""
        while True:
            kind, value, fds = self._next_record()
            if kind == self.READY and len(fds) == 3:
                self.ready.append((value, fds))
            elif kind == self.STATUS:
                if not self.skip:
                    return value
                self.skip -= 1
            else:
                for fd in fds:
                    os.close(fd)

    def defer(self, err: int) -> None:
        """The child :meth:`start` handed out has reported its end (it exits at once): its status is
        passed over when it comes, and ``err`` (its stderr) is closed unread, so this boot does not wait."""
        os.close(err)
        self.skip += 1

    def failure(self) -> str:
        """Why the server ended (its exit status and what it printed), once it has."""
        self.close()
        tail = self.stderr.decode("utf-8", "replace").strip()
        return f"exit status {self.proc.returncode}" + (f": {tail}" if tail else "")

    stderr = b""

    def close(self) -> None:
        """End the server (closing its socket ends it) and free its shared memory."""
        if self.sock.fileno() < 0:
            return
        while self.ready:  # announced children not used: their go pipe closes, so they end
            for fd in self.ready.popleft()[1]:
                os.close(fd)
        self.sock.close()
        try:
            _, self.stderr = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.stderr = self.proc.communicate()
        self._close_shared()

    def _close_shared(self) -> None:
        self.internal.close()
        self.external.close()


_SERVERS_LOCK = threading.Lock()
_SERVERS: dict[tuple[object, ...], _Server] = {}


def _server(program: NativeProgram, int_size: int, ext_size: int) -> _Server:
    """The running fork server for ``program``'s executable and these flash sizes (started on first use)."""
    exe = program.build.executable
    try:
        st = exe.stat()
    except OSError as exc:
        raise CallerError(f"cannot start {exe}: {exc.strerror}") from None
    key = (str(exe), st.st_ino, st.st_mtime_ns, st.st_size, int_size, ext_size, program.max_passes, program.pass_cpu_s)
    with _SERVERS_LOCK:
        found = _SERVERS.get(key)
        if found is not None and found.owner != os.getpid():  # inherited by a fork of this process: not ours
            _SERVERS.clear()
            found = None
        if found is None or found.sock.fileno() < 0:
            found = _SERVERS[key] = _Server(
                exe, int_size, ext_size, program.max_passes, program.pass_cpu_s, program.server_env, program.launcher
            )
        return found


def close_servers() -> None:
    """End every fork server this process started and free their shared memory (also run at exit).

    Native boots after this start new servers.
    """
    with _SERVERS_LOCK:
        servers = list(_SERVERS.values()) if all(s.owner == os.getpid() for s in _SERVERS.values()) else []
        _SERVERS.clear()
    for server in servers:
        server.close()


at_exit(close_servers)


def _drain(fd: int) -> bytes:
    """Everything readable from ``fd`` until end of file; the fd is closed."""
    chunks = []
    try:
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


class NativeProgram:
    """A bootloader built by ``otaloop native build``, run as one helper child process per boot.

    ``memory_errors`` says what a sanitizer report during a boot (a build made with ``--sanitize``)
    becomes: ``"raise"`` (default) raises :class:`~harness.native.sanitizers.NativeMemoryError` with the
    report; ``"stuck"`` ends the boot as stuck, the report's headline as the stuck reason and the whole
    report in ``notes`` (the fuzzer's boards: the finding becomes a hazard with its replay token).
    """

    def __init__(
        self,
        cache: Path,
        *,
        max_passes: int = MAX_PASSES,
        pass_cpu_s: int = PASS_CPU_S,
        memory_errors: str = "raise",
    ) -> None:
        sanitizers.memory_error_mode(memory_errors)
        self.build = NativeBuild.load(Path(cache))
        if self.build.role != "bootloader":
            raise CallerError(
                f"{cache} holds a native {self.build.role} build, not a bootloader: use it with --application"
            )
        self.label = f"native:{cache}"
        self.max_passes, self.pass_cpu_s = max_passes, pass_cpu_s
        self.memory_errors = memory_errors
        #: The fork server's environment: a sanitizer build's runtime options (None: this process's).
        self.server_env = {**os.environ, **sanitizers.runtime_env(self.build.sanitize)} if self.build.sanitize else None
        #: What the fork server runs under: valgrind for a memcheck build, whose passes get more CPU time.
        self.launcher = memcheck.command(self.build.directory) if "memcheck" in self.build.sanitize else []
        if self.launcher:
            self.pass_cpu_s = pass_cpu_s * memcheck.SLOWDOWN

    @property
    def build_stamp(self) -> tuple[str, str]:
        return self.build.build_stamp

    # ----------------------------------------------------------------------------------------- boot
    def boot(self, internal: NorFlash, external: NorFlash, console: Callable[[bytes], None]) -> BootResult:
        res = BootResult()
        busy0 = internal.busy_s
        ext_ops = external.op_count
        server = _server(self, internal.geometry.size, external.geometry.size)
        with server.lock:
            try:
                status, err, db_before = self._run(server, res, internal, external, console)
            except _ServerGone:
                raise BoardError(f"the native helper {self.build.executable} ended: {server.failure()}") from None
        if res.outcome is None and self.build.sanitize:
            self._memory_error(res, err.decode("utf-8", "replace"), os.waitstatus_to_exitcode(status))
        if res.outcome is None:
            tail = err.decode("utf-8", "replace").strip()
            raise BoardError(
                f"native bootloader {self.build.executable} ended without a result "
                f"(exit status {os.waitstatus_to_exitcode(status)})" + (f": {tail}" if tail else "")
            )
        res.flash_busy_s = internal.busy_s - busy0
        res.boot_control = BootControl.decode(internal.read(BOOT_CTL_PHYS, HEADER_SIZE))
        if res.programmed:
            hdr = res.boot_control
            factory = hdr.type == ImgType.FACTORY_RESET
            res.programmed = [
                Programming(FACTORY_PATH if factory else "", p.copy_len, p.programmed_to, hdr) for p in res.programmed
            ]
            res.selections.append(
                Selection(factory, FACTORY_PATH if factory else "", version=hdr.version, header_status=hdr.status)
            )
        res.factory_backup = res.outcome is Outcome.RESET
        # A boot that neither erased nor programmed the external flash left the database as it found it.
        res.db_deleted = bool(db_before) and external.op_count != ext_ops and not _db_exists(external)
        res.notes.append(f"native bootloader {self.build.directory} ({self.build.kind}, {self.build.variant})")
        return res

    def _memory_error(self, res: BootResult, stderr: str, status: int) -> None:
        """A sanitizer ended the helper: raise the finding, or record it as the boot's stuck reason."""
        roots = [Path(self.build.source)] if self.build.source else []
        # memcheck's log first: its exit status is the sanitizers' own, which alone reads as an unparsed report
        report = (memcheck.parse_log(stderr, roots) if self.launcher else None) or sanitizers.report_of(
            stderr, status, self.build.source
        )
        if report is None:
            return  # not a sanitizer's exit: the caller reports the helper's end as it is
        if self.memory_errors == "raise":
            raise sanitizers.NativeMemoryError(report, str(self.build.directory))
        res.outcome, res.stuck_reason = Outcome.STUCK, report.headline()
        res.notes.append(f"{report.headline()}\n{report.stack()}\n{report.text}")

    def _run(
        self,
        server: _Server,
        res: BootResult,
        internal: NorFlash,
        external: NorFlash,
        console: Callable[[bytes], None],
    ) -> tuple[int, bytes, bool | None]:
        """One boot on ``server``: the child's wait status, what it wrote to stderr, and whether the image
        database existed before the boot's first external flash operation or file call (None: it made none)."""
        flashes = {protocol.INTERNAL: internal, protocol.EXTERNAL: external}
        pid, to_helper, from_helper, err_r = server.start()
        reply = os.fdopen(to_helper, "wb", buffering=0)
        stream = os.fdopen(from_helper, "rb", buffering=1 << 16)
        session = _Session(self, res, flashes, console, reply, external)
        messages = protocol.MessageReader(stream)
        finished = False
        status, err = 0, b""
        if self.build.remote_fs:
            _beside_caller(pid)
        try:
            server.internal.map[:] = internal.data
            if not self.build.remote_fs:  # an example build reaches the volume through file calls, not the mapping
                server.external.map[:] = external.data
            with contextlib.suppress(BrokenPipeError):  # a child that died at once is reported below
                reply.write(b"\x01")  # go: the flash is in place
            session.serve(messages)
            finished = True
        finally:
            if not finished:
                if self.build.coverage:
                    _cut_with_counts(pid, reply, messages, self.build.directory)
                with contextlib.suppress(ProcessLookupError):  # a power cut (or a failure here): the C code
                    os.kill(pid, signal.SIGKILL)  # stops where it is, RAM lost
            stream.close()
            reply.close()
            session.close_files()
            if finished and res.outcome is not None and not self.launcher:
                server.defer(err_r)  # it said how it ended: its status and stderr are not needed
            else:
                try:
                    status = server.reaped()
                finally:
                    err = _drain(err_r)
                    if self.launcher:  # memcheck writes its report to the child's own log file
                        err += memcheck.take_log(self.build.directory, pid).encode()
        return status, err, session.db_before


def _beside_caller(pid: int) -> None:
    """Run helper ``pid`` on the CPU this thread runs on now.

    An example build's boot is a conversation: each file call waits for its answer, and this process
    waits for the next call. On different CPUs each turn wakes a sleeping CPU (measured about 30 us a turn
    on the 2-core development machine); on one CPU it is a switch between two processes. Where the CPU
    cannot be read or the helper is gone, the helper runs where the scheduler puts it.
    """
    try:
        with open("/proc/thread-self/stat", "rb") as stat:
            cpu = int(stat.read().rsplit(b")", 1)[1].split()[36])  # field 39, "processor"
        os.sched_setaffinity(pid, {cpu})
    except (OSError, ValueError, IndexError, AttributeError):
        pass


def _cut_with_counts(pid: int, reply: BinaryIO, messages: protocol.MessageReader, build: Path) -> None:
    """A coverage build at a power cut: answer the waiting call with CUT, so the helper reports its arcs,
    writes its counts and exits without running another line of the firmware (killed after 10 s).

    A coverage build's flash operations are answered one by one, so the helper is waiting on this call.
    """
    timer = threading.Timer(10, _kill, (pid,))
    timer.start()
    try:
        reply.write(protocol.BOOT_CUT)
        while True:  # until the helper is gone; other messages of a run that was not waiting are dropped
            kind, _, _, payload = messages.next()
            if kind == protocol.MSG_ARCS:
                coverage.ARCS.add(build, payload)
    except (OSError, EOFError, struct.error):
        pass
    finally:
        timer.cancel()


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _db_exists(external: NorFlash) -> bool:
    try:
        fs = ExternalFlash(external)
        fs.mount()
        return fs.exists(DB_PATH)
    except FsError:
        return False


class _Session:
    """Serving one helper process: flash operations, console bytes, file calls, the end."""

    def __init__(
        self,
        program: NativeProgram,
        res: BootResult,
        flashes: dict[int, NorFlash],
        console: Callable[[bytes], None],
        reply: BinaryIO,
        external: NorFlash,
    ) -> None:
        self.program, self.res, self.flashes, self.console, self.reply = program, res, flashes, console, reply
        self.files = RemoteFiles(external)
        self.external = external
        #: Bytes the last READ asked: the size of a READ answered ahead.
        self.want = protocol.BLOCK
        #: Whether the image database existed when the boot first went to write the external flash (looked
        #: up then, on the flash as the boot found it; None until then).
        self.db_before: bool | None = None
        # a coverage build waits on each flash operation (see CUT), and so does a memcheck build (memcheck.py)
        self.synchronous = program.build.coverage or bool(program.launcher)

    def serve(self, messages: protocol.MessageReader) -> None:
        res = self.res
        # the hot path's names, looked up once per boot: a sweep serves some 200 messages a boot
        receive, program, internal, synchronous = (
            messages.next,
            self._program,
            self.flashes[protocol.INTERNAL],
            self.synchronous,
        )
        msg_program = protocol.MSG_PROGRAM
        while True:
            try:
                kind, a, b, payload = receive()
            except EOFError:
                return
            if kind == msg_program:  # the commonest first
                if a == protocol.INTERNAL and not res.programmed:
                    internal.program(
                        b, payload
                    )  # what _program does for an internal program before boot control's erase
                else:
                    program(a, b, payload)
                if synchronous:
                    self.reply.write(protocol.OK)
            elif kind == protocol.MSG_ERASE:
                self._erase(a & 0xFF, a >> 8, b)
                if self.synchronous:
                    self.reply.write(protocol.OK)
            elif kind == protocol.MSG_TOUCH:
                flash = self._flash(a)
                if flash.read_observer is not None:  # the C code touched this block first: it read it
                    flash.read_observer(b, protocol.BLOCK)
            elif kind == protocol.MSG_CONSOLE:
                res.console += payload
                self.console(payload)
            elif kind == protocol.MSG_FS:
                self._before_external_write()
                if a == protocol.FS_READ_TAKEN:
                    self._taken(b, payload)
                    continue
                ops = self.external.op_count
                code, data = self._fs(a, b, payload)
                state = 0 if self.external.op_count != ops else self.files.state()
                ahead = self._answer_ahead(b) if ANSWER_AHEAD and a == protocol.FS_SEEK and code == 0 and state else b""
                flag = protocol.REPLY_AHEAD if ahead else 0
                self.reply.write(protocol.BOOT_FILE_REPLY.pack(code, len(data) | flag, state) + data + ahead)
            elif kind == protocol.MSG_ARCS:
                coverage.ARCS.add(self.program.build.directory, payload)
            elif kind == protocol.MSG_END:
                res.iterations = struct.unpack_from("<I", payload)[0] if len(payload) >= 4 else 0
                reason = payload[4:].decode("utf-8", "replace")
                if a == protocol.END_JUMP:
                    res.outcome, res.jump_addr = Outcome.JUMP, b
                elif a == protocol.END_RESET:
                    res.outcome = Outcome.RESET
                else:
                    res.outcome, res.stuck_reason = Outcome.STUCK, reason
                return
            else:
                raise BoardError(f"native bootloader sent an unknown message type {kind}")

    def _flash(self, device: int) -> NorFlash:
        try:
            return self.flashes[device]
        except KeyError:
            raise BoardError(f"native bootloader named an unknown flash device {device}") from None

    def _before_external_write(self) -> None:
        if self.db_before is None:
            self.db_before = _db_exists(self.external)

    def _erase(self, device: int, unit: int, address: int) -> None:
        flash = self._flash(device)
        if device == protocol.EXTERNAL:
            self._before_external_write()
        kind = protocol.erase_kind(unit, flash.geometry.smallest_erase_kind())
        if device == protocol.INTERNAL and address == BOOT_CTL_PHYS:
            self.res.programmed.append(Programming("", 0, BOOT_CTL_PHYS, BootControl.decode(b"\xff" * HEADER_SIZE)))
        flash.erase(address, kind)  # the helper reads its own copy of the block from now on: no copy back

    def _program(self, device: int, address: int, data: bytes) -> None:
        flash = self._flash(device)
        if device == protocol.EXTERNAL:
            self._before_external_write()
        flash.program(address, data)  # the helper reads its own copy of the block from now on: no copy back
        if device == protocol.INTERNAL and self.res.programmed:
            last = self.res.programmed[-1]
            end = max(last.programmed_to, address + len(data))
            self.res.programmed[-1] = Programming("", end - (BOOT_CTL_PHYS + 0x1000), end, last.header)

    def _fs(self, opcode: int, arg: int, payload: bytes) -> tuple[int, bytes]:
        if opcode == protocol.FS_READ and len(payload) == 4:
            self.want = struct.unpack("<I", payload)[0]
        return self.files.call(opcode, arg, payload)

    def _answer_ahead(self, handle: int) -> bytes:
        """After a SEEK: the READ of as many bytes as the last READ asked, answered ahead (the reply's
        tail, see ``otaloop_protocol.h``), or nothing when that read could fail or write."""
        found = self.files.read_ahead(handle, self.want)
        if found is None:
            return b""
        data, state = found
        return protocol.AHEAD_HEAD.pack(handle, self.want, len(data), state) + data

    def _taken(self, handle: int, payload: bytes) -> None:
        """The helper used the READ answered ahead: make it."""
        want = struct.unpack("<I", payload)[0] if len(payload) == 4 else -1
        self.files.take_ahead(handle, want)

    def close_files(self) -> None:
        self.files.forget()  # RAM is lost at the end of a run: open files are simply forgotten
