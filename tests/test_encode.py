"""Encoder: the paper's worked example, the padding rule, round trips, capacity checks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eiesim import CapacityError, HardwareSpec, LayerError, encode

# The paper's 16x8 example (EIE.md §2): PE0 holds rows 0, 4, 8, 12.
PAPER_PE0_NONZEROS = [(0, 0), (8, 0), (12, 0), (4, 1), (0, 2), (12, 2), (0, 4), (4, 4), (0, 5),
                      (12, 5), (0, 6), (8, 7), (12, 7)]


def test_paper_worked_example_pe0_exact():
    codes = np.zeros((16, 8), dtype=np.uint8)
    for index, (row, col) in enumerate(PAPER_PE0_NONZEROS):
        codes[row, col] = 1 + index % 15  # distinct-ish codes to check the order of v
    layer = encode(codes, np.arange(16, dtype=np.float32), spec=HardwareSpec(num_pes=4))
    start, end = layer.pe_offsets[0], layer.pe_offsets[1]
    assert layer.entry_z[start:end].tolist() == [0, 1, 0, 1, 0, 2, 0, 0, 0, 2, 0, 2, 0]
    assert layer.col_ptr[0].tolist() == [0, 3, 4, 6, 6, 8, 10, 11, 13]
    assert layer.entry_v[start:end].tolist() == [1 + i % 15 for i in range(13)]
    # Other PEs own nothing in this example.
    assert layer.entries_per_pe.tolist() == [13, 0, 0, 0]


def test_padding_rule_single_column():
    # EIE.md §2: [0,0,1,2, eighteen zeros, 3] encodes as v=[1,2,0,3], z=[2,0,15,2].
    column = [0, 0, 1, 2] + [0] * 18 + [3]
    layer = encode(np.array(column, dtype=np.uint8)[:, None], np.arange(4, dtype=np.float32),
                   spec=HardwareSpec(num_pes=1))
    assert layer.entry_v.tolist() == [1, 2, 0, 3]
    assert layer.entry_z.tolist() == [2, 0, 15, 2]


@pytest.mark.parametrize("gap, bits, expected_padding", [
    (15, 4, 0), (16, 4, 1), (31, 4, 1), (32, 4, 2), (47, 4, 2), (3, 2, 0), (4, 2, 1), (9, 2, 2),
])
def test_padding_count_is_floor_of_gap(gap, bits, expected_padding):
    column = np.zeros(gap + 1, dtype=np.uint8)
    column[gap] = 1
    layer = encode(column[:, None], np.array([0.0, 1.0]),
                   spec=HardwareSpec(num_pes=1, rel_index_bits=bits))
    assert int(np.count_nonzero(layer.entry_v == 0)) == expected_padding
    assert int(layer.entry_z[-1]) == gap % (1 << bits)


def test_trailing_zeros_need_no_entries():
    column = np.zeros(100, dtype=np.uint8)
    column[0] = 1
    layer = encode(column[:, None], np.array([0.0, 1.0]), spec=HardwareSpec(num_pes=1))
    assert layer.entry_v.tolist() == [1]


def test_bias_column_after_padded_inputs():
    codes = np.ones((4, 5), dtype=np.uint8)
    bias = np.array([1, 0, 2, 3], dtype=np.uint8)
    layer = encode(codes, np.arange(4, dtype=np.float32), bias, spec=HardwareSpec(num_pes=4))
    assert layer.bias_column == 8  # 5 inputs rounded up to a multiple of 4 PEs
    assert layer.num_columns == 9
    counts = np.diff(layer.col_ptr, axis=1)
    assert counts[:, 5:8].sum() == 0  # the empty columns between
    assert counts[:, 8].tolist() == [1, 0, 1, 1]


@st.composite
def code_matrices(draw):
    out_features = draw(st.integers(1, 40))
    in_features = draw(st.integers(1, 30))
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 1.0]))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    codes = ((rng.random((out_features, in_features)) < density)
             * rng.integers(1, 16, (out_features, in_features))).astype(np.uint8)
    bias = rng.integers(0, 16, out_features).astype(np.uint8) if draw(st.booleans()) else None
    return codes, bias


@settings(max_examples=150, deadline=None)
@given(code_matrices(), st.integers(1, 9), st.integers(1, 5))
def test_round_trip(matrix, num_pes, rel_bits):
    codes, bias = matrix
    codebook = np.linspace(-1, 1, 16).astype(np.float32)
    codebook[0] = 0
    layer = encode(codes, codebook, bias,
                   spec=HardwareSpec(num_pes=num_pes, rel_index_bits=rel_bits))
    decoded, decoded_bias = layer.to_codes()
    np.testing.assert_array_equal(decoded, codes)
    if bias is None:
        assert decoded_bias is None
    else:
        np.testing.assert_array_equal(decoded_bias, bias)
    stats = layer.storage_stats()
    assert stats.real_entries == np.count_nonzero(codes) + (
        0 if bias is None else np.count_nonzero(bias))
    assert stats.v_bits == stats.entries * 4
    assert stats.z_bits == stats.entries * rel_bits
    assert 0.0 <= stats.padding_share < 1.0


@pytest.mark.parametrize("codes, codebook, message", [
    (np.zeros((3,), np.uint8), np.array([0.0, 1.0]), "2-D"),
    (np.zeros((2, 2), np.float32), np.array([0.0, 1.0]), "integers"),
    (np.full((2, 2), 5, np.uint8), np.array([0.0, 1.0]), "index 5"),
    (np.ones((2, 2), np.uint8), np.array([0.5, 1.0]), r"codebook\[0\] = 0.5"),
    (np.ones((2, 2), np.uint8), np.array([0.0, np.nan]), "finite"),
    (np.ones((2, 2), np.uint8), np.zeros(17), "at most 16"),
])
def test_bad_codes_rejected(codes, codebook, message):
    with pytest.raises(LayerError, match=message):
        encode(codes, codebook)


def test_capacity_errors_name_limit_and_fix():
    from eiesim.sim import simulate

    codes = np.ones((64, 8), dtype=np.uint8)
    spec = HardwareSpec(num_pes=1, spmat_sram_bytes=64)  # 64 B hold 64 eight-bit entries
    layer = encode(codes, np.array([0.0, 1.0]), spec=spec)
    with pytest.raises(CapacityError, match=r"PE 0 needs 512 entries.*holds 64.*more PEs"):
        simulate(layer, np.ones(8), spec)
    spec = HardwareSpec(num_pes=1, pointer_bits=8)
    layer = encode(codes, np.array([0.0, 1.0]), spec=spec)
    with pytest.raises(CapacityError, match="8-bit pointers address at most 255"):
        simulate(layer, np.ones(8), spec)
    spec = HardwareSpec(num_pes=1, ptr_sram_bytes=8)
    layer = encode(codes, np.array([0.0, 1.0]), spec=spec)
    with pytest.raises(CapacityError, match="needs 9 column pointers"):
        simulate(layer, np.ones(8), spec)


def test_layer_encoded_for_other_hardware_rejected():
    from eiesim.sim import simulate

    layer = encode(np.ones((4, 4), np.uint8), np.array([0.0, 1.0]), spec=HardwareSpec(num_pes=2))
    with pytest.raises(CapacityError, match="num_pes = 2 but the hardware has num_pes = 4"):
        simulate(layer, np.ones(4), HardwareSpec(num_pes=4))
