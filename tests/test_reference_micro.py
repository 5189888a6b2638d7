"""Hand-checkable runs of the reference engine, pinned to the cycle, and its Chrome traces.

Each case derives its cycle numbers by hand from the contract (eiesim.sim, rules T1-T11); the
derivations are in the comments. Notation: "push c@t" = (a_c, c) broadcast in cycle t (visible
to the PE from t + 1, T4); "ptr c@t" = pointer read of column c in cycle t; "issue c.e@t" = the
sparse-matrix read issues entry e of column c in cycle t.
"""

from __future__ import annotations

import json
import numbers

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eiesim
from eiesim.actions import CCU_INDEX, PE_INDEX
from eiesim.errors import SpecError
from eiesim.sim.prepare import prepare_inputs
from eiesim.sim.reference import run
from eiesim.sim.reference.ccu import build_lnzd_tree
from eiesim.sim.trace import TraceRecorder
from eiesim.testing import assert_results_equal, random_layer


def codes_from(shape, nonzeros, value=1):
    codes = np.zeros(shape, dtype=np.uint8)
    for row, col in nonzeros:
        codes[row, col] = value
    return codes


def run_case(engine, codes, activations, codebook=(0.0, 1.0), bias_codes=None, trace=None,
             **spec):
    spec = eiesim.HardwareSpec(**spec)
    layer = eiesim.encode(codes, np.array(codebook), bias_codes, spec=spec)
    return eiesim.simulate(layer, np.asarray(activations, dtype=np.float64), spec,
                           engine=engine, trace=trace)


def reference(codes, activations, **kwargs):
    return run_case("reference", codes, activations, **kwargs)


@pytest.fixture(params=["reference", "fast"])
def engine(request):
    """The hand-derived cases run on both engines."""
    return request.param


# The hand-worked layers here fit the register files, so the batching events of T12 and T13
# must be zero; the helpers check that and leave them out of the dicts the tests spell out.
BATCHING_EVENTS = ("act_sram_reads", "act_sram_writes", "act_load_cycles")


def pe_counts(result, pe):
    counts = {name: int(result.pe_counts[pe, i]) for name, i in PE_INDEX.items()}
    assert all(counts.pop(name) == 0 for name in BATCHING_EVENTS if name in counts)
    return counts


def ccu_counts(result):
    counts = {name: int(result.ccu_counts[i]) for name, i in CCU_INDEX.items()}
    assert all(counts.pop(name) == 0 for name in BATCHING_EVENTS if name in counts)
    return counts


# The paper's worked example (docs/hardware.md §2): 16x8, 4 PEs; PE 0 holds rows 0, 4, 8, 12 with
# column pointer 0 3 4 6 6 8 10 11 13. The other PEs' rows are empty here.
PAPER_NONZEROS = [(0, 0), (8, 0), (12, 0), (4, 1), (0, 2), (12, 2), (0, 4), (4, 4), (0, 5),
                  (12, 5), (0, 6), (8, 7), (12, 7)]


