"""``eiesim sweep``: one layer over a grid of design points, into a CSV table (and a plot)."""

from __future__ import annotations

import argparse
import math
import sys
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
    parse_variation,
    spec_from_args,
    sweep_axes,
)
from eiesim.errors import UsageError
from eiesim.safe_output import OutputFiles
from eiesim.spec import PARAMETERS, field_for

MAX_POINTS_WITHOUT_YES = 100_000
"""Grids larger than this run only with --yes (at about a millisecond a point on two cores,
that is about an hour); a command line cannot stop to ask in a script or CI."""


NAME = "sweep"
HELP = ("simulate a layer or a network over a grid of design points into a CSV table")


def add_parser(commands: Any) -> None:
    """Add ``eiesim sweep`` and its options to the command parser."""
    sweep = commands.add_parser(
        NAME, help=HELP,
        description="Simulate a layer, a network or a shipped example at every combination of "
                    "the given hardware values "
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
    add_common_options(
        sweep, "engine", "energy_table", "output", workers=True,
        output={"metavar": "RESULTS.csv",
                "help": "CSV file to write (required); rows stream to RESULTS.csv.partial "
                        "while the sweep runs, and RESULTS.csv (with RESULTS.meta.json: "
                        "input, settings, energy table) appears when every point is done"})
    sweep.add_argument("--out", type=Path, dest="output", help=argparse.SUPPRESS)  # old name
    sweep.add_argument("--resume", action="store_true",
                       help="finish an interrupted sweep: skip the points already in "
                            "RESULTS.csv.partial (or in a finished RESULTS.csv, to extend its "
                            "grid); refused if the file was made from another input or other "
                            "settings")
    sweep.add_argument("--yes", action="store_true",
                       help=f"run a grid of more than {MAX_POINTS_WITHOUT_YES:,} points "
                            f"(refused without it)")
    add_common_options(sweep, "plot", plot={
        "help": "also plot the metrics against one axis (.png, .pdf, .svg)"})
    sweep.add_argument("--plot-x", metavar="NAME",
                       help="the plot's x axis (default: the first axis given)")
    sweep.add_argument("--plot-metrics", metavar="M1,M2,...", default="cycles,load_efficiency",
                       help="metrics to plot, one panel each (default cycles,load_efficiency)")
    add_common_options(sweep, "seed", "json", "no_progress", seed={
        "help": "seed of the k-means quantization of float weights (default 0)"}, json={
        "help": "print the summary (points run, best point per metric) as one JSON object"})
    sweep.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the grid into the CSV file (streamed, resumable) and print its summary."""
    from eiesim.explore.sweep_file import StreamingSweep, metadata_path, partial_path

    # Everything that can be checked is checked before the first point runs.
    base = spec_from_args(args)
    axes = sweep_axes(args)
    _check_options(args, axes)
    named_axes = {PARAMETERS[name].axis or name: values for name, values in axes.items()}
    plot_x = _plot_x(args, named_axes)
    if args.plot is not None:
        from eiesim.plots import require_matplotlib

        require_matplotlib("--plot")
    with OutputFiles(inputs=[input_path(args), args.energy_table]) as outputs:
        outputs.add(args.output, "--output")
        if args.plot is not None:
            outputs.add(args.plot, "--plot", suffixes=PLOT_SUFFIXES)
        if args.energy_table is not None:
            from eiesim.energy import load_energy_table

            # Read and check the table now (a bad table fails before any point runs).
            load_energy_table(args.energy_table, base)
        # Float weights are quantized once, to the smallest swept codebook, so that every
        # point's codebook fits its index width.
        weight_bits = min(axes.get("weight_index_bits", [base.weight_index_bits]))
        data = load_workload(args, weight_index_bits=weight_bits)
        plot_metrics = _plot_metrics(args, data)
        # Columns carry the short axis names (pes, fifo, ...) where a field has one.
        sweep = StreamingSweep(data, args.output, base, axes=named_axes, resume=args.resume,
                               engine=args.engine or "fast", energy_table=args.energy_table,
                               fit_memories=args.fit_memories, workers=args.workers,
                               scheduler=args.scheduler,
                               progress=not args.no_progress and sys.stderr.isatty())
        if sweep.sidecar:
            outputs.add(metadata_path(args.output), "--output's metadata")
        try:
            sweep.run(notify=lambda text: print(f"eiesim sweep: {text}", file=sys.stderr))
        except KeyboardInterrupt:
            if sweep.sidecar:
                print(f"eiesim: interrupted; the finished points are kept in "
                      f"{partial_path(args.output)} (run the same command with --resume to "
                      f"finish); {args.output} was not written", file=sys.stderr)
            else:
                print("eiesim: interrupted; no file was written", file=sys.stderr)
            return 130
        # Every point ran: from here on a failure is the outputs' (a full disk, a device), and
        # like every command this one then leaves nothing behind, its journal included.
        try:
            summary = sweep.produce(outputs)
            if summary.ran == 0:
                raise UsageError(f"none of the {summary.points} points ran (first reason: "
                                 f"{summary.first_error}); add --fit-memories or change the "
                                 f"hardware values; nothing was written")
            if args.plot is not None:
                import pandas as pd

                from eiesim.plots import plot_sweep

                table = pd.read_csv(sweep.table_file)
                with outputs.writing(args.plot) as temporary:
                    plot_sweep(table, [plot_x] + [name for name in named_axes if name != plot_x],
                               temporary, metrics=plot_metrics)
            written = outputs.commit()
        except BaseException:
            sweep.remove_partial()
            raise
    sweep.remove_partial()
    failed = summary.failed
    if args.json:
        from eiesim.checks import json_text

        print(json_text(summary.to_dict() | {"output": str(args.output)}))
        announce(written)
        return 0
    print(f"eiesim sweep: {summary.points} points, {summary.ran} ran, {failed} did not fit "
          f"their hardware" + (" (see the 'error' column)" if failed else "")
          + f"; table in {args.output}")
    for line in summary.lines():
        print(line)
    announce(written)
    return 0


def _check_options(args: argparse.Namespace, axes: dict[str, list[Any]]) -> None:
    from eiesim.explore.executor import check_scheduler_address

    if not axes:
        raise UsageError("give at least one axis to sweep, e.g. --pes 1,2,4, --fifo 1,8 or "
                         "--vary act_regs_per_file=32,64")
    if args.output is None:
        raise UsageError("give the file to write with -o/--output RESULTS.csv")
    for name, value in args.settings or []:
        if name in axes:
            raise UsageError(f"--set {name}={value} and the axis {PARAMETERS[name].flag} both "
                             f"give {name}; a setting is the same for every point, so drop "
                             f"one of them")
    for name, values in axes.items():
        repeated = [value for index, value in enumerate(values) if value in values[:index]]
        if repeated:
            raise UsageError(f"{PARAMETERS[name].flag} lists {repeated[0]!r} twice, which would "
                             f"give duplicate rows; give each value once")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers} is below the minimum 1; give at least one "
                         f"worker process")
    if args.scheduler is not None:
        check_scheduler_address(args.scheduler)
    points = math.prod(len(values) for values in axes.values())
    if points > MAX_POINTS_WITHOUT_YES and not args.yes:
        raise UsageError(f"the grid has {points:,} points, more than "
                         f"{MAX_POINTS_WITHOUT_YES:,}; add --yes to run it (it is saved as "
                         f"it goes and can be resumed), or give fewer values")


def _plot_x(args: argparse.Namespace, named_axes: dict[str, list[Any]]) -> str:
    """The plot's x axis as a column name: --plot-x by column, field or flag name, or the
    first axis given."""
    if args.plot_x is None:
        return next(iter(named_axes))
    wanted = args.plot_x.strip().lstrip("-")
    for name in named_axes:
        field = field_for(name)
        if wanted in (name, field, PARAMETERS[field].flag.lstrip("-")):
            return name
    raise UsageError(f"--plot-x {args.plot_x!r} is not a swept axis; choose one of "
                     f"{', '.join(named_axes)}")


def _plot_metrics(args: argparse.Namespace, data: Any) -> list[str]:
    from eiesim.explore.sweep import LAYER_METRICS, METRICS, NETWORK_METRICS
    from eiesim.network import is_network

    plot_metrics = [name.strip() for name in args.plot_metrics.split(",") if name.strip()]
    if is_network(data):
        known = list(NETWORK_METRICS) + [f"layer{index}_{name}"
                                         for index in range(len(data.layers))
                                         for name in LAYER_METRICS]
        choices = f"{', '.join(NETWORK_METRICS)}, layer0_cycles ... " \
                  f"layer{len(data.layers) - 1}_{LAYER_METRICS[-1]}"
    else:
        known, choices = list(METRICS), ", ".join(METRICS)
    unknown = [name for name in plot_metrics if name not in known]
    if args.plot is not None and (unknown or not plot_metrics):
        raise UsageError(f"--plot-metrics {args.plot_metrics!r}: unknown metric(s) "
                         f"{', '.join(unknown) or '(none given)'} for this "
                         f"{'network' if is_network(data) else 'layer'}; choose from {choices}")
    return plot_metrics
