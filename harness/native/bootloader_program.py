"""The user's own bootloader C code, built for the host, as the virtual board's bootloader.

``otaloop native build`` compiles a Harmony OTA bootloader (or otaloop's small example bootloader) with
otaloop's shim layer into a helper executable in a cache directory, next to ``build.json``. A
:class:`NativeProgram` runs one boot as one helper process:

* both flash arrays are copied into shared memory the helper maps read-only (internal flash at the
  PIC32's 0x9000_0000 and 0xB000_0000, so ``*(uint32_t *)0xB0020000`` reads boot control);
* every erase and program the C code makes arrives here as one message and is carried out on the
  board's :class:`~bootloader_model.storage.nor_flash.NorFlash` -- one counted operation of the same
  :class:`~bootloader_model.storage.nor_flash.FaultPlan` machinery as the Python model's -- and copied
  back into the shared memory before the helper continues. A planned power cut kills the helper inside
  that call: the C code stops where it is and its RAM is gone;
* console bytes arrive on the same pipe, in order with the flash operations;
* the helper reports the jump (a call into flash faults, as flash is not executable on the host), the
  software reset, or a loop for ever (a repeated RAM state with no flash operation in between, a main-loop
  pass that never returns, a data fault, the pass budget), with the reason.

The example build's SYS_FS calls are answered here (:class:`~harness.native.remote_fs.RemoteFiles`), by the FAT volume
(:class:`~bootloader_model.storage.external_flash.ExternalFlash`), so its flash operations are counted
too; a Harmony build compiles SYS_FS, FatFs and DRV_MEMORY from the user's tree and only the SST26
driver is shimmed.

The C code does not report its decisions, so :class:`~bootloader_model.bootloader.result.BootResult`
fields are filled from what was observed: ``programmed`` (one entry per erase of the boot control page,
with the highest address programmed after it), ``chosen`` (the boot control header after programming:
type 03 is the factory image), ``factory_backup`` (the run ended in a software reset), ``db_deleted``
(``image_database.csv`` existed before the run and not after). ``steps``, ``checked`` and
``verified`` stay empty.

A build made with ``--sanitize`` runs with the sanitizers' options (:mod:`harness.native.sanitizers`):
a report ends the boot as :class:`~harness.native.sanitizers.NativeMemoryError`, or as a stuck boot for
the fuzzer. In a build made with ``--coverage`` (:mod:`harness.native.coverage`) a power cut answers the
interrupted call with "cut" instead of killing blind, so the helper writes its gcov counts first, and the
arcs each run reached are logged for a guided search.

What it does not do: build anything (``harness.native.build`` does), run on anything but Linux, or
time the C code (flash busy time comes from the flash models, as for the Python model).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import subprocess
import threading
from collections.abc import Callable
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
from harness.native import coverage, protocol, sanitizers
from harness.native.build_record import NativeBuild
from harness.native.remote_fs import RemoteFiles

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


_POOL_LOCK = threading.Lock()
_POOL: dict[tuple[int, int], list[tuple[_SharedFlash, _SharedFlash]]] = {}


def _take(int_size: int, ext_size: int) -> tuple[_SharedFlash, _SharedFlash]:
    with _POOL_LOCK:
        free = _POOL.setdefault((int_size, ext_size), [])
        if free:
            return free.pop()
    return _SharedFlash(int_size, "otaloop-internal"), _SharedFlash(ext_size, "otaloop-external")


def _give(pair: tuple[_SharedFlash, _SharedFlash]) -> None:
    with _POOL_LOCK:
        _POOL.setdefault((pair[0].size, pair[1].size), []).append(pair)


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    if data is None or len(data) != n:
        raise EOFError
    return data


class NativeProgram:
    """A bootloader built by ``otaloop native build``, run as one helper process per boot.

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
        if memory_errors not in ("raise", "stuck"):
            raise CallerError(f"memory_errors must be 'raise' or 'stuck', not {memory_errors!r}")
        self.build = NativeBuild.load(Path(cache))
        if self.build.role != "bootloader":
            raise CallerError(
                f"{cache} holds a native {self.build.role} build, not a bootloader: use it with --application"
            )
        self.label = f"native:{cache}"
        self.max_passes, self.pass_cpu_s = max_passes, pass_cpu_s
        self.memory_errors = memory_errors
        self._env = {**os.environ, **sanitizers.runtime_env(self.build.sanitize)} if self.build.sanitize else None

    @property
    def build_stamp(self) -> tuple[str, str]:
        return self.build.build_stamp

    # ----------------------------------------------------------------------------------------- boot
    def boot(self, internal: NorFlash, external: NorFlash, console: Callable[[bytes], None]) -> BootResult:
        res = BootResult()
        busy0 = internal.busy_s
        db_before = _db_exists(external)
        pair = _take(internal.geometry.size, external.geometry.size)
        shared = {protocol.INTERNAL: (internal, pair[0]), protocol.EXTERNAL: (external, pair[1])}
        pair[0].map[:] = internal.data
        pair[1].map[:] = external.data
        to_helper_r, to_helper_w = os.pipe()
        from_helper_r, from_helper_w = os.pipe()
        argv = [
            str(self.build.executable),
            str(to_helper_r),
            str(from_helper_w),
            str(pair[0].fd),
            str(pair[1].fd),
            str(external.geometry.size),
            str(self.max_passes),
            str(self.pass_cpu_s),
        ]
        try:
            proc = subprocess.Popen(
                argv,
                pass_fds=(to_helper_r, from_helper_w, pair[0].fd, pair[1].fd),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=self._env,
            )
        except OSError as exc:
            for fd in (to_helper_r, to_helper_w, from_helper_r, from_helper_w):
                os.close(fd)
            _give(pair)
            raise CallerError(f"cannot start {self.build.executable}: {exc.strerror}") from None
        os.close(to_helper_r)
        os.close(from_helper_w)
        reply = os.fdopen(to_helper_w, "wb", buffering=0)
        stream = os.fdopen(from_helper_r, "rb", buffering=1 << 16)
        session = _Session(self, res, shared, console, reply, external)
        finished = False
        try:
            session.serve(stream)
            finished = True
        finally:
            if not finished:
                if self.build.coverage:
                    _cut_with_counts(proc, reply, stream, self.build.directory)
                proc.kill()  # a power cut (or a failure here): the C code stops where it is, RAM lost
            stream.close()
            reply.close()
            _, err = proc.communicate()
            session.close_files()
            _give(pair)
        if res.outcome is None and self.build.sanitize:
            self._memory_error(res, err.decode("utf-8", "replace"), proc.returncode)
        if res.outcome is None:
            tail = err.decode("utf-8", "replace").strip()
            raise BoardError(
                f"native bootloader {self.build.executable} ended without a result (exit status {proc.returncode})"
                + (f": {tail}" if tail else "")
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
        res.db_deleted = db_before and not _db_exists(external)
        res.notes.append(f"native bootloader {self.build.directory} ({self.build.kind}, {self.build.variant})")
        return res

    def _memory_error(self, res: BootResult, stderr: str, status: int) -> None:
        """A sanitizer ended the helper: raise the finding, or record it as the boot's stuck reason."""
        report = sanitizers.parse_report(stderr, [Path(self.build.source)] if self.build.source else [])
        if report is None:
            if status != sanitizers.EXIT_CODE:
                return  # not a sanitizer's exit: the caller reports the helper's end as it is
            report = sanitizers.MemoryErrorReport("a sanitizer", "unparsed report", "", (), stderr)
        if self.memory_errors == "raise":
            raise sanitizers.NativeMemoryError(report, str(self.build.directory))
        res.outcome, res.stuck_reason = Outcome.STUCK, report.headline()
        res.notes.append(f"{report.headline()}\n{report.stack()}\n{report.text}")


def _cut_with_counts(proc: subprocess.Popen[bytes], reply: BinaryIO, stream: BinaryIO, build: Path) -> None:
    """A coverage build at a power cut: answer the waiting call with CUT, so the helper reports its arcs,
    writes its counts and exits without running another line of the firmware (killed after 10 s)."""
    try:
        reply.write(protocol.CUT)
        while True:  # until the helper is gone; other messages of a run that was not waiting are dropped
            kind, _, _, n = protocol.HEADER.unpack(_read_exact(stream, protocol.HEADER.size))
            payload = _read_exact(stream, n) if n else b""
            if kind == protocol.MSG_ARCS:
                coverage.ARCS.add(build, payload)
    except (OSError, EOFError, struct.error):
        pass
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


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
        shared: dict[int, tuple[NorFlash, _SharedFlash]],
        console: Callable[[bytes], None],
        reply: BinaryIO,
        external: NorFlash,
    ) -> None:
        self.program, self.res, self.shared, self.console, self.reply = program, res, shared, console, reply
        self.files = RemoteFiles(external)

    def serve(self, stream: BinaryIO) -> None:
        res = self.res
        while True:
            try:
                kind, a, b, n = protocol.HEADER.unpack(_read_exact(stream, protocol.HEADER.size))
                payload = _read_exact(stream, n) if n else b""
            except EOFError:
                return
            if kind == protocol.MSG_CONSOLE:
                res.console += payload
                self.console(payload)
            elif kind == protocol.MSG_ERASE:
                self._erase(a & 0xFF, a >> 8, b)
                self.reply.write(protocol.OK)
            elif kind == protocol.MSG_PROGRAM:
                self._program(a, b, payload)
                self.reply.write(protocol.OK)
            elif kind == protocol.MSG_FS:
                code, data = self._fs(a, b, payload)
                self.reply.write(protocol.FILE_REPLY.pack(code, len(data)) + data)
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

    def _flash(self, device: int) -> tuple[NorFlash, _SharedFlash]:
        try:
            return self.shared[device]
        except KeyError:
            raise BoardError(f"native bootloader named an unknown flash device {device}") from None

    def _erase(self, device: int, unit: int, address: int) -> None:
        flash, shared = self._flash(device)
        g = flash.geometry
        kind = (
            g.smallest_erase_kind()
            if unit == protocol.ERASE_SMALLEST
            else "block"
            if unit == protocol.ERASE_BLOCK
            else "chip"
        )
        if device == protocol.INTERNAL and address == BOOT_CTL_PHYS:
            self.res.programmed.append(Programming("", 0, BOOT_CTL_PHYS, BootControl.decode(b"\xff" * HEADER_SIZE)))
        flash.erase(address, kind)
        size = g.erase_units[kind]
        off = address - g.base
        shared.map[off : off + size] = flash.data[off : off + size]

    def _program(self, device: int, address: int, data: bytes) -> None:
        flash, shared = self._flash(device)
        g = flash.geometry
        flash.program(address, data)
        off = address - g.base
        if g.page_wrap:
            start = off - off % g.page_wrap
            shared.map[start : start + g.page_wrap] = flash.data[start : start + g.page_wrap]
        else:
            shared.map[off : off + len(data)] = flash.data[off : off + len(data)]
        if device == protocol.INTERNAL and self.res.programmed:
            last = self.res.programmed[-1]
            end = max(last.programmed_to, address + len(data))
            self.res.programmed[-1] = Programming("", end - (BOOT_CTL_PHYS + 0x1000), end, last.header)

    def _fs(self, opcode: int, arg: int, payload: bytes) -> tuple[int, bytes]:
        return self.files.call(opcode, arg, payload)

    def close_files(self) -> None:
        self.files.forget()  # RAM is lost at the end of a run: open files are simply forgotten
