"""The fast engine's accumulators equal the dense oracle bit for bit (rules A1-A5)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import load_fc8, oracle_accumulators, oracle_outputs, random_case

import eiesim
from eiesim import HardwareSpec, encode
from eiesim.sim import prepare_inputs
from eiesim.sim.fast import run

SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def check_values(layer, activations, spec):
    """Both kernels give the oracle's accumulators; simulate() reports them scaled (A4)."""
    expected = oracle_accumulators(layer, activations, spec)
    prepared = prepare_inputs(layer, activations, spec)
    for cycle_by_cycle in (False, True):
        output = run(prepared, cycle_by_cycle=cycle_by_cycle)
        assert output.accumulators.dtype == expected.dtype
        # Compare the bits (float32 -0.0 vs 0.0 would differ too).
        assert np.array_equal(output.accumulators.view(np.uint8), expected.view(np.uint8))
    result = eiesim.simulate(layer, activations, spec, engine="fast")
    if spec.is_fixed_point:
        pre = expected.astype(np.float64) / (1 << spec.act_frac_bits_effective)
    else:
        pre = expected.astype(np.float64)
    assert np.array_equal(result.pre_activations, pre)
    assert np.array_equal(result.outputs, oracle_outputs(layer, activations, spec))
    return expected


@st.composite
def value_cases(draw, arithmetic):
    spec = HardwareSpec(
        num_pes=draw(st.integers(1, 16)),
        act_queue_depth=draw(st.integers(1, 4)),
        rel_index_bits=draw(st.sampled_from([2, 4])),
        spmat_sram_width_bits=draw(st.sampled_from([1, 3, 8])) * (4 + 4),
        arithmetic=arithmetic,
    )
    if spec.rel_index_bits != 4:
        spec = spec.replace(spmat_sram_width_bits=8 * spec.entry_bits)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    case = random_case(
        rng, spec,
        out_features=draw(st.integers(1, 48)),
        in_features=draw(st.integers(1, 40)),
        density=draw(st.sampled_from([0.0, 0.05, 0.3, 0.8, 1.0])),
        act_density=draw(st.sampled_from([0.0, 0.3, 0.7, 1.0])),
        bias=draw(st.booleans()),
        empty_rows=draw(st.sampled_from([0.0, 0.3])),
        empty_cols=draw(st.sampled_from([0.0, 0.3])),
        zero_run=draw(st.sampled_from([0.0, 0.5])),
        empty_groups=draw(st.sampled_from([0.0, 0.4])),
        idle_pes=draw(st.sampled_from([0.0, 0.5])),
    )
    layer = encode(case.codes, case.codebook, case.bias_codes, spec=spec)
    return layer, case.activations, spec


@pytest.mark.parametrize("arithmetic", ["fixed16", "float32", "fixed8"])
@SETTINGS
@given(data=st.data())
def test_random_layers_match_oracle(arithmetic, data):
    layer, activations, spec = data.draw(value_cases(arithmetic))
    check_values(layer, activations, spec)


def test_saturation_values():
    spec = HardwareSpec(num_pes=2, arithmetic="fixed8")
    codebook = np.array([0.0, 7.0, -7.0], dtype=np.float32)
    codes = np.array([[1, 1, 1, 2], [2, 2, 2, 1], [1, 2, 1, 2], [1, 1, 2, 2]], dtype=np.uint8)
    layer = encode(codes, codebook, spec=spec)
    acc = check_values(layer, np.array([2.0, 2.0, 2.0, 2.0]), spec)
    # A1: 2.0 -> 32 (F_a = 4); A2: 7.0 -> 112 (F_w = 4); A3: 112 * 32 = 3584 -> 224 per term.
    # Row 0: 0 + 224 -> 127 (saturated), 127 + 224 -> 127, then 127 - 224 = -97.
    # Row 1: -128 after the first term, stays, then -128 + 224 = 96.
    # Row 2: +224 -> 127, 127 - 224 = -97, -97 + 224 -> 127, 127 - 224 = -97.
    # Row 3: 127, 127, 127 - 224 = -97, -97 - 224 -> -128.
    assert acc.tolist() == [-97, 96, -97, -128]


