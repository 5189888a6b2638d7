"""``eiesim compress``: prune and quantize float weights into a layer file for ``eiesim run``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from eiesim.cli.options import add_common_options, add_spec_options, announce, spec_from_args
from eiesim.safe_output import OutputFiles

NAME = "compress"
HELP = ("prune, quantize and write a layer file that 'eiesim run' reads")


def add_parser(commands: Any) -> None:
    """Add ``eiesim compress`` and its options to the command parser."""
    from eiesim.compress.pipeline import LAYER_METHODS

    compress = commands.add_parser(
        NAME, help=HELP,
        description="Prune the float 'weights' of IN.npz to a density, quantize the kept "
                    "weights with a k-means codebook, and write a layer file. IN.npz must hold "
                    "'weights' (out, in) and 'activations' (in,) (a layer file needs an input "
                    "vector); optional: 'bias' (out,), 'gradients' (dL/dW, out x in) for "
                    "--method gradient, and 'inputs' (n x in, a sample of the layer's input "
                    "vectors) for --method obs (layer-wise Optimal Brain Surgeon, which also "
                    "refits the kept weights and the bias). The other criteria of 'eiesim "
                    "search --method' need a whole network and its training data.")
    source = compress.add_mutually_exclusive_group(required=True)
    source.add_argument("input", type=Path, metavar="IN.npz", nargs="?",
                        help="float weights (or a layer file, whose codebook values are "
                             "pruned and shared again)")
    source.add_argument("--example", metavar="NAME",
                        help="a layer file shipped with eiesim, e.g. alexnet-fc8 (pruned "
                             "further and shared again)")
    compress.add_argument("--method", required=True, choices=LAYER_METHODS,
                          help="pruning method (balanced: equal work per PE, for --pes PEs; "
                               "obs: needs 'inputs')")
    compress.add_argument("--density", required=True, type=float, metavar="D",
                          help="fraction of weights kept, 0 < D <= 1")
    add_spec_options(compress, fields=("num_pes", "weight_index_bits"), fit=False)
    compress.add_argument("--bits", dest="spec:weight_index_bits", type=int, metavar="B",
                          help=argparse.SUPPRESS)  # the old spelling of --weight-bits
    add_common_options(
        compress, "seed", "output", "json",
        seed={"help": "seed of random pruning and of the k-means codebook (default 0)"},
        output={"required": True, "metavar": "OUT.npz", "help": "layer file to write"},
        json={"help": "print the summary as one JSON object"})
    compress.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Compress the input file into a layer file; returns the exit code."""
    from eiesim.compress.pipeline import compress_file

    spec = spec_from_args(args)
    if args.example is not None:
        from eiesim.explore.catalog import example_path

        args.input = example_path(args.example)
    with OutputFiles(inputs=[args.input]) as outputs:
        outputs.add(args.output, "-o", suffixes=(".npz",))
        with outputs.writing(args.output) as temporary:
            summary = compress_file(args.input, temporary, method=args.method,
                                    density=args.density, num_pes=spec.num_pes,
                                    bits=spec.weight_index_bits, seed=args.seed)
        written = outputs.commit()
    fields = summary.to_dict() | {"out_path": str(args.output)}
    if args.json:
        from eiesim.checks import json_text

        print(json_text(fields))
    else:
        for name, value in fields.items():
            shown = f"{value:.6g}" if isinstance(value, float) else value
            print(f"{name:<22} {shown}")
    announce(written)
    return 0
