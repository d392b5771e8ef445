"""Timed power-cut sweeps: cut the update at a delay after a console pattern, for a range of delays.

A real board can only be cut at a moment. ``otaloop sweep timed --after PATTERN --from A --to B --step S``
cuts the v1 -> v2 update A, A+S, ... B milliseconds after the console shows ``PATTERN`` (for example the
bootloader banner of the reset after the download, to sweep its programming window), powers the board up
twice and names the outcome with the verdict names of the flash-operation sweep
(:mod:`harness.sweeps.verdicts`).

* :func:`model_case` runs on the virtual board made to the recipe of ``otaloop sweep update`` (the same
  images, quirks and v2 behaviour): the board cuts itself at the moment, in board time (flash busy time
  included), and the case names the exact-sweep fault id that moment hits (``update:int@op437:torn``), so
  ``otaloop sweep update --replay`` shows the same cut; its verdict is the exact sweep's judge of those very
  flash bytes.
* :func:`bench_case` runs on a bench with power control -- a real board with power commands or a labgrid
  power driver (the host cuts on its clock), or a board served by ``otaloop board --control`` (the board cuts
  itself exactly) -- and names the outcome from the console alone with :func:`console_verdict`.

A console shows fewer things than the flash does: ``volume-damaged``, ``reprogram-loop`` and
``db-damaged`` need the model's view of the flash, so a real rig reports the nearest console verdict
(:data:`CONSOLE_VERDICTS` lists what a console can tell apart). This module does not parse command lines.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from bootloader_model.board.virtual_board import AppState, VirtualBoard
from bootloader_model.bootloader.result import BootResult
from bootloader_model.errors import BoardError, CallerError, PortLost
from bootloader_model.storage.nor_flash import CutMode
from harness.board_link.driver import APP_VERSION, BOOT_BANNER
from harness.scenarios.base import Bench, ScenarioFailed
from harness.scenarios.benches import SerialBench
from harness.sweeps.fault_ids import DEFAULT_SEED, FaultId
from harness.sweeps.timed.cut import CutReport, arm_cut
from harness.sweeps.update import NEW, OLD, SETTLE_S_REF, UPDATE_BUDGET_S, Reference, UpdateRig, blank_board
from harness.sweeps.verdicts import SETTLE_S, Judgement, Verdict, judge

#: The verdicts a console alone can tell apart (the others need to look into flash).
CONSOLE_VERDICTS = (
    Verdict.STUCK,
    Verdict.SILENT,
    Verdict.CRASH_LOOP,
    Verdict.REPEATED_BACKUP,
    Verdict.FACTORY_FALLBACK,
    Verdict.UNKNOWN_IMAGE,
    Verdict.OLD_IMAGE,
    Verdict.NEW_IMAGE,
)
UNINITIALIZED = b"Uninitialized sector"
#: Wall seconds a bench waits for the banner after power-on, for quiet after it, and at most in all.
QUIET_BANNER_S, QUIET_S, OBSERVE_LIMIT_S = 15.0, 1.0, 20.0
FILE_OPEN_ERROR = b"file open error"
NETWORK_UP = b"IP address obtained for preferred interface for OTA"


#: The longest delay a timed cut may wait after its pattern (an hour: far past the end of any update).
MAX_DELAY_MS = 3_600_000.0
#: The most delays one timed sweep visits.
MAX_DELAYS = 100_000


def delays_ms(start: float, stop: float, step: float) -> list[float]:
    """``start``, ``start + step``, ... up to ``stop`` inclusive (milliseconds).

    Args:
        start: the first delay, 0..:data:`MAX_DELAY_MS`.
        stop: the last delay, ``start``..:data:`MAX_DELAY_MS`.
        step: more than 0.

    Returns:
        At most :data:`MAX_DELAYS` delays.

    Raises:
        CallerError: a value is not a finite number, out of range, out of order, or the delays too many.
    """
    for name, value in (("--from", start), ("--to", stop), ("--step", step)):
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise CallerError(f"{name} must be a finite number of milliseconds, got {value!r}")
    if not 0 <= start <= stop <= MAX_DELAY_MS:
        raise CallerError(f"--from {start:g} --to {stop:g}: need 0 <= from <= to <= {MAX_DELAY_MS:.0f} ms")
    if not step > 0:
        raise CallerError(f"--step must be > 0, got {step:g}")
    span = (stop - start) / step + 1e-9  # inf for a step too small to count
    if span >= MAX_DELAYS:
        raise CallerError(f"more than {MAX_DELAYS:,} delays: choose a larger --step")
    count = int(span) + 1
    return [round(start + i * step, 6) for i in range(count)]


@dataclass(frozen=True)
class TimedCase:
    """One delay of a timed sweep: where the cut fell, and what the board did afterwards."""

    delay_ms: float
    cut: CutReport | None  # None: the update ended before the moment came (nothing was cut)
    verdict: Verdict  # the model's judge on the virtual board; the console's on a bench
    console: Verdict  # what the console alone shows
    detail: str
    fault: FaultId | None = None  # model: the exact-sweep case this moment hits
    phase: str = ""  # model: the phase of that operation
    state: tuple[bytes, bytes] | None = field(default=None, repr=False)  # model: both flashes after the cut

    def where(self) -> str:
        if self.cut is None:
            return "no cut: the update was over before the moment"
        return self.cut.describe()


# ------------------------------------------------------------------------------------------ console
def console_verdict(boots: list[bytes], old: int = OLD, new: int = NEW) -> tuple[Verdict, str]:
    """Name the outcome from what the console showed at each power-on after the cut (two, as settle does)."""
    text = b"".join(boots)
    last = boots[-1] if boots else b""
    versions = [int(m.group(1)) for m in APP_VERSION.finditer(last)]
    banners = [len(BOOT_BANNER.findall(b)) for b in boots]
    if not any(banners):
        return Verdict.SILENT, "no bootloader banner at all"
    if not versions:
        if last.count(FILE_OPEN_ERROR) >= 2:
            return Verdict.STUCK, "the bootloader repeats 'file open error'"
        if banners[-1] >= 3:
            return Verdict.CRASH_LOOP, f"{banners[-1]} bootloader banners and no application"
        return Verdict.SILENT, "the bootloader ran, no application line followed"
    running = versions[-1]
    if any(b >= 2 and APP_VERSION.search(seg) for b, seg in zip(banners, boots, strict=True)):
        return Verdict.REPEATED_BACKUP, "two bootloader runs before the application: the factory backup ran again"
    if UNINITIALIZED in text:
        return Verdict.FACTORY_FALLBACK, f"'Uninitialized sector', then v{running}"
    if running == new:
        return Verdict.NEW_IMAGE, f"v{running} running"
    if running == old:
        return Verdict.OLD_IMAGE, f"v{running} running"
    return Verdict.UNKNOWN_IMAGE, f"v{running} running"


# ------------------------------------------------------------------------------------------ model
def fault_of(ref: Reference, op_counts: tuple[int, int], mode: str, seed: int) -> tuple[FaultId | None, str]:
    """The exact-sweep fault id of a moment cut, from the operations completed on each flash when it fell."""
    done_int = op_counts[0] - ref.start["internal"].op_count
    done_ext = op_counts[1] - ref.start["external"].op_count
    k = done_int + done_ext
    if sum(1 for op in ref.ops[:k] if op.device == "internal") != done_int:
        raise BoardError(f"the timed run diverged from the reference run before operation {k}")
    if k >= len(ref.ops):
        return None, "after the last operation"
    op = ref.ops[k]
    cut_mode = CutMode.TORN if mode == "torn" else CutMode.BEFORE
    return FaultId(ref.params, op.short_device, k, cut_mode, seed), op.phase


def _settle_with_console(board: VirtualBoard) -> tuple[list[list[BootResult]], list[bytes]]:
    """:func:`harness.sweeps.verdicts.settle`, also keeping what the console showed at each power-on."""
    board.set_network(False)
    runs: list[list[BootResult]] = []
    boots: list[bytes] = []
    for _ in range(2):
        first, start = len(board.boots), board.printed
        board.power_cycle()
        board.run_for(SETTLE_S)
        runs.append(board.boots[first:])
        boots.append(bytes(board.transcript[len(board.transcript) - (board.printed - start) :]))
    return runs, boots


def model_case(rig: UpdateRig, ref: Reference, pattern: str, delay_ms: float, *, seed: int = DEFAULT_SEED) -> TimedCase:
    """Run the update on the model, cut ``delay_ms`` after ``pattern``; judge as the exact sweep does.

    The cut is armed once v1 runs, as a rig arms it after bringing the board up, so the pattern counts from
    there (the bootloader banner is then the one of the reset after the download).
    """
    board = rig.restored(ref.start)
    board.set_network(True)
    board.power_on()
    if not board.run_until(lambda: board.state is AppState.RUNNING, UPDATE_BUDGET_S):
        raise BoardError(f"factory v1 did not start:\n{board.text}")
    board.arm_moment_cut(pattern, delay_ms / 1000, seed=seed)

    def v2_up() -> bool:
        return board.app_version == NEW

    board.run_until(lambda: board.moment_hit is not None or v2_up(), UPDATE_BUDGET_S)
    if board.moment_hit is None:
        board.run_for(SETTLE_S_REF)  # v2's confirm step: the moment may still come
    hit = board.moment_hit
    board.disarm_moment_cut()
    board.power_off()
    state = (bytes(board.internal.data), bytes(board.external.data))
    after = blank_board(rig.params)
    after.internal.data[:] = state[0]
    after.external.data[:] = state[1]
    runs, boots = _settle_with_console(after)
    judgement: Judgement = judge(after, runs, OLD, NEW)
    console, _ = console_verdict(boots)
    if hit is None:
        return TimedCase(delay_ms, None, judgement.verdict, console, judgement.line(), state=state)
    fault, phase = fault_of(ref, hit.op_counts, hit.mode, seed)
    report = CutReport(pattern, delay_ms / 1000, exact=True, hit=hit)
    return TimedCase(delay_ms, report, judgement.verdict, console, judgement.line(), fault, phase, state)


def model_sweep(
    rig: UpdateRig, ref: Reference, pattern: str, delays: Iterable[float], *, seed: int = DEFAULT_SEED
) -> list[TimedCase]:
    return [model_case(rig, ref, pattern, d, seed=seed) for d in delays]


# ------------------------------------------------------------------------------------------ bench
def observe_boot(bench: Bench, *, banner_s: float, quiet_s: float, limit_s: float) -> bytes:
    """What the console shows from now until the application is up (its network line), the board has been
    quiet ``quiet_s``, or ``limit_s`` passed."""
    con = bench.console
    start = len(con.buffer)
    try:
        con.expect(BOOT_BANNER, banner_s)
    except BoardError:
        return bytes(con.buffer[start:])
    deadline = time.monotonic() + limit_s
    last = time.monotonic()
    while time.monotonic() < deadline and NETWORK_UP not in con.buffer[start:]:
        if con.poll():
            last = time.monotonic()
        elif time.monotonic() - last >= quiet_s:
            break
    con.pos = len(con.buffer)
    return bytes(con.buffer[start:])


def bench_case(serial: SerialBench, pattern: str, delay_ms: float, *, seed: int = DEFAULT_SEED) -> TimedCase:
    """One timed cut on a bench with power control: factory v1, publish v2, cut, power up twice, judge."""
    if serial.power is None:
        raise CallerError("a timed sweep on a board needs power control (power commands, labgrid, or --control)")
    with serial.bench() as bench:
        power = serial.power
        info = bench.start()
        if info.app_version != OLD:
            raise ScenarioFailed(f"the board runs v{info.app_version}, not the factory v{OLD}; reflash it")
        bench.console.expect(NETWORK_UP, bench.wall(60))
        armed = arm_cut(bench, pattern, delay_ms / 1000, seed=seed)  # before the update can print the pattern
        bench.publish(NEW)
        if not bench.factory.periodic and not bench.driver.check_update():
            raise ScenarioFailed("the board refused `otactl check`")
        cut = armed.wait(bench.wall(UPDATE_BUDGET_S))
        bench.publish(OLD)  # nothing newer on the server: the board cannot simply download v2 again
        # What the board printed up to the cut is not the next boot's; a port gone with the power has no more.
        with contextlib.suppress(PortLost), bench.console.without_reconnect():
            bench.console.drain(quiet=0.3, limit=5.0)
        boots = []
        for i in range(2):
            if i:
                power.off()
            bench.console.pos = len(bench.console.buffer)
            power.on()
            boots.append(observe_boot(bench, banner_s=QUIET_BANNER_S, quiet_s=QUIET_S, limit_s=OBSERVE_LIMIT_S))
        verdict, why = console_verdict(boots)
    return TimedCase(delay_ms, cut, verdict, verdict, why)


# ------------------------------------------------------------------------------------------ report
def report_lines(cases: list[TimedCase], *, model: bool) -> list[str]:
    """A fixed-width table and the verdict counts."""
    head = ["delay ms", "cut", "verdict"] + (["fault id", "console"] if model else ["console shows"])
    rows = [head]
    for c in cases:
        row = [f"{c.delay_ms:g}", c.where(), c.verdict.value]
        row += [str(c.fault) if c.fault is not None else "-", c.console.value] if model else [c.detail]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    out = []
    for i, r in enumerate(rows):
        cells = [r[0].rjust(widths[0])] + [cell.ljust(w) for cell, w in zip(r[1:], widths[1:], strict=True)]
        out.append("  ".join(cells).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    counts: dict[Verdict, int] = {}
    for c in cases:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    out.append("")
    out.append(", ".join(f"{v.value}: {n}" for v, n in sorted(counts.items(), key=lambda kv: kv[0].severity)))
    if model:
        differ = sum(1 for c in cases if c.console is not c.verdict)
        out.append(
            f"the console alone gives the same verdict in {len(cases) - differ} of {len(cases)} cases"
            + (" (the others need a look into flash)" if differ else "")
        )
    return out
