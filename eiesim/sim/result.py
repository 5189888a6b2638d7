"""EngineOutput (what an engine returns) and SimResult (what users get)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eiesim.actions import CCU_EVENTS, CCU_INDEX, PE_EVENTS, PE_INDEX
from eiesim.spec import HardwareSpec


@dataclass(frozen=True, eq=False)
class EngineOutput:
    """Raw output of one engine run; both engines must produce identical ones."""

    frontend_cycles: int  # T of rule T8
    accumulators: np.ndarray  # (out,) int64 in fixed point, float32 in float32, before ReLU
    pe_counts: np.ndarray  # int64 (num_pes, len(PE_EVENTS))
    ccu_counts: np.ndarray  # int64 (len(CCU_EVENTS),)
    trace: Any = None  # engine-specific trace recorder, if one was requested


@dataclass(frozen=True, eq=False)
class SimResult:
    """The result of simulating one layer: timing, event counts and outputs.

    Cycle counts follow the timing contract in :mod:`eiesim.sim` (rules T1-T14).
    """

    engine: str
    spec: HardwareSpec
    out_features: int
    in_features: int
    frontend_cycles: int
    drain_cycles: int
    relu_cycles: int
    outputs: np.ndarray  # float64 (out,), after ReLU, in the configured arithmetic
    pre_activations: np.ndarray  # float64 (out,), before ReLU, in the configured arithmetic
    float_reference_of: Callable[[], np.ndarray] = field(repr=False)
    """Returns relu(W a + b) in float64 with the codebook values exact (see float_reference)."""
    pe_counts: np.ndarray
    ccu_counts: np.ndarray
    wall_time_s: float  # the engine runs alone (no preparation, warm-up or float reference)
    act_frac_bits: int = 0
    weight_frac_bits: int = 0
    trace: Any = field(default=None, repr=False)
    writeback_cycles: int = 0  # T13: output batches written to the activation SRAM
    output_batches: int = 1  # T13
    stored_entries: int = 0  # entries the sparse-matrix SRAMs hold, padding included
    stored_padding_entries: int = 0  # padding entries among them
    end_latency_cycles: int = 0  # T14: after the last write-back, once per layer

    @functools.cached_property
    def float_reference(self) -> np.ndarray:
        """float64 (out,): relu(W a + b) with the codebook values exact, computed on first use
        (and kept by the layer for the same input)."""
        return self.float_reference_of()

    # --- timing ------------------------------------------------------------------------------
    @property
    def cycles(self) -> int:
        """Total cycles of the layer: T + P + R (rules T8-T10), summed over output batches,
        plus the output batches' write-back to the activation SRAM (T13) and the end-of-layer
        latency (T14). The components are ``frontend_cycles``, ``drain_cycles``,
        ``relu_cycles``, ``writeback_cycles`` and ``end_latency_cycles``."""
        return self.frontend_cycles + self.drain_cycles + self.relu_cycles + \
            self.writeback_cycles + self.end_latency_cycles

    @property
    def time_s(self) -> float:
        return self.cycles / self.spec.clock_hz

    # --- counts ------------------------------------------------------------------------------
    def pe_count(self, name: str) -> np.ndarray:
        """Per-PE count of one event of :data:`eiesim.actions.PE_EVENTS`."""
        return self.pe_counts[:, PE_INDEX[name]]

    def ccu_count(self, name: str) -> int:
        return int(self.ccu_counts[CCU_INDEX[name]])

    def total(self, name: str) -> int:
        """An event's count summed over the chip."""
        if name in CCU_INDEX:
            return self.ccu_count(name)
        return int(self.pe_count(name).sum())

    def event_totals(self) -> dict[str, int]:
        return {name: self.total(name) for name in CCU_EVENTS + PE_EVENTS}

    @property
    def macs(self) -> int:
        return self.total("macs")

    @property
    def issued_entries(self) -> int:
        """Entries issued to the arithmetic units (padding included): each costs one cycle
        (rule T6). Only broadcast columns issue, and each output batch issues its own."""
        return self.total("entries")

    @property
    def issued_padding_entries(self) -> int:
        """Padding entries issued (rule T7: decoded, never written)."""
        return self.total("padding_entries")

    @property
    def broadcasts(self) -> int:
        return self.ccu_count("broadcasts")

    @property
    def broadcast_stall_cycles(self) -> int:
        return self.ccu_count("broadcast_stall_cycles")

    @property
    def pointer_reads(self) -> int:
        return self.total("pointer_reads")

    @property
    def spmat_reads(self) -> int:
        return self.total("spmat_line_reads")

    @property
    def busy_cycles(self) -> np.ndarray:
        return self.pe_count("busy_cycles")

    @property
    def stall_cycles(self) -> np.ndarray:
        return self.pe_count("stall_cycles")

    @property
    def idle_cycles(self) -> np.ndarray:
        return self.pe_count("idle_cycles")

    # --- derived metrics ---------------------------------------------------------------------
    @property
    def load_efficiency(self) -> float:
        """Share of all PE-cycles of the layer in which a PE was busy (rule T11):
        sum over PEs of busy cycles / (num_pes * cycles). 1.0 means every PE worked every cycle;
        load imbalance, queue stalls, LNZD scan cycles, pipeline fill and drain lower it. A
        cycle spent issuing a padding entry counts as busy, so a chip that pads more (fewer
        index bits) can look better balanced while it gets slower: see
        :attr:`mac_utilization`."""
        return float(self.busy_cycles.sum()) / (self.spec.num_pes * self.cycles)

    @property
    def mac_utilization(self) -> float:
        """Share of all PE-cycles that performed a useful MAC: macs / (num_pes * cycles).
        Unlike load efficiency, padding entries and pointer reads of empty columns do not
        count, so it falls when a chip spends cycles on padding."""
        return self.macs / (self.spec.num_pes * self.cycles)

    @property
    def load_imbalance(self) -> float:
        """Busiest PE's busy cycles over the mean PE's (1.0 = perfectly balanced work)."""
        mean = float(self.busy_cycles.mean())
        return float(self.busy_cycles.max()) / mean if mean else 1.0

    @property
    def dense_ops(self) -> int:
        """Operations of the dense layer: a multiply and an add per weight (and bias)."""
        return 2 * self.out_features * self.in_features

    @property
    def effective_gops(self) -> float:
        """Dense-equivalent throughput: dense_ops / time, in GOP/s (the paper's measure)."""
        return self.dense_ops / self.time_s / 1e9

    @property
    def useful_gops(self) -> float:
        """Operations actually performed (2 per MAC) per second, in GOP/s."""
        return 2 * self.macs / self.time_s / 1e9

    @property
    def padding_cycles(self) -> int:
        """Issue cycles spent on padding entries by the busiest PE (each costs one cycle, T6)."""
        busiest = int(np.argmax(self.busy_cycles))
        return int(self.pe_count("padding_entries")[busiest])

    @property
    def max_abs_error(self) -> float:
        """Largest |output - float reference| over the outputs."""
        return float(np.max(np.abs(self.outputs - self.float_reference)))

    @property
    def relative_error(self) -> float:
        """||output - float reference|| / ||float reference|| (0 when both are 0)."""
        norm = float(np.linalg.norm(self.float_reference))
        diff = float(np.linalg.norm(self.outputs - self.float_reference))
        return diff / norm if norm else diff
