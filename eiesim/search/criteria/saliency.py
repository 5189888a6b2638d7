"""Saliency criteria: second order (OBD, layer-wise OBS) and at initialisation (SNIP).

* **OBD** (LeCun, Denker, Solla, "Optimal Brain Damage", NIPS 1990): removing weight k from a
  minimum of the loss raises it by about ``0.5 * H_kk * w_k**2``. H's diagonal here is the
  Gauss-Newton one of the softmax cross-entropy over a sample of the training set,
  ``mean_n x_nj**2 * (sum_c p_c J_ci**2 - (sum_c p_c J_ci)**2)`` for weight (i, j) of a layer,
  J the Jacobian of the logits by the layer's pre-activation i (exact: one backward pass per
  class). For a network linear in its weights it is the Hessian itself.
* **OBS** (Hassibi and Stork, "Second order derivatives for network pruning: Optimal Brain
  Surgeon", NIPS 1993), layer-wise: a fully connected layer's reconstruction error
  ``||W X - W' X||**2`` has the Hessian ``H = X X^T`` of the layer's inputs, the same for every
  row. Removing weight q of a row costs ``w_q**2 / (2 [H^-1]_qq)`` once the other weights of the
  row move by ``dw = -(w_q / [H^-1]_qq) H^-1 e_q``, which is the least-squares refit of the
  remaining weights. The bias is a weight on a constant input 1 that is refit, never removed.
  H is damped: ``H + damping * mean(diag H) * I``.
* **SNIP** (Lee, Ajanthan, Torr, "SNIP: Single-shot network pruning based on connection
  sensitivity", ICLR 2019): at a fresh initialisation score ``|g * w|`` on one batch, prune
  once, then train the kept weights from that initialisation.

Layer-wise OBS itself (exact rounds, or a column sweep for large layers) is
:mod:`eiesim.compress.obs`, which ``eiesim compress --method obs`` also uses.
"""

from __future__ import annotations

import numpy as np

from eiesim.compress.obs import obs_prune_layer
from eiesim.search.criteria.base import (
    CriterionResult,
    CriterionSettings,
    finish,
    keep_top,
    require_data,
    sample_rows,
)
from eiesim.search.model import Dataset
from eiesim.search.train import MLP, forward, init_mlp, loss_and_gradients, train

# --- OBD ----------------------------------------------------------------------------------------

def gauss_newton_diagonal(model: MLP, inputs: np.ndarray) -> list[np.ndarray]:
    """The Gauss-Newton diagonal of the mean softmax cross-entropy, per layer (module doc)."""
    activations = forward(model, inputs)
    logits = activations[-1]
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    n, classes = logits.shape
    jacobian = np.broadcast_to(np.eye(classes), (n, classes, classes))  # d logits / d z_last
    diagonals: list[np.ndarray] = [np.empty(0)] * model.num_layers
    for k in range(model.num_layers - 1, -1, -1):
        weighted = np.einsum("nc,nci->ni", probs, jacobian)
        curvature = np.einsum("nc,nci->ni", probs, jacobian ** 2) - weighted ** 2
        diagonals[k] = curvature.T @ (activations[k] ** 2) / n
        if k:
            jacobian = np.einsum("nco,oi->nci", jacobian, model.weights[k]) * \
                (activations[k] > 0)[:, None, :]
    return diagonals


def obd_saliency(weights: np.ndarray, hessian_diagonal: np.ndarray) -> np.ndarray:
    """``0.5 * H_kk * w_k**2``: the loss increase of removing each weight at a minimum."""
    return 0.5 * np.asarray(hessian_diagonal) * np.asarray(weights) ** 2


def obd(model: MLP, densities: tuple[float, ...], *, data: Dataset | None,
        settings: CriterionSettings, seed: int) -> CriterionResult:
    """Keep each layer's largest OBD saliencies (Gauss-Newton diagonal on a training sample)."""
    data = require_data("obd", data)
    inputs, _ = sample_rows(data, settings.sample_size, seed)
    diagonals = gauss_newton_diagonal(model, inputs)
    masks = [keep_top(obd_saliency(w, h), d)
             for w, h, d in zip(model.weights, diagonals, densities)]
    return finish("obd", model, masks, densities)


# --- OBS ----------------------------------------------------------------------------------------

def obs(model: MLP, densities: tuple[float, ...], *, data: Dataset | None,
        settings: CriterionSettings, seed: int) -> CriterionResult:
    """Layer-wise OBS of every layer on its inputs from a training sample (module doc)."""
    data = require_data("obs", data)
    inputs, _ = sample_rows(data, settings.sample_size, seed)
    layer_inputs = forward(model, inputs)
    weights, biases, masks = [], [], []
    for k, (w, b, d) in enumerate(zip(model.weights, model.biases, densities)):
        if d >= 1.0:
            weights.append(w.copy())
            biases.append(None if b is None else b.copy())
            masks.append(np.ones(w.shape, dtype=bool))
            continue
        new_w, new_b, mask = obs_prune_layer(w, layer_inputs[k], d, bias=b,
                                             damping=settings.damping,
                                             rounds=settings.obs_rounds)
        weights.append(new_w)
        biases.append(new_b)
        masks.append(mask)
    return finish("obs", MLP(weights, biases), masks, densities)


# --- SNIP ---------------------------------------------------------------------------------------

def fresh_initialisation(model: MLP, seed: int) -> MLP:
    """He-initialised weights of ``model``'s shapes (biases 0 where the model has them)."""
    sizes = [model.in_features] + [w.shape[0] for w in model.weights]
    fresh = init_mlp(sizes, seed=seed)
    return MLP(fresh.weights, [None if b is None else fb
                               for b, fb in zip(model.biases, fresh.biases)])


def snip(model: MLP, densities: tuple[float, ...], *, data: Dataset | None,
         settings: CriterionSettings, seed: int) -> CriterionResult:
    """SNIP: |g * w| on one batch at a fresh initialisation (seed), prune once, train
    ``settings.epochs`` from that initialisation with the masks fixed."""
    data = require_data("snip", data)
    start = fresh_initialisation(model, seed)
    inputs, labels = sample_rows(data, settings.sample_size, seed)
    gradients = loss_and_gradients(start, inputs, labels)[1]
    masks = [keep_top(np.abs(g * w), d) for g, w, d in zip(gradients, start.weights, densities)]
    trained = train(start, data.train_inputs, data.train_labels, epochs=settings.epochs,
                    lr=settings.lr, batch_size=settings.batch_size, seed=seed, masks=masks)
    return finish("snip", trained, masks, densities)
