"""EnergyTable (joules per event, clock energy per cycle, leakage power) and the default one.

Derivation of the default table (45 nm, 800 MHz)
------------------------------------------------
The paper gives the power of each PE module at the benchmark activity (Table II: activation
queue 0.112 mW, pointer read 1.807, sparse-matrix read 4.955, arithmetic 1.162, activation R/W
1.122; by component type memory 5.416, clock network 1.874, registers 1.026, combinational
0.841; one LNZD node 0.023 mW), energies per operation (Table I, Horowitz) and nothing per
event. We turn power into energy per event with this simulator's own counts at the same
activity (:data:`eiesim.energy.calibration.CALIBRATION_ACTIVITY`: the benchmark layers, pooled
over time), in five steps:

1. Leakage. Table II does not separate static power; we assume ``LEAKAGE_FRACTION`` = 5 % of
   every module's power is leakage (an assumption, not a figure of the paper: 10 MB of on-chip
   SRAM within 0.6 W implies low-leakage cells). Leakage is charged per second of the layer
   and, away from the default spec, scales with the unit's area (:mod:`eiesim.energy.area`).
2. Memory. SRAM reads get energies from the scaling model of :mod:`eiesim.energy.sram`
   (Table I anchor, Horowitz capacity exponent, per-access/per-bit split); one factor
   ``k_sram`` is fitted so that the model's SRAM power at the calibration activity equals the
   dynamic part of Table II's memory power, 0.95 x 5.416 mW.
3. Arithmetic. A MAC costs Horowitz's multiply plus add at the datapath width (16-bit fixed
   point: 0.787 + 0.055 pJ, interpolated log-log between his 8- and 32-bit integer figures;
   float32: Table I's 3.7 + 0.9 pJ), not fitted.
4. Clock. What is left of each module, B_u = 0.95 P_u - memory_u - arithmetic_u, is clock
   network plus register and logic data energy. Table II gives the clock only for the whole PE
   (1.874 mW), so each module's B_u is split in the PE-wide proportion
   gamma = 0.95 x 1.874 / sum_u B_u (about 0.59): clock_u = gamma B_u is charged every cycle of
   the layer, to every PE (no clock gating of idle PEs is modelled), and scales with the
   unit's flip-flop count away from the default spec.
5. Data. The rest, (1 - gamma) B_u, is shared among the unit's events in proportion to the bits
   each moves or stores (``_event_bits``; e.g. a queue push writes a 16-bit activation and a
   14-bit column index), at one fitted energy per bit per unit. These per-bit energies land
   between 3 and 27 fJ (``calibration_fit().data_j_per_bit``), the range of a 45 nm register-bit
   write with its wiring; the spread shows how far the modules' Table II powers depart from a
   uniform cost per bit moved (a plausibility check, not a fit).

By construction, at the default spec and the calibration activity every module's power equals
Table II (and so the shares: sparse-matrix read 54 %, pointer read 20 %, arithmetic 12.7 %,
activation R/W 12.3 %, queue 1.2 %), the PE draws 9.158 mW and the 64-PE chip with its 21 LNZD
nodes 0.587 W. On a given layer the power differs with its activity.

The LNZD tree (unit ``ccu``) is calibrated the same way from its 0.023 mW per node, with its
active cycles (each node examines ``lnzd_fanin`` inputs) and its broadcasts (a data word and a
column index driven to the PEs) as the events. The paper gives no figure for the rest of the
central control unit or for the broadcast wires, so they are not charged.

Events whose energy is already paid by another event are 0 J, with the reason in their
provenance: an empty column (its pointer read), a padding entry (its entry and decode), a
stalled broadcast and a scan cycle (the CCU's active cycle).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from eiesim.actions import UNITS
from eiesim.energy.area import ccu_area_um2, column_index_bits, row_address_bits, unit_areas_um2
from eiesim.energy.calibration import CALIBRATION_ACTIVITY
from eiesim.energy.events import ENERGY_EVENTS, PE_UNITS, UNIT_OF
from eiesim.energy.sram import CAPACITY_EXPONENT, OVERHEAD_BITS, sram_read_energy_j
from eiesim.errors import EiesimError
from eiesim.spec import DEFAULT_SPEC, HardwareSpec


class EnergyTableError(EiesimError):
    """An energy table (or a user file overriding one) is malformed or out of range."""


# --- the paper's numbers (docs/hardware.md §4) ------------------------------------------------
TABLE2_CLOCK_HZ = 800e6
TABLE2_POWER_W = MappingProxyType({
    "act_queue": 0.112e-3, "ptr_read": 1.807e-3, "spmat_read": 4.955e-3, "arith": 1.162e-3,
    "act_rw": 1.122e-3,
})
"""Paper Table II, power per PE module (W) at 800 MHz and the benchmark layers' activity."""
TABLE2_MEMORY_W = 5.416e-3
TABLE2_CLOCK_W = 1.874e-3
LNZD_NODE_POWER_W = 0.023e-3
LEAKAGE_FRACTION = 0.05
"""Assumed static share of every module's Table II power (the paper does not separate it)."""

