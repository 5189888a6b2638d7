"""``eiesim search``: compress a trained MLP for EIE with the simulator in the loop.

Thin: parse, check every input and output path, call :func:`eiesim.compress.search.search`,
write the files atomically, print the chosen network. Errors: one line on stderr, exit code 2,
no file written (the outputs appear only when the whole search has succeeded).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def add_search_parser(commands: Any) -> None:
    """Add the ``search`` sub-command to the ``eiesim`` parser's sub-parsers."""
    from eiesim.cli import add_spec_options
    from eiesim.compress.prune import METHODS
    from eiesim.compress.search import OBJECTIVES, SearchSettings

    search = commands.add_parser(
        "search", help="compress a trained MLP for EIE: per-layer densities chosen on "
                       "simulated cycles or energy",
        description="Prune, fine-tune and weight-share every layer of a trained MLP with "
                    "several strategies (uniform and global magnitude baselines, sensitivity "
                    "threshold and allocation, NetAdapt, AMC-style policy search), each network "
                    "measured on the simulated chip; write the network meeting the accuracy "
                    "bound at the lowest objective, the front of every evaluated network (CSV) "
                    "and optionally a plot. MODEL: an .npz with layer{K}_weights (out, in) and "
                    "optional layer{K}_bias, or a safetensors / ONNX / PyTorch weights file. "
                    "DATA: an .npz with train_inputs, train_labels, test_inputs, test_labels.",
        epilog="Cycles and energy are those of the first test input, which the network file "
               "holds as 'activations': 'eiesim run NET.npz' with the same hardware options "
               "reports the same numbers. Errors exit with code 2.")
    search.add_argument("model", type=Path, metavar="MODEL", help="trained model file")
    search.add_argument("--data", type=Path, required=True, metavar="DATA.npz",
                        help="training and test data")
    search.add_argument("--objective", required=True, choices=OBJECTIVES,
                        help="what to minimise: simulated cycles or energy per inference")
    search.add_argument("--max-accuracy-drop", type=float, required=True, metavar="D",
                        help="absolute test-accuracy drop on the chip allowed against the "
                             "model's float accuracy (0.01 = one point)")
    search.add_argument("--method", type=_methods, metavar="M[,M...]",
                        help="per-layer pruning method(s), each strategy runs with each: "
                             + ", ".join(METHODS) + " (default: "
                             + ",".join(SearchSettings.methods) + ")")
    search.add_argument("--bits", type=int, metavar="B",
                        help="weight-sharing bits per layer (default: the spec's weight index "
                             "bits)")
    add_spec_options(search)
    where = search.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=1, metavar="N",
                       help="local worker processes (default 1)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="evaluate on a Dask cluster, e.g. tcp://127.0.0.1:8786")
    search.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    search.add_argument("-o", "--output", type=Path, required=True, metavar="NET.npz",
                        help="network file of the chosen network ('eiesim run' runs it)")
    search.add_argument("--report", type=Path, required=True, metavar="FRONT.csv",
                        help="CSV of every evaluated network with Pareto and chosen flags")
    search.add_argument("--plot", type=Path, metavar="FRONT.png",
                        help="plot of the fronts (.png, .pdf or .svg)")
    search.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    search.set_defaults(handler=command_search)


def _methods(text: str) -> tuple[str, ...]:
    from eiesim.compress.prune import METHODS

    methods = tuple(item.strip() for item in text.split(",") if item.strip())
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise argparse.ArgumentTypeError(f"{text!r}: give pruning methods among "
                                         f"{', '.join(METHODS)}, separated by commas")
    return methods


