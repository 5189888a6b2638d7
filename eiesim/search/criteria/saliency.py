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

Layer-wise OBS two ways (docs/pruning.md): **exact** when the per-row inverses are affordable
(``rounds * out * in**3`` below :data:`EXACT_OBS_FLOPS`): in each of ``rounds`` rounds every
row's saliencies come from the inverse of H restricted to the row's remaining inputs, the
lowest of the whole layer go together with their joint update (one weight per round is textbook
OBS); else the **column sweep** of SparseGPT (Frantar and Alistarh, ICML 2023): one Cholesky
factor of H^-1, columns visited in order, each block of columns pruned to the target by the
OBS saliency ``w**2 / [U_jj]**2`` and the error pushed onto the columns not yet visited, so the
whole layer costs ``O(in**3 + out * in**2)``; the sweep cannot move a column it has passed,
so where the rows keep few enough weights (``sum kept**3 / 3`` below the same budget) each row's
kept weights are then refit by least squares, the joint OBS update of the removed set.
"""

from __future__ import annotations

import numpy as np

from eiesim.search.criteria.base import (
    CriterionResult,
    CriterionSettings,
    finish,
    keep_count,
    keep_top,
    require_data,
    sample_rows,
)
from eiesim.search.model import Dataset
from eiesim.search.train import MLP, forward, init_mlp, loss_and_gradients, train

EXACT_OBS_FLOPS = 1e9
"""Above this estimate of ``2 * rounds * out * in**3`` a layer takes the column sweep."""
SWEEP_BLOCK_COLUMNS = 64
"""Columns pruned together by the column sweep (SparseGPT's lazy-update block)."""


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

def obs_step(row: np.ndarray, inverse: np.ndarray, removable: np.ndarray | None = None
             ) -> tuple[int, float, np.ndarray]:
    """One OBS removal from a row: (index q, saliency, the row after removal and update).

    ``inverse`` is H^-1 over the row's positions; the returned row has exactly 0 at q.
    """
    row = np.asarray(row, dtype=np.float64)
    saliency = row ** 2 / (2.0 * np.diag(inverse))
    if removable is not None:
        saliency = np.where(removable, saliency, np.inf)
    q = int(np.argmin(saliency))
    updated = row - (row[q] / inverse[q, q]) * inverse[:, q]
    updated[q] = 0.0
    return q, float(saliency[q]), updated


def damped_hessian(inputs: np.ndarray, damping: float, bias: bool) -> np.ndarray:
    """``X^T X`` of a layer's input rows (a ones column last for the bias), damped."""
    x = np.asarray(inputs, dtype=np.float64)
    if bias:
        x = np.hstack([x, np.ones((x.shape[0], 1))])
    hessian = x.T @ x
    hessian[np.diag_indices_from(hessian)] += damping * max(float(np.mean(np.diag(hessian))),
                                                            1e-12)
    return hessian


def obs_prune_layer(weights: np.ndarray, inputs: np.ndarray, density: float, *,
                    bias: np.ndarray | None = None, damping: float = 1e-2, rounds: int = 8,
                    exact: bool | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Layer-wise OBS: (weights, bias, mask) keeping ``round(density * size)`` weights.

    ``exact=None`` picks the exact rounds or the column sweep by cost (module doc).
    """
    w = np.asarray(weights, dtype=np.float64)
    out, columns = w.shape
    hessian = damped_hessian(inputs, damping, bias is not None)
    full = np.hstack([w, np.asarray(bias, dtype=np.float64)[:, None]]) if bias is not None \
        else w.copy()
    keep = keep_count(density, w.size)
    if exact is None:
        exact = 2.0 * rounds * out * float(hessian.shape[0]) ** 3 <= EXACT_OBS_FLOPS
    if keep >= w.size:
        mask = np.ones(w.shape, dtype=bool)
    elif exact:
        full, mask = _obs_rounds(full, hessian, columns, w.size - keep, rounds)
    else:
        original = full.copy()
        full, mask = _obs_sweep(full, hessian, columns, keep)
        if sum(float(k) ** 3 for k in mask.sum(axis=1)) / 3 <= EXACT_OBS_FLOPS:
            full = _refit_rows(original, hessian, mask)
    new_bias = full[:, columns].copy() if bias is not None else None
    return np.where(mask, full[:, :columns], 0.0), new_bias, mask


def _obs_rounds(full: np.ndarray, hessian: np.ndarray, columns: int, removals: int,
                rounds: int) -> tuple[np.ndarray, np.ndarray]:
    out, width = full.shape
    kept = np.ones((out, width), dtype=bool)
    rounds = min(rounds, removals)
    done = 0
    for r in range(1, rounds + 1):
        now = removals * r // rounds - done
        done += now
        inverses = []
        saliency = np.full((out, columns), np.inf)
        shared: dict[bytes, np.ndarray] = {}  # rows with the same kept inputs share H_F^-1
        for i in range(out):
            index = np.flatnonzero(kept[i])
            key = np.packbits(kept[i]).tobytes()
            if key not in shared:
                shared[key] = np.linalg.inv(hessian[np.ix_(index, index)])
            inverse = shared[key]
            inverses.append((index, inverse))
            weights_only = index < columns
            saliency[i, index[weights_only]] = (full[i, index] ** 2 /
                                                (2.0 * np.diag(inverse)))[weights_only]
        flat = saliency.ravel()
        order = np.argsort(flat, kind="stable")[:now]  # lowest saliency; lower index on ties
        chosen = np.zeros(flat.size, dtype=bool)
        chosen[order] = True
        chosen = chosen.reshape(out, columns)
        for i in np.flatnonzero(chosen.any(axis=1)):
            index, inverse = inverses[i]
            positions = np.flatnonzero(chosen[i, index[index < columns]])
            gone = inverse[np.ix_(positions, positions)]
            # Joint OBS update of several removals: the least-squares refit of the rest.
            delta = -inverse[:, positions] @ np.linalg.solve(gone, full[i, index[positions]])
            full[i, index] += delta
            full[i, index[positions]] = 0.0
            kept[i, index[positions]] = False
    return full, kept[:, :columns]


def _obs_sweep(full: np.ndarray, hessian: np.ndarray, columns: int,
               keep: int) -> tuple[np.ndarray, np.ndarray]:
    out = full.shape[0]
    inverse = np.linalg.inv(hessian)
    upper = np.linalg.cholesky(inverse).T  # H^-1 = U^T U
    mask = np.ones((out, columns), dtype=bool)
    size = out * columns
    for start in range(0, columns, SWEEP_BLOCK_COLUMNS):
        stop = min(start + SWEEP_BLOCK_COLUMNS, columns)
        # Keep counts per block from the cumulative target, so the layer keeps exactly `keep`.
        block_keep = keep_count_between(keep, size, out * start, out * stop)
        block = full[:, start:stop].copy()
        factor = upper[start:stop, start:stop]
        scores = block ** 2 / np.diag(factor)[None, :] ** 2
        block_mask = keep_top(scores, block_keep / block.size) if block_keep else \
            np.zeros(block.shape, dtype=bool)
        errors = np.zeros_like(block)
        for j in range(stop - start):
            target = np.where(block_mask[:, j], block[:, j], 0.0)
            error = (block[:, j] - target) / factor[j, j]
            block[:, j:] -= np.outer(error, factor[j, j:])
            errors[:, j] = error
        block[~block_mask] = 0.0
        full[:, start:stop] = block
        full[:, stop:] -= errors @ upper[start:stop, stop:]
        mask[:, start:stop] = block_mask
    return full, mask


def _refit_rows(original: np.ndarray, hessian: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Each row's kept weights (and bias) refit by least squares to the original outputs:
    ``H_FF w_F = (H w)_F``, the OBS update of the whole removed set at once."""
    out, width = original.shape
    kept = np.ones((out, width), dtype=bool)
    kept[:, :mask.shape[1]] = mask
    target = original @ hessian  # (H w)^T per row; H is symmetric
    refit = np.zeros_like(original)
    for i in range(out):
        index = np.flatnonzero(kept[i])
        refit[i, index] = np.linalg.solve(hessian[np.ix_(index, index)], target[i, index])
    return refit


def keep_count_between(keep: int, size: int, start: int, stop: int) -> int:
    """Kept positions among flat positions [start, stop) when ``keep`` of ``size`` are kept
    evenly: the difference of the rounded cumulative targets."""
    return int(np.floor(keep * stop / size + 0.5) - np.floor(keep * start / size + 0.5))


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