def test_paper_example_on_four_pes(engine):
    # All 8 activations are 1: two groups of 4, each with its last non-zero in its last slot,
    # so the CCU broadcasts column c in cycle c, no scan cycle (T2), never full (D = 8).
    # PE 0 (k = 3 1 2 0 2 2 1 2): ptr 0@1; issue 0.0-0.2@2-4 with ptr 1@4 (T5, no bubble);
    # issue 1.0@5 with ptr 2@5; issue 2.x@6-7 with ptr 3@7 (empty, finished at 7); ptr 4@8;
    # 4.x@9-10 with ptr 5@10; 5.x@11-12 with ptr 6@12; 6.0@13 with ptr 7@13; 7.x@14-15.
    # At the start of cycle 16 everything is empty: T = 16 (T8). PE 0 is busy in 1..15.
    result = run_case(engine, codes_from((16, 8), PAPER_NONZEROS), np.ones(8), num_pes=4)
    assert result.frontend_cycles == 16
    assert result.cycles == 16 + 4  # T + P + R, R = 0: ReLU on the way out (T10)
    assert ccu_counts(result) == {"ccu_active_cycles": 8, "broadcasts": 8,
                                  "broadcast_stall_cycles": 0, "lnzd_scan_cycles": 0}
    pe0 = pe_counts(result, 0)
    assert pe0 == {
        "busy_cycles": 15, "stall_cycles": 0, "idle_cycles": 1,
        "act_queue_pushes": 8, "act_queue_pops": 8, "src_act_reads": 2,
        "pointer_reads": 8, "empty_columns": 1,
        "spmat_line_reads": 2,  # entries 0-12, 8 to a 64-bit line: lines 0 and 1 (T6)
        "entries": 13, "padding_entries": 0, "codebook_decodes": 13,
        "macs": 13, "acc_reads": 13, "acc_writes": 13, "bypasses": 0,
        "relu_ops": 4, "act_writebacks": 4,
    }
    for pe in (1, 2, 3):
        # Eight empty columns, one per cycle, ptr c@c+1: busy 1..8, idle 0 and 9..15.
        counts = pe_counts(result, pe)
        assert (counts["busy_cycles"], counts["idle_cycles"], counts["stall_cycles"]) == (8, 8, 0)
        assert counts["empty_columns"] == counts["pointer_reads"] == 8
        assert counts["entries"] == counts["spmat_line_reads"] == 0
    # Row 0: columns 0 2 4 5 6; row 4: 1 4; row 8: 0 7; row 12: 0 2 5 7.
    expected = np.zeros(16)
    expected[[0, 4, 8, 12]] = [5, 2, 2, 4]
    np.testing.assert_array_equal(result.outputs, expected)


def test_full_queue_stalls_broadcast_and_starves_the_other_pe(engine):
    # 2 PEs, D = 1. PE 0 owns rows 0, 2, 4 (3 entries in each of columns 0-2); PE 1 is empty.
    # Extended vector: groups {0, 1} and {2, 3}; slot 3 is the empty padding column (T1).
    #  c0: push 0                          (both queues hold 1 = D)
    #  c1: stall; PE0 ptr 0 (k=3); PE1 ptr 0 (empty)
    #  c2: push 1; PE0 issue 0.0; PE1 idle
    #  c3: stall (queues full); PE0 issue 0.1; PE1 ptr 1 (empty)
    #  c4: stall (PE0's queue still full); PE0 issue 0.2 + ptr 1; PE1 starved: stall cycle
    #  c5: push 2; PE0 issue 1.0; PE1 idle
    #  c6: scan (group 1 has no non-zero after slot 2); PE0 issue 1.1; PE1 ptr 2 (empty)
    #  c7: CCU done; PE0 issue 1.2 + ptr 2;  c8-c10: PE0 issue 2.x.  T = 11.
    nonzeros = [(row, col) for row in (0, 2, 4) for col in range(3)]
    result = run_case(engine, codes_from((6, 3), nonzeros), np.ones(3), num_pes=2,
                      act_queue_depth=1)
    assert result.frontend_cycles == 11
    assert ccu_counts(result) == {"ccu_active_cycles": 7, "broadcasts": 3,
                                  "broadcast_stall_cycles": 3, "lnzd_scan_cycles": 1}
    pe0, pe1 = pe_counts(result, 0), pe_counts(result, 1)
    assert (pe0["busy_cycles"], pe0["stall_cycles"], pe0["idle_cycles"]) == (10, 0, 1)
    assert (pe1["busy_cycles"], pe1["stall_cycles"], pe1["idle_cycles"]) == (3, 1, 7)
    assert pe0["entries"] == 9 and pe0["spmat_line_reads"] == 2
    assert pe1["src_act_reads"] == pe0["src_act_reads"] == 2  # one per group (T11)


