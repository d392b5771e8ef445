"""Where a sweep's work runs: in this process, in local worker processes, or on a Dask distributed cluster.

A sweep is cut into :class:`Work`: one ``payload`` (what every worker needs: the recorded update, the cut
modes ...), a ``setup`` function that turns it into a worker context (a flash cursor, a verdict cache) once
per worker, and ``tasks`` (ranges of operations) that ``run(context, task)`` judges. Every executor
yields ``(task index, result)`` pairs as tasks finish; the caller sorts them, so the outcome of a sweep
never depends on how many workers ran it or in which order they finished.

* :class:`InProcess` runs the tasks in order in this process (``--jobs 1``);
* :class:`Processes` runs them on ``jobs`` local worker processes (``--jobs N``, the default is all
  cores); the payload is sent once per worker, each task sends only its range. Each worker takes a
  contiguous share of the tasks in order (:class:`Shares`), and a worker that runs out takes the back half
  of the largest share left: neighbouring tasks cut neighbouring flash states, so a worker's verdict
  cache keeps meeting what it has learnt, and two workers do not both judge every phase of a sweep;
* :class:`DaskCluster` runs them on a ``dask.distributed`` scheduler (``--scheduler ADDRESS``): the payload
  is scattered to every worker once, then one task per range. Dask is an optional extra
  (``pip install 'otaloop[distributed]'``); the workers must be able to import ``harness``.

``setup``, ``run`` and everything in a task must be picklable (module-level functions, plain data). This
module knows nothing about flash or verdicts, and it does not split a sweep into tasks (the sweeps do).
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import threading
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


def _install(token: str, setup: Callable[[Any], Any], payload: Any) -> None:
    _installed.clear()
    _installed[token] = (setup, payload)


def _pool_task(token: str, run: Callable[[Any, Any], Any], task: Any) -> Any:
    setup, payload = _installed[token]
    return run(_context(token, setup, payload), task)


def _dask_task(token: str, setup: Callable[[Any], Any], run: Callable[[Any, Any], Any], payload: Any, task: Any) -> Any:
    return run(_context(token, setup, payload), task)


# ------------------------------------------------------------------------------------- executors


class InProcess:
    """Every task in order, in this process."""

    workers = 1

    def run(self, work: Work[Any, Any, Any, R]) -> Iterator[tuple[int, R]]:
        context = work.setup(work.payload)
        for i, task in enumerate(work.tasks):
            yield i, work.run(context, task)


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


class Processes:
    """``jobs`` local worker processes (spawned, so they share nothing with this process but the payload)."""

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
            max_workers=jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_install,
            initargs=(work.token, work.setup, work.payload),
        )
        try:
            # One task in flight per worker: when a task of share p finishes, its worker is the one idle
            # worker, so the next task of share p goes to the same worker (and its cache), in increasing
            # order, and its flash cursor mostly moves forward.
            shares = Shares(len(work.tasks), jobs)
            pending: dict[Future[R], tuple[int, int]] = {}

            def submit(part: int) -> None:
                i = shares.next(part)
                if i is not None:
                    pending[pool.submit(_pool_task, work.token, work.run, work.tasks[i])] = (i, part)

            for part in range(jobs):
                submit(part)
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i, part = pending.pop(fut)
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        raise WorkerLost("a sweep worker process died (killed or out of memory)") from None
                    submit(part)
                    yield i, result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class DaskCluster:
    """The tasks on the ``dask.distributed`` scheduler at ``address`` (``tcp://host:8786``)."""

    def __init__(self, address: str, *, connect_timeout_s: float = 10.0) -> None:
        self.distributed: Any = load_distributed()
        self.address = address
        self.connect_timeout_s = connect_timeout_s
        self._workers = 0

    @property
    def workers(self) -> int:
        return self._workers

    def run(self, work: Work[Any, Any, Any, R]) -> Iterator[tuple[int, R]]:
        dd = self.distributed
        try:
            client = dd.Client(self.address, timeout=f"{self.connect_timeout_s}s")
        except (OSError, TimeoutError) as exc:
            raise CallerError(f"cannot reach the Dask scheduler at {self.address}: {exc}") from None
        try:
            self._workers = len(client.scheduler_info().get("workers", {})) or 1
            payload = client.scatter(work.payload, broadcast=True)
            keys: dict[object, int] = {}
            futures = []
            for i, task in enumerate(work.tasks):
                fut = client.submit(_dask_task, work.token, work.setup, work.run, payload, task, pure=False)
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
