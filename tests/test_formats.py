"""Storage formats (eiesim.explore.formats): exact bit counts on hand-worked matrices, EIE's
format against what the encoder stores, the formulas against exact counts on random layers."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eiesim
from eiesim.energy import default_energy_table
from eiesim.explore.catalog import load_example
from eiesim.explore.formats import (
    FORMATS,
    StorageFormatError,
    best_regions,
    crossovers,
    eie_energy,
    expected_bits,
    expected_parts,
    expected_table,
    format_table,
    index_bits_sweep,
    network_totals,
    storage_size,
    storage_sizes,
)
from eiesim.format.quantized import QuantizedLayer
from eiesim.spec import HardwareSpec
from eiesim.testing import random_layer

# 4 x 3, no bias; n = 12 positions, m = 4 non-zeros at (0,0), (3,0), (1,2), (3,2).
# Column-major flat positions 0, 3, 9, 11: gaps 0, 2, 5, 1.
SMALL = np.array([[1, 0, 0],
                  [0, 0, 2],
                  [0, 0, 0],
                  [3, 0, 4]], dtype=np.uint8)


def bits_of(codes, fmt, spec=eiesim.DEFAULT_SPEC, **options):
    size = storage_size(codes, fmt, spec, **options)
    return size.bits, size.value_bits, size.index_bits, size.pointer_bits, size.padding_entries


@pytest.mark.parametrize("fmt, expected", [
    ("dense", (48, 48, 0, 0, 0)),  # 12 values of 4 bits
    ("bitmap", (28, 16, 12, 0, 0)),  # 4 values, 12 presence bits
    ("coo", (32, 16, 16, 0, 0)),  # positions 0..11: 4 bits each
    ("csr", (39, 16, 8, 15, 0)),  # column 0..2: 2 bits; 5 row pointers 0..4: 3 bits each
    ("csc", (36, 16, 8, 12, 0)),  # row 0..3: 2 bits; 4 column pointers of 3 bits
    ("delta", (28, 16, 12, 0, 0)),  # largest gap 5: 3 bits
])
def test_exact_bits_of_a_hand_worked_matrix(fmt, expected):
    assert bits_of(SMALL, fmt) == expected


def test_zero_padded_delta_by_hand():
    # gaps 0, 2, 5, 1: with 1-bit indices (runs of 2) they need 0 + 1 + 2 + 0 padding entries
    assert bits_of(SMALL, "padded", index_bits=1) == (7 * 5, 7 * 4, 7, 0, 3)
    # with 2-bit indices (runs of 4) only the gap of 5 needs one
    assert bits_of(SMALL, "padded", index_bits=2) == (5 * 6, 5 * 4, 5 * 2, 0, 1)


def test_eie_by_hand_on_one_and_two_pes():
    # One PE (EIE's format as one matrix): column 0 has rows 0 and 3 (gaps 0 and 2: one padding
    # entry with 1-bit indices), column 2 rows 1 and 3 (gaps 1 and 1): 5 entries of 5 bits;
    # 3 columns + 1 pointers of 16 bits; one 64-bit line holds the 25 bits.
    one = HardwareSpec(num_pes=1, rel_index_bits=1)
    size = storage_size(SMALL, "eie", one)
    assert (size.value_bits, size.index_bits, size.pointer_bits, size.alignment_bits,
            size.padding_entries) == (20, 5, 64, 39, 1)
    assert size.bits == 128
    # Two PEs: PE 0 holds rows 0, 2 (one entry), PE 1 rows 1, 3 (three entries, local rows
    # 1 in column 0 and 0, 1 in column 2: no padding); inputs padded to 4 columns, so 5
    # pointers per PE; each PE's entries fill a line of their own.
    two = HardwareSpec(num_pes=2, rel_index_bits=1)
    size = storage_size(SMALL, "eie", two)
    assert (size.value_bits, size.index_bits, size.pointer_bits, size.alignment_bits,
            size.padding_entries) == (16, 4, 2 * 5 * 16, (64 - 5) + (64 - 15), 0)


def test_raw_values_and_the_bias_column():
    raw = storage_size(SMALL, "dense", values="raw")
    assert raw.bits == 12 * eiesim.DEFAULT_SPEC.data_bits
    codes = np.array([[1, 0], [0, 0]], dtype=np.uint8)
    biased = QuantizedLayer(codes, np.linspace(0, 1, 16), np.array([0, 5], dtype=np.uint8))
    # [W | bias] is 2 x 3 with non-zeros at (0, 0) and (1, 2): flat 0 and 5 of 6 positions
    assert bits_of(biased, "coo") == (2 * (4 + 3), 8, 6, 0, 0)
    assert bits_of(biased, "delta") == (2 * (4 + 3), 8, 6, 0, 0)  # gaps 0 and 4
    # on 2 PEs the bias column sits after the inputs rounded up to 2: 3 columns, 4 pointers
    assert storage_size(biased, "eie", HardwareSpec(num_pes=2)).pointer_bits == 2 * 4 * 16


def _encoder_storage(layer, spec):
    """What the chip stores, from the encoder: every output batch (rule T13) with its own
    entries, padding and pointers; each PE's entries of a batch on whole SRAM lines."""
    encoded = eiesim.encode(layer, spec=spec, check_capacity=False)
    batches = encoded.output_batches(spec.act_regs_per_file)
    entries = np.array([batch.entries_per_pe for batch in batches])
    per_line = spec.spmat_sram_width_bits // spec.entry_bits
    lines = -(-entries // per_line)
    return {"value_bits": sum(b.storage_stats().v_bits for b in batches),
            "index_bits": sum(b.storage_stats().z_bits for b in batches),
            "pointer_bits": sum(b.col_ptr.size for b in batches) * spec.pointer_bits,
            "padding_entries": sum(b.stored_padding_entries for b in batches),
            "alignment_bits": int(lines.sum()) * spec.spmat_sram_width_bits
            - int(entries.sum()) * spec.entry_bits}


def _eie_parts(layer, spec):
    size = storage_size(layer, "eie", spec)
    return {key: getattr(size, key) for key in ("value_bits", "index_bits", "pointer_bits",
                                                "padding_entries", "alignment_bits")}


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), pes=st.sampled_from([1, 2, 3, 8]),
       index_bits=st.integers(1, 5), act_regs=st.sampled_from([2, 5, 64]))
