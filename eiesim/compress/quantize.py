"""Weight sharing as in Deep Compression (Han, Mao, Dally, ICLR 2016; docs/hardware.md §2).

The kept (non-zero) weights of one layer are clustered with 1-D k-means (Lloyd's algorithm)
into ``2**bits - 1`` centroids; the value 0 is then prepended at index 0, which EIE reserves for
pruned weights and padding entries. Every weight is replaced by the index (code) of its
centroid: zeros keep code 0 and a non-zero weight never gets code 0. The bias is quantized with
the same codebook, as in the flow of EIE's RTL model. :func:`quantize_weights` returns an
:class:`eiesim.format.quantized.QuantizedLayer` whose ``quantization`` field
(:class:`~eiesim.format.quantized.QuantizationStats`) reports codebook usage and the error.

The module is callable for compatibility: ``eiesim.compress.quantize(w, bits)`` (and ``from
eiesim.compress import quantize``) is :func:`quantize_weights`.

Why the codebook is used fully (this differs from Deep Compression on purpose):

* **Initialisation over the kept weights, per sign.** Deep Compression's "linear" init spaces
  the centroids evenly over [min, max] of the layer's weights *before* pruning, where the values
  are unimodal. eiesim quantizes after pruning: the kept weights are bimodal with a gap around
  0, and centroids spaced over [min, max] land in the gap, attract no weight and are wasted (on
  a 512 x 1024 normal layer magnitude-pruned to 10 %, 4 of 15 entries stayed unused). So
  "linear" here spaces the centroids evenly over the negative kept weights and, separately,
  over the positive ones, shared between the signs in proportion to their counts.
* **Empty clusters are re-seeded.** When a cluster loses all its weights, its centroid moves to
  the value of the cluster with the largest squared error that lies farthest from that
  cluster's mean (the end of its run), which splits it; this strictly lowers the error, so the
  fit still terminates. While the layer has more distinct kept values than centroids, no
  centroid is left unused (after convergence).

Why it is fast: in one dimension the clusters of Lloyd's algorithm are contiguous runs of the
sorted values, split at the midpoints between neighbouring centroids. The kept weights are
sorted once; each iteration then finds the split points with one ``searchsorted`` of the
2**bits - 2 midpoints and the cluster sums from prefix sums, so an iteration costs
O(2**bits * log n) rather than O(n * 2**bits). A 4096 x 4096 layer at 9 % density quantizes in
well under a second, most of it the one sort.

Conventions (documented because they decide ties and corner cases):

* ``codebook[1:]`` is ascending; a value exactly on a midpoint goes to the upper centroid.
* When the layer has at most ``2**bits - 1`` distinct non-zero values, the codebook holds
  exactly those values (in ascending order, rounded to float32) and the unused tail of the
  codebook is 0; k-means is not run.
* A centroid can itself be 0.0 (a cluster of weights of both signs whose mean is 0); its code
  is still non-zero, so the weights stay stored, as they would in the RTL model's flow.
* The bias is stored through the same codebook (EIE's flow), so the centroids are fitted to the
  kept weights and the non-zero bias values together. Without that, the per-sign
  initialisation leaves no centroid in the gap around 0 where small biases lie, and their
  error grows: on the digits MLP pruned to 10 %, chip accuracy fell from 93.9 % to 82.2 %.
  A layer whose weights are all zero is fitted to its non-zero bias values alone.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from eiesim.checks import check_seed
from eiesim.compress.kmeans_kernel import CONVERGED, EXHAUSTED, lloyd_iterations
from eiesim.errors import LayerError
from eiesim.format.quantized import MAX_CODE_BITS, QuantizationStats, QuantizedLayer

INITS = ("linear", "random", "density")
"""Centroid initialisations of Deep Compression §3.2; "linear" is the one that paper found best."""

MIN_BITS = 1
MAX_BITS = MAX_CODE_BITS  # codes are uint8


def quantize_weights(weights: np.ndarray, bits: int | None = None, *, init: str = "linear",
                     seed: int = 0, max_iter: int = 1000,
                     bias: np.ndarray | None = None) -> QuantizedLayer:
    """Share the weights of one layer through a ``2**bits``-entry codebook (entry 0 = 0);
    ``bits`` defaults to the default spec's ``weight_index_bits`` (the paper's 4).

    ``weights`` is the (out, in) matrix, zeros meaning pruned. ``init`` chooses the initial
    centroids: "linear" (evenly spaced over the negative and, separately, the positive kept
    weights; see the module doc for why this differs from Deep Compression), "random"
    (``2**bits - 1`` kept weights drawn with ``seed``) or "density" (the quantiles at
    probabilities (i + 0.5) / k of the kept weights). Empty clusters are re-seeded.
    ``max_iter`` bounds the Lloyd iterations (0 keeps the initial centroids). ``bias`` (out,)
    is quantized with the same codebook: to the nearest centroid, code 0 only for a bias
    exactly 0.

    Returns an :class:`eiesim.format.quantized.QuantizedLayer` holding the codes, the float32
    codebook,
    the bias codes, the float weights as ``reference_weights`` and, in ``quantization``, the
    fit's statistics (codebook usage, iterations, error).

    >>> import numpy as np
    >>> w = np.array([[1.0, 2.0, 0.0], [3.0, 10.0, 11.0], [12.0, 0.0, 0.0]])
    >>> q = quantize_weights(w, bits=2)
    >>> q.codebook.tolist()  # linear init 1, 6.5, 12; 6.5 empties and is re-seeded at 1
    [0.0, 1.0, 2.5, 11.0]
    >>> q.codes.tolist()
    [[1, 2, 0], [2, 3, 3], [3, 0, 0]]
    >>> q.quantization.clusters_used, q.quantization.reseeded_clusters
    (3, 1)
    """
    bits = _check_bits(bits)
    if not isinstance(init, str) or init not in INITS:
        raise LayerError(f"init = {init!r} is not a known initialisation; use one of "
                         f"{', '.join(map(repr, INITS))} ('linear' is the default)")
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 0:
        raise LayerError(f"max_iter = {max_iter!r} must be a whole number >= 0 (0 keeps the "
                         f"initial centroids); the default is 1000")
    check_seed(seed, error=LayerError)
    w = _as_float_matrix(weights)
    b = None if bias is None else _as_float_bias(bias, w.shape[0])

    flat = w.ravel()
    kept_at = np.flatnonzero(flat)
    kept = flat[kept_at].astype(np.float64)
    k = (1 << bits) - 1
    # EIE stores the bias through the same codebook (docs/hardware.md §2), so the codebook is
    # fitted to the values it must represent: the kept weights and the non-zero bias.
    fit_values = kept if b is None else np.concatenate((kept, b[b != 0]))

    fit = _fit_centroids(fit_values, k, init, int(seed), int(max_iter))
    centroids = fit.centroids
    codebook = np.zeros(k + 1, dtype=np.float32)
    with np.errstate(over="ignore"):
        codebook[1: centroids.size + 1] = centroids.astype(np.float32)
    if not np.all(np.isfinite(codebook)):
        largest = float(np.max(np.abs(centroids)))
        raise LayerError(f"a centroid of magnitude {largest:.3g} overflows the float32 "
                         f"codebook (largest {float(np.finfo(np.float32).max):.3g}); scale the "
                         f"weights down before quantizing")

    codes = np.zeros(flat.size, dtype=np.uint8)
    if kept.size:
        codes[kept_at] = _nearest(kept, centroids)
    codes = codes.reshape(w.shape)

    bias_codes = None
    bias_max = 0.0
    if b is not None:
        bias_codes = np.zeros(b.size, dtype=np.uint8)
        nonzero_bias = b != 0
        if centroids.size:
            bias_codes[nonzero_bias] = _nearest(b[nonzero_bias], centroids)
        bias_max = float(np.max(np.abs(codebook[bias_codes].astype(np.float64) - b),
                                initial=0.0))

    kept_codes = codes.ravel()[kept_at]
    error = kept - codebook[kept_codes].astype(np.float64)
    sse = float(error @ error)
    norm2 = float(kept @ kept)
    stats = QuantizationStats(
        bits=bits,
        init=init,
        iterations=fit.iterations,
        converged=fit.converged,
        kept_weights=int(kept.size),
        distinct_kept_values=int(np.unique(kept).size),
        clusters_used=int(np.count_nonzero(np.bincount(kept_codes, minlength=k + 1)[1:])),
        reseeded_clusters=fit.reseeded,
        sse=sse,
        rms_error=float(np.sqrt(sse / kept.size)) if kept.size else 0.0,
        max_abs_error=float(np.max(np.abs(error), initial=0.0)),
        relative_error=float(np.sqrt(sse / norm2)) if norm2 > 0 else 0.0,
        bias_max_abs_error=bias_max,
    )
    return QuantizedLayer(codes, codebook, bias_codes, reference_weights=w,
                          reference_bias=b, quantization=stats,
                          source=f"quantize_weights(bits={bits}, init={init!r})")


def dequantize(codes: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Look codes up in the codebook: float32 array of the shape of ``codes``.

    >>> dequantize(np.array([[0, 2], [1, 1]], dtype=np.uint8), np.array([0.0, -0.5, 0.25]))
    array([[ 0.  ,  0.25],
           [-0.5 , -0.5 ]], dtype=float32)
    """
    codes = np.asarray(codes)
    codebook = np.asarray(codebook)
    if not np.issubdtype(codes.dtype, np.integer):
        raise LayerError(f"codes has dtype {codes.dtype}; codes are integer codebook indices "
                         f"(uint8); quantize float weights with quantize() first")
    if codebook.ndim != 1 or codebook.size < 1 or not np.issubdtype(codebook.dtype, np.number):
        raise LayerError(f"codebook has shape {codebook.shape} and dtype {codebook.dtype}; it "
                         f"must be a non-empty 1-D numeric array")
    if codes.size and (codes.min() < 0 or codes.max() >= codebook.size):
        bad = int(codes.max()) if codes.max() >= codebook.size else int(codes.min())
        raise LayerError(f"codes contain index {bad}, outside the codebook's {codebook.size} "
                         f"entries (0..{codebook.size - 1}); supply the full codebook")
    return codebook.astype(np.float32)[codes]


