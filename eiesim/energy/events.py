"""The events the energy model charges, the unit each is charged to, and their counts.

Every event of :mod:`eiesim.actions` except the cycle classes (busy / stall / idle, which are
time, not work: time is charged through clock and leakage), plus two *derived* events the
engines do not count because they happen outside the timed front end: the activation SRAM
reads and writes of vectors longer than the register files (EIE.md §3.5).

Unit attribution follows the hardware module that spends the energy, as the paper's Table II
does. For every event it is the unit :mod:`eiesim.actions` names, except the destination
accumulator's reads and writes: the accumulators are the destination register file of the
activation read/write unit (paper §III: "two activation register files that accommodate the
source and destination activation values"; the arithmetic unit's 3,110 um^2 has room for its
multiplier and pipeline but not for 64 x 16 accumulator bits), so their energy is charged to
``act_rw`` although the arithmetic pipeline causes them.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Mapping

from eiesim.actions import CCU_EVENTS, CYCLE_CLASSES, EVENTS_BY_NAME, PE_EVENTS, UNITS

DERIVED_EVENTS = ("act_sram_reads", "act_sram_writes")
"""Events computed from the layer's shape, not counted by the engines (see derived_counts)."""

DERIVED_MEANING = {
    "act_sram_reads": "source activations read from the activation SRAM into the source "
                      "register file, when a PE's input slice exceeds its registers",
    "act_sram_writes": "output activations written to the activation SRAM, when a PE's output "
                       "slice exceeds its registers",
}

PE_ENERGY_EVENTS = tuple(name for name in PE_EVENTS if name not in CYCLE_CLASSES) + DERIVED_EVENTS
CCU_ENERGY_EVENTS = tuple(CCU_EVENTS)
ENERGY_EVENTS = CCU_ENERGY_EVENTS + PE_ENERGY_EVENTS
"""Every event with an energy per occurrence in an EnergyTable."""

PE_UNITS = tuple(unit for unit in UNITS if unit != "ccu")
"""Units replicated in every PE; ``ccu`` is one per chip."""

UNIT_OF: Mapping[str, str] = MappingProxyType({
    **{name: EVENTS_BY_NAME[name].unit for name in CCU_ENERGY_EVENTS},
    **{name: EVENTS_BY_NAME[name].unit for name in PE_EVENTS if name not in CYCLE_CLASSES},
    **{name: "act_rw" for name in DERIVED_EVENTS},
})
"""The unit whose Table II power each event's energy belongs to."""


def derived_counts(out_features: int, in_features: int, spec) -> dict[str, int]:
    """Chip totals of the derived events for one layer on ``spec``.

    A PE holds ceil(in / N) inputs and ceil(out / N) outputs at most. When its input slice is
    longer than a register file, every input passes through the activation SRAM once (read at
    the start of its batch); likewise every output is written to it at the end of its batch.
    """
    n = spec.num_pes
    reads = writes = 0
    if math.ceil(in_features / n) > spec.act_regs_per_file:
        reads = in_features
    if math.ceil(out_features / n) > spec.act_regs_per_file:
        writes = out_features
    return {"act_sram_reads": reads, "act_sram_writes": writes}


def event_counts(result) -> dict[str, int]:
    """Chip totals of every energy event of a :class:`~eiesim.sim.SimResult`."""
    counts = {name: result.total(name) for name in CCU_ENERGY_EVENTS}
    counts.update({name: result.total(name) for name in PE_EVENTS if name not in CYCLE_CLASSES})
    counts.update(derived_counts(result.out_features, result.in_features, result.spec))
    return counts
