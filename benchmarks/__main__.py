"""``python -m benchmarks [--quick] [--out DIR]``: run the suite, print it, write the files.

Thin: parses the options, calls :func:`benchmarks.suite.run_suite`, prints
:func:`benchmarks.results_io.format_table` and writes CSV, JSON and PNG with
:func:`benchmarks.results_io.write_results`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from benchmarks.config import BenchConfig
from benchmarks.results_io import format_table, write_results
from benchmarks.suite import run_suite

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def build_parser(prog: str = "python -m benchmarks") -> argparse.ArgumentParser:
    """The harness's command line: which parts to run, quick mode, the results folder."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="eiesim benchmark suite: the paper's nine layers and the real AlexNet fc8 "
                    "on simulated EIE against a dense accelerator, this CPU (numpy, scipy CSR) "
                    "and the paper's numbers; and the simulator's own speed (engines, CLI "
                    "start-up, sweep throughput).")
    parser.add_argument("--quick", action="store_true",
                        help="layers at 1/16 of the paper's size, few repeats, a small sweep "
                             "grid (under a minute); writes bench-quick.* instead of bench.*")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help=f"output directory (default {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic layers")
    parser.add_argument("--no-cli", action="store_true",
                        help="skip timing `eiesim --help` and `eiesim run --example "
                             "alexnet-fc8` as processes")
    parser.add_argument("--no-sweep", action="store_true",
                        help="skip the sweep-throughput measurement")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m benchmarks") -> int:
    """Run the selected benchmarks and write their results files; returns the exit code."""
    arguments = sys.argv[1:] if argv is None else argv
    args = build_parser(prog).parse_args(arguments)
    changes: dict[str, object] = {"seed": args.seed}
    if args.no_cli:
        changes["cli_runs"] = 0
    if args.no_sweep:
        changes["sweep_runs"] = 0
    config = (BenchConfig.quick_mode(**changes) if args.quick
              else BenchConfig.full(**changes))
    command = f"{prog} {shlex.join(arguments)}".strip()

    def progress(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    result = run_suite(config, command=command, progress=None if args.quiet else progress)
    print(format_table(result))
    paths = write_results(result, args.out)
    print("wrote " + ", ".join(str(path) for path in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
