"""The events the energy model charges, the unit each is charged to, and their counts.

Every event of :mod:`eiesim.actions` except the cycle classes (busy / stall / idle, which are
time, not work: time is charged through clock and leakage). The activation-SRAM traffic of
vectors longer than the register files (docs/hardware.md §3.5) is counted by the engines (rules T12,
T13: ``act_sram_reads``, ``act_sram_writes``, one per access of ``act_sram_width_bits``).

Unit attribution follows the hardware module that spends the energy, as the paper's Table II
does. For every event it is the unit :mod:`eiesim.actions` names, except the destination
accumulator's reads and writes: the accumulators are the destination register file of the
activation read/write unit (paper §III: "two activation register files that accommodate the
source and destination activation values"; the arithmetic unit's 3,110 um^2 has room for its
multiplier and pipeline but not for 64 x 16 accumulator bits), so their energy is charged to
``act_rw`` although the arithmetic pipeline causes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from eiesim.actions import CCU_EVENTS, CYCLE_CLASSES, EVENTS_BY_NAME, PE_EVENTS, UNITS

PE_ENERGY_EVENTS = tuple(name for name in PE_EVENTS if name not in CYCLE_CLASSES)
CCU_ENERGY_EVENTS = tuple(CCU_EVENTS)
ENERGY_EVENTS = CCU_ENERGY_EVENTS + PE_ENERGY_EVENTS
"""Every event with an energy per occurrence in an EnergyTable."""

PE_UNITS = tuple(unit for unit in UNITS if unit != "ccu")
"""Units replicated in every PE; ``ccu`` is one per chip."""

UNIT_OF: Mapping[str, str] = MappingProxyType({
    **{name: EVENTS_BY_NAME[name].unit for name in CCU_ENERGY_EVENTS},
    **{name: EVENTS_BY_NAME[name].unit for name in PE_EVENTS if name not in CYCLE_CLASSES},
})
"""The unit whose Table II power each event's energy belongs to."""


def event_counts(result) -> dict[str, int]:
    """Chip totals of every energy event of a :class:`~eiesim.sim.SimResult`."""
    counts = {name: result.total(name) for name in CCU_ENERGY_EVENTS}
    counts.update({name: result.total(name) for name in PE_EVENTS if name not in CYCLE_CLASSES})
    return counts
