"""Where a sweep's work runs: in this process, in local worker processes, or on a Dask distributed cluster.

A sweep is cut into :class:`Work`: one ``payload`` (what every worker needs: the recorded update, the cut
modes ...), a ``setup`` function that turns it into a worker context (a flash cursor, a verdict cache) once
per worker, and ``tasks`` (ranges of operations) that ``run(context, task)`` judges. Every executor
yields ``(task index, result)`` pairs as tasks finish; the caller sorts them, so the outcome of a sweep
never depends on how many workers ran it or in which order they finished.

* :class:`InProcess` runs the tasks in order in this process (``--jobs 1``);
* :class:`Processes` runs them on ``jobs`` workers: this process and ``jobs - 1`` spawned ones (``--jobs N``,
  the default is all cores). This process starts on its share at once, while the others start up; the
  payload is sent once per spawned worker, each task sends only its range; a spawned worker ends itself
  within :data:`PARENT_POLL_S` of its parent's death, however the parent died (``kill -9`` included), and
  the resource tracker follows once the last worker is gone. Each worker takes a
  contiguous share of the tasks in order (:class:`Shares`), and a worker that runs out takes the back half
  of the largest share left: neighbouring tasks cut neighbouring flash states, so a worker's verdict
  cache keeps meeting what it has learnt, and two workers do not both judge every phase of a sweep. What
  a worker learns (``Work.learnt``, e.g. new verdict cache entries) reaches the others with their next
  task (``Work.learn``, :class:`Relay`), so a state one worker judged is not judged again by another;
* :class:`DaskCluster` runs them on a ``dask.distributed`` scheduler (``--scheduler ADDRESS``): the payload
  is scattered to every worker once, then one task per range (nothing is relayed between them). Dask is an
  optional extra (``pip install 'otaloop[distributed]'``); the workers must be able to import ``harness``.
  :func:`scheduler_address` is the one place that reads an address (``tcp://HOST:PORT`` and the other
  schemes of :data:`SCHEMES`); before the cluster gets any work, the scheduler must answer Dask's
  ``identity`` request within the connect timeout, so a closed port, a silent server or one that answers
  something else is a one-line :class:`~bootloader_model.errors.CallerError`, never a hang or a traceback.

``setup``, ``run`` and everything in a task must be picklable (module-level functions, plain data). This
module knows nothing about flash or verdicts, and it does not split a sweep into tasks (the sweeps do).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import multiprocessing
import multiprocessing.util
import os
import queue
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from bootloader_model.errors import CallerError

P = TypeVar("P")  # payload
C = TypeVar("C")  # worker context
T = TypeVar("T")  # task
R = TypeVar("R")  # result


class WorkerLost(RuntimeError):
    """A worker process or the cluster went away before the sweep finished (killed, out of memory)."""


@dataclass(frozen=True)
class Work(Generic[P, C, T, R]):
    """One sweep, ready to run anywhere: ``run(setup(payload), task)`` for every task."""

    setup: Callable[[P], C]
    run: Callable[[C, T], R]
    payload: P
    tasks: Sequence[T]
    token: str = field(default_factory=lambda: uuid.uuid4().hex)  # names this sweep's contexts on workers
    #: What a context learnt since it was last asked (e.g. new verdict cache entries), and how to teach a
    #: context what others learnt; :class:`Processes` relays between its workers with these. Both or neither.
    learnt: Callable[[C], Sequence[Any]] | None = None
    learn: Callable[[C, Sequence[Any]], None] | None = None


class Executor(Protocol):
    """Runs :class:`Work`; yields ``(task index, result)`` as tasks finish, in any order."""

    @property
    def workers(self) -> int: ...

    def run(self, work: Work[Any, Any, Any, R]) -> Iterator[tuple[int, R]]: ...


# ----------------------------------------------------------------------------------- worker side

_local = threading.local()  # one context per worker thread (Dask workers may run several threads)
_installed: dict[str, tuple[Callable[[Any], Any], Any]] = {}  # token -> (setup, payload), per pool worker


def _context(token: str, setup: Callable[[Any], Any], payload: Any) -> Any:
    """This thread's context for sweep ``token``, built on first use; an older sweep's context is dropped."""
    held: tuple[str, Any] | None = getattr(_local, "held", None)
    if held is None or held[0] != token:
        held = (token, setup(payload))
        _local.held = held
    return held[1]


def at_exit(callback: Callable[[], None]) -> None:
    """Run ``callback`` when this process ends, also when it is one of a sweep's pool workers.

    A pool worker leaves through ``os._exit``, skipping :mod:`atexit`; multiprocessing runs its own
    finalizers first, so there ``callback`` is one of those. What a sweep started in a worker (a native
    bootloader's helper process) is then ended and waited for by its owner, not orphaned, and its CPU
    time is counted with the worker's.
    """
    if multiprocessing.parent_process() is None:
        atexit.register(callback)
    else:
        multiprocessing.util.Finalize(None, callback, exitpriority=0)


#: Seconds between a pool worker's looks at its parent.
PARENT_POLL_S = 0.25


def _watch_parent(parent: int) -> None:
    """End this worker once ``parent`` is gone (the worker was re-parented), however the parent ended."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)  # nothing to save: the sweep that wanted the results is gone


def _install(parent: int, token: str, setup: Callable[[Any], Any], payload: Any) -> None:
    # A parent killed with SIGKILL cannot shut its pool down, and a worker waiting for its next task never
    # notices (the task queue's pipe is open in every worker); with the workers lives the resource tracker,
    # which stops when the last of them has closed its pipe. So each worker watches its parent itself.
    threading.Thread(target=_watch_parent, args=(parent,), name="otaloop-parent-watch", daemon=True).start()
    _installed.clear()
    _installed[token] = (setup, payload)


def _pool_task(
    token: str,
    run: Callable[[Any, Any], Any],
    task: Any,
    learnt: Callable[[Any], Sequence[Any]] | None,
    learn: Callable[[Any, Sequence[Any]], None] | None,
    due: Sequence[Any] | None,
) -> tuple[Any, Sequence[Any]]:
    setup, payload = _installed[token]
    context = _context(token, setup, payload)
    if due and learn is not None:
        learn(context, due)
    result = run(context, task)
    return result, (learnt(context) if learnt is not None and learn is not None else ())


def _dask_task(
    token: str,
    setup: Callable[[Any], Any],
    run: Callable[[Any, Any], Any],
    learnt: Callable[[Any], Sequence[Any]] | None,
    payload: Any,
    task: Any,
) -> Any:
    context = _context(token, setup, payload)
    result = run(context, task)
    if learnt is not None:
        learnt(context)  # nothing is relayed on a cluster: what was learnt is dropped
    return result


# ------------------------------------------------------------------------------------- executors


class InProcess:
    """Every task in order, in this process."""

    workers = 1

    def run(self, work: Work[Any, Any, Any, R]) -> Iterator[tuple[int, R]]:
        context = work.setup(work.payload)
        for i, task in enumerate(work.tasks):
            result = work.run(context, task)
            if work.learnt is not None:
                work.learnt(context)  # no other worker to tell: what was learnt is dropped
            yield i, result


def default_jobs() -> int:
    """All cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Shares:
    """Task indices ``0..n-1`` cut into ``parts`` contiguous shares, one per worker, handed out in order."""

    def __init__(self, n: int, parts: int) -> None:
        bounds = [n * i // parts for i in range(parts + 1)]
        self.shares = [deque(range(bounds[i], bounds[i + 1])) for i in range(parts)]

    def next(self, part: int) -> int | None:
        """The next task of share ``part``; when it is empty, the back half of the largest share left
        becomes share ``part``. None when no task is left."""
        mine = self.shares[part]
        if not mine:
            largest = max(self.shares, key=len)
            if not largest:
                return None
            keep = len(largest) - len(largest) // 2  # the owner keeps the front half (and a lone task)
            if len(largest) == 1:
                keep = 0
            while len(largest) > keep:
                mine.appendleft(largest.pop())
        return mine.popleft()


class Relay:
    """What the workers' contexts learnt (:attr:`Work.learnt`), passed on to the others with their next task.

    Entries are kept in the order they arrived, each with the share (worker) that learnt it; a share gets
    every entry it has not been given yet, except its own.
    """

    def __init__(self, parts: int) -> None:
        self.log: list[tuple[int, Any]] = []
        self.given = [0] * parts

    def add(self, part: int, entries: Sequence[Any]) -> None:
        self.log.extend((part, e) for e in entries)

    def due(self, part: int) -> list[Any]:
        """The entries share ``part`` has not been given yet (and now has)."""
        start, self.given[part] = self.given[part], len(self.log)
        return [e for p, e in self.log[start:] if p != part]


class Processes:
    """``jobs`` workers: this process and ``jobs - 1`` spawned processes (which share nothing with this one
    but the payload).

    This process judges share 0 itself from the start (its modules are loaded and the payload is at hand),
    while the spawned workers start up; a thread of this process hands the spawned workers their tasks
    and collects their results, so they never wait for this process to finish a task of its own. With
    :attr:`Work.learnt` and :attr:`Work.learn` what each worker learns is relayed to the others with their
    next task.
    """

    def __init__(self, jobs: int) -> None:
        if jobs < 1:
            raise CallerError(f"--jobs must be at least 1, got {jobs}")
        self.jobs = jobs

    @property
    def workers(self) -> int:
        return self.jobs

    def run(self, work: Work[Any, Any, Any, R]) -> Iterator[tuple[int, R]]:
        jobs = min(self.jobs, len(work.tasks))
        if jobs <= 1:
            yield from InProcess().run(work)
            return
        pool = ProcessPoolExecutor(
            max_workers=jobs - 1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_install,
            initargs=(os.getpid(), work.token, work.setup, work.payload),
        )
        relaying = work.learnt is not None and work.learn is not None
        shares = Shares(len(work.tasks), jobs)
        relay = Relay(jobs)
        lock = threading.Lock()
        results: queue.SimpleQueue[tuple[int, Any] | BaseException | None] = queue.SimpleQueue()
        stop = threading.Event()
        # One spawned worker gets its next task queued behind the one it runs, so it never waits for the
        # dispatching thread; several take one each, so a share's tasks stay on one worker (and its cache).
        depth = 2 if jobs == 2 else 1

        def dispatch() -> None:
            pending: dict[Future[Any], tuple[int, int]] = {}

            def submit(part: int) -> None:
                with lock:
                    i = shares.next(part)
                    due = relay.due(part) if relaying else None
                if i is not None:
                    fut = pool.submit(_pool_task, work.token, work.run, work.tasks[i], work.learnt, work.learn, due)
                    pending[fut] = (i, part)

            try:
                for part in range(1, jobs):
                    for _ in range(depth):
                        submit(part)
                while pending and not stop.is_set():
                    done, _ = wait(pending, timeout=PARENT_POLL_S, return_when=FIRST_COMPLETED)
                    for fut in done:
                        i, part = pending.pop(fut)
                        result, learnt = fut.result()
                        if learnt:
                            with lock:
                                relay.add(part, learnt)
                        results.put((i, result))
                        submit(part)
            except BrokenProcessPool:
                results.put(WorkerLost("a sweep worker process died (killed or out of memory)"))
            except BaseException as exc:  # a task's own error, handed to the caller's thread as it is
                results.put(exc)
            finally:
                results.put(None)

        thread = threading.Thread(target=dispatch, name="otaloop-sweep-dispatch", daemon=True)
        thread.start()
        running = True

        def received(block: bool) -> Iterator[tuple[int, Any]]:
            """Results of the spawned workers so far (with ``block``: all of them, until the last)."""
            nonlocal running
            while running:
                if not block and results.empty():
                    return
                got = results.get()
                if got is None:
                    running = False
                elif isinstance(got, BaseException):
                    raise got
                else:
                    yield got

        try:
            context = work.setup(work.payload)
            while True:
                yield from received(block=False)
                with lock:
                    i = shares.next(0)
                    due = relay.due(0) if relaying else None
                if i is None:
                    break
                if due and work.learn is not None:
                    work.learn(context, due)
                result = work.run(context, work.tasks[i])
                if work.learnt is not None:
                    learnt = work.learnt(context)
                    if relaying:
                        with lock:
                            relay.add(0, learnt)
                yield i, result
            yield from received(block=True)
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            thread.join()


#: The address schemes of Dask's comms that reach a scheduler over the network.
SCHEMES = ("tcp", "tls", "ws", "wss")
_HOST_PORT = re.compile(
    r"(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9][A-Za-z0-9.-]{0,252})):(?P<port>[0-9]{1,5})"
)


def scheduler_address(text: str) -> str:
    """The Dask scheduler address ``text`` names, in full (``tcp://HOST:PORT``).

    Args:
        text: ``SCHEME://HOST:PORT`` with a scheme of :data:`SCHEMES`, or ``HOST:PORT`` (tcp); HOST is a
            name, an IPv4 address or an IPv6 address in brackets; PORT is 1..65535.

    Returns:
        The address with its scheme.

    Raises:
        CallerError: anything else, saying what is wrong.
    """
    given = text.strip() if isinstance(text, str) else ""
    expected = f"expected SCHEME://HOST:PORT with SCHEME one of {', '.join(SCHEMES)}, e.g. tcp://10.0.0.5:8786"
    if not given:
        raise CallerError(f"--scheduler is empty: {expected}")
    scheme, sep, rest = given.partition("://")
    if not sep:
        scheme, rest = "tcp", given
    if scheme.lower() not in SCHEMES:
        raise CallerError(f"--scheduler {given[:200]!r}: unknown scheme {scheme[:40]!r}; {expected}")
    m = _HOST_PORT.fullmatch(rest)
    if m is None:
        raise CallerError(f"--scheduler {given[:200]!r}: {expected}")
    port = int(m["port"])
    if not 1 <= port <= 65535:
        raise CallerError(f"--scheduler {given[:200]!r}: port {port} is not 1..65535")
    host = f"[{m['ip6']}]" if m["ip6"] else m["host"]
    return f"{scheme.lower()}://{host}:{port}"


class DaskCluster:
    """The tasks on the ``dask.distributed`` scheduler at ``address`` (``tcp://host:8786``)."""

    def __init__(self, address: str, *, connect_timeout_s: float = 10.0) -> None:
        self.address = scheduler_address(address)
        if not 0 < connect_timeout_s <= 3600:
            raise CallerError(f"the connect timeout must be more than 0 and at most 3600 s, not {connect_timeout_s}")
        self.distributed: Any = load_distributed()
        self.connect_timeout_s = connect_timeout_s
        self._workers = 0

    def check_scheduler(self) -> None:
        """Ask the scheduler who it is (Dask's ``identity``), within the connect timeout.

        Dask's own connect bounds only the TCP connection: a server that accepts and then says nothing
        would hold it for ever, and one that sends other bytes makes it raise whatever its decoder hits
        (``MemoryError`` for a frame length of exabytes). Here the whole exchange runs on its own thread and
        event loop with one deadline.

        Raises:
            CallerError: nothing listens there, it did not answer in time, or it is not a Dask scheduler.
        """
        limit = self.connect_timeout_s
        where = f"the Dask scheduler at {self.address}"
        scheme, _, rest = self.address.partition("://")
        host, _, port = rest.rpartition(":")
        if scheme == "tcp":
            # A refused connection first, in its own words: Dask's connect retries it until its timeout, so
            # under load a closed port would read as a silent one.
            try:
                socket.create_connection((host.strip("[]"), int(port)), timeout=limit).close()
            except OSError as exc:
                raise CallerError(f"cannot reach {where}: {exc.strerror or exc}") from None
        core = importlib.import_module("distributed.core")
        outcome: list[Any] = []

        async def ask() -> Any:
            async with core.rpc(self.address, timeout=limit) as remote:
                return await remote.identity()

        def probe() -> None:
            try:
                outcome.append(asyncio.run(asyncio.wait_for(ask(), limit)))
            except BaseException as exc:  # handed to the caller's thread
                outcome.append(exc)

        thread = threading.Thread(target=probe, name="otaloop-dask-probe", daemon=True)
        thread.start()
        thread.join(limit + 5.0)  # wait_for ends it; this bounds even a decoder that ignores cancellation
        if thread.is_alive() or not outcome or isinstance(outcome[0], TimeoutError):
            raise CallerError(f"{where} did not answer within {limit:g} s")
        answer = outcome[0]
        if isinstance(answer, OSError):
            raise CallerError(f"cannot reach {where}: {answer}")
        if isinstance(answer, BaseException):
            raise CallerError(
                f"{self.address} does not speak Dask's protocol ({type(answer).__name__} while reading its answer): "
                "is that port a Dask scheduler?"
            )
        if not isinstance(answer, dict) or answer.get("type") != "Scheduler":
            raise CallerError(f"{self.address} answers Dask's protocol but is not a scheduler ({str(answer)[:80]})")

    @property
    def workers(self) -> int:
        return self._workers

    def run(self, work: Work[Any, Any, Any, R]) -> Iterator[tuple[int, R]]:
        dd = self.distributed
        self.check_scheduler()
        try:
            client = dd.Client(self.address, timeout=f"{self.connect_timeout_s}s")
        except (OSError, TimeoutError) as exc:
            raise CallerError(f"cannot reach the Dask scheduler at {self.address}: {exc}") from None
        except Exception as exc:  # a protocol failure: never a traceback (nor a MemoryError) for a wrong address
            raise CallerError(f"{self.address} does not speak Dask's protocol ({type(exc).__name__})") from None
        try:
            self._workers = len(client.scheduler_info().get("workers", {})) or 1
            payload = client.scatter(work.payload, broadcast=True)
            keys: dict[object, int] = {}
            futures = []
            for i, task in enumerate(work.tasks):
                fut = client.submit(
                    _dask_task, work.token, work.setup, work.run, work.learnt, payload, task, pure=False
                )
                keys[fut.key] = i
                futures.append(fut)
            for fut in dd.as_completed(futures):
                if fut.status == "error":
                    lost = fut.exception()
                    if type(lost).__name__ in ("KilledWorker", "CancelledError", "FutureCancelledError"):
                        raise WorkerLost(f"the Dask cluster lost a sweep task: {lost}")
                yield keys[fut.key], fut.result()
        finally:
            client.close()


def load_distributed() -> Any:
    """The ``distributed`` package, or a caller error that says how to install it."""
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise CallerError("--scheduler needs dask.distributed: pip install 'otaloop[distributed]'") from None


def executor_for(jobs: int | None, scheduler: str | None) -> Executor:
    """What ``--jobs`` and ``--scheduler`` ask for: a Dask cluster, ``jobs`` processes, or all cores."""
    if scheduler is not None:
        if jobs is not None:
            raise CallerError("--jobs and --scheduler exclude each other: the cluster decides how many workers run")
        return DaskCluster(scheduler)
    jobs = default_jobs() if jobs is None else jobs
    return InProcess() if jobs == 1 else Processes(jobs)
