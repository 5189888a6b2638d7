"""Rules T12 and T13: vectors longer than the register files go through the activation SRAM."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eiesim
from eiesim.testing import assert_results_equal, random_layer

ENGINES = ["fast", "reference"]


def run(codes, activations, engine, **spec_fields):
    spec = eiesim.HardwareSpec(**spec_fields)
    codebook = np.linspace(0, 1, 16, dtype=np.float32)
    layer = eiesim.encode(np.asarray(codes, dtype=np.uint8), codebook, spec=spec)
    return eiesim.simulate(layer, np.asarray(activations, dtype=float), spec, engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_input_batches_insert_load_cycles(engine):
    # N = 1, R = 2 registers, 32-bit SRAM access = K = 2 fixed16 activations. 5 inputs, all
    # non-zero, one row: G = 5 groups > R, so input batches of 2, 2, 1 groups, each preceded by
    # ceil(g / K) = 1 load cycle (T12). With N = 1 every non-zero is in its group's last slot:
    # no scan cycles (T2). CCU program: L b0 b1 L b2 b3 L b4 (cycles 0..7).
    # PE 0 (one entry per column): ptr col0 @2; issue col0 @3 with ptr col1 @3 (T5);
    # issue col1 @4 (queue empty at the start of 4); ptr col2 @5 (pushed in 4); issue col2 @6
    # with ptr col3 @6; issue col3 @7; ptr col4 @8 (pushed in 7); issue col4 @9. T = 10 (T8).
    result = run(np.ones((1, 5)), np.ones(5), engine, num_pes=1, act_regs_per_file=2,
                 act_sram_width_bits=32)
    assert result.frontend_cycles == 10
    assert result.cycles == 10 + 4  # + P; R = 0: ReLU on the way out of the registers (T10)
    assert result.ccu_count("act_load_cycles") == 3
    assert result.ccu_count("ccu_active_cycles") == 8
    assert result.ccu_count("lnzd_scan_cycles") == 0
    assert result.broadcasts == 5
    assert result.pe_count("act_sram_reads").tolist() == [3]
    assert result.busy_cycles.tolist() == [8] and result.idle_cycles.tolist() == [2]
    # The same layer with registers for all five inputs needs no load cycles.
    plain = run(np.ones((1, 5)), np.ones(5), engine, num_pes=1, act_sram_width_bits=32)
    assert plain.ccu_count("act_load_cycles") == 0 and plain.total("act_sram_reads") == 0
    np.testing.assert_array_equal(result.outputs, plain.outputs)


@pytest.mark.parametrize("engine", ENGINES)
def test_output_batches_rerun_the_input_and_write_back(engine):
    # N = 1, R = 2, K = 2: 5 rows in output batches of 2, 2, 1 rows (T13), one input column.
    # Each batch: broadcast @0, pointer read @1, k entries @2..1+k: T = 2 + k = 4, 4, 3.
    # Drain 4 per batch, no ReLU cycles (T10), write-back ceil(rows / K) = 1, 1, 1.
    result = run(np.ones((5, 1)), np.ones(1), engine, num_pes=1, act_regs_per_file=2,
                 act_sram_width_bits=32)
    assert result.output_batches == 3
    assert result.frontend_cycles == 11
    assert result.writeback_cycles == 3
    assert result.relu_cycles == 0
    assert result.cycles == 11 + 3 * 4 + 3
    # A separate ReLU pass of one output per cycle adds 2, 2, 1 cycles (T10).
    separate = run(np.ones((5, 1)), np.ones(1), engine, num_pes=1, act_regs_per_file=2,
                   act_sram_width_bits=32, relu_outputs_per_cycle=1)
    assert separate.relu_cycles == 5
    assert separate.cycles == 11 + 3 * 4 + 5 + 3
    assert result.broadcasts == 3  # the input is broadcast once per output batch
    assert result.pe_count("act_sram_writes").tolist() == [3]
    plain = run(np.ones((5, 1)), np.ones(1), engine, num_pes=1)
    assert plain.output_batches == 1 and plain.total("act_sram_writes") == 0
    np.testing.assert_array_equal(result.outputs, plain.outputs)


def test_pointer_sram_must_hold_every_output_batch():
    spec = eiesim.HardwareSpec(num_pes=1, act_regs_per_file=2, ptr_sram_bytes=8)
    codes = np.ones((5, 1), np.uint8)
    with pytest.raises(eiesim.CapacityError, match=r"6 column pointers.*3 output batches"):
        eiesim.encode(codes, np.array([0.0, 1.0]), spec=spec)  # checked before encoding
    layer = eiesim.encode(codes, np.array([0.0, 1.0]), spec=spec, check_capacity=False)
    with pytest.raises(eiesim.CapacityError, match=r"6 column pointers.*3 output batches"):
        eiesim.simulate(layer, np.ones(1), spec)


def test_trace_of_a_batched_layer_is_refused():
    from eiesim.sim.trace import TraceRecorder

    spec = eiesim.HardwareSpec(num_pes=1, act_regs_per_file=2)
    layer = eiesim.encode(np.ones((5, 1), np.uint8), np.array([0.0, 1.0]), spec=spec)
    with pytest.raises(eiesim.SpecError, match="3 output batches"):
        eiesim.simulate(layer, np.ones(1), spec, engine="reference", trace=TraceRecorder())


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.sampled_from([1, 2, 3]),
       st.sampled_from(["fixed16", "float32"]))
def test_batching_changes_time_not_values(seed, num_pes, regs, arithmetic):
    case = random_layer(seed, out_features=30, in_features=30)
    common = dict(num_pes=num_pes, arithmetic=arithmetic, act_sram_bytes=1 << 16,
                  ptr_sram_bytes=1 << 16)
    batched_spec = eiesim.HardwareSpec(act_regs_per_file=regs, **common)
    plain_spec = eiesim.HardwareSpec(**common)
    batched = eiesim.simulate(case.encode(batched_spec), case.activations, batched_spec)
    plain = eiesim.simulate(case.encode(plain_spec), case.activations, plain_spec)
    np.testing.assert_array_equal(batched.pre_activations, plain.pre_activations)
    assert batched.macs == plain.macs
    # T12 and T13 event counts from the shapes alone.
    groups = -(-case.in_features // num_pes)  # the bias group needs no register (T12)
    per_access = batched_spec.activations_per_sram_access
    loads = 0 if groups <= regs else sum(
        -(-min(regs, groups - first) // per_access) for first in range(0, groups, regs))
    rows_per_pe = -(-case.out_features // num_pes)
    batches = -(-rows_per_pe // regs)
    assert batched.output_batches == batches
    assert batched.ccu_count("act_load_cycles") == loads * batches
    reference = eiesim.simulate(case.encode(batched_spec), case.activations, batched_spec,
                                engine="reference")
    assert_results_equal(batched, reference)


@pytest.mark.parametrize("engine", ENGINES)
def test_bias_group_needs_no_register_or_load(engine):
    # N = 1, R = 2, default SRAM access = one activation (K = 1). Two inputs plus the bias:
    # three groups, but only two input groups, which fit the registers: no load (T12).
    spec = eiesim.HardwareSpec(num_pes=1, act_regs_per_file=2)
    codebook = np.array([0.0, 1.0])
    fits = eiesim.simulate(eiesim.encode(np.ones((1, 2), np.uint8), codebook, np.ones(1, np.uint8),
                                         spec=spec), np.ones(2), spec, engine=engine)
    assert fits.ccu_count("act_load_cycles") == 0
    # Three inputs: input batches of 2 and 1 groups, 2 + 1 load cycles, the bias group after.
    batched = eiesim.simulate(eiesim.encode(np.ones((1, 3), np.uint8), codebook,
                                            np.ones(1, np.uint8), spec=spec),
                              np.ones(3), spec, engine=engine)
    assert batched.ccu_count("act_load_cycles") == 3
    assert batched.pe_count("act_sram_reads").tolist() == [3]
    assert batched.outputs.tolist() == [4.0]  # 3 inputs + bias, all weights 1
