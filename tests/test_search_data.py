"""The search's data use and outcomes: decisions on validation only, the data file's validation
split, fine-tuning that cannot hurt, honest failure and the grid's edge.

A small model (64-32-10 on the bundled digits, train / validation / test 1,077 / 360 / 360)
and searches reduced to the uniform baseline keep this file fast.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn")

from eiesim.search import SearchError, SearchSettings, search  # noqa: E402
from eiesim.search.model import Dataset, ModelFileError, load_data, save_data, save_model  # noqa: E402
from eiesim.search.results import wilson_interval  # noqa: E402
from eiesim.search.tasks import NoNetworkMeetsBoundError, SearchWarning  # noqa: E402
from eiesim.search.train import accuracy, fine_tune, init_mlp, train  # noqa: E402
from eiesim.spec import HardwareSpec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPEC = HardwareSpec(num_pes=8)
UNIFORM = dict(strategies=("uniform",), methods=("magnitude",), densities=(0.1, 0.3, 0.6),
               long_epochs=2, prune_steps=2, timing_inputs=1)


@pytest.fixture(scope="module")
def data(digits_split):
    return digits_split


@pytest.fixture(scope="module")
def model(digits_mlp):
    return digits_mlp


@pytest.fixture(scope="module")
def result(model, data):
    return search(model, data, SPEC, SearchSettings(max_accuracy_drop=0.05, **UNIFORM))


def _without_test_columns(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["accuracy_float", "accuracy_test", "accuracy_test_low",
                               "accuracy_test_high", "pareto"])


def test_the_bound_and_the_choice_ignore_the_test_labels(model, data, result):
    rng = np.random.default_rng(0)
    corrupted = Dataset(data.train_inputs, data.train_labels, data.test_inputs,
                        rng.permutation(data.test_labels), val_inputs=data.val_inputs,
                        val_labels=data.val_labels)
    with pytest.warns(SearchWarning, match="saturated"):  # validation now far above test
        again = search(model, corrupted, SPEC, result.settings)
    assert not np.array_equal(again.table["accuracy_test"], result.table["accuracy_test"])
    pd.testing.assert_frame_equal(_without_test_columns(again.table),
                                  _without_test_columns(result.table))
    assert again.reference_accuracy == result.reference_accuracy


def test_the_decisions_follow_the_validation_labels(model, data, result):
    """The counterpart: the decision columns do move when the validation labels change."""
    shuffled = Dataset(data.train_inputs, data.train_labels, data.test_inputs, data.test_labels,
                       val_inputs=data.val_inputs,
                       val_labels=np.random.default_rng(0).permutation(data.val_labels))
    with warnings.catch_warnings():  # shuffled labels: any density meets the low bound
        warnings.simplefilter("ignore", SearchWarning)
        again = search(model, shuffled, SPEC, result.settings)
    assert again.reference_accuracy < 0.3 < result.reference_accuracy
    assert not np.array_equal(again.table["accuracy_val"], result.table["accuracy_val"])


def test_every_compressed_row_has_the_same_fine_tuning_budget(result):
    table = result.table
    compressed = table[table["strategy"] != "dense"]
    assert set(compressed["fine_tune_epochs"]) == {result.settings.fine_tune_budget}
    assert table.loc[table["strategy"] == "dense", "fine_tune_epochs"].tolist() == [0]


def test_the_test_interval_is_wilson_at_95_percent(result):
    low, high = wilson_interval(np.array([90, 0, 100]), 100)
    # known values of the Wilson score interval, z = 1.96
    np.testing.assert_allclose(low, [0.8256, 0.0, 0.9630], atol=1e-4)
    np.testing.assert_allclose(high, [0.9448, 0.0370, 1.0], atol=1e-4)
    table = result.table
    assert (table["accuracy_test_low"] <= table["accuracy_test"]).all()
    assert (table["accuracy_test"] <= table["accuracy_test_high"]).all()
    width = table["accuracy_test_high"] - table["accuracy_test_low"]
    assert (width > 0.01).all() and (width < 0.2).all()  # 360 test images


def test_a_margin_only_removes_networks_from_the_bound(model, data, result):
    strict = search(model, data, SPEC, SearchSettings(max_accuracy_drop=0.05, margin=2.0,
                                                      **UNIFORM))
    loose, tight = result.table["meets_bound"], strict.table["meets_bound"]
    assert (tight <= loose).all()
    se = np.sqrt(result.table["accuracy_val"] * (1 - result.table["accuracy_val"]) / 360)
    expected = result.table["accuracy_val"] - 2 * se >= result.bound - 1e-12
    assert tight.tolist() == expected.tolist()


def test_nothing_meeting_the_bound_is_said_not_replaced_by_the_dense_network(model, data):
    settings = SearchSettings(max_accuracy_drop=0.0, margin=10.0, **UNIFORM)
    with pytest.raises(NoNetworkMeetsBoundError, match="nothing meets the bound") as failure:
        search(model, data, SPEC, settings)
    failed = failure.value.result
    assert failed.network is None
    assert len(failed.table) == 4 and not failed.table["chosen"].any()
    assert "dense" in set(failed.table["strategy"])


def test_a_search_without_a_validation_split_must_be_asked_to_carve_one(model, data):
    plain = Dataset(data.train_inputs, data.train_labels, data.test_inputs, data.test_labels)
    with pytest.raises(SearchError, match="--validation-from-train"):
        search(model, plain, SPEC, SearchSettings(**UNIFORM))
    with pytest.warns(SearchWarning, match="not trained on those rows"):
        carved = search(model, plain, SPEC, SearchSettings(max_accuracy_drop=0.05,
                                                           validation_fraction=0.2, **UNIFORM))
    assert carved.num_validation == round(0.2 * len(data.train_labels))


def test_a_saturated_validation_split_is_detected(data):
    """A model trained on its validation rows scores far better there than on the test set."""
    overfit = train(init_mlp([64, 64, 10], seed=0), data.val_inputs, data.val_labels,
                    epochs=60, seed=1)
    assert accuracy(overfit, data.val_inputs, data.val_labels) == 1.0
    with pytest.warns(SearchWarning, match="validation split looks saturated"):
        result = search(overfit, data, SPEC, SearchSettings(max_accuracy_drop=0.05, **UNIFORM))
    assert any("saturated" in note for note in result.notes)


def test_no_saturation_note_on_an_honest_split(result):
    assert not any("saturated" in note for note in result.notes)


def test_a_choice_at_the_grid_edge_is_flagged_and_looked_beyond(model, data):
    settings = SearchSettings(max_accuracy_drop=0.2, **{**UNIFORM, "densities": (0.5, 0.7)})
    with pytest.warns(SearchWarning, match="lowest density 0.5"):
        result = search(model, data, SPEC, settings)
    below = result.table[result.table["label"].str.endswith("(below the grid)")]
    assert sorted(below["density_0"]) == pytest.approx([0.175, 0.25, 0.35], abs=0.005)
    assert any("below it" in note for note in result.notes)
    assert result.chosen["density"] < 0.5  # a 20-point bound is met further down


def test_default_fine_tuning_keeps_the_dense_models_validation_accuracy(model, data):
    masks = [np.ones(w.shape, dtype=bool) for w in model.weights]
    settings = SearchSettings()
    before = accuracy(model, data.val_inputs, data.val_labels)
    tuned = fine_tune(model, data.train_inputs, data.train_labels, masks,
                      epochs=settings.fine_tune_budget, lr=settings.fine_tune_lr,
                      batch_size=settings.fine_tune_batch,
                      validation=(data.val_inputs, data.val_labels), patience=settings.patience)
    assert accuracy(tuned, data.val_inputs, data.val_labels) >= before


@pytest.mark.parametrize("name, data_name", [
    ("digits_mlp", "digits_data"), ("lenet_300_100", "digits_data"),
    pytest.param("wide_mlp", "digits16_data", marks=pytest.mark.slow)])
def test_default_fine_tuning_keeps_the_shipped_models_validation_accuracy(name, data_name):
    from eiesim.search.model import load_model

    model = load_model(ROOT / "examples" / f"{name}.npz")
    shipped = load_data(ROOT / "examples" / f"{data_name}.npz")
    masks = [np.ones(w.shape, dtype=bool) for w in model.weights]
    settings = SearchSettings()
    tuned = fine_tune(model, shipped.train_inputs, shipped.train_labels, masks,
                      epochs=settings.fine_tune_budget, lr=settings.fine_tune_lr,
                      batch_size=settings.fine_tune_batch,
                      validation=(shipped.val_inputs, shipped.val_labels),
                      patience=settings.patience)
    assert accuracy(tuned, shipped.val_inputs, shipped.val_labels) >= \
        accuracy(model, shipped.val_inputs, shipped.val_labels)


def test_early_stopping_never_returns_a_higher_validation_loss(model, data):
    from eiesim.search.train import loss

    masks = [np.ones(w.shape, dtype=bool) for w in model.weights]
    # a learning rate far too high: every epoch makes the validation loss worse
    tuned = fine_tune(model, data.train_inputs, data.train_labels, masks, epochs=3, lr=0.5,
                      validation=(data.val_inputs, data.val_labels), patience=1)
    assert all(np.array_equal(a, b) for a, b in zip(tuned.weights, model.weights))
    unguarded = fine_tune(model, data.train_inputs, data.train_labels, masks, epochs=3, lr=0.5)
    assert loss(unguarded, data.val_inputs, data.val_labels) > \
        loss(model, data.val_inputs, data.val_labels)


def test_a_data_file_with_a_validation_split_is_read(data, tmp_path):
    save_data(tmp_path / "d.npz", data)
    loaded = load_data(tmp_path / "d.npz")
    assert loaded.has_validation
    assert np.array_equal(loaded.val_labels, data.val_labels)


@pytest.mark.parametrize("extra, words", [
    ({"validation_inputs": "x"}, "unknown array(s) 'validation_inputs'"),
    ({"val_inputs": "x"}, "val_inputs is given without val_labels"),
    ({"val_labels": "y"}, "val_labels is given without val_inputs"),
    ({"val_inputs": "x5", "val_labels": "y"}, "val_inputs 5"),
])
def test_bad_validation_arrays_are_refused(data, tmp_path, extra, words):
    arrays = {"train_inputs": data.train_inputs, "train_labels": data.train_labels,
              "test_inputs": data.test_inputs, "test_labels": data.test_labels}
    values = {"x": data.val_inputs, "y": data.val_labels, "x5": data.val_inputs[:, :5]}
    arrays.update({name: values[key] for name, key in extra.items()})
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(ModelFileError, match=words.replace("(", r"\(").replace(")", r"\)")):
        load_data(tmp_path / "d.npz")


def test_the_command_exits_3_and_writes_only_the_report_when_nothing_meets(model, data,
                                                                          tmp_path):
    save_model(tmp_path / "m.npz", model)
    save_data(tmp_path / "d.npz", data)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "eiesim.cli", "search", "m.npz", "--data", "d.npz", "--objective",
         "cycles", "--max-accuracy-drop", "0", "--margin", "10", "--pes", "8", "--method",
         "magnitude", "--fine-tune-epochs", "1", "-o", "net.npz", "--report", "front.csv",
         "--plot", "front.png", "--workers", "1", "--no-progress"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 3, done.stderr
    assert "nothing meets the bound" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz", "front.csv", "front.png",
                                                          "m.npz"]
    front = pd.read_csv(tmp_path / "front.csv")
    assert not front["chosen"].any() and (front["fine_tune_epochs"].iloc[1:] == 3).all()
