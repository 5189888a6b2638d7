"""Summaries of a SimResult: a flat dict (for JSON and DataFrames) and a readable table."""

from __future__ import annotations

import platform
from typing import Any

import numpy as np

from eiesim.sim.result import SimResult

# Scalar metrics of one run, in the order tables and sweeps show them: name -> (label, how).
SCALAR_METRICS: dict[str, str] = {
    "cycles": "total cycles = front end + drain + ReLU + write-back + end latency (rules "
              "T8-T10, T13, T14)",
    "frontend_cycles": "front-end cycles T, summed over output batches (rule T8)",
    "drain_cycles": "arithmetic pipeline drain, P per output batch (rule T9)",
    "relu_cycles": "cycles of a separate ReLU pass; 0 when ReLU is applied on the way out "
                   "(rule T10)",
    "writeback_cycles": "output batches written to the activation SRAM (rule T13)",
    "end_latency_cycles": "cycles after the last write-back before the layer is done "
                          "(rule T14; 0 on the paper's chip)",
    "output_batches": "runs of the layer, one per output batch (rule T13)",
    "time_s": "cycles / clock",
    "effective_gops": "dense-equivalent GOP/s (2 * out * in / time)",
    "useful_gops": "GOP/s actually performed (2 per MAC)",
    "load_efficiency": "sum of PE busy cycles / (PEs * cycles); padding cycles count as busy",
    "mac_utilization": "useful MACs / (PEs * cycles): padding does not count",
    "load_imbalance": "busiest PE's busy cycles / mean",
    "broadcasts": "non-zero activations broadcast (bias included)",
    "broadcast_stall_cycles": "cycles the broadcast waited on a full queue",
    "lnzd_scan_cycles": "CCU cycles without a broadcast",
    "macs": "useful multiply-accumulates",
    "issued_entries": "entries issued to the arithmetic units, padding included",
    "issued_padding_entries": "padding entries issued",
    "stored_entries": "entries the sparse-matrix SRAMs hold, padding included",
    "stored_padding_entries": "padding entries stored",
    "padding_cycles": "issue cycles the busiest PE spent on padding",
    "pointer_reads": "column pointer pairs read",
    "spmat_reads": "sparse-matrix SRAM line reads",
    "bypasses": "accumulator bypasses",
    "max_abs_error": "largest |output - float reference|",
    "relative_error": "||output - float reference|| / ||float reference||",
    "wall_time_s": "wall time of the simulation itself",
}

SCHEMA_VERSION = 1
"""Version of the JSON results' layout (``eiesim run --json``, network results)."""


CYCLE_COMPONENTS = ("frontend_cycles", "drain_cycles", "relu_cycles", "writeback_cycles",
                    "end_latency_cycles")
"""The parts of ``cycles``; they add up to it exactly, also for layers run in output batches."""


def metrics(result: SimResult) -> dict[str, Any]:
    """Every scalar metric of :data:`SCALAR_METRICS` as plain Python numbers."""
    values: dict[str, Any] = {}
    for name in SCALAR_METRICS:
        if name in ("lnzd_scan_cycles", "bypasses"):
            value: Any = result.total(name)
        else:
            value = getattr(result, name)
        values[name] = value.item() if isinstance(value, np.generic) else value
    return values


