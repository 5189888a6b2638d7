"""The ``eiesim`` command: thin parsing and formatting around the public API.

Every user error (an :class:`eiesim.errors.EiesimError`) becomes one line on stderr and exit
code 2, with no traceback and no file written.
"""

from __future__ import annotations

import argparse
import os
import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from eiesim.compress.prune import METHODS as PRUNING_METHODS
from eiesim.errors import EiesimError
from eiesim.spec import HardwareSpec

_SI = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}
_SPEC_FIELDS = {f.name: f for f in dataclasses.fields(HardwareSpec) if f.init}


class UsageError(EiesimError):
    """A command-line value that cannot be parsed."""


def parse_hz(text: str) -> float:
    """'800e6', '800M', '800MHz', '1.2 GHz' -> hertz."""
    match = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([kKMG]?)(?:[hH][zZ])?\s*", text)
    try:
        if match:
            return float(match.group(1)) * _SI[match.group(2)]
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"clock {text!r} is not a frequency; write e.g. 800e6 or "
                                     f"800MHz")


def parse_setting(text: str) -> tuple[str, Any]:
    """'name=value' for any HardwareSpec field, value parsed as int, float, None or text."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or name not in _SPEC_FIELDS:
        raise argparse.ArgumentTypeError(
            f"--set {text!r}: expected NAME=VALUE with NAME one of {', '.join(_SPEC_FIELDS)}")
    raw = raw.strip()
    value: Any
    if raw.lower() == "none":
        value = None
    else:
        for convert in (int, float):
            try:
                value = convert(raw)
                break
            except ValueError:
                continue
        else:
            value = raw
    return name, value


def _spec_from_args(args: argparse.Namespace) -> HardwareSpec:
    values: dict[str, Any] = {}
    for option, field in (("pes", "num_pes"), ("fifo", "act_queue_depth"),
                          ("index_bits", "rel_index_bits"), ("weight_bits", "weight_index_bits"),
                          ("pointer_bits", "pointer_bits"), ("sram_width", "spmat_sram_width_bits"),
                          ("clock", "clock_hz"), ("arith", "arithmetic")):
        value = getattr(args, option, None)
        if value is not None:
            values[field] = value
    for name, value in getattr(args, "set", None) or []:
        values[name] = value
    return HardwareSpec.from_dict(values)


def add_spec_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("hardware (defaults: EIE's design point)")
    group.add_argument("--pes", type=int, metavar="N", help="processing elements (default 64)")
    group.add_argument("--fifo", type=int, metavar="D",
                       help="activation queue depth in entries held (default 8; EIE's RTL "
                            "model's 8-slot circular buffer holds 7)")
    group.add_argument("--index-bits", type=int, metavar="B",
                       help="bits of the relative row index z (default 4)")
    group.add_argument("--weight-bits", type=int, metavar="B",
                       help="bits of the codebook index v (default 4, a 16-entry codebook)")
    group.add_argument("--pointer-bits", type=int, metavar="B",
                       help="column pointer width (default 16)")
    group.add_argument("--sram-width", type=int, metavar="BITS",
                       help="sparse-matrix SRAM line width in bits (default 64)")
    group.add_argument("--clock", type=parse_hz, metavar="HZ",
                       help="clock frequency, e.g. 800e6 or 800MHz (default 800 MHz)")
    group.add_argument("--arith", metavar="FORMAT",
                       help="fixed16 (default), fixedB for 4 <= B <= 32, or float32")
    group.add_argument("--set", action="append", type=parse_setting, metavar="NAME=VALUE",
                       help="set any hardware parameter, e.g. --set spmat_sram_bytes=262144 "
                            "(repeatable; names: " + ", ".join(_SPEC_FIELDS) + ")")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eiesim",
        description="Cycle-level simulator of EIE, the Efficient Inference Engine for "
                    "compressed sparse fully connected layers (Han et al., ISCA 2016).",
        epilog="Run 'eiesim run --example alexnet-fc8' for the shipped real layer. "
               "Errors exit with code 2.")
    from eiesim import __version__

    parser.add_argument("--version", action="version", version=f"eiesim {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run", help="simulate one layer and report cycles, time, load balance and outputs",
        description="Simulate one fully connected layer b = ReLU(W a + bias) on EIE. The layer "
                    "file (.npz) holds 'weights' (float, quantized on load) or 'codes' with a "
                    "'codebook', the input 'activations', and optionally 'bias' or "
                    "'bias_codes' (see README, 'Layer files'). A network file (layer0_codes, "
                    "layer0_codebook, ..., activations) runs layer after layer and reports each "
                    "layer and the total.")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("layer", nargs="?", type=Path, help="layer or network file (.npz)")
    source.add_argument("--example", metavar="NAME",
                        help="a layer shipped with eiesim: alexnet-fc8 (AlexNet fc8 as EIE's "
                             "authors encoded it, with a real input)")
    add_spec_options(run)
    run.add_argument("--engine", choices=("fast", "reference"), default="fast",
                     help="fast: numba (default); reference: the SimPy model, slow, traceable")
    run.add_argument("--trace", type=Path, metavar="FILE",
                     help="write a Chrome/Perfetto trace-event JSON file (reference engine)")
    run.add_argument("--energy-table", type=Path, metavar="FILE",
                     help="TOML or YAML file replacing or scaling entries of the default 45 nm "
                          "energy table (see eiesim/data/energy/example.toml)")
    run.add_argument("--seed", type=int, default=0,
                     help="seed of the k-means quantization of float weights (default 0)")
    run.add_argument("--json", action="store_true",
                     help="print one JSON object instead of the table")
    run.add_argument("--output", type=Path, metavar="OUT.npy",
                     help="save the output activations (after ReLU) as a .npy file")
    run.set_defaults(handler=command_run)

    compress = commands.add_parser(
        "compress", help="prune, quantize and write a layer file that 'eiesim run' reads",
        description="Prune the float 'weights' of IN.npz (with optional 'bias', "
                    "'activations', and 'gradients' for --method gradient) to a density, "
                    "quantize them with Deep Compression's k-means, and write a layer file.")
    compress.add_argument("input", type=Path, metavar="IN.npz")
    compress.add_argument("--method", required=True, choices=PRUNING_METHODS,
                          help="pruning method (balanced: equal work per PE, ESE-style)")
    compress.add_argument("--density", required=True, type=float, metavar="D",
                          help="fraction of weights kept, 0 < D <= 1")
    compress.add_argument("--pes", type=int, default=64, metavar="N",
                          help="PEs the balanced method balances for (default 64)")
    compress.add_argument("--bits", type=int, default=4, metavar="B",
                          help="codebook index bits (default 4: 15 shared values plus 0)")
    compress.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    compress.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.npz",
                          help="layer file to write")
    compress.add_argument("--json", action="store_true", help="print the summary as JSON")
    compress.set_defaults(handler=command_compress)

    sweep = commands.add_parser(
        "sweep", help="simulate a layer over a grid of design points into a CSV table",
        description="Simulate one layer at every combination of the given hardware values "
                    "(comma-separated lists) and write one CSV row per point, with a column "
                    "per parameter and per metric.")
    sweep_source = sweep.add_mutually_exclusive_group(required=True)
    sweep_source.add_argument("layer", nargs="?", type=Path, help="layer file (.npz)")
    sweep_source.add_argument("--example", metavar="NAME", help="a shipped layer: alexnet-fc8")
    for option, axis, kind, what in (
            ("--pes", "pes", int, "processing elements, e.g. 1,2,4,8,16,32,64,128,256"),
            ("--fifo", "fifo", int, "activation queue depths, e.g. 1,2,4,8,16"),
            ("--index-bits", "index_bits", int, "relative index bits, e.g. 2,3,4,5,6"),
            ("--weight-bits", "weight_bits", int, "codebook index bits"),
            ("--sram-width", "sram_width", int, "sparse-matrix SRAM widths in bits"),
            ("--arith", "arith", str, "arithmetic formats, e.g. fixed16,float32")):
        sweep.add_argument(option, dest=f"axis_{axis}", metavar="LIST",
                           type=lambda text, kind=kind, option=option: parse_list(text, kind,
                                                                                  option),
                           help=what)
    sweep.add_argument("--base", action="append", type=parse_setting, metavar="NAME=VALUE",
                       dest="set", help="fixed hardware parameter for every point (repeatable)")
    sweep.add_argument("--out", type=Path, required=True, metavar="RESULTS.csv",
                       help="CSV file to write")
    sweep.add_argument("--workers", type=int, metavar="N",
                       help="local worker processes (default: all cores)")
    sweep.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on a Dask cluster, e.g. tcp://127.0.0.1:8786")
    sweep.add_argument("--plot", type=Path, metavar="FIG.png",
                       help="also plot cycles and load efficiency against the first axis")
    sweep.add_argument("--seed", type=int, default=0, help="quantization seed for float weights")
    sweep.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sweep.set_defaults(handler=command_sweep)

    from eiesim.cli_search import add_search_parser

    add_search_parser(commands)
    return parser


def parse_list(text: str, kind: type, option: str) -> list[Any]:
    try:
        values = [kind(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{option} {text!r}: expected a comma-separated list "
                                         f"of {kind.__name__} values, e.g. 1,2,4") from None
    if not values:
        raise argparse.ArgumentTypeError(f"{option} {text!r} has no values")
    return values


def command_compress(args: argparse.Namespace) -> int:
    from eiesim.compress.pipeline import compress_file

    summary = compress_file(args.input, args.output, method=args.method, density=args.density,
                            num_pes=args.pes, bits=args.bits, seed=args.seed)
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        for name, value in summary.to_dict().items():
            print(f"{name:<22} {value}")
    return 0


def command_run_network(args: argparse.Namespace, spec: HardwareSpec, table: Any) -> int:
    from eiesim import io
    from eiesim.network import load_network, simulate_network

    if args.trace is not None:
        raise UsageError("--trace records one layer; run the layers of a network one at a time")
    network = load_network(args.layer)
    result = simulate_network(network.layers, network.activations, spec, engine=args.engine,
                              energy_table=table)
    if args.output is not None:
        import numpy as np

        np.save(args.output, result.outputs)
    if args.json:
        payload = result.to_dict()
        payload["metadata"] = io.environment_metadata() | {"network": network.source,
                                                           "input_checksum": network.checksum}
        print(json.dumps(payload))
    else:
        print(result.format_table(title=f"eiesim: {network.source}"))
    return 0


def command_sweep(args: argparse.Namespace) -> int:
    from eiesim import io
    from eiesim.sweep import sweep

    base = HardwareSpec.from_dict(dict(args.set or []))
    axes = {name[len("axis_"):]: values for name, values in vars(args).items()
            if name.startswith("axis_") and values is not None}
    if not axes:
        raise UsageError("give at least one axis to sweep, e.g. --pes 1,2,4 or --fifo 1,8")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers {args.workers}: use at least 1 process")
    if args.plot is not None and args.plot.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise UsageError(f"--plot {args.plot}: use a .png, .pdf or .svg file name")
    path = io.example_path(args.example) if args.example else args.layer
    # Float weights are quantized once, to the smallest swept codebook, so that every point's
    # codebook fits its index width.
    weight_bits = min(axes.get("weight_bits", [base.weight_index_bits]))
    data = io.load_layer(path, weight_index_bits=weight_bits, seed=args.seed)
    table = sweep(data, base, workers=args.workers, scheduler=args.scheduler,
                  progress=not args.no_progress and sys.stderr.isatty(), **axes)
    table.to_csv(args.out, index=False)
    if args.plot is not None:
        from eiesim.plots import plot_sweep

        plot_sweep(table, list(axes), args.plot)
    failed = int((table["error"] != "").sum())
    print(f"eiesim sweep: {len(table)} points written to {args.out}"
          + (f" ({failed} did not fit their hardware; see the 'error' column)" if failed else ""))
    return 0


def command_run(args: argparse.Namespace) -> int:
    from eiesim import io, report
    from eiesim.compress import encode
    from eiesim.sim import simulate

    from eiesim import energy

    spec = _spec_from_args(args)
    # Read the energy table before simulating so that a bad table fails fast.
    table = energy.load_energy_table(args.energy_table, spec) if args.energy_table else None
    from eiesim.network import is_network_file

    if args.layer is not None and is_network_file(args.layer):
        return command_run_network(args, spec, table)
    path = io.example_path(args.example) if args.example else args.layer
    data = io.load_layer(path, weight_index_bits=spec.weight_index_bits, seed=args.seed)
    layer = encode(data.codes, data.codebook, data.bias_codes, spec=spec)
    recorder = None
    if args.trace is not None:
        if args.engine != "reference":
            raise UsageError("--trace needs the reference engine; add --engine reference")
        from eiesim.trace import TraceRecorder

        recorder = TraceRecorder()
    result = simulate(layer, data.activations, spec, engine=args.engine, trace=recorder)
    energy_report = energy.energy_report(result, table)
    area = energy.area_report(spec)

    # Write files only once everything has succeeded.
    if args.output is not None:
        import numpy as np

        np.save(args.output, result.outputs)
    if recorder is not None:
        recorder.write_chrome_trace(args.trace)
    metadata = io.environment_metadata()
    metadata.update({"layer": data.source, "input_checksum": data.checksum,
                     "quantized_on_load": data.quantized_on_load})
    if args.json:
        payload = report.to_dict(result, metadata=metadata)
        payload.update(report.energy_fields(energy_report, area))
        print(json.dumps(payload))
    else:
        print(report.format_table(result, title=f"eiesim: {data.source}"))
        print(report.format_energy(energy_report, area))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except EiesimError as error:
        print(f"eiesim: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of stdout went away (e.g. `eiesim run ... | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:
        print(f"eiesim: error: {error.strerror or error}: {error.filename or ''}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("eiesim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
