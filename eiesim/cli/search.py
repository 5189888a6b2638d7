"""``eiesim search``: compress a trained MLP for EIE with the simulator in the loop.

Thin: parse, declare every output before any work (:class:`eiesim.safe_output.OutputFiles`),
call :func:`eiesim.search.search`, write the network file, the CSV and the plot all
or nothing, print the chosen network and its per-layer table.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from eiesim.cli.options import add_spec_options, announce, parse_seed, spec_from_args
from eiesim.errors import UsageError
from eiesim.safe_output import OutputFiles

NAME = "search"
HELP = ("compress a trained MLP for EIE: per-layer densities chosen on simulated cycles or "
        "energy")
PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def add_parser(commands: Any) -> None:
    """Add ``eiesim search`` and its options to the command parser."""
    from eiesim.search import OBJECTIVES, SearchSettings
    from eiesim.search.compression import PRUNING_METHODS as METHODS

    search = commands.add_parser(
        NAME, help=HELP,
        description="Prune, fine-tune and weight-share every layer of a trained MLP with "
                    "several strategies (uniform and global magnitude baselines, sensitivity "
                    "threshold rule and allocation, NetAdapt, AMC-style policy search), each "
                    "network measured on the simulated chip; write the network that meets the "
                    "accuracy bound at the lowest objective, a CSV of every evaluated network "
                    "and optionally a plot. MODEL: an .npz with layer{K}_weights (out, in) and "
                    "optional layer{K}_bias, or a safetensors / ONNX / PyTorch weights file. "
                    "DATA: an .npz with train_inputs, train_labels, test_inputs, test_labels.",
        epilog="Cycles and energy are those of the first test input, which the network file "
               "holds as its activations: 'eiesim run NET.npz' with the same hardware flags "
               "reports the same numbers. Exit codes: 0 success, 2 bad input (nothing "
               "written), 130 interrupted.")
    search.add_argument("model", type=Path, metavar="MODEL", help="trained model file")
    search.add_argument("--data", type=Path, required=True, metavar="DATA.npz",
                        help="training and test data")
    search.add_argument("--objective", required=True, choices=OBJECTIVES,
                        help="what to minimise: simulated cycles or energy per inference")
    search.add_argument("--max-accuracy-drop", type=float, required=True, metavar="D",
                        help="absolute test-accuracy drop on the chip allowed against the "
                             "model's float accuracy (0.01 = one point)")
    search.add_argument("--method", type=_methods, metavar="M[,M...]",
                        help="per-layer pruning method(s); every strategy runs with each: "
                             + ", ".join(METHODS) + " (default "
                             + ",".join(SearchSettings.methods) + ")")
    add_spec_options(search, fit=False)
    search.add_argument("--bits", dest="spec:weight_index_bits", type=int, metavar="B",
                        help="weight-sharing bits per layer: alias of --weight-bits")
    where = search.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="local worker processes (default: all cores)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="evaluate on a Dask cluster, e.g. tcp://127.0.0.1:8786")
    search.add_argument("--seed", type=parse_seed, default=0, help="seed of every random choice")
    search.add_argument("-o", "--output", type=Path, required=True, metavar="NET.npz",
                        help="network file of the chosen network ('eiesim run' runs it)")
    search.add_argument("--report", type=Path, required=True, metavar="FRONT.csv",
                        help="CSV of every evaluated network, with Pareto and chosen flags")
    search.add_argument("--plot", type=Path, metavar="FRONT.png",
                        help="plot of accuracy against the objective (.png, .pdf or .svg)")
    search.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    search.set_defaults(handler=handle)


def _methods(text: str) -> tuple[str, ...]:
    from eiesim.search.compression import PRUNING_METHODS as METHODS

    methods = tuple(item.strip() for item in text.split(",") if item.strip())
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise argparse.ArgumentTypeError(f"{text!r}: give pruning methods among "
                                         f"{', '.join(METHODS)}, separated by commas")
    return methods


def handle(args: argparse.Namespace) -> int:
    """Search, write the chosen network, the report and the plot; returns the exit code."""
    from eiesim.search import SearchSettings, search
    from eiesim.search.model import load_data, load_model

    spec = spec_from_args(args)
    methods = {} if args.method is None else {"methods": args.method}
    settings = SearchSettings(objective=args.objective, max_accuracy_drop=args.max_accuracy_drop,
                              seed=args.seed, **methods)
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers} is below the minimum 1; give at least one "
                         f"process")
    with OutputFiles(inputs=[args.model, args.data]) as outputs:
        outputs.add(args.output, "-o", suffixes=(".npz",))
        outputs.add(args.report, "--report", suffixes=(".csv",))
        if args.plot is not None:
            outputs.add(args.plot, "--plot", suffixes=PLOT_SUFFIXES)
        model = load_model(args.model)
        data = load_data(args.data)
        data.check_model(model)
        result = search(model, data, spec, settings, workers=args.workers,
                        scheduler=args.scheduler, progress_bars=not args.no_progress)
        result.write_into(outputs, network_path=args.output, report_path=args.report,
                          plot_path=args.plot)
        written = outputs.commit()
    print(summary(result))
    announce(written)
    return 0


def summary(result: Any) -> str:
    """The chosen network against the dense and the best uniform ones, and its layers."""
    table, chosen, settings = result.table, result.chosen, result.settings
    dense = table[table["strategy"] == "dense"].iloc[0]
    column = "cycles" if settings.objective == "cycles" else "energy_j"
    floor = result.reference_accuracy - settings.max_accuracy_drop
    uniform = table[(table["strategy"] == "uniform") & table["meets_bound"]]
    lines = [
        f"eiesim search: {len(table)} networks evaluated in {result.seconds:.1f} s "
        f"({result.spec.num_pes} PEs, {settings.bits}-bit weights, pruning "
        f"{'/'.join(settings.methods)}, objective {settings.objective})",
        f"model float accuracy {result.reference_accuracy:.4f}; bound: chip accuracy >= "
        f"{floor:.4f}",
        f"chosen: {chosen['strategy']} ({chosen['method']}, {chosen['label']}), chip accuracy "
        f"{chosen['accuracy_chip']:.4f}, {int(chosen['cycles'])} cycles, "
        f"{chosen['energy_j'] * 1e9:.2f} nJ, density {chosen['density']:.3f}",
        f"dense on the chip: {int(dense['cycles'])} cycles, {dense['energy_j'] * 1e9:.2f} nJ "
        f"({dense[column] / chosen[column]:.2f}x the chosen {settings.objective})",
    ]
    if len(uniform):
        best = uniform[column].min()
        shown = f"{int(best)} cycles" if column == "cycles" else f"{best * 1e9:.2f} nJ"
        lines.append(f"best uniform density meeting the bound: {shown} "
                     f"({best / chosen[column]:.2f}x the chosen)")
    else:
        lines.append("no uniform-density network meets the bound")
    layers = result.layers.copy()
    layers["energy_nJ"] = layers.pop("energy_j") * 1e9
    lines += ["", layers.to_string(index=False, float_format=lambda v: f"{v:.3f}")]
    return "\n".join(lines)
