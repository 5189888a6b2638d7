"""Run many independent tasks on local processes or a Dask cluster, results in task order.

Sweeps and the compression searches evaluate thousands of small tasks that share one large
object (a layer, a model and its data). :func:`run_tasks` ships that object to every worker
once, sends the tasks in batches (one message per batch, not per task, since a task can take
a millisecond), and returns the results in the order of the tasks whatever ran where.

>>> run_tasks(pow, [1, 2, 3], shared=2, workers=1)   # pow(shared, task)
[2, 4, 8]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from eiesim.errors import EiesimError, MissingDependencyError, UsageError
from eiesim.progress import progress_bar

TaskFunction = Callable[[Any, Any], Any]
"""``function(shared, task) -> result``; module-level, so that worker processes can load it."""

BATCHES_PER_WORKER = 8
"""Batches each worker gets on average: few enough that messaging costs little per task,
enough that a slow batch does not leave the other workers idle at the end."""


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
    if distributed:
        results = _run_dask(function, batches, shared, client, scheduler, retries, progress,
                            desc, unit, len(tasks))
    else:
        results = _run_local(function, batches, shared, count, progress, desc, unit, len(tasks))
    return [result for batch in results for result in batch]


def _run_batch(function: TaskFunction, shared: Any, batch: list[Any]) -> list[Any]:
    return [function(shared, task) for task in batch]


# --- local processes ------------------------------------------------------------------------
_WORKER_STATE: tuple[TaskFunction, Any] | None = None


def _set_worker_state(function: TaskFunction, shared: Any) -> None:
    global _WORKER_STATE
    _WORKER_STATE = (function, shared)


def _run_batch_in_worker(batch: list[Any]) -> list[Any]:
    if _WORKER_STATE is None:
        raise RuntimeError("the worker's initializer did not run")
    function, shared = _WORKER_STATE
    return _run_batch(function, shared, batch)


def _run_local(function: TaskFunction, batches: list[list[Any]], shared: Any, workers: int,
               progress: bool, desc: str, unit: str, total: int) -> list[list[Any]]:
    with ProcessPoolExecutor(max_workers=min(workers, len(batches)),
                             initializer=_set_worker_state, initargs=(function, shared)) as pool:
        futures = [pool.submit(_run_batch_in_worker, batch) for batch in batches]
        with _Counter(total, progress, desc, unit) as counter:
            results = []
            for future in futures:
                results.append(future.result())
                counter.advance(len(results[-1]))
    return results


# --- Dask -----------------------------------------------------------------------------------
def _run_dask(function: TaskFunction, batches: list[list[Any]], shared: Any, client: Any,
              scheduler: str | None, retries: int, progress: bool, desc: str, unit: str,
              total: int) -> list[list[Any]]:
    try:
        from dask.distributed import Future, as_completed
    except ImportError:
        raise MissingDependencyError("distributed runs need dask.distributed, which is not "
                                     "installed; install it with pip install "
                                     "'eiesim[dask]'") from None
    own_client = client is None
    if own_client:
        client = connect_scheduler(scheduler)
    try:
        # Scatter once: every batch refers to the same future instead of carrying a copy. A fresh
        # key (hash=False): a content-hashed key would be shared with the previous call's
        # scatter on the same client, whose release can delete the data under this call.
        shared_future = shared if isinstance(shared, Future) else \
            client.scatter(shared, broadcast=True, hash=False)  # a TaskPool scattered it once
        futures = [client.submit(_run_batch, function, shared_future, batch, pure=False,
                                 retries=retries) for batch in batches]
        position = {future.key: index for index, future in enumerate(futures)}
        results: list[list[Any] | None] = [None] * len(futures)
        with _Counter(total, progress, desc, unit) as counter:
            for future in as_completed(futures):
                batch_result = future.result()
                results[position[future.key]] = batch_result
                counter.advance(len(batch_result))
        return [batch for batch in results if batch is not None]
    finally:
        if own_client:
            client.close()


class _Counter:
    """A progress bar advanced by whole batches."""

    def __init__(self, total: int, enabled: bool, desc: str, unit: str) -> None:
        self._bar = progress_bar(None, total=total, desc=desc, unit=unit, enabled=enabled) \
            if enabled else None

    def advance(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def __enter__(self) -> _Counter:
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
    try:
        return Client(scheduler, timeout="30s")
    except (OSError, TimeoutError) as error:
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
        if self.client is not None:
            if self._shared_future is None:
                self._shared_future = self.client.scatter(self.shared, broadcast=True,
                                                          hash=False)
            results = _run_dask(function, batches, self._shared_future, self.client, None,
                                retries, progress, desc, unit, len(tasks))
        else:
            if self._processes is None:
                self._processes = ProcessPoolExecutor(max_workers=self.workers,
                                                      initializer=_set_pool_shared,
                                                      initargs=(self.shared,))
            futures = [self._processes.submit(_run_pool_batch, function, batch)
                       for batch in batches]
            results = []
            with _Counter(len(tasks), progress, desc, unit) as counter:
                for future in futures:
                    results.append(future.result())
                    counter.advance(len(results[-1]))
        return [result for batch in results for result in batch]

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
