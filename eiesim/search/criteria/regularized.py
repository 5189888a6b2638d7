"""Regularised training that drives weights to exact zero, then a cut to the target density.

Every criterion here trains the model ``settings.epochs`` epochs with Adam and a penalty of
strength λ (``settings.strength``, or the criterion's default in :data:`DEFAULT_STRENGTH`):

* ``l1``: λ Σ|w|, applied as a proximal (soft-threshold) step after each Adam step,
  ``w <- sign(w) max(|w| - lr λ, 0)``: weights reach exact zero, not small values.
* ``group_lasso``: λ Σ_g sqrt(|g|) ||w_g|| over the rows (output neurons) and the columns
  (inputs) of each layer (Wen et al., "Learning Structured Sparsity in Deep Neural Networks",
  NIPS 2016), proximal: ``w_g <- w_g max(0, 1 - lr λ sqrt(|g|) / ||w_g||)``, rows then columns.
* ``hoyer``: DeepHoyer's λ (Σ|w|)² / Σw² per layer (Yang, Wen, Li, ICLR 2020), a scale-invariant
  smooth penalty whose gradient is added to the loss's; it makes weights small, not zero.
* ``l0``: hard-concrete gates z on every weight (Louizos, Welling, Kingma, "Learning Sparse
  Neural Networks through L0 Regularization", ICLR 2018; β = 2/3, γ = -0.1, ζ = 1.1), the
  expected number of open gates λ Σ sigmoid(log α - β log(-γ/ζ)) penalised; one gate sample per
  batch; at the end the deterministic gate min(1, max(0, sigmoid(log α)(ζ-γ)+γ)) is exactly 0
  for a closed gate and the weight becomes w * z.
* ``variational_dropout``: sparse variational dropout (Molchanov, Ashukha, Vetrov, ICML 2017):
  every weight θ has a Gaussian posterior of variance σ² (trained, log σ² from -10), one weight
  sample θ + σ ε per batch (a simplification of their local reparameterisation, fine for these
  small MLPs), and the KL term's approximation -(k1 sigmoid(k2 + k3 log α) - 0.5 log(1 + 1/α)
  - k1) with α = σ²/θ², weighted λ / n_train; weights with log α > 3 are pruned.

Reaching the target (the rule of docs/pruning.md): the penalty acts on a layer only while the
layer keeps more than its target count of non-zero weights (open gates, log α <= 3); a
proximal step (l1, group_lasso) that would leave fewer than the target is skipped, so those two
never undershoot, while l0 and variational dropout can overshoot by one step's worth; after
training each layer keeps its non-zero
positions if they are at most the target count, else the target count of them with the highest
score (|w|; log α of the gate for l0; -log α for variational
dropout). ``penalty_density`` reports what the penalty alone reached.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from eiesim.search.criteria.base import (
    CriterionResult,
    CriterionSettings,
    check_strength,
    cut_to_target,
    keep_count,
    require_data,
)
from eiesim.search.model import Dataset
from eiesim.search.train import MLP, _Adam, loss_and_gradients, train

DEFAULT_STRENGTH = {"l1": 1.0, "group_lasso": 0.1, "hoyer": 2e-3, "l0": 1e-3,
                    "variational_dropout": 1.0}
"""Strengths λ when the settings give none: large enough that the penalty, alone, reaches the
targets of the study (docs/pruning.md) within ten epochs on the examples' models."""

HARD_CONCRETE = (2.0 / 3.0, -0.1, 1.1)
"""β, γ, ζ of the hard-concrete distribution (Louizos et al. 2018)."""
VD_KL = (0.63576, 1.87320, 1.48695)
"""k1, k2, k3 of Molchanov et al. 2017's approximation of the KL divergence."""
VD_THRESHOLD = 3.0
PROX_RETRIES = 4
"""Prune where log α > 3 (dropout rate above 0.95)."""


def _strength(method: str, settings: CriterionSettings) -> float:
    return check_strength(DEFAULT_STRENGTH[method] if settings.strength is None
                          else settings.strength)


