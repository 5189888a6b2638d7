"""Energy of a simulated layer (counts x energy per event, plus clock and leakage over time),
and the energy of the same layer on a dense machine, for comparison."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from eiesim.actions import UNITS
from eiesim.energy.events import ENERGY_EVENTS, PE_UNITS, UNIT_OF, event_counts
from eiesim.energy.table import EnergyTable, EnergyTableError, default_energy_table
from eiesim.spec import HardwareSpec

KINDS = ("events", "clock", "leakage")
"""Energy by kind: per-event (dynamic) energy, clock network per cycle, leakage per second."""

DENSE_UNITS = ("ccu", "act_queue", "arith", "act_rw")
"""Units a dense machine keeps: no sparse-matrix or pointer SRAM (its weights are in DRAM)."""


def _nan_to_none(value: float) -> float | None:
    return None if isinstance(value, float) and math.isnan(value) else value


@dataclass(frozen=True)
class DenseBaseline:
    """One dense layer on the same array, its 16-bit weights streamed from DRAM."""

    out_features: int
    in_features: int
    activation_density: float
    weights_read: int
    macs: int
    cycles: int
    dram_j: float
    compute_j: float
    static_j: float

    @property
    def energy_j(self) -> float:
        return self.dram_j + self.compute_j + self.static_j

    def to_dict(self) -> dict[str, Any]:
        return {"out_features": self.out_features, "in_features": self.in_features,
                "activation_density": self.activation_density,
                "weights_read": self.weights_read, "macs": self.macs, "cycles": self.cycles,
                "dram_j": self.dram_j, "compute_j": self.compute_j, "static_j": self.static_j,
                "energy_j": self.energy_j}


def dense_baseline_energy(out_features: int, in_features: int, spec: HardwareSpec,
                          table: EnergyTable | None = None, *,
                          activation_density: float = 1.0) -> DenseBaseline:
    """Energy of ``W a`` with W dense (out x in, ``data_bits``-bit weights) on the same array.

    The weights do not fit on chip (a dense Alex-6 is 75 MB), so each one used is read from
    DRAM: ``data_bits`` x the table's DRAM energy per bit (Table I: 640 pJ per 32 bits, so
    320 pJ per 16-bit weight). Columns whose activation is 0 are skipped when
    ``activation_density`` < 1 (the fraction of inputs kept; 1.0 = fully dense). Each used
    weight is one MAC: the table's ``macs`` energy plus an accumulator read and write; each used
    column one broadcast, through every PE's queue. Every PE does one MAC a cycle on its rows,
    so the layer takes ceil(out / N) x columns cycles (optimistic: DRAM bandwidth is ignored),
    during which the clock and leakage of the units a dense machine keeps (the CCU, queue,
    arithmetic and activation units; no sparse-matrix or pointer SRAM) are charged.

    >>> base = dense_baseline_energy(4096, 4096, HardwareSpec())
    >>> round(base.dram_j / base.weights_read * 1e12)
    320
    """
    table = default_energy_table(spec) if table is None else table
    if isinstance(activation_density, bool) or not isinstance(activation_density, (int, float)) \
            or not 0.0 <= activation_density <= 1.0:
        raise EnergyTableError(f"activation_density = {activation_density!r} must be a fraction "
                               f"between 0 and 1 (1.0 = every input column is used)")
    for name, value in (("out_features", out_features), ("in_features", in_features)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise EnergyTableError(f"{name} = {value!r} must be a whole number >= 1")
    out_features, in_features = int(out_features), int(in_features)
    columns = math.ceil(in_features * activation_density)
    weights = out_features * columns
    dram_j = weights * spec.data_bits * table.dram_j_per_bit
    event = table.event_j
    compute_j = (weights * (event["macs"] + event["acc_reads"] + event["acc_writes"])
                 + columns * (event["broadcasts"] + event["ccu_active_cycles"]
                              + spec.num_pes * (event["act_queue_pushes"]
                                                + event["act_queue_pops"])))
    cycles = math.ceil(out_features / spec.num_pes) * columns
    static_w = sum(table.static_w(unit) * (1 if unit == "ccu" else spec.num_pes)
                   for unit in DENSE_UNITS)
    return DenseBaseline(out_features, in_features, float(activation_density), weights, weights,
                         cycles, dram_j, compute_j, static_w * cycles / spec.clock_hz)


@dataclass(frozen=True)
class EnergyReport:
    """Energy of one simulated layer (one inference of it, batch 1), in joules and watts.

    ``by_unit_kind[unit][kind]`` is the full breakdown; ``by_unit`` sums it over kinds (each
    unit with its clock and leakage, as the paper's Table II counts a module's power),
    ``by_kind`` over units, ``by_event`` gives each event's count x energy.
    """

    energy_j: float
    time_s: float
    cycles: int
    macs: int
    num_pes: int
    by_unit_kind: Mapping[str, Mapping[str, float]]
    by_event: Mapping[str, float]
    counts: Mapping[str, int]
    dense_baseline_j: float
    table_name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_unit_kind", MappingProxyType(
            {unit: MappingProxyType(dict(kinds)) for unit, kinds in self.by_unit_kind.items()}))
        object.__setattr__(self, "by_event", MappingProxyType(dict(self.by_event)))
        object.__setattr__(self, "counts", MappingProxyType(dict(self.counts)))

    @property
    def power_w(self) -> float:
        return self.energy_j / self.time_s

    @property
    def pj_per_mac(self) -> float:
        """Picojoules per useful MAC (real entries times non-zero activations); NaN if none."""
        return self.energy_j / self.macs * 1e12 if self.macs else math.nan

    @property
    def inferences_per_j(self) -> float:
        return 1.0 / self.energy_j if self.energy_j else math.inf

    @property
    def by_unit(self) -> dict[str, float]:
        return {unit: sum(kinds.values()) for unit, kinds in self.by_unit_kind.items()}

    @property
    def by_kind(self) -> dict[str, float]:
        return {kind: sum(kinds[kind] for kinds in self.by_unit_kind.values())
                for kind in KINDS}

    @property
    def shares(self) -> dict[str, float]:
        """Each unit's share of the energy (Table II's power-share column)."""
        return {unit: energy / self.energy_j for unit, energy in self.by_unit.items()}

    @property
    def savings_vs_dense(self) -> float:
        """Dense-baseline energy (dense weights from DRAM, every input used) over this layer's:
        what compression and sparsity save."""
        return self.dense_baseline_j / self.energy_j

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table_name,
            "energy_j": self.energy_j,
            "time_s": self.time_s,
            "cycles": self.cycles,
            "num_pes": self.num_pes,
            "power_w": self.power_w,
            "macs": self.macs,
            "pj_per_mac": _nan_to_none(self.pj_per_mac),
            "inferences_per_j": self.inferences_per_j,
            "by_unit_j": self.by_unit,
            "by_kind_j": self.by_kind,
            "by_unit_kind_j": {unit: dict(kinds) for unit, kinds in self.by_unit_kind.items()},
            "shares": self.shares,
            "by_event_j": dict(self.by_event),
            "counts": dict(self.counts),
            "dense_baseline_j": self.dense_baseline_j,
            "savings_vs_dense": self.savings_vs_dense,
        }


def energy_report(result, table: EnergyTable | None = None) -> EnergyReport:
    """Energy of a :class:`~eiesim.sim.SimResult`: every event count x its energy, plus each
    unit's clock energy for every cycle of the layer and its leakage for its duration, for
    every PE (and once for the CCU).

    ``table`` defaults to :func:`default_energy_table` for the result's spec; a table built for
    another spec is refused (its SRAM energies, clock and leakage describe other hardware).
    """
    spec = result.spec
    if table is None:
        table = default_energy_table(spec)
    elif table.spec != spec:
        changed = [name for name, value in spec.to_dict().items()
                   if table.spec.to_dict().get(name) != value]
        raise EnergyTableError(
            f"the energy table was built for another design point ({', '.join(changed)} "
            f"differ); build it for this one: default_energy_table(result.spec) or "
            f"load_energy_table(path, result.spec)")
    counts = event_counts(result)
    time_s = result.cycles / spec.clock_hz
    by_event = {name: counts[name] * table.event_j[name] for name in ENERGY_EVENTS}
    by_unit_kind = {unit: dict.fromkeys(("events", "clock", "leakage"), 0.0) for unit in UNITS}
    for name, energy in by_event.items():
        by_unit_kind[UNIT_OF[name]]["events"] += energy
    for unit in UNITS:
        instances = spec.num_pes if unit in PE_UNITS else 1
        by_unit_kind[unit]["clock"] = table.clock_j[unit] * result.cycles * instances
        by_unit_kind[unit]["leakage"] = table.leakage_w[unit] * time_s * instances
    total = sum(sum(kinds.values()) for kinds in by_unit_kind.values())
    dense = dense_baseline_energy(result.out_features, result.in_features, spec, table)
    return EnergyReport(
        energy_j=total, time_s=time_s, cycles=result.cycles, macs=result.macs,
        num_pes=spec.num_pes, by_unit_kind=by_unit_kind, by_event=by_event, counts=counts,
        dense_baseline_j=dense.energy_j, table_name=table.name)
