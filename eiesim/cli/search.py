"""``eiesim search``: compress a trained MLP for EIE with the simulator in the loop.

Thin: parse, declare every output before any work (:class:`eiesim.safe_output.OutputFiles`),
call :func:`eiesim.search.search`, write the network file, the CSV and the plot all
or nothing, print the chosen network and its per-layer table.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from eiesim.cli.options import (
    PLOT_SUFFIXES,
    add_common_options,
    add_spec_options,
    announce,
    spec_from_args,
)
from eiesim.errors import UsageError
from eiesim.safe_output import OutputFiles

NAME = "search"
HELP = ("compress a trained MLP for EIE: per-layer densities chosen on simulated cycles or "
        "energy")
NOTHING_MEETS_BOUND = 3
"""Exit code when no compressed network meets the bound (the report is still written)."""


def add_parser(commands: Any) -> None:
    """Add ``eiesim search`` and its options to the command parser."""
    from eiesim.search import OBJECTIVES, SearchSettings
    from eiesim.search.compression import PRUNING_METHODS as METHODS

    search = commands.add_parser(
        NAME, help=HELP,
        description="Prune, fine-tune and weight-share every layer of a trained MLP with "
                    "several strategies (uniform, global magnitude and Deep Compression recipe "
                    "baselines, sensitivity threshold rule and allocation, NetAdapt, "
                    "AMC-style policy search), each network measured on the simulated chip; "
                    "write the compressed network that meets the accuracy bound at the lowest "
                    "objective, a CSV of every evaluated network and optionally a plot. "
                    "MODEL: an .npz with layer{K}_weights (out, in) and optional "
                    "layer{K}_bias, or a safetensors / ONNX / PyTorch weights file. "
                    "DATA: an .npz with train_inputs, train_labels, test_inputs, test_labels "
                    "and val_inputs, val_labels (a validation split the model was not trained "
                    "on: every decision is taken on it, the test set only reports).",
        epilog="Cycles and energy are those of the first test input, which the network file "
               "holds as its activations: 'eiesim run NET.npz' with the same hardware flags "
               "reports the same numbers. Exit codes: 0 success, 2 bad input (nothing "
               "written), 3 nothing compressed meets the bound (only the report and the plot "
               "are written), 130 interrupted.")
    search.add_argument("model", type=Path, metavar="MODEL", help="trained model file")
    search.add_argument("--data", type=Path, required=True, metavar="DATA.npz",
                        help="training and test data")
    search.add_argument("--objective", required=True, choices=OBJECTIVES,
                        help="what to minimise: simulated cycles or energy per inference")
    search.add_argument("--max-accuracy-drop", type=float, required=True, metavar="D",
                        help="absolute validation-accuracy drop on the chip allowed against "
                             "the model's float validation accuracy (0.01 = one point)")
    search.add_argument("--margin", type=float, default=0.0, metavar="K",
                        help="the bound must hold by K standard errors of each network's "
                             "validation accuracy (default 0)")
    search.add_argument("--validation-from-train", type=float, metavar="F",
                        dest="validation_from_train",
                        help="without val_inputs in DATA: use a share F (e.g. 0.15) of the "
                             "training rows as validation; honest only if the model was not "
                             "trained on them")
    search.add_argument("--fine-tune-lr", type=float, default=SearchSettings.fine_tune_lr,
                        metavar="LR", help="Adam learning rate of every fine-tune (default "
                                           f"{SearchSettings.fine_tune_lr:g})")
    search.add_argument("--fine-tune-epochs", type=int, default=SearchSettings.long_epochs,
                        metavar="N",
                        help="epochs per pruning step of every compared network (at most: "
                             "early stopping on validation loss); each gets "
                             f"{SearchSettings.prune_steps} x N (default "
                             f"{SearchSettings.long_epochs})")
    search.add_argument("--fine-tune-batch", type=int, default=SearchSettings.fine_tune_batch,
                        metavar="B", help="mini-batch size of fine-tuning (default "
                                          f"{SearchSettings.fine_tune_batch})")
    search.add_argument("--method", type=_methods, metavar="M[,M...]",
                        help="per-layer pruning method(s); every strategy runs with each: "
                             + ", ".join(METHODS) + " (default "
                             + ",".join(SearchSettings.methods) + ")")
    add_spec_options(search, fit=False)
    search.add_argument("--bits", dest="spec:weight_index_bits", type=int, metavar="B",
                        help=argparse.SUPPRESS)  # the old spelling of --weight-bits
    add_common_options(
        search, "energy_table", "seed", "output", "plot", "json", "no_progress", workers=True,
        energy_table={"help": "TOML or YAML file replacing or scaling entries of the default "
                              "energy table, for every network's energy (and so for "
                              "--objective energy)"},
        output={"required": True, "metavar": "NET.npz",
                "help": "network file of the chosen network ('eiesim run' runs it)"},
        plot={"metavar": "FRONT.png",
              "help": "plot of accuracy against the objective (.png, .pdf or .svg)"},
        json={"help": "print the chosen network and its layers as one JSON object"})
    search.add_argument("--report", type=Path, required=True, metavar="FRONT.csv",
                        help="CSV of every evaluated network, with Pareto and chosen flags")
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
    from eiesim.search.tasks import NoNetworkMeetsBoundError, SearchWarning

    spec = spec_from_args(args)
    methods = {} if args.method is None else {"methods": args.method}
    settings = SearchSettings(objective=args.objective, max_accuracy_drop=args.max_accuracy_drop,
                              seed=args.seed, margin=args.margin,
                              validation_fraction=args.validation_from_train,
                              fine_tune_lr=args.fine_tune_lr,
                              long_epochs=args.fine_tune_epochs,
                              fine_tune_batch=args.fine_tune_batch,
                              energy_table=None if args.energy_table is None
                              else str(args.energy_table), **methods)
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers} is below the minimum 1; give at least one "
                         f"process")
    if args.plot is not None:
        from eiesim.plots import require_matplotlib

        require_matplotlib("--plot")  # before the search, not after it
    if args.energy_table is not None:
        from eiesim.energy import load_energy_table

        load_energy_table(args.energy_table, spec)  # a bad table fails before any work
    with OutputFiles(inputs=[args.model, args.data, args.energy_table]) as outputs:
        outputs.add(args.output, "-o", suffixes=(".npz",))
        outputs.add(args.report, "--report", suffixes=(".csv",))
        if args.plot is not None:
            outputs.add(args.plot, "--plot", suffixes=PLOT_SUFFIXES)
        model = load_model(args.model)
        data = load_data(args.data)
        data.check_model(model)
        try:
            with warnings.catch_warnings():
                # The notes are printed once each, as lines of the command's output.
                warnings.simplefilter("ignore", SearchWarning)
                result = search(model, data, spec, settings, workers=args.workers,
                                scheduler=args.scheduler, progress_bars=not args.no_progress)
        except NoNetworkMeetsBoundError as failure:
            outputs.close()
            return _report_failure(failure, args)
        result.write_into(outputs, network_path=args.output, report_path=args.report,
                          plot_path=args.plot)
        written = outputs.commit()
    _print_notes(result.notes)
    if args.json:
        from eiesim.checks import json_text

        print(json_text(summary_dict(result)))
    else:
        print(summary(result))
    announce(written)
    return 0


def _report_failure(failure: Any, args: argparse.Namespace) -> int:
    """Nothing meets the bound: write the report (and the plot) but no network, say so."""
    result = failure.result
    with OutputFiles(inputs=[args.model, args.data]) as outputs:
        outputs.add(args.report, "--report", suffixes=(".csv",))
        if args.plot is not None:
            outputs.add(args.plot, "--plot", suffixes=PLOT_SUFFIXES)
        result.write_into(outputs, report_path=args.report, plot_path=args.plot)
        written = outputs.commit()
    _print_notes(result.notes)
    announce(written)
    print(f"eiesim: {failure}; no network file written", file=sys.stderr)
    return NOTHING_MEETS_BOUND


def _print_notes(notes: Any) -> None:
    for note in notes:
        print(f"eiesim: warning: {note}", file=sys.stderr)


def summary_dict(result: Any) -> dict[str, Any]:
    """The chosen network, the dense one, the bound and the chosen layers, JSON-ready."""
    def plain(row: Any) -> dict[str, Any]:
        return {key: (value.item() if hasattr(value, "item") else value)
                for key, value in row.items()}

    table = result.table
    return {"objective": result.settings.objective, "num_pes": result.spec.num_pes,
            "bound": result.bound, "reference_accuracy_val": result.reference_accuracy,
            "reference_accuracy_test": result.reference_test_accuracy,
            "networks_evaluated": len(table), "seconds": result.seconds,
            "chosen": plain(result.chosen),
            "dense": plain(table[table["strategy"] == "dense"].iloc[0]),
            "layers": [plain(row) for _, row in result.layers.iterrows()],
            "notes": list(result.notes)}


def summary(result: Any) -> str:
    """The chosen network against the dense and the best uniform ones, and its layers."""
    table, chosen, settings = result.table, result.chosen, result.settings
    dense = table[table["strategy"] == "dense"].iloc[0]
    column = "cycles" if settings.objective == "cycles" else "energy_j"
    margin = f" by {settings.margin:g} standard errors" if settings.margin else ""
    uniform = table[(table["strategy"] == "uniform") & table["meets_bound"]]
    lines = [
        f"eiesim search: {len(table)} networks evaluated in {result.seconds:.1f} s "
        f"({result.spec.num_pes} PEs, {settings.bits}-bit weights, pruning "
        f"{'/'.join(settings.methods)}, objective {settings.objective}, "
        f"{settings.fine_tune_budget} fine-tuning epochs per network)",
        f"model float accuracy: validation {result.reference_accuracy:.4f} "
        f"({result.num_validation} images), test {result.reference_test_accuracy:.4f}; bound "
        f"(decided on validation): chip accuracy >= {result.bound:.4f}{margin}",
        f"chosen: {chosen['strategy']} ({chosen['method']}, {chosen['label']}), "
        f"{int(chosen['cycles'])} cycles, {chosen['energy_j'] * 1e9:.2f} nJ, density "
        f"{chosen['density']:.3f}",
        f"chosen on the chip: validation accuracy {chosen['accuracy_val']:.4f}; test accuracy "
        f"{chosen['accuracy_test']:.4f} (95 % interval {chosen['accuracy_test_low']:.4f}-"
        f"{chosen['accuracy_test_high']:.4f}, {result.num_test} images)",
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