def _active(weights: list[np.ndarray], targets: list[int]) -> list[bool]:
    """Layers whose non-zero count is still above the target (the penalty acts there)."""
    return [int(np.count_nonzero(w)) > t for w, t in zip(weights, targets)]


def _targets(model: MLP, densities: tuple[float, ...]) -> list[int]:
    return [w.size if d >= 1.0 else keep_count(d, w.size) for w, d in zip(model.weights,
                                                                        densities)]


def _finish(method: str, model: MLP, scores: list[np.ndarray], allowed: list[np.ndarray],
            densities: tuple[float, ...]) -> CriterionResult:
    penalty_density = tuple(float(a.mean()) for a in allowed)
    masks = tuple(np.ones(a.shape, dtype=bool) if d >= 1.0 else cut_to_target(s, a, d)
                  for s, a, d in zip(scores, allowed, densities))
    return CriterionResult(method, masks, model.masked(masks), densities,
                           penalty_density=penalty_density)


def _proximal_training(method: str, model: MLP, densities: tuple[float, ...], data: Dataset,
                       settings: CriterionSettings, seed: int,
                       prox: Callable[[np.ndarray, float], None] | None,
                       penalty: Callable[[list[np.ndarray]], list[np.ndarray]] | None) -> MLP:
    targets = _targets(model, densities)
    threshold = settings.lr * _strength(method, settings)

    def after_step(current: MLP, step: int) -> None:
        for w, target, active in zip(current.weights, targets,
                                     _active(current.weights, targets)):
            if not active:
                continue
            # A step that would leave fewer than the target is retried at half the threshold,
            # up to PROX_RETRIES times, then skipped: the penalty never undershoots.
            for attempt in range(PROX_RETRIES + 1):
                stepped = w.copy()
                prox(stepped, threshold / 2 ** attempt)  # type: ignore[misc]
                if int(np.count_nonzero(stepped)) >= target:
                    np.copyto(w, stepped)
                    break

    return train(model, data.train_inputs, data.train_labels, epochs=settings.epochs,
                 lr=settings.lr, batch_size=settings.batch_size, seed=seed, penalty=penalty,
                 after_step=None if prox is None else after_step)


def soft_threshold(w: np.ndarray, threshold: float) -> None:
    """The proximal step of threshold·Σ|w|, in place: exact zeros below the threshold."""
    np.copyto(w, np.sign(w) * np.maximum(np.abs(w) - threshold, 0.0))


def group_soft_threshold(w: np.ndarray, threshold: float) -> None:
    """The proximal step of group lasso on the rows, then on the columns, in place."""
    for axis in (1, 0):
        norms = np.sqrt((w ** 2).sum(axis=axis, keepdims=True))
        size = w.shape[axis]
        scale = np.maximum(0.0, 1.0 - threshold * math.sqrt(size) / np.maximum(norms, 1e-300))
        w *= scale
        w[np.broadcast_to(scale == 0.0, w.shape)] = 0.0


def l1(model: MLP, densities: tuple[float, ...], *, data: Dataset | None,
       settings: CriterionSettings, seed: int) -> CriterionResult:
    """Proximal L1 training, then the cut by |w| (module doc)."""
    data = require_data("l1", data)
    trained = _proximal_training("l1", model, densities, data, settings, seed,
                                 soft_threshold, None)
    return _finish("l1", trained, [np.abs(w) for w in trained.weights],
                   [w != 0 for w in trained.weights], densities)


def group_lasso(model: MLP, densities: tuple[float, ...], *, data: Dataset | None,
                settings: CriterionSettings, seed: int) -> CriterionResult:
    """Proximal group lasso on rows and columns, then the cut by group norm (module doc).

    The penalty removes whole rows and columns; the final cut, where the penalty left more
    than the target, is by |w| within the surviving rows and columns."""
    data = require_data("group_lasso", data)
    trained = _proximal_training("group_lasso", model, densities, data, settings, seed,
                                 group_soft_threshold, None)
    return _finish("group_lasso", trained, [np.abs(w) for w in trained.weights],
                   [w != 0 for w in trained.weights], densities)


