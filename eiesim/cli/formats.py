"""``eiesim formats``: each sparse format's exact size for a layer or network, the best format,
and how far EIE's is from it; or, for a matrix shape, the formulas' crossover densities."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from eiesim.cli.options import (
    PLOT_SUFFIXES,
    add_common_options,
    add_source_options,
    add_spec_options,
    announce,
    input_path,
    load_workload,
    spec_from_args,
)
from eiesim.errors import UsageError
from eiesim.safe_output import OutputFiles

NAME = "formats"
HELP = "compare sparse storage formats (bitmap, COO, CSR, CSC, delta, EIE's) on a layer"
SPEC_FIELDS = ("num_pes", "weight_index_bits", "pointer_bits", "spmat_sram_width_bits",
               "spmat_sram_bytes", "ptr_sram_bytes", "act_regs_per_file", "arithmetic")
STORAGE_ONLY = ("storage-only energy: every stored bit read once at the sparse-matrix SRAM's "
                "energy per bit (a line read / its width); decoding and arithmetic not counted")


def add_parser(commands: Any) -> None:
    """Add ``eiesim formats`` and its options to the command parser."""
    from eiesim.explore.formats import FORMATS, VALUES

    parser = commands.add_parser(
        NAME, help=HELP,
        description="Exact bits of each layer in every sparse format (values, indices, "
                    "pointers, padding entries, SRAM-line alignment), bits per non-zero, the "
                    "best format per layer and EIE's distance from it, beside the chip's "
                    "weight SRAM. With --shape, the formulas' crossover densities for a matrix "
                    "of that shape instead. Definitions: docs/formats.md.")
    source = add_source_options(parser, "layer or network file (.npz)")
    source.add_argument("--shape", metavar="ROWSxCOLUMNS",
                        help="no layer: the formulas for a matrix of this shape, e.g. 10000x10000")
    add_spec_options(parser, fields=SPEC_FIELDS, fit=False)
    parser.add_argument("--index-bits", metavar="B[,B...]",
                        help="EIE's relative index width (default: the spec's); several "
                             "values sweep it and show the padding/width trade-off (the "
                             "table uses the first)")
    parser.add_argument("--values", choices=VALUES, default="codebook",
                        help="codebook: k-bit codebook indices (k = --weight-bits, default); "
                             "raw: the datapath's data_bits per value")
    parser.add_argument("--formats", metavar="F1,F2,...", default=",".join(FORMATS),
                        help=f"formats to compare (default all: {', '.join(FORMATS)})")
    parser.add_argument("--densities", metavar="D1,D2,...",
                        help="with --shape: also print the expected bits at these densities")
    parser.add_argument("--simulate", action="store_true",
                        help="also simulate EIE on each layer's input and show how much of its "
                             "energy the format's SRAM reads take")
    add_common_options(
        parser, "energy_table", "seed", "json", "plot",
        seed={"help": "seed of the k-means quantization of float weights (default 0)"},
        plot={"help": "write the bits-per-non-zero figure (.png, .pdf, .svg)"})
    parser.set_defaults(handler=handle)


def _numbers(text: str, option: str, kind: type) -> list[Any]:
    try:
        values = [kind(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a comma-separated list of "
                         f"{'whole numbers' if kind is int else 'numbers'}") from None
    if not values:
        raise UsageError(f"{option} {text!r} has no values; give e.g. {option} 2,4")
    return values


def _shape(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*", text)
    if not match or min(int(match.group(1)), int(match.group(2))) < 1:
        raise UsageError(f"--shape {text!r} is not ROWSxCOLUMNS with both at least 1; give "
                         f"e.g. --shape 10000x10000")
    return int(match.group(1)), int(match.group(2))


def handle(args: argparse.Namespace) -> int:
    """Print (or write as JSON and a figure) each format's bits per layer; returns the exit code."""
    from eiesim.explore.formats.bits import check_format, check_index_bits

    spec = spec_from_args(args)
    formats = tuple(check_format(name.strip()) for name in args.formats.split(",")
                    if name.strip())
    if not formats:
        raise UsageError("--formats is empty; name at least one format")
    index_bits = [check_index_bits(bits) for bits in
                  _numbers(args.index_bits, "--index-bits", int)] if args.index_bits else \
        [spec.rel_index_bits]
    spec = spec.replace(rel_index_bits=index_bits[0])
    if args.densities is not None and args.shape is None:
        raise UsageError("--densities goes with --shape (the formulas); a layer has its own "
                         "density")
    if args.plot is not None:
        from eiesim.plots import require_matplotlib

        require_matplotlib("--plot")
    with OutputFiles(inputs=[None if args.shape else input_path(args), args.energy_table]) \
            as outputs:
        if args.plot is not None:
            outputs.add(args.plot, "--plot", suffixes=PLOT_SUFFIXES)
        if args.shape is not None:
            payload, text, draw = _shape_report(args, spec, formats)
        else:
            payload, text, draw = _layer_report(args, spec, formats, index_bits)
        if args.plot is not None:
            with outputs.writing(args.plot) as temporary:
                draw(temporary)
        written = outputs.commit()
    print(json.dumps(payload) if args.json else text)
    announce(written)
    return 0


