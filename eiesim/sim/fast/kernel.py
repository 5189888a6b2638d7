"""Private numba kernels of the fast engine: arrays and scalars only, no Python objects.

The public, validating wrapper is :func:`eiesim.sim.fast.run`. Rule numbers (T1-T11, A1-A5)
refer to the timing contract in :mod:`eiesim.sim`. Two front-end kernels implement it:

``frontend_cycles``
    the literal statement: a loop over cycles that, in every cycle, lets the CCU and every PE
    decide from the start-of-cycle state and applies the updates at the end (T4); each entry is
    issued in its own cycle.
``frontend_events``
    the event-skipping fast path used by default. It computes, broadcast by broadcast, the cycle
    of every push and pop from the recurrences the contract implies (derived in the docstring
    of ``_schedule``) and what each PE's column does from per-(column, PE) summaries of the
    layer; then it adds every broadcast's real entries into their rows, column by column. It
    gives identical results: tests/test_bounds.py, test_fast_values.py and test_timing_micro.py
    hold it equal to ``frontend_cycles`` (cycles, every counter, accumulators).

Arguments travel in named tuples (defined here, built by the wrapper), so that no kernel takes
more than eight parameters and two arrays of the same dtype cannot be swapped by position:
:data:`Activations`, :data:`Timing`, :data:`Arithmetic`, :data:`Codebook`, :data:`Storage` (the
per-PE entry arrays, for the literal kernel), :data:`Columns` (the column view, for the fast
path) and :data:`Outputs` (accumulators and counters, written in place). Kernels take the arrays
out of their tuples once, before their loops.

Both count into the kernel's own (num_pes, len(PE_COUNTERS)) and (len(CCU_COUNTERS),) arrays,
whose column order is fixed *here*; the wrapper scatters them into the layout of
:mod:`eiesim.actions` by name. Keeping the column numbers local to this file keeps numba's
on-disk cache correct: a cached kernel is invalidated when this file changes, not when another
module's constants do.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from eiesim.jit import INLINE_OPTIONS, NUMBA_OPTIONS

# Column order of the kernel's per-PE counter array (names as in eiesim.actions.PE_EVENTS).
PE_COUNTERS = (
    "busy_cycles", "stall_cycles", "idle_cycles", "act_queue_pushes", "act_queue_pops",
    "src_act_reads", "pointer_reads", "empty_columns", "spmat_line_reads", "entries",
    "padding_entries", "codebook_decodes", "macs", "acc_reads", "acc_writes", "bypasses",
    "relu_ops", "act_writebacks",
)
_BUSY = 0
_STALL = 1
_IDLE = 2
_PUSHES = 3
_POPS = 4
_SRC_READS = 5
_PTR_READS = 6
_EMPTY_COLS = 7
_LINE_READS = 8
_ENTRIES = 9
_PADDING = 10
_DECODES = 11
_MACS = 12
_ACC_READS = 13
_ACC_WRITES = 14
_BYPASSES = 15
_RELU = 16
_WRITEBACKS = 17
NUM_PE_COUNTERS = 18

# Column order of the kernel's CCU counter array (names as in eiesim.actions.CCU_EVENTS).
CCU_COUNTERS = ("ccu_active_cycles", "broadcasts", "broadcast_stall_cycles", "lnzd_scan_cycles")
_CCU_ACTIVE = 0
_BROADCASTS = 1
_BCAST_STALLS = 2
_SCANS = 3
NUM_CCU_COUNTERS = 4

Activations = namedtuple("Activations", "fixed float")
"""Extended input (T1): int64 fixed-point values (A1; zeros in float32) and float32 values."""
Timing = namedtuple("Timing", "num_pes queue_depth entries_per_line line_mul line_shift")
"""N, D, entries per SRAM line L, and M and S with floor(e / L) = (e * M) >> S for every
PE-local address 0 <= e < 2**31 (:func:`line_divisor`)."""


def line_divisor(entries_per_line):
    """(M, S) for dividing addresses by L with a multiply and a shift, which vectorizes where a
    division does not: S = 31 + ceil(log2 L) and M = ceil(2**S / L) give floor(e / L) =
    floor(e * M / 2**S) for 0 <= e < 2**31 (Granlund and Montgomery, "Division by invariant
    integers using multiplication", PLDI 1994, theorem 4.2: M * L - 2**S < L <= 2**(S - 31)),
    and e * M < 2**31 * 2**32 fits int64.

    >>> m, s = line_divisor(9)
    >>> [(e * m) >> s for e in (0, 8, 9, 2**31 - 1)] == [0, 0, 1, (2**31 - 1) // 9]
    True
    """
    shift = 31 + (entries_per_line - 1).bit_length()
    return -(-(1 << shift) // entries_per_line), shift
Arithmetic = namedtuple("Arithmetic", "is_fixed round_shift quot_shift half_shift acc_min acc_max")
"""A3 and A5 (scalars): the format, the rounding shifts (see _mac), the adder's range."""
Codebook = namedtuple("Codebook", "fixed float")
"""The codebook as int64 fixed point (A2; zeros in float32) and as float32."""
Storage = namedtuple("Storage", "entry_v entry_z pe_offsets col_ptr")
"""The interleaved CSC as stored, PE by PE (eiesim.format.encoded.EncodedLayer)."""
Columns = namedtuple("Columns", "start length padding first_row last_real_offset last_real_row "
                                "col_start entry_row_code")
"""The layer arranged for working broadcast by broadcast (built by :func:`build_columns`).

Per (column, PE), arrays of shape (num_columns, num_pes) so that one broadcast's PEs are adjacent
in memory: ``start``, the column's first PE-local address; ``length``, its entries, padding
included; ``padding``, its padding entries; ``first_row``, the local row of its first entry if
that entry is real, else -1; ``last_real_offset``, the position of its last real entry within
the column (-1 without one); ``last_real_row``, that entry's local row. And the real entries in
column-major order: column j's are ``entry_row_code[col_start[j]:col_start[j + 1]]``, each
(global row << 8) | codebook index, one number so that the accumulation reads one stream. The
wrapper allocates them as small as the layer allows (``start`` int32, the other summaries int16
up to 32767 rows per PE, the entries uint32 below 2**24 rows; int32 and int64 otherwise): the
kernels stream these arrays, and their size is what they cost."""
Outputs = namedtuple("Outputs", "acc_fixed acc_float pe_counts ccu_counts")
"""Accumulators (int64 in fixed point, float32 in float32; the other one empty) and the kernel's
counter arrays, all updated in place."""

SCAN = -1  # a scan cycle in the CCU program (a broadcast cycle holds its column j >= 0)


# --- the CCU's program (T2) -----------------------------------------------------------------
@njit(**NUMBA_OPTIONS)
def ccu_program(nonzero, num_pes):
    """Rule T2: the CCU's sequence of cycles, in order.

    Entry j >= 0 is the broadcast cycle of slot j; SCAN is a scan cycle. Each group of num_pes
    slots yields one broadcast per non-zero in slot order, then one scan cycle if the group has no
    non-zero or its last non-zero is not in the group's last slot.
    """
    scan_length = nonzero.size
    groups = scan_length // num_pes
    program = np.empty(scan_length + groups, dtype=np.int64)
    n = 0
    for g in range(groups):
        first = g * num_pes
        last_slot = first + num_pes - 1
        last_nonzero = -1
        for slot in range(first, first + num_pes):
            if nonzero[slot]:
                program[n] = slot
                n += 1
                last_nonzero = slot
        if last_nonzero != last_slot:  # also true for a group without non-zero
            program[n] = SCAN
            n += 1
    return program[:n]


@njit(**INLINE_OPTIONS)
def _broadcasts(program):
    """Split the program into the broadcast columns and the scan cycles before each broadcast.

    Returns (columns, scans_before, trailing_scans): broadcast b carries column columns[b] and
    follows scans_before[b] scan cycles after broadcast b - 1 (after the start for b = 0).
    """
    count = 0
    for i in range(program.size):
        if program[i] != SCAN:
            count += 1
    columns = np.empty(count, dtype=np.int64)
    scans_before = np.empty(count, dtype=np.int64)
    b = 0
    scans = 0
    for i in range(program.size):
        if program[i] == SCAN:
            scans += 1
        else:
            columns[b] = program[i]
            scans_before[b] = scans
            scans = 0
            b += 1
    return columns, scans_before, scans


# --- the column view -------------------------------------------------------------------------
@njit(**NUMBA_OPTIONS)
def build_columns(storage, columns):
    """Fill the arrays of ``columns`` (:data:`Columns`, allocated by the caller in the dtypes
    it chose, ``entry_row_code`` with one slot per real entry) from the per-PE storage, in one
    pass over the entries column by column, so that every array is written in order; rows as
    rule T7 computes them: restart at -1 per column, advance by z + 1."""
    entry_v, entry_z = storage.entry_v, storage.entry_z
    pe_offsets, col_ptr = storage.pe_offsets, storage.col_ptr
    start, length, padding = columns.start, columns.length, columns.padding
    first_row, last_offset, last_row = columns.first_row, columns.last_real_offset, \
        columns.last_real_row
    col_start, entry_row_code = columns.col_start, columns.entry_row_code
    n = col_ptr.shape[0]
    k = 0
    col_start[0] = 0
    for j in range(col_ptr.shape[1] - 1):
        for p in range(n):
            first = pe_offsets[p] + col_ptr[p, j]
            stop = pe_offsets[p] + col_ptr[p, j + 1]
            start[j, p] = col_ptr[p, j]
            length[j, p] = stop - first
            r = -1
            pads = 0
            row_of_first = -1
            offset = -1
            row_of_last = 0
            for e in range(first, stop):
                r += np.int64(entry_z[e]) + 1
                v = entry_v[e]
                if v == 0:
                    pads += 1
                else:
                    if e == first:
                        row_of_first = r
                    offset = e - first
                    row_of_last = r
                    entry_row_code[k] = ((r * n + p) << 8) | v
                    k += 1
            padding[j, p] = pads
            first_row[j, p] = row_of_first
            last_offset[j, p] = offset
            last_row[j, p] = row_of_last
        col_start[j + 1] = k


# --- arithmetic (A3, A5) --------------------------------------------------------------------
@njit(**INLINE_OPTIONS)
def _mac(g, w_fix, w_flt, a_fix, a_flt, arith, acc_fixed, acc_float):
    """Add the weight w (codebook[v], in both formats) times a into the accumulator of global
    row g.

    Fixed point (A3): s = floor((w * a + 2**(F - 1)) / 2**F) for F > 0, computed without overflow
    as (p >> F) + bit F - 1 of p, with the shifts passed in already clamped to 63 (F <= 2B = 64 is
    allowed; for F = 64 both shifts by 63 give the same s). The B-bit adder saturates.
    float32 (A5): a float32 product, then a float32 sum; no fused multiply-add.
    ``arith`` holds scalars only: arrays are looked up by the caller, outside its loops, because
    taking an array out of a tuple costs a reference count in numba.
    """
    if arith.is_fixed:
        prod = w_fix * a_fix  # exact: 2B <= 64 bits (A3)
        if arith.round_shift:
            s = (prod >> arith.quot_shift) + ((prod >> arith.half_shift) & 1)
        else:
            s = prod
        acc = acc_fixed[g] + s
        if acc > arith.acc_max:
            acc = arith.acc_max
        elif acc < arith.acc_min:
            acc = arith.acc_min
        acc_fixed[g] = acc
    else:
        term = w_flt * a_flt
        acc_float[g] = acc_float[g] + term


@njit(**INLINE_OPTIONS)
def _finish_counts(pe_counts, num_pes, groups, out_features):
    n = num_pes
    for p in range(n):
        # T11: each PE's local LNZD reads one source activation per group of the scan (T2).
        pe_counts[p, _SRC_READS] += groups
        # T10: every PE passes its rows p, p + N, ... through ReLU on their way out.
        rows = (out_features - p + n - 1) // n
        pe_counts[p, _RELU] += rows
        pe_counts[p, _WRITEBACKS] += rows


# --- the literal statement: every PE, every cycle --------------------------------------------
@njit(**NUMBA_OPTIONS)
def frontend_cycles(program, acts, timing, storage, arith, codebook, out):
    """Simulate the front end cycle by cycle (T2-T8, T11), every PE in every cycle.

    Every decision of cycle t reads the state at the start of t; every update takes effect at
    its end (T4). Fills ``out``: the accumulators by global row and the counters; returns T, the
    number of front-end cycles (T8). ``program`` is the CCU's program (:func:`ccu_program`, with
    T12's loads as scan cycles).
    """
    n = timing.num_pes
    queue_depth = timing.queue_depth
    entries_per_line = timing.entries_per_line
    entry_v, entry_z = storage.entry_v, storage.entry_z
    pe_offsets, col_ptr = storage.pe_offsets, storage.col_ptr
    pe_counts, ccu_counts = out.pe_counts, out.ccu_counts
    acc_fixed, acc_float = out.acc_fixed, out.acc_float
    act_fixed, act_float = acts.fixed, acts.float
    codebook_fixed, codebook_float = codebook.fixed, codebook.float
    # Broadcast b carries column bcast_col[b]; every PE receives the same sequence (T3), so a
    # PE's queue always holds broadcasts pops[p] .. pushes - 1 and needs no storage of its own.
    bcast_col, _, _ = _broadcasts(program)
    pops = np.zeros(n, dtype=np.int64)  # broadcasts popped by each PE (T5)
    cur = np.zeros(n, dtype=np.int64)  # next entry to issue (global index) (T6)
    end = np.zeros(n, dtype=np.int64)  # end of the loaded column; cur == end: no column
    row = np.zeros(n, dtype=np.int64)  # row address of the last issued entry (T7)
    a_fix = np.zeros(n, dtype=np.int64)  # the loaded column's activation
    a_flt = np.zeros(n, dtype=np.float32)
    line_reg = np.full(n, -1, dtype=np.int64)  # SRAM line register, starts empty (T6)
    last_real_cycle = np.full(n, -2, dtype=np.int64)  # cycle of the last real entry (T7)
    last_real_row = np.full(n, -1, dtype=np.int64)

    n_prog = program.size
    pc = 0  # next CCU cycle of the program (T2)
    pushes = 0  # broadcasts done
    min_pops = 0  # min over PEs of pops: the fullest queue holds pushes - min_pops entries
    loaded = 0  # PEs whose sparse-matrix read unit holds a column
    t = 0
    # T8: the front end ends at the first cycle at whose start the CCU has no cycle left and
    # every queue (min_pops == pushes) and sparse-matrix read unit (loaded == 0) is empty.
    while pc < n_prog or min_pops < pushes or loaded > 0:
        # --- CCU (T2, T3), from the start-of-cycle queue occupancy (T4) -----------------------
        broadcast = False
        stalled = False
        if pc < n_prog:
            ccu_counts[_CCU_ACTIVE] += 1
            if program[pc] == SCAN:
                ccu_counts[_SCANS] += 1  # scan cycles never stall (T3)
                pc += 1
            elif pushes - min_pops >= queue_depth:
                stalled = True  # some queue holds D entries: retry next cycle (T3)
                ccu_counts[_BCAST_STALLS] += 1
            else:
                broadcast = True  # the push takes effect at the end of the cycle (T4)

        # --- every PE -----------------------------------------------------------------------
        new_min = pushes
        for p in range(n):
            e = cur[p]
            has_column = e < end[p]
            has_head = pops[p] < pushes  # an entry pushed in this cycle is not visible yet (T4)
            if has_column:
                # T6: issue entry e; read its SRAM line unless the line register holds it.
                line = (e - pe_offsets[p]) // entries_per_line
                if line != line_reg[p]:
                    line_reg[p] = line
                    pe_counts[p, _LINE_READS] += 1
                pe_counts[p, _ENTRIES] += 1
                # T7: every entry is decoded; the row address advances by z + 1.
                pe_counts[p, _DECODES] += 1
                r = row[p] + np.int64(entry_z[e]) + 1
                row[p] = r
                v = np.int64(entry_v[e])
                if v == 0:
                    pe_counts[p, _PADDING] += 1  # padding writes nothing (T7)
                else:
                    pe_counts[p, _MACS] += 1
                    pe_counts[p, _ACC_WRITES] += 1
                    # T7: a real entry of the same row as the previous cycle's real entry is
                    # served by the bypass instead of an accumulator read.
                    if last_real_cycle[p] == t - 1 and last_real_row[p] == r:
                        pe_counts[p, _BYPASSES] += 1
                    else:
                        pe_counts[p, _ACC_READS] += 1
                    last_real_cycle[p] = t
                    last_real_row[p] = r
                    _mac(r * n + p, codebook_fixed[v], codebook_float[v], a_fix[p], a_flt[p],
                         arith, acc_fixed, acc_float)
                e += 1
                cur[p] = e
                if e == end[p]:
                    loaded -= 1
            # T5: pop the head and read p_j, p_(j+1) when the queue is non-empty and the unit
            # holds no column or has just issued the last entry of its column (e == end now).
            popped = has_head and e == end[p]
            if popped:
                b = pops[p]
                pops[p] = b + 1
                pe_counts[p, _POPS] += 1
                pe_counts[p, _PTR_READS] += 1
                j = bcast_col[b]
                start = col_ptr[p, j]
                stop = col_ptr[p, j + 1]
                if stop > start:
                    # The column is loaded for the next cycle (T5, T6); row restarts at -1 (T7).
                    cur[p] = pe_offsets[p] + start
                    end[p] = pe_offsets[p] + stop
                    row[p] = -1
                    a_fix[p] = act_fixed[j]
                    a_flt[p] = act_float[j]
                    loaded += 1
                else:
                    pe_counts[p, _EMPTY_COLS] += 1  # finished in this cycle (T5)
            # T11: busy if the pointer read or the sparse-matrix read worked; otherwise starved
            # by a stalled broadcast, or idle.
            if has_column or popped:
                pe_counts[p, _BUSY] += 1
            elif stalled:
                pe_counts[p, _STALL] += 1
            else:
                pe_counts[p, _IDLE] += 1
            if pops[p] < new_min:
                new_min = pops[p]
        min_pops = new_min

        # --- end of cycle: the broadcast's push takes effect (T3, T4) -------------------------
        if broadcast:
            ccu_counts[_BROADCASTS] += 1
            for p in range(n):
                pe_counts[p, _PUSHES] += 1
            pushes += 1
            pc += 1
        t += 1

    # One accumulator array is empty, the other holds the layer's outputs.
    _finish_counts(pe_counts, n, act_fixed.size // n, acc_fixed.size + acc_float.size)
    return t


# --- the fast path: push and pop cycles from the recurrences ----------------------------------
@njit(**NUMBA_OPTIONS)
def _schedule(bcast_col, scans_before, timing, columns, pe_counts):
    """Push and pop cycles of every broadcast from the recurrences of the contract, and what
    each PE's column does in them.

    With b = 0 .. B - 1 the broadcasts and k_p(b) the entries of their column in PE p:

    * arrive(b) = push(b - 1) + 1 + (scan cycles between broadcasts b - 1 and b): the CCU works
      through its program one cycle at a time and scan cycles never stall (T2, T3);
    * push(b) = max(arrive(b), max_p pop_p(b - D) + 1): with b pushes done, PE p's queue holds D
      entries until it has popped broadcast b - D, and a slot freed in cycle t is seen in t + 1
      (T3, T4); for b < D no queue can be full;
    * pop_p(b) = max(push(b) + 1, next_p(b - 1)) with next_p(b) = pop_p(b) + max(1, k_p(b)): a
      PE pops as soon as the head is visible (T4) and its unit holds no column or issues the last
      entry of its column, which happens in cycle pop + k (T5, T6); an empty column frees the
      unit in the pop cycle itself;
    * PE p is busy in cycles pop_p(b) .. pop_p(b) + k_p(b); consecutive runs touch only when
      pop_p(b) = pop_p(b - 1) + k_p(b - 1) with k_p(b - 1) > 0, i.e. when pop_p(b) < free_p(b - 1)
      where free_p(b) = pop_p(b) + k_p(b) + 1 is the first cycle after the run (T11);
    * PE p is not busy in cycles free_p(b - 1) .. push(b) (its queue is empty), and the CCU
      stalls in cycles arrive(b) .. push(b) - 1 only, so PE p stalls
      max(0, push(b) - max(free_p(b - 1), arrive(b))) cycles before pop_p(b) (T11).

    The column of broadcast b issues its entries in cycles pop_p(b) + 1, + 2, ... (T6). An issued
    entry never feeds back into timing (T7: the pipeline never stalls), so each column's work
    follows from its summary in ``columns`` (:data:`Columns`):

    * T6: a column's addresses are consecutive, so it reads each line from floor(first / L) to
      floor((last) / L) once, except the first if the line register already holds it; the
      register then holds the last.
    * T7: rows strictly rise within a column (each entry advances the row by z + 1 >= 1) and a
      padding entry breaks adjacency, so only a column's first entry, issued in cycle pop + 1,
      can be served by the bypass: when it is real and the PE issued a real entry of the same
      row in cycle pop (the last real entry of its previous column, at its known offset).

    Adds the busy, stall, line-read, bypass, entry, padding and empty-column counts; returns
    (push(B - 1), broadcast stall cycles, max_p free_p(B - 1)), or (-1, 0, 0) without broadcasts.
    """
    n = timing.num_pes
    queue_depth = timing.queue_depth
    line_mul, line_shift = timing.line_mul, timing.line_shift
    col_length, col_padding, col_first = columns.length, columns.padding, columns.start
    col_first_row = columns.first_row
    col_last_offset, col_last_row = columns.last_real_offset, columns.last_real_row
    num_bcasts = bcast_col.size
    next_pop = np.zeros(n, dtype=np.int64)  # next_p: earliest pop its unit allows (T5)
    free = np.zeros(n, dtype=np.int64)  # free_p: first cycle after the PE's busy run (T11)
    line_reg = np.full(n, -1, dtype=np.int64)  # the SRAM line register starts empty (T6)
    prev_cycle = np.full(n, -2, dtype=np.int64)  # issue cycle and row of the last real entry
    prev_row = np.full(n, -1, dtype=np.int64)
    busy = np.zeros(n, dtype=np.int64)
    stall = np.zeros(n, dtype=np.int64)
    line_reads = np.zeros(n, dtype=np.int64)
    bypasses = np.zeros(n, dtype=np.int64)
    entries = np.zeros(n, dtype=np.int64)
    padding = np.zeros(n, dtype=np.int64)
    empty = np.zeros(n, dtype=np.int64)
    max_pop = np.empty(num_bcasts, dtype=np.int64)  # max_p pop_p(b)
    pops = np.empty(n, dtype=np.int64)  # pop_p(b) of the current broadcast
    push = -1
    stalls = 0
    # The loop over PEs is written with max() and counts added as 0/1 rather than branches:
    # which PE waits on its queue or its unit changes from broadcast to broadcast, and a
    # mispredicted branch costs more than the arithmetic.
    for b in range(num_bcasts):
        arrive = push + 1 + scans_before[b]
        push = arrive
        if b >= queue_depth:
            push = max(push, max_pop[b - queue_depth] + 1)
        if push > arrive:  # the CCU stalled; a PE whose queue ran empty starves (T11)
            stalls += push - arrive
            for p in range(n):
                f = free[p]
                if push > f:
                    stall[p] += push - max(f, arrive)
        j = bcast_col[b]
        earliest = push + 1
        latest = 0
        # Timing first, without a branch, so that the compiler can vectorize the loop; then
        # the columns' work, which never feeds back into timing.
        for p in range(n):
            f = free[p]
            pop = max(earliest, next_pop[p])
            k = np.int64(col_length[j, p])
            # The pop cycle is busy unless it is the last issue cycle of the previous column.
            busy[p] += k + (pop >= f)
            next_pop[p] = pop + max(k, 1)
            free[p] = pop + k + 1
            pops[p] = pop
            latest = max(latest, pop)
            entries[p] += k
            padding[p] += col_padding[j, p]
            empty[p] += k == 0  # finished in its pop cycle (T5)
        # T6: the column's line reads (a multiply and a shift divide by L, see Timing). For an
        # empty column (k = 0) the last line is meaningless: it reads no line and leaves the
        # line register as it is.
        for p in range(n):
            k = np.int64(col_length[j, p])
            first = np.int64(col_first[j, p])
            first_line = (first * line_mul) >> line_shift
            last_line = ((first + k - 1) * line_mul) >> line_shift
            reads = last_line - first_line + (line_reg[p] != first_line)
            line_reads[p] += reads if k > 0 else 0
            line_reg[p] = last_line if k > 0 else line_reg[p]
        # T7: the bypass. first_row is -1 when the column starts with padding or is empty, and
        # prev_row is then -1 only while prev_cycle is still -2, so it never counts.
        for p in range(n):
            bypasses[p] += (prev_cycle[p] == pops[p]) & (prev_row[p] == col_first_row[j, p])
            offset = col_last_offset[j, p]  # -1: no real entry, the previous one stays last
            prev_cycle[p] = pops[p] + 1 + offset if offset >= 0 else prev_cycle[p]
            prev_row[p] = col_last_row[j, p] if offset >= 0 else prev_row[p]
        max_pop[b] = latest
    last_free = 0
    for p in range(n):
        last_free = max(last_free, free[p])
        pe_counts[p, _BUSY] += busy[p]
        pe_counts[p, _STALL] += stall[p]
        pe_counts[p, _LINE_READS] += line_reads[p]
        pe_counts[p, _BYPASSES] += bypasses[p]
        pe_counts[p, _ENTRIES] += entries[p]
        pe_counts[p, _PADDING] += padding[p]
        pe_counts[p, _EMPTY_COLS] += empty[p]
    return push, stalls, last_free


@njit(**NUMBA_OPTIONS)
def _accumulate(bcast_col, acts, columns, arith, codebook, out):
    """A3, A5: every broadcast's real entries add into their rows, broadcast by broadcast, so
    each row receives its terms in broadcast (storage) order, as in every PE.

    A term depends only on the entry's codebook value and the broadcast activation, so the
    terms of a broadcast are computed once per codebook entry (the same rounding as
    :func:`_mac`) and each entry adds its term from that small table.

    The B-bit adder saturates (A3), but only a sum that leaves its range is changed by it. A
    row receives at most one term per broadcast (its rows rise strictly within a column), so
    if every |acc| <= bound before broadcast b and every term of b has |term| <= biggest, every
    |acc| <= bound + biggest after it: while that stays within the range the adds cannot
    saturate and skip the check. When it does not, the bound is recomputed from the
    accumulators; if they are too close to the limits, the broadcast's adds saturate as A3
    says, and the bound is recomputed again only some broadcasts later, so that a saturating
    layer does not pay a pass over its rows per broadcast.
    """
    col_start, row_code = columns.col_start, columns.entry_row_code
    act_fixed, act_float = acts.fixed, acts.float
    codebook_fixed, codebook_float = codebook.fixed, codebook.float
    acc_fixed, acc_float = out.acc_fixed, out.acc_float
    size = codebook_fixed.size
    if arith.is_fixed:
        terms = np.empty(size, dtype=np.int64)
        rounds, quot, half = arith.round_shift, arith.quot_shift, arith.half_shift
        low, high = arith.acc_min, arith.acc_max
        limit = min(high, -low)
        bound = 0  # every |acc| <= bound
        recheck = 0  # the first broadcast at which recomputing the bound may pay
        for b in range(bcast_col.size):
            j = bcast_col[b]
            a = act_fixed[j]
            biggest = 0
            for v in range(size):
                prod = codebook_fixed[v] * a  # exact: 2B <= 64 bits (A3)
                term = (prod >> quot) + ((prod >> half) & 1) if rounds else prod
                terms[v] = term
                biggest = max(biggest, abs(term))
            if bound + biggest > limit and b >= recheck:
                bound = 0
                for g in range(acc_fixed.size):
                    bound = max(bound, abs(acc_fixed[g]))
            if bound + biggest <= limit:
                for e in range(col_start[j], col_start[j + 1]):
                    x = row_code[e]
                    acc_fixed[x >> 8] += terms[x & 255]
                bound += biggest
            else:
                for e in range(col_start[j], col_start[j + 1]):
                    x = row_code[e]
                    g = x >> 8
                    # The B-bit adder saturates (A3).
                    acc_fixed[g] = min(max(acc_fixed[g] + terms[x & 255], low), high)
                bound = max(limit, -low)
                recheck = b + 32
    else:
        terms_float = np.empty(size, dtype=np.float32)
        for b in range(bcast_col.size):
            j = bcast_col[b]
            a_flt = act_float[j]
            for v in range(size):
                terms_float[v] = codebook_float[v] * a_flt  # a float32 product (A5)
            for e in range(col_start[j], col_start[j + 1]):
                x = row_code[e]
                g = x >> 8
                acc_float[g] = acc_float[g] + terms_float[x & 255]


@njit(**NUMBA_OPTIONS)
def frontend_events(program, acts, timing, columns, arith, codebook, out):
    """The front end (T2-T8, T11) from the push and pop cycle of every broadcast.

    Same results as :func:`frontend_cycles`, which it equals exactly, from the layer's column
    view instead of its per-PE storage. It visits each (broadcast, PE) pair once instead of each
    (cycle, PE) pair: :func:`_schedule` computes the cycles and counts, :func:`_accumulate` the
    values. Every PE pushes and pops all B broadcasts before T, and
    T = max(CCU end, max_p free_p(B - 1)) (T8).
    """
    n = timing.num_pes
    pe_counts, ccu_counts = out.pe_counts, out.ccu_counts
    bcast_col, scans_before, trailing_scans = _broadcasts(program)
    num_bcasts = bcast_col.size
    last_push, stalls, last_free = _schedule(bcast_col, scans_before, timing, columns,
                                             pe_counts)
    _accumulate(bcast_col, acts, columns, arith, codebook, out)
    ccu_end = last_push + 1 + trailing_scans  # the cycle after the CCU's last (T2)
    frontend = max(ccu_end, last_free)

    ccu_counts[_CCU_ACTIVE] += ccu_end  # the CCU works in every cycle until its program ends
    ccu_counts[_BROADCASTS] += num_bcasts
    ccu_counts[_BCAST_STALLS] += stalls
    ccu_counts[_SCANS] += program.size - num_bcasts
    for p in range(n):
        entries = pe_counts[p, _ENTRIES]
        macs = entries - pe_counts[p, _PADDING]
        pe_counts[p, _PUSHES] += num_bcasts
        pe_counts[p, _POPS] += num_bcasts
        pe_counts[p, _PTR_READS] += num_bcasts
        pe_counts[p, _DECODES] += entries  # every entry is decoded (T7)
        pe_counts[p, _MACS] += macs
        pe_counts[p, _ACC_WRITES] += macs
        pe_counts[p, _ACC_READS] += macs - pe_counts[p, _BYPASSES]
        # T11: the cycles before T in which PE p was neither busy nor stalled.
        pe_counts[p, _IDLE] += frontend - pe_counts[p, _BUSY] - pe_counts[p, _STALL]
    # One accumulator array is empty, the other holds the layer's outputs.
    _finish_counts(pe_counts, n, acts.fixed.size // n, out.acc_fixed.size + out.acc_float.size)
    return frontend
