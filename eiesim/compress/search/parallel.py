"""Run many independent evaluations on local processes or a Dask cluster, results in order.

One small object, :class:`Evaluator`, sits between the searches and the machines: the searches
call ``evaluator.map(function, tasks)`` and get the results in task order whatever ran where,
so a search is deterministic under its seed however many workers it has. The shared read-only
state (the model, the data, the spec: a :class:`~eiesim.compress.search.tasks.SearchContext`)
is sent once per worker (a process-pool initializer, or one Dask scatter), not with every task.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from eiesim.errors import EiesimError

_WORKER_CONTEXT: Any = None


def single_threaded_blas() -> Any:
    """A context limiting BLAS to one thread (threadpoolctl, when installed).

    The networks are small: with several BLAS threads per process on a shared machine, each
    fine-tuning step spends more time synchronising threads than multiplying (measured 5x
    slower on 2 cores); parallelism comes from the worker processes instead."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _set_worker_context(context: Any) -> None:
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = context
    single_threaded_blas()  # kept for the life of the worker process


def _call_in_worker(function: Callable[[Any, Any], Any], task: Any) -> Any:
    return function(_WORKER_CONTEXT, task)


def _call_single_threaded(function: Callable[[Any, Any], Any], context: Any, task: Any) -> Any:
    """A Dask task: the worker's BLAS threads are not ours to keep limited, so limit per task."""
    with single_threaded_blas():
        return function(context, task)


class Evaluator:
    """``map(function, tasks)`` -> ``[function(context, task) for task in tasks]``, in parallel.

    ``workers`` local processes (1, the default, runs in this process), or a Dask ``scheduler``
    address (or a ``client``). Use as a context manager so the pool or client is closed.
    """

    def __init__(self, context: Any, *, workers: int = 1, scheduler: str | None = None,
                 client: Any = None) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise EiesimError(f"workers = {workers!r} must be a whole number >= 1 of local "
                              f"processes (the machine has {os.cpu_count()} cores)")
        self.context = context
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._client = client
        self._own_client = False
        self._context_future: Any = None
        if scheduler is not None and client is None:
            try:
                from dask.distributed import Client
            except ImportError:
                raise EiesimError("a Dask scheduler needs dask.distributed; install it with "
                                  "pip install 'eiesim[dist]'") from None
            try:
                self._client = Client(scheduler, timeout="30s")
            except OSError as error:
                raise EiesimError(f"cannot reach the Dask scheduler at {scheduler!r} ({error}); "
                                  f"check the address (e.g. tcp://127.0.0.1:8786)") from None
            self._own_client = True
        if self._client is not None:
            self._context_future = self._client.scatter(context, broadcast=True)
        elif workers > 1:
            self._pool = ProcessPoolExecutor(max_workers=workers,
                                             initializer=_set_worker_context,
                                             initargs=(context,))

    def map(self, function: Callable[[Any, Any], Any], tasks: Sequence[Any],
            progress: Callable[[int], None] | None = None) -> list[Any]:
        """Results of ``function(context, task)`` in task order; ``progress(1)`` per result."""
        tasks = list(tasks)
        if self._client is not None:
            futures = [self._client.submit(_call_single_threaded, function,
                                           self._context_future, task, pure=False)
                       for task in tasks]
            results = []
            for future in futures:
                results.append(future.result())
                if progress is not None:
                    progress(1)
            return results
        if self._pool is not None and len(tasks) > 1:
            futures = [self._pool.submit(_call_in_worker, function, task) for task in tasks]
            results = []
            for future in futures:
                results.append(future.result())
                if progress is not None:
                    progress(1)
            return results
        results = []
        for task in tasks:
            results.append(function(self.context, task))
            if progress is not None:
                progress(1)
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._own_client and self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
