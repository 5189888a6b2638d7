"""Which sparse storage format pays at which density, and what EIE's choice costs
(docs/formats.md).

* :mod:`~eiesim.explore.formats.bits`: the exact bits of a layer in each format (dense, bitmap,
  coo, csr, csc, delta, padded, eie), with values, indices, pointers, padding entries and the
  SRAM-line alignment of EIE's per-PE storage;
* :mod:`~eiesim.explore.formats.crossover`: each format's expected bits against density from
  the formulas, the densities where one overtakes another, the best format's ranges;
* :mod:`~eiesim.explore.formats.table`: tidy per-layer and per-network tables beside the chip's
  SRAM, storage-only energy, EIE's index-width sweep and its simulated energy;
* :mod:`~eiesim.explore.formats.plot`: the crossover figure.

>>> from eiesim.explore.formats import format_table
>>> from eiesim.explore.catalog import load_example
>>> table = format_table(load_example("alexnet-fc8"))
>>> table.loc[table["best"], "format"].item()
'bitmap'
"""

from eiesim.explore.formats.bits import (
    FORMATS,
    VALUES,
    Pattern,
    StorageFormatError,
    StorageSize,
    eie_slices,
    pattern_of,
    storage_size,
    storage_sizes,
)
from eiesim.explore.formats.crossover import (
    best_regions,
    crossovers,
    density_grid,
    expected_bits,
    expected_parts,
    expected_table,
)
from eiesim.explore.formats.plot import plot_bits_per_nonzero
from eiesim.explore.formats.table import (
    chip_weight_sram_bits,
    eie_energy,
    format_table,
    index_bits_sweep,
    network_totals,
    storage_j_per_bit,
)

__all__ = ["FORMATS", "VALUES", "Pattern", "StorageFormatError", "StorageSize", "best_regions",
           "chip_weight_sram_bits", "crossovers", "density_grid", "eie_energy", "eie_slices",
           "expected_bits", "expected_parts", "expected_table", "format_table",
           "index_bits_sweep", "network_totals", "pattern_of", "plot_bits_per_nonzero",
           "storage_j_per_bit", "storage_size", "storage_sizes"]
