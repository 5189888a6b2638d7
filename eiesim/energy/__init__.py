"""Energy and area of EIE: action counts x energy per action, in SI units, with provenance.

The engines count events (:mod:`eiesim.actions`); this package multiplies them by an
:class:`EnergyTable` and adds each unit's clock energy per cycle and leakage power over the
layer's time.

>>> import numpy as np
>>> import eiesim
>>> from eiesim.energy import energy_report, area_report
>>> rng = np.random.default_rng(0)
>>> codes = np.where(rng.random((256, 512)) < 0.1, rng.integers(1, 16, (256, 512)), 0)
>>> spec = eiesim.HardwareSpec(num_pes=16)
>>> layer = eiesim.encode(codes.astype(np.uint8), np.linspace(0, 1, 16), spec=spec)
>>> result = eiesim.simulate(layer, rng.random(512) * (rng.random(512) < 0.4), spec)
>>> report = energy_report(result)
>>> max(report.shares, key=report.shares.get)
'spmat_read'
>>> round(area_report().chip_mm2, 1)
40.8

Modules: :mod:`~eiesim.energy.table` (the table and the derivation of the default one),
:mod:`~eiesim.energy.sram` (SRAM read energy and area against width and capacity),
:mod:`~eiesim.energy.area` (area per unit), :mod:`~eiesim.energy.report` (energy of a result,
dense baseline), :mod:`~eiesim.energy.user` (user files), :mod:`~eiesim.energy.calibration`
(the benchmark activity the default table is calibrated at), :mod:`~eiesim.energy.events`
(which events are charged, to which unit).

User energy tables
------------------
``load_energy_table(path, spec)`` starts from ``default_energy_table(spec)`` and applies a TOML
(``.toml``, read with tomllib) or YAML (``.yaml`` / ``.yml``) file of overrides. Every section is
optional; top-level keys come before the first section in TOML::

    description = "my 28 nm estimate"     # names the table in reports
    dram_j_per_bit = 40.6e-12             # replaces the DRAM energy per bit (J)

    [events]            # replace: joules per event; names from eiesim.energy.ENERGY_EVENTS
    macs = 1.2e-12

    [clock]             # replace: joules per cycle, per PE (ccu: for the whole LNZD tree)
    act_rw = 0.7e-12

    [leakage]           # replace: watts, per PE (ccu: for the chip)
    spmat_read = 2.0e-4

    [scale]             # multiply: a unit (ccu, act_queue, ptr_read, spmat_read, arith,
    spmat_read = 1.5    # act_rw) scales its events, clock and leakage; an event name scales
    macs = 0.8          # that event; dram_j_per_bit scales the DRAM energy

Replacements are applied first, then scales. The same structure in YAML::

    scale:
      spmat_read: 1.5
    events:
      macs: 1.2e-12

Unknown sections, units or events, values that are missing, not numbers, negative or not finite
raise :class:`EnergyTableError` (an :class:`eiesim.errors.EiesimError`) naming the entry, the
limit and the fix. Each replaced or scaled entry's provenance says so and names the file.
Examples: ``eiesim/data/energy/example.toml`` and ``example.yaml``.
"""

from eiesim.energy.area import AreaReport, area_report
from eiesim.energy.calibration import CALIBRATION_ACTIVITY
from eiesim.energy.events import ENERGY_EVENTS, UNIT_OF, event_counts
from eiesim.energy.report import DenseBaseline, EnergyReport, dense_baseline_energy, energy_report
from eiesim.energy.sram import sram_area_um2, sram_read_energy_j
from eiesim.energy.table import (
    Calibration,
    EnergyTable,
    EnergyTableError,
    calibration_fit,
    default_energy_table,
)
from eiesim.energy.user import apply_overrides, load_energy_table

__all__ = [
    "CALIBRATION_ACTIVITY", "ENERGY_EVENTS", "UNIT_OF", "AreaReport", "Calibration",
    "DenseBaseline", "EnergyReport",
    "EnergyTable", "EnergyTableError", "apply_overrides", "area_report", "calibration_fit",
    "default_energy_table", "dense_baseline_energy", "energy_report", "event_counts",
    "load_energy_table", "sram_area_um2", "sram_read_energy_j",
]
