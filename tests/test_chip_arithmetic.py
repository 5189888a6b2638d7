"""The search's chip arithmetic (eiesim.search.chip_arithmetic), the third implementation of
rules A1-A5, checked against its oracle, the fast engine, bit for bit.

Random networks (shapes, sparsity, codebooks, with and without bias, ReLU or not), fixed16,
fixed8 and float32, in-range and saturating inputs: every row of ``chip_logits`` must equal the
engine's ``pre_activations`` for that input exactly, and the number formats must be the ones
``prepare_inputs`` derives.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eiesim.errors import EiesimError
from eiesim.format.quantized import QuantizedLayer
from eiesim.network import simulate_network
from eiesim.search.chip_arithmetic import prepare_chip_layer
from eiesim.search.compression import chip_logits
from eiesim.sim import prepare_inputs
from eiesim.spec import HardwareSpec

ARITHMETICS = ("fixed16", "fixed8", "float32")


def random_network(seed: int, widths: list[int], *, bits: int, density: float, scale: float,
                   with_bias: bool, last_relu: bool) -> list[QuantizedLayer]:
    """Layers with random codes (``density`` kept) and a random signed codebook of ``2**bits``
    entries scaled by ``scale`` (large scales make fixed-point accumulators saturate)."""
    rng = np.random.default_rng(seed)
    layers = []
    for k, (inputs, outputs) in enumerate(zip(widths[:-1], widths[1:])):
        size = 1 << bits
        codebook = np.concatenate([[0.0], rng.uniform(-1, 1, size - 1) * scale])
        codes = rng.integers(1, size, (outputs, inputs)) * (rng.random((outputs, inputs))
                                                              < density)
        bias = rng.integers(0, size, outputs) if with_bias else None
        relu = last_relu or k < len(widths) - 2
        layers.append(QuantizedLayer(codes.astype(np.uint8), codebook.astype(np.float32),
                                     bias_codes=None if bias is None else bias.astype(np.uint8),
                                     relu=relu))
    return layers


def engine_logits(layers: list[QuantizedLayer], inputs: np.ndarray,
                  spec: HardwareSpec) -> np.ndarray:
    return np.array([simulate_network(layers, x, spec, energy=False).pre_activations
                     for x in inputs])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), arithmetic=st.sampled_from(ARITHMETICS),
       depth=st.integers(1, 3), density=st.sampled_from([0.05, 0.3, 1.0]),
       bits=st.integers(1, 4), scale=st.sampled_from([0.1, 1.0, 30.0]),
       input_scale=st.sampled_from([0.5, 4.0, 40.0]), with_bias=st.booleans(),
       last_relu=st.booleans(), num_pes=st.sampled_from([1, 4, 8]))
def test_chip_logits_equal_the_fast_engine_bit_for_bit(seed, arithmetic, depth, density, bits,
                                                       scale, input_scale, with_bias,
                                                       last_relu, num_pes):
    rng = np.random.default_rng(seed)
    widths = [int(w) for w in rng.integers(1, 24, depth + 1)]
    layers = random_network(seed, widths, bits=bits, density=density, scale=scale,
                            with_bias=with_bias, last_relu=last_relu)
    spec = HardwareSpec(num_pes=num_pes, arithmetic=arithmetic)
    inputs = rng.uniform(-1, 1, (5, widths[0])) * input_scale
    inputs[rng.random(inputs.shape) < 0.3] = 0.0  # zeros the LNZD skips
    if spec.is_fixed_point:  # keep the inputs inside A1's range: out of range is an error
        limit = ((1 << (spec.data_bits - 1)) - 1) / (1 << spec.act_frac_bits_effective)
        inputs = np.clip(inputs, -limit, limit)
    assert np.array_equal(chip_logits(layers, inputs, spec),
                          engine_logits(layers, inputs, spec))


@pytest.mark.parametrize("arithmetic", ["fixed16", "fixed8"])
def test_saturating_accumulators_equal_the_engine(arithmetic):
    spec = HardwareSpec(num_pes=4, arithmetic=arithmetic)
    layers = random_network(3, [30, 20, 6], bits=4, density=0.8, scale=8.0, with_bias=True,
                            last_relu=False)
    limit = ((1 << (spec.data_bits - 1)) - 1) / (1 << spec.act_frac_bits_effective)
    inputs = np.random.default_rng(4).uniform(-limit, limit, (6, 30))
    logits = chip_logits(layers, inputs, spec)
    rail = ((1 << (spec.data_bits - 1)) - 1) / (1 << spec.act_frac_bits_effective)
    # The case is meant to saturate: some accumulator sits at a rail (else this test could not
    # tell a saturating adder from a wide one).
    assert np.any(np.abs(logits) >= rail)
    assert np.array_equal(logits, engine_logits(layers, inputs, spec))


def test_saturation_order_matters_and_is_the_engines():
    # One row, terms +3, +3, -3 in a 4-bit-range accumulator would end at 3 unsaturated; the
    # adder saturates after the second term, so the order of the columns decides the result.
    spec = HardwareSpec(num_pes=1, arithmetic="fixed8", act_frac_bits=5)
    layer = QuantizedLayer(np.array([[1, 1, 2]], np.uint8),
                           np.array([0.0, 0.75, -0.75], np.float32), relu=False)
    inputs = np.array([[3.0, 3.0, 3.0]])
    logits = chip_logits([layer], inputs, spec)
    assert np.array_equal(logits, engine_logits([layer], inputs, spec))
    wide = 3.0 * (0.75 + 0.75 - 0.75)
    assert logits[0, 0] != wide  # saturation happened and was kept


@pytest.mark.parametrize("changes", [{}, {"arithmetic": "fixed8"}, {"act_frac_bits": 4},
                                     {"weight_frac_bits": 6}])
def test_number_formats_are_the_engines(changes):
    spec = HardwareSpec(num_pes=4).replace(**changes)
    layer = random_network(5, [12, 7], bits=4, density=0.5, scale=1.5, with_bias=True,
                           last_relu=True)[0]
    chip = prepare_chip_layer(layer, spec)
    prepared = prepare_inputs(layer.encode(spec), np.zeros(layer.in_features), spec)
    assert chip.act_frac_bits == prepared.act_frac_bits
    assert chip.weight_frac_bits == prepared.weight_frac_bits
    assert np.array_equal(chip.codebook_fixed, prepared.codebook_fixed)


def test_a_codebook_outside_an_explicit_format_is_the_engines_error():
    spec = HardwareSpec(num_pes=4, arithmetic="fixed8", weight_frac_bits=7)
    layer = QuantizedLayer(np.array([[1, 2]], np.uint8), np.array([0.0, 3.0, -1.0], np.float32))
    with pytest.raises(EiesimError, match="weight_frac_bits = 7") as chip_error:
        chip_logits([layer], np.ones((1, 2)), spec)
    with pytest.raises(EiesimError) as engine_error:
        simulate_network([layer], np.ones(2), spec, energy=False)
    assert str(chip_error.value) == str(engine_error.value)


def test_an_input_outside_the_fixed_point_range_is_an_error():
    spec = HardwareSpec(num_pes=4, arithmetic="fixed8")
    layer = QuantizedLayer(np.array([[1, 1]], np.uint8), np.array([0.0, 0.5], np.float32))
    with pytest.raises(EiesimError, match="exceeds the fixed8 range"):
        chip_logits([layer], np.array([[1000.0, 0.0]]), spec)
