"""The pruning criteria of eiesim.search.criteria: each against its definition, exact zeros,
target densities, the lottery ticket's rewind, determinism, and the one-line errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from eiesim.compress.obs import damped_hessian, obs_prune_layer, obs_step
from eiesim.search.criteria import (
    CRITERIA,
    CriterionError,
    CriterionSettings,
    prune_network,
)
from eiesim.search.criteria.base import keep_count
from eiesim.search.criteria.saliency import gauss_newton_diagonal, obd_saliency
from eiesim.search.criteria.schedules import (
    cubic_schedule,
    record_weights,
    reinit_control,
    rewind,
)
from eiesim.search.model import Dataset
from eiesim.search.train import MLP, init_mlp, loss, train

QUICK = CriterionSettings(epochs=3, sample_size=64, rewind_iteration=3, lottery_rounds=2,
                          obs_rounds=3)


def _blobs(seed: int = 0, n: int = 160, features: int = 6, classes: int = 3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = rng.normal(0, 1.5, (classes, features))
    inputs = centres[labels] + 0.6 * rng.normal(0, 1, (n, features))
    return Dataset(inputs, labels, inputs[:40], labels[:40])


@pytest.fixture(scope="module")
def trained():
    data = _blobs()
    model = train(init_mlp([6, 24, 3], seed=0), data.train_inputs, data.train_labels,
                  epochs=15, lr=5e-3, seed=0)
    return model, data


# --- OBD ----------------------------------------------------------------------------------------

def test_obd_saliency_is_the_exact_loss_increase_on_a_quadratic_loss():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(8, 8))
    hessian = a @ a.T + np.eye(8)
    optimum = rng.normal(size=8)

    def quadratic(w):  # minimum at w = optimum, Hessian `hessian`
        return 0.5 * (w - optimum) @ hessian @ (w - optimum) + 3.0

    saliency = obd_saliency(optimum, np.diag(hessian))
    for k in range(8):
        removed = optimum.copy()
        removed[k] = 0.0
        assert saliency[k] == pytest.approx(quadratic(removed) - quadratic(optimum), rel=1e-12)


def test_gauss_newton_diagonal_is_the_hessian_diagonal_of_a_linear_softmax_layer():
    # A network linear in its weights has Gauss-Newton = Hessian; finite differences check it.
    rng = np.random.default_rng(2)
    model = MLP([rng.normal(size=(3, 4))], [rng.normal(size=3)])
    inputs = rng.normal(size=(20, 4))
    labels = rng.integers(0, 3, 20)
    diagonal = gauss_newton_diagonal(model, inputs)[0]
    step = 1e-4
    for i, j in itertools.product(range(3), range(4)):
        values = []
        for shift in (-step, 0.0, step):
            moved = model.copy()
            moved.weights[0][i, j] += shift
            values.append(loss(moved, inputs, labels))
        second = (values[0] - 2 * values[1] + values[2]) / step ** 2
        assert diagonal[i, j] == pytest.approx(second, rel=1e-4, abs=1e-7)


def test_gauss_newton_diagonal_of_a_hidden_layer_matches_its_jacobian_form():
    rng = np.random.default_rng(3)
    model = init_mlp([4, 5, 3], seed=3)
    inputs = rng.normal(size=(7, 4))
    diagonal = gauss_newton_diagonal(model, inputs)[0]
    expected = np.zeros((5, 4))
    for x in inputs:  # explicit per-sample J^T A J for each weight of layer 0
        hidden = model.weights[0] @ x + model.biases[0]
        logits = model.weights[1] @ np.maximum(hidden, 0) + model.biases[1]
        p = np.exp(logits - logits.max())
        p /= p.sum()
        a = np.diag(p) - np.outer(p, p)
        for i, j in itertools.product(range(5), range(4)):
            jac = model.weights[1][:, i] * (hidden[i] > 0) * x[j]  # d logits / d W0[i, j]
            expected[i, j] += jac @ a @ jac / len(inputs)
    np.testing.assert_allclose(diagonal, expected, rtol=1e-10, atol=1e-14)


# --- OBS ----------------------------------------------------------------------------------------

def _refit(x: np.ndarray, row: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Least-squares refit of the kept weights to reproduce x @ row."""
    refit = np.zeros_like(row)
    refit[kept] = np.linalg.lstsq(x[:, kept], x @ row, rcond=None)[0]
    return refit


def test_obs_step_removes_the_weight_whose_refit_raises_the_error_least():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 6)) @ rng.normal(size=(6, 6))  # correlated inputs
    for row in rng.normal(size=(5, 6)):
        inverse = np.linalg.inv(damped_hessian(x, 0.0, bias=False))
        q, saliency, updated = obs_step(row, inverse)
        errors = []
        for candidate in range(6):
            kept = np.arange(6) != candidate
            errors.append(0.5 * np.sum((x @ (row - _refit(x, row, kept))) ** 2))
        assert q == int(np.argmin(errors))
        assert saliency == pytest.approx(errors[q], rel=1e-9)
        np.testing.assert_allclose(updated, _refit(x, row, np.arange(6) != q), atol=1e-10)
        assert updated[q] == 0.0


