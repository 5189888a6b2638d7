"""Pruning to a target density: which weights of a layer EIE stores at all.

``density`` is always the fraction of weight *positions* kept, 0 < density <= 1. A position that
is kept but held 0 already stays 0, so ``np.count_nonzero`` of the result can be lower.

Rounding (so every method's result is exact and documented):

* element methods ("magnitude", "random", "gradient", "balanced") keep exactly
  ``round(density * size)`` positions, rounding halves up, and at least one;
* "rows" and "columns" keep ``round(density * count)`` whole rows or columns (at least one);
* "blocks" keep ``round(density * number_of_blocks)`` whole blocks (at least one), where the
  blocks tile the matrix from the top-left corner and edge blocks may be partial.

Ties are broken deterministically: among equal scores the lower index (row-major position, row,
column or block number) is kept. Every random choice takes ``seed``.

Methods:

* "magnitude": keep the largest |w| (Han et al., "Learning both Weights and Connections", 2015;
  the pruning of Deep Compression).
* "random": a seeded uniform random subset (a baseline; docs/hardware.md §5's synthetic layers).
* "gradient": keep the largest |w * dL/dw| (the connection sensitivity of SNIP, Lee et al.,
  ICLR 2019); needs ``gradients`` of the weights' shape.
* "rows", "columns", "blocks": whole structures with the largest L2 norm.
* "balanced": load-balance-aware pruning (ESE, Han et al., FPGA 2017). Row i belongs to PE
  ``i mod num_pes`` (docs/hardware.md §2), so a PE's work for input j is its slice of column
  j, and its
  work over the layer is the weights of its own rows. Balancing is magnitude-driven in one of
  two ways:

  - *per column* (ESE), when every column keeps at least one weight per PE holding rows
    (``kept // in >= min(num_pes, out)``): the kept positions are first spread over the columns
    as evenly as possible (counts differ by at most 1; the first columns take the leftover),
    then over the PEs' slices of each column as evenly as possible, and each slice keeps its
    largest |w| (the lower row on ties). When a column's count is not a multiple of
    ``num_pes`` the leftover positions go one each to the next PEs in a round robin that
    continues from column to column (skipping a PE whose slice is full), so in every column
    the PEs' counts differ by at most 1 and, whenever every slice has room (e.g. ``num_pes``
    divides the number of rows), the PEs' totals over the layer differ by at most 1.
  - *per PE*, otherwise (sparse layers, and layers with about as many rows as PEs, where a
    PE's share of a column holds one row or none and splitting each column's few kept weights
    among the PEs would pick them by round robin rather than by magnitude): the kept positions
    are spread over the PEs as evenly as their rows allow (totals differ by at most 1 while
    every PE has room, the first PEs take the leftover), and each PE keeps the largest |w| of
    its own rows (row-major order within the PE on ties). On a layer with one row per PE this
    is magnitude pruning of each row.

  A layer with fewer rows than PEs cannot be balanced: the PEs without rows idle whatever is
  kept. ``balanced`` then still prunes per PE as above and emits a :class:`PruningWarning`
  saying how many PEs stay idle.

"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from eiesim.errors import LayerError

METHODS = ("magnitude", "random", "gradient", "rows", "columns", "blocks", "balanced")
GLOBAL_METHODS = ("magnitude", "gradient")
SCHEDULES = ("geometric", "linear")

_COLUMN_CHUNK = 1024  # balanced pruning ranks slices a chunk of columns at a time (memory)


class PruningWarning(UserWarning):
    """A pruning method could not do everything it promises on this layer (the message says
    what and why); the result is still the documented fallback."""


class IterativePruneResult(NamedTuple):
    """What :func:`iterative_prune` returns; unpacks as ``weights, mask = ...``."""

    weights: np.ndarray
    """The fine-tuned weights, 0 wherever ``mask`` is False."""
    mask: np.ndarray
    """bool, True where a weight is kept."""


def prune_mask(weights: np.ndarray, density: float, method: str = "magnitude", *, seed: int = 0,
               gradients: np.ndarray | None = None, num_pes: int | None = None,
               block: tuple[int, int] = (4, 4)) -> np.ndarray:
    """Boolean mask of the positions :func:`prune_weights` keeps (True = kept).

    Arguments as for :func:`prune_weights`; the methods, rounding and tie rules are in the
    module doc (``help(eiesim.compress.prune)``).

    >>> w = np.array([[0.1, -0.9, 0.3], [0.5, 0.2, -0.4]])
    >>> prune_mask(w, 0.5).astype(int).tolist()
    [[0, 1, 0], [1, 0, 1]]
    >>> prune_mask(w, 0.5, "columns").astype(int).tolist()  # norms .51 .92 .50: keep 2 of 3
    [[1, 1, 0], [1, 1, 0]]
    """
    return _mask(weights, density, method, seed=seed, gradients=gradients, num_pes=num_pes,
                 block=block, allowed=None)


def prune_weights(weights: np.ndarray, density: float, method: str = "magnitude", *,
                  seed: int = 0, gradients: np.ndarray | None = None,
                  num_pes: int | None = None,
                  block: tuple[int, int] = (4, 4)) -> np.ndarray:
    """A copy of ``weights`` with all but a ``density`` fraction of the positions set to 0.

    ``density`` in (0, 1] is the fraction of positions kept (``round(density * size)``, at
    least one, for the element methods). ``method``: "magnitude" (largest |w|), "random"
    (seeded by ``seed``), "gradient" (largest |w * dL/dw|, needs ``gradients`` of the weights'
    shape), "rows" / "columns" / "blocks" (whole structures by L2 norm; ``block`` = (rows,
    columns)), "balanced" (equal work per PE of ``num_pes``, default the default spec's, row i
    on PE i mod num_pes; warns
    with :class:`PruningWarning` when the layer has fewer rows than PEs). The module doc
    (``help(eiesim.compress.prune)``) gives every rule.

    >>> prune_weights(np.array([[0.1, -0.9, 0.3], [0.5, 0.2, -0.4]]), 0.5).tolist()
    [[0.0, -0.9, 0.0], [0.5, 0.0, -0.4]]
    """
    w = np.asarray(weights)
    mask = prune_mask(w, density, method, seed=seed, gradients=gradients, num_pes=num_pes,
                      block=block)
    return np.where(mask, w, np.zeros((), dtype=w.dtype))


def prune_global_mask(weights: Sequence[np.ndarray], density: float,
                      method: str = "magnitude", *,
                      gradients: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
    """Masks that keep ``round(density * total)`` positions across all the layers together.

    One threshold for the whole network (Deep Compression prunes per layer; a global threshold
    lets redundant layers lose more). ``method`` is "magnitude" or "gradient".
    """
    if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence) or not weights:
        raise LayerError("prune_global takes a non-empty list of weight arrays, one per layer; "
                         "for a single layer use prune_weights()")
    if method not in GLOBAL_METHODS:
        raise LayerError(f"method = {method!r} cannot prune globally; use one of "
                         f"{', '.join(map(repr, GLOBAL_METHODS))}, or prune_weights() per layer")
    fraction = _check_density(density)
    layers = [_as_scores_input(w, f"weights[{i}]") for i, w in enumerate(weights)]
    if method == "gradient":
        if gradients is None or len(gradients) != len(layers):
            got = "none" if gradients is None else f"{len(gradients)}"
            raise LayerError(f"method='gradient' needs one gradient array per layer: "
                             f"{len(layers)} layers, {got} gradients; pass gradients=[dL/dW, ...]")
        scores = [np.abs(w * _check_gradients(g, w.shape, f"gradients[{i}]"))
                  for i, (w, g) in enumerate(zip(layers, gradients))]
    else:
        scores = [np.abs(w) for w in layers]
    flat = np.concatenate([s.ravel() for s in scores])
    keep = _top_k(flat, _count(fraction, flat.size))
    masks, start = [], 0
    for s in scores:
        masks.append(keep[start: start + s.size].reshape(s.shape))
        start += s.size
    return masks


def prune_global(weights: Sequence[np.ndarray], density: float, method: str = "magnitude", *,
                 gradients: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
    """Prune several layers with one global ranking; see :func:`prune_global_mask`.

    >>> a, b = prune_global([np.array([[1.0, 2.0]]), np.array([[3.0, 0.5]])], 0.5)
    >>> a.tolist(), b.tolist()
    ([[0.0, 2.0]], [[3.0, 0.0]])
    """
    masks = prune_global_mask(weights, density, method, gradients=gradients)
    return [np.where(m, np.asarray(w), np.zeros((), dtype=np.asarray(w).dtype))
            for w, m in zip(weights, masks)]


def density_schedule(final_density: float, steps: int,
                     schedule: str = "geometric") -> list[float]:
    """Densities after each of ``steps`` pruning steps, from 1 down to ``final_density``.

    "geometric" removes the same *fraction* of the remaining weights each step
    (``final ** (s / steps)``); "linear" removes the same *number* (``1 - (1 - final) s/steps``).

    >>> density_schedule(0.25, 2)
    [0.5, 0.25]
    >>> density_schedule(0.25, 3, "linear")
    [0.75, 0.5, 0.25]
    """
    final = _check_density(final_density, "final_density")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise LayerError(f"steps = {steps!r} must be a whole number >= 1 of pruning rounds; "
                         f"e.g. steps=5")
    if schedule not in SCHEDULES:
        raise LayerError(f"schedule = {schedule!r} is unknown; use one of "
                         f"{', '.join(map(repr, SCHEDULES))}")
    steps = int(steps)
    if schedule == "geometric":
        densities = [final ** (s / steps) for s in range(1, steps)]
    else:
        densities = [1.0 - (1.0 - final) * s / steps for s in range(1, steps)]
    return densities + [final]


def iterative_prune(weights: np.ndarray, final_density: float, steps: int,
                    fine_tune: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                    method: str = "magnitude", *, schedule: str = "geometric", seed: int = 0,
                    gradients: np.ndarray | Callable[[np.ndarray, np.ndarray], np.ndarray]
                    | None = None, num_pes: int | None = None,
                    block: tuple[int, int] = (4, 4)) -> IterativePruneResult:
    """Prune in ``steps`` rounds down to ``final_density``, fine-tuning after each round.

    Each round prunes the current weights to the next density of :func:`density_schedule`
    (only among the weights still kept, so a pruned weight never returns), then calls
    ``fine_tune(weights, mask)`` and masks its result again, so pruned weights stay 0 whatever
    the callback does. ``gradients`` (for method "gradient") may be an array or a callable
    ``(weights, mask) -> dL/dW`` evaluated before each round. Round s of method "random" uses
    the seed ``(seed, s)``.

    >>> calls = []
    >>> w, mask = iterative_prune(np.arange(1.0, 9.0).reshape(2, 4), 0.25, 2,
    ...                           lambda w, m: calls.append(int(m.sum())) or w + 1)
    >>> calls, w.tolist()
    ([4, 2], [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 9.0, 10.0]])
    """
    densities = density_schedule(final_density, steps, schedule)
    _check_seed(seed)
    if fine_tune is not None and not callable(fine_tune):
        raise LayerError(f"fine_tune = {fine_tune!r} is not callable; pass a function "
                         f"(weights, mask) -> weights, or None to prune without fine-tuning")
    current = np.array(weights, copy=True)
    mask = np.ones(current.shape, dtype=bool)
    for step, fraction in enumerate(densities, start=1):
        grads = gradients(current, mask) if callable(gradients) else gradients
        step_seed = seed if method != "random" else _step_seed(seed, step)
        mask = _mask(current, fraction, method, seed=step_seed, gradients=grads,
                     num_pes=num_pes, block=block, allowed=mask)
        current = np.where(mask, current, np.zeros((), dtype=current.dtype))
        if fine_tune is not None:
            tuned = np.asarray(fine_tune(current.copy(), mask.copy()))
            if tuned.shape != current.shape:
                raise LayerError(f"fine_tune returned an array of shape {tuned.shape} in round "
                                 f"{step}; it must return the weights' shape {current.shape}")
            current = np.where(mask, tuned, np.zeros((), dtype=tuned.dtype))
    return IterativePruneResult(current, mask)


# --- the masks ------------------------------------------------------------------------------------

def _mask(weights: np.ndarray, density: float, method: str, *, seed: int,
          gradients: np.ndarray | None, num_pes: int, block: tuple[int, int],
          allowed: np.ndarray | None) -> np.ndarray:
    """Mask keeping ``density`` of the positions, chosen only among ``allowed`` ones."""
    if not isinstance(method, str) or method not in METHODS:
        raise LayerError(f"method = {method!r} is not a pruning method; use one of "
                         f"{', '.join(map(repr, METHODS))}")
    fraction = _check_density(density)
    if not isinstance(seed, tuple):
        _check_seed(seed)
    w = _as_scores_input(weights, "weights")
    if method in ("rows", "columns", "blocks", "balanced") and w.ndim != 2:
        raise LayerError(f"method={method!r} works on a 2-D (out, in) matrix; weights has shape "
                         f"{w.shape}; reshape it or use 'magnitude'")
    if allowed is not None:
        w = np.where(allowed, w, 0.0)
    kept = _count(fraction, w.size)
    if allowed is not None:
        kept = min(kept, int(np.count_nonzero(allowed)))

    if method in ("magnitude", "random", "gradient"):
        if method == "magnitude":
            scores = np.abs(w)
        elif method == "gradient":
            if gradients is None:
                raise LayerError("method='gradient' needs gradients=dL/dW, an array of the "
                                 f"weights' shape {w.shape} (e.g. summed over a few batches, "
                                 "as in SNIP); use method='magnitude' without them")
            scores = np.abs(w * _check_gradients(gradients, w.shape, "gradients"))
        else:
            scores = np.random.default_rng(seed).random(w.shape)
        if allowed is not None:
            scores = np.where(allowed, scores, -np.inf)
        return _top_k(scores.ravel(), kept).reshape(w.shape)

    if method == "balanced":
        return _balanced_mask(w, kept, _check_num_pes(num_pes), allowed)

    if method in ("rows", "columns"):
        axis = 1 if method == "rows" else 0
        norms = np.sqrt(np.sum(w * w, axis=axis))
        if allowed is not None:
            norms = np.where(np.any(allowed, axis=axis), norms, -np.inf)
        keep = _top_k(norms, _count(fraction, norms.size))
        return _restrict(np.broadcast_to(keep[:, None] if method == "rows" else keep[None, :],
                                         w.shape), allowed)

    bh, bw = _check_block(block)
    out, inp = w.shape
    nbr, nbc = -(-out // bh), -(-inp // bw)
    padded = np.zeros((nbr * bh, nbc * bw))
    padded[:out, :inp] = w * w
    norms = np.sqrt(padded.reshape(nbr, bh, nbc, bw).sum(axis=(1, 3)))
    if allowed is not None:
        any_allowed = np.zeros((nbr * bh, nbc * bw), dtype=bool)
        any_allowed[:out, :inp] = allowed
        norms = np.where(any_allowed.reshape(nbr, bh, nbc, bw).any(axis=(1, 3)), norms, -np.inf)
    keep = _top_k(norms.ravel(), _count(fraction, norms.size)).reshape(nbr, nbc)
    full = np.repeat(np.repeat(keep, bh, axis=0), bw, axis=1)
    return _restrict(full[:out, :inp], allowed)


def _restrict(mask: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    return mask & allowed if allowed is not None else mask.copy()


def _balanced_mask(w: np.ndarray, kept: int, num_pes: int,
                   allowed: np.ndarray | None) -> np.ndarray:
    """ESE's load-balance-aware pruning; see the module doc for the two distribution rules."""
    out, inp = w.shape
    rows_per_pe = -(-out // num_pes)
    padded_rows = rows_per_pe * num_pes
    # (row-in-PE, PE, column): element [l, p, j] is row l * num_pes + p, i.e. PE p's l-th row.
    scores = np.full((padded_rows, inp), -np.inf, dtype=w.dtype)
    scores[:out] = np.abs(w) if allowed is None else np.where(allowed, np.abs(w), -np.inf)
    scores = scores.reshape(rows_per_pe, num_pes, inp)
    if out < num_pes:
        warnings.warn(f"balanced pruning: the layer has {out} rows for num_pes = {num_pes}, so "
                      f"{num_pes - out} PEs hold no rows and idle whatever is kept; each of the "
                      f"{out} PEs with rows keeps the largest weights of its own row",
                      PruningWarning, stacklevel=4)
    if kept // inp < min(num_pes, out):
        return _balanced_per_pe(scores, kept)[:out]
    capacity = np.isfinite(scores).sum(axis=0).T  # (column, PE): rows a slice can keep
    per_column = _waterfill(capacity.sum(axis=1)[None, :], np.array([kept]))[0]
    per_slice = _waterfill(capacity, per_column)  # (column, PE)

    mask = np.zeros((rows_per_pe, num_pes, inp), dtype=bool)
    for start in range(0, inp, _COLUMN_CHUNK):
        stop = min(start + _COLUMN_CHUNK, inp)
        # (column, PE, row-in-PE): each slice contiguous. Keep the scores above the slice's
        # c-th largest, then as many equal to it as still needed, lowest rows first.
        chunk = np.ascontiguousarray(scores[:, :, start:stop].transpose(2, 1, 0))
        count = per_slice[start:stop, :, None]
        descending = -np.sort(-chunk, axis=2)
        threshold = np.take_along_axis(descending, np.maximum(count - 1, 0), axis=2)
        threshold = np.where(count > 0, threshold, np.inf)
        keep = chunk > threshold
        ties = chunk == threshold
        missing = count - keep.sum(axis=2, keepdims=True)
        keep |= ties & (np.cumsum(ties, axis=2) <= missing)
        mask[:, :, start:stop] = keep.transpose(2, 1, 0)
    return mask.reshape(padded_rows, inp)[:out]


def _balanced_per_pe(scores: np.ndarray, kept: int) -> np.ndarray:
    """Per-PE balance: ``scores`` is (row-in-PE, PE, column) with -inf where nothing may be kept;
    each PE keeps its share of ``kept``, its largest scores. Returns the (padded rows, in)
    mask."""
    rows_per_pe, num_pes, inp = scores.shape
    capacity = np.isfinite(scores).sum(axis=(0, 2))
    per_pe = _waterfill(capacity[None, :], np.array([kept]))[0]
    mask = np.zeros(scores.shape, dtype=bool)
    for pe in np.flatnonzero(per_pe):
        own = np.ascontiguousarray(scores[:, pe, :]).ravel()
        mask[:, pe, :] = _top_k(own, int(per_pe[pe])).reshape(rows_per_pe, inp)
    return mask.reshape(rows_per_pe * num_pes, inp)


def _waterfill(capacity: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Split each ``targets[i]`` over the groups of row i, as evenly as ``capacity`` allows.

    Every group gets ``min(capacity, level)`` for the highest level that fits; the remaining
    ``r`` units go one each to groups with room, in a round robin over those groups whose
    position carries over from row to row (so over many rows each group gets its share).
    """
    capacity = capacity.astype(np.int64)
    rows = capacity.shape[0]
    lo = np.zeros(rows, dtype=np.int64)
    hi = capacity.max(axis=1, initial=0)
    while np.any(lo < hi):  # the largest level with sum(min(capacity, level)) <= target
        mid = (lo + hi + 1) // 2
        fits = np.minimum(capacity, mid[:, None]).sum(axis=1) <= targets
        lo = np.where(fits, mid, lo)
        hi = np.where(fits, hi, mid - 1)
    counts = np.minimum(capacity, lo[:, None])
    remainder = targets - counts.sum(axis=1)
    # Round robin over the groups with room (skipping full ones), continuing across rows.
    room = capacity > lo[:, None]
    place = np.cumsum(room, axis=1) - 1  # index of a group among the groups with room
    with_room = np.maximum(room.sum(axis=1), 1)
    start = (np.cumsum(remainder) - remainder)[:, None]
    extra = room & ((place - start) % with_room[:, None] < remainder[:, None])
    return counts + extra


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Bool mask of the k largest scores (1-D); on ties the lower index wins. O(n)."""
    n = scores.size
    keep = np.zeros(n, dtype=bool)
    if k <= 0:
        return keep
    if k >= n:
        keep[:] = True
        return keep
    threshold = np.partition(scores, n - k)[n - k]  # the k-th largest score
    keep = scores > threshold
    missing = k - int(np.count_nonzero(keep))
    keep[np.flatnonzero(scores == threshold)[:missing]] = True
    return keep


# --- validation -----------------------------------------------------------------------------------

def _count(fraction: float, size: int) -> int:
    """round(fraction * size), halves up, at least 1 (for size >= 1)."""
    return min(size, max(1, math.floor(fraction * size + 0.5))) if size else 0


def _check_density(density: object, name: str = "density") -> float:
    if isinstance(density, bool) or not isinstance(density, numbers.Real) \
            or not math.isfinite(density) or not 0 < density <= 1:
        raise LayerError(f"{name} = {density!r} must be in (0, 1], the fraction of weights "
                         f"kept; e.g. 0.09 keeps 9 % (AlexNet fc6/fc7 in the paper)")
    return float(density)


def _as_scores_input(weights: object, name: str) -> np.ndarray:
    w = np.asarray(weights)
    if w.ndim < 1 or w.size < 1:
        raise LayerError(f"{name} has shape {w.shape}; it must be a non-empty array")
    if not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)):
        raise LayerError(f"{name} has dtype {w.dtype}; it must be a real number array")
    # float32 stays float32 (half the memory traffic of ranking float64; |w| is exact).
    w = w.astype(np.float32 if w.dtype in (np.float16, np.float32) else np.float64, copy=False)
    bad = ~np.isfinite(w)
    if bad.any():
        where = ", ".join(str(int(i)) for i in np.argwhere(bad)[0])
        raise LayerError(f"{name}[{where}] = {w[tuple(np.argwhere(bad)[0])]} is not finite; "
                         f"replace NaN/inf before pruning, e.g. with np.nan_to_num")
    return w


