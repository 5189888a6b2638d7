"""Run eiesim's benchmark suite: ``python -m benchmarks.run [--quick] [--out DIR]``.

Thin: parses the options, calls :func:`eiesim.bench.run_suite`, prints the table and writes
CSV, JSON and PNG with :func:`eiesim.bench.write_results`. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

if not __package__:
    # Run as a script (python benchmarks/run.py): make the repository's eiesim importable even
    # when it is not installed, as ``python -m benchmarks.run`` from the root does.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eiesim import bench  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="eiesim benchmark suite: the paper's nine layers and the real AlexNet fc8 "
                    "on simulated EIE against a dense accelerator, this CPU (numpy, scipy CSR) "
                    "and the paper's numbers; and the simulator's own speed.")
    parser.add_argument("--quick", action="store_true",
                        help="layers at 1/16 of the paper's size, few repeats (well under a "
                             "minute); writes bench-quick.* instead of bench.*")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help=f"output directory (default {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic layers")
    parser.add_argument("--no-cli", action="store_true",
                        help="skip timing `eiesim run --example alexnet-fc8` as a subprocess")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    changes = {"seed": args.seed}
    if args.no_cli:
        changes["cli_runs"] = 0
    config = (bench.BenchConfig.quick_mode(**changes) if args.quick
              else bench.BenchConfig.full(**changes))
    command = "python -m benchmarks.run " + shlex.join(sys.argv[1:] if argv is None else argv)

    def progress(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    result = bench.run_suite(config, command=command.strip(),
                             progress=None if args.quiet else progress)
    print(bench.format_table(result))
    paths = bench.write_results(result, args.out)
    print("wrote " + ", ".join(str(path) for path in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
