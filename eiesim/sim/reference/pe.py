"""One processing element: the five units of the paper's PE pipeline (docs/hardware.md §3, the
paper's Table II).

Each unit is a SimPy process driven by the clock's phases (see ``clock.py``): in the decide
phase it reads committed state and stages updates; in the commit phase the unit that owns a
piece of state applies the staged updates to it (T4). A unit with nothing to do sleeps on an
event instead of polling; it decides to sleep only from its own committed state or from state
that cannot change before the event that wakes it.

* :class:`ActQueue`   activation queue: FIFO of (a_j, j) (T3, T4)
* :class:`PtrRead`    pointer read: even/odd pointer banks, pops the queue (T5)
* :class:`SpmatRead`  sparse-matrix read: one entry a cycle, SRAM line register (T6)
* :class:`Arith`      arithmetic unit: decode, address accumulation, MAC, bypass (T7, A3, A5)
* :class:`ActRw`      activation read/write: source reads for the LNZD, ReLU, write-back (T10)
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np
import simpy

from eiesim.actions import PE_EVENTS, PE_INDEX

if TYPE_CHECKING:  # pragma: no cover
    from eiesim.sim.prepare import PreparedInputs
    from eiesim.sim.reference.clock import Clock

PUSHES = PE_INDEX["act_queue_pushes"]
POPS = PE_INDEX["act_queue_pops"]
SRC_READS = PE_INDEX["src_act_reads"]
SRAM_READS = PE_INDEX["act_sram_reads"]
POINTER_READS = PE_INDEX["pointer_reads"]
EMPTY_COLUMNS = PE_INDEX["empty_columns"]
LINE_READS = PE_INDEX["spmat_line_reads"]
ENTRIES = PE_INDEX["entries"]
PADDING = PE_INDEX["padding_entries"]
DECODES = PE_INDEX["codebook_decodes"]
MACS = PE_INDEX["macs"]
ACC_READS = PE_INDEX["acc_reads"]
ACC_WRITES = PE_INDEX["acc_writes"]
BYPASSES = PE_INDEX["bypasses"]
RELU_OPS = PE_INDEX["relu_ops"]
WRITEBACKS = PE_INDEX["act_writebacks"]


def _wake(event: simpy.Event | None) -> None:
    if event is not None and not event.triggered:
        event.succeed()


class Column:
    """A column loaded into the sparse-matrix read unit: entries [start, end) of the PE."""

    __slots__ = ("index", "act", "start", "end", "next_addr")

    def __init__(self, index: int, act, start: int, end: int) -> None:
        self.index = index
        self.act = act
        self.start = start
        self.end = end
        self.next_addr = start  # the entry issued in the coming cycle

    @property
    def remaining(self) -> int:
        return self.end - self.next_addr


class Issued:
    """An entry travelling down the arithmetic pipeline; stage 1 fills in weight and row."""

    __slots__ = ("v", "z", "act", "first", "weight", "row")

    def __init__(self, v: int, z: int, act, first: bool) -> None:
        self.v = v
        self.z = z
        self.act = act
        self.first = first  # first entry of its column: the row address restarts (T7)
        self.weight = None
        self.row = -1


class ActQueue:
    """The activation queue: holds up to ``depth`` entries (a_j, j) (spec queue convention).

    ``entries`` is the committed content every unit sees during a cycle; the CCU's push and the
    pointer read's pop are staged and applied in the commit phase (T4)."""

    def __init__(self, pe: ProcessingElement, depth: int) -> None:
        self.pe = pe
        self.depth = depth
        self.entries: deque = deque()
        self._push = None
        self._pop = False
        self._staged: simpy.Event | None = None
        self._nonempty: simpy.Event | None = None

    @property
    def full(self) -> bool:
        return len(self.entries) >= self.depth

    def push(self, act, column: int) -> None:
        """CCU, decide phase: (a_j, j) enters the queue at the end of the cycle (T3, T4)."""
        self._push = (act, column)
        _wake(self._staged)

    def pop(self) -> None:
        """Pointer read, decide phase: the head leaves at the end of the cycle (T5)."""
        self._pop = True
        _wake(self._staged)

    def when_nonempty(self) -> simpy.Event:
        """Event fired by the commit that makes the queue non-empty (asked in a decide phase)."""
        self._nonempty = self.pe.env.event()
        return self._nonempty

    def run(self):
        pe = self.pe
        while True:
            self._staged = pe.env.event()
            yield self._staged
            cycle = yield pe.clock.commit
            if self._pop:
                self.entries.popleft()
                pe.counts[POPS] += 1
            if self._push is not None:
                self.entries.append(self._push)
                pe.counts[PUSHES] += 1
            self._push, self._pop = None, False
            if self.entries:
                _wake(self._nonempty)
            if pe.trace is not None:
                # The occupancy the queue has from the start of the next cycle on.
                pe.trace.record(f"pe{pe.index}.act_queue", "occupancy", cycle + 1,
                                entries=len(self.entries))


