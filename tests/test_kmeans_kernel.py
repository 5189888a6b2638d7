"""The numba k-means loop (eiesim.compress.kmeans_kernel) against the numpy loop it replaces.

Forcing the kernel to hand every iteration back (as it does for an iteration that empties a
cluster) makes ``_fit_centroids`` run the original numpy iteration throughout: that is the
oracle. Values with many ties and few distinct values make clusters empty and reseed; small
``max_iter`` ends fits unconverged."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eiesim.compress import kmeans_kernel
from eiesim.compress import quantize as quantize_module
from eiesim.compress.quantize import quantize_weights


def numpy_only(xs, prefix, centroids, splits, has_splits, first, max_iter):
    return kmeans_kernel.EMPTY_CLUSTER, first, centroids, splits, has_splits


def both_ways(monkeypatch, weights, **options):
    fast = quantize_weights(weights, **options)
    with monkeypatch.context() as patch:
        patch.setattr(quantize_module, "lloyd_iterations", numpy_only)
        slow = quantize_weights(weights, **options)
    return fast, slow


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), bits=st.integers(1, 5),
       init=st.sampled_from(["linear", "density", "random"]),
       levels=st.sampled_from([3, 12, 0]), max_iter=st.sampled_from([0, 1, 3, 1000]))
def test_the_kernel_gives_the_numpy_loops_codebook_codes_and_stats(seed, bits, init, levels,
                                                                   max_iter):
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((int(rng.integers(1, 30)), int(rng.integers(1, 30))))
    if levels:  # few distinct values, many ties: empty clusters and reseeding
        weights = np.round(weights * levels) / levels
    weights[rng.random(weights.shape) < 0.4] = 0.0
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, slow = both_ways(monkeypatch, weights, bits=bits, init=init, seed=seed,
                               max_iter=max_iter)
    assert np.array_equal(fast.codebook, slow.codebook)
    assert np.array_equal(fast.codes, slow.codes)
    assert fast.quantization == slow.quantization


def test_a_reseeding_fit_is_unchanged(monkeypatch):
    # Linear start 1, 6.5, 12 over {1, 2, 3, 10, 11, 12}: the middle cluster is empty at the
    # first iteration (tests/test_quantize.py derives the whole fit by hand).
    weights = np.array([[1.0, 2.0, 0.0], [3.0, 10.0, 11.0], [12.0, 0.0, 0.0]])
    fast, slow = both_ways(monkeypatch, weights, bits=2)
    assert slow.quantization.reseeded_clusters > 0  # the case does reseed
    assert np.array_equal(fast.codebook, slow.codebook)
    assert fast.quantization == slow.quantization
