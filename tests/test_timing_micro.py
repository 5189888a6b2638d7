"""Cycle-exact tests of the timing contract (rules T1-T11) on tiny hand-built layers.

Every expected number is derived by hand in the test's comment, cycle by cycle: "cN" is cycle
N, "Bj" the broadcast of slot j, "S" a scan cycle, "pop bK" a PE popping broadcast K (with its
pointer read), "issue" a sparse-matrix read. Each case runs on both engines (the ``engine``
fixture), and every layer also through both kernels of the fast engine (event-skipping and
literal cycle-by-cycle), which must agree exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

import eiesim
from eiesim import HardwareSpec, encode
from eiesim.sim import prepare_inputs
from eiesim.sim.fast import run

CODEBOOK = np.array([0.0, 1.5, -0.75], dtype=np.float32)


@pytest.fixture(params=["fast", "reference"])
def engine(request):
    """Every hand-derived case runs on both engines."""
    return request.param


def simulate(engine, codes, activations, spec, bias_codes=None):
    codes = np.asarray(codes, dtype=np.uint8)
    activations = np.asarray(activations, dtype=np.float64)
    if bias_codes is not None:
        bias_codes = np.asarray(bias_codes, dtype=np.uint8)
    layer = encode(codes, CODEBOOK, bias_codes, spec=spec)
    result = eiesim.simulate(layer, activations, spec, engine=engine)
    literal = run(prepare_inputs(layer, activations, spec), cycle_by_cycle=True)
    assert literal.frontend_cycles == result.frontend_cycles
    assert np.array_equal(literal.pe_counts, result.pe_counts)
    assert np.array_equal(literal.ccu_counts, result.ccu_counts)
    assert np.array_equal(literal.accumulators.astype(np.float64),
                          result.pre_activations * (1 << result.act_frac_bits))
    # T11 for every test: each front-end cycle is busy, stalled or idle for every PE.
    assert np.array_equal(result.busy_cycles + result.stall_cycles + result.idle_cycles,
                          np.full(spec.num_pes, result.frontend_cycles))
    return result


def pe(result, name):
    return result.pe_count(name).tolist()


# --- T1, T2: the extended input and the LNZD scan ---------------------------------------------
def test_t1_bias_slot_after_padded_inputs(engine):
    # N = 4, 5 inputs, all 0, with a bias. T1: inputs padded to 8, the bias slot is 8 and the
    # scan covers 12 slots = 3 groups. T2: group 0 (slots 0-3) and group 1 (4-7) are empty: one
    # scan cycle each; group 2 broadcasts slot 8 (B8), whose last non-zero is not in slot 11:
    # one more scan. Program: c0 S, c1 S, c2 B8, c3 S.
    # Bias codes [1, 0, 1, 0]: rows 0 and 2 (PEs 0 and 2) hold one entry of column 8.
    # c3: every PE pops b0 (pushed in c2, T4); PEs 1 and 3 find it empty (T5).
    # c4: PEs 0 and 2 issue their entry. c5: all empty, CCU done: T = 5 (T8).
    # Total = T + P + R = 5 + 4 + 0 = 9 (R = 0: ReLU on the way out of the registers, T10).
    spec = HardwareSpec(num_pes=4)
    result = simulate(engine, np.zeros((4, 5)), np.zeros(5), spec, bias_codes=[1, 0, 1, 0])
    assert result.frontend_cycles == 5
    assert result.cycles == 9
    assert result.broadcasts == 1
    assert result.ccu_count("lnzd_scan_cycles") == 3
    assert result.ccu_count("ccu_active_cycles") == 4
    assert pe(result, "src_act_reads") == [3, 3, 3, 3]  # one read per group (T11)
    assert pe(result, "busy_cycles") == [2, 1, 2, 1]  # c3 (+ c4)
    assert pe(result, "idle_cycles") == [3, 4, 3, 4]
    assert pe(result, "empty_columns") == [0, 1, 0, 1]
    assert result.pre_activations.tolist() == [1.5, 0.0, 1.5, 0.0]  # bias activation 1.0


@pytest.mark.parametrize("activations, broadcasts, scans, frontend", [
    # Group 0 = slots 0-3, group 1 = slots 4-7 (N = 4). Every column is empty, so each PE pops
    # broadcast b in push(b) + 1 and is done in that cycle (T5).
    # B1 B3 (last non-zero in the last slot: no scan) | S. Pushes c0, c1; pops c1, c2;
    # CCU done after c2: T = 3.
    ([0, 1, 0, 1, 0, 0, 0, 0], 2, 1, 3),
    # B0 S (last non-zero in slot 0, not the last slot: one scan) | B6 S. Pushes c0, c2; pops
    # c1, c3; CCU done after c3: T = 4.
    ([1, 0, 0, 0, 0, 0, 1, 0], 2, 2, 4),
    # S | S: two empty groups cost a cycle each, nothing else happens: T = 2.
    ([0, 0, 0, 0, 0, 0, 0, 0], 0, 2, 2),
    # Negative activations are non-zero (T2): B3 | B7. Pushes c0, c1; last pop c2: T = 3.
    ([0, 0, 0, 5, 0, 0, 0, -5], 2, 0, 3),
    # Eight broadcasts, one per cycle c0-c7, no scan; last pop c8: T = 9.
    ([1, 2, 3, 4, 5, 6, 7, 8], 8, 0, 9),
    # Only the last slot of group 1: S | B7. Push c1, pop c2: T = 3.
    ([0, 0, 0, 0, 0, 0, 0, 0.5], 1, 1, 3),
])
def test_t2_lnzd_group_costs(engine, activations, broadcasts, scans, frontend):
    spec = HardwareSpec(num_pes=4)
    result = simulate(engine, np.zeros((4, 8)), activations, spec)
    assert result.broadcasts == broadcasts
    assert result.ccu_count("lnzd_scan_cycles") == scans
    assert result.ccu_count("ccu_active_cycles") == broadcasts + scans  # no stall
    assert result.broadcast_stall_cycles == 0
    assert result.frontend_cycles == frontend
    assert pe(result, "busy_cycles") == [broadcasts] * 4  # one pointer read per broadcast
    assert pe(result, "empty_columns") == [broadcasts] * 4
    assert pe(result, "idle_cycles") == [frontend - broadcasts] * 4
    assert pe(result, "src_act_reads") == [2] * 4


def test_t2_value_the_hardware_holds(engine):
    # In fixed16 (Q7.8, A1) 0.001 rounds to 0: not broadcast; in float32 it is non-zero.
    codes = np.zeros((1, 2))
    fixed = simulate(engine, codes, [0.001, 0.0], HardwareSpec(num_pes=1))
    flt = simulate(engine, codes, [0.001, 0.0], HardwareSpec(num_pes=1, arithmetic="float32"))
    assert (fixed.broadcasts, fixed.ccu_count("lnzd_scan_cycles")) == (0, 2)
    assert (flt.broadcasts, flt.ccu_count("lnzd_scan_cycles")) == (1, 1)


# --- T3, T4: broadcast, queue depth, stalls ---------------------------------------------------
# One PE (N = 1: every slot is a group of one, so non-zero slots never add a scan cycle), four
# inputs of 1, columns with k = [3, 1, 1, 1] entries: rows 0-2 in column 0, row 0 in 1-3.
STALL_CODES = [[1, 1, 1, 1], [1, 0, 0, 0], [1, 0, 0, 0]]


def test_t3_stall_depth_1(engine):
    # D = 1: the CCU stalls whenever the queue holds its one entry at the start of a cycle.
    # c0: B0 (queue empty).            PE idle.
    # c1: queue holds b0: stall.       PE pops b0 (k = 3), frees the slot (seen in c2, T4).
    # c2: B1.                          PE issues col 0 entry 0.
    # c3: queue holds b1: stall.       PE issues entry 1 (not last: no pop, T5).
    # c4: stall (still full).          PE issues entry 2 (last) and pops b1 (k = 1).
    # c5: B2.                          PE issues col 1 (last); queue empty at start: no pop.
    # c6: queue holds b2: stall.       PE pops b2 (unit empty).
    # c7: B3.                          PE issues col 2 (last); no pop (b3 not yet visible).
    # c8: CCU done.                    PE pops b3.
    # c9:                              PE issues col 3.
    # c10: everything empty: T = 10. Stalls c1, c3, c4, c6 = 4; CCU active c0-c7 = 8.
    # PE busy c1-c9 = 9, idle c0 = 1, never stalled (busy in every stall cycle).
    result = simulate(engine, STALL_CODES, [1, 1, 1, 1],
                      HardwareSpec(num_pes=1, act_queue_depth=1))
    assert result.frontend_cycles == 10
    assert result.cycles == 10 + 4  # P = 4, R = 0 (T10)
    assert result.broadcast_stall_cycles == 4
    assert result.ccu_count("ccu_active_cycles") == 8
    assert pe(result, "busy_cycles") == [9]
    assert pe(result, "stall_cycles") == [0]
    assert pe(result, "idle_cycles") == [1]
    assert pe(result, "act_queue_pushes") == pe(result, "act_queue_pops") == [4]


def test_t3_stall_depth_2(engine):
    # D = 2:
    # c0: B0.                      PE idle.
    # c1: queue holds 1 < 2: B1.   PE pops b0 (k = 3).
    # c2: holds 1 (b1): B2.        PE issues col 0 entry 0.
    # c3: holds 2 (b1, b2): stall. PE issues entry 1.
    # c4: still 2: stall.          PE issues entry 2 (last) and pops b1.
    # c5: holds 1: B3.             PE issues col 1 (last) and pops b2 (visible since c3).
    # c6: CCU done.                PE issues col 2 (last) and pops b3 (pushed c5, T4).
    # c7:                          PE issues col 3.
    # c8: T = 8. Stalls c3, c4 = 2; CCU active c0-c5 = 6; PE busy c1-c7 = 7, idle c0.
    result = simulate(engine, STALL_CODES, [1, 1, 1, 1],
                      HardwareSpec(num_pes=1, act_queue_depth=2))
    assert result.frontend_cycles == 8
    assert result.broadcast_stall_cycles == 2
    assert result.ccu_count("ccu_active_cycles") == 6
    assert pe(result, "busy_cycles") == [7]
    assert pe(result, "idle_cycles") == [1]


def test_t3_no_stall_depth_3(engine):
    # D = 3: B0-B2 in c0-c2; at the start of c3 the queue holds b1, b2 (b0 was popped in c1,
    # b1 is popped in c4): 2 < 3, so B3 in c3 and the CCU is done after 4 cycles. The PE pops
    # in c1, c4, c5, c6 as with D = 2 and issues its last entry in c7: T = 8, no stall.
    result = simulate(engine, STALL_CODES, [1, 1, 1, 1],
                      HardwareSpec(num_pes=1, act_queue_depth=3))
    assert result.frontend_cycles == 8
    assert result.broadcast_stall_cycles == 0
    assert result.ccu_count("ccu_active_cycles") == 4


def test_t4_push_to_pop_latency(engine):
    # One input, one column of k entries on one PE: c0 B0 (push at the end of c0), c1 pop (the
    # earliest, T4), c2 .. c(k+1) issue, so T = k + 2 = L + k + 1: the lock-step bound of
    # tests/naive.py is tight here.
    for k in (1, 5):
        result = simulate(engine, np.ones((k, 1)), [1.0], HardwareSpec(num_pes=1))
        assert result.frontend_cycles == k + 2
        assert pe(result, "busy_cycles") == [k + 1]
        assert pe(result, "idle_cycles") == [1]


# --- T11: a PE starved by another PE's full queue ---------------------------------------------
def test_t11_starved_pe_stalls(engine):
    # N = 2, D = 1, 3 inputs of 1: scan length 4, groups [0, 1], [2, 3]; program B0 B1 | B2 S.
    # Rows 0, 2, 4 (PE 0) hold every column: k = 3 in PE 0, k = 0 in PE 1 (rows 1, 3, 5).
    # c0: B0.                              PE0 idle,   PE1 idle.
    # c1: queues hold b0: stall.           PE0 pops b0, PE1 pops b0 (empty).
    # c2: B1.                              PE0 issues, PE1 idle.
    # c3: PE0's queue holds b1: stall.     PE0 issues, PE1 pops b1 (empty).
    # c4: PE0's queue still full: stall.   PE0 issues last + pops b1; PE1 has nothing and the
    #                                      broadcast stalled: STALL.
    # c5: B2.                              PE0 issues, PE1 idle.
    # c6: S.                               PE0 issues, PE1 pops b2 (empty).
    # c7: CCU done.                        PE0 issues last + pops b2, PE1 idle.
    # c8-c10:                              PE0 issues column 2, PE1 idle.
    # c11: T = 11. Broadcast stalls 3, scans 1, CCU active c0-c6 = 7.
    # PE0: busy c1-c10 = 10, idle 1. PE1: busy c1, c3, c6 = 3, stall c4 = 1, idle 7.
    codes = np.zeros((6, 3))
    codes[[0, 2, 4], :] = 1
    result = simulate(engine, codes, [1, 1, 1], HardwareSpec(num_pes=2, act_queue_depth=1))
    assert result.frontend_cycles == 11
    assert result.cycles == 11 + 4  # P = 4, R = 0 (T10)
    assert result.broadcasts == 3
    assert result.broadcast_stall_cycles == 3
    assert result.ccu_count("lnzd_scan_cycles") == 1
    assert result.ccu_count("ccu_active_cycles") == 7
    assert pe(result, "busy_cycles") == [10, 3]
    assert pe(result, "stall_cycles") == [0, 1]
    assert pe(result, "idle_cycles") == [1, 7]
    assert pe(result, "empty_columns") == [0, 3]
    assert pe(result, "pointer_reads") == [3, 3]


def test_t11_scan_cycles_are_not_stalls(engine):
    # N = 2, D = 1, 8 inputs [1, 1, 0, 0, 0, 0, 1, 0]: groups [0, 1] B0 B1 (no scan: slot 1
    # is the group's last), [2, 3] S, [4, 5] S, [6, 7] B6 S. PE 0 (even rows) holds 6 entries in
    # columns 0 and 1 and row 0 in column 6; PE 1 (odd rows) holds nothing.
    # c0: B0.                         PE0 idle,                  PE1 idle.
    # c1: queues hold b0: stall.      PE0 pops b0 (k = 6),       PE1 pops b0 (empty).
    # c2: B1.                         PE0 issues,                PE1 idle.
    # c3: S.                          PE0 issues,                PE1 pops b1 (empty).
    # c4: S.                          PE0 issues,                PE1 idle (a scan, no stall).
    # c5-c6: B6 stalls (PE0 holds b1) PE0 issues,                PE1 stall.
    # c7: stall.                      PE0 issues last, pops b1,  PE1 stall.
    # c8: B6.                         PE0 issues c8-c13,         PE1 idle.
    # c9: S.                                                     PE1 pops b2 (empty).
    # c13: PE0 issues its last entry of column 1 and pops b2; c14: issues column 6; T = 15.
    # CCU: 3 broadcasts + 4 stalls (c1, c5-c7) + 3 scans = 10 active cycles.
    # PE0: busy c1-c14 = 14, idle 1. PE1: busy c1, c3, c9 = 3; stall c5-c7 = 3; idle 9.
    codes = np.zeros((12, 8))
    codes[0::2, 0] = 1
    codes[0::2, 1] = 1
    codes[0, 6] = 1
    result = simulate(engine, codes, [1, 1, 0, 0, 0, 0, 1, 0],
                      HardwareSpec(num_pes=2, act_queue_depth=1))
    assert result.frontend_cycles == 15
    assert result.cycles == 15 + 4  # P = 4, R = 0 (T10)
    assert result.broadcast_stall_cycles == 4
    assert result.ccu_count("lnzd_scan_cycles") == 3
    assert result.ccu_count("ccu_active_cycles") == 10
    assert pe(result, "busy_cycles") == [14, 3]
    assert pe(result, "stall_cycles") == [0, 3]
    assert pe(result, "idle_cycles") == [1, 9]


# --- T5: pointer reads ------------------------------------------------------------------------
@pytest.mark.parametrize("codes, frontend, busy, empty", [
    # k = [0, 0, 0]: pushes c0-c2, each column popped and finished in one cycle (c1, c2, c3):
    # T = 4, busy 3, idle 1 (c0).
    ([[0, 0, 0]], 4, 3, 3),
    # k = [2, 2]: c1 pop b0; c2 issue; c3 issue last + pop b1 (no bubble); c4, c5 issue:
    # T = 6, busy c1-c5 = 5 = 1 + 2 + 2.
    ([[1, 1], [1, 1]], 6, 5, 0),
    # k = [2, 0, 2]: c1 pop b0; c2 issue; c3 issue last + pop b1 (empty, done in c3); c4 pop
    # b2; c5, c6 issue: T = 7, busy c1-c6 = 6: the empty column cost exactly one cycle (c4).
    ([[1, 0, 1], [1, 0, 1]], 7, 6, 1),
])
def test_t5_pointer_read(engine, codes, frontend, busy, empty):
    width = len(codes[0])
    result = simulate(engine, codes, [1.0] * width, HardwareSpec(num_pes=1))
    assert result.frontend_cycles == frontend
    assert pe(result, "busy_cycles") == [busy]
    assert pe(result, "idle_cycles") == [frontend - busy]
    assert pe(result, "empty_columns") == [empty]
    assert pe(result, "pointer_reads") == [width]


# --- T6: sparse-matrix SRAM lines -------------------------------------------------------------
@pytest.mark.parametrize("width_bits, line_reads", [
    # k = [3, 3]: addresses 0-2 (column 0) and 3-5 (column 1), 8-bit entries.
    (64, 1),  # 8 per line: line 0 only; the register keeps it for column 1
    (32, 2),  # 4 per line: column 0 reads line 0, column 1: address 3 in the register, 4 reads 1
    (24, 2),  # 3 per line: lines 0 and 1, one per column
    (16, 3),  # 2 per line: lines 0 {0, 1}, 1 {2, 3}, 2 {4, 5}
    (8, 6),  # 1 per line: every entry
])
def test_t6_line_reads(engine, width_bits, line_reads):
    # Timing does not depend on the width (line reads cost no cycle): c1 pop b0, c2-c4 issue,
    # c4 pop b1, c5-c7 issue: T = 8.
    result = simulate(engine, np.ones((3, 2)), [1.0, 1.0],
                      HardwareSpec(num_pes=1, spmat_sram_width_bits=width_bits))
    assert pe(result, "spmat_line_reads") == [line_reads]
    assert pe(result, "entries") == [6]
    assert result.frontend_cycles == 8


@pytest.mark.parametrize("width_bits, line_reads", [
    # k = [3, 3, 3] at addresses 0-2, 3-5, 6-8; column 1 is not broadcast (input 0).
    (64, 2),  # 8 per line: column 0 reads line 0; column 2: 6, 7 still in the register, 8 line 1
    (32, 3),  # 4 per line: line 0; then line 1 (6, 7) and line 2 (8)
    (24, 2),  # 3 per line: line 0; then line 2 (6, 7, 8)
    (16, 4),  # 2 per line: lines 0, 1; then lines 3 (6, 7) and 4 (8)
])
def test_t6_line_register_persists_across_columns(engine, width_bits, line_reads):
    result = simulate(engine, np.ones((3, 3)), [1.0, 0.0, 1.0],
                      HardwareSpec(num_pes=1, spmat_sram_width_bits=width_bits))
    assert pe(result, "spmat_line_reads") == [line_reads]
    assert pe(result, "entries") == [6]


# --- T7: arithmetic, padding, bypass ----------------------------------------------------------
def test_t7_bypass_back_to_back(engine):
    # N = 1, D = 8, row 0 in both columns: c0 B0; c1 B1 + pop b0; c2 issue (row 0, last) + pop
    # b1; c3 issue row 0 again: real entries of the same row in adjacent cycles, the second
    # one is served by the bypass. T = 4.
    result = simulate(engine, [[1, 2]], [1.0, 2.0], HardwareSpec(num_pes=1))
    assert result.frontend_cycles == 4
    assert pe(result, "macs") == [2]
    assert pe(result, "bypasses") == [1]
    assert pe(result, "acc_reads") == [1]
    assert pe(result, "acc_writes") == [2]
    assert result.pre_activations.tolist() == [1.5 * 1.0 - 0.75 * 2.0]


def test_t7_no_bypass_after_a_gap(engine):
    # D = 1: c0 B0; c1 stall, pop b0; c2 B1, issue row 0 (queue empty at start: no pop);
    # c3 pop b1; c4 issue row 0: the previous real entry was in c2, not adjacent: no bypass.
    # T = 5.
    result = simulate(engine, [[1, 2]], [1.0, 2.0],
                      HardwareSpec(num_pes=1, act_queue_depth=1))
    assert result.frontend_cycles == 5
    assert pe(result, "bypasses") == [0]
    assert pe(result, "acc_reads") == [2]


def test_t7_padding_entries(engine):
    # rel_index_bits = 2: a gap of 5 rows is one padding entry (v = 0, z = 3: row -1 + 4 = 3)
    # then the real entry (z = 1: row 3 + 2 = 5). Row 5 in both columns, so each column holds
    # 2 entries. c1 pop b0; c2 padding; c3 row 5 (last) + pop b1; c4 padding (row 3); c5 row 5:
    # the previous cycle issued padding, not a real entry: no bypass. T = 6.
    spec = HardwareSpec(num_pes=1, rel_index_bits=2, spmat_sram_width_bits=48)
    codes = np.zeros((6, 2))
    codes[5, :] = 1
    result = simulate(engine, codes, [1.0, 1.0], spec)
    assert result.frontend_cycles == 6
    assert pe(result, "entries") == [4]
    assert pe(result, "padding_entries") == [2]
    assert pe(result, "codebook_decodes") == [4]
    assert pe(result, "macs") == [2]
    assert pe(result, "acc_writes") == [2]
    assert pe(result, "bypasses") == [0]
    assert pe(result, "spmat_line_reads") == [1]
    assert result.pre_activations.tolist() == [0.0] * 5 + [3.0]


# --- T8, T9, T10: totals ----------------------------------------------------------------------
@pytest.mark.parametrize("relu_per_cycle, relu_cycles", [(0, 0), (1, 4), (2, 2), (3, 2), (4, 1)])
def test_t8_t9_t10_totals(engine, relu_per_cycle, relu_cycles):
    # N = 2, 7 rows: PE 0 owns rows 0, 2, 4, 6 (4), PE 1 rows 1, 3, 5 (3). Two inputs, every
    # weight present: k = [4, 4] in PE 0, [3, 3] in PE 1. B0, B1 in c0, c1 (one group, no scan).
    # PE 0: c1 pop b0, c2-c5 issue, c5 pop b1, c6-c9 issue: empty from c10.
    # PE 1: c1 pop b0, c2-c4 issue, c4 pop b1, c5-c7 issue: empty from c8, idle c8, c9.
    # T8: T = 10. T9: P = 3 drain cycles. T10: R = ceil(4 / relu_per_cycle),
    # or 0 with ReLU on the way out of the registers (relu_per_cycle = 0, the default).
    spec = HardwareSpec(num_pes=2, arith_pipeline_stages=3,
                        relu_outputs_per_cycle=relu_per_cycle)
    result = simulate(engine, np.ones((7, 2)), [1.0, 1.0], spec)
    assert result.frontend_cycles == 10
    assert result.drain_cycles == 3
    assert result.relu_cycles == relu_cycles
    assert result.cycles == 10 + 3 + relu_cycles
    assert pe(result, "busy_cycles") == [9, 7]
    assert pe(result, "idle_cycles") == [1, 3]
    assert pe(result, "relu_ops") == pe(result, "act_writebacks") == [4, 3]
