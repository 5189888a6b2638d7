"""The digits model end to end: training, pruning with fine-tuning, 4-bit weights, the chip.

Small on purpose (a subset of the test images on the chip); the full study is in
notebooks/04_digits_end_to_end.ipynb.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

import eiesim  # noqa: E402
from eiesim.compress import iterative_prune  # noqa: E402
from eiesim.network import encode_network  # noqa: E402
from eiesim.search.train import accuracy, loss_and_gradients  # noqa: E402
from examples import digits  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return digits.load_data(seed=0)


@pytest.fixture(scope="module")
def model(data):
    return digits.train(data, seed=0)


def test_data_is_scaled_split_and_seeded(data):
    assert data.x_train.shape == (1437, 64) and data.x_test.shape == (360, 64)
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert np.all(data.x_test * 16 == np.round(data.x_test * 16))  # exact in Q7.8 (A1)
    assert np.array_equal(np.bincount(data.y_test), np.bincount(data.y_test, minlength=10))
    again = digits.load_data(seed=0)
    assert np.array_equal(again.x_test, data.x_test)


def test_trained_float_model_is_accurate_and_seeded(data, model):
    assert model.shapes == [(128, 64), (64, 128), (10, 64)]
    assert accuracy(model, data.x_test, data.y_test) > 0.9
    small = digits.train(data, epochs=2, seed=0)
    again = digits.train(data, epochs=2, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(small.weights, again.weights))


def test_fine_tune_callback_drives_iterative_prune(data, model):
    pruned = model.copy()
    masks = [None] * pruned.num_layers
    callback = digits.fine_tune_callback(pruned, data, 1, masks, epochs=1)
    before = pruned.weights[0].copy()
    weights, mask = iterative_prune(pruned.weights[1], 0.3, 2, callback, "magnitude")
    assert mask.mean() == pytest.approx(0.3, abs=0.01)
    assert np.all(weights[~mask] == 0) and np.all(pruned.weights[1][~mask] == 0)
    assert masks[1] is not None and np.array_equal(masks[1], mask)
    assert not np.array_equal(pruned.weights[0], before)  # the whole network was fine-tuned
    assert accuracy(pruned, data.x_test, data.y_test) > 0.9


def test_gradient_method_uses_the_training_loss(data, model):
    grads = digits.gradient_callback(model.copy(), data, 2)(model.weights[2],
                                                             np.ones((10, 64), bool))
    _, expected, _ = loss_and_gradients(model, data.x_train, data.y_train)
    np.testing.assert_allclose(grads, expected[2])
    pruned = digits.prune_model(model, data, "gradient", 0.5, steps=1, epochs=1)
    assert pruned.density_achieved == pytest.approx(0.5, abs=0.01)


def test_quantized_hardware_accuracy_is_close_to_float(data, model):
    """Moderate density, 4-bit codebooks, 16-bit fixed point: within a few points."""
    pruned = digits.prune_model(model, data, "magnitude", 0.5, num_pes=8)
    quantized = digits.quantize_model(pruned.model, 4)
    assert all(q.codebook.size == 16 for q in quantized)
    spec = eiesim.HardwareSpec(num_pes=8)
    network = encode_network(digits.network_layers(quantized), spec)
    images = slice(0, 120)
    x, y = data.x_test[images], data.y_test[images]
    hardware = digits.evaluate_hardware(network, x, y)
    float_accuracy = accuracy(model, x, y)
    assert hardware.accuracy >= float_accuracy - 0.04
    agree = np.mean(hardware.predictions == digits.quantized_predictions(quantized, x))
    assert agree >= 0.97  # fixed16 rounding rarely changes a decision
    assert hardware.cycles.shape == (120,) and hardware.cycles_per_image > 0
    assert 0 < hardware.load_efficiency < 1


def test_balanced_pruning_raises_load_efficiency(data, model):
    """ESE's load-balance-aware pruning: equal work per PE in every column (8 PEs)."""
    table = digits.study(["magnitude", "balanced"], [0.5], num_pes=8, data=data, model=model,
                         n_test=60)
    by = table.set_index("method")
    assert by.loc["balanced", "load_efficiency"] > by.loc["magnitude", "load_efficiency"] + 0.03
    assert by.loc["balanced", "cycles_per_image"] < by.loc["magnitude", "cycles_per_image"]
    assert by.loc["balanced", "acc_quantized"] >= by.loc["magnitude", "acc_quantized"] - 0.03
    assert list(table["density_achieved"].round(3)) == [0.5, 0.5]
    expected = {"method", "density", "acc_dense", "acc_pruned", "acc_quantized",
                "acc_hardware", "cycles_per_image", "load_efficiency", "energy_nj_per_image"}
    assert expected <= set(table.columns)