# --- k-means --------------------------------------------------------------------------------------

class _Fit(NamedTuple):
    centroids: np.ndarray
    iterations: int
    converged: bool
    reseeded: int


def _fit_centroids(values: np.ndarray, k: int, init: str, seed: int, max_iter: int) -> _Fit:
    """Ascending float64 centroids for ``values`` (1-D, non-zero), with the fit's counts."""
    if values.size == 0:
        return _Fit(centroids=np.zeros(0), iterations=0, converged=True, reseeded=0)
    xs = np.sort(values)
    distinct = xs[np.concatenate(([True], xs[1:] != xs[:-1]))]
    if distinct.size <= k:  # exact: every distinct value is its own centroid
        return _Fit(centroids=distinct, iterations=0, converged=True, reseeded=0)

    centroids = np.sort(_initial_centroids(xs, k, init, seed))
    prefix = np.concatenate(([0.0], np.cumsum(xs)))
    prefix_sq = np.concatenate(([0.0], np.cumsum(xs * xs)))
    splits = None
    reseeded = 0
    iteration = 1
    while iteration <= max_iter:
        # The kernel runs the loop below, bit for bit, until it converges, ends, or reaches an
        # iteration that empties a cluster; that one runs here (kmeans_kernel's doc).
        status, iteration, centroids, kernel_splits, has_splits = lloyd_iterations(
            xs, prefix, centroids, np.zeros(k - 1, np.int64) if splits is None else splits,
            splits is not None, iteration, max_iter)
        splits = kernel_splits if has_splits else None
        if status == CONVERGED:
            return _Fit(centroids=centroids, iterations=iteration - 1, converged=True,
                        reseeded=reseeded)
        if status == EXHAUSTED:
            break
        # Cluster j is xs[bounds[j]:bounds[j+1]]; side="left" sends a value on a midpoint up.
        midpoints = (centroids[:-1] + centroids[1:]) / 2
        new_splits = np.searchsorted(xs, midpoints, side="left")
        if splits is not None and np.array_equal(new_splits, splits):
            return _Fit(centroids=centroids, iterations=iteration - 1, converged=True,
                        reseeded=reseeded)
        splits = new_splits
        bounds = np.concatenate(([0], splits, [xs.size]))
        counts = np.diff(bounds)
        sums = prefix[bounds[1:]] - prefix[bounds[:-1]]
        occupied = counts > 0
        centroids = np.where(occupied, sums / np.maximum(counts, 1), centroids)
        if not occupied.all():
            centroids = _reseed_empty(xs, bounds, counts, sums, prefix_sq, centroids, occupied)
            reseeded += int(np.count_nonzero(~occupied))
            splits = None  # the assignment must be recomputed with the moved centroids
        # The mean of a run of sorted values lies inside it; clip against rounding so the
        # centroids stay ascending and inside [min, max].
        centroids = np.clip(np.maximum.accumulate(np.sort(centroids)), xs[0], xs[-1])
        iteration += 1
    midpoints = (centroids[:-1] + centroids[1:]) / 2
    converged = splits is not None and np.array_equal(
        np.searchsorted(xs, midpoints, side="left"), splits)
    return _Fit(centroids=centroids, iterations=max_iter, converged=bool(converged),
                reseeded=reseeded)


