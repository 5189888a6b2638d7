"""One contract, two engines, one answer: the fast (numba) and the reference (SimPy) engine must
produce identical results: front-end cycles, every CCU and per-PE count, accumulators bit for bit.

Cases where the engines once disagreed are kept below as regression tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eiesim
from eiesim.testing import assert_results_equal, random_layer

FC8 = Path(eiesim.__file__).parent / "data" / "alexnet_fc8.npz"


def both_engines(layer, activations, spec):
    fast = eiesim.simulate(layer, activations, spec, engine="fast")
    reference = eiesim.simulate(layer, activations, spec, engine="reference")
    assert_results_equal(fast, reference, names=("fast", "reference"))
    return fast, reference


@st.composite
def cases(draw):
    """A random layer, input and hardware configuration (small layers: the reference engine
    is slow)."""
    weight_bits = draw(st.sampled_from([4, 4, 4, 2, 3]))
    rel_bits = draw(st.integers(2, 6))
    spec = eiesim.HardwareSpec(
        num_pes=draw(st.integers(1, 16)),
        act_queue_depth=draw(st.integers(1, 16)),
        lnzd_fanin=draw(st.integers(2, 5)),
        weight_index_bits=weight_bits,
        rel_index_bits=rel_bits,
        spmat_sram_width_bits=(weight_bits + rel_bits) * draw(st.integers(1, 9)),
        arith_pipeline_stages=draw(st.integers(1, 6)),
        relu_outputs_per_cycle=draw(st.integers(0, 4)),
        arithmetic=draw(st.sampled_from(["fixed16", "float32", "fixed8"])),
        # Few registers make input and output batches through the activation SRAM (T12, T13)
        # common on these small layers; 64 keeps the unbatched case.
        act_regs_per_file=draw(st.sampled_from([1, 2, 3, 5, 64])),
        act_sram_width_bits=draw(st.sampled_from([32, 64, 128])),
        act_sram_bytes=1 << 16,
        ptr_sram_bytes=1 << 16,
        # The authors' model's two rules (T12 without input batches, T14).
        source_regs_hold_whole_input=draw(st.booleans()),
        end_of_layer_latency_cycles=draw(st.sampled_from([0, 0, 1, 2, 5])),
    )
    case = random_layer(
        draw(st.integers(0, 2**32 - 1)),
        out_features=draw(st.integers(1, 40)),
        in_features=draw(st.integers(1, 40)),
        density=draw(st.sampled_from([0.0, 0.02, 0.1, 0.3, 0.6, 1.0])),
        act_density=draw(st.sampled_from([0.0, 0.1, 0.4, 0.8, 1.0])),
        weight_index_bits=weight_bits,
        bias=draw(st.booleans()),
        signed_activations=draw(st.booleans()),
        empty_share=draw(st.sampled_from([0.0, 0.2, 0.5])),
    )
    return case, spec


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_engines_agree_on_random_layers(case_and_spec):
    case, spec = case_and_spec
    both_engines(case.encode(spec), case.activations, spec)


@pytest.mark.slow  # the reference engine on the real layer: about 4 s per depth
@pytest.mark.parametrize("depth", [1, 2, 8])
def test_engines_agree_on_alexnet_fc8(depth):
    # The real AlexNet fc8 layer (docs/hardware.md §6) on the paper's 64 PEs. The reference engine
    # takes several seconds per depth.
    data = np.load(FC8)
    spec = eiesim.HardwareSpec(num_pes=64, act_queue_depth=depth)
    layer = eiesim.encode(data["codes"], data["codebook"], data["bias_codes"], spec=spec)
    fast, _ = both_engines(layer, data["activations"], spec)
    assert fast.broadcasts > 0 and fast.macs > 0
    if depth == 1:
        assert fast.broadcast_stall_cycles > 0


def test_assert_results_equal_names_the_differing_counter():
    case = random_layer(1, out_features=10, in_features=12, density=0.5, act_density=0.8)
    spec = eiesim.HardwareSpec(num_pes=3)
    result = eiesim.simulate(case.encode(spec), case.activations, spec, engine="reference")
    counts = result.pe_counts.copy()
    counts[2, 4] += 1
    from dataclasses import replace
    changed = replace(result, pe_counts=counts, frontend_cycles=result.frontend_cycles + 1)
    with pytest.raises(AssertionError) as error:
        assert_results_equal(result, changed, names=("fast", "reference"))
    message = str(error.value)
    assert "PE 2 act_queue_pops: fast=" in message
    assert "frontend_cycles" in message
