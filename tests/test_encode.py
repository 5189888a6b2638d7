"""Encoder: the paper's worked example, the padding rule, round trips, capacity checks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eiesim import CapacityError, EncodedLayer, HardwareSpec, LayerError, encode
from eiesim.explore import catalog
from eiesim.format.capacity import LayerRequirements, fit_memories, layer_requirements

# The paper's 16x8 example (docs/hardware.md §2): PE0 holds rows 0, 4, 8, 12.
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
    # docs/hardware.md §2: [0,0,1,2, eighteen zeros, 3] encodes as v=[1,2,0,3], z=[2,0,15,2].
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
    layer.validate()  # the encoder skips the checks: its output must pass them
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
    # to_dense: the codebook values of the codes, bias included.
    weights, dense_bias = layer.to_dense()
    np.testing.assert_array_equal(weights, codebook[codes])
    if bias is not None:
        np.testing.assert_array_equal(dense_bias, codebook[bias])
    # The counting pass predicts the encoding's needs exactly (capacity checks use it).
    assert layer_requirements(codes, bias, spec=layer_spec(layer)) == \
        LayerRequirements.of_layer(layer)
    # An independent construction from the non-zeros' coordinates gives the same arrays.
    n = num_pes
    rows_per_pe = -(-codes.shape[0] // n)
    extended = np.zeros((rows_per_pe * n, layer.num_columns), np.uint8)
    extended[:codes.shape[0], :codes.shape[1]] = codes
    if bias is not None:
        extended[:codes.shape[0], layer.bias_column] = bias
    by_pe = extended.reshape(rows_per_pe, n, layer.num_columns).transpose(1, 2, 0)
    pes, columns, local_rows = np.nonzero(by_pe)
    other = EncodedLayer.from_entries(
        num_pes=n, weight_index_bits=4, rel_index_bits=rel_bits, out_features=codes.shape[0],
        in_features=codes.shape[1], has_bias=bias is not None, codebook=layer.codebook,
        pes=pes, columns=columns, local_rows=local_rows, codes=by_pe[pes, columns, local_rows])
    for name in ("entry_v", "entry_z", "pe_offsets", "col_ptr"):
        np.testing.assert_array_equal(getattr(other, name), getattr(layer, name), err_msg=name)


def layer_spec(layer):
    return HardwareSpec(num_pes=layer.num_pes, rel_index_bits=layer.rel_index_bits)


@settings(max_examples=60, deadline=None)
@given(code_matrices(), st.integers(1, 5), st.integers(1, 4), st.integers(1, 3))
def test_output_batches_are_the_encodings_of_row_slices(matrix, num_pes, rel_bits, regs):
    """Rule T13's batches, cut from the layer's entries, equal encoding each slice of rows."""
    codes, bias = matrix
    codebook = np.linspace(0, 1, 16).astype(np.float32)
    spec = HardwareSpec(num_pes=num_pes, rel_index_bits=rel_bits)
    layer = encode(codes, codebook, bias, spec=spec)
    batches = layer.output_batches(regs)
    if len(batches) > 1:
        assert layer.output_batches(regs) is batches  # computed once per layer and size
    rows = regs * num_pes
    rows_per_pe = -(-codes.shape[0] // num_pes)
    assert len(batches) == max(1, -(-rows_per_pe // regs))
    for index, batch in enumerate(batches):
        part = slice(index * rows, (index + 1) * rows)
        expected = encode(codes[part], codebook, None if bias is None else bias[part],
                          spec=spec)
        for name in ("out_features", "has_bias"):
            assert getattr(batch, name) == getattr(expected, name)
        for name in ("entry_v", "entry_z", "pe_offsets", "col_ptr"):
            np.testing.assert_array_equal(getattr(batch, name), getattr(expected, name))


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
    codebook = np.array([0.0, 1.0])
    spec = HardwareSpec(num_pes=1, spmat_sram_bytes=64)  # 64 B hold 64 eight-bit entries
    with pytest.raises(CapacityError, match=r"PE 0 needs 512 entries.*holds 64.*more PEs"):
        encode(codes, codebook, spec=spec)
    layer = encode(codes, codebook, spec=spec, check_capacity=False)
    with pytest.raises(CapacityError, match=r"PE 0 needs 512 entries.*holds 64.*more PEs"):
        simulate(layer, np.ones(8), spec)
    with pytest.raises(CapacityError, match="8-bit pointers address at most 255"):
        encode(codes, codebook, spec=HardwareSpec(num_pes=1, pointer_bits=8))
    with pytest.raises(CapacityError, match="needs 9 column pointers"):
        encode(codes, codebook, spec=HardwareSpec(num_pes=1, ptr_sram_bytes=8))


def test_every_exceeded_limit_in_one_error_with_its_fix():
    # 1 PE, 300 x 200 all ones: 60 000 entries; 200 inputs and 300 rows per PE.
    spec = HardwareSpec(num_pes=1, spmat_sram_bytes=1024, pointer_bits=8, ptr_sram_bytes=16,
                        act_sram_bytes=16)
    with pytest.raises(CapacityError) as caught:
        encode(np.ones((300, 200), np.uint8), np.array([0.0, 1.0]), spec=spec)
    message = str(caught.value)
    for fix in ("spmat_sram_bytes needs >= 65536 (--spmat-sram-bytes 65536)",
                "pointer_bits needs >= 16 (--pointer-bits 16)",
                # 5 output batches (300 rows, 64 registers) x 201 pointers x 16 bits = 2010 B
                "ptr_sram_bytes needs >= 2048 (--ptr-sram-bytes 2048)",
                "act_sram_bytes needs >= 1024 (--act-sram-bytes 1024)",
                "--fit-memories"):
        assert fix in message
    assert caught.value.fixes == {"spmat_sram_bytes": 65536, "pointer_bits": 16,
                                  "ptr_sram_bytes": 2048, "act_sram_bytes": 1024}
    fitted, changes = fit_memories(np.ones((300, 200), np.uint8), spec)
    assert changes == caught.value.fixes
    assert fitted == spec.replace(**changes)
    encode(np.ones((300, 200), np.uint8), np.array([0.0, 1.0]), spec=fitted)


def test_fit_memories_takes_the_smallest_sufficient_sizes():
    codes = np.ones((64, 8), dtype=np.uint8)
    spec = HardwareSpec(num_pes=1, spmat_sram_bytes=64)
    fitted, changes = fit_memories(codes, spec)
    assert changes == {"spmat_sram_bytes": 512}  # 512 entries of 8 bits
    assert fit_memories(codes, fitted) == (fitted, {})
    with pytest.raises(CapacityError):
        encode(codes, np.array([0.0, 1.0]), spec=fitted.replace(spmat_sram_bytes=256))
    # Requirements and encoded layers work too; a layer object with .codes and .bias_codes.
    layer = encode(codes, np.array([0.0, 1.0]), spec=fitted)
    assert fit_memories(layer, spec)[1] == changes
    assert fit_memories(LayerRequirements.of_layer(layer), spec)[1] == changes


def test_fc8_pe_scaling_sweep_fits_from_1_to_256_pes():
    from eiesim import simulate
    from eiesim.format import files as io

    data = io.load_layer(catalog.example_path("alexnet-fc8"))
    cycles = []
    for num_pes in (1, 2, 4, 8, 16, 32, 64, 128, 256):
        base = HardwareSpec(num_pes=num_pes)
        spec, changes = fit_memories(data, base)
        if changes:  # below 32 PEs the default memories are too small
            with pytest.raises(CapacityError):
                encode(data, spec=base)
        result = simulate(encode(data, spec=spec), data.activations, spec)
        cycles.append(result.cycles)
    assert all(a > b for a, b in zip(cycles, cycles[1:]))  # more PEs, fewer cycles


def test_too_large_layer_is_rejected_from_counts_without_encoding():
    import tracemalloc

    # 20 000 x 20 000, every weight present, as a zero-copy view: 400 M entries would need
    # 800 MB encoded. The counts alone reject it, allocating only the per-column counts.
    codes = np.broadcast_to(np.uint8(1), (20_000, 20_000))
    tracemalloc.start()
    with pytest.raises(CapacityError, match="spmat_sram_bytes needs"):
        encode(codes, np.array([0.0, 1.0]))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20


def test_encode_takes_a_quantized_layer_object():
    class Quantized:  # any object with codes, codebook and bias_codes
        codes = np.array([[1, 0], [0, 2]], np.uint8)
        codebook = np.array([0.0, 0.5, -1.0])
        bias_codes = np.array([2, 0], np.uint8)

    spec = HardwareSpec(num_pes=2)
    layer = encode(Quantized(), spec=spec)
    same = encode(Quantized.codes, Quantized.codebook, Quantized.bias_codes, spec=spec)
    for name in ("entry_v", "entry_z", "col_ptr", "codebook"):
        np.testing.assert_array_equal(getattr(layer, name), getattr(same, name))
    with pytest.raises(LayerError, match="pass the layer alone"):
        encode(Quantized(), Quantized.codebook, spec=spec)
    with pytest.raises(LayerError, match="needs a codebook"):
        encode(Quantized.codes, spec=spec)


def test_layer_encoded_for_other_hardware_rejected():
    from eiesim.sim import simulate

    layer = encode(np.ones((4, 4), np.uint8), np.array([0.0, 1.0]), spec=HardwareSpec(num_pes=2))
    with pytest.raises(CapacityError, match="num_pes = 2 but the hardware has num_pes = 4"):
        simulate(layer, np.ones(4), HardwareSpec(num_pes=4))


def test_a_quantized_layer_keeps_its_encodings_per_encoding_key():
    import pickle

    from eiesim.errors import CapacityError
    from eiesim.format.quantized import QuantizedLayer

    rng = np.random.default_rng(0)
    layer = QuantizedLayer(rng.integers(0, 4, (40, 30)), np.array([0.0, 0.5, -0.5, 1.0]))
    spec = HardwareSpec(num_pes=4)
    first = layer.encode(spec)
    # Another queue depth, clock or memory size: the same encoding, checked against the spec.
    assert layer.encode(spec.replace(act_queue_depth=2, clock_hz=1e9)) is first
    with pytest.raises(CapacityError, match="sparse-matrix SRAM"):
        layer.encode(spec.replace(spmat_sram_bytes=64))
    # Another PE count is another encoding, equal to a fresh one.
    other = layer.encode(spec.replace(num_pes=8))
    assert other is not first and other.num_pes == 8
    fresh = encode(layer.codes, layer.codebook, spec=spec.replace(num_pes=8))
    assert np.array_equal(other.entry_v, fresh.entry_v)
    # A copy for another process carries no encodings, and equality ignores them.
    copy = pickle.loads(pickle.dumps(layer))
    assert "_encodings" not in copy.__dict__ and copy.encode(spec) is not first


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), pes=st.integers(1, 9), index_bits=st.integers(1, 4),
       zeros=st.sampled_from([0.0, 0.5, 0.9, 1.0]), negative_zero=st.booleans())
def test_float_outputs_skip_zero_inputs_without_changing_a_bit(seed, pes, index_bits, zeros,
                                                               negative_zero):
    # The float reference decodes only the columns whose input is not zero. Their terms are
    # +-0 and the sums start at +0, so leaving them out must give every output bit for bit as
    # summing every real entry in storage order does.
    from eiesim.testing import random_layer

    case = random_layer(seed, out_features=1 + seed % 29, in_features=1 + seed % 17,
                        density=0.4, act_density=1.0 - zeros, signed_activations=True,
                        bias=bool(seed % 2))
    layer = case.encode(HardwareSpec(num_pes=pes, rel_index_bits=index_bits))
    activations = np.asarray(case.activations, dtype=np.float64)
    if negative_zero:
        activations = np.where(activations == 0, -0.0, activations)
    rows, columns, codes = layer.real_entry_coordinates()
    extended = np.zeros(layer.num_columns)
    extended[:layer.in_features] = activations
    if layer.has_bias:
        extended[layer.bias_column] = 1.0
    every_term = np.bincount(rows, weights=layer.codebook.astype(np.float64)[codes]
                             * extended[columns], minlength=layer.out_features)
    expected = np.maximum(every_term, 0.0)
    assert np.array_equal(layer.float_outputs(activations).view(np.uint64),
                          expected.view(np.uint64))


def test_only_the_encoder_skips_the_checks():
    codebook = np.array([0.0, 1.0], dtype=np.float32)
    layer = encode(np.eye(4, dtype=np.uint8), codebook, spec=HardwareSpec(num_pes=2))
    fields = {name: getattr(layer, name) for name in (
        "num_pes", "weight_index_bits", "rel_index_bits", "out_features", "in_features",
        "has_bias", "codebook", "entry_v", "entry_z", "pe_offsets", "col_ptr")}
    broken = fields | {"entry_z": np.full_like(layer.entry_z, 7)}  # rows beyond the slices
    with pytest.raises(LayerError, match="relative index|beyond"):
        EncodedLayer(**broken)
    with pytest.raises(TypeError, match="exactly the fields"):
        EncodedLayer._from_encoder(**{**fields, "extra": 1})
