"""Per-layer and per-network tables of every format's exact size, the best format, the chip's
SRAM beside them, storage-only energy and EIE's index-width trade-off (docs/formats.md §3-§4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from eiesim.explore.formats.bits import FORMATS, check_format, pattern_of, storage_sizes
from eiesim.spec import DEFAULT_SPEC, HardwareSpec

LAYER_COLUMNS = ("layer", "name", "rows", "columns", "bias", "nonzeros", "density")
SIZE_COLUMNS = ("format", "bits", "value_bits", "index_bits", "pointer_bits", "alignment_bits",
                "padding_entries", "bits_per_nonzero", "vs_best", "best", "chip_sram_share",
                "storage_energy_j")


def chip_weight_sram_bits(spec: HardwareSpec = DEFAULT_SPEC) -> int:
    """Bits of the chip's weight storage: every PE's sparse-matrix and pointer SRAM."""
    return spec.num_pes * (spec.spmat_sram_bytes + spec.ptr_sram_bytes) * 8


def storage_j_per_bit(spec: HardwareSpec = DEFAULT_SPEC, energy_table: Any = None) -> float:
    """Energy to read one stored bit: a sparse-matrix SRAM line read of the energy table
    divided by the line's width. Storage-only: what reading a format's bits once costs, with
    nothing for decoding them or for the work they drive."""
    if energy_table is None:
        from eiesim.energy import default_energy_table

        energy_table = default_energy_table(spec)
    return energy_table.event_j["spmat_line_reads"] / spec.spmat_sram_width_bits


def layers_of(workload: Any) -> list[tuple[str, Any]]:
    """(name, layer) for a layer, a network (``.layers``), or a sequence or dict of layers."""
    if isinstance(workload, dict):
        return [(str(name), layer) for name, layer in workload.items()]
    if hasattr(workload, "layers") and not hasattr(workload, "codes"):
        workload = workload.layers
    if isinstance(workload, (list, tuple)):
        return [(getattr(layer, "source", "") or f"layer {k}", layer)
                for k, layer in enumerate(workload)]
    return [(getattr(workload, "source", "") or "layer", workload)]


def format_table(workload: Any, spec: HardwareSpec = DEFAULT_SPEC, *, values: str = "codebook",
                 index_bits: int | None = None, formats: Sequence[str] = FORMATS,
                 energy_table: Any = None, output_batches: bool = True) -> Any:
    """A tidy DataFrame, one row per layer and format: the layer (index, name, rows, columns,
    bias, non-zeros, density), the format's exact bits and their parts
    (:class:`~eiesim.explore.formats.bits.StorageSize`), ``vs_best`` (bits over the layer's
    smallest), ``best``, ``chip_sram_share`` (bits over :func:`chip_weight_sram_bits`) and
    ``storage_energy_j`` (bits x :func:`storage_j_per_bit`, storage-only).

    >>> import numpy as np
    >>> table = format_table(np.eye(64), HardwareSpec(num_pes=4))
    >>> table.loc[table["best"], "format"].tolist()  # every gap of the identity is 64 zeros
    ['delta']
    """
    import pandas as pd

    formats = tuple(check_format(fmt) for fmt in formats)
    per_bit = storage_j_per_bit(spec, energy_table)
    chip = chip_weight_sram_bits(spec)
    limit = (1 << spec.weight_index_bits) if values == "codebook" else None
    rows = []
    for k, (name, layer) in enumerate(layers_of(workload)):
        pattern = pattern_of(layer, codebook_entries=limit)
        sizes = storage_sizes(pattern, spec, values=values, index_bits=index_bits,
                              formats=formats, output_batches=output_batches)
        smallest = min(size.bits for size in sizes)
        for size in sizes:
            entry = size.to_dict()
            rows.append({"layer": k, "name": name, "rows": pattern.out_features,
                         "columns": pattern.in_features, "bias": pattern.has_bias,
                         "nonzeros": pattern.nonzeros, "density": pattern.density,
                         **{key: entry[key] for key in SIZE_COLUMNS[:8]},
                         "vs_best": size.bits / smallest if smallest else 1.0,
                         "best": size.bits == smallest, "chip_sram_share": size.bits / chip,
                         "storage_energy_j": size.bits * per_bit})
    table = pd.DataFrame(rows, columns=[*LAYER_COLUMNS, *SIZE_COLUMNS])
    # Ties go to the first format listed, so each layer has exactly one best.
    first = table[table["best"]].groupby("layer").head(1).index
    table["best"] = table.index.isin(first)
    return table


def network_totals(table: Any) -> Any:
    """Per format, the bits summed over a :func:`format_table`'s layers, and the network's
    best-per-layer mix (``format`` = "best per layer")."""
    import pandas as pd

    sums = table.groupby("format", sort=False)[["bits", "nonzeros", "storage_energy_j"]].sum()
    mix = table[table["best"]][["bits", "nonzeros", "storage_energy_j"]].sum()
    totals = pd.concat([sums, mix.to_frame("best per layer").T])
    totals["bits_per_nonzero"] = totals["bits"] / totals["nonzeros"]
    return totals.reset_index(names="format")


def index_bits_sweep(workload: Any, spec: HardwareSpec = DEFAULT_SPEC, *,
                     index_bits: Sequence[int] = tuple(range(1, 9)),
                     values: str = "codebook", output_batches: bool = True) -> Any:
    """EIE's format at each relative index width: a DataFrame of layer, name, index_bits,
    bits, padding_entries, padding_share (padding over all entries), bits_per_nonzero and
    best (the width that minimises the layer's bits). Narrow indices cost padding entries,
    wide ones cost every entry bits; where the minimum lies depends on the layer's gaps."""
    import pandas as pd

    rows = []
    for k, (name, layer) in enumerate(layers_of(workload)):
        pattern = pattern_of(layer)
        for bits in index_bits:
            size = storage_sizes(pattern, spec, values=values, index_bits=bits,
                                 formats=("eie",), output_batches=output_batches)[0]
            entries = size.nonzeros + size.padding_entries
            rows.append({"layer": k, "name": name, "index_bits": int(bits), "bits": size.bits,
                         "padding_entries": size.padding_entries,
                         "padding_share": size.padding_entries / entries if entries else 0.0,
                         "bits_per_nonzero": size.bits_per_nonzero})
    table = pd.DataFrame(rows)
    smallest = table.groupby("layer")["bits"].transform("min")
    table["best"] = table["bits"] == smallest
    first = table[table["best"]].groupby("layer").head(1).index
    table["best"] = table.index.isin(first)
    return table


def eie_energy(layer: Any, spec: HardwareSpec = DEFAULT_SPEC, *, energy_table: Any = None,
               activations: Any = None) -> dict[str, Any]:
    """What EIE's format costs at run time on the layer's input, from a simulation: the
    layer's energy, the energy of its sparse-matrix and pointer SRAM reads (the format's reads;
    only the broadcast columns' entries are read), the whole sparse-matrix and pointer read
    units (SRAM, clock, registers, leakage), and the storage-only estimate of reading every
    stored bit once, for comparison. A layer that does not fit ``spec``'s memories runs with
    just those enlarged (:func:`eiesim.format.encoded.fit_memories`), listed in ``spec_changes``."""
    from eiesim import encode
    from eiesim.energy import default_energy_table, energy_report
    from eiesim.format.capacity import fit_memories
    from eiesim.sim import simulate

    inputs = getattr(layer, "activations", None) if activations is None else activations
    if inputs is None:
        from eiesim.explore.formats.bits import StorageFormatError

        raise StorageFormatError("simulating EIE's energy needs the layer's input activations; "
                                 "give activations=... or a layer that carries them")
    spec, changes = fit_memories(layer, spec)
    table = default_energy_table(spec) if energy_table is None else energy_table
    result = simulate(encode(layer, spec=spec), np.asarray(inputs), spec)
    report = energy_report(result, table)
    stored = storage_sizes(layer, spec, formats=("eie",))[0].bits
    units = report.by_unit
    return {"energy_j": report.energy_j,
            "sram_read_j": report.by_event["spmat_line_reads"] + report.by_event["pointer_reads"],
            "format_units_j": units["spmat_read"] + units["ptr_read"],
            "storage_only_j": stored * storage_j_per_bit(spec, table), "spec_changes": changes}