HOROWITZ_INT_MULT_J = {8: 0.2e-12, 32: 3.1e-12}
HOROWITZ_INT_ADD_J = {8: 0.03e-12, 32: 0.1e-12}
FLOAT32_MULT_J = 3.7e-12
FLOAT32_ADD_J = 0.9e-12
DRAM_J_PER_BIT = 640e-12 / 32
"""Paper Table I: a 32-bit DRAM read costs 640 pJ, 20 pJ per bit."""


def _horowitz(points: Mapping[int, float], bits: int) -> float:
    """Log-log interpolation (or extrapolation) between Horowitz's 8- and 32-bit figures."""
    (b0, e0), (b1, e1) = sorted(points.items())
    slope = math.log(e1 / e0) / math.log(b1 / b0)
    return e0 * (bits / b0) ** slope


def arithmetic_j(spec: HardwareSpec) -> tuple[float, str]:
    """Energy of one multiply plus one add at the spec's datapath width, with its source."""
    if not spec.is_fixed_point:
        return FLOAT32_MULT_J + FLOAT32_ADD_J, "Table I: 32-bit float mult 3.7 pJ + add 0.9 pJ"
    bits = spec.data_bits
    mult, add = _horowitz(HOROWITZ_INT_MULT_J, bits), _horowitz(HOROWITZ_INT_ADD_J, bits)
    return mult + add, (f"Horowitz 45 nm integer ops interpolated log-log between 8 and 32 bits "
                        f"at {bits} bits: mult {mult * 1e12:.3f} pJ + add {add * 1e12:.3f} pJ")


# --- what each event does, in bits (step 5) and SRAM reads (step 2) --------------------------
def _event_bits(spec: HardwareSpec) -> dict[str, float]:
    """Bits each event moves or stores (the weights of step 5)."""
    data, col = spec.data_bits, column_index_bits(spec)
    return {
        "ccu_active_cycles": spec.lnzd_nodes * spec.lnzd_fanin,  # one non-zero flag per input
        "broadcasts": data + col,
        "broadcast_stall_cycles": 0,
        "lnzd_scan_cycles": 0,
        "act_load_cycles": 0,
        "act_queue_pushes": data + col,
        "act_queue_pops": data + col,
        "src_act_reads": data,
        "pointer_reads": 2 * spec.pointer_bits,  # p_j and p_j+1 latched
        "empty_columns": 0,
        "spmat_line_reads": 0,  # the line register is the SRAM's output latch (sram.py)
        "entries": spec.entry_bits + spec.pointer_bits,  # entry register and address counter
        "padding_entries": 0,
        "codebook_decodes": data + row_address_bits(spec),  # weight and row address registers
        "macs": 2 * data,  # product register (the multiply and add are step 3)
        "acc_reads": data,
        "acc_writes": data,
        "bypasses": data,
        "relu_ops": data,
        "act_writebacks": data,
        "act_sram_reads": spec.act_sram_access_bits,  # one access fills a register's worth
        "act_sram_writes": spec.act_sram_access_bits,
    }


_ZERO_REASONS = {
    "broadcast_stall_cycles": "0 J: a stalled broadcast holds its register; the LNZD tree's work "
                              "in that cycle is its active cycle (ccu_active_cycles)",
    "lnzd_scan_cycles": "0 J: a scan cycle's work is its active cycle (ccu_active_cycles)",
    "act_load_cycles": "0 J: a load cycle's work is every PE's activation-SRAM access "
                       "(act_sram_reads) and the CCU's active cycle (ccu_active_cycles)",
    "empty_columns": "0 J: an empty column costs its pointer read (pointer_reads), nothing more",
    "padding_entries": "0 J extra: a padding entry costs an entry read and a decode (entries, "
                       "codebook_decodes) like any entry, and writes nothing",
}


