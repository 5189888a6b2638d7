"""``eiesim sweep``: one layer over a grid of design points, into a CSV table (and a plot)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from eiesim.cli.options import (
    add_source_options,
    add_spec_options,
    announce,
    input_path,
    load_workload,
    parse_seed,
    parse_setting,
    parse_variation,
    spec_from_args,
    sweep_axes,
)
from eiesim.errors import UsageError
from eiesim.safe_output import OutputFiles
from eiesim.spec import PARAMETERS

PLOT_SUFFIXES = (".png", ".pdf", ".svg")


NAME = "sweep"
HELP = ("simulate a layer over a grid of design points into a CSV table")


def add_parser(commands: Any) -> None:
    from eiesim.cli.run import ENGINES

    sweep = commands.add_parser(
        NAME, help=HELP,
        description="Simulate one layer at every combination of the given hardware values "
                    "(comma-separated lists, or --vary NAME=v1,v2 for any parameter) and write "
                    "one CSV row per point, with a column per parameter and per metric. Values "
                    "that are invalid in themselves stop the sweep before any point runs; a "
                    "point whose layer does not fit its memories becomes a row with the reason "
                    "in the 'error' column (or, with --fit-memories, runs on enlarged "
                    "memories). Exit code 0 when at least one point ran, 2 when none did.")
    add_source_options(sweep, "layer or network file (.npz); a network's rows hold per-layer "
                              "and total cycles, time, energy, edp_js and edap_jsm2")
    add_spec_options(sweep, lists=True)
    sweep.add_argument("--vary", action="append", type=parse_variation, dest="variations",
                       metavar="NAME=V1,V2,...", default=[],
                       help="sweep any hardware parameter by name (repeatable)")
    sweep.add_argument("--base", action="append", type=parse_setting, dest="settings",
                       metavar="NAME=VALUE", help=argparse.SUPPRESS)  # old name of --set
    sweep.add_argument("--engine", choices=ENGINES, default="fast",
                       help="fast: numba (default); reference: the SimPy model (slow)")
    sweep.add_argument("--energy-table", type=Path, metavar="FILE",
                       help="TOML or YAML energy table, as for 'eiesim run'")
    sweep.add_argument("--out", type=Path, required=True, metavar="RESULTS.csv",
                       help="CSV file to write")
    sweep.add_argument("--workers", type=int, metavar="N",
                       help="local worker processes (default: all cores)")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on a Dask cluster, e.g. tcp://127.0.0.1:8786")
    sweep.add_argument("--plot", type=Path, metavar="FIG.png",
                       help="also plot the metrics against the first axis (.png, .pdf, .svg)")
    sweep.add_argument("--plot-metrics", metavar="M1,M2,...", default="cycles,load_efficiency",
                       help="metrics to plot, one panel each (default cycles,load_efficiency)")
    sweep.add_argument("--seed", type=parse_seed, default=0,
                       help="quantization seed for float weights")
    sweep.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sweep.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from eiesim.explore.sweep import METRICS, NETWORK_METRICS, sweep

    # Everything that can be checked is checked before the first point runs.
    base = spec_from_args(args)
    axes = sweep_axes(args)
    if not axes:
        raise UsageError("give at least one axis to sweep, e.g. --pes 1,2,4, --fifo 1,8 or "
                         "--vary act_regs_per_file=32,64")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers} is below the minimum 1; give at least one "
                         f"worker process")
    plot_metrics = [name.strip() for name in args.plot_metrics.split(",") if name.strip()]
    unknown = [name for name in plot_metrics if name not in METRICS
               and name not in NETWORK_METRICS and not name.startswith("layer")]
    if args.plot is not None and (unknown or not plot_metrics):
        raise UsageError(f"--plot-metrics {args.plot_metrics!r}: unknown metric(s) "
                         f"{', '.join(unknown) or '(none given)'}; choose from "
                         f"{', '.join(METRICS)} (networks: {', '.join(NETWORK_METRICS)}, "
                         f"layer{{K}}_cycles, ...)")
    if args.plot is not None:
        from eiesim.plots import require_matplotlib

        require_matplotlib("--plot")
    with OutputFiles(inputs=[input_path(args), args.energy_table]) as outputs:
        outputs.add(args.out, "--out")
        if args.plot is not None:
            outputs.add(args.plot, "--plot", suffixes=PLOT_SUFFIXES)
        table_file = None
        if args.energy_table is not None:
            from eiesim.energy import load_energy_table

            # Read and check the table now (a bad table fails before any point runs).
            load_energy_table(args.energy_table, base)
            table_file = args.energy_table
        # Float weights are quantized once, to the smallest swept codebook, so that every
        # point's codebook fits its index width.
        weight_bits = min(axes.get("weight_index_bits", [base.weight_index_bits]))
        data = load_workload(args, weight_index_bits=weight_bits)
        # Columns carry the short axis names (pes, fifo, ...) where a field has one.
        named_axes = {PARAMETERS[name].axis or name: values for name, values in axes.items()}
        table = sweep(data, base, workers=args.workers, scheduler=args.scheduler,
                      engine=args.engine, energy_table=table_file,
                      fit_memories=args.fit_memories,
                      progress=not args.no_progress and sys.stderr.isatty(), **named_axes)
        failed = int(table["error"].notna().sum())
        ran = len(table) - failed
        if ran == 0:
            first = table["error"].dropna().iloc[0]
            raise UsageError(f"none of the {len(table)} points ran (first reason: {first}); "
                             f"add --fit-memories or change the hardware values; nothing was "
                             f"written")
        with outputs.writing(args.out) as temporary:
            table.to_csv(temporary, index=False)
        if args.plot is not None:
            from eiesim.plots import plot_sweep

            with outputs.writing(args.plot) as temporary:
                plot_sweep(table, list(table.columns[:len(axes)]), temporary,
                           metrics=plot_metrics)
        written = outputs.commit()
    print(f"eiesim sweep: {len(table)} points, {ran} ran, {failed} did not fit their hardware"
          + (" (see the 'error' column)" if failed else "") + f"; table in {args.out}")
    announce(written)
    return 0
