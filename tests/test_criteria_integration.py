"""The criteria as methods of the network-level API, ``eiesim search --method`` and (OBS)
``eiesim compress --method``."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eiesim.cli.search import _methods
from eiesim.compress.obs import obs_prune_layer
from eiesim.compress.pipeline import compress_arrays
from eiesim.search import SearchError, SearchSettings, search
from eiesim.search.compression import PRUNING_METHODS, prune_masks
from eiesim.search.criteria import CRITERIA, CriterionError, CriterionSettings, prune_network
from eiesim.search.model import Dataset, load_data, save_model
from eiesim.search.tasks import SearchWarning
from eiesim.search.train import init_mlp, train
from eiesim.spec import HardwareSpec

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "digits_data.npz"
NAMES = ("obd", "obs", "snip", "l1", "group_lasso", "hoyer", "l0", "variational_dropout",
         "gradual", "lottery", "lottery_reinit")
QUICK = CriterionSettings(epochs=2, sample_size=64, rewind_iteration=2, lottery_rounds=2,
                          obs_rounds=2)


def eiesim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "eiesim.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def small():
    data = load_data(DATA)
    data = Dataset(data.train_inputs[:300], data.train_labels[:300], data.test_inputs[:60],
                   data.test_labels[:60])
    model = train(init_mlp([64, 16, 10], seed=0), data.train_inputs, data.train_labels,
                  epochs=10, seed=1)
    return model, data


def test_every_criterion_name_is_registered_and_a_search_method():
    assert tuple(CRITERIA) == NAMES
    assert set(NAMES) <= set(PRUNING_METHODS)
    assert _methods(",".join(NAMES)) == NAMES
    with pytest.raises(argparse.ArgumentTypeError, match="lottery_reinit"):
        _methods("obd,optimal_brain_damage")
    with pytest.raises(SearchError, match="variational_dropout"):
        SearchSettings(methods=("dropout",))


@pytest.mark.parametrize("method", NAMES)
def test_prune_masks_dispatches_to_the_criterion(small, method):
    model, data = small
    masks = prune_masks(model, [0.3, 0.8], method, num_pes=4, seed=1, data=data,
                        criterion_settings=QUICK)
    expected = prune_network(model, [0.3, 0.8], method, data=data, settings=QUICK, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(masks, expected.masks))


def test_prune_masks_without_data_is_a_one_line_error(small):
    model, _ = small
    with pytest.raises(CriterionError, match="method 'obs' needs training data") as error:
        prune_masks(model, [0.3, 0.8], "obs", num_pes=4)
    assert "\n" not in str(error.value)


def test_a_search_runs_with_criteria(small):
    model, data = small
    settings = SearchSettings(methods=("obd", "gradual"), strategies=("uniform",),
                              densities=(0.3,), long_epochs=1, prune_steps=1,
                              timing_inputs=1, validation_fraction=0.2,
                              max_accuracy_drop=0.99)
    with pytest.warns(SearchWarning) as caught:  # a carved split, a one-point grid: both said
        result = search(model, data, HardwareSpec(num_pes=4), settings)
    said = " ".join(str(w.message) for w in caught)
    assert "honest only if the model was not trained" in said and "lowest density" in said
    table = result.table
    # the grid's one density, with each criterion (the edge's rows below it come on top)
    uniform = table[(table["strategy"] == "uniform") & np.isclose(table["density"], 0.3,
                                                                  atol=0.01)]
    assert sorted(uniform["method"]) == ["gradual", "obd"]


@pytest.mark.slow
def test_eiesim_search_takes_a_criterion(small, tmp_path):
    model, data = small
    save_model(tmp_path / "model.npz", model)
    done = eiesim("search", "model.npz", "--data", str(DATA), "--objective", "cycles",
                  "--max-accuracy-drop", "0.05", "--method", "obd", "--pes", "4",
                  "--workers", "1", "-o", "net.npz", "--report", "front.csv",
                  "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    front = pd.read_csv(tmp_path / "front.csv")
    assert set(front["method"]) == {"none", "obd", "magnitude"}  # global pruning: magnitude


def test_eiesim_search_rejects_an_unknown_method_in_one_line(tmp_path):
    done = eiesim("search", "m.npz", "--data", "d.npz", "--objective", "cycles",
                  "--max-accuracy-drop", "0.01", "--method", "obd,hessian", "-o", "n.npz",
                  "--report", "f.csv", cwd=tmp_path)
    assert done.returncode == 2 and "lottery_reinit" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_eiesim_compress_runs_obs_on_the_inputs_it_is_given(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 32))
    w, bias = rng.normal(size=(16, 32)), rng.normal(size=16)
    np.savez(tmp_path / "in.npz", weights=w, bias=bias, activations=x[0], inputs=x)
    done = eiesim("compress", "in.npz", "--method", "obs", "--density", "0.25", "--json",
                  "-o", "out.npz", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[0])
    assert summary["method"] == "obs" and summary["kept_weights"] == 128
    # The layer file holds OBS's pruning (with the refit bias), weight-shared.
    arrays = compress_arrays(w, bias, method="obs", density=0.25, bits=4, inputs=x)
    pruned, _, mask = obs_prune_layer(w, x, 0.25, bias=bias)
    with np.load(tmp_path / "out.npz") as layer:
        assert np.array_equal(layer["codes"] != 0, mask)
        assert np.array_equal(layer["codes"], arrays["codes"])
    ran = eiesim("run", "out.npz", "--json", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr


def test_eiesim_compress_obs_without_inputs_is_one_line_and_writes_nothing(tmp_path):
    np.savez(tmp_path / "in.npz", weights=np.ones((4, 6)), activations=np.ones(6))
    done = eiesim("compress", "in.npz", "--method", "obs", "--density", "0.5", "-o",
                  "out.npz", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "needs an array 'inputs'" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npz"]


@pytest.mark.slow
def test_the_criteria_benchmark_quick_mode_writes_its_files(tmp_path):
    from benchmarks import criteria

    assert criteria.main(["--quick", "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "criteria.csv")
    assert set(table["method"]) == {"dense", "magnitude", "balanced", *NAMES}
    pruned = table[table["method"] != "dense"]
    assert (pruned["accuracy_test_low"] <= pruned["accuracy_test"]).all()
    assert (pruned["accuracy_test"] <= pruned["accuracy_test_high"]).all()
    assert {"cycles_16", "cycles_64", "energy_nj_64", "load_efficiency_64",
            "padding_share_64", "layer0_broadcasts_64"} <= set(table.columns)
    payload = json.loads((tmp_path / "criteria.json").read_text())
    assert payload["command"].startswith("python -m benchmarks.criteria --quick")
    assert (tmp_path / "criteria.png").stat().st_size > 0


def test_eiesim_compress_obs_with_inputs_of_the_wrong_width_is_one_line(tmp_path):
    np.savez(tmp_path / "in.npz", weights=np.ones((4, 6)), activations=np.ones(6),
             inputs=np.ones((10, 5)))
    done = eiesim("compress", "in.npz", "--method", "obs", "--density", "0.5", "-o",
                  "out.npz", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "inputs have shape (10, 5)" in done.stderr and "(n, 6)" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npz"]
