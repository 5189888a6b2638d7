"""Deep Compression weight sharing: exact small cases and hypothesis invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from eiesim.compress import dequantize
from eiesim.compress.quantize import QuantizedLayer, quantize_weights
from eiesim.errors import EiesimError, LayerError
from eiesim.spec import HardwareSpec

HAND = np.array([[1.0, 2.0, 0.0], [3.0, 10.0, 11.0], [12.0, 0.0, 0.0]])


def sse_direct(weights: np.ndarray, q: QuantizedLayer) -> float:
    kept = weights != 0
    error = weights[kept].astype(np.float64) - q.codebook[q.codes[kept]].astype(np.float64)
    return float(error @ error)


# --- exact cases ---------------------------------------------------------------------------------

def test_linear_init_centroids_by_hand() -> None:
    # k = 3 linear init over [1, 12] (all kept weights positive): 1, 6.5, 12. Midpoints 3.75 and
    # 9.25 split the values into {1, 2, 3}, {} and {10, 11, 12}; the means are 2 and 11. The
    # empty middle cluster is re-seeded onto the end of the run of the cluster with the largest
    # error that lies farthest from its mean (a tie of errors 2 and 2: the first, {1, 2, 3};
    # 1 and 3 are equally far: the lower end, 1). Centroids 1, 2, 11: {1}, {2, 3}, {10, 11, 12},
    # means 1, 2.5, 11; the next assignment is the same: converged after 2 iterations.
    q = quantize_weights(HAND, bits=2)
    assert q.codebook.dtype == np.float32
    assert q.codebook.tolist() == [0.0, 1.0, 2.5, 11.0]
    assert q.codes.tolist() == [[1, 2, 0], [2, 3, 3], [3, 0, 0]]
    assert q.converged and q.iterations == 2
    assert q.clusters_used == 3 and q.quantization.clusters_used == 3
    assert q.quantization.reseeded_clusters == 1
    assert q.quantization.codebook_usage == 1.0
    assert q.kept_weights == 6 and q.quantization.distinct_kept_values == 6
    assert q.sse == pytest.approx(2.5)  # 0 + .5^2 + .5^2 + (10-11)^2 + 0 + (12-11)^2
    assert q.rms_error == pytest.approx(np.sqrt(2.5 / 6))
    assert q.max_abs_error == pytest.approx(1.0)
    assert q.relative_error == pytest.approx(np.sqrt(2.5 / (1 + 4 + 9 + 100 + 121 + 144)))


def test_linear_init_is_per_sign_over_the_kept_weights() -> None:
    # 3 negative and 4 positive kept weights, k = 3: round(3 * 3/7) = 1 centroid for the
    # negatives (the middle of [-3, -1]) and 2 spread over [1, 10]; nothing inside the gap.
    w = np.array([[-3.0, -2.0, -1.0, 0.0], [1.0, 2.0, 3.0, 10.0]])
    q = quantize_weights(w, bits=2, max_iter=0)
    assert q.codebook.tolist() == [0.0, -2.0, 1.0, 10.0]


def test_no_centroid_unused_on_a_pruned_layer() -> None:
    # A 512 x 1024 normal layer magnitude-pruned to 10 %: the kept weights are bimodal with a
    # gap around 0. Linear init over [min, max] left 4 of the 15 entries in the gap, unused.
    from eiesim.compress import prune_weights

    w = prune_weights(np.random.default_rng(0).standard_normal((512, 1024)), 0.1)
    q = quantize_weights(w, bits=4)
    assert q.quantization.distinct_kept_values > 15
    assert q.quantization.clusters_used == 15 and q.quantization.codebook_usage == 1.0
    assert not np.any((q.codebook[1:] > -1.5) & (q.codebook[1:] < 1.5))  # none in the gap
    assert q.converged


def test_initial_centroids_without_iterations() -> None:
    q = quantize_weights(HAND, bits=2, max_iter=0)
    assert q.codebook.tolist() == [0.0, 1.0, 6.5, 12.0]
    assert q.iterations == 0 and not q.converged
    assert q.codes.tolist() == [[1, 1, 0], [1, 3, 3], [3, 0, 0]]


def test_density_init_by_hand() -> None:
    # Values 1..10, k = 3: CDF heights 1/6, 1/2, 5/6 -> sorted positions 1, 5, 8 -> 2, 6, 9.
    w = np.arange(1.0, 11.0).reshape(2, 5)
    q = quantize_weights(w, bits=2, init="density", max_iter=0)
    assert q.codebook.tolist() == [0.0, 2.0, 6.0, 9.0]


def test_random_init_is_a_seeded_sample_of_the_weights() -> None:
    w = np.arange(1.0, 101.0).reshape(10, 10)
    a = quantize_weights(w, bits=3, init="random", seed=7, max_iter=0)
    b = quantize_weights(w, bits=3, init="random", seed=7, max_iter=0)
    c = quantize_weights(w, bits=3, init="random", seed=8, max_iter=0)
    assert np.array_equal(a.codebook, b.codebook) and np.array_equal(a.codes, b.codes)
    assert not np.array_equal(a.codebook, c.codebook)
    assert set(a.codebook[1:].tolist()) <= set(w.ravel().tolist())
    assert np.unique(a.codebook[1:]).size == 7


def test_one_bit_is_the_mean() -> None:
    w = np.array([[0.0, 1.0, 2.0], [6.0, 0.0, 0.0]])
    q = quantize_weights(w, bits=1)
    assert q.codebook.tolist() == [0.0, 3.0]
    assert q.codes.tolist() == [[0, 1, 1], [1, 0, 0]]


def test_few_distinct_values_are_exact() -> None:
    w = np.array([[0.5, -0.25, 0.0, 0.5], [0.0, 3.0, -0.25, 0.0]], dtype=np.float32)
    q = quantize_weights(w, bits=4)
    assert q.codebook.shape == (16,)
    assert q.codebook[:4].tolist() == [0.0, -0.25, 0.5, 3.0]
    assert not q.codebook[4:].any()
    assert np.array_equal(q.weights(), w)
    assert q.sse == 0 and q.max_abs_error == 0 and q.relative_error == 0
    assert q.iterations == 0 and q.converged


def test_all_zero_weights() -> None:
    q = quantize_weights(np.zeros((3, 4)), bits=4)
    assert not q.codes.any() and not q.codebook.any()
    assert q.codes.dtype == np.uint8 and q.codebook.shape == (16,)
    assert q.kept_weights == 0 and q.rms_error == 0 and q.relative_error == 0
    assert q.density == 0
    assert q.bias_codes is None and q.bias() is None


def test_all_zero_weights_with_bias_fit_the_bias() -> None:
    bias = np.array([0.0, 1.5, -2.0])
    q = quantize_weights(np.zeros((3, 4)), bits=4, bias=bias)
    assert np.array_equal(q.bias(), bias.astype(np.float32))
    assert q.bias_codes[0] == 0 and q.bias_codes[1] != 0 and q.bias_codes[2] != 0


def test_bias_uses_the_same_codebook_and_is_fitted_with_the_weights() -> None:
    # k-means over the kept weights and the non-zero bias, {1, 2, 3, 10, 11, 12} and {2.4, 100},
    # with 3 centroids: {1, 2, 2.4, 3} -> 2.1, {10, 11, 12} -> 11, {100} -> 100. The bias 0 keeps
    # code 0. (Fitted to the weights alone, the codebook would leave 100 at 11: an error of 89.)
    bias = np.array([0.0, 2.4, 100.0])
    q = quantize_weights(HAND, bits=2, bias=bias)
    assert q.bias_codes.dtype == np.uint8
    assert q.codebook.tolist() == pytest.approx([0.0, 2.1, 11.0, 100.0])
    assert q.bias_codes.tolist() == [0, 1, 3]
    assert q.bias().tolist() == pytest.approx([0.0, 2.1, 100.0])
    assert q.bias_max_abs_error == pytest.approx(0.3, abs=1e-6)


def test_small_biases_in_the_gap_get_a_centroid() -> None:
    # Pruned weights leave a gap around 0; biases live there. Fitting the codebook to both
    # keeps their error far below the gap's width.
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(10, 200))
    weights[np.abs(weights) < 1.0] = 0.0  # the kept weights have |w| >= 1
    bias = rng.uniform(0.02, 0.08, 10)
    q = quantize_weights(weights, bits=4, bias=bias)
    assert q.bias_max_abs_error < 0.02
    assert np.any((q.codebook > 0.02) & (q.codebook < 0.08))  # a centroid among the biases


def test_tiny_bias_never_gets_code_zero() -> None:
    q = quantize_weights(HAND, bits=2, bias=np.array([1e-30, -1e-30, 0.0]))
    assert q.bias_codes.tolist() == [1, 1, 0]


def test_value_on_a_midpoint_goes_to_the_upper_centroid() -> None:
    # Initial codebook 0, 1, 6.5, 12: midpoints 3.75 and 9.25 go to 6.5 and 12.
    q = quantize_weights(HAND, bits=2, max_iter=0, bias=np.array([3.75, 9.25, 0.0]))
    assert q.bias_codes.tolist() == [2, 3, 0]


def test_dequantize() -> None:
    codebook = np.array([0.0, -1.0, 0.5], dtype=np.float32)
    out = dequantize(np.array([[0, 1], [2, 2]], dtype=np.uint8), codebook)
    assert out.dtype == np.float32 and out.tolist() == [[0.0, -1.0], [0.5, 0.5]]
    with pytest.raises(LayerError, match=r"index 3, outside the codebook's 3 entries"):
        dequantize(np.array([3]), codebook)
    with pytest.raises(LayerError, match="dtype float64"):
        dequantize(np.array([0.0]), codebook)


def test_encode_round_trip() -> None:
    rng = np.random.default_rng(3)
    w = rng.standard_normal((12, 10))
    w[rng.random(w.shape) < 0.6] = 0
    bias = rng.standard_normal(12)
    q = quantize_weights(w, bits=4, bias=bias)
    layer = q.encode(HardwareSpec(num_pes=4))
    codes, bias_codes = layer.to_codes()
    assert np.array_equal(codes, q.codes)
    assert np.array_equal(bias_codes, q.bias_codes)


# --- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("bits", [0, 9, -1])
def test_bits_out_of_range(bits: int) -> None:
    with pytest.raises(LayerError, match=rf"bits = {bits} is outside 1\.\.8.*bits=4"):
        quantize_weights(HAND, bits=bits)


@pytest.mark.parametrize("bits", [2.5, True, "4"])
def test_bits_not_an_integer(bits: object) -> None:
    with pytest.raises(LayerError, match="must be a whole number"):
        quantize_weights(HAND, bits=bits)  # type: ignore[arg-type]


def test_non_finite_weight_is_named() -> None:
    w = HAND.copy()
    w[1, 2] = np.nan
    w[2, 0] = np.inf
    with pytest.raises(LayerError, match=r"weights\[1, 2\] = nan is not finite \(2 non-finite"
                                         r".*nan_to_num"):
        quantize_weights(w)


def test_non_finite_bias_is_named() -> None:
    with pytest.raises(LayerError, match=r"bias\[2\] = -inf is not finite"):
        quantize_weights(HAND, bias=np.array([0.0, 1.0, -np.inf]))


def test_centroid_beyond_float32_is_an_error() -> None:
    with pytest.raises(LayerError, match=r"magnitude 1e\+39 overflows the float32 codebook.*scale"):
        quantize_weights(np.array([[1e39, 0.0]]))


def test_bad_shapes_and_options() -> None:
    with pytest.raises(LayerError, match=r"shape \(3,\).*2-D"):
        quantize_weights(np.ones(3))
    with pytest.raises(LayerError, match=r"bias has shape \(2,\); it must have shape \(3,\)"):
        quantize_weights(HAND, bias=np.ones(2))
    with pytest.raises(LayerError, match="init = 'kmeans\\+\\+'.*'linear'"):
        quantize_weights(HAND, init="kmeans++")
    with pytest.raises(LayerError, match="max_iter = -1"):
        quantize_weights(HAND, max_iter=-1)
    with pytest.raises(LayerError, match="seed = 1.5"):
        quantize_weights(HAND, seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(EiesimError, match="dtype"):
        quantize_weights(np.array([["a", "b"]]))


# --- properties ----------------------------------------------------------------------------------

@st.composite
def sparse_matrices(draw: st.DrawFn) -> np.ndarray:
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12))
    values = draw(hnp.arrays(np.float32, shape, elements=st.floats(
        -100, 100, width=32, allow_subnormal=False)))
    keep = draw(hnp.arrays(np.bool_, shape))
    return np.where(keep, values, np.float32(0))


@settings(max_examples=60, deadline=None)
@given(w=sparse_matrices(), bits=st.integers(1, 8), init=st.sampled_from(["linear", "random",
                                                                            "density"]),
       seed=st.integers(0, 2**32 - 1))
def test_invariants(w: np.ndarray, bits: int, init: str, seed: int) -> None:
    q = quantize_weights(w, bits, init=init, seed=seed)
    assert q.codes.dtype == np.uint8 and q.codes.shape == w.shape
    assert q.codebook.dtype == np.float32 and q.codebook.shape == (1 << bits,)
    assert q.codebook[0] == 0
    assert np.all(q.codes < (1 << bits))
    assert np.array_equal(q.codes == 0, w == 0)  # zeros stay 0, non-zeros never code 0
    kept = w[w != 0].astype(np.float64)
    real = q.codebook[1: 1 + min((1 << bits) - 1, np.unique(kept).size)].astype(np.float64)
    assert np.all(np.diff(real) >= 0)
    assert q.sse == pytest.approx(sse_direct(w, q), rel=1e-9, abs=1e-9)
    assert q.kept_weights == kept.size
    if kept.size:
        # Each kept weight sits at its nearest centroid (up to float32 rounding of centroids).
        assigned = np.abs(kept - q.codebook[q.codes[w != 0]])
        nearest = np.min(np.abs(kept[:, None] - real[None, :]), axis=1)
        assert np.all(assigned <= nearest + 1e-5 * (1 + np.abs(kept)))
    k = (1 << bits) - 1
    if q.converged and np.unique(kept).size > k:  # every centroid in use (re-seeding)
        assert q.quantization.clusters_used == k
    again = quantize_weights(w, bits, init=init, seed=seed)
    assert np.array_equal(again.codes, q.codes) and np.array_equal(again.codebook, q.codebook)


@settings(max_examples=60, deadline=None)
@given(w=sparse_matrices(), bits=st.integers(1, 5), init=st.sampled_from(["linear", "random",
                                                                            "density"]),
       seed=st.integers(0, 1000))
def test_kmeans_never_worse_than_its_init(w: np.ndarray, bits: int, init: str,
                                          seed: int) -> None:
    start = quantize_weights(w, bits, init=init, seed=seed, max_iter=0)
    final = quantize_weights(w, bits, init=init, seed=seed)
    scale = float(np.sum(w.astype(np.float64) ** 2))
    assert final.sse <= start.sse + 1e-6 * scale + 1e-12
    one_step = quantize_weights(w, bits, init=init, seed=seed, max_iter=1)
    assert final.sse <= one_step.sse + 1e-6 * scale + 1e-12


@settings(max_examples=40, deadline=None)
@given(w=sparse_matrices(), bits=st.integers(2, 6))
def test_converged_centroids_are_cluster_means(w: np.ndarray, bits: int) -> None:
    q = quantize_weights(w, bits)
    assert q.converged
    kept = w != 0
    for code in np.unique(q.codes[kept]):
        members = w[kept][q.codes[kept] == code].astype(np.float64)
        assert q.codebook[code] == pytest.approx(members.mean(), rel=1e-5, abs=1e-5)


@settings(max_examples=40, deadline=None)
@given(w=sparse_matrices(), bias=st.data())
def test_bias_codes(w: np.ndarray, bias: st.DataObject) -> None:
    b = bias.draw(hnp.arrays(np.float64, (w.shape[0],), elements=st.one_of(
        st.just(0.0), st.floats(-200, 200))))
    q = quantize_weights(w, 3, bias=b)
    assert q.bias_codes.shape == b.shape and q.bias_codes.dtype == np.uint8
    assert np.array_equal(q.bias_codes == 0, b == 0)
    assert q.bias_max_abs_error == pytest.approx(
        float(np.max(np.abs(q.bias().astype(np.float64) - b), initial=0.0)))


def test_more_bits_never_hurt_on_a_real_sized_layer() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((256, 256))
    w[np.abs(w) < 1.5] = 0
    errors = [quantize_weights(w, bits).rms_error for bits in (2, 3, 4, 5, 6)]
    assert all(a > b for a, b in zip(errors, errors[1:]))
    # 4-bit sharing of a pruned Gaussian: error a few percent of the weights' RMS.
    assert quantize_weights(w, 4).relative_error < 0.05


def test_the_module_documents_itself() -> None:
    import eiesim.compress.quantize as module

    assert "Weight sharing" in module.__doc__
    assert quantize_weights.__doc__ and "codebook" in quantize_weights.__doc__


def test_result_is_the_one_layer_type_with_its_reference_weights() -> None:
    from eiesim.format.quantized import QuantizedLayer as OneType

    q = quantize_weights(HAND, bits=2, bias=np.array([0.0, 1.0, 2.0]))
    assert QuantizedLayer is OneType and isinstance(q, OneType)
    assert np.array_equal(q.reference_weights, HAND)
    error = q.weight_error()
    assert error["max_abs"] == pytest.approx(q.max_abs_error)
    assert error["relative"] == pytest.approx(q.relative_error)