def test_study_rejects_bad_arguments(data, model):
    with pytest.raises(digits.DigitsError, match="pruning methods"):
        digits.study(["biggest"], [0.5], data=data, model=model)
    with pytest.raises(digits.DigitsError, match="densities is empty"):
        digits.study(["magnitude"], [], data=data, model=model)
    with pytest.raises(digits.DigitsError, match="n_test"):
        digits.study(["magnitude"], [0.5], data=data, model=model, n_test=0)


def test_shipped_example_files_are_what_the_script_writes(tmp_path):
    """examples/*.npz come from ``python -m examples.make_models`` as committed (the wide
    model: the slow test below)."""
    from eiesim.search.model import load_data, load_model
    from examples import make_models

    assert make_models.main(["--out", str(tmp_path), "--skip-wide"]) == 0
    shipped = Path(make_models.__file__).resolve().parent
    for name in ("digits_mlp", "lenet_300_100"):
        made, kept = load_model(tmp_path / f"{name}.npz"), load_model(shipped / f"{name}.npz")
        assert made.shapes == kept.shapes
        assert all(np.array_equal(a, b) for a, b in zip(made.weights, kept.weights))
    _same_data(load_data(tmp_path / "digits_data.npz"), load_data(shipped / "digits_data.npz"))
    assert (shipped / "lenet_300_100.npz").stat().st_size < 1_000_000
    assert not (tmp_path / "wide_mlp.npz").exists()


def test_the_shipped_data_has_a_validation_split_the_models_never_saw():
    from eiesim.search.model import load_data
    from examples import make_models

    shipped = Path(make_models.__file__).resolve().parent
    for name in ("digits_data", "digits16_data"):
        data = load_data(shipped / f"{name}.npz")
        assert data.has_validation
        sizes = (len(data.train_labels), len(data.val_labels), len(data.test_labels))
        assert sizes == (1077, 360, 360)
        rows = {row.tobytes() for row in data.train_inputs}
        # digits holds a few duplicate images; the split is by image, not by pixel pattern
        assert sum(row.tobytes() in rows for row in data.val_inputs) <= 3
    small, wide = (load_data(shipped / f"{n}.npz") for n in ("digits_data", "digits16_data"))
    assert np.array_equal(small.val_labels, wide.val_labels)
    assert np.array_equal(make_models.upsample(small.val_inputs), wide.val_inputs)


def test_upsampling_is_bilinear_and_exact_in_fixed_point():
    from examples.make_models import upsample

    image = np.arange(64, dtype=float).reshape(1, 64) / 16
    big = upsample(image).reshape(16, 16)
    assert big.shape == (16, 16)
    assert np.all(big * 256 == np.round(big * 256))  # multiples of 1/256: exact in Q7.8
    assert big[0, 0] == image[0, 0] and big[-1, -1] == image[0, -1]  # clamped corners
    flat = upsample(np.full((1, 64), 0.5))
    assert np.all(flat == 0.5)  # interpolation weights add up to 1
    assert big[0, 1] == 0.75 * image[0, 0] + 0.25 * image[0, 1]


@pytest.mark.slow
def test_the_shipped_wide_model_is_what_the_script_writes(tmp_path):
    from eiesim.search.model import load_data, load_model
    from examples import make_models

    assert make_models.main(["--out", str(tmp_path)]) == 0
    shipped = Path(make_models.__file__).resolve().parent
    made, kept = load_model(tmp_path / "wide_mlp.npz"), load_model(shipped / "wide_mlp.npz")
    assert made.shapes == kept.shapes == [(1024, 256), (512, 1024), (10, 512)]
    assert all(np.array_equal(a, b) for a, b in zip(made.weights, kept.weights))
    _same_data(load_data(tmp_path / "digits16_data.npz"),
               load_data(shipped / "digits16_data.npz"))


def _same_data(made, kept) -> None:
    for name in ("train_inputs", "train_labels", "val_inputs", "val_labels", "test_inputs",
                 "test_labels"):
        assert np.array_equal(getattr(made, name), getattr(kept, name)), name