def hoyer_gradient(w: np.ndarray) -> np.ndarray:
    """Gradient of the squared Hoyer measure (Σ|w|)² / Σw² (0 for an all-zero layer)."""
    l1_norm = float(np.abs(w).sum())
    l2_squared = float((w ** 2).sum())
    if l2_squared == 0.0:
        return np.zeros_like(w)
    return 2.0 * l1_norm * np.sign(w) / l2_squared - 2.0 * l1_norm ** 2 * w / l2_squared ** 2


def hoyer(model: MLP, densities: tuple[float, ...], *, data: Dataset | None,
          settings: CriterionSettings, seed: int) -> CriterionResult:
    """DeepHoyer training, then the cut by |w| (module doc)."""
    data = require_data("hoyer", data)
    strength = _strength("hoyer", settings)
    active = [d < 1.0 for d in densities]

    def penalty(weights: list[np.ndarray]) -> list[np.ndarray]:
        return [strength * hoyer_gradient(w) if a else np.zeros_like(w)
                for w, a in zip(weights, active)]

    trained = _proximal_training("hoyer", model, densities, data, settings, seed, None,
                                 penalty)
    return _finish("hoyer", trained, [np.abs(w) for w in trained.weights],
                   [w != 0 for w in trained.weights], densities)


# --- L0 (hard-concrete gates) -----------------------------------------------------------------

def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def deterministic_gates(log_alpha: np.ndarray) -> np.ndarray:
    """The test-time hard-concrete gate: exactly 0 (closed) to exactly 1."""
    _, gamma, zeta = HARD_CONCRETE
    return np.clip(_sigmoid(log_alpha) * (zeta - gamma) + gamma, 0.0, 1.0)


def l0(model: MLP, densities: tuple[float, ...], *, data: Dataset | None,
       settings: CriterionSettings, seed: int) -> CriterionResult:
    """L0 training with hard-concrete gates, then the cut by log α (module doc)."""
    data = require_data("l0", data)
    strength = _strength("l0", settings)
    beta, gamma, zeta = HARD_CONCRETE
    targets = _targets(model, densities)
    current = model.copy()
    rng = np.random.default_rng(seed)
    # Gates start open: log α = log(0.9 / 0.1) plus small noise, Louizos et al.'s initialisation
    # with a drop rate of 0.1.
    log_alpha = [np.full(w.shape, math.log(0.9 / 0.1)) + 0.01 * rng.standard_normal(w.shape)
                 for w in current.weights]
    biases = [b for b in current.biases if b is not None]
    weight_opt = _Adam(current.weights + biases, settings.lr)
    gate_opt = _Adam(log_alpha, settings.gate_lr)
    shift = beta * math.log(-gamma / zeta)
    inputs, labels = data.train_inputs, data.train_labels
    for _ in range(settings.epochs):
        order = rng.permutation(inputs.shape[0])
        for start in range(0, inputs.shape[0], settings.batch_size):
            batch = order[start: start + settings.batch_size]
            u = [rng.uniform(1e-6, 1.0 - 1e-6, size=a.shape) for a in log_alpha]
            s = [_sigmoid((np.log(x) - np.log1p(-x) + a) / beta) for x, a in zip(u, log_alpha)]
            stretched = [si * (zeta - gamma) + gamma for si in s]
            gates = [np.clip(t, 0.0, 1.0) for t in stretched]
            gated = MLP([w * z for w, z in zip(current.weights, gates)], current.biases)
            _, grad_w, grad_b = loss_and_gradients(gated, inputs[batch], labels[batch])
            active = [int(np.count_nonzero(deterministic_gates(a))) > t and d < 1.0
                      for a, t, d in zip(log_alpha, targets, densities)]
            grad_alpha = []
            for g, w, si, t, a, on in zip(grad_w, current.weights, s, stretched, log_alpha,
                                          active):
                inside = (t > 0.0) & (t < 1.0)
                data_term = g * w * np.where(inside, (zeta - gamma) * si * (1 - si) / beta, 0.0)
                open_p = _sigmoid(a - shift)
                grad_alpha.append(data_term + (strength * open_p * (1 - open_p) if on else 0.0))
            weight_opt.step(current.weights + biases,
                            [g * z for g, z in zip(grad_w, gates)] +
                            [g for g in grad_b if g is not None])
            gate_opt.step(log_alpha, grad_alpha)
    final_gates = [deterministic_gates(a) for a in log_alpha]
    gated = MLP([w * z for w, z in zip(current.weights, final_gates)], current.biases)
    return _finish("l0", gated, [a.copy() for a in log_alpha],
                   [w != 0 for w in gated.weights], densities)


