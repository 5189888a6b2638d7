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
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
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
        from dask.distributed import Client, as_completed
    except ImportError:
        raise MissingDependencyError("distributed runs need dask.distributed, which is not "
                                     "installed; install it with pip install "
                                     "'eiesim[dask]'") from None
    own_client = client is None
    if own_client:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as error:
            raise EiesimError(f"cannot reach the Dask scheduler at {scheduler!r} ({error}); "
                              f"check the address (e.g. tcp://127.0.0.1:8786)") from None
    try:
        # Scatter once: every batch refers to the same future instead of carrying a copy. A fresh
        # key (hash=False): a content-hashed key would be shared with the previous call's
        # scatter on the same client, whose release can delete the data under this call.
        shared_future = client.scatter(shared, broadcast=True, hash=False)
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