def _shape_report(args: argparse.Namespace, spec: Any,
                  formats: tuple[str, ...]) -> tuple[dict[str, Any], str, Any]:
    from eiesim.explore.formats import best_regions, crossovers, expected_table
    from eiesim.explore.formats.crossover import check_densities

    rows, columns = _shape(args.shape)
    densities = check_densities(_numbers(args.densities, "--densities", float)) \
        if args.densities else None
    options = {"values": args.values, "formats": formats}
    regions = best_regions(rows, columns, spec, **options)
    crossings = crossovers(rows, columns, spec, **options)
    payload: dict[str, Any] = {
        "shape": [rows, columns], "values": args.values, "spec": spec.to_dict(),
        "best_regions": regions.to_dict("records"),
        "crossovers": crossings.drop(columns="grid_step").to_dict("records")}
    lines = [f"eiesim formats: expected bits of a {rows} x {columns} matrix (formulas, "
             f"docs/formats.md §2), {_widths(spec, args.values)}", "", "best format by density:"]
    lines += [f"  {row.density_from:10.3g} .. {row.density_to:<10.3g} {row.format}"
              for row in regions.itertuples()]
    lines += ["", "crossovers (density: the smaller format below / above it):"]
    lines += [f"  {row.density:10.3g}  {row.smaller_below:>6} / {row.smaller_above}"
              for row in crossings.itertuples()]
    if densities is not None:
        table = expected_table(rows, columns, spec, densities=densities, **options)
        payload["densities"] = table.to_dict("records")
        lines += ["", "expected bits per non-zero:",
                  "  density " + "".join(f"{fmt:>9}" for fmt in formats)]
        for density, part in table.groupby("density", sort=False):
            lines.append(f"  {density:7.3g} " + "".join(
                f"{value:9.2f}" for value in part["bits_per_nonzero"]))

    def draw(path: Path) -> None:
        from eiesim.explore.formats import plot_bits_per_nonzero

        plot_bits_per_nonzero(rows, columns, spec, formats=formats, values=args.values,
                              path=path)
    return payload, "\n".join(lines), draw


def _widths(spec: Any, values: str) -> str:
    value = f"{spec.weight_index_bits}-bit codebook values" if values == "codebook" \
        else f"{spec.data_bits}-bit raw values"
    return (f"{value}, eie on {spec.num_pes} PEs with a {spec.rel_index_bits}-bit relative "
            f"index and {spec.pointer_bits}-bit pointers")


def _layer_report(args: argparse.Namespace, spec: Any, formats: tuple[str, ...],
                  index_bits: list[int]) -> tuple[dict[str, Any], str, Any]:
    from eiesim.explore.formats import (
        chip_weight_sram_bits,
        eie_energy,
        format_table,
        index_bits_sweep,
        network_totals,
    )

    table_file = None
    if args.energy_table is not None:
        from eiesim.energy import load_energy_table

        table_file = load_energy_table(args.energy_table, spec)
    workload = load_workload(args, weight_index_bits=spec.weight_index_bits)
    table = format_table(workload, spec, values=args.values, formats=formats,
                         energy_table=table_file)
    sweep = index_bits_sweep(workload, spec, index_bits=index_bits, values=args.values) \
        if len(index_bits) > 1 else None
    from eiesim.explore.formats.table import layers_of

    layers = layers_of(workload)
    chip = chip_weight_sram_bits(spec)
    payload: dict[str, Any] = {"layers": [], "values": args.values,
                               "chip_weight_sram_bits": chip, "spec": spec.to_dict(),
                               "storage_energy": STORAGE_ONLY}
    lines = [f"eiesim formats: {_widths(spec, args.values)}; the chip's weight SRAM "
             f"{spec.num_pes} x ({spec.spmat_sram_bytes} + {spec.ptr_sram_bytes}) B = "
             f"{chip:,} bits"]
    for k, (name, layer) in enumerate(layers):
        part = table[table["layer"] == k]
        first = part.iloc[0]
        best = part[part["best"]].iloc[0]
        entry: dict[str, Any] = {
            "layer": k, "name": name, "rows": int(first["rows"]),
            "columns": int(first["columns"]), "bias": bool(first["bias"]),
            "nonzeros": int(first["nonzeros"]), "density": float(first["density"]),
            "formats": [_format_record(row) for row in part.to_dict("records")],
            "best": best["format"]}
        lines += ["", f"layer {k}: {name}, {first['rows']} x {first['columns']}"
                      f"{' + bias' if first['bias'] else ''}, {first['nonzeros']:,} non-zeros "
                      f"(density {first['density']:.2%})", _header()]
        lines += [_row(row) for row in part.itertuples()]
        eie = part[part["format"] == "eie"]
        line = f"  best: {best['format']}, {best['bits_per_nonzero']:.2f} bits per non-zero"
        if len(eie):
            ratio = float(eie["vs_best"].iloc[0])
            entry["eie_vs_best"] = ratio
            line += f"; eie takes {ratio:.2f}x the best"
        lines.append(line)
        if sweep is not None:
            rows = sweep[sweep["layer"] == k]
            entry["index_bits_sweep"] = rows.drop(columns=["layer", "name"]).to_dict("records")
            chosen = rows[rows["best"]].iloc[0]
            entry["best_index_bits"] = int(chosen["index_bits"])
            lines.append("  eie by index bits: " + ", ".join(
                f"{r.index_bits}: {r.bits_per_nonzero:.2f} b/nz ({r.padding_share:.0%} padding)"
                for r in rows.itertuples()) + f"; smallest at {chosen['index_bits']} bits")
        if args.simulate:
            energy = eie_energy(layer, spec, energy_table=table_file,
                                activations=_input_of(workload, k, layer))
            entry["eie_simulated"] = energy
            lines.append(
                f"  eie simulated on the layer's input: {energy['energy_j'] * 1e6:.3f} uJ; its "
                f"sparse-matrix and pointer SRAM reads {energy['sram_read_j'] * 1e6:.3f} uJ "
                f"({energy['sram_read_j'] / energy['energy_j']:.0%}), the two read units "
                f"{energy['format_units_j'] * 1e6:.3f} uJ "
                f"({energy['format_units_j'] / energy['energy_j']:.0%}); storage-only "
                f"estimate {energy['storage_only_j'] * 1e6:.3f} uJ" + (
                    " (on memories enlarged to fit: " + ", ".join(
                        f"{name} = {value}" for name, value in energy["spec_changes"].items())
                    + ")" if energy["spec_changes"] else ""))
        payload["layers"].append(entry)
    if len(layers) > 1:
        totals = network_totals(table)
        payload["totals"] = totals.to_dict("records")
        lines += ["", "network: bits summed over the layers"]
        lines += [f"  {row.format:<15} {int(row.bits):>14,} bits {row.bits_per_nonzero:7.2f} "
                  f"b/nz {row.bits / chip:7.1%} of the chip's SRAM"
                  for row in totals.itertuples()]
    lines += ["", f"{STORAGE_ONLY}."]
    return payload, "\n".join(lines), lambda path: _plot_layers(table, spec, formats,
                                                                args.values, path)


