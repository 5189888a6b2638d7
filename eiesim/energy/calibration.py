"""The activity the default energy table is calibrated at: the paper's benchmark layers.

The paper measured Table II's power "with toggle rates from RTL simulation of the benchmark
layers" (docs/hardware.md §4). We do the same with this simulator: the benchmark layers
exactly as the benchmark suite makes them (:func:`eiesim.explore.workloads.synthetic_layer`,
seed 0, full size: the paper's shapes and densities, uniform random sparsity, 4-bit codes), run
back to back on the default design point; the *calibration activity* is each event's count over
the whole run divided by its PE-cycles (per-PE events) or cycles (CCU events), i.e. a
time-weighted average over the layers.

VGG-6 is left out of the calibration: at 4 % density its 25088 x 4096 matrix needs about
101 K entries in one PE (padding included), more than 16-bit pointers address (the paper's
open inconsistency, docs/hardware.md §3.7); it runs with ``pointer_bits = 17``, a different
design point.

The measured rates are data, not code: ``eiesim/data/energy/calibration_activity.json``, read
here so that building an energy table never runs the simulator. Measuring them needs the
simulator and the workload generator, which sit above the energy model, so the measurement
lives in :mod:`eiesim.explore.calibration`; regenerate the file after any change to the
generator, the engines or the default spec with ``python -m eiesim.explore.calibration
--write`` (the tests check that the stored rates are what the engine measures).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any

from eiesim.energy.events import CCU_ENERGY_EVENTS, PE_ENERGY_EVENTS, event_counts

CALIBRATION_FILE = "calibration_activity.json"
"""The file in ``eiesim/data/energy/`` that holds the measured rates."""


def read_calibration_activity() -> Mapping[str, float]:
    """The stored calibration activity, event name -> rate."""
    text = resources.files("eiesim").joinpath("data", "energy", CALIBRATION_FILE).read_text()
    return MappingProxyType({name: float(rate)
                             for name, rate in json.loads(text)["activity"].items()})


CALIBRATION_ACTIVITY: Mapping[str, float] = read_calibration_activity()


def activity_of(results: Iterable[Any]) -> dict[str, float]:
    """Pooled activity of several results: per-PE events per PE-cycle, CCU events per cycle."""
    totals = dict.fromkeys(CCU_ENERGY_EVENTS + PE_ENERGY_EVENTS, 0)
    cycles = pe_cycles = 0
    for result in results:
        for name, count in event_counts(result).items():
            totals[name] += count
        cycles += result.cycles
        pe_cycles += result.cycles * result.spec.num_pes
    return {name: totals[name] / (cycles if name in CCU_ENERGY_EVENTS else pe_cycles)
            for name in totals}