def _sram_reads(spec: HardwareSpec, k_sram: float) -> dict[str, tuple[float, str]]:
    """SRAM energy per event (step 2) and its derivation."""
    def model(width: float, capacity: float, what: str, count: int = 1) -> tuple[float, str]:
        energy = count * sram_read_energy_j(width, capacity, k_sram=k_sram)
        times = f"{count} x " if count > 1 else ""
        return energy, (f"{times}{what} ({width:g} bits from {capacity:g} B): SRAM model "
                        f"k_sram {k_sram:.3f} x 5 pJ x (C / 32 KB)^{CAPACITY_EXPONENT:.3f} x "
                        f"(w0 + w) / (w0 + 32), "
                        f"w0 = {OVERHEAD_BITS:g}, = {energy * 1e12:.3f} pJ")
    return {
        "spmat_line_reads": model(spec.spmat_sram_width_bits, spec.spmat_sram_bytes,
                                  "sparse-matrix line read"),
        "pointer_reads": model(spec.pointer_bits, spec.ptr_sram_bytes / 2,
                               "pointer read, one word from each of two banks", 2),
        "act_sram_reads": model(spec.act_sram_access_bits, spec.act_sram_bytes,
                                "activation SRAM read"),
        "act_sram_writes": model(spec.act_sram_access_bits, spec.act_sram_bytes,
                                 "activation SRAM write (taken equal to a read)"),
    }


def _flops(spec: HardwareSpec) -> dict[str, float]:
    """Clocked flip-flops per unit (clock energy scales with these away from the default)."""
    data, col, rows = spec.data_bits, column_index_bits(spec), row_address_bits(spec)
    return {
        "ccu": spec.lnzd_nodes,
        "act_queue": spec.act_queue_depth * (data + col),
        "ptr_read": 2 * spec.pointer_bits + col,
        # entry register and address counter; the line register is the SRAM's output latch,
        # paid per bit read (sram.py), so it does not scale the clock with the line width
        "spmat_read": spec.entry_bits + spec.pointer_bits,
        "arith": spec.codebook_size * data + 4 * data + 2 * rows,
        "act_rw": 2 * spec.act_regs_per_file * data,
    }


def _areas(spec: HardwareSpec) -> dict[str, float]:
    areas = unit_areas_um2(spec)
    return {"ccu": ccu_area_um2(spec), **{unit: areas[unit] for unit in PE_UNITS}}


# --- calibration at the default spec ------------------------------------------------------------
@dataclass(frozen=True)
class Calibration:
    """The fitted constants of the default table and the numbers they came from."""

    k_sram: float
    gamma: float
    data_j_per_bit: Mapping[str, float]  # step 5, per unit
    clock_j: Mapping[str, float]  # per cycle at the default spec: per PE; ccu per chip
    leakage_w: Mapping[str, float]  # at the default spec: per PE; ccu per chip
    memory_w: Mapping[str, float]  # SRAM power per PE unit at the calibration activity
    arithmetic_w: float  # MAC arithmetic power per PE at the calibration activity
    activity: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (dict(value) if isinstance(value := getattr(self, f.name), Mapping)
                         else value) for f in dataclasses.fields(self)}


def _module_power_w(spec: HardwareSpec) -> dict[str, float]:
    return {"ccu": LNZD_NODE_POWER_W * spec.lnzd_nodes, **TABLE2_POWER_W}


@functools.lru_cache(maxsize=1)
def calibration_fit() -> Calibration:
    """Fit the default table's constants (steps 1-5 of the module doc) at the default spec."""
    spec, rate = DEFAULT_SPEC, CALIBRATION_ACTIVITY
    cycle_s = 1.0 / TABLE2_CLOCK_HZ
    dynamic = 1.0 - LEAKAGE_FRACTION
    power = _module_power_w(spec)

    shapes = _sram_reads(spec, 1.0)
    memory_j = {unit: 0.0 for unit in UNITS}  # per cycle per PE, k_sram = 1
    for name, (energy, _) in shapes.items():
        memory_j[UNIT_OF[name]] += rate[name] * energy
    k_sram = dynamic * TABLE2_MEMORY_W * cycle_s / sum(memory_j.values())
    memory_j = {unit: k_sram * energy for unit, energy in memory_j.items()}
    mac_j, _ = arithmetic_j(spec)
    arith_j = rate["macs"] * mac_j

    remainder = {unit: dynamic * power[unit] * cycle_s - memory_j[unit]
                 - (arith_j if unit == "arith" else 0.0) for unit in UNITS}
    gamma = dynamic * TABLE2_CLOCK_W * cycle_s / sum(remainder[unit] for unit in PE_UNITS)
    bits = _event_bits(spec)
    per_bit = {}
    for unit in UNITS:
        moved = sum(rate[name] * bits[name] for name in ENERGY_EVENTS if UNIT_OF[name] == unit)
        per_bit[unit] = (1.0 - gamma) * remainder[unit] / moved
    return Calibration(
        k_sram=k_sram,
        gamma=gamma,
        data_j_per_bit=MappingProxyType(per_bit),
        clock_j=MappingProxyType({unit: gamma * remainder[unit] for unit in UNITS}),
        leakage_w=MappingProxyType({unit: LEAKAGE_FRACTION * power[unit] for unit in UNITS}),
        memory_w=MappingProxyType({unit: memory_j[unit] / cycle_s for unit in PE_UNITS}),
        arithmetic_w=arith_j / cycle_s,
        activity=rate,
    )