# --- sparse variational dropout ---------------------------------------------------------------

def vd_log_alpha(theta: np.ndarray, log_sigma2: np.ndarray) -> np.ndarray:
    """log α = log σ² - log θ², clipped to [-8, 8] as in Molchanov et al.'s code."""
    return np.clip(log_sigma2 - np.log(theta ** 2 + 1e-16), -8.0, 8.0)


def variational_dropout(model: MLP, densities: tuple[float, ...], *, data: Dataset | None,
                        settings: CriterionSettings, seed: int) -> CriterionResult:
    """Sparse variational dropout training, then the cut by -log α (module doc)."""
    data = require_data("variational_dropout", data)
    strength = _strength("variational_dropout", settings)
    k1, k2, k3 = VD_KL
    targets = _targets(model, densities)
    current = model.copy()
    rng = np.random.default_rng(seed)
    log_sigma2 = [np.full(w.shape, -10.0) for w in current.weights]
    biases = [b for b in current.biases if b is not None]
    weight_opt = _Adam(current.weights + biases, settings.lr)
    noise_opt = _Adam(log_sigma2, settings.gate_lr)
    inputs, labels = data.train_inputs, data.train_labels
    kl_weight = strength / inputs.shape[0]
    for _ in range(settings.epochs):
        order = rng.permutation(inputs.shape[0])
        for start in range(0, inputs.shape[0], settings.batch_size):
            batch = order[start: start + settings.batch_size]
            eps = [rng.standard_normal(w.shape) for w in current.weights]
            sigma = [np.exp(0.5 * ls) for ls in log_sigma2]
            sampled = MLP([w + sd * e for w, sd, e in zip(current.weights, sigma, eps)],
                          current.biases)
            _, grad_w, grad_b = loss_and_gradients(sampled, inputs[batch], labels[batch])
            grad_theta, grad_sigma = [], []
            for k, (g, w, ls, sd, e) in enumerate(zip(grad_w, current.weights, log_sigma2,
                                                      sigma, eps)):
                la = vd_log_alpha(w, ls)
                on = int(np.count_nonzero(la <= VD_THRESHOLD)) > targets[k] and \
                    densities[k] < 1.0
                inside = (la > -8.0) & (la < 8.0)
                s = _sigmoid(k2 + k3 * la)
                # d KL / d log α (KL = -(k1 s - 0.5 log1p(1/α) - k1)), 0 where clipped.
                d_kl = -(k1 * k3 * s * (1 - s) + 0.5 * _sigmoid(-la)) * inside * \
                    (kl_weight if on else 0.0)
                grad_theta.append(g + d_kl * (-2.0 / np.where(w == 0.0, 1e-16, w)))
                grad_sigma.append(g * e * 0.5 * sd + d_kl)
            weight_opt.step(current.weights + biases,
                            grad_theta + [g for g in grad_b if g is not None])
            noise_opt.step(log_sigma2, grad_sigma)
    log_alpha = [vd_log_alpha(w, ls) for w, ls in zip(current.weights, log_sigma2)]
    allowed = [(la <= VD_THRESHOLD) & (w != 0) for la, w in zip(log_alpha, current.weights)]
    return _finish("variational_dropout", current, [-la for la in log_alpha], allowed,
                   densities)