def _check_gradients(gradients: object, shape: tuple[int, ...], name: str) -> np.ndarray:
    g = _as_scores_input(gradients, name)
    if g.shape != shape:
        raise LayerError(f"{name} has shape {g.shape} but the weights have shape {shape}; pass "
                         f"dL/dW for exactly these weights")
    return g


def _check_seed(seed: object) -> None:
    from eiesim.checks import check_seed

    check_seed(seed, error=LayerError)


def mask_densities(masks: Sequence[np.ndarray]) -> tuple[tuple[float, ...], float]:
    """Kept positions over positions of each mask, and of all of them together (a network's
    density: its kept weights over its weights).

    >>> mask_densities([np.array([True, False]), np.ones(2, bool)])
    ((0.5, 1.0), 0.75)
    """
    per_layer = tuple(float(np.mean(m)) for m in masks)
    return per_layer, sum(int(np.sum(m)) for m in masks) / sum(int(np.size(m)) for m in masks)


def _check_num_pes(num_pes: object) -> int:
    if num_pes is None:  # the default design point's (the paper's 64)
        from eiesim.spec import DEFAULT_SPEC

        return DEFAULT_SPEC.num_pes
    if isinstance(num_pes, bool) or not isinstance(num_pes, numbers.Integral) or num_pes < 1:
        raise LayerError(f"num_pes = {num_pes!r} must be a whole number >= 1; use the "
                         f"HardwareSpec's num_pes (the paper: 64)")
    return int(num_pes)


def _check_block(block: object) -> tuple[int, int]:
    if (not isinstance(block, (tuple, list)) or len(block) != 2
            or any(isinstance(b, bool) or not isinstance(b, numbers.Integral) or b < 1
                   for b in block)):
        raise LayerError(f"block = {block!r} must be a pair (rows, columns) of whole numbers "
                         f">= 1, e.g. block=(4, 4)")
    return int(block[0]), int(block[1])


def _step_seed(seed: int, step: int) -> tuple[int, int]:
    return (int(seed), step)

