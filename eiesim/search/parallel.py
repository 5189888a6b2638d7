"""The searches' evaluations, in parallel on local processes or a Dask cluster, in task order.

A thin layer over :func:`eiesim.explore.executor.task_pool` (the executor the sweeps use): the
searches call ``evaluator.map(function, tasks)`` and get ``[function(context, task) ...]`` in
task order whatever ran where, so a search is deterministic under its seed however many workers
it has. One pool serves the whole search: the shared read-only state (the model, the data, the
spec: a :class:`~eiesim.search.tasks.SearchContext`) goes to each worker once per search.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from typing import Any

from eiesim.explore.executor import task_pool


def single_threaded_blas() -> Any:
    """A context limiting BLAS to one thread (threadpoolctl, when installed).

    The networks are small: with several BLAS threads per process on a shared machine, each
    fine-tuning step spends more time synchronising threads than multiplying (measured 5x
    slower on 2 cores); parallelism comes from the worker processes instead."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl ships with scikit-learn; without it, BLAS as it is
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _single_threaded(function: Callable[[Any, Any], Any], context: Any, task: Any) -> Any:
    with single_threaded_blas():
        return function(context, task)


class Evaluator:
    """``map(function, tasks)`` -> ``[function(context, task) for task in tasks]``.

    ``workers`` local processes (1, the default, runs in this process; None: all cores), or a
    Dask ``scheduler`` address or ``client``. One pool serves every map of the search
    (:func:`eiesim.explore.executor.task_pool`): the processes start once and the context
    reaches each of them once, at the first map that needs them. ``progress_bars``: a bar on a
    terminal for each long map (the executor's, shown after a couple of seconds)."""

    def __init__(self, context: Any, *, workers: int | None = 1, scheduler: str | None = None,
                 client: Any = None, progress_bars: bool = False) -> None:
        self.context = context
        self.progress_bars = progress_bars
        self._stack = contextlib.ExitStack()
        self._pool = self._stack.enter_context(
            task_pool(context, workers=workers, client=client, scheduler=scheduler))

    @property
    def workers(self) -> int:
        """Worker processes (the cores of a Dask cluster are not counted here)."""
        return self._pool.workers

    def map(self, function: Callable[[Any, Any], Any], tasks: Sequence[Any],
            progress: Callable[[int], None] | None = None, desc: str = "") -> list[Any]:
        """Results in task order; ``progress(len(tasks))`` once they are all in."""
        tasks = list(tasks)
        results = self._pool.run(functools.partial(_single_threaded, function), tasks,
                                 progress=self.progress_bars,
                                 desc=f"eiesim search{': ' + desc if desc else ''}",
                                 unit="net")
        if progress is not None:
            progress(len(tasks))
        return results

    def close(self) -> None:
        """Stop the workers (a client given by the caller stays open)."""
        self._stack.close()

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
