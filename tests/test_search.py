"""Hardware-aware compression: the search, its front, the chosen network and its files.

A small model (64-32-10 on scikit-learn's bundled digits, trained here with a seed) and a
reduced search keep this file fast; the full-size search is benchmarked, not tested.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn")

from eiesim.errors import EiesimError  # noqa: E402
from eiesim.network import simulate_network  # noqa: E402
from eiesim.search import SearchError, SearchSettings, search  # noqa: E402
from eiesim.search.compression import chip_logits, compress_network, dense_network, prune_masks  # noqa: E402
from eiesim.search.model import save_data, save_model  # noqa: E402
from eiesim.search.results import pareto_flags  # noqa: E402
from eiesim.spec import HardwareSpec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPEC = HardwareSpec(num_pes=8)
SMALL = dict(densities=(0.1, 0.25, 0.5), thresholds=(0.01, 0.04),
             drop_budget_factors=(1.0, 3.0), netadapt_step=0.15, netadapt_max_iterations=4,
             amc_budgets=(0.3,), amc_population=4, amc_generations=2, long_epochs=2,
             prune_steps=2, timing_inputs=2)


@pytest.fixture(scope="module")
def data(digits_split):
    return digits_split


@pytest.fixture(scope="module")
def model(digits_mlp):
    return digits_mlp


@pytest.fixture(scope="module")
def settings():
    return SearchSettings(objective="cycles", max_accuracy_drop=0.02, **SMALL)


@pytest.fixture(scope="module")
def result(model, data, settings):
    return search(model, data, SPEC, settings)


def test_the_same_seed_gives_the_same_front(model, data, settings, result):
    again = search(model, data, SPEC, settings)
    pd.testing.assert_frame_equal(result.table, again.table)
    other = search(model, data, SPEC, SearchSettings(**{**settings.__dict__, "seed": 1}))
    assert not result.table[["accuracy_val", "cycles"]].equals(
        other.table[["accuracy_val", "cycles"]])


def test_table_has_the_issue_columns_a_dense_row_and_one_chosen_row(result):
    table = result.table
    assert list(table.columns[:14]) == ["strategy", "accuracy_float", "accuracy_val",
                                        "accuracy_test", "accuracy_test_low",
                                        "accuracy_test_high", "cycles", "energy_j", "density",
                                        "density_0", "density_1", "pareto", "meets_bound",
                                        "chosen"]
    assert table["strategy"].iloc[0] == "dense" and table["density"].iloc[0] == 1.0
    assert set(table["strategy"]) == {"dense", "uniform", "global", "deep_compression",
                                      "threshold", "allocation", "netadapt", "amc"}
    assert table["chosen"].sum() == 1
    assert (table["density"] <= 1.0).all() and (table["energy_j"] > 0).all()


def test_the_front_is_non_dominated_and_complete(result):
    table = result.table
    values = table[["accuracy_val", "cycles", "energy_j"]].to_numpy(dtype=float)
    for i, row in enumerate(values):
        dominated = np.any((values[:, 0] >= row[0]) & (values[:, 1] <= row[1])
                           & (values[:, 2] <= row[2]) & np.any(values != row, axis=1))
        assert dominated != bool(table["pareto"].iloc[i]), i


def test_pareto_flags_on_a_known_case():
    table = pd.DataFrame({"accuracy_val": [0.9, 0.8, 0.9, 0.95],
                          "cycles": [100, 90, 120, 100], "energy_j": [1.0, 1.0, 1.0, 2.0]})
    assert pareto_flags(table).tolist() == [True, True, False, True]


def test_the_chosen_network_meets_the_bound_on_validation(result, data, settings):
    chosen = result.chosen
    reference = np.mean(result.networks[0].model.predict(data.val_inputs) == data.val_labels)
    assert result.reference_accuracy == reference
    assert chosen["accuracy_val"] >= result.reference_accuracy - settings.max_accuracy_drop
    assert chosen["strategy"] != "dense"
    predictions = np.argmax(chip_logits(result.network.layers(), data.val_inputs, SPEC), axis=1)
    assert np.mean(predictions == data.val_labels) == chosen["accuracy_val"]
    predictions = np.argmax(chip_logits(result.network.layers(), data.test_inputs, SPEC), axis=1)
    assert np.mean(predictions == data.test_labels) == chosen["accuracy_test"]
    assert chosen["accuracy_test_low"] < chosen["accuracy_test"] < chosen["accuracy_test_high"]


def test_the_chosen_objective_is_no_worse_than_the_best_uniform_network(result, settings):
    table = result.table
    floor = result.reference_accuracy - settings.max_accuracy_drop
    compressed = table[table["strategy"] != "dense"]
    uniform = compressed[(compressed["strategy"] == "uniform")
                         & (compressed["accuracy_val"] >= floor)]
    assert result.chosen["cycles"] <= (uniform["cycles"].min() if len(uniform) else np.inf)
    meeting = compressed[compressed["accuracy_val"] >= floor]
    assert result.chosen["cycles"] == meeting["cycles"].min()


def test_the_chosen_networks_cycles_equal_eiesim_run_on_the_written_file(result, tmp_path):
    network, report = tmp_path / "net.npz", tmp_path / "front.csv"
    result.write(network, report)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    completed = subprocess.run([sys.executable, "-m", "eiesim.cli", "run", str(network),
                                "--pes", "8", "--json"], capture_output=True, text=True, env=env,
                               check=True)
    payload = json.loads(completed.stdout)
    assert payload["cycles"] == result.chosen["cycles"]
    assert payload["energy_j"] == pytest.approx(result.chosen["energy_j"], rel=1e-12)
    written = pd.read_csv(report)
    assert written["chosen"].tolist() == result.table["chosen"].tolist()


def test_chip_emulation_equals_the_fast_engine(model, data):
    masks = prune_masks(model, [0.3, 0.6], num_pes=8)
    network = compress_network(model, masks, data, bits=4, fine_tune_epochs=1)
    inputs = data.test_inputs[:6]
    for spec in (SPEC, SPEC.replace(arithmetic="fixed8"), SPEC.replace(arithmetic="float32"),
                 SPEC.replace(act_frac_bits=4)):
        logits = chip_logits(network.layers(), inputs, spec)
        for i, x in enumerate(inputs):
            engine = simulate_network(network.layers(), x, spec, energy=False)
            assert np.array_equal(engine.pre_activations, logits[i]), (spec.arithmetic, i)


def test_saturation_is_emulated_like_the_engine(model, data):
    dense = dense_network(model, bits=3)
    inputs = data.test_inputs[:4] * 7.0  # large activations saturate 8-bit accumulators
    spec = SPEC.replace(arithmetic="fixed8", act_frac_bits=3)
    logits = chip_logits(dense.layers(), inputs, spec)
    assert np.any(np.abs(logits) >= 15.8)  # at the rail
    for i, x in enumerate(inputs):
        assert np.array_equal(simulate_network(dense.layers(), x, spec,
                                               energy=False).pre_activations, logits[i])


def test_an_unreachable_bound_is_an_error(model, data):
    # one shared value per layer: every kept weight of a layer has the same sign and size
    settings = SearchSettings(max_accuracy_drop=0.0, strategies=("uniform",), bits=1,
                              densities=(0.05,), long_epochs=1, prune_steps=1)
    with pytest.raises(SearchError, match="nothing meets the bound"):
        search(model, data, SPEC, settings)


@pytest.mark.parametrize("changes, words", [
    ({"objective": "latency"}, "objective = 'latency'"),
    ({"max_accuracy_drop": 1.5}, "max_accuracy_drop = 1.5"),
    ({"methods": ("magnitude", "best")}, "best"),
    ({"strategies": ("ddpg",)}, "ddpg"),
    ({"netadapt_step": 0.0}, "netadapt_step = 0.0"),
    ({"amc_budgets": (0.5, 2.0)}, "amc_budgets"),
    ({"bits": 9}, "bits = 9")])
def test_bad_settings_name_the_value(changes, words):
    with pytest.raises(SearchError, match=words):
        SearchSettings(**changes)


def test_failed_writes_leave_no_file(result, tmp_path, monkeypatch):
    with pytest.raises(EiesimError, match="must end in"):  # refused before writing
        result.write(tmp_path / "net.npz", tmp_path / "front.csv", tmp_path / "plot.nosuch")
    assert list(tmp_path.iterdir()) == []

    def fail(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the plot is drawn, after the other two files

    monkeypatch.setattr("eiesim.search.results.plot_front", fail)
    with pytest.raises(KeyboardInterrupt):
        result.write(tmp_path / "net.npz", tmp_path / "front.csv", tmp_path / "plot.png")
    assert list(tmp_path.iterdir()) == []


def test_two_workers_give_the_same_front(model, data, settings, result):
    parallel = search(model, data, SPEC, settings, workers=2)
    pd.testing.assert_frame_equal(result.table, parallel.table)


def test_files_round_trip_into_the_search(model, data, tmp_path):
    from eiesim.search.model import load_data, load_model

    save_model(tmp_path / "m.npz", model)
    save_data(tmp_path / "d.npz", data)
    loaded = load_model(tmp_path / "m.npz")
    assert all(np.array_equal(a, b) for a, b in zip(loaded.weights, model.weights))
    loaded_data = load_data(tmp_path / "d.npz")
    assert np.array_equal(loaded_data.test_labels, data.test_labels)
    assert np.array_equal(loaded_data.val_inputs, data.val_inputs)


def test_a_dask_cluster_gives_the_same_front(model, data, settings, result):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = search(model, data, SPEC, settings, client=client)
    pd.testing.assert_frame_equal(result.table, on_dask.table)


def test_sensitivity_curves_cover_every_method_layer_and_density(result, settings):
    curves = result.curves
    assert len(curves) == 2 * 2 * (len(settings.densities) + 1)
    dense = curves[curves["density"] == 1.0]
    assert (dense["layer_cycles"].to_numpy()[:2] == dense["layer_cycles"].to_numpy()[2:]).all()
    for _, part in curves.groupby(["method", "layer"]):
        part = part.sort_values("density")
        assert part["layer_nonzero_weights"].is_monotonic_increasing
    import matplotlib

    matplotlib.use("Agg")
    from eiesim.search import plot_sensitivity

    figure = plot_sensitivity(curves)
    assert len(figure.axes) == 2 * 2 * 2  # a twin axis per panel


def test_search_json_summary_is_the_chosen_row_in_plain_values(result):
    import json

    from eiesim.cli.search import summary_dict

    payload = json.loads(json.dumps(summary_dict(result), allow_nan=False))
    chosen = result.table[result.table["chosen"]].iloc[0]
    assert payload["chosen"]["cycles"] == int(chosen["cycles"])
    assert payload["chosen"]["accuracy_test_low"] == pytest.approx(chosen["accuracy_test_low"])
    assert payload["bound"] == pytest.approx(result.bound)
    assert len(payload["layers"]) == len(result.layers)
    assert payload["dense"]["strategy"] == "dense"