def _input_of(workload: Any, k: int, layer: Any) -> Any:
    """The input a layer runs on: its own, or for a chained network the network's (layer 0)."""
    if getattr(layer, "activations", None) is not None:
        return layer.activations
    own = getattr(workload, "layer_inputs", None)
    if own is not None:
        return own[k]
    if k == 0 and getattr(workload, "activations", None) is not None:
        return workload.activations
    raise UsageError(f"--simulate: layer {k} has no input of its own (a chained network's "
                     f"later layers run on the previous layer's output); run the network with "
                     f"'eiesim run' for its energy")


def _format_record(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("format", "bits", "value_bits", "index_bits", "pointer_bits", "alignment_bits",
            "padding_entries", "bits_per_nonzero", "vs_best", "chip_sram_share",
            "storage_energy_j")
    return {key: (row[key].item() if hasattr(row[key], "item") else row[key]) for key in keys}


def _header() -> str:
    return (f"  {'format':<7}{'bits':>13}{'b/nz':>8}{'values':>12}{'indices':>12}"
            f"{'pointers':>11}{'align':>9}{'padding':>9}{'x best':>8}{'chip SRAM':>10}"
            f"{'storage nJ':>11}")


def _row(row: Any) -> str:
    return (f"  {row.format:<7}{row.bits:>13,}{row.bits_per_nonzero:>8.2f}{row.value_bits:>12,}"
            f"{row.index_bits:>12,}{row.pointer_bits:>11,}{row.alignment_bits:>9,}"
            f"{row.padding_entries:>9,}{row.vs_best:>8.2f}{row.chip_sram_share:>10.1%}"
            f"{row.storage_energy_j * 1e9:>11.1f}" + ("  <- best" if row.best else ""))


def _plot_layers(table: Any, spec: Any, formats: tuple[str, ...], values: str,
                 path: Path) -> None:
    """One panel per layer: the formulas at its shape, its exact sizes as markers."""
    from eiesim.explore.formats import plot_bits_per_nonzero
    from eiesim.plots import require_matplotlib

    figure_class = require_matplotlib("--plot")
    count = int(table["layer"].nunique())
    across = min(3, count)
    down = -(-count // across)
    figure = figure_class(figsize=(6.5 * across, 4.6 * down))
    panels = figure.subplots(down, across, squeeze=False)
    for k, axis in enumerate(panels.ravel()):
        if k >= count:
            axis.set_visible(False)
            continue
        part = table[table["layer"] == k]
        first = part.iloc[0]
        plot_bits_per_nonzero(int(first["rows"]), int(first["columns"]) + int(first["bias"]),
                              spec, formats=formats, values=values, measured=part, ax=axis,
                              title=f"layer {k}: {Path(first['name']).name}", points=121)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