# --- the table ---------------------------------------------------------------------------------
def _check_value(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EnergyTableError(f"{key} = {value!r} is not a number; give a non-negative number "
                               f"in SI units (joules per event, joules per cycle or watts)")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float64 (its repr may be thousands of digits)
        raise EnergyTableError(f"{key} is an integer of {value.bit_length()} bits, beyond float64 "
                               f"(about 1.8e308); give joules per event, joules per cycle or "
                               f"watts") from None
    if not math.isfinite(number) or number < 0:
        raise EnergyTableError(f"{key} = {value!r} must be finite and >= 0; energies and powers "
                               f"cannot be negative")
    return number


@dataclass(frozen=True)
class EnergyTable:
    """Energy per action for one design point, in SI units, each number with its provenance.

    * ``event_j[event]``: joules per occurrence of every event of
      :data:`eiesim.energy.events.ENERGY_EVENTS` (per-PE events per occurrence in a PE; CCU
      events per occurrence on the chip).
    * ``clock_j[unit]``: clock-network energy per cycle, for every unit of
      :data:`eiesim.actions.UNITS`: per PE for the PE units, for the whole tree for ``ccu``.
    * ``leakage_w[unit]``: static power, per PE for the PE units, for the chip for ``ccu``.
    * ``dram_j_per_bit``: DRAM read energy per bit, for dense baselines.
    * ``provenance[key]``: where each number comes from; keys ``events.<event>``,
      ``clock.<unit>``, ``leakage.<unit>`` and ``dram_j_per_bit``.
    * ``spec``: the design point the table describes.
    """

    event_j: Mapping[str, float]
    clock_j: Mapping[str, float]
    leakage_w: Mapping[str, float]
    dram_j_per_bit: float
    provenance: Mapping[str, str] = field(repr=False)
    spec: HardwareSpec = field(repr=False)
    name: str = "eiesim default, 45 nm (EIE Table I/II)"

    def __post_init__(self) -> None:
        for attr, expected, prefix in (("event_j", ENERGY_EVENTS, "events"),
                                       ("clock_j", UNITS, "clock"),
                                       ("leakage_w", UNITS, "leakage")):
            values = dict(getattr(self, attr))
            missing = [key for key in expected if key not in values]
            unknown = sorted(set(values) - set(expected))
            if missing or unknown:
                raise EnergyTableError(
                    f"{attr} must have exactly the keys {', '.join(expected)}; missing: "
                    f"{', '.join(missing) or 'none'}; unknown: {', '.join(unknown) or 'none'}")
            checked = {key: _check_value(f"{prefix}.{key}", values[key]) for key in expected}
            object.__setattr__(self, attr, MappingProxyType(checked))
        object.__setattr__(self, "dram_j_per_bit",
                           _check_value("dram_j_per_bit", self.dram_j_per_bit))
        provenance = dict(self.provenance)
        for key in self.keys():
            if not isinstance(provenance.get(key), str) or not provenance[key].strip():
                raise EnergyTableError(f"{key} has no provenance; every number needs a text "
                                       f"saying where it comes from")
        object.__setattr__(self, "provenance", MappingProxyType(provenance))

    def keys(self) -> list[str]:
        """Every entry's key, as used in ``provenance`` and in user files."""
        return ([f"events.{name}" for name in ENERGY_EVENTS]
                + [f"clock.{unit}" for unit in UNITS]
                + [f"leakage.{unit}" for unit in UNITS] + ["dram_j_per_bit"])

    def value(self, key: str) -> float:
        section, _, name = key.partition(".")
        if key == "dram_j_per_bit":
            return self.dram_j_per_bit
        return {"events": self.event_j, "clock": self.clock_j, "leakage": self.leakage_w}[
            section][name]

    def static_w(self, unit: str) -> float:
        """Clock plus leakage power of one instance of ``unit`` at the spec's clock."""
        return self.clock_j[unit] * self.spec.clock_hz + self.leakage_w[unit]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "events_j": dict(self.event_j),
            "clock_j_per_cycle": dict(self.clock_j),
            "leakage_w": dict(self.leakage_w),
            "dram_j_per_bit": self.dram_j_per_bit,
            "provenance": dict(self.provenance),
            "spec": self.spec.to_dict(),
        }