def test_same_row_in_adjacent_cycles_uses_the_bypass(engine):
    # 1 PE, one row, three columns of one entry each: ptr c@c+1, issue c.0@c+2, so the row is
    # hit in cycles 2, 3, 4: the 2nd and 3rd MAC use the bypass (T7). T = 5.
    result = run_case(engine, np.ones((1, 3), dtype=np.uint8), np.ones(3), num_pes=1)
    assert result.frontend_cycles == 5
    counts = pe_counts(result, 0)
    assert (counts["macs"], counts["bypasses"], counts["acc_reads"]) == (3, 2, 1)
    assert counts["spmat_line_reads"] == 1  # the line register persists across columns (T6)
    assert result.outputs.tolist() == [3.0]


def test_bypass_needs_adjacent_issue_cycles(engine):
    # Same row, but an empty column in between: ptr 0@1, issue 0.0@2 + ptr 1@2 (empty),
    # ptr 2@3, issue 2.0@4: cycles 2 and 4 are not adjacent, so no bypass.
    result = run_case(engine, codes_from((1, 3), [(0, 0), (0, 2)]), np.ones(3), num_pes=1)
    assert result.frontend_cycles == 5
    counts = pe_counts(result, 0)
    assert (counts["macs"], counts["bypasses"], counts["acc_reads"]) == (2, 0, 2)


def test_scan_cycles_of_empty_groups_and_group_ends(engine):
    # 2 PEs, a = [0, 0, 1, 0]: group {0, 1} has no non-zero: scan@0; group {2, 3}: push 2@1,
    # then a scan@2 because slot 2 is not the group's last slot (T2). Column 2 has one entry
    # in PE 0: ptr 2@2, issue@3; T = 4.
    result = run_case(engine, codes_from((2, 4), [(0, 2)]), [0.0, 0.0, 1.0, 0.0], num_pes=2)
    assert ccu_counts(result) == {"ccu_active_cycles": 3, "broadcasts": 1,
                                  "broadcast_stall_cycles": 0, "lnzd_scan_cycles": 2}
    assert result.frontend_cycles == 4
    assert pe_counts(result, 0)["busy_cycles"] == 2


def test_bias_column_is_broadcast_last_with_activation_one(engine):
    # 2 PEs, 3 inputs + bias: padded to 4 columns, bias column 4, scanned slots 0..5 in groups
    # {0,1} {2,3} {4,5} (T1). a = [1, 0, 1]: each group has one non-zero not in its last slot:
    # push + scan each, 6 CCU cycles. Row 0: 0.5 * 1 + bias 0.25 * 1.
    codes = codes_from((2, 3), [(0, 0)], value=2)
    result = run_case(engine, codes, [1.0, 0.0, 1.0], codebook=(0.0, 0.25, 0.5),
                       bias_codes=np.array([1, 0], dtype=np.uint8), num_pes=2)
    assert ccu_counts(result) == {"ccu_active_cycles": 6, "broadcasts": 3,
                                  "broadcast_stall_cycles": 0, "lnzd_scan_cycles": 3}
    assert pe_counts(result, 0)["src_act_reads"] == 3
    assert result.outputs.tolist() == [0.75, 0.0]


def test_padding_entries_and_narrow_sram_lines(engine):
    # rel_index_bits = 2: a gap of 8 zeros is 2 padding entries (z = 3) then the real entry
    # (z = 0): column 0 = [(v,0) pad pad (v,0)] for rows 0 and 9 (docs/hardware.md §2).
    # A 12-bit line holds 2 entries: lines 0, 0, 1, 1 -> 2 line reads. ptr 0@1, issue@2-5, T = 6.
    result = run_case(engine, codes_from((10, 1), [(0, 0), (9, 0)]), [1.0], num_pes=1,
                       rel_index_bits=2, spmat_sram_width_bits=12)
    assert result.frontend_cycles == 6
    counts = pe_counts(result, 0)
    assert (counts["entries"], counts["padding_entries"], counts["macs"]) == (4, 2, 2)
    assert counts["codebook_decodes"] == 4  # padding is decoded too (T7)
    assert counts["spmat_line_reads"] == 2
    assert result.outputs.tolist() == [1.0] + [0.0] * 8 + [1.0]


