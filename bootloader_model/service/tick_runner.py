"""Drive an :class:`~bootloader_model.service.ota_service.OtaService` tick by tick, fast-forwarding over idle stretches.

This is the one place on the device side that looks at wall time, and only to wait for the network: the
service itself is deterministic. :func:`run_until` ticks the service; when the service is

* quiescent (parked, core idle, nothing open), it jumps the virtual clock straight to the next alarm (the
  periodic-check RTCC) or to the end of the budget, since ticks in between change nothing;
* waiting for socket data, it waits on the socket for a short, growing wall time and, if nothing came,
  applies the silent ticks in one step (:meth:`~bootloader_model.service.ota_service.OtaService.skip_network_wait`):
  at wall speed for a grace period, then ``speed`` times faster.

So a 60 s periodic interval, the 70000-empty-read manifest stall and the 1000 s download deadline pass in
milliseconds, while a responsive server is never skipped past.

On the board the OTA service is one task among others (the console, the file system): a slow server
stalls the download, never the rest. ``wall_limit_s`` gives the same guarantee to whoever drives the
board: :func:`run_until` returns after about that much wall time even if the network kept it waiting, and
a :class:`NetworkWait` carried from call to call keeps the grace period running across those returns. It
does not map virtual time to wall time for a user watching a console; the board runner does that with its
own speed factor.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from dataclasses import dataclass

from bootloader_model.clock import TICK_S
from bootloader_model.service.ota_service import OtaService


@dataclass
class NetworkWait:
    """How long the socket has been silent, kept across :func:`run_until` calls that return early."""

    first_wait_s: float = 0.001
    max_wait_s: float = 0.05
    silent_since: float | None = None  # wall time (perf_counter) of the first silent wait, None: not waiting
    wait: float = 0.001  # the next wait on the socket, doubling up to max_wait_s while nothing arrives

    def reset(self) -> None:
        self.silent_since = None
        self.wait = self.first_wait_s


def run_until(
    svc: OtaService,
    predicate: Callable[[], bool],
    max_virtual_s: float,
    *,
    speed: float = 1000.0,
    grace_s: float = 0.25,
    first_wait_s: float = 0.001,
    max_wait_s: float = 0.05,
    wall_limit_s: float | None = None,
    network: NetworkWait | None = None,
    patience_s: float = 0.0,
) -> bool:
    """Tick ``svc`` until ``predicate()`` holds (True) or ``max_virtual_s`` of virtual time passed (False).

    While the socket is silent, virtual time follows wall time 1:1 for the first ``grace_s`` seconds (so a
    slow but live server is never timed out early), then runs ``speed`` times faster. A closed peer or a
    full manifest buffer cannot deliver anything more, so those waits are skipped at once.

    With ``wall_limit_s``, it also returns False when it would wait on the network after about that much
    wall time, so a caller serving a console is never held up by the network (the service's own work, a few
    ticks at a time, is not cut short); pass the same ``network`` on every call so the
    grace period runs on across returns.

    With ``patience_s``, a silence first waits up to that much wall time for the socket before any virtual
    time passes, so a live server's replies cost no virtual time however loaded the host is: runs become
    repeatable (the fuzzer needs that); a server that stays silent longer is handled as above.
    """
    clock = svc.clock
    end = clock.now() + max_virtual_s
    net = network or NetworkWait(first_wait_s, max_wait_s, wait=first_wait_s)
    wall_end = None if wall_limit_s is None else time.perf_counter() + wall_limit_s
    while not predicate():
        now = clock.now()
        if now >= end:
            return False
        if svc.reset_requested or svc.hung:
            clock.advance_to(end)
            return predicate()
        if svc.quiescent():
            deadline = svc.timer_deadline()
            target = end if deadline is None or deadline <= now else min(end, deadline)
            if target - now > 2 * TICK_S:
                clock.advance_to(target - TICK_S)
            svc.tick()
            continue
        if svc.waiting_on_network():
            t0 = time.perf_counter()
            if wall_end is not None and t0 >= wall_end:
                return False  # only a wait on the network is cut short: the service's own work runs on
            sock = svc.client.waiting_socket()  # None: closed peer or full buffer, nothing can arrive
            if net.silent_since is None:
                net.silent_since = t0
            connecting = svc.client.state.name == "CONNECTING"
            wait = net.wait if wall_end is None else max(0.0, min(net.wait, wall_end - t0))
            if sock is None:
                progress, factor = False, speed
                net.wait = wait = net.max_wait_s
            elif patience_s > 0 and net.silent_since == t0:  # a fresh silence: wait for the server first
                readable, writable, _ = select.select([sock], [sock] if connecting else [], [], patience_s)
                progress, factor = bool(readable or writable), 1.0
                if not progress:
                    net.silent_since = time.perf_counter()  # the grace period starts after the patience
                    continue
            else:
                readable, writable, _ = select.select([sock], [sock] if connecting else [], [], wait)
                progress = bool(readable or writable)
                factor = speed if t0 - net.silent_since >= grace_s else 1.0
            if not progress:
                waited = max(time.perf_counter() - t0, wait)
                ticks = int(min(end - now, waited * factor) / TICK_S)
                net.wait = min(net.wait * 2, net.max_wait_s)
                if svc.skip_network_wait(max(ticks, 1)):
                    continue
        net.reset()
        svc.tick()
    return True


def run_ticks(svc: OtaService, n: int) -> None:
    """Exactly ``n`` ticks, no fast-forward."""
    for _ in range(n):
        svc.tick()
