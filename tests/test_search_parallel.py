"""A search is reproducible whatever runs it: the same seed writes byte-identical CSV and network
files in one process, on two or three worker processes (one pool for the whole search), and
the pool is started once per search, not once per batch of work."""

from __future__ import annotations

import numpy as np
import pytest

from eiesim.explore import executor
from eiesim.search import SearchSettings, search
from eiesim.search.model import Dataset
from eiesim.search.train import init_mlp, train
from eiesim.spec import HardwareSpec

SPEC = HardwareSpec(num_pes=4)
# A two-density grid: the chosen network sits at its edge, which the search says (and tests
# elsewhere check); here only the worker count is at issue.
pytestmark = pytest.mark.filterwarnings(
    "ignore:the best network of the grid has layers at its lowest density")

SETTINGS = SearchSettings(objective="cycles", max_accuracy_drop=0.05, densities=(0.2, 0.5),
                          thresholds=(0.02,), drop_budget_factors=(1.0,), netadapt_step=0.2,
                          netadapt_max_iterations=2, amc_budgets=(0.3, 0.6),
                          amc_population=3, amc_generations=2, long_epochs=1, prune_steps=1,
                          timing_inputs=1)


@pytest.fixture(scope="module")
def small():
    """A 20-12-4 MLP on a seeded synthetic task (no optional packages needed)."""
    rng = np.random.default_rng(0)
    centres = rng.random((4, 20))
    labels = rng.integers(0, 4, 500)
    inputs = np.clip(centres[labels] + 0.25 * rng.standard_normal((500, 20)), 0, 1)
    inputs = np.round(inputs * 16) / 16  # exact in fixed point
    # train / test / validation: the search decides on data the model was not trained on
    data = Dataset(inputs[:300], labels[:300], inputs[300:400], labels[300:400],
                   val_inputs=inputs[400:], val_labels=labels[400:])
    model = train(init_mlp([20, 12, 4], seed=0), data.train_inputs, data.train_labels,
                  epochs=15, seed=0)
    return model, data


def written_files(model, data, tmp_path, name, **where):
    result = search(model, data, SPEC, SETTINGS, **where)
    network, report = tmp_path / f"{name}.npz", tmp_path / f"{name}.csv"
    result.write(network, report)
    return network.read_bytes(), report.read_bytes()


@pytest.mark.slow
def test_the_same_seed_writes_identical_files_whatever_the_worker_count(small, tmp_path):
    model, data = small
    alone = written_files(model, data, tmp_path, "one", workers=1)
    assert written_files(model, data, tmp_path, "two", workers=2) == alone
    assert written_files(model, data, tmp_path, "three", workers=3) == alone


def test_one_pool_serves_the_whole_search(small, monkeypatch):
    model, data = small
    started = []
    real = executor.ProcessPoolExecutor

    def counting(*args, **kwargs):
        started.append(kwargs.get("max_workers"))
        return real(*args, **kwargs)

    monkeypatch.setattr(executor, "ProcessPoolExecutor", counting)
    search(model, data, SPEC, SETTINGS, workers=2)
    assert started == [2]