@pytest.mark.parametrize("stages, relu", [(1, 1), (3, 2), (6, 4), (4, 0)])
def test_total_cycles_are_frontend_drain_relu(engine, stages, relu):
    case = random_layer(3, out_features=23, in_features=17, density=0.4, act_density=0.7)
    spec = eiesim.HardwareSpec(num_pes=4, arith_pipeline_stages=stages,
                               relu_outputs_per_cycle=relu)
    recorder = TraceRecorder()
    result = eiesim.simulate(case.encode(spec), case.activations, spec, engine=engine,
                             trace=recorder if engine == "reference" else None)
    if engine == "reference":
        # The model runs the drain and the ReLU phase cycle by cycle (T9, T10).
        assert recorder.meta["total_cycles"] == result.cycles
    # PE 0..2 own 6 rows; R = 0 with ReLU on the way out of the registers (T10).
    assert result.relu_cycles == (-(-6 // relu) if relu else 0)
    assert result.pe_count("relu_ops").tolist() == [6, 6, 6, 5]


def test_fixed_point_saturates_and_rounds(engine):
    # fixed8, Q3.4 activations. Codebook [0, 1.0]: F_w = 6 (A2). Ten terms of 1.0 * 1.0:
    # each adds 16; the adder saturates at 127 = 7.9375 (A3).
    result = run_case(engine, np.ones((1, 10), dtype=np.uint8), np.ones(10), num_pes=1,
                       arithmetic="fixed8")
    assert result.weight_frac_bits == 6
    assert result.pre_activations.tolist() == [127 / 16]
    # Negative terms saturate at -128 and ReLU gives 0.
    result = run_case(engine, np.ones((1, 10), dtype=np.uint8), np.ones(10), codebook=(0.0, -1.0),
                       num_pes=1, arithmetic="fixed8")
    assert result.pre_activations.tolist() == [-8.0]
    assert result.outputs.tolist() == [0.0]


def test_tiny_activation_rounds_to_zero_and_is_not_broadcast(engine):
    # 0.001 is 0 in Q7.8 (A1), so the LNZD does not see it (T2); in float32 it is broadcast.
    codes = np.ones((1, 2), dtype=np.uint8)
    fixed = run_case(engine, codes, [0.001, 1.0], num_pes=1)
    floating = run_case(engine, codes, [0.001, 1.0], num_pes=1, arithmetic="float32")
    assert fixed.broadcasts == 1 and floating.broadcasts == 2


def _fold(case, spec, layer):
    """Accumulators by A3/A5 folded in column order, straight from the codes (no timing)."""
    prepared = prepare_inputs(layer, case.activations, spec)
    codes = np.zeros((case.out_features, prepared.scan_length), dtype=np.int64)
    codes[:, :case.in_features] = case.codes
    if case.bias_codes is not None:
        codes[:, layer.bias_column] = case.bias_codes
    if prepared.is_fixed:
        acc = [0] * case.out_features
        frac = prepared.weight_frac_bits
        for col in np.flatnonzero(prepared.nonzero):
            a = int(prepared.act_fixed[col])
            for row in np.flatnonzero(codes[:, col]):
                p = int(prepared.codebook_fixed[codes[row, col]]) * a
                s = (p + (1 << (frac - 1))) >> frac if frac else p
                acc[row] = min(max(acc[row] + s, prepared.acc_min), prepared.acc_max)
        return np.array(acc, dtype=np.int64)
    acc = np.zeros(case.out_features, dtype=np.float32)
    for col in np.flatnonzero(prepared.nonzero):
        for row in np.flatnonzero(codes[:, col]):
            acc[row] = acc[row] + prepared.codebook_float[codes[row, col]] * \
                prepared.act_float[col]
    return acc


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), num_pes=st.integers(1, 9), depth=st.integers(1, 6),
       arithmetic=st.sampled_from(["fixed16", "fixed8", "float32"]),
       stages=st.integers(1, 5))