def test_eie_equals_what_the_encoder_stores(seed, pes, index_bits, act_regs):
    layer = random_layer(seed)
    spec = HardwareSpec(num_pes=pes, rel_index_bits=index_bits, act_regs_per_file=act_regs)
    assert _eie_parts(layer, spec) == _encoder_storage(layer, spec)


def test_eie_equals_the_encoder_on_fc8_and_a_batched_layer():
    fc8 = load_example("alexnet-fc8")
    for spec in (eiesim.DEFAULT_SPEC, HardwareSpec(num_pes=16, rel_index_bits=2)):
        assert _eie_parts(fc8, spec) == _encoder_storage(fc8, spec)
    # 600 x 300 on 4 PEs: 150 rows per PE, three output batches of 64 registers
    rng = np.random.default_rng(3)
    codes = ((rng.random((600, 300)) < 0.05) * rng.integers(1, 16, (600, 300))).astype(np.uint8)
    spec = HardwareSpec(num_pes=4)
    assert len(eiesim.encode(codes, np.linspace(0, 1, 16), spec=spec, check_capacity=False)
               .output_batches(spec.act_regs_per_file)) == 3
    layer = QuantizedLayer(codes, np.linspace(0, 1, 16))
    assert _eie_parts(layer, spec) == _encoder_storage(layer, spec)


def test_every_input_kind_gives_the_same_sizes():
    layer = random_layer(7, bias=False)
    encoded = eiesim.encode(layer, spec=HardwareSpec(num_pes=4))
    reference = [size.bits for size in storage_sizes(layer)]
    assert [size.bits for size in storage_sizes(encoded)] == reference
    assert [size.bits for size in storage_sizes(layer.codes)] == reference
    assert [size.bits for size in storage_sizes(layer.weights())] == reference


def _sign_changes(difference):
    """Grid steps where the sign of a difference turns (ties skipped)."""
    sign = np.sign(difference)
    at = np.flatnonzero(sign)
    return [int(step) for step in at[1:][sign[at[1:]] != sign[at[:-1]]]]


@pytest.mark.parametrize("shape", [(256, 512), (300, 200)])
def test_crossovers_from_the_formulas_match_exact_counts(shape):
    rows, columns = shape
    spec = HardwareSpec(num_pes=8)
    grid = np.geomspace(2e-3, 0.95, 33)
    exact = {fmt: np.zeros(grid.size) for fmt in FORMATS}
    for step, density in enumerate(grid):
        for seed in range(3):  # the mean of three layers: less noise in the largest gap
            rng = np.random.default_rng([step, seed])
            codes = (rng.random(shape) < density).astype(np.uint8)
            for size in storage_sizes(codes, spec):
                exact[size.format][step] += size.bits / 3
    found = crossovers(rows, columns, spec, densities=grid)
    assert len(found) > 15
    for first, second in itertools.combinations(FORMATS, 2):
        measured = _sign_changes(exact[first] - exact[second])
        predicted = found[found["smaller_below"].isin([first, second])
                          & found["smaller_above"].isin([first, second])]
        steps = predicted["grid_step"].tolist()
        assert len(steps) == len(measured), (first, second, steps, measured)
        for step, at in zip(steps, measured):
            assert abs(step - at) <= 1, (first, second, steps, measured)
        for density, step in zip(predicted["density"], steps):
            assert grid[step - 1] <= density <= grid[step]


