"""Weight sharing as in Deep Compression (Han, Mao, Dally, ICLR 2016; ../shared/EIE.md §2).

The kept (non-zero) weights of one layer are clustered with 1-D k-means (Lloyd's algorithm)
into ``2**bits - 1`` centroids; the value 0 is then prepended at index 0, which EIE reserves for
pruned weights and padding entries. Every weight is replaced by the index (code) of its
centroid: zeros keep code 0 and a non-zero weight never gets code 0. The bias is quantized with
the same codebook, as in the flow of EIE's RTL model.

Why it is fast: in one dimension the clusters of Lloyd's algorithm are contiguous runs of the
sorted values, split at the midpoints between neighbouring centroids. The kept weights are
sorted once; each iteration then finds the split points with one ``searchsorted`` of the
2**bits - 2 midpoints and the cluster sums from prefix sums, so an iteration costs
O(2**bits * log n) rather than O(n * 2**bits). A 4096 x 4096 layer at 9 % density quantizes in
well under a second, most of it the one sort.

Conventions (documented because they decide ties and corner cases):

* ``codebook[1:]`` is ascending; a value exactly on a midpoint goes to the upper centroid.
* A cluster that becomes empty keeps its centroid (Deep Compression keeps the codebook size
  fixed); with that rule no Lloyd iteration increases the squared error.
* When the layer has at most ``2**bits - 1`` distinct non-zero values, the codebook holds
  exactly those values (in ascending order, rounded to float32) and the unused tail of the
  codebook is 0; k-means is not run.
* A centroid can itself be 0.0 (a cluster of weights of both signs whose mean is 0); its code
  is still non-zero, so the weights stay stored, as they would in the RTL model's flow.
* A layer whose weights are all zero has an all-zero codebook. If its bias is non-zero, the
  centroids are fitted to the non-zero bias values instead (the only values to represent).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from eiesim.errors import LayerError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from eiesim.layer import EncodedLayer
    from eiesim.spec import HardwareSpec

INITS = ("linear", "random", "density")
"""Centroid initialisations of Deep Compression §3.2; "linear" is the one that paper found best."""

MIN_BITS = 1
MAX_BITS = 8  # codes are uint8


@dataclass(frozen=True, eq=False)
class QuantizedLayer:
    """The result of :func:`quantize`: codes, the shared codebook and the error it causes.

    Error statistics are over the kept (non-zero) weights only; pruned weights are exact.
    """

    codes: np.ndarray
    """uint8 (out, in): index into ``codebook``; 0 exactly where the weight is 0."""
    codebook: np.ndarray
    """float32 (2**bits,): ``codebook[0] == 0``, ``codebook[1:]`` ascending centroids."""
    bias_codes: np.ndarray | None
    """uint8 (out,) codes of the bias, or None when no bias was given."""
    bits: int
    """Bits of a code; the codebook has 2**bits entries."""
    init: str
    """Centroid initialisation used ("linear", "random" or "density")."""
    iterations: int
    """Lloyd iterations run (0 when the values were represented exactly)."""
    converged: bool
    """True when the assignment stopped changing (or the values are exact) before max_iter."""
    kept_weights: int
    """Number of non-zero weights."""
    sse: float
    """Sum of squared errors of the kept weights against the float32 codebook."""
    rms_error: float
    """Root-mean-square error of the kept weights (0 when none are kept)."""
    max_abs_error: float
    """Largest absolute error of a kept weight."""
    relative_error: float
    """||W - Q(W)||_F / ||W||_F (0 for an all-zero layer)."""
    bias_max_abs_error: float = 0.0
    """Largest absolute error of a bias value (0 without bias)."""
    clusters_used: int = field(default=0)
    """Distinct non-zero codes that occur in ``codes``."""

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.codes.shape)  # type: ignore[return-value]

    @property
    def density(self) -> float:
        """Fraction of weights kept (non-zero)."""
        return self.kept_weights / self.codes.size if self.codes.size else 0.0

    def weights(self) -> np.ndarray:
        """The quantized weight matrix, float32 (out, in)."""
        return dequantize(self.codes, self.codebook)

    def bias(self) -> np.ndarray | None:
        """The quantized bias, float32 (out,), or None."""
        if self.bias_codes is None:
            return None
        return dequantize(self.bias_codes, self.codebook)

    def encode(self, spec: "HardwareSpec | None" = None) -> "EncodedLayer":
        """Encode into EIE's interleaved CSC for ``spec`` (default: the paper's 64 PEs)."""
        from eiesim.compress.encode import encode
        from eiesim.spec import DEFAULT_SPEC

        return encode(self.codes, self.codebook, self.bias_codes,
                      spec=DEFAULT_SPEC if spec is None else spec)


def quantize(weights: np.ndarray, bits: int = 4, *, init: str = "linear", seed: int = 0,
             max_iter: int = 1000, bias: np.ndarray | None = None) -> QuantizedLayer:
    """Share the weights of one layer through a ``2**bits``-entry codebook (entry 0 = 0).

    ``weights`` is the (out, in) matrix, zeros meaning pruned. ``init`` chooses the initial
    centroids: "linear" (evenly spaced over [min, max] of the kept weights, Deep Compression's
    best), "random" (``2**bits - 1`` kept weights drawn with ``seed``) or "density" (the
    quantiles at probabilities (i + 0.5) / k of the kept weights). ``max_iter`` bounds the
    Lloyd iterations (0 keeps the initial centroids). ``bias`` (out,) is quantized with the
    same codebook: to the nearest centroid, code 0 only for a bias exactly 0.

    >>> import numpy as np
    >>> w = np.array([[1.0, 2.0, 0.0], [3.0, 10.0, 11.0], [12.0, 0.0, 0.0]])
    >>> q = quantize(w, bits=2)
    >>> q.codebook.tolist()  # linear init 1, 6.5, 12; the middle cluster stays empty
    [0.0, 2.0, 6.5, 11.0]
    >>> q.codes.tolist()
    [[1, 1, 0], [1, 3, 3], [3, 0, 0]]
    """
    bits = _check_bits(bits)
    if not isinstance(init, str) or init not in INITS:
        raise LayerError(f"init = {init!r} is not a known initialisation; use one of "
                         f"{', '.join(map(repr, INITS))} ('linear' is Deep Compression's best)")
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 0:
        raise LayerError(f"max_iter = {max_iter!r} must be a whole number >= 0 (0 keeps the "
                         f"initial centroids); the default is 1000")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise LayerError(f"seed = {seed!r} must be a whole number; every random choice in "
                         f"eiesim takes an integer seed")
    w = _as_float_matrix(weights)
    b = None if bias is None else _as_float_bias(bias, w.shape[0])

    flat = w.ravel()
    kept_at = np.flatnonzero(flat)
    kept = flat[kept_at].astype(np.float64)
    k = (1 << bits) - 1
    fit_values = kept if kept.size or b is None else b[b != 0]

    centroids, iterations, converged = _fit_centroids(fit_values, k, init, int(seed),
                                                      int(max_iter))
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
    return QuantizedLayer(
        codes=codes,
        codebook=codebook,
        bias_codes=bias_codes,
        bits=bits,
        init=init,
        iterations=iterations,
        converged=converged,
        kept_weights=int(kept.size),
        sse=sse,
        rms_error=float(np.sqrt(sse / kept.size)) if kept.size else 0.0,
        max_abs_error=float(np.max(np.abs(error), initial=0.0)),
        relative_error=float(np.sqrt(sse / norm2)) if norm2 > 0 else 0.0,
        bias_max_abs_error=bias_max,
        clusters_used=int(np.count_nonzero(np.bincount(kept_codes, minlength=k + 1)[1:])),
    )


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


# --- k-means -------------------------------------------------------------------------------------

def _fit_centroids(values: np.ndarray, k: int, init: str, seed: int,
                   max_iter: int) -> tuple[np.ndarray, int, bool]:
    """Ascending float64 centroids for ``values`` (1-D, non-zero), iterations, converged."""
    if values.size == 0:
        return np.zeros(0), 0, True
    xs = np.sort(values)
    distinct = xs[np.concatenate(([True], xs[1:] != xs[:-1]))]
    if distinct.size <= k:
        return distinct, 0, True  # exact: every distinct value is its own centroid

    centroids = np.sort(_initial_centroids(xs, k, init, seed))
    prefix = np.concatenate(([0.0], np.cumsum(xs)))
    splits = None
    for iteration in range(1, max_iter + 1):
        # Cluster j is xs[bounds[j]:bounds[j+1]]; side="left" sends a value on a midpoint up.
        midpoints = (centroids[:-1] + centroids[1:]) / 2
        new_splits = np.searchsorted(xs, midpoints, side="left")
        if splits is not None and np.array_equal(new_splits, splits):
            return centroids, iteration - 1, True
        splits = new_splits
        bounds = np.concatenate(([0], splits, [xs.size]))
        counts = np.diff(bounds)
        sums = prefix[bounds[1:]] - prefix[bounds[:-1]]
        occupied = counts > 0
        # An empty cluster keeps its centroid (Deep Compression keeps 2**bits entries).
        centroids = np.where(occupied, sums / np.maximum(counts, 1), centroids)
        # The mean of a run of sorted values lies inside it; clip against rounding so the
        # centroids stay ascending and inside [min, max].
        centroids = np.clip(np.maximum.accumulate(centroids), xs[0], xs[-1])
    if splits is None:
        return centroids, 0, False
    midpoints = (centroids[:-1] + centroids[1:]) / 2
    converged = np.array_equal(np.searchsorted(xs, midpoints, side="left"), splits)
    return centroids, max_iter, bool(converged)


def _initial_centroids(xs: np.ndarray, k: int, init: str, seed: int) -> np.ndarray:
    """Initial centroids from the sorted values ``xs`` (Deep Compression §3.2)."""
    if init == "linear":
        return np.linspace(xs[0], xs[-1], k)
    if init == "density":
        # Evenly spaced heights of the CDF, mapped back through it (no interpolation, so each
        # centroid is a data value).
        probabilities = (np.arange(k) + 0.5) / k
        return xs[np.minimum((probabilities * xs.size).astype(np.int64), xs.size - 1)]
    rng = np.random.default_rng(seed)
    return xs[rng.choice(xs.size, size=k, replace=False)]


def _nearest(values: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Code (1-based index of the nearest ascending centroid) of each value; ties go up."""
    midpoints = (centroids[:-1] + centroids[1:]) / 2
    return (np.searchsorted(midpoints, values, side="right") + 1).astype(np.uint8)


# --- validation ------------------------------------------------------------------------------------

def _check_bits(bits: object) -> int:
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