def to_dict(result: SimResult, *, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON payload of ``eiesim run --json``: metrics, per-PE counters, config, metadata."""
    payload: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "engine": result.engine}
    payload.update(metrics(result))
    payload["per_pe_busy_cycles"] = result.busy_cycles.tolist()
    payload["per_pe_stall_cycles"] = result.stall_cycles.tolist()
    payload["per_pe_idle_cycles"] = result.idle_cycles.tolist()
    payload["events"] = result.event_totals()
    payload["config"] = result.spec.to_dict()
    payload["fixed_point"] = ({"act_frac_bits": result.act_frac_bits,
                               "weight_frac_bits": result.weight_frac_bits}
                              if result.spec.is_fixed_point else None)
    payload["shape"] = {"out": result.out_features, "in": result.in_features}
    payload["metadata"] = metadata or {}
    return payload


def _si(value: float, unit: str) -> str:
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"),
                           (1e-6, "µ"), (1e-9, "n"), (1e-12, "p")):
        if abs(value) >= factor:
            return f"{value / factor:.3f} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def format_table(result: SimResult, *, title: str = "") -> str:
    """A readable multi-line summary of one run."""
    spec = result.spec
    busy, stall, idle = result.busy_cycles, result.stall_cycles, result.idle_cycles
    padding_share = result.issued_padding_entries / max(result.issued_entries, 1)
    rows = [
        ("layer", f"{result.out_features} x {result.in_features} on {spec.num_pes} PEs, "
                  f"queue depth {spec.act_queue_depth}, {spec.arithmetic}"),
        ("cycles", f"{result.cycles:,}  (front end {result.frontend_cycles:,} + drain "
                   f"{result.drain_cycles:,} + ReLU {result.relu_cycles:,} + write-back "
                   f"{result.writeback_cycles:,} + end latency "
                   f"{result.end_latency_cycles:,}; {result.output_batches} output "
                   f"batch{'es' if result.output_batches > 1 else ''})"),
        ("time", f"{_si(result.time_s, 's')} at {_si(spec.clock_hz, 'Hz')}"),
        ("throughput", f"{result.effective_gops:,.1f} GOP/s dense-equivalent, "
                       f"{result.useful_gops:,.1f} GOP/s useful"),
        ("load efficiency", f"{result.load_efficiency:.1%}  (busy PE-cycles / all PE-cycles, "
                            f"padding counts as busy); imbalance max/mean busy "
                            f"{result.load_imbalance:.3f}"),
        ("MAC utilization", f"{result.mac_utilization:.1%}  (useful MACs / all PE-cycles)"),
        ("PE busy cycles", f"min {busy.min():,}  mean {busy.mean():,.1f}  max {busy.max():,}"),
        ("PE stall cycles", f"min {stall.min():,}  mean {stall.mean():,.1f}  max {stall.max():,}"
                            "  (starved while the broadcast waited)"),
        ("PE idle cycles", f"min {idle.min():,}  mean {idle.mean():,.1f}  max {idle.max():,}"),
        ("broadcasts", f"{result.broadcasts:,}  ({result.broadcast_stall_cycles:,} stall cycles, "
                       f"{result.total('lnzd_scan_cycles'):,} LNZD scan cycles)"),
        ("issued entries", f"{result.issued_entries:,}  ({result.issued_padding_entries:,} "
                           f"padding = {padding_share:.1%}; busiest PE spent "
                           f"{result.padding_cycles:,} cycles on padding)"),
        ("stored entries", f"{result.stored_entries:,}  ({result.stored_padding_entries:,} "
                           f"padding)"),
        ("useful MACs", f"{result.macs:,}"),
        ("pointer reads", f"{result.pointer_reads:,}"),
        ("SRAM line reads", f"{result.spmat_reads:,}"),
        ("output error", f"max |Δ| {result.max_abs_error:.3g}, relative "
                         f"{result.relative_error:.3g} vs float64 reference"),
        ("simulation", f"{_si(result.wall_time_s, 's')} wall ({result.engine} engine)"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [title] if title else []
    lines += [f"{label:<{width}}  {value}" for label, value in rows]
    return "\n".join(lines)


def energy_fields(energy: Any, area: Any) -> dict[str, Any]:
    """JSON fields of an EnergyReport and AreaReport (see eiesim.energy)."""
    return {
        "energy_j": energy.energy_j,
        "power_w": energy.power_w,
        "pj_per_mac": None if energy.macs == 0 else energy.pj_per_mac,
        "inferences_per_j": energy.inferences_per_j,
        "energy_breakdown": dict(energy.by_unit),
        "energy_by_kind": dict(energy.by_kind),
        "energy_by_event": dict(energy.by_event),
        "dense_baseline_energy_j": energy.dense_baseline_j,
        "energy_savings_vs_dense": energy.savings_vs_dense,
        "energy_table": energy.table_name,
        "area_mm2": area.chip_mm2,
        "edp_js": energy.energy_j * energy.time_s,
        "edap_jsm2": energy.energy_j * energy.time_s * area.chip_mm2 * 1e-6,
        "area_breakdown_mm2": dict(area.chip_by_unit_mm2),
    }


def format_energy(energy: Any, area: Any) -> str:
    """Readable energy, power and area lines to follow :func:`format_table`."""
    breakdown = ", ".join(f"{unit} {share:.1%}" for unit, share in
                          sorted(energy.shares.items(), key=lambda item: -item[1]))
    per_mac = "n/a (no MAC)" if energy.macs == 0 else f"{energy.pj_per_mac:.2f} pJ"
    rows = [
        ("energy", f"{_si(energy.energy_j, 'J')} per inference, {per_mac} per useful MAC, "
                   f"{energy.inferences_per_j:,.0f} inferences/J"),
        ("power", f"{_si(energy.power_w, 'W')} average ({energy.table_name})"),
        ("energy by unit", breakdown),
        ("dense baseline", f"{_si(energy.dense_baseline_j, 'J')} with dense 16-bit weights from "
                           f"DRAM: compression and sparsity save {energy.savings_vs_dense:,.0f}x"),
        ("area", f"{area.chip_mm2:.2f} mm² ({area.pe_mm2:.3f} mm² per PE)"),
    ]
    width = 16
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def environment_metadata() -> dict[str, Any]:
    """Versions of eiesim and the packages that decide its numbers, and the machine. SimPy's
    version is there when the reference engine ran in this process (it decides no number of
    the fast engine, and importing it only to read its version costs start-up time)."""
    import sys

    import numba

    from eiesim.version import __version__

    metadata = {
        "eiesim": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "machine": platform.machine(),
        "platform": platform.platform(),
    }
    if "simpy" in sys.modules:
        metadata["simpy"] = sys.modules["simpy"].__version__
    return metadata