def _reseed_empty(xs: np.ndarray, bounds: np.ndarray, counts: np.ndarray, sums: np.ndarray,
                  prefix_sq: np.ndarray, centroids: np.ndarray,
                  occupied: np.ndarray) -> np.ndarray:
    """Move each empty cluster's centroid to split one of the clusters with the largest squared
    error: onto the end of that cluster's run lying farthest from its mean. Only clusters
    holding at least two distinct values can be split; those are taken in order of error."""
    centroids = centroids.copy()
    squares = prefix_sq[bounds[1:]] - prefix_sq[bounds[:-1]]
    sse = np.where(occupied, squares - sums * sums / np.maximum(counts, 1), -np.inf)
    first = xs[np.minimum(bounds[:-1], xs.size - 1)]
    last = xs[np.maximum(bounds[1:] - 1, 0)]
    splittable = occupied & (first != last)
    order = [j for j in np.argsort(-sse, kind="stable") if splittable[j]]
    for empty, donor in zip(np.flatnonzero(~occupied), order):
        mean = centroids[donor]
        far_end = first[donor] if mean - first[donor] >= last[donor] - mean else last[donor]
        centroids[empty] = far_end
    return centroids


def _initial_centroids(xs: np.ndarray, k: int, init: str, seed: int) -> np.ndarray:
    """Initial centroids from the sorted non-zero values ``xs`` (module doc)."""
    if init == "linear":
        negative, positive = xs[xs < 0], xs[xs > 0]
        if not negative.size or not positive.size or k < 2:
            return np.linspace(xs[0], xs[-1], k)
        # Share the centroids between the signs by count, at least one each.
        k_negative = min(k - 1, max(1, round(k * negative.size / xs.size)))
        return np.concatenate((_spread(negative, k_negative), _spread(positive, k - k_negative)))
    if init == "density":
        # Evenly spaced heights of the CDF, mapped back through it (no interpolation, so each
        # centroid is a data value).
        probabilities = (np.arange(k) + 0.5) / k
        return xs[np.minimum((probabilities * xs.size).astype(np.int64), xs.size - 1)]
    rng = np.random.default_rng(seed)
    return xs[rng.choice(xs.size, size=k, replace=False)]