def test_saturation_after_and_between_long_unsaturated_stretches():
    # fixed8, Q3.4; codebook +-0.25 = +-4 units per term with an input of 1.0 (16 units):
    # row 0 climbs for 60 columns (to 240: it saturates at 127 after 32), falls for 120 (to
    # -128 again saturated), climbs for 60; row 1 alternates and never saturates; row 2 waits
    # 150 empty columns, then climbs. The fast engine skips the saturation check while no sum
    # can leave the range, so this walks it in and out of that shortcut; the oracle and the
    # cycle-by-cycle kernel saturate every add.
    spec = HardwareSpec(num_pes=2, arithmetic="fixed8")
    codebook = np.array([0.0, 0.25, -0.25], dtype=np.float32)
    columns = 240
    codes = np.zeros((3, columns), dtype=np.uint8)
    codes[0] = [1] * 60 + [2] * 120 + [1] * 60
    codes[1] = [1, 2] * (columns // 2)
    codes[2, 150:] = 1
    layer = encode(codes, codebook, spec=spec)
    acc = check_values(layer, np.ones(columns), spec)
    assert acc.tolist() == [-128 + 60 * 4, 0, 127]  # row 2: 90 * 4 = 360 saturates at 127


@pytest.mark.parametrize("weight_frac_bits", [0, 1, 31, 62, 63, 64])
def test_extreme_weight_fraction_bits(weight_frac_bits):
    # fixed32 with F_a = 31: products reach (-2**31)**2 = 2**62, and F_w may be up to 2B = 64
    # (A2); A3's rounding must not overflow. Codebook values m / 2**F_w are exact in float32.
    spec = HardwareSpec(num_pes=3, arithmetic="fixed32", act_frac_bits=31,
                        weight_frac_bits=weight_frac_bits)
    mantissas = [0, 2**31 - 2**8, -(2**31), 1, -1, 12345, -(2**30) - 2**29]
    codebook = np.array([m * 2.0**-weight_frac_bits for m in mantissas], dtype=np.float32)
    rng = np.random.default_rng(weight_frac_bits)
    codes = rng.integers(0, codebook.size, (7, 9)).astype(np.uint8)
    codes[0, :] = [2, 2, 2, 2, 2, 2, 2, 2, 2]  # -2**31 weights on -1.0 activations: 2**62
    activations = np.array([-1.0, 0.999999, -0.5, 2.0**-31, -(2.0**-31), 0.25, 0.0, 0.75, -1.0])
    layer = encode(codes, codebook, spec=spec)
    check_values(layer, activations, spec)


@pytest.mark.parametrize("arithmetic", ["fixed16", "float32"])
def test_small_activation_rounds_to_zero(arithmetic):
    # T2 with A1: 0.001 is 0 in Q7.8 (no broadcast, no term) but not in float32.
    spec = HardwareSpec(num_pes=2, arithmetic=arithmetic)
    layer = encode(np.array([[1, 1], [1, 0]], dtype=np.uint8),
                   np.array([0.0, 1.5], dtype=np.float32), spec=spec)
    acc = check_values(layer, np.array([0.001, -2.0]), spec)
    result = eiesim.simulate(layer, np.array([0.001, -2.0]), spec)
    assert result.broadcasts == (1 if arithmetic == "fixed16" else 2)
    if arithmetic == "fixed16":
        assert acc.tolist() == [-768, 0]


@pytest.mark.parametrize("arithmetic", ["fixed16", "float32"])
def test_alexnet_fc8(arithmetic):
    data = load_fc8()
    spec = HardwareSpec(arithmetic=arithmetic)
    layer = encode(data["codes"], data["codebook"], data["bias_codes"], spec=spec)
    check_values(layer, data["activations"], spec)
    result = eiesim.simulate(layer, data["activations"], spec)
    reference = np.maximum(
        data["codebook"][data["codes"]].astype(np.float64) @ data["activations"]
        + data["codebook"][data["bias_codes"]], 0.0)
    tolerance = 1e-4 if arithmetic == "float32" else 0.5
    assert np.max(np.abs(result.outputs - reference)) < tolerance


@pytest.mark.slow  # compiles the kernels for the wide summaries (about half a minute)
def test_more_rows_per_pe_than_int16_holds():
    # 40,000 rows on one PE: the fast engine keeps its per-(column, PE) summaries in int32
    # instead of int16 (one row of 16 is real, so columns are long). The literal kernel, which
    # reads the storage directly, and the oracle must agree with it.
    from eiesim.sim.fast import columns_of

    spec = HardwareSpec(num_pes=1, act_regs_per_file=1 << 16, act_sram_bytes=1 << 20)
    codes = np.zeros((40_000, 3), dtype=np.uint8)
    codes[::16, 0] = 1
    codes[5::7, 2] = 2
    layer = encode(codes, np.array([0.0, 0.5, -0.25], dtype=np.float32), spec=spec)
    check_values(layer, np.array([1.0, 2.0, -1.5]), spec)
    assert columns_of(layer).length.dtype == np.int32
    prepared = prepare_inputs(layer, np.array([1.0, 2.0, -1.5]), spec)
    events, literal = run(prepared), run(prepared, cycle_by_cycle=True)
    assert events.frontend_cycles == literal.frontend_cycles
    assert np.array_equal(events.pe_counts, literal.pe_counts)


def test_line_divisor_divides_every_address_exactly():
    # The schedule divides PE-local addresses (0 <= e < 2**31) by the entries per line with a
    # multiply and a shift; a wrong rounding would move a line boundary and a line read (T6).
    from eiesim.sim.fast.kernel import line_divisor

    rng = np.random.default_rng(0)
    for per_line in [*range(1, 1025), 4681, 9362, 1 << 15]:
        mul, shift = line_divisor(per_line)
        assert mul * (1 << 31) < 1 << 63  # e * mul fits int64
        edges = [0, 1, per_line - 1, per_line, per_line + 1, (1 << 31) - 1]
        top = ((1 << 31) - 1) // per_line * per_line
        edges += [top - 1, top, top + 1] if top + 1 < 1 << 31 else [top - 1, top]
        for address in edges + rng.integers(0, 1 << 31, 20).tolist():
            assert (address * mul) >> shift == address // per_line, (per_line, address)