def test_exact_layer_obs_picks_the_cheapest_weight_of_the_layer_and_refits_every_row():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 5)) @ rng.normal(size=(5, 5))
    w = rng.normal(size=(4, 5))
    errors = {}
    for i, q in itertools.product(range(4), range(5)):
        kept = np.arange(5) != q
        errors[i, q] = np.sum((x @ (w[i] - _refit(x, w[i], kept))) ** 2)
    new, _, mask = obs_prune_layer(w, x, 19 / 20, damping=0.0, rounds=1, exact=True)
    assert np.argwhere(~mask).tolist() == [list(min(errors, key=errors.get))]
    # Many removals in several rounds: every row is the least-squares refit of its kept set.
    new, _, mask = obs_prune_layer(w, x, 0.4, damping=0.0, rounds=4, exact=True)
    assert mask.sum() == keep_count(0.4, w.size)
    for i in range(4):
        np.testing.assert_allclose(new[i], _refit(x, w[i], mask[i]), atol=1e-8)


def test_obs_column_sweep_keeps_the_target_and_beats_magnitude_without_update():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(300, 150)) @ rng.normal(size=(150, 150)) / 10
    w = rng.normal(size=(20, 150))
    bias = rng.normal(size=20)
    new, new_bias, mask = obs_prune_layer(w, x, 0.3, bias=bias, damping=0.0, exact=False)
    assert mask.sum() == keep_count(0.3, w.size) and np.all(new[~mask] == 0.0)
    magnitude = np.where(np.abs(w) >= np.quantile(np.abs(w), 0.7), w, 0.0)
    reference = x @ w.T + bias
    assert np.sum((x @ new.T + new_bias - reference) ** 2) < \
        0.7 * np.sum((x @ magnitude.T + bias - reference) ** 2)
    # The kept weights and the bias are the least-squares refit (the rows keep few enough).
    inputs = np.hstack([x, np.ones((300, 1))])
    for i in range(20):
        kept = np.append(mask[i], True)
        expected = _refit(inputs, np.append(w[i], bias[i]), kept)
        np.testing.assert_allclose(np.append(new[i], new_bias[i]), expected, atol=1e-6)


# --- exact zeros and target densities -------------------------------------------------------------

@pytest.mark.parametrize("method, strength", [("l1", 3.0), ("group_lasso", 1.0),
                                              ("l0", 3e-2), ("variational_dropout", 20.0)])
def test_regularisers_leave_exact_zeros_and_reach_the_target(trained, method, strength):
    model, data = trained
    densities = (0.3, 0.5)
    settings = CriterionSettings(epochs=20, strength=strength, lr=5e-3)
    result = prune_network(model, densities, method, data=data, settings=settings)
    assert result.penalty_density is not None
    assert min(result.penalty_density) < 1.0  # the penalty itself made exact zeros
    for w, m, d, reached in zip(result.model.weights, result.masks, densities,
                                result.penalty_density):
        assert np.all(w[~m] == 0.0) and np.count_nonzero(w) == m.sum()
        # Tolerance: exactly the target count, or what the penalty left if it went further
        # (only l0 and variational dropout can; l1 and group lasso never undershoot).
        expected = min(keep_count(d, w.size), round(reached * w.size))
        assert m.sum() == expected
        if method in ("l1", "group_lasso"):
            assert m.sum() == keep_count(d, w.size)
        else:  # the stated tolerance of the gate and dropout penalties at these settings
            assert d - 0.1 <= m.mean() <= d


def test_group_lasso_zeroes_whole_rows_or_columns(trained):
    model, data = trained
    result = prune_network(model, (0.3, 1.0), "group_lasso", data=data,
                           settings=CriterionSettings(epochs=20, strength=1.0, lr=5e-3))
    w = result.model.weights[0]
    assert (~(w != 0).any(axis=1)).sum() + (~(w != 0).any(axis=0)).sum() >= 1
    assert result.layer_density[1] == 1.0 and result.penalty_density[1] == 1.0


# --- schedules ----------------------------------------------------------------------------------

def test_cubic_schedule_starts_dense_and_ends_at_the_target():
    assert cubic_schedule(0.1, 0, 5) == 1.0 and cubic_schedule(0.1, 5, 5) == pytest.approx(0.1)
    values = [cubic_schedule(0.1, t, 5) for t in range(6)]
    assert all(a > b for a, b in zip(values, values[1:]))


