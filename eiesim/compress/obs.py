"""Layer-wise Optimal Brain Surgeon: prune a fully connected layer on a sample of its inputs.

Hassibi and Stork ("Second order derivatives for network pruning: Optimal Brain Surgeon", NIPS
1993), layer-wise: a layer's reconstruction error ``||W X - W' X||**2`` has the Hessian
``H = X X^T`` of its inputs, the same for every row. Removing weight q of a row costs
``w_q**2 / (2 [H^-1]_qq)`` once the other weights of the row move by
``dw = -(w_q / [H^-1]_qq) H^-1 e_q``, which is the least-squares refit of the remaining weights.
The bias is a weight on a constant input 1 that is refit, never removed. H is damped:
``H + damping * mean(diag H) * I``. The layer keeps ``round(density * size)`` weights (the
rounding of :mod:`eiesim.compress.prune`).

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

from eiesim.compress.prune import _as_scores_input, _check_density, _count, _top_k
from eiesim.errors import LayerError

EXACT_OBS_FLOPS = 1e9
"""Above this estimate of ``2 * rounds * out * in**3`` a layer takes the column sweep."""
SWEEP_BLOCK_COLUMNS = 64
"""Columns pruned together by the column sweep (SparseGPT's lazy-update block)."""


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
    w = _as_scores_input(weights, "weights").astype(np.float64)
    density = _check_density(density)
    x = np.asarray(inputs)
    if x.ndim != 2 or x.shape[1] != w.shape[1] or x.shape[0] < 1 or \
            not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
        raise LayerError(f"inputs have shape {x.shape}; OBS needs a finite sample of the "
                         f"layer's inputs of shape (n, {w.shape[1]}) with n >= 1, one row per "
                         f"input vector")
    if not 0 <= damping < np.inf:
        raise LayerError(f"damping = {damping!r} must be >= 0, e.g. 1e-2")
    out, columns = w.shape
    hessian = damped_hessian(x, damping, bias is not None)
    full = np.hstack([w, np.asarray(bias, dtype=np.float64)[:, None]]) if bias is not None \
        else w.copy()
    keep = _count(density, w.size)
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
        block_mask = _top_k(scores.ravel(), block_keep).reshape(block.shape)
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
