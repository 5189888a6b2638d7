"""The one synthetic-layer generator: seeded, at the densities asked, and the paper's layers made
by it (the same layers the energy table is calibrated on)."""

from __future__ import annotations

import numpy as np
import pytest

import eiesim
from eiesim.errors import EiesimError
from eiesim.explore.calibration import CALIBRATION_LAYERS, run_paper_layer
from eiesim.explore.workloads import (
    PAPER_LAYERS,
    SYNTHETIC_CODEBOOK,
    TINY_ACTIVATIONS,
    generate_layer,
    synthetic_layer,
)
from eiesim.format.quantized import QuantizedLayer
from eiesim.testing import random_layer


def test_same_seed_same_layer_other_seed_other_layer():
    a = generate_layer(50, 60, weight_density=0.2, activation_density=0.4, seed=3)
    b = generate_layer(50, 60, weight_density=0.2, activation_density=0.4, seed=3)
    c = generate_layer(50, 60, weight_density=0.2, activation_density=0.4, seed=4)
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.activations, b.activations)
    assert not np.array_equal(a.codes, c.codes)


def test_densities_and_value_ranges():
    layer = generate_layer(400, 500, weight_density=0.1, activation_density=0.35, seed=0)
    assert isinstance(layer, QuantizedLayer)
    assert layer.density == pytest.approx(0.1, abs=0.005)  # Bernoulli per weight
    assert np.count_nonzero(layer.activations) == round(0.35 * 500)  # exact count
    nonzero = layer.activations[layer.activations != 0]
    assert nonzero.min() >= 0.01 and nonzero.max() < 1.0
    assert np.array_equal(layer.codebook, SYNTHETIC_CODEBOOK)
    assert np.all(layer.bias_codes > 0)
    assert set(np.unique(layer.codes[layer.codes > 0])) == set(range(1, 16))


def test_corner_cases_for_tests():
    layer = generate_layer(32, 64, weight_density=1.0, activation_density=1.0, seed=2,
                           num_pes=8, idle_pe_share=0.5, empty_group_share=0.5,
                           tiny_activation_share=0.5, signed_activations=True,
                           random_codebook_scale=0.5, code_bits=3, bias_share=None)
    idle = ~layer.codes.any(axis=1)
    assert idle.any() and np.array_equal(idle, np.tile(idle[:8], 4))  # whole PEs idle
    groups = layer.activations.reshape(8, 8)
    assert (~groups.any(axis=1)).any()  # whole LNZD groups empty
    assert (layer.activations < 0).any()
    assert np.isin(np.abs(layer.activations), TINY_ACTIVATIONS).any()
    assert layer.codebook.size == 8 and np.all(np.abs(layer.codebook) <= 0.5)
    assert layer.bias_codes is None
    with pytest.raises(EiesimError, match="need num_pes"):
        generate_layer(4, 4, weight_density=0.5, activation_density=0.5, idle_pe_share=0.5)
    with pytest.raises(EiesimError, match="weight_density = 1.5"):
        generate_layer(4, 4, weight_density=1.5, activation_density=0.5)


@pytest.mark.parametrize("paper", PAPER_LAYERS, ids=lambda p: p.name)
def test_paper_layers_have_the_tables_shapes_and_densities(paper):
    layer = synthetic_layer(paper.name, scale=0.25)
    assert layer.shape == (round(paper.out_features / 4), round(paper.in_features / 4))
    assert layer.density == pytest.approx(paper.weight_density, rel=0.05)
    if paper.neuraltalk:
        assert np.all(layer.activations == 1) and layer.bias_codes is None
    else:
        assert np.count_nonzero(layer.activations) == round(
            paper.activation_density * layer.in_features)
        assert layer.bias_codes is not None


def test_calibration_and_tests_use_the_same_generator():
    name = CALIBRATION_LAYERS[2]
    benchmark = synthetic_layer(name, in_scale=0.1)
    measured = run_paper_layer(name, in_scale=0.1)
    assert measured.outputs.shape == (benchmark.shape[0],)
    assert np.array_equal(measured.outputs, eiesim.simulate(
        eiesim.encode(benchmark), benchmark.activations).outputs)
    small = random_layer(5, out_features=7, in_features=9, density=0.5, act_density=0.5)
    assert isinstance(small, QuantizedLayer) and small.shape == (7, 9)
    assert small.source == "random_layer(5)"
