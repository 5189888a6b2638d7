"""Run many independent tasks on local processes or a Dask cluster, results in task order.

Sweeps and the compression searches evaluate thousands of small tasks that share one large
object (a layer, a model and its data). :func:`run_tasks` ships that object to every worker
once, sends the tasks in batches (one message per batch, not per task, since a task can take
a millisecond), and returns the results in the order of the tasks whatever ran where.

>>> run_tasks(pow, [1, 2, 3], shared=2, workers=1)   # pow(shared, task)
[2, 4, 8]
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import re
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from eiesim.errors import EiesimError, MissingDependencyError, UsageError
from eiesim.progress import progress_bar

TaskFunction = Callable[[Any, Any], Any]
"""``function(shared, task) -> result``; module-level, so that worker processes can load it."""

BATCHES_PER_WORKER = 8
"""Batches each worker gets on average: few enough that messaging costs little per task,
enough that a slow batch does not leave the other workers idle at the end."""

PENDING_BATCHES_PER_WORKER = 2
"""Batches queued per worker while streaming: one running, one ready to start, so a worker
never waits for the parent, and memory holds only a few batches whatever the number of tasks."""

WORKER_EXIT_TIMEOUT_S = 10.0
"""How long a worker asked to end (SIGTERM) may take before it is killed."""

SCHEDULER_ADDRESS = re.compile(
    r"(?:(?:tcp|tls|ucx|ws|wss)://)?(?:\[[0-9a-fA-F:]+\]|[^\s/:\[\]]+):\d+/?|inproc://\S+")
"""What a Dask scheduler address looks like: [tcp://]HOST:PORT (or tls://, ucx://, ... or
inproc://...)."""


def run_tasks(function: TaskFunction, tasks: Sequence[Any], *, shared: Any = None,
              workers: int | None = None, client: Any = None, scheduler: str | None = None,
              progress: bool = False, desc: str = "eiesim", unit: str = "task",
              retries: int = 3, batch_size: int | None = None) -> list[Any]:
    """``[function(shared, task) for task in tasks]``, in parallel.

    ``workers`` local processes (default: all cores; 1 runs here, in this process), or a Dask
    ``client`` / ``scheduler`` address (``retries`` re-runs of a batch whose worker died).
    """
    tasks = list(tasks)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise UsageError(f"workers = {workers!r}; use a whole number of at least 1 process")
    distributed = client is not None or scheduler is not None
    count = workers or (os.cpu_count() or 1)
    if not distributed and (count == 1 or len(tasks) <= 1):
        return [function(shared, task)
                for task in progress_bar(tasks, total=len(tasks), desc=desc, unit=unit,
                                         enabled=progress)]
    if batch_size is None:
        batch_size = max(1, -(-len(tasks) // (count * BATCHES_PER_WORKER)))
    batches = [tasks[start:start + batch_size] for start in range(0, len(tasks), batch_size)]
    results: list[list[Any] | None] = [None] * len(batches)
    with ProgressCounter(len(tasks), progress, desc, unit) as counter:
        for position, batch_results in iter_batches(
                function, enumerate(batches), shared=shared, workers=count, client=client,
                scheduler=scheduler, retries=retries):
            results[position] = batch_results
            counter.advance(len(batch_results))
    return [result for batch in results for result in batch or []]


def iter_batches(function: TaskFunction, batches: Iterable[tuple[Any, list[Any]]], *,
                 shared: Any = None, workers: int | None = None, client: Any = None,
                 scheduler: str | None = None, retries: int = 3,
                 max_pending: int | None = None) -> Iterator[tuple[Any, list[Any]]]:
    """``(key, [function(shared, task) for task in batch])`` for each ``(key, batch)``, as the
    batches finish (not in order), on local processes or a Dask cluster.

    ``batches`` is consumed lazily: at most ``max_pending`` batches (default: two per worker
    process or Dask thread)
    are taken from it and not yet yielded, so a generator of a million tasks never sits in
    memory. Stopping the iteration early (``close()``, an exception, Ctrl-C) cancels what is
    queued and ends the local worker processes before it returns.

    >>> sorted(iter_batches(pow, [("a", [1, 2]), ("b", [3])], shared=2, workers=1))
    [('a', [2, 4]), ('b', [8])]
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise UsageError(f"workers = {workers!r}; use a whole number of at least 1 process")
    distributed = client is not None or scheduler is not None
    count = workers or (os.cpu_count() or 1)
    if distributed:
        yield from _iter_dask(function, iter(batches), shared, client, scheduler, retries,
                              max_pending)
    elif count == 1:
        for key, batch in batches:
            yield key, _run_batch(function, shared, batch)
    else:
        yield from _iter_local(function, iter(batches), shared, count,
                               max_pending or PENDING_BATCHES_PER_WORKER * count)


def _run_batch(function: TaskFunction, shared: Any, batch: list[Any]) -> list[Any]:
    return [function(shared, task) for task in batch]


# --- local processes ------------------------------------------------------------------------
_WORKER_STATE: tuple[TaskFunction, Any] | None = None


def _set_worker_state(function: TaskFunction, shared: Any) -> None:
    global _WORKER_STATE
    # Ctrl-C reaches the whole process group; the parent alone decides what happens (it ends
    # the workers itself), so a worker does not die half-way with a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_STATE = (function, shared)


def _run_batch_in_worker(batch: list[Any]) -> list[Any]:
    if _WORKER_STATE is None:
        raise RuntimeError("the worker's initializer did not run")
    function, shared = _WORKER_STATE
    return _run_batch(function, shared, batch)


def _iter_local(function: TaskFunction, batches: Iterator[tuple[Any, list[Any]]], shared: Any,
                workers: int, max_pending: int) -> Iterator[tuple[Any, list[Any]]]:
    head: tuple[Any, list[Any]] | None = None  # the first batch's first task, run here
    if multiprocessing.get_start_method() == "fork":
        # Forked workers inherit this process's memory, so the first task runs here before
        # the pool starts: the workers then find what it loaded (numba's compiled kernels
        # above all, which each worker would otherwise load from the cache again, a third of
        # a second apiece, as long as a whole 512-point sweep of the shipped layer takes one
        # worker) and its result joins its batch's. Other start methods gain nothing by it.
        item = next(batches, None)
        if item is None:
            return
        key, batch = item
        head = (key, [function(shared, batch[0])])
        if len(batch) == 1:
            yield head
            head = None
        else:
            batches = itertools.chain([(key, batch[1:])], batches)
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_set_worker_state,
                               initargs=(function, shared))
    pending: dict[Future, Any] = {}
    head_rest: Future | None = None
    finished = False
    try:
        exhausted = False
        while True:
            while not exhausted and len(pending) < max_pending:
                item = next(batches, None)
                if item is None:
                    exhausted = True
                    break
                key, batch = item
                future = pool.submit(_run_batch_in_worker, batch)
                pending[future] = key
                if head is not None and head_rest is None:
                    head_rest = future  # the rest of the batch whose first task ran here
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                key = pending.pop(future)
                if future is head_rest:
                    yield key, head[1] + future.result()
                else:
                    yield key, future.result()
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            _stop_pool(pool)


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """End the pool now: cancel the queued batches and end the running workers, instead of
    waiting for them to finish what they hold (minutes, on a big sweep). A second Ctrl-C while
    this runs is held back, so that no worker is left behind."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main_thread else None
    try:
        # The pool's own list of its processes: ProcessPoolExecutor has no public way to end
        # running workers before Python 3.14 (terminate_workers).
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(WORKER_EXIT_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join()
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous)


# --- Dask -----------------------------------------------------------------------------------
def check_scheduler_address(address: str) -> None:
    """Refuse an address that cannot be a Dask scheduler's before any work."""
    if not SCHEDULER_ADDRESS.fullmatch(address):
        hint = " (that is a web address, perhaps the dashboard's)" \
            if address.lower().startswith(("http://", "https://")) else ""
        raise UsageError(f"scheduler address {address!r} is not a Dask scheduler address"
                         f"{hint}; give tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786")


def _iter_dask(function: TaskFunction, batches: Iterator[tuple[Any, list[Any]]], shared: Any,
               client: Any, scheduler: str | None, retries: int,
               max_pending: int | None) -> Iterator[tuple[Any, list[Any]]]:
    own_client = client is None
    if own_client:
        client = connect_scheduler(scheduler)
    from dask.distributed import Future as DaskFuture
    from dask.distributed import as_completed

    pending: dict[str, tuple[Any, Any]] = {}  # Dask key -> (future, the caller's key)
    try:
        if max_pending is None:
            threads = sum(client.nthreads().values()) or 1
            max_pending = PENDING_BATCHES_PER_WORKER * threads
        # Scatter once: every batch refers to the same future instead of carrying a copy. A fresh
        # key (hash=False): a content-hashed key would be shared with the previous call's
        # scatter on the same client, whose release can delete the data under this call.
        shared_future = shared if isinstance(shared, DaskFuture) else \
            client.scatter(shared, broadcast=True, hash=False)  # a TaskPool scattered it once
        finished = as_completed()

        def submit_more() -> None:
            while len(pending) < max_pending:
                item = next(batches, None)
                if item is None:
                    return
                key, batch = item
                future = client.submit(_run_batch, function, shared_future, batch, pure=False,
                                       retries=retries)
                pending[future.key] = (future, key)
                finished.add(future)

        submit_more()
        while pending:
            future = next(finished)
            _, key = pending.pop(future.key)
            result = future.result()
            submit_more()
            yield key, result
    finally:
        if pending:
            # Stopped early: what is still queued is of no use to anyone.
            client.cancel([future for future, _ in pending.values()])
        if own_client:
            client.close()


class ProgressCounter:
    """A progress bar advanced by whole batches."""

    def __init__(self, total: int, enabled: bool, desc: str, unit: str) -> None:
        self._bar = progress_bar(None, total=total, desc=desc, unit=unit, enabled=enabled) \
            if enabled else None

    def advance(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def __enter__(self) -> ProgressCounter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.close()


# --- one pool for many calls ----------------------------------------------------------------
def connect_scheduler(scheduler: str | None) -> Any:
    """A Dask client of the scheduler at ``scheduler`` (the one place that connects)."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise MissingDependencyError("distributed runs need dask.distributed, which is not "
                                     "installed; install it with pip install "
                                     "'eiesim[dask]'") from None
    if scheduler is not None:
        check_scheduler_address(scheduler)
    try:
        return Client(scheduler, timeout="30s")
    except (OSError, TimeoutError, ValueError) as error:
        raise EiesimError(f"cannot reach the Dask scheduler at {scheduler!r} ({error}); "
                          f"check the address (e.g. tcp://127.0.0.1:8786)") from None


class TaskPool:
    """Workers kept alive across calls, with ``shared`` sent to each of them once.

    ``pool.run(function, tasks)`` is ``run_tasks(function, tasks, shared=shared, ...)`` without
    starting processes or shipping ``shared`` again: a search makes dozens of such calls on one
    model and data set. Made by :func:`task_pool`."""

    def __init__(self, shared: Any, workers: int, client: Any) -> None:
        self.shared = shared
        self.workers = workers
        self.client = client
        self._processes: ProcessPoolExecutor | None = None
        self._shared_future: Any = None

    def run(self, function: TaskFunction, tasks: Sequence[Any], *, progress: bool = False,
            desc: str = "eiesim", unit: str = "task", retries: int = 3) -> list[Any]:
        """``[function(shared, task) for task in tasks]``, results in task order."""
        tasks = list(tasks)
        if self.client is None and (self.workers == 1 or len(tasks) <= 1):
            return [function(self.shared, task)
                    for task in progress_bar(tasks, total=len(tasks), desc=desc, unit=unit,
                                             enabled=progress)]
        size = max(1, -(-len(tasks) // (self.workers * BATCHES_PER_WORKER)))
        batches = [tasks[start:start + size] for start in range(0, len(tasks), size)]
        results: list[list[Any] | None] = [None] * len(batches)
        with ProgressCounter(len(tasks), progress, desc, unit) as counter:
            if self.client is not None:
                if self._shared_future is None:
                    self._shared_future = self.client.scatter(self.shared, broadcast=True,
                                                              hash=False)
                for position, batch_results in _iter_dask(
                        function, iter(enumerate(batches)), self._shared_future, self.client,
                        None, retries, None):
                    results[position] = batch_results
                    counter.advance(len(batch_results))
            else:
                if self._processes is None:
                    self._processes = ProcessPoolExecutor(max_workers=self.workers,
                                                          initializer=_set_pool_shared,
                                                          initargs=(self.shared,))
                futures = [self._processes.submit(_run_pool_batch, function, batch)
                           for batch in batches]
                for position, future in enumerate(futures):
                    results[position] = future.result()
                    counter.advance(len(results[position]))
        return [result for batch in results for result in batch or []]

    def close(self) -> None:
        """Stop the worker processes (a client given by the caller stays open)."""
        if self._processes is not None:
            self._processes.shutdown(cancel_futures=True)
            self._processes = None
        if self._shared_future is not None:
            self._shared_future.release()
            self._shared_future = None


@contextmanager
def task_pool(shared: Any = None, *, workers: int | None = None, client: Any = None,
              scheduler: str | None = None) -> Iterator[TaskPool]:
    """A :class:`TaskPool` for the ``with`` block: ``workers`` local processes (default: all
    cores; 1 runs in this process), or a Dask ``client`` / ``scheduler`` address (a client made
    here is closed at the end).

    >>> with task_pool(3, workers=1) as pool:
    ...     pool.run(pow, [1, 2]), pool.run(pow, [3])
    ([3, 9], [27])
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise UsageError(f"workers = {workers!r}; use a whole number of at least 1 process")
    own_client = client is None and scheduler is not None
    if own_client:
        client = connect_scheduler(scheduler)
    pool = TaskPool(shared, workers or (os.cpu_count() or 1), client)
    try:
        yield pool
    finally:
        pool.close()
        if own_client:
            client.close()


_POOL_SHARED: Any = None


def _set_pool_shared(shared: Any) -> None:
    global _POOL_SHARED
    _POOL_SHARED = shared


def _run_pool_batch(function: TaskFunction, batch: list[Any]) -> list[Any]:
    return _run_batch(function, _POOL_SHARED, batch)