def command_search(args: argparse.Namespace) -> int:
    from eiesim.cli import UsageError, _spec_from_args
    from eiesim.compress.model import load_data, load_model
    from eiesim.compress.search import SearchSettings, search

    spec = _spec_from_args(args)
    chosen_methods = {} if args.method is None else {"methods": args.method}
    settings = SearchSettings(objective=args.objective, max_accuracy_drop=args.max_accuracy_drop,
                              bits=args.bits, seed=args.seed, **chosen_methods)
    if args.workers < 1:
        raise UsageError(f"--workers {args.workers}: use at least 1 process")
    if args.output.suffix.lower() != ".npz":
        raise UsageError(f"-o {args.output}: a network file ends in .npz")
    if args.plot is not None and args.plot.suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(f"--plot {args.plot}: use a .png, .pdf or .svg file name")
    outputs = [p for p in (args.output, args.report, args.plot) if p is not None]
    for path in outputs:
        if not (path.parent if str(path.parent) else Path(".")).is_dir():
            raise UsageError(f"cannot write {path}: folder {path.parent} does not exist")
        for source in (args.model, args.data):
            if path.resolve() == source.resolve():
                raise UsageError(f"output {path} is also an input file; write it elsewhere")
    model = load_model(args.model)
    data = load_data(args.data)
    data.check_model(model)
    with _ProgressBar(enabled=not args.no_progress and sys.stderr.isatty()) as bar:
        result = search(model, data, spec, settings, workers=args.workers,
                        scheduler=args.scheduler, progress=bar.update)
    result.write(args.output, args.report, args.plot, inputs=(args.model, args.data))
    print(_summary(result, args))
    return 0


def _summary(result: Any, args: argparse.Namespace) -> str:
    table, chosen = result.table, result.chosen
    dense = table[table["strategy"] == "dense"].iloc[0]
    column = "cycles" if result.settings.objective == "cycles" else "energy_j"
    floor = result.reference_accuracy - result.settings.max_accuracy_drop
    uniform = table[(table["strategy"] == "uniform") & (table["accuracy_chip"] >= floor - 1e-12)]
    lines = [
        f"eiesim search: {len(table)} networks evaluated in {result.seconds:.1f} s "
        f"({result.spec.num_pes} PEs, {result.settings.bits}-bit weights, pruning "
        f"{'/'.join(result.settings.methods)}, objective {result.settings.objective})",
        f"model float accuracy {result.reference_accuracy:.4f}; bound: chip accuracy >= "
        f"{floor:.4f}",
        f"chosen: {chosen['strategy']} ({chosen['method']}, {chosen['label']}), chip accuracy "
        f"{chosen['accuracy_chip']:.4f}, {int(chosen['cycles'])} cycles, "
        f"{chosen['energy_j'] * 1e9:.2f} nJ, density {chosen['density']:.3f}",
        f"dense on the chip: {int(dense['cycles'])} cycles, {dense['energy_j'] * 1e9:.2f} nJ "
        f"({dense[column] / chosen[column]:.2f}x the chosen {result.settings.objective})",
    ]
    if len(uniform):
        best = uniform[column].min()
        lines.append(f"best uniform density meeting the bound: {best:.6g} "
                     f"{'cycles' if column == 'cycles' else 'J'} "
                     f"({best / chosen[column]:.2f}x the chosen)")
    else:
        lines.append("no uniform-density network meets the bound")
    lines.append("")
    layers = result.layers.copy()
    layers["energy_nJ"] = layers.pop("energy_j") * 1e9
    lines.append(layers.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    lines.append("")
    written = [str(args.output), str(args.report)] + ([str(args.plot)] if args.plot else [])
    lines.append("wrote " + ", ".join(written))
    return "\n".join(lines)


class _ProgressBar:
    """One tqdm bar per stage of the search, on stderr; nothing when disabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.stage = ""

    def update(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        if stage != self.stage:
            if self.bar is not None:
                self.bar.close()
            self.bar = tqdm(total=total, desc=f"eiesim search: {stage}", unit="net",
                            file=sys.stderr, leave=False)
            self.stage = stage
        self.bar.total = max(total, done)
        self.bar.n = done
        self.bar.refresh()

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()
