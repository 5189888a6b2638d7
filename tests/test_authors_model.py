"""The two rules by which EIE's RTL model (the authors' C++ simulator) differs from the paper's
chip, and the ``authors-model`` preset that switches both on (docs/hardware.md §7):

* T12 with ``source_regs_hold_whole_input``: the whole input sits in the source register file,
  so a long input needs no input batches and no load cycles;
* T14, ``end_of_layer_latency_cycles``: the layer counts as done E cycles after its last
  write-back, once per layer.

Every expected number is derived by hand in the comments ("cN" is cycle N, "bK" broadcast K,
as in tests/test_timing_micro.py); each case runs on both engines, and the fast engine's two
kernels (event-skipping and cycle-by-cycle) must agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import eiesim
from eiesim import HardwareSpec
from eiesim.sim import prepare_inputs
from eiesim.sim.fast import run
from eiesim.sim.trace import TraceRecorder
from eiesim.testing import assert_results_equal

CODEBOOK = np.linspace(0, 1, 16, dtype=np.float32)
FC8 = Path(eiesim.__file__).parent / "data" / "alexnet_fc8.npz"


@pytest.fixture(params=["fast", "reference"])
def engine(request):
    return request.param


def simulate(engine, codes, activations, spec):
    codes = np.asarray(codes, dtype=np.uint8)
    activations = np.asarray(activations, dtype=np.float64)
    layer = eiesim.encode(codes, CODEBOOK, spec=spec)
    batches = layer.output_batches(spec.act_regs_per_file)
    # Traces cover single-batch layers only.
    recorder = TraceRecorder() if engine == "reference" and len(batches) == 1 else None
    result = eiesim.simulate(layer, activations, spec, engine=engine,
                             trace=recorder)
    if recorder is not None:
        # The reference engine runs every cycle of the layer, the end latency included, and
        # the exported trace shows the latency as a slice at the end.
        assert recorder.meta["total_cycles"] == result.cycles
        latency = [event for event in recorder.to_chrome_trace()["traceEvents"]
                   if event.get("name") == "end-of-layer latency"]
        assert [(event["ts"], event["dur"]) for event in latency] == (
            [(result.cycles - spec.end_of_layer_latency_cycles,
              spec.end_of_layer_latency_cycles)] if spec.end_of_layer_latency_cycles else [])
    if len(batches) == 1:
        literal = run(prepare_inputs(layer, activations, spec), cycle_by_cycle=True)
        assert literal.frontend_cycles == result.frontend_cycles
        assert np.array_equal(literal.pe_counts, result.pe_counts)
        assert np.array_equal(literal.ccu_counts, result.ccu_counts)
    return result


# --- T12: the source registers hold the whole input ------------------------------------------
def test_t12_whole_input_has_no_batches_and_no_load_cycles(engine):
    # The case of tests/test_batching.py: N = 1, R = 2 registers, K = 2, five non-zero inputs,
    # one row, P = 4. Batched (T12): L b0 b1 L b2 b3 L b4, T = 10. With the whole input in the
    # registers: b0..b4 in c0..c4, no load and no scan cycle (each group's non-zero is in its
    # last slot, T2). PE 0 (one entry per column): c1 pop b0; c2 issue col0 and pop b1 (T5);
    # c3 issue col1, pop b2; c4 issue, pop b3; c5 issue, pop b4; c6 issue col4; c7 empty: T = 7.
    spec = HardwareSpec(num_pes=1, act_regs_per_file=2, act_sram_width_bits=32,
                        source_regs_hold_whole_input=True)
    result = simulate(engine, np.ones((1, 5)), np.ones(5), spec)
    assert result.frontend_cycles == 7
    assert result.cycles == 7 + 4
    assert result.ccu_count("act_load_cycles") == 0
    assert result.total("act_sram_reads") == 0
    assert result.ccu_count("ccu_active_cycles") == 5
    assert result.broadcasts == 5
    assert result.busy_cycles.tolist() == [6] and result.idle_cycles.tolist() == [1]
    batched = simulate(engine, np.ones((1, 5)), np.ones(5),
                       spec.replace(source_regs_hold_whole_input=False))
    assert batched.frontend_cycles == 10 and batched.ccu_count("act_load_cycles") == 3
    np.testing.assert_array_equal(result.outputs, batched.outputs)


def test_t12_whole_input_needs_no_activation_sram_for_the_input():
    # N = 1, 2 registers and a 4-byte activation SRAM (two fixed16 activations): a 5-wide input
    # does not fit EIE's PE, but it does fit registers that hold the whole input.
    spec = HardwareSpec(num_pes=1, act_regs_per_file=2, act_sram_bytes=4)
    codes = np.ones((1, 5), dtype=np.uint8)
    with pytest.raises(eiesim.CapacityError, match="must hold 5 activations"):
        eiesim.encode(codes, CODEBOOK, spec=spec)
    whole = spec.replace(source_regs_hold_whole_input=True)
    result = eiesim.simulate(eiesim.encode(codes, CODEBOOK, spec=whole), np.ones(5), whole)
    assert result.frontend_cycles == 7


def test_t12_whole_input_changes_nothing_when_the_input_fits(engine):
    # 3 inputs on N = 1 with 64 registers: G = 3 <= R, no batches either way (T12).
    spec = HardwareSpec(num_pes=1)
    codes, acts = np.array([[1, 2, 3], [0, 4, 0]]), np.array([1.0, 0.0, 2.0])
    plain = simulate(engine, codes, acts, spec)
    whole = simulate(engine, codes, acts, spec.replace(source_regs_hold_whole_input=True))
    assert_results_equal(plain, whole)


# --- T14: the end-of-layer latency ------------------------------------------------------------
@pytest.mark.parametrize("relu_per_cycle, relu_cycles", [(0, 0), (2, 2)])
@pytest.mark.parametrize("latency", [1, 2, 5])
def test_t14_latency_follows_the_last_cycle(engine, relu_per_cycle, relu_cycles, latency):
    # The case of test_t8_t9_t10_totals: N = 2, 7 rows, two inputs, every weight present,
    # T = 10 (T8), P = 3 (T9), R = ceil(4 / 2) = 2 or 0 (T10). T14 adds E cycles after them;
    # the front end and its cycle classes (T11) do not change.
    spec = HardwareSpec(num_pes=2, arith_pipeline_stages=3,
                        relu_outputs_per_cycle=relu_per_cycle,
                        end_of_layer_latency_cycles=latency)
    result = simulate(engine, np.ones((7, 2)), [1.0, 1.0], spec)
    assert result.frontend_cycles == 10
    assert (result.drain_cycles, result.relu_cycles) == (3, relu_cycles)
    assert result.end_latency_cycles == latency
    assert result.cycles == 10 + 3 + relu_cycles + latency
    assert result.busy_cycles.tolist() == [9, 7]
    assert result.idle_cycles.tolist() == [1, 3]


def test_t14_latency_comes_once_per_layer_not_per_output_batch(engine):
    # The output-batch case of tests/test_batching.py: N = 1, R = 2, K = 2, 5 rows, one input:
    # T = 4 + 4 + 3, drain 3 x 4, write-back 3 x 1 = 26 cycles (T13); E = 2 once: 28.
    spec = HardwareSpec(num_pes=1, act_regs_per_file=2, act_sram_width_bits=32,
                        end_of_layer_latency_cycles=2)
    result = simulate(engine, np.ones((5, 1)), np.ones(1), spec)
    assert result.output_batches == 3
    assert result.end_latency_cycles == 2
    assert result.cycles == 11 + 12 + 3 + 2


def test_t14_latency_costs_clock_and_leakage_energy_only():
    # The latency cycles are clocked and leak (docs/energy.md) but count no event.
    from eiesim.energy import energy_report

    codes, acts = np.ones((7, 2)), np.array([1.0, 1.0])
    plain = HardwareSpec(num_pes=2)
    late = plain.replace(end_of_layer_latency_cycles=50)
    results = [simulate("fast", codes, acts, spec) for spec in (plain, late)]
    assert results[0].frontend_cycles == results[1].frontend_cycles
    assert results[0].event_totals() == results[1].event_totals()  # no event in them
    assert results[1].cycles == results[0].cycles + 50
    energies = [energy_report(result) for result in results]
    assert energies[1].energy_j > energies[0].energy_j


# --- the preset on the real layer -------------------------------------------------------------
def fc8_cycles(spec):
    data = np.load(FC8)
    layer = eiesim.encode(data["codes"], data["codebook"], data["bias_codes"], spec=spec)
    return eiesim.simulate(layer, data["activations"], spec)


def test_authors_model_ends_two_cycles_later_where_the_input_fits():
    # 4096 inputs on 64 PEs are 64 per PE: the registers hold them either way (T12), so the
    # preset differs from the same spec without its two rules by T14's 2 cycles exactly.
    preset = HardwareSpec.preset("authors-model")
    without = preset.replace(end_of_layer_latency_cycles=0, source_regs_hold_whole_input=False)
    ours, theirs = fc8_cycles(without), fc8_cycles(preset)
    assert theirs.cycles == ours.cycles + 2
    assert theirs.frontend_cycles == ours.frontend_cycles


def test_authors_model_loads_no_input_batches_on_32_pes():
    # 128 inputs per PE on 32 PEs: EIE loads them in 2 batches of 64 (T12: 64 load cycles each
    # at one activation per access); the RTL model holds them all.
    preset = HardwareSpec.preset("authors-model", num_pes=32)
    batched = fc8_cycles(preset.replace(source_regs_hold_whole_input=False))
    whole = fc8_cycles(preset)
    assert batched.ccu_count("act_load_cycles") == 128
    assert whole.ccu_count("act_load_cycles") == 0
    assert 0 < batched.cycles - whole.cycles <= 128
