"""Simulation of one layer on EIE, and THE TIMING CONTRACT both engines implement.

The reference engine (``sim/reference``, SimPy, one process per hardware unit) is the readable,
executable statement of these rules; the fast engine (``sim/fast``, numba) is the one to use for
sweeps. Tests require the two to agree exactly: cycles, every event count, every per-PE counter,
and the outputs bit for bit. Code in both engines cites the rules by number.

Notation: N = ``num_pes``, D = ``act_queue_depth``, P = ``arith_pipeline_stages``,
``k[p, j]`` = entries (padding included) of column j in PE p.

Timing rules
------------
T1  Extended input. Input column j carries activation a_j (j < in_features). Columns
    in_features .. ceil(in_features / N) * N - 1 are empty and carry 0. With a bias, the bias
    column sits at index ``bias_col = ceil(in_features / N) * N`` and carries 1; the scanned
    vector then has N more slots (the bias slot first, then N - 1 zeros), so its length is a
    multiple of N.
T2  LNZD scan. The CCU scans the extended vector in groups of N consecutive slots, in order.
    A slot is non-zero when its activation *as the hardware holds it* is not 0 (after rounding
    to the fixed-point format, rule A1; in float32 after conversion to float32). A group costs:
    one broadcast cycle per non-zero, in slot order; then one scan cycle if the group has no
    non-zero, or if its last non-zero is not in the group's last slot. The CCU works through
    this sequence of cycles one per cycle, never skipping ahead.
T3  Broadcast. In a broadcast cycle the CCU pushes (a_j, j) into every PE's activation queue,
    unless some queue holds D entries at the start of the cycle: then the broadcast stalls for
    that cycle (a broadcast stall cycle) and is retried the next cycle. Scan cycles never stall.
T4  Registers. Every decision in a cycle reads the state at the start of that cycle; every
    update takes effect at its end. So an entry pushed in cycle t can be popped in cycle t + 1
    at the earliest, and a queue slot freed in cycle t is seen by the CCU in cycle t + 1.
T5  Pointer read. A PE pops the head (a_j, j) of its queue and reads p_j and p_(j+1) (one word
    from each of the two banks) in a cycle in which its queue is non-empty and its
    sparse-matrix read unit either holds no column or issues the last entry of its column.
    If k[p, j] > 0 the column is loaded into the sparse-matrix read unit for the next cycle;
    if k[p, j] == 0 the column is finished (it cost this cycle; an empty-column event).
T6  Sparse-matrix read. The unit issues one entry per cycle of its loaded column, in storage
    order, starting the cycle after the pointer read. Issuing the entry at PE-local address e
    reads SRAM line floor(e / entries_per_line) unless that line is already in the line
    register (which starts empty and persists across columns). Line reads cost no cycle.
T7  Arithmetic. Each issued entry passes P pipeline stages and never stalls. The row address
    restarts at -1 for each column and advances by z + 1 for each entry, padding included.
    Every entry is decoded; a padding entry (v = 0) writes nothing; a real entry reads the
    accumulator of its row, multiplies and adds (rule A3), and writes it back. When a PE issues
    real entries of the same row in two adjacent cycles, the second is served by the bypass
    (no accumulator read, no stall).
T8  End of the front end: the first cycle T at whose start the CCU has no cycle left and every
    PE's queue and sparse-matrix read unit are empty. Cycles 0 .. T - 1 are the front end.
T9  Drain: P cycles, for the last issued entries to leave the arithmetic pipeline.
T10 ReLU. EIE applies ReLU as outputs leave the destination register file (as the next
    layer's LNZD reads them, or as they are written back), so by default
    (``relu_outputs_per_cycle = 0``) ReLU costs no cycle: R = 0. A positive
    ``relu_outputs_per_cycle`` models a separate ReLU and write-back pass instead, that many
    outputs per PE per cycle, all PEs in parallel: R = ceil(max_p rows_p /
    relu_outputs_per_cycle) cycles. Either way every PE passes each of its rows through ReLU
    once. The layer takes T + P + R cycles.
T11 Cycle classes. In each front-end cycle a PE is *busy* if its pointer read or its
    sparse-matrix read worked; otherwise *stalled* if the CCU's broadcast stalled in that cycle
    (the PE starves because another PE's queue is full); otherwise *idle*. So busy + stall +
    idle = T for every PE. The source-activation reads of the local LNZD are one per group.

Long vectors (docs/hardware.md §3.5): R = ``act_regs_per_file`` activations per PE fit the register
files; longer slices live in the activation SRAM, which moves
K = ``act_sram_width_bits // data_bits`` activations per access and one access per cycle.

T12 Input batches. Let G = ceil(in_features / N) be the number of input groups (T1; the bias
    slot holds the constant 1, which needs no register, so the bias group is not counted). If
    G <= R, or if ``source_regs_hold_whole_input`` is set (EIE's RTL model holds the whole
    input vector in its register file), the source registers already hold the input and
    nothing changes: no input batches, no load cycles. Otherwise the input
    groups are scanned in input batches of R groups (the last may be shorter, g_b groups).
    Before the first group of each input batch the CCU spends ceil(g_b / K) load cycles in
    which every PE reads its g_b activations of the batch from its activation SRAM (one access
    per PE per load cycle); the bias group follows the last batch without a load. Load cycles
    are CCU cycles that never stall (like scan cycles, T3); PEs keep working on their queues
    meanwhile, and a PE without work in a load cycle is idle (T11).
T13 Output batches. If some PE owns more than R rows, the rows are processed in output batches:
    batch b holds the rows whose local index (row // N) lies in [b R, (b + 1) R), i.e. global
    rows [b R N, (b + 1) R N), stored as an interleaved CSC of their own (own pointers; see
    ``EncodedLayer.output_batches``, which cuts them from the layer's entries). The layer
    runs once per output batch, each run following T1-T12 with the whole input scanned and
    broadcast again; after its ReLU (T10) every PE writes the batch's outputs to its activation
    SRAM in ceil(max_p rows_(p,b) / K) cycles (one access per PE per cycle). The layer takes the
    sum over batches of T + P + R + write-back cycles. Without output batches the outputs stay in
    the destination registers, which become the next layer's source registers (no write-back).
T14 End of the layer. After its last cycle of T8-T13 (the last output batch's ReLU and
    write-back) the layer counts as done E = ``end_of_layer_latency_cycles`` cycles later. E = 0
    on the paper's chip, which states no such latency; EIE's RTL model counts E = 2. These E
    cycles come once per layer (not per output batch); they are not front-end cycles, so T11's
    classes do not count them; no unit works in them, but the chip is clocked. The layer takes
    the cycles of T13 + E.

Arithmetic rules
----------------
A1  Fixed point (``arithmetic = "fixedB"``): activations and accumulators are B-bit two's
    complement with F_a = ``act_frac_bits`` fractional bits. An input activation x becomes
    floor(x * 2**F_a + 0.5); a value outside [-2**(B-1), 2**(B-1) - 1] after rounding is an
    error, never wrapped or clipped. The bias column's activation is 1.0 = 2**F_a.
A2  Codebook values are B-bit with F_w fractional bits: c -> floor(c * 2**F_w + 0.5). F_w is
    ``weight_frac_bits`` or, if unset, the largest F_w <= 2B for which the codebook's largest
    magnitude fits (all-zero codebook: F_w = B - 1).
A3  Multiply-accumulate: p = w * a exactly (2B bits), shifted into activation format with
    rounding, s = floor((p + 2**(F_w - 1)) / 2**F_w) (s = p when F_w = 0), then
    acc = clamp(acc + s, -2**(B-1), 2**(B-1) - 1): the adder saturates, as a B-bit destination
    register must.
A4  Accumulators start at 0 each layer. Output = max(acc, 0) (ReLU), reported as acc / 2**F_a.
A5  float32: activations and codebook are float32; acc = float32(acc + float32(w * a)), no fused
    multiply-add. In both formats a row's terms are added in broadcast (column) order, so the
    result does not depend on timing.
"""

from __future__ import annotations

from eiesim.sim.prepare import PreparedInputs, prepare_inputs
from eiesim.sim.result import SimResult
from eiesim.sim.simulation import ENGINES, simulate

__all__ = ["ENGINES", "PreparedInputs", "SimResult", "prepare_inputs", "simulate"]