@functools.lru_cache(maxsize=256)  # a sweep asks once per point; tables are immutable
def default_energy_table(spec: HardwareSpec = DEFAULT_SPEC) -> EnergyTable:
    """The 45 nm energy table for design point ``spec`` (derivation: module docstring).

    The fitted constants come from the default spec (:func:`calibration_fit`); ``spec`` enters
    through the SRAM model (widths, capacities), the datapath width (arithmetic, bits moved),
    the flip-flop counts (clock), the areas (leakage) and the LNZD tree's size.

    >>> table = default_energy_table()
    >>> round(table.event_j["spmat_line_reads"] * 1e12, 1)
    24.7
    """
    cal = calibration_fit()
    bits = _event_bits(spec)
    srams = _sram_reads(spec, cal.k_sram)
    mac_j, mac_source = arithmetic_j(spec)
    events: dict[str, float] = {}
    provenance: dict[str, str] = {}
    for name in ENERGY_EVENTS:
        unit = UNIT_OF[name]
        if name in _ZERO_REASONS:
            events[name] = 0.0
            provenance[f"events.{name}"] = _ZERO_REASONS[name]
            continue
        data_j = bits[name] * cal.data_j_per_bit[unit]
        parts = [f"data: {bits[name]:g} bits moved x {cal.data_j_per_bit[unit] * 1e15:.2f} fJ "
                 f"per bit ({unit}'s share of its Table II power left after SRAM, arithmetic "
                 f"and clock at the calibration activity, spread over the bits its events "
                 f"move) = {data_j * 1e12:.4f} pJ"] if bits[name] else []
        energy = data_j
        if name in srams:
            energy += srams[name][0]
            parts.insert(0, srams[name][1])
        if name == "macs":
            energy += mac_j
            parts.insert(0, f"arithmetic: {mac_source} = {mac_j * 1e12:.3f} pJ")
        events[name] = energy
        location = " (charged to act_rw: the accumulators are its destination register file)" \
            if name in ("acc_reads", "acc_writes") else ""
        provenance[f"events.{name}"] = f"{energy * 1e12:.4f} pJ{location} = " + "; ".join(parts)

    flops, default_flops = _flops(spec), _flops(DEFAULT_SPEC)
    areas, default_areas = _areas(spec), _areas(DEFAULT_SPEC)
    clock, leakage = {}, {}
    for unit in UNITS:
        per = "the chip's LNZD tree" if unit == "ccu" else "one PE"
        clock[unit] = cal.clock_j[unit] * flops[unit] / default_flops[unit]
        provenance[f"clock.{unit}"] = (
            f"{clock[unit] * 1e12:.4f} pJ per cycle for {per}: gamma = {cal.gamma:.3f} of "
            f"{unit}'s Table II power left after leakage, SRAM and arithmetic (the PE's clock "
            f"network share, Table II 1.874 mW), scaled by clocked flip-flops "
            f"{flops[unit]:g} / {default_flops[unit]:g} at the default spec")
        leakage[unit] = cal.leakage_w[unit] * areas[unit] / default_areas[unit]
        source = "0.023 mW per LNZD node" if unit == "ccu" \
            else f"{TABLE2_POWER_W[unit] * 1e3:.3f} mW"
        provenance[f"leakage.{unit}"] = (
            f"{leakage[unit] * 1e6:.3f} uW for {per}: assumed {LEAKAGE_FRACTION:.0%} of "
            f"{unit}'s Table II power ({source}), scaled by area {areas[unit]:.0f} / "
            f"{default_areas[unit]:.0f} um^2")
    provenance["dram_j_per_bit"] = "Table I: 32-bit DRAM read 640 pJ, so 20 pJ per bit"
    return EnergyTable(event_j=events, clock_j=clock, leakage_w=leakage,
                       dram_j_per_bit=DRAM_J_PER_BIT, provenance=provenance, spec=spec)

