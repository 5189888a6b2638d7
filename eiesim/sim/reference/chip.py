"""The whole chip: CCU + LNZD tree + N PEs on one clock, and the per-cycle bookkeeping.

The chip is not a hardware unit; it wires the units together, classifies every front-end cycle
of every PE (T11), detects the end of the front end (T8) and collects the counts.
"""

from __future__ import annotations

import random
from heapq import heappush

import numpy as np
import simpy

from eiesim.actions import PE_INDEX
from eiesim.sim.prepare import PreparedInputs
from eiesim.sim.reference.ccu import CCU, build_lnzd_tree
from eiesim.sim.reference.clock import Clock
from eiesim.sim.reference.pe import ProcessingElement
from eiesim.sim.result import EngineOutput

BUSY = PE_INDEX["busy_cycles"]
STALL = PE_INDEX["stall_cycles"]
IDLE = PE_INDEX["idle_cycles"]


class ShufflingEnvironment(simpy.Environment):
    """A SimPy environment that breaks ties at random: events due at the same time (and
    priority) are processed in a random order, and so are the callbacks (waiting processes) of
    each event. SimPy's own order is first-scheduled, first-served. The model must give the
    same result either way, since the clock's phases, not tie-breaking, order its work."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self._rng = random.Random(seed)

    def schedule(self, event, priority=simpy.events.NORMAL, delay=0) -> None:
        if event.callbacks:
            self._rng.shuffle(event.callbacks)
        heappush(self._queue, (self._now + delay, priority,
                               (self._rng.random(), next(self._eid)), event))


class Chip:
    """EIE with ``spec.num_pes`` PEs running one layer.

    With a ``shuffle_seed`` the units' processes start in a shuffled order and a
    :class:`ShufflingEnvironment` breaks every tie at random (for tests: results must not
    change)."""

    def __init__(self, prepared: PreparedInputs, trace=None,
                 shuffle_seed: int | None = None) -> None:
        self.prepared = prepared
        self.trace = trace
        spec = prepared.spec
        self.env = env = simpy.Environment() if shuffle_seed is None \
            else ShufflingEnvironment(shuffle_seed)
        self.clock = Clock(env, self.account)
        self.frontend_cycles: int | None = None
        self.frontend_done = env.event()
        self.pes = [ProcessingElement(env, self.clock, p, prepared, trace)
                    for p in range(spec.num_pes)]
        self.lnzd_levels = build_lnzd_tree(env, self.pes, spec.lnzd_fanin)
        root = self.lnzd_levels[-1][0]
        self.ccu = CCU(env, self.clock, root, self.pes, prepared.scan_length, trace,
                       input_groups=prepared.layer.padded_in_features // spec.num_pes,
                       regs_per_pe=spec.act_regs_per_file,
                       activations_per_access=spec.activations_per_sram_access,
                       whole_input=spec.source_regs_hold_whole_input)

        # (generator, is an activation read/write unit): the run ends when all of those finish.
        generators = [(self.ccu.run(), False)]
        generators += [(node.run(), False) for level in self.lnzd_levels for node in level]
        for pe in self.pes:
            generators += [(unit, False) for unit in pe.processes()]
            generators.append((pe.act_rw.run(self.frontend_done), True))
        if shuffle_seed is not None:
            random.Random(shuffle_seed).shuffle(generators)
        relu_processes = [process for process, is_act_rw in
                          ((env.process(generator), flag) for generator, flag in generators)
                          if is_act_rw]
        self.finished = env.all_of(relu_processes)

    def account(self, cycle: int) -> None:
        """End of cycle ``cycle``: classify it for every PE (T11), then check T8."""
        if self.frontend_cycles is not None:
            return
        stalled = self.ccu.stalled
        trace = self.trace
        for pe in self.pes:
            if pe.worked:
                pe.counts[BUSY] += 1
                pe.worked = False
            elif stalled:
                pe.counts[STALL] += 1  # starved: another PE's full queue stalled the broadcast
                if trace is not None:
                    trace.record(f"pe{pe.index}", "stall", cycle)
            else:
                pe.counts[IDLE] += 1
                if trace is not None:
                    trace.record(f"pe{pe.index}", "idle", cycle)
        # T8: the front end ends at the first cycle at whose start the CCU has no cycle left
        # and every PE's queue and sparse-matrix read unit are empty.
        if self.ccu.done and all(not pe.act_queue.entries and pe.spmat_read.column is None
                                 for pe in self.pes):
            self.frontend_cycles = cycle + 1
            if trace is not None:
                trace.record("chip", "frontend_end", cycle + 1)
            self.frontend_done.succeed()

    def run(self) -> EngineOutput:
        with np.errstate(over="ignore", invalid="ignore"):
            self.env.run(until=self.finished)
        prepared = self.prepared
        layer = prepared.layer
        n = prepared.spec.num_pes
        dtype = np.int64 if prepared.is_fixed else np.float32
        accumulators = np.zeros(layer.out_features, dtype=dtype)
        for pe in self.pes:
            # Local row r of PE p is output row r * N + p (docs/hardware.md §2).
            accumulators[pe.index::n] = np.asarray(pe.arith.acc, dtype=dtype)
        # The last cycle the clock ran belongs to the layer, except with ReLU on the way out
        # (T10, R = 0): then the outputs were read at the start of cycle T + P, the next layer's.
        total_cycles = self.clock.cycle + (1 if prepared.spec.relu_outputs_per_cycle else 0)
        if self.trace is not None:
            end_latency = prepared.spec.end_of_layer_latency_cycles
            if end_latency:
                self.trace.record("chip", "end_latency", total_cycles - end_latency,
                                  cycles=end_latency)
            self.trace.finish(frontend_cycles=self.frontend_cycles, total_cycles=total_cycles)
        return EngineOutput(
            frontend_cycles=self.frontend_cycles,
            accumulators=accumulators,
            pe_counts=np.array([pe.counts for pe in self.pes], dtype=np.int64),
            ccu_counts=np.array(self.ccu.counts, dtype=np.int64),
            trace=self.trace,
        )