class PtrRead:
    """Pointer read: p_j and p_(j+1) in one cycle from the even and odd pointer banks (T5)."""

    def __init__(self, pe: ProcessingElement, col_ptr: list[int]) -> None:
        self.pe = pe
        # Two single-ported banks: even addresses in one, odd in the other. p_j comes from the
        # bank of j's parity and p_(j+1) from the other, so both are read in the same cycle.
        self.banks = (col_ptr[0::2], col_ptr[1::2])

    def read_pointers(self, j: int) -> tuple[int, int]:
        start = self.banks[j % 2][j // 2]
        end = self.banks[(j + 1) % 2][(j + 1) // 2]
        return start, end

    def run(self):
        pe = self.pe
        queue, spmat = pe.act_queue, pe.spmat_read
        cycle = yield pe.clock.decide
        while True:
            if not queue.entries:
                # T5 needs a non-empty queue at the start of the cycle. A push committed in this
                # or a later cycle wakes us in that commit phase; we go on in the next cycle.
                yield queue.when_nonempty()
                cycle = yield pe.clock.decide
                continue
            if spmat.free_after_this_cycle():
                act, j = queue.entries[0]
                queue.pop()
                start, end = self.read_pointers(j)
                pe.counts[POINTER_READS] += 1
                pe.worked = True
                if pe.trace is not None:
                    pe.trace.record(f"pe{pe.index}.ptr_read", "pointer_read", cycle,
                                    column=j, entries=end - start)
                if end > start:
                    spmat.load(Column(j, act, start, end))  # issues from the next cycle (T5, T6)
                else:
                    pe.counts[EMPTY_COLUMNS] += 1  # finished in this cycle (T5)
            cycle = yield pe.clock.decide


class SpmatRead:
    """Sparse-matrix read: issues one (v, z) entry per cycle of the loaded column (T6).

    An SRAM line holds ``entries_per_line`` entries; the line register keeps the last line read
    (empty at the start, kept across columns), and a line is read only when the entry's line is
    not in it."""

    def __init__(self, pe: ProcessingElement, v: list[int], z: list[int],
                 entries_per_line: int) -> None:
        self.pe = pe
        self.v = v
        self.z = z
        self.entries_per_line = entries_per_line
        self.column: Column | None = None  # committed
        self.line_register: int | None = None  # committed
        self._load: Column | None = None
        self._line: int | None = None
        self._loaded: simpy.Event | None = None

    def free_after_this_cycle(self) -> bool:
        """T5: holds no column, or issues its column's last entry in this cycle."""
        return self.column is None or self.column.remaining == 1

    def load(self, column: Column) -> None:
        """Pointer read, decide phase: the column is loaded for the next cycle (T5)."""
        self._load = column
        _wake(self._loaded)

    def issue(self, cycle: int) -> None:
        pe = self.pe
        column = self.column
        e = column.next_addr
        line = e // self.entries_per_line
        if line != self.line_register:
            self._line = line
            pe.counts[LINE_READS] += 1
        v = self.v[e]
        pe.arith.accept(Issued(v, self.z[e], column.act, e == column.start))
        pe.counts[ENTRIES] += 1
        if v == 0:
            pe.counts[PADDING] += 1
        pe.worked = True
        if pe.trace is not None and e + 1 == column.end:
            pe.trace.record(f"pe{pe.index}.spmat_read", "column_end", cycle, column=column.index)

    def commit(self) -> None:
        if self._line is not None:
            self.line_register, self._line = self._line, None
        if self.column is not None:
            self.column.next_addr += 1
            if self.column.next_addr == self.column.end:
                self.column = None
        if self._load is not None:
            assert self.column is None, "T5 loads a column only when the previous one ends"
            self.column, self._load = self._load, None

    def run(self):
        pe = self.pe
        cycle = yield pe.clock.decide
        while True:
            if self.column is not None:
                self.issue(cycle)
            yield pe.clock.commit
            self.commit()
            if self.column is None:
                # Nothing to issue: sleep until the pointer read loads a column. It does so in
                # a decide phase; this cycle's commit then makes the column ours.
                self._loaded = pe.env.event()
                yield self._loaded
                self._loaded = None
                cycle = pe.clock.cycle
            else:
                cycle = yield pe.clock.decide


class Arith:
    """Arithmetic unit: P stages, never stalls (T7).

    Stage 1 decodes v through the codebook and accumulates the row address (restarting at -1
    for each column, advancing by z + 1 for every entry, padding included). The last stage
    reads the destination accumulator, multiplies and adds (A3 or A5) and writes it back; a real
    entry whose row was written by the previous cycle's entry is served by the bypass instead of
    an accumulator read. With T4 register semantics the value the bypass forwards equals the
    committed one, so only the read it saves is counted. Padding entries write nothing."""

    def __init__(self, pe: ProcessingElement, prepared: PreparedInputs, rows: int) -> None:
        self.pe = pe
        spec = prepared.spec
        self.is_fixed = prepared.is_fixed
        if self.is_fixed:
            self.codebook = [int(c) for c in prepared.codebook_fixed]
            self.acc = [0] * rows
            self.weight_frac_bits = prepared.weight_frac_bits
            self.acc_min, self.acc_max = prepared.acc_min, prepared.acc_max
        else:
            self.codebook = [np.float32(c) for c in prepared.codebook_float]
            self.acc = [np.float32(0.0)] * rows
        self.stages: list[Issued | None] = [None] * spec.arith_pipeline_stages  # committed
        self.address = -1  # committed row-address register of stage 1
        self.last_write_row: int | None = None  # committed: row written in the previous cycle
        self._input: Issued | None = None
        self._address: int | None = None
        self._write: tuple[int, object] | None = None
        self._woken: simpy.Event | None = None

    def accept(self, entry: Issued) -> None:
        """Sparse-matrix read, decide phase: the entry enters stage 1 next cycle."""
        self._input = entry
        _wake(self._woken)

    def mac(self, acc, weight, act):
        if self.is_fixed:
            # A3: exact product, rounded shift into activation format, saturating add.
            product = weight * act
            frac = self.weight_frac_bits
            shifted = (product + (1 << (frac - 1))) >> frac if frac > 0 else product
            return min(max(acc + shifted, self.acc_min), self.acc_max)
        # A5: float32 product, then float32 sum (no fused multiply-add).
        return acc + weight * act

    def work(self) -> None:
        pe = self.pe
        first = self.stages[0]
        if first is not None:
            first.weight = self.codebook[first.v]
            pe.counts[DECODES] += 1
            first.row = (-1 if first.first else self.address) + first.z + 1
            self._address = first.row
        last = self.stages[-1]
        if last is not None and last.v != 0:
            if last.row == self.last_write_row:
                pe.counts[BYPASSES] += 1
            else:
                pe.counts[ACC_READS] += 1
            self._write = (last.row, self.mac(self.acc[last.row], last.weight, last.act))
            pe.counts[MACS] += 1
            pe.counts[ACC_WRITES] += 1

    def commit(self) -> None:
        self.stages = [self._input] + self.stages[:-1]
        self._input = None
        if self._address is not None:
            self.address, self._address = self._address, None
        if self._write is not None:
            row, value = self._write
            self.acc[row] = value
            self.last_write_row, self._write = row, None
        else:
            self.last_write_row = None

    def run(self):
        pe = self.pe
        yield pe.clock.decide
        while True:
            self.work()
            yield pe.clock.commit
            self.commit()
            if all(stage is None for stage in self.stages):
                # Empty pipeline: sleep until the sparse-matrix read issues an entry (in a decide
                # phase; work() then has nothing to do and the commit shifts the entry in).
                self._woken = pe.env.event()
                yield self._woken
                self._woken = None
            else:
                yield pe.clock.decide


class ActRw:
    """Activation read/write: the source register file read by the local LNZD (one read per
    group, T11), and after the drain ReLU and write-back of the PE's rows (T9, T10)."""

    def __init__(self, pe: ProcessingElement, prepared: PreparedInputs, rows: int) -> None:
        self.pe = pe
        n = prepared.spec.num_pes
        slots = range(pe.index, prepared.scan_length, n)
        values = prepared.act_fixed if prepared.is_fixed else prepared.act_float
        # Source activations of this PE: a_s for the slots s = p, p + N, p + 2N, ... (T1), as
        # the hardware holds them (A1 fixed point, or float32 per A5).
        self.source = [(s, int(values[s]) if prepared.is_fixed else values[s],
                        bool(prepared.nonzero[s])) for s in slots]
        self.rows = rows
        self.drain_cycles = prepared.spec.arith_pipeline_stages
        self.relu_per_cycle = prepared.spec.relu_outputs_per_cycle
        self.end_latency = prepared.spec.end_of_layer_latency_cycles
        self.destination: list = []

    def load_source_access(self) -> None:
        """One activation-SRAM access of an input-batch load (T12)."""
        self.pe.counts[SRAM_READS] += 1

    def read_source(self, group: int) -> tuple[int, object, bool]:
        """The local LNZD latches this PE's activation of ``group``: (slot, a_slot, non-zero)."""
        self.pe.counts[SRC_READS] += 1
        return self.source[group]

    def run(self, frontend_done: simpy.Event):
        pe = self.pe
        yield frontend_done  # fired at the end of cycle T - 1 (T8)
        for _ in range(self.drain_cycles + 1):  # T9: cycles T .. T + P - 1 drain the pipeline
            cycle = yield pe.clock.decide
        assert all(stage is None for stage in pe.arith.stages), "T9: P cycles drain everything"
        if self.relu_per_cycle == 0:
            # T14: cycles T + P .. T + P + E - 1 still belong to the layer.
            for _ in range(self.end_latency):
                cycle = yield pe.clock.decide
            # T10 with R = 0: ReLU is applied as the outputs leave the destination registers.
            # They are read here, at the start of cycle T + P + E, which belongs to the next
            # layer.
            self.destination.extend(max(acc, 0) for acc in pe.arith.acc)
            pe.counts[RELU_OPS] += self.rows
            pe.counts[WRITEBACKS] += self.rows
            return  # no cycle of its own, so no ReLU slice in a trace
        start = cycle
        done = 0
        while done < self.rows:  # T10: relu_outputs_per_cycle rows per cycle
            chunk = min(self.relu_per_cycle, self.rows - done)
            self.destination.extend(max(acc, 0) for acc in pe.arith.acc[done:done + chunk])
            pe.counts[RELU_OPS] += chunk
            pe.counts[WRITEBACKS] += chunk
            done += chunk
            if done < self.rows:
                cycle = yield pe.clock.decide
        if pe.trace is not None and self.rows:
            pe.trace.record(f"pe{pe.index}.act_rw", "relu", start, cycles=cycle - start + 1,
                            rows=self.rows)
        for _ in range(self.end_latency):  # T14: the layer is done E cycles after its ReLU
            yield pe.clock.decide


class ProcessingElement:
    """PE p: owns rows p, p + N, p + 2N, ... and its slice of every column (docs/hardware.md §2)."""

    def __init__(self, env: simpy.Environment, clock: Clock, index: int,
                 prepared: PreparedInputs, trace=None) -> None:
        self.env = env
        self.clock = clock
        self.index = index
        self.trace = trace
        self.counts = [0] * len(PE_EVENTS)
        self.worked = False  # pointer read or sparse-matrix read worked this cycle (T11)
        spec, layer = prepared.spec, prepared.layer
        rows = int(layer.rows_per_pe[index])
        lo, hi = int(layer.pe_offsets[index]), int(layer.pe_offsets[index + 1])
        self.act_queue = ActQueue(self, spec.act_queue_depth)
        self.ptr_read = PtrRead(self, [int(p) for p in layer.col_ptr[index]])
        self.spmat_read = SpmatRead(self, layer.entry_v[lo:hi].tolist(),
                                    layer.entry_z[lo:hi].tolist(), spec.entries_per_sram_line)
        self.arith = Arith(self, prepared, rows)
        self.act_rw = ActRw(self, prepared, rows)

    def processes(self) -> list:
        """The generators of this PE's pipeline units, to be started as SimPy processes (the
        activation read/write unit's process is started by the chip, which waits for it)."""
        return [self.act_queue.run(), self.ptr_read.run(), self.spmat_read.run(),
                self.arith.run()]