def _spread(sorted_values: np.ndarray, count: int) -> np.ndarray:
    """``count`` centroids evenly spaced over [min, max] of one sign (the middle for one)."""
    low, high = sorted_values[0], sorted_values[-1]
    return np.linspace(low, high, count) if count > 1 else np.array([(low + high) / 2])


def _nearest(values: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Code (1-based index of the nearest ascending centroid) of each value; ties go up."""
    midpoints = (centroids[:-1] + centroids[1:]) / 2
    return (np.searchsorted(midpoints, values, side="right") + 1).astype(np.uint8)


# --- validation -----------------------------------------------------------------------------------

def _check_bits(bits: object) -> int:
    if bits is None:
        from eiesim.spec import DEFAULT_SPEC

        return DEFAULT_SPEC.weight_index_bits
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral):
        raise LayerError(f"bits = {bits!r} must be a whole number of index bits in "
                         f"{MIN_BITS}..{MAX_BITS}; the paper uses bits=4")
    if not MIN_BITS <= int(bits) <= MAX_BITS:
        raise LayerError(f"bits = {bits} is outside {MIN_BITS}..{MAX_BITS} (codes are uint8 and "
                         f"index 0 is reserved for zero); use e.g. bits=4 as in the paper")
    return int(bits)


def _as_float_matrix(weights: object) -> np.ndarray:
    w = np.asarray(weights)
    if w.ndim != 2:
        raise LayerError(f"weights has shape {w.shape}; quantize() takes one fully connected "
                         f"layer as a 2-D (out, in) matrix; reshape it first")
    if not (np.issubdtype(w.dtype, np.floating) or np.issubdtype(w.dtype, np.integer)
            or w.dtype == np.bool_):
        raise LayerError(f"weights has dtype {w.dtype}; it must be a real number array")
    if not np.issubdtype(w.dtype, np.floating):
        return w  # integers and booleans are always finite
    bad = ~np.isfinite(w)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise LayerError(f"weights[{row}, {col}] = {w[row, col]} is not finite "
                         f"({int(bad.sum())} non-finite value(s) in all); replace NaN/inf "
                         f"before quantizing, e.g. with np.nan_to_num")
    return w


def _as_float_bias(bias: object, out_features: int) -> np.ndarray:
    b = np.asarray(bias)
    if b.shape != (out_features,):
        raise LayerError(f"bias has shape {b.shape}; it must have shape ({out_features},), one "
                         f"value per output row of the weights")
    if not (np.issubdtype(b.dtype, np.floating) or np.issubdtype(b.dtype, np.integer)):
        raise LayerError(f"bias has dtype {b.dtype}; it must be a real number array")
    b = b.astype(np.float64, copy=False)
    bad = np.flatnonzero(~np.isfinite(b))
    if bad.size:
        raise LayerError(f"bias[{int(bad[0])}] = {b[bad[0]]} is not finite ({bad.size} "
                         f"non-finite value(s) in all); replace NaN/inf before quantizing")
    return b

