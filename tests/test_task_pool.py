"""One pool for many calls (eiesim.explore.executor.task_pool): results in task order, the same
worker processes across calls, the shared object read by every task, and a clean shutdown."""

from __future__ import annotations

import os

import pytest

from eiesim.errors import UsageError
from eiesim.explore.executor import task_pool


def scaled_with_pid(shared: int, task: int) -> tuple[int, int]:
    return shared * task, os.getpid()


def test_calls_share_the_workers_and_keep_task_order():
    with task_pool(3, workers=2) as pool:
        first = pool.run(scaled_with_pid, range(40))
        second = pool.run(scaled_with_pid, range(40, 60))
        processes = pool._processes
    assert [value for value, _ in first] == [3 * t for t in range(40)]
    assert [value for value, _ in second] == [3 * t for t in range(40, 60)]
    pids = {pid for _, pid in first + second}
    assert os.getpid() not in pids
    assert len(pids) <= 2  # the two calls ran on the same two processes, not four
    assert processes is not None and pool._processes is None  # shut down at the end


def test_one_worker_runs_in_this_process():
    with task_pool(2, workers=1) as pool:
        results = pool.run(scaled_with_pid, [1, 2, 3])
    assert results == [(2, os.getpid()), (4, os.getpid()), (6, os.getpid())]


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_a_bad_worker_count_is_a_usage_error(workers):
    with pytest.raises(UsageError, match="workers = "):
        with task_pool(1, workers=workers):
            pass


@pytest.mark.slow  # starts an in-process Dask cluster
def test_dask_client_pool_scatters_once_and_keeps_order():
    distributed = pytest.importorskip("dask.distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address=None, timeout="120s") as client:
        with task_pool(5, client=client) as pool:
            first = pool.run(scaled_with_pid, range(10))
            scattered = pool._shared_future
            second = pool.run(scaled_with_pid, range(10, 13))
            assert pool._shared_future is scattered  # the shared object went out once
        assert [v for v, _ in first + second] == [5 * t for t in range(13)]
        assert client.status == "running"  # a client the caller gave stays open