def test_formulas_are_close_to_exact_counts():
    spec = HardwareSpec(num_pes=8)  # 1100 rows: 138 per PE, three output batches
    rng = np.random.default_rng(11)
    for density in (0.02, 0.1, 0.3):
        codes = (rng.random((1100, 300)) < density).astype(np.uint8)
        for size in storage_sizes(codes, spec):
            formula = expected_bits(size.format, [density], 1100, 300, spec)[0]
            # eie's formula leaves out the alignment: under one line per PE and batch; one
            # layer's largest gap may need a bit more or less than the expected delta width
            slack = {"eie": 3 * 8 * spec.spmat_sram_width_bits,
                     "delta": size.nonzeros}.get(size.format, 0)
            assert abs(size.bits - formula) <= 0.02 * formula + slack, (size.format, density)


def test_best_regions_tile_the_density_range():
    regions = best_regions(1000, 1000, HardwareSpec(weight_index_bits=8))
    assert regions["density_from"].iloc[0] == pytest.approx(1e-6)
    assert regions["density_to"].iloc[-1] == 1.0
    assert (regions["density_to"].iloc[:-1].values
            == regions["density_from"].iloc[1:].values).all()
    # dense beats a bitmap exactly above 1 - 1/k: k/p < k + 1/p
    assert regions["format"].iloc[-1] == "dense"
    assert regions["density_from"].iloc[-1] == pytest.approx(1 - 1 / 8)


def test_index_bits_sweep_trades_padding_for_width():
    fc8 = load_example("alexnet-fc8")
    sweep = index_bits_sweep(fc8, index_bits=[1, 2, 3, 4, 6])
    assert (np.diff(sweep["padding_entries"]) <= 0).all()
    assert sweep.loc[sweep["best"], "bits"].item() == sweep["bits"].min()
    for bits, total in zip(sweep["index_bits"], sweep["bits"]):
        assert total == storage_size(fc8, "eie", HardwareSpec(rel_index_bits=bits)).bits


def test_format_table_and_storage_only_energy():
    fc8 = load_example("alexnet-fc8")
    table = format_table(fc8)
    assert table["format"].tolist() == list(FORMATS)
    assert table["best"].sum() == 1
    best = table.loc[table["best"]].iloc[0]
    assert best["bits"] == table["bits"].min() and best["vs_best"] == 1
    per_bit = default_energy_table().event_j["spmat_line_reads"] / 64
    assert np.allclose(table["storage_energy_j"], table["bits"] * per_bit)
    totals = network_totals(format_table([fc8, fc8]))
    assert totals.loc[totals["format"] == "best per layer", "bits"].item() == 2 * best["bits"]


def test_eie_energy_splits_the_simulated_energy():
    layer = random_layer(3, out_features=40, in_features=30, density=0.3)
    energy = eie_energy(layer, HardwareSpec(num_pes=4))
    assert 0 < energy["sram_read_j"] < energy["format_units_j"] < energy["energy_j"]
    assert energy["storage_only_j"] > 0 and energy["spec_changes"] == {}
    tight = HardwareSpec(num_pes=1, spmat_sram_bytes=64, ptr_sram_bytes=32)
    assert set(eie_energy(layer, tight)["spec_changes"]) == {"spmat_sram_bytes",
                                                             "ptr_sram_bytes"}


@pytest.mark.parametrize("call, message", [
    (lambda: expected_table(10, 10, densities=[0.5, 1.5]), "density 1.5 is outside [0, 1]"),
    (lambda: crossovers(10, 10, densities=[-0.1]), "density -0.1 is outside [0, 1]"),
    (lambda: storage_size(SMALL, "csx"), "format 'csx' does not exist (did you mean"),
    (lambda: expected_parts("bitmaps", [0.1], 4, 4), "format 'bitmaps' does not exist"),
    (lambda: storage_size(SMALL, "eie", index_bits=0), "index bits = 0 is outside 1..16"),
    (lambda: storage_sizes(SMALL, values="fp8"), "values = 'fp8' is not a value kind"),
    (lambda: storage_size(np.zeros(3), "coo"), "weights have shape (3,)"),
    (lambda: format_table(random_layer(1, weight_index_bits=5)),
     "the layer's codebook has 32 entries, 4-bit values hold 16"),
])
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(StorageFormatError) as raised:
        call()
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
