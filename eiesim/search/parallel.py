"""The searches' evaluations, in parallel on local processes or a Dask cluster, in task order.

A thin layer over :func:`eiesim.explore.executor.run_tasks` (the executor the sweeps use): the
searches call ``evaluator.map(function, tasks)`` and get ``[function(context, task) ...]`` in
task order whatever ran where, so a search is deterministic under its seed however many workers
it has. The shared read-only state (the model, the data, the spec: a
:class:`~eiesim.search.tasks.SearchContext`) goes to each worker once per call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from eiesim.errors import EiesimError, MissingDependencyError
from eiesim.explore.executor import run_tasks


def single_threaded_blas() -> Any:
    """A context limiting BLAS to one thread (threadpoolctl, when installed).

    The networks are small: with several BLAS threads per process on a shared machine, each
    fine-tuning step spends more time synchronising threads than multiplying (measured 5x
    slower on 2 cores); parallelism comes from the worker processes instead."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl ships with scikit-learn; without it, BLAS as it is
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _single_threaded(function: Callable[[Any, Any], Any], context: Any, task: Any) -> Any:
    with single_threaded_blas():
        return function(context, task)


class Evaluator:
    """``map(function, tasks)`` -> ``[function(context, task) for task in tasks]``.

    ``workers`` local processes (1, the default, runs in this process; None: all cores), or a
    Dask ``scheduler`` address or ``client``. ``progress_bars``: a bar on a terminal for each
    long map (the executor's, shown after a couple of seconds)."""

    def __init__(self, context: Any, *, workers: int | None = 1, scheduler: str | None = None,
                 client: Any = None, progress_bars: bool = False) -> None:
        self.context = context
        self.workers = workers
        self.client = client
        self.progress_bars = progress_bars
        self._own_client = False
        if scheduler is not None and client is None:
            # One connection for the whole search, not one per map.
            try:
                from dask.distributed import Client
            except ImportError:
                raise MissingDependencyError("a Dask scheduler needs dask.distributed, which is "
                                             "not installed; install it with pip install "
                                             "'eiesim[dask]'") from None
            try:
                self.client = Client(scheduler, timeout="30s")
            except (OSError, TimeoutError) as error:
                raise EiesimError(f"cannot reach the Dask scheduler at {scheduler!r} ({error}); "
                                  f"check the address (e.g. tcp://127.0.0.1:8786)") from None
            self._own_client = True

    def map(self, function: Callable[[Any, Any], Any], tasks: Sequence[Any],
            progress: Callable[[int], None] | None = None, desc: str = "") -> list[Any]:
        """Results in task order; ``progress(len(tasks))`` once they are all in."""
        tasks = list(tasks)
        results = run_tasks(functools.partial(_single_threaded, function), tasks,
                            shared=self.context, workers=self.workers, client=self.client,
                            progress=self.progress_bars,
                            desc=f"eiesim search{': ' + desc if desc else ''}", unit="net")
        if progress is not None:
            progress(len(tasks))
        return results

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._own_client and self.client is not None:
            self.client.close()
            self.client = None
