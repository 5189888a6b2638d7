"""Area of a design point, per unit, per PE and for the chip (45 nm, paper Table II).

At the default spec every unit reproduces the paper's Table II area exactly (PE 638,024 um^2;
64 PEs plus the 21-node LNZD tree 40.84 mm^2, the paper's 40.8 mm^2). Away from it each unit
scales with what it is made of:

* ``spmat_read``, ``ptr_read``: the SRAM area model of :mod:`eiesim.energy.sram` (capacity and
  port width; both anchors are these two modules).
* ``act_rw``: the 2 KB activation SRAM (same model, ``data_bits`` wide) plus two register files
  of ``act_regs_per_file`` x ``data_bits`` flip-flops. The register area per bit, 3.61 um^2, is
  what remains of Table II's 18,934 um^2 after the SRAM model's 11,550 um^2 for 2 KB.
* ``act_queue``: ``act_queue_depth`` x (``data_bits`` + column-index bits) flip-flops at
  Table II's 758 um^2 / (8 x 30) = 3.16 um^2 per bit (close to the register files' 3.61).
* ``arith``: Table II's 3,110 um^2, of which an assumed 60 % is the multiplier (area grows as
  data_bits^2) and 40 % adders, codebook and pipeline registers (grow as data_bits).
* ``filler``: filler cells stay at Table II's share, 23,961 / 614,063 of the other units.
* ``ccu``: the LNZD tree, 189 um^2 per node (Table II), ``spec.lnzd_nodes`` nodes. The paper
  gives no other area for the central control unit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from eiesim.energy.sram import sram_area_um2
from eiesim.spec import DEFAULT_SPEC, HardwareSpec

TABLE2_AREA_UM2 = MappingProxyType({
    "act_queue": 758.0, "ptr_read": 121_849.0, "spmat_read": 469_412.0, "arith": 3_110.0,
    "act_rw": 18_934.0, "filler": 23_961.0,
})
"""Paper Table II, area per PE module in um^2 (whole PE 638,024)."""
TABLE2_PE_AREA_UM2 = 638_024.0
LNZD_NODE_AREA_UM2 = 189.0
"""Paper Table II: one LNZD node, 189 um^2."""
ARITH_MULTIPLIER_SHARE = 0.6
"""Assumed share of the arithmetic unit's area that is the multiplier (not in the paper)."""

PE_AREA_UNITS = ("act_queue", "ptr_read", "spmat_read", "arith", "act_rw", "filler")


def column_index_bits(spec: HardwareSpec) -> int:
    """Bits of the column index j carried with each broadcast activation: enough for every
    column the pointer SRAM can describe (14 at the default spec)."""
    return max(1, math.ceil(math.log2(spec.ptr_capacity)))


def row_address_bits(spec: HardwareSpec) -> int:
    """Bits of a PE-local output row address (10 at the default spec: 1024 activations)."""
    return max(1, math.ceil(math.log2(spec.max_activations_per_pe)))


def _act_sram_um2(spec: HardwareSpec) -> float:
    return sram_area_um2(spec.act_sram_bytes, spec.act_sram_access_bits)


_DEFAULT_ACT_SRAM_UM2 = _act_sram_um2(DEFAULT_SPEC)
REGISTER_FILE_UM2_PER_BIT = (TABLE2_AREA_UM2["act_rw"] - _DEFAULT_ACT_SRAM_UM2) / (
    2 * DEFAULT_SPEC.act_regs_per_file * DEFAULT_SPEC.data_bits)
QUEUE_UM2_PER_BIT = TABLE2_AREA_UM2["act_queue"] / (
    DEFAULT_SPEC.act_queue_depth * (DEFAULT_SPEC.data_bits + column_index_bits(DEFAULT_SPEC)))
FILLER_SHARE = TABLE2_AREA_UM2["filler"] / (TABLE2_PE_AREA_UM2 - TABLE2_AREA_UM2["filler"])


def unit_areas_um2(spec: HardwareSpec) -> dict[str, float]:
    """Area of each PE unit (and filler) for ``spec``, in um^2."""
    bits = spec.data_bits / DEFAULT_SPEC.data_bits
    areas = {
        "act_queue": QUEUE_UM2_PER_BIT * spec.act_queue_depth
        * (spec.data_bits + column_index_bits(spec)),
        "ptr_read": sram_area_um2(spec.ptr_sram_bytes, 2 * spec.pointer_bits),
        "spmat_read": sram_area_um2(spec.spmat_sram_bytes, spec.spmat_sram_width_bits),
        "arith": TABLE2_AREA_UM2["arith"]
        * (ARITH_MULTIPLIER_SHARE * bits ** 2 + (1 - ARITH_MULTIPLIER_SHARE) * bits),
        "act_rw": _act_sram_um2(spec)
        + REGISTER_FILE_UM2_PER_BIT * 2 * spec.act_regs_per_file * spec.data_bits,
    }
    areas["filler"] = FILLER_SHARE * sum(areas.values())
    return areas


def ccu_area_um2(spec: HardwareSpec) -> float:
    """Area of the central control unit: the LNZD tree's nodes for ``spec.num_pes`` PEs."""
    return LNZD_NODE_AREA_UM2 * spec.lnzd_nodes


@dataclass(frozen=True)
class AreaReport:
    """Area of one design point. ``per_pe_mm2`` by unit; the chip is num_pes PEs plus the CCU's
    LNZD tree."""

    num_pes: int
    per_pe_mm2: Mapping[str, float]
    ccu_mm2: float
    provenance: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_pe_mm2", MappingProxyType(dict(self.per_pe_mm2)))

    @property
    def pe_mm2(self) -> float:
        return sum(self.per_pe_mm2.values())

    @property
    def chip_by_unit_mm2(self) -> dict[str, float]:
        """Chip area by unit: each PE unit times num_pes, plus ``ccu``."""
        chip = {unit: area * self.num_pes for unit, area in self.per_pe_mm2.items()}
        chip["ccu"] = self.ccu_mm2
        return chip

    @property
    def chip_mm2(self) -> float:
        return self.pe_mm2 * self.num_pes + self.ccu_mm2

    @property
    def shares(self) -> dict[str, float]:
        """Each PE unit's share of the PE area (Table II's area share column)."""
        total = self.pe_mm2
        return {unit: area / total for unit, area in self.per_pe_mm2.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "num_pes": self.num_pes,
            "per_pe_mm2": dict(self.per_pe_mm2),
            "pe_mm2": self.pe_mm2,
            "ccu_mm2": self.ccu_mm2,
            "chip_by_unit_mm2": self.chip_by_unit_mm2,
            "chip_mm2": self.chip_mm2,
            "provenance": self.provenance,
        }


def area_report(spec: HardwareSpec = DEFAULT_SPEC) -> AreaReport:
    """Area per unit, per PE and for the chip of design point ``spec``.

    >>> report = area_report()
    >>> round(report.pe_mm2, 6), round(report.chip_mm2, 2)
    (0.638024, 40.84)
    """
    return AreaReport(
        num_pes=spec.num_pes,
        per_pe_mm2={unit: um2 * 1e-6 for unit, um2 in unit_areas_um2(spec).items()},
        ccu_mm2=ccu_area_um2(spec) * 1e-6,
        provenance="45 nm, anchored to the paper's Table II per-module areas; see "
                   "eiesim.energy.area for the scaling of each unit",
    )