def test_lottery_rewind_restores_the_recorded_weights_bit_for_bit(trained):
    _, data = trained
    start = init_mlp([6, 24, 3], seed=9)
    steps_per_epoch = -(-data.train_inputs.shape[0] // 32)
    recorded, hook = record_weights(steps_per_epoch)
    train(start, data.train_inputs, data.train_labels, epochs=3, seed=1, after_step=hook)
    one_epoch = train(start, data.train_inputs, data.train_labels, epochs=1, seed=1)
    assert len(recorded) == 1
    for a, b in zip(recorded[0].weights + recorded[0].biases,
                    one_epoch.weights + one_epoch.biases):
        assert a.tobytes() == b.tobytes()
    masks = [np.random.default_rng(k).random(w.shape) < 0.5 for k, w in enumerate(start.weights)]
    rewound = rewind(recorded[0], masks)
    for w, r, m in zip(recorded[0].weights, rewound.weights, masks):
        assert r[m].tobytes() == w[m].tobytes() and np.all(r[~m] == 0.0)
    for b, r in zip(recorded[0].biases, rewound.biases):
        assert r.tobytes() == b.tobytes()


def test_lottery_records_its_rewind_point_and_the_control_shares_its_masks(trained):
    model, data = trained
    ticket = prune_network(model, 0.3, "lottery", data=data, settings=QUICK, seed=2)
    control = prune_network(model, 0.3, "lottery_reinit", data=data, settings=QUICK, seed=2)
    for a, b in zip(ticket.masks, control.masks):
        assert np.array_equal(a, b)
    again = reinit_control(model, ticket.masks, ticket.target_density, data, QUICK, 2)
    for a, b in zip(again.model.weights, control.model.weights):
        assert a.tobytes() == b.tobytes()
    recorded, hook = record_weights(QUICK.rewind_iteration)
    from eiesim.search.criteria.saliency import fresh_initialisation
    train(fresh_initialisation(model, 2), data.train_inputs, data.train_labels,
          epochs=QUICK.epochs, seed=2, after_step=hook)
    for a, b in zip(ticket.details["rewind_point"].weights, recorded[0].weights):
        assert a.tobytes() == b.tobytes()
    assert not all(np.array_equal(a, b) for a, b in zip(ticket.model.weights,
                                                         control.model.weights))


# --- every criterion ----------------------------------------------------------------------------

@pytest.mark.parametrize("method", sorted(CRITERIA))
def test_every_criterion_is_deterministic_and_keeps_its_masks(trained, method):
    model, data = trained
    first = prune_network(model, (0.4, 0.7), method, data=data, settings=QUICK, seed=3)
    second = prune_network(model, (0.4, 0.7), method, data=data, settings=QUICK, seed=3)
    for a, b, m, n in zip(first.model.weights, second.model.weights, first.masks,
                          second.masks):
        assert np.array_equal(m, n) and a.tobytes() == b.tobytes()
        assert np.all(a[~m] == 0.0)
    for m, d in zip(first.masks, (0.4, 0.7)):
        assert m.sum() <= keep_count(d, m.size)
    assert first.method == method


@pytest.mark.parametrize("method", ["obd", "obs", "gradual"])
def test_a_density_of_one_keeps_the_layer_whole(trained, method):
    model, data = trained
    result = prune_network(model, (0.5, 1.0), method, data=data, settings=QUICK)
    assert result.masks[1].all()


# --- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("densities, text", [((0.0, 0.5), "density 0.0 of layer 0"),
                                             ((0.5, 1.5), "density 1.5 of layer 1"),
                                             ((0.5,), "1 densities for 2 layers")])
def test_a_density_outside_the_range_is_a_one_line_error(trained, densities, text):
    model, data = trained
    with pytest.raises(CriterionError, match=text) as error:
        prune_network(model, densities, "obd", data=data)
    assert "\n" not in str(error.value) and "(0, 1]" in str(error.value) or "one density" in \
        str(error.value)


def test_a_negative_strength_is_a_one_line_error():
    with pytest.raises(CriterionError, match=r"strength = -0\.1 is below 0.*>= 0") as error:
        CriterionSettings(strength=-0.1)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("method", sorted(CRITERIA))
def test_a_criterion_that_needs_data_given_none_says_so(trained, method):
    model, _ = trained
    assert CRITERIA[method].needs_data
    with pytest.raises(CriterionError, match=f"method '{method}' needs training data"):
        prune_network(model, 0.5, method)


def test_unknown_method_and_bad_settings_are_errors(trained):
    model, data = trained
    with pytest.raises(CriterionError, match="'prune_me' is not a pruning criterion; use one"):
        prune_network(model, 0.5, "prune_me", data=data)
    with pytest.raises(CriterionError, match="epochs = 0 must be a whole number >= 1"):
        CriterionSettings(epochs=0)
    with pytest.raises(CriterionError, match="rewind_iteration = 10000 is beyond"):
        prune_network(model, 0.5, "lottery", data=data,
                      settings=CriterionSettings(epochs=1, rewind_iteration=10_000))