def test_reference_invariants_and_values(seed, num_pes, depth, arithmetic, stages):
    case = random_layer(seed, signed_activations=seed % 3 == 0)
    spec = eiesim.HardwareSpec(num_pes=num_pes, act_queue_depth=depth, arithmetic=arithmetic,
                               arith_pipeline_stages=stages)
    layer = case.encode(spec)
    prepared = prepare_inputs(layer, case.activations, spec)
    out = run(prepared)
    t = out.frontend_cycles
    counts = {name: out.pe_counts[:, i] for name, i in PE_INDEX.items()}
    ccu = {name: int(out.ccu_counts[i]) for name, i in CCU_INDEX.items()}
    # T11: every front-end cycle of every PE is busy, stalled or idle.
    np.testing.assert_array_equal(counts["busy_cycles"] + counts["stall_cycles"]
                                  + counts["idle_cycles"], t)
    # T2: the CCU's cycles.
    broadcast = np.flatnonzero(prepared.nonzero)
    assert ccu["broadcasts"] == broadcast.size
    assert ccu["ccu_active_cycles"] == ccu["broadcasts"] + ccu["broadcast_stall_cycles"] \
        + ccu["lnzd_scan_cycles"] <= t
    groups = prepared.nonzero.reshape(-1, num_pes)
    scans = sum(1 for g in groups if not g.any() or not g[-1])
    assert ccu["lnzd_scan_cycles"] == scans
    # Every broadcast reaches every PE's queue and is popped; each popped column's entries
    # are issued (T5, T6); busy cycles cover at least the pointer reads and the entries.
    k = np.diff(layer.col_ptr, axis=1)[:, broadcast]
    np.testing.assert_array_equal(counts["act_queue_pushes"], broadcast.size)
    np.testing.assert_array_equal(counts["act_queue_pops"], broadcast.size)
    np.testing.assert_array_equal(counts["pointer_reads"], broadcast.size)
    np.testing.assert_array_equal(counts["empty_columns"], (k == 0).sum(axis=1))
    np.testing.assert_array_equal(counts["entries"], k.sum(axis=1))
    assert np.all(counts["busy_cycles"] >= np.maximum(counts["entries"], broadcast.size))
    np.testing.assert_array_equal(counts["macs"], counts["acc_reads"] + counts["bypasses"])
    np.testing.assert_array_equal(counts["macs"] + counts["padding_entries"], counts["entries"])
    np.testing.assert_array_equal(counts["src_act_reads"], prepared.scan_length // num_pes)
    # A3 / A5 in column order, independent of timing.
    expected = _fold(case, spec, layer)
    assert_results_equal(
        out, type(out)(frontend_cycles=t, accumulators=expected, pe_counts=out.pe_counts,
                       ccu_counts=out.ccu_counts), names=("engine", "fold"))


@pytest.mark.parametrize("seed", [11, 12])
def test_result_does_not_depend_on_simpy_tie_breaking(seed):
    # The clock's phases order the work in a cycle; neither the order in which processes start
    # nor the order in which SimPy serves simultaneous events and their waiters may matter.
    case = random_layer(seed, out_features=30, in_features=40, density=0.3, act_density=0.6,
                        bias=True)
    spec = eiesim.HardwareSpec(num_pes=6, act_queue_depth=2, arith_pipeline_stages=2)
    prepared = prepare_inputs(case.encode(spec), case.activations, spec)
    base_trace = TraceRecorder()
    base = run(prepared, base_trace)
    for order in range(4):
        trace = TraceRecorder()
        shuffled = run(prepared, trace, shuffle_seed=order)
        assert_results_equal(base, shuffled, names=("in order", f"shuffled {order}"))
        assert base_trace.to_chrome_trace()["traceEvents"] == \
            trace.to_chrome_trace()["traceEvents"]


@pytest.mark.parametrize("num_pes, fanin, nodes", [(64, 4, 21), (1, 4, 1), (4, 4, 1),
                                                   (5, 4, 3), (16, 2, 15), (9, 3, 4)])
def test_lnzd_tree_shape(num_pes, fanin, nodes):
    import simpy
    levels = build_lnzd_tree(simpy.Environment(), list(range(num_pes)), fanin)
    assert sum(len(level) for level in levels) == nodes
    assert len(levels[-1]) == 1
    assert eiesim.HardwareSpec(num_pes=num_pes, lnzd_fanin=fanin).lnzd_nodes == nodes


def test_bad_trace_object_is_rejected():
    with pytest.raises(SpecError, match="TraceRecorder"):
        reference(np.ones((1, 1), dtype=np.uint8), [1.0], num_pes=1, trace=object())
    result = reference(np.ones((1, 1), dtype=np.uint8), [1.0], num_pes=1, trace=True)
    assert isinstance(result.trace, TraceRecorder)


# --- Chrome trace-event format --------------------------------------------------------------

METADATA_NAMES = {"process_name", "thread_name", "process_sort_index", "thread_sort_index",
                  "process_labels"}
ALLOWED_KEYS = {
    "X": {"name", "cat", "ph", "ts", "dur", "pid", "tid", "args"},
    "C": {"name", "cat", "ph", "ts", "pid", "tid", "id", "args"},
    "i": {"name", "cat", "ph", "ts", "pid", "tid", "s", "args"},
    "M": {"name", "ph", "pid", "tid", "args"},
}


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and \
        np.isfinite(value)


def check_chrome_trace(trace: dict) -> None:
    """Validate a Chrome trace-event JSON object (JSON object format, the kinds we emit)."""
    assert isinstance(trace, dict) and isinstance(trace.get("traceEvents"), list)
    assert trace.get("displayTimeUnit", "ms") in ("ms", "ns")
    assert isinstance(trace.get("otherData", {}), dict)
    assert json.loads(json.dumps(trace)) == trace, "must survive a JSON round trip"
    slices: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for event in trace["traceEvents"]:
        ph = event.get("ph")
        assert ph in ALLOWED_KEYS, f"unknown phase {ph!r} in {event}"
        assert set(event) <= ALLOWED_KEYS[ph], f"unexpected keys in {event}"
        assert isinstance(event.get("name"), str) and event["name"], event
        assert isinstance(event.get("pid"), int), event
        if "tid" in event:
            assert isinstance(event["tid"], int), event
        if "cat" in event:
            assert isinstance(event["cat"], str), event
        if "args" in event:
            assert isinstance(event["args"], dict), event
        if ph == "M":
            assert event["name"] in METADATA_NAMES, event
            if event["name"].startswith("thread_"):
                assert "tid" in event, event
            key = "sort_index" if event["name"].endswith("sort_index") else "name"
            assert key in event["args"], event
            continue
        assert _number(event.get("ts")) and event["ts"] >= 0, event
        if ph == "X":
            assert "tid" in event and _number(event.get("dur")) and event["dur"] > 0, event
            slices.setdefault((event["pid"], event["tid"]), []).append(
                (event["ts"], event["ts"] + event["dur"]))
        elif ph == "C":
            assert event.get("args") and all(_number(v) for v in event["args"].values()), event
        elif ph == "i":
            assert event.get("s", "t") in ("g", "p", "t"), event
            if event.get("s", "t") == "t":
                assert "tid" in event, event
    # Complete events on one thread must nest: each slice ends before the next one starts, or
    # contains it.
    for track, spans in slices.items():
        stack: list[float] = []
        for start, end in sorted(spans, key=lambda s: (s[0], -s[1])):
            while stack and stack[-1] <= start:
                stack.pop()
            assert not stack or end <= stack[-1], f"slices overlap on track {track}"
            stack.append(end)


def test_checker_rejects_malformed_traces():
    good = {"traceEvents": [{"name": "a", "ph": "X", "ts": 0, "dur": 2, "pid": 1, "tid": 1}]}
    check_chrome_trace(good)
    for bad_event in ({"name": "a", "ph": "X", "ts": 0, "pid": 1, "tid": 1},
                      {"name": "a", "ph": "C", "ts": 0, "pid": 1, "args": {"x": "y"}},
                      {"name": "a", "ph": "Q", "ts": 0, "pid": 1},
                      {"name": "thread_name", "ph": "M", "pid": 1, "args": {"name": "t"}}):
        with pytest.raises(AssertionError):
            check_chrome_trace({"traceEvents": [bad_event]})
    overlapping = good["traceEvents"] + [{"name": "b", "ph": "X", "ts": 1, "dur": 2, "pid": 1,
                                          "tid": 1}]
    with pytest.raises(AssertionError, match="overlap"):
        check_chrome_trace({"traceEvents": overlapping})


@pytest.fixture(scope="module")
def traced_run():
    # Small queues and an unbalanced layer, so that stalls, idle cycles and empty columns occur.
    case = random_layer(5, out_features=48, in_features=64, density=0.3, act_density=0.6,
                        bias=True)
    codes = case.codes.copy()
    codes[::8] = np.where(codes[::8] == 0, 3, codes[::8])  # PE 0's rows are dense
    spec = eiesim.HardwareSpec(num_pes=8, act_queue_depth=2, arith_pipeline_stages=3,
                               relu_outputs_per_cycle=2)
    layer = eiesim.encode(codes, case.codebook, case.bias_codes, spec=spec)
    recorder = TraceRecorder()
    result = eiesim.simulate(layer, case.activations, spec, engine="reference", trace=recorder)
    return result, recorder


def test_trace_is_valid_chrome_json(traced_run, tmp_path):
    result, recorder = traced_run
    path = tmp_path / "trace.json"
    recorder.write_chrome_trace(path)
    trace = json.loads(path.read_text())
    check_chrome_trace(trace)
    assert trace == recorder.to_chrome_trace()
    names = {(e["name"], e.get("tid")) for e in trace["traceEvents"] if e["ph"] == "M"}
    assert ("thread_name", 0) in names and ("thread_name", 8) in names
    assert "cycle" in trace["otherData"]["time_unit"]
    assert trace["otherData"]["frontend_cycles"] == result.frontend_cycles


def test_trace_slices_add_up_to_the_counts(traced_run):
    result, recorder = traced_run
    assert result.broadcast_stall_cycles > 0 and result.stall_cycles.sum() > 0
    events = recorder.to_chrome_trace()["traceEvents"]
    for pe in range(result.spec.num_pes):
        mine = [e for e in events if e["ph"] == "X" and e["tid"] == pe + 1]
        columns = [e for e in mine if e["cat"] == "column"]
        assert sum(e["dur"] for e in columns) == result.busy_cycles[pe]
        assert len(columns) == result.pe_count("pointer_reads")[pe]
        for kind, count in (("stall", result.stall_cycles), ("idle", result.idle_cycles)):
            assert sum(e["dur"] for e in mine if e["name"] == kind) == count[pe]
        # Column and starvation slices tile the front end exactly.
        front = sorted((e["ts"], e["dur"]) for e in mine if e["cat"] in ("column",
                                                                          "starvation"))
        assert front[0][0] == 0
        assert all(a + da == b for (a, da), (b, _) in zip(front, front[1:]))
        assert front[-1][0] + front[-1][1] == result.frontend_cycles
        empty = [e for e in columns if e["args"]["entries"] == 0]
        assert all(e["dur"] == 1 for e in empty)
    ccu = [e for e in events if e["ph"] == "X" and e["tid"] == 0]
    assert sum(e["dur"] for e in ccu if e["name"] == "broadcast stall") == \
        result.broadcast_stall_cycles
    assert sum(1 for e in ccu if e["cat"] == "broadcast") == result.broadcasts


def test_trace_queue_counters_stay_within_depth(traced_run):
    result, recorder = traced_run
    counters = [e for e in recorder.to_chrome_trace()["traceEvents"] if e["ph"] == "C"]
    depth = result.spec.act_queue_depth
    assert {e["name"] for e in counters} == {f"act_queue PE {p}" for p in range(8)}
    assert max(e["args"]["entries"] for e in counters) == depth
    assert min(e["args"]["entries"] for e in counters) == 0
    # Replaying pushes and pops gives the same occupancy as the counters.
    for pe in range(8):
        track = [e for e in counters if e["name"] == f"act_queue PE {pe}"]
        assert [e["ts"] for e in track] == sorted(e["ts"] for e in track)
        assert track[-1]["args"]["entries"] == 0
