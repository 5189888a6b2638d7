"""Property tests: analytic bounds and event identities of the fast engine on random layers.

The bounds come from tests/naive.py (``Schedule``), computed from the layer and the input
without simulating. The same random layers also check that the engine's event-skipping kernel
equals its literal cycle-by-cycle kernel exactly.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive import load_fc8, random_case, schedule

import eiesim
from eiesim import HardwareSpec, encode
from eiesim.sim import prepare_inputs
from eiesim.sim.fast import run

SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def timing_cases(draw):
    rel_bits = draw(st.sampled_from([2, 3, 4]))
    entry_bits = 4 + rel_bits
    spec = HardwareSpec(
        num_pes=draw(st.integers(1, 16)),
        act_queue_depth=draw(st.integers(1, 9)),
        rel_index_bits=rel_bits,
        spmat_sram_width_bits=entry_bits * draw(st.sampled_from([1, 2, 3, 5, 8, 16])),
        arith_pipeline_stages=draw(st.integers(1, 6)),
        relu_outputs_per_cycle=draw(st.integers(0, 3)),
        arithmetic=draw(st.sampled_from(["fixed16", "float32", "fixed8"])),
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    case = random_case(
        rng, spec,
        out_features=draw(st.integers(1, 64)),
        in_features=draw(st.integers(1, 48)),
        density=draw(st.sampled_from([0.0, 0.05, 0.2, 0.5, 1.0])),
        act_density=draw(st.sampled_from([0.0, 0.2, 0.6, 1.0])),
        bias=draw(st.booleans()),
        empty_rows=draw(st.sampled_from([0.0, 0.5])),
        empty_cols=draw(st.sampled_from([0.0, 0.5])),
        zero_run=draw(st.sampled_from([0.0, 0.5])),
        empty_groups=draw(st.sampled_from([0.0, 0.4])),
        idle_pes=draw(st.sampled_from([0.0, 0.5])),
    )
    layer = encode(case.codes, case.codebook, case.bias_codes, spec=spec)
    return layer, case.activations, spec


@st.composite
def imbalanced_cases(draw):
    """Few PEs, shallow queues, the work on some PEs only and whole LNZD groups of zeros: the
    busy PEs fill their queues while the others starve through stalls and scans (T3, T11)."""
    n = draw(st.integers(2, 6))
    spec = HardwareSpec(num_pes=n, act_queue_depth=draw(st.integers(1, 3)),
                        arithmetic=draw(st.sampled_from(["fixed16", "float32"])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    case = random_case(rng, spec, out_features=n * draw(st.integers(4, 12)),
                       in_features=draw(st.integers(4, 32)), density=0.8, act_density=0.7,
                       bias=draw(st.booleans()), idle_pes=0.6, empty_groups=0.5)
    layer = encode(case.codes, case.codebook, case.bias_codes, spec=spec)
    return layer, case.activations, spec


@SETTINGS
@given(st.one_of(timing_cases(), imbalanced_cases()))
def test_bounds_and_identities(case):
    layer, activations, spec = case
    result = eiesim.simulate(layer, activations, spec, engine="fast")
    plan = schedule(layer, activations, spec)
    n = spec.num_pes
    frontend = result.frontend_cycles
    count = result.pe_count

    # T2: the LNZD program, counted by the book.
    assert result.broadcasts == plan.broadcasts
    assert result.ccu_count("lnzd_scan_cycles") == plan.scan_cycles
    assert result.ccu_count("ccu_active_cycles") == (
        plan.program_cycles + result.broadcast_stall_cycles)
    assert result.ccu_count("ccu_active_cycles") <= frontend

    # Bounds (T8-T10).
    assert result.drain_cycles == plan.drain_cycles
    assert result.relu_cycles == plan.relu_cycles
    assert result.cycles >= plan.broadcasts + plan.drain_cycles + plan.relu_cycles
    assert frontend >= plan.work_lower_bound()
    assert frontend <= plan.lockstep_upper_bound()
    assert result.cycles <= plan.lockstep_upper_bound() + plan.drain_cycles + plan.relu_cycles

    # T11: every front-end cycle of every PE is busy, stalled or idle; a PE is busy at least
    # max(1, k) cycles per broadcast column and at most k + 1.
    assert np.array_equal(result.busy_cycles + result.stall_cycles + result.idle_cycles,
                          np.full(n, frontend))
    if plan.broadcasts:
        assert np.all(result.busy_cycles >= np.maximum(plan.entries, 1).sum(axis=1))
        assert np.all(result.busy_cycles <= (plan.entries + 1).sum(axis=1))
    assert np.all(result.stall_cycles <= result.broadcast_stall_cycles)

    # Event identities.
    broadcasts = np.full(n, plan.broadcasts)
    assert np.array_equal(count("act_queue_pushes"), broadcasts)
    assert np.array_equal(count("act_queue_pops"), broadcasts)
    assert np.array_equal(count("pointer_reads"), broadcasts)
    assert np.array_equal(count("entries"), count("macs") + count("padding_entries"))
    assert np.array_equal(count("acc_reads") + count("bypasses"), count("macs"))
    assert np.array_equal(count("acc_writes"), count("macs"))
    assert np.array_equal(count("codebook_decodes"), count("entries"))
    assert np.array_equal(count("entries"), plan.entries.sum(axis=1))
    assert result.issued_entries == int(plan.entries.sum())
    assert np.array_equal(count("empty_columns"), (plan.entries == 0).sum(axis=1))
    assert np.all(count("spmat_line_reads") <= count("entries"))
    assert np.array_equal(count("src_act_reads"),
                          np.full(n, prepare_inputs(layer, activations, spec).scan_length // n))
    assert np.array_equal(count("relu_ops"), plan.rows_per_pe)
    assert np.array_equal(count("act_writebacks"), plan.rows_per_pe)


@SETTINGS
@given(st.one_of(timing_cases(), imbalanced_cases()))
def test_event_kernel_equals_cycle_kernel(case):
    """The event-skipping fast path gives exactly the literal cycle-by-cycle results."""
    layer, activations, spec = case
    prepared = prepare_inputs(layer, activations, spec)
    fast = run(prepared)
    literal = run(prepared, cycle_by_cycle=True)
    assert fast.frontend_cycles == literal.frontend_cycles
    assert np.array_equal(fast.pe_counts, literal.pe_counts)
    assert np.array_equal(fast.ccu_counts, literal.ccu_counts)
    assert fast.accumulators.dtype == literal.accumulators.dtype
    assert np.array_equal(fast.accumulators.view(np.uint8), literal.accumulators.view(np.uint8))


def test_lockstep_bound_is_tight():
    # One PE, one input, one column of 4 entries: T = 1 + 1 + 4 = L + M + 1 (see
    # naive.Schedule.lockstep_upper_bound).
    spec = HardwareSpec(num_pes=1)
    layer = encode(np.ones((4, 1), dtype=np.uint8), np.array([0.0, 1.0]), spec=spec)
    result = eiesim.simulate(layer, np.ones(1), spec)
    assert result.frontend_cycles == schedule(layer, np.ones(1), spec).lockstep_upper_bound()


def test_fc8_bounds():
    data = load_fc8()
    spec = HardwareSpec()
    layer = encode(data["codes"], data["codebook"], data["bias_codes"], spec=spec)
    result = eiesim.simulate(layer, data["activations"], spec)
    plan = schedule(layer, data["activations"], spec)
    assert plan.work_lower_bound() <= result.frontend_cycles <= plan.lockstep_upper_bound()
    assert result.issued_entries == int(plan.entries.sum())
