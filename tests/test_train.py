"""The masked trainer: pruned weights stay exactly zero, the loss falls, seeds repeat."""

from __future__ import annotations

import numpy as np
import pytest

from eiesim.errors import EiesimError
from eiesim.search.model import (
    Dataset,
    ModelFileError,
    load_data,
    load_model,
    save_data,
    save_model,
)
from eiesim.search.train import MLP, TrainError, fine_tune, init_mlp, loss, train


def _blobs(seed: int = 0, n: int = 200):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = rng.normal(0, 1, (3, 6))
    return centres[labels] + 0.5 * rng.normal(0, 1, (n, 6)), labels


def test_fine_tune_keeps_pruned_weights_exactly_zero_and_lowers_the_loss():
    x, y = _blobs()
    model = init_mlp([6, 16, 3], seed=0)
    rng = np.random.default_rng(1)
    masks = [rng.random(w.shape) < 0.4 for w in model.weights]
    before = loss(model.masked(masks), x, y)
    tuned = fine_tune(model, x, y, masks, epochs=10, lr=5e-3, seed=0)
    for w, m in zip(tuned.weights, masks):
        assert np.all(w[~m] == 0.0)
        assert np.count_nonzero(w[m]) == m.sum()  # kept weights were trained, not zeroed
    assert loss(tuned, x, y) < 0.7 * before


def test_train_is_seeded_and_copies():
    x, y = _blobs()
    model = init_mlp([6, 8, 3], seed=3)
    original = [w.copy() for w in model.weights]
    a = train(model, x, y, epochs=2, seed=5)
    b = train(model, x, y, epochs=2, seed=5)
    c = train(model, x, y, epochs=2, seed=6)
    assert all(np.array_equal(p, q) for p, q in zip(a.weights, b.weights))
    assert not all(np.array_equal(p, q) for p, q in zip(a.weights, c.weights))
    assert all(np.array_equal(p, q) for p, q in zip(model.weights, original))


@pytest.mark.parametrize("kwargs, words", [
    ({"epochs": 0}, "epochs = 0"), ({"lr": -1.0}, "lr = -1.0"), ({"seed": -2}, "seed = -2")])
def test_bad_hyper_parameters_name_the_value(kwargs, words):
    x, y = _blobs()
    with pytest.raises(TrainError, match=words):
        train(init_mlp([6, 3]), x, y, **kwargs)


def test_bad_data_and_masks_are_refused():
    x, y = _blobs()
    model = init_mlp([6, 3])
    with pytest.raises(TrainError, match=r"\(n, 6\)"):
        train(model, x[:, :5], y)
    with pytest.raises(TrainError, match="3 classes"):
        train(model, x, y + 3)
    with pytest.raises(TrainError, match="bool"):
        fine_tune(model, x, y, [np.ones((3, 6))])
    with pytest.raises(TrainError, match="chain"):
        MLP([np.ones((4, 6)), np.ones((3, 5))], [None, None])


def test_model_and_data_files_round_trip(tmp_path):
    x, y = _blobs()
    model = init_mlp([6, 8, 3], seed=0)
    model.biases[1] = None
    path = save_model(tmp_path / "model.npz", model)
    again = load_model(path)
    assert again.shapes == model.shapes and again.biases[1] is None
    assert all(np.array_equal(p, q) for p, q in zip(again.weights, model.weights))
    data = Dataset(x[:150], y[:150], x[150:], y[150:])
    loaded = load_data(save_data(tmp_path / "data.npz", data))
    assert np.array_equal(loaded.test_inputs, data.test_inputs)
    assert loaded.num_classes == 3


def test_importer_files_give_models(tmp_path):
    path = tmp_path / "state.npz"
    np.savez(path, **{"fc1.weight": np.ones((4, 6)), "fc1.bias": np.zeros(4),
                      "fc2.weight": np.ones((3, 4))})
    model = load_model(path)
    assert model.shapes == [(4, 6), (3, 4)] and model.biases[1] is None


def test_bad_model_and_data_files(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "missing.npz")
    np.savez(tmp_path / "gap.npz", layer0_weights=np.ones((3, 4)), layer2_weights=np.ones((2, 3)))
    with pytest.raises(ModelFileError, match="layer1_weights' is missing"):
        load_model(tmp_path / "gap.npz")
    np.savez(tmp_path / "bad.npz", layer0_weights=np.ones((3, 4)), layer1_weights=np.ones((2, 5)))
    with pytest.raises(ModelFileError, match="chain"):
        load_model(tmp_path / "bad.npz")
    np.savez(tmp_path / "data.npz", train_inputs=np.ones((3, 2)), train_labels=np.zeros(3, int),
             test_inputs=np.ones((2, 2)))
    with pytest.raises(ModelFileError, match="test_labels"):
        load_data(tmp_path / "data.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(EiesimError, match="junk.npz"):
        load_data(tmp_path / "junk.npz")
