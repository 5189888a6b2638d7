"""Local worker processes of eiesim.explore.executor: results in task order whatever ran where,
and, where workers are forked, the first task run in this process first (so the workers inherit
what it loaded, numba's kernels above all)."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from eiesim.explore.executor import iter_batches, run_tasks


def scaled_with_pid(shared: int, task: int) -> tuple[int, int]:
    return shared * task, os.getpid()


forked = pytest.mark.skipif(multiprocessing.get_start_method() != "fork",
                            reason="workers are forked only where fork is the start method")


@forked
def test_the_first_task_runs_here_and_the_rest_on_the_workers():
    results = run_tasks(scaled_with_pid, list(range(50)), shared=3, workers=2, batch_size=5)
    assert [value for value, _ in results] == [3 * task for task in range(50)]
    pids = [pid for _, pid in results]
    assert pids[0] == os.getpid()
    assert os.getpid() not in pids[1:]


@forked
@pytest.mark.parametrize("first_batch", [[7], [7, 8, 9]])
def test_the_first_batch_comes_back_whole(first_batch):
    batches = [("first", first_batch), ("second", [1, 2])]
    results = dict(iter_batches(scaled_with_pid, iter(batches), shared=2, workers=2))
    assert [value for value, _ in results["first"]] == [2 * task for task in first_batch]
    assert [value for value, _ in results["second"]] == [2, 4]
    assert results["first"][0][1] == os.getpid()


def test_no_batches_start_no_pool():
    assert list(iter_batches(scaled_with_pid, iter([]), shared=1, workers=2)) == []
