"""The inner loop of the 1-D k-means of :mod:`eiesim.compress.quantize` as one numba kernel.

Lloyd's algorithm on sorted values is a few small array operations per iteration; run as numpy
calls, their per-call overhead dominated, and the searches quantize thousands of layers. The
kernel repeats exactly the numpy iteration (the same midpoints, left-side binary search, prefix
sums, division, sort, running maximum and clip, all in float64 with no fastmath), so the
centroids are bit-identical; it hands back to the numpy code at the first iteration that leaves
a cluster empty, whose reseeding stays in numpy. tests/test_quantize.py and
tests/test_kmeans_kernel.py hold the results equal.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from eiesim.jit import NUMBA_OPTIONS

CONVERGED = 0
"""The assignment did not change: ``iteration`` is the first iteration that found so."""
EXHAUSTED = 1
"""``max_iter`` iterations ran without convergence."""
EMPTY_CLUSTER = 2
"""Iteration ``iteration`` leaves a cluster empty: the caller runs it (centroids and splits
are those before it)."""


@njit(**NUMBA_OPTIONS)
def lloyd_iterations(xs, prefix, centroids, splits, has_splits, first, max_iter):
    """Iterations ``first..max_iter`` of the loop in ``quantize._fit_centroids`` from the state
    (``centroids``, ``splits`` if ``has_splits``). Returns (status, iteration, centroids,
    splits, has_splits)."""
    k = centroids.size
    n = xs.size
    centroids = centroids.copy()
    splits = splits.copy()
    new_splits = np.empty(k - 1, dtype=np.int64)
    for iteration in range(first, max_iter + 1):
        for j in range(k - 1):
            new_splits[j] = np.searchsorted(xs, (centroids[j] + centroids[j + 1]) / 2)
        if has_splits:
            same = True
            for j in range(k - 1):
                if new_splits[j] != splits[j]:
                    same = False
                    break
            if same:
                return CONVERGED, iteration, centroids, splits, has_splits
        lower = 0
        for j in range(k):
            upper = new_splits[j] if j < k - 1 else n
            if upper - lower <= 0:
                return EMPTY_CLUSTER, iteration, centroids, splits, has_splits
            lower = upper
        splits[:] = new_splits
        has_splits = True
        lower = 0
        for j in range(k):
            upper = splits[j] if j < k - 1 else n
            centroids[j] = (prefix[upper] - prefix[lower]) / (upper - lower)
            lower = upper
        centroids.sort()
        low, high = xs[0], xs[n - 1]
        running = centroids[0]
        for j in range(k):
            if centroids[j] > running:
                running = centroids[j]
            value = running
            if value < low:
                value = low
            if value > high:
                value = high
            centroids[j] = value
    return EXHAUSTED, max_iter, centroids, splits, has_splits
