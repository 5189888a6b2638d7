"""The ``eiesim`` command: thin parsing and formatting around the public API.

One module per command (``run``, ``sweep``, ``compress``, ``search``, ``formats``), each with
``add_parser(commands)`` and ``handle(args) -> exit code``; :mod:`eiesim.cli.options` makes the
hardware flags from the spec's field metadata. Only this package, argparse and the spec are
imported before a command runs, so ``eiesim --help`` stays quick.

Exit codes: 0 success; 2 bad input or usage (one line on stderr naming the value, the limit and
the fix; no traceback; no file written); 130 interrupted (Ctrl-C; no file written).
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from eiesim.cli.options import ArgumentParser
from eiesim.errors import EiesimError

COMMANDS = ("run", "compress", "sweep", "search", "formats")
"""The commands, in the order ``eiesim --help`` lists them; each is the module
``eiesim.cli.<command>``, imported only when its options or its help line are needed."""

BOUNDED_COMMANDS = ("run", "compress", "formats")
"""Commands whose work is bounded by the one workload they are given: in their own process
(:func:`console_main`) the cyclic garbage collector stays off. Its collections walk the
objects numba and numpy made at import, about 45 ms of a 0.5 s command that ends right after
its work; these commands make little cyclic garbage, and a kernel that numba has to compile
(whose compiler makes plenty) turns collection back on (:mod:`eiesim.cli.kernel_loading`).
Sweeps and searches run for as long as their grids take and keep the collector."""


def _command_word(argv: Sequence[str]) -> str | None:
    """The command named on the command line (its first word that is not an option)."""
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> ArgumentParser:
    """The parser; only the command named in ``argv`` gets its full set of options (each
    command's options import what their choices come from, which ``eiesim --help`` need not)."""
    wanted = _command_word(sys.argv[1:] if argv is None else argv)
    parser = ArgumentParser(
        prog="eiesim",
        description="Cycle-level simulator of EIE, the Efficient Inference Engine for "
                    "compressed sparse fully connected layers (Han et al., ISCA 2016).",
        epilog="Run 'eiesim run --example alexnet-fc8' for the shipped real layer. "
               "Exit codes: 0 success, 2 bad input (nothing written), 130 interrupted.")
    from eiesim import __version__

    parser.add_argument("--version", action="version", version=f"eiesim {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                     parser_class=ArgumentParser)
    for name in COMMANDS:
        if name == wanted:
            command_module(name).add_parser(commands)
        elif wanted in COMMANDS:
            commands.add_parser(name)  # known to the parser; its help line is never shown
        else:
            commands.add_parser(name, help=command_module(name).HELP)
    return parser


def command_module(name: str) -> ModuleType:
    """The module of command ``name`` (one of :data:`COMMANDS`)."""
    return importlib.import_module(f"eiesim.cli.{name}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``eiesim`` command (``argv`` as on the command line, default ``sys.argv[1:]``)
    and return its exit code: 0, 2 for bad input (one line on stderr), 130 on Ctrl-C."""
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)  # --list-examples prints here
        return int(args.handler(args))
    except EiesimError as error:
        print(f"eiesim: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of stdout went away (e.g. `eiesim run ... | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        print(f"eiesim: error: {error.strerror or error}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("eiesim: interrupted; no file was written", file=sys.stderr)
        return 130


class _SkipNumbaBlasProbe:
    """Numba checks once, when its array functions are first loaded, whether SciPy's BLAS is
    there (for np.dot and np.linalg inside kernels), by importing scipy.linalg: a tenth of a
    second or more of start-up. eiesim's kernels use no linear algebra, so the command's own
    process answers that check with ImportError (numba then simply has no BLAS); the finder
    refuses nothing else and steps aside once numba has looked."""

    _PROBED = ("scipy.linalg", "scipy.linalg.cython_blas")

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name in self._PROBED and "numba.np.arraymath" in sys.modules \
                and not hasattr(sys.modules["numba.np.arraymath"], "_HAVE_BLAS"):
            raise ImportError(f"{name} is not probed by the eiesim command")
        return None


def console_main() -> None:
    """The ``eiesim`` console script: :func:`main`, then exit without tearing the interpreter
    down (a quarter of a second for numba's and numpy's modules) once every output is flushed;
    every file was already committed or removed by then. Kernels come from numba's cache
    without numba's compiler set-up (:mod:`eiesim.cli.kernel_loading`); the bounded commands
    run without the cyclic garbage collector (:data:`BOUNDED_COMMANDS`)."""
    from eiesim.cli.kernel_loading import LightCachedKernelLoads

    if _command_word(sys.argv[1:]) in BOUNDED_COMMANDS:
        gc.disable()
    sys.meta_path.insert(0, _SkipNumbaBlasProbe())
    sys.meta_path.insert(0, LightCachedKernelLoads())
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
