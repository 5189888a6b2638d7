"""Options shared by the commands, each declared once.

Hardware flags: every :class:`~eiesim.spec.HardwareSpec` field declares its flag, doc, unit and
range (:data:`eiesim.spec.PARAMETERS`); the flags of every command, their help and the sweep's
axes are all made from that one declaration, so no default or range is restated here.

The other options (:data:`COMMON_OPTIONS`: ``-o/--output``, ``--json``, ``--seed``,
``--energy-table``, ``--engine``, ``--workers``/``--scheduler``, ``--plot``, ``--no-progress``)
are declared once too, and :func:`add_common_options` gives each command the ones that make sense
for it: the same flag, spelling and meaning in every command.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

from eiesim.errors import SpecError, UsageError
from eiesim.spec import DEFAULT_SPEC, PARAMETERS, PRESETS, HardwareSpec, Parameter, field_for

_SI = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}
_NUMBER = re.compile(r"-\d|-\.\d")
_BOOLEANS = {"true": True, "yes": True, "on": True, "1": True,
             "false": False, "no": False, "off": False, "0": False}


class ArgumentParser(argparse.ArgumentParser):
    """argparse with errors as one stderr line and exit code 2, like every other eiesim error;
    flags are never abbreviated (a script's ``--pe`` must not silently mean ``--pes``), and an
    unknown flag is named first, with the closest known one, before argparse reads its value as
    something else (a misspelt flag after ``--example`` would otherwise be reported as a
    positional argument that is not allowed with ``--example``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"eiesim: error: {message} (see '{self.prog} --help')\n")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if args is not None and not any(isinstance(action, argparse._SubParsersAction)
                                        for action in self._actions):
            self._refuse_unknown_flags(list(args))
        return super().parse_known_args(args, namespace)

    def _refuse_unknown_flags(self, args: list[str]) -> None:
        for word in args:
            if word == "--":
                return
            if not word.startswith("-") or word == "-" or _NUMBER.match(word):
                continue
            flag = word.split("=", 1)[0]
            if flag in self._option_string_actions or (
                    not word.startswith("--") and word[:2] in self._option_string_actions):
                continue  # a known flag, or a short one with its value attached (-oFILE)
            import difflib

            known = [name for name in self._option_string_actions if name.startswith("--")]
            # Swapped letters first (--pse is --pes, not --set), then the closest spelling.
            close = [name for name in known if sorted(name) == sorted(flag)] or \
                difflib.get_close_matches(flag, known, n=1)
            self.error(f"unknown option {flag}" + (f" (did you mean {close[0]}?)" if close
                                                   else ""))


def parse_hz(text: str) -> float:
    """'800e6', '800M', '800MHz', '800mhz', '1.2 GHz' -> hertz (the prefix is read without
    regard to case: a clock is never in millihertz).

    >>> parse_hz("800MHz"), parse_hz("1.2 GHz"), parse_hz("800mhz")
    (800000000.0, 1200000000.0, 800000000.0)
    """
    match = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([kKmMgG]?)(?:[hH][zZ])?\s*", text)
    try:
        if match:
            return float(match.group(1)) * _SI[match.group(2).lower()]
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r} is not a frequency; write e.g. 800e6 or 800MHz")


def parse_seed(text: str) -> int:
    """A ``--seed`` value: a whole number >= 0 (:func:`eiesim.checks.check_seed`).

    >>> parse_seed("7")
    7
    """
    from eiesim.checks import check_seed
    from eiesim.errors import EiesimError

    try:
        return check_seed(int(text.strip()), name="")  # argparse prefixes "argument --seed"
    except ValueError as error:
        message = str(error) if isinstance(error, EiesimError) else \
            f"{text!r} is not a whole number; give a whole number >= 0"
        raise argparse.ArgumentTypeError(message) from None


PLOT_SUFFIXES = (".png", ".pdf", ".svg")
ENGINES = ("fast", "reference")
"""The engines, as eiesim.sim.ENGINES names them (restated: importing the simulator would cost
every command's --help its start-up; a test holds the two equal)."""

COMMON_OPTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "output": (("-o", "--output"), dict(type=Path, help="the command's main output file")),
    "json": (("--json",), dict(action="store_true",
                               help="print the result as one JSON object instead of a table")),
    "seed": (("--seed",), dict(type=parse_seed, default=0,
                               help="seed of every random choice (default 0)")),
    "energy_table": (("--energy-table",), dict(
        type=Path, metavar="FILE",
        help="TOML or YAML file replacing or scaling entries of the default 45 nm energy table "
             "(see eiesim/data/energy/example.toml)")),
    "engine": (("--engine",), dict(
        choices=ENGINES, default=None,
        help="fast: numba (default); reference: the SimPy model, slow, traceable")),
    "plot": (("--plot",), dict(type=Path, metavar="FIG.png",
                               help="also draw a figure (.png, .pdf or .svg)")),
    "no_progress": (("--no-progress",), dict(action="store_true",
                                             help="hide the progress bars")),
}
"""The non-hardware options, declared once: flags and argparse settings. A command takes the
ones that make sense for it (:func:`add_common_options`), with help text of its own where the
meaning needs the command's words (what the output file holds, what the seed decides)."""


def add_common_options(parser: argparse.ArgumentParser, *names: str,
                       workers: bool = False, **overrides: dict[str, Any]) -> None:
    """Add the options ``names`` of :data:`COMMON_OPTIONS` to ``parser``; ``overrides[name]``
    updates that option's argparse settings (its help, metavar, required). ``workers`` adds
    ``--workers`` and ``--scheduler``, which exclude each other in every command."""
    for name in names:
        flags, settings = COMMON_OPTIONS[name]
        parser.add_argument(*flags, **(settings | overrides.get(name, {})))
    if workers:
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--workers", type=int, metavar="N",
                           help="local worker processes (default: all cores)")
        where.add_argument("--scheduler", metavar="ADDRESS",
                           help="run on a Dask cluster, e.g. tcp://127.0.0.1:8786")


def engine_for(args: argparse.Namespace) -> str:
    """The engine a command runs: ``--engine`` if given; else the reference engine when
    ``--trace`` asks for what only it records, and the fast one otherwise."""
    if getattr(args, "trace", None) is not None:
        if args.engine == "fast":
            raise UsageError("--trace records the reference engine's events; drop --engine "
                             "fast (--trace implies --engine reference)")
        return "reference"
    return args.engine or "fast"


def parse_value(param: Parameter, text: str) -> Any:
    """One command-line value of a spec field, by the field's kind."""
    text = text.strip()
    if param.optional and text.lower() == "none":
        return None
    if param.kind is str:
        return text
    if param.kind is bool:
        if text.lower() not in _BOOLEANS:
            raise argparse.ArgumentTypeError(f"{param.flag} {text!r} is not true or false (or "
                                             f"yes/no, on/off, 1/0)")
        return _BOOLEANS[text.lower()]
    if param.unit == "Hz":
        return parse_hz(text)
    try:
        return param.kind(text)
    except ValueError:
        what = "a whole number" if param.kind is int else "a number"
        raise argparse.ArgumentTypeError(
            f"{param.flag} {text!r} is not {what}" + (" (or none)" if param.optional else "")
        ) from None


def parse_list(param: Parameter, text: str) -> list[Any]:
    """A comma-separated list of values of one field (a sweep axis)."""
    try:
        values = [parse_value(param, item) for item in text.split(",") if item.strip()]
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f"{error}; give a comma-separated list, e.g. "
                                         f"{param.flag} 1,2,4") from None
    if not values:
        raise argparse.ArgumentTypeError(f"{param.flag} {text!r} has no values; give a "
                                         f"comma-separated list, e.g. 1,2,4")
    return values


def _split_setting(text: str, option: str) -> tuple[str, str]:
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{option} {text!r}: expected NAME=VALUE with NAME a "
                                         f"hardware parameter, e.g. spmat_sram_bytes=262144")
    try:
        return field_for(name.strip()), raw
    except SpecError as error:  # an unknown name, with the closest known one
        raise argparse.ArgumentTypeError(f"{option} {text!r}: {error}") from None


def parse_setting(text: str) -> tuple[str, Any]:
    """``--set NAME=VALUE`` for any HardwareSpec field (or its sweep name or flag)."""
    name, raw = _split_setting(text, "--set")
    return name, parse_value(PARAMETERS[name], raw)


def parse_variation(text: str) -> tuple[str, list[Any]]:
    """``--vary NAME=v1,v2,...``: a sweep axis over any HardwareSpec field."""
    name, raw = _split_setting(text, "--vary")
    return name, parse_list(PARAMETERS[name], raw)


def _help(name: str, param: Parameter) -> str:
    default = DEFAULT_SPEC.to_dict()[name]
    unit = f" {param.unit}" if param.unit and default is not None else ""
    shown = "unset" if default is None else str(default).lower() if isinstance(default, bool) \
        else f"{default:g}" if isinstance(default, float) else default
    return f"{param.doc} (default {shown}{unit})".replace("%", "%%")


def parse_preset(text: str) -> str:
    """``--preset NAME``: the name of one of :data:`eiesim.spec.PRESETS`."""
    try:
        HardwareSpec.preset(text)
    except SpecError as error:  # the unknown name, the closest known one and the list
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def add_spec_options(parser: argparse.ArgumentParser, *, lists: bool = False,
                     fields: tuple[str, ...] | None = None, fit: bool = True) -> None:
    """``--preset``, then one flag per spec field (or per field of ``fields``); with ``lists``
    each takes a comma-separated list (sweep axes). ``fit`` adds ``--fit-memories``."""
    group = parser.add_argument_group(
        "hardware" + (" axes (comma-separated values; every combination is a point)"
                      if lists else " (defaults: EIE's design point)"))
    group.add_argument("--preset", type=parse_preset, metavar="NAME",
                       help="start from a named design point, which the other hardware flags "
                            "and --set then change: "
                            + "; ".join(f"{name}: {preset.doc}" for name, preset
                                        in PRESETS.items()).replace("%", "%%")
                            + " (docs/hardware.md lists what each changes)")
    for name, param in PARAMETERS.items():
        if fields is not None and name not in fields:
            continue
        if lists:
            group.add_argument(param.flag, dest=f"axis:{name}", metavar="LIST",
                               type=lambda text, param=param: parse_list(param, text),
                               action=_AxisAction, help=_help(name, param))
        else:
            group.add_argument(param.flag, dest=f"spec:{name}", metavar=param.metavar,
                               type=lambda text, param=param: parse_value(param, text),
                               help=_help(name, param))
    group.add_argument("--set", action="append", type=parse_setting, metavar="NAME=VALUE",
                       dest="settings", default=[],
                       help="set any hardware parameter by name"
                            + (" for every point" if lists else "")
                            + ", e.g. --set spmat_sram_bytes=262144 (repeatable)")
    if fit:
        group.add_argument("--fit-memories", action="store_true",
                           help="enlarge just the memories and pointer width that the layer "
                                "does not fit (smallest sufficient sizes) and report what "
                                "changed")


class _AxisAction(argparse.Action):
    """Stores an axis and remembers the order the axes came in on the command line (the
    sweep's order of columns and of its grid, and the default x axis of its plot)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        order = getattr(namespace, "axis_order", None) or []
        name = self.dest[len("axis:"):]
        namespace.axis_order = [other for other in order if other != name] + [name]


def spec_from_args(args: argparse.Namespace) -> HardwareSpec:
    """The spec given by ``--preset`` (default: EIE's design point), then the flags and
    ``--set`` on top (a flag and a --set of one field conflict)."""
    values: dict[str, Any] = {}
    for key, value in vars(args).items():
        if key.startswith("spec:") and value is not None:
            values[key[len("spec:"):]] = value
    for name, value in getattr(args, "settings", []) or []:
        if name in values and values[name] != value:
            raise UsageError(f"{PARAMETERS[name].flag} and --set {name} give different values "
                             f"({values[name]!r} and {value!r}); give one")
        values[name] = value
    preset = getattr(args, "preset", None)
    return HardwareSpec.preset(preset, **values) if preset else HardwareSpec.from_dict(values)


def sweep_axes(args: argparse.Namespace) -> dict[str, list[Any]]:
    """Sweep axes by field name, from the list flags and ``--vary``: the flags in the order
    they were given, then the ``--vary`` axes."""
    axes: dict[str, list[Any]] = {}
    for name in getattr(args, "axis_order", None) or []:
        axes[name] = getattr(args, f"axis:{name}")
    for key, value in vars(args).items():
        if key.startswith("axis:") and value is not None and key[len("axis:"):] not in axes:
            axes[key[len("axis:"):]] = value
    for name, values in getattr(args, "variations", []) or []:
        if name in axes:
            raise UsageError(f"{PARAMETERS[name].flag} is given twice (as a flag and with "
                             f"--vary {name}); give its values once")
        axes[name] = values
    return axes


class _ListExamples(argparse.Action):
    """``--list-examples``: print the catalog and exit, like ``--version`` (no other option is
    needed or read)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        from eiesim.explore.catalog import describe

        print(describe())
        parser.exit(0)


def add_source_options(parser: argparse.ArgumentParser, what: str) -> Any:
    """The workload of ``run`` and ``sweep``: a file, a shipped example, or the list of them.
    Returns the mutually exclusive group, for a command with a source of its own."""
    from eiesim.explore.catalog import EXAMPLES

    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("layer", nargs="?", type=Path, help=what)
    source.add_argument("--example", metavar="NAME",
                        help="a workload shipped with eiesim: " + ", ".join(EXAMPLES)
                             + " (see --list-examples)")
    source.add_argument("--list-examples", action=_ListExamples,
                        help="list the shipped workloads with their shapes and densities")
    return source


def input_path(args: argparse.Namespace) -> Path | None:
    """The file the workload is read from (None for a generated example): an input that no
    output may overwrite."""
    from eiesim.explore.catalog import example, example_path

    if args.example:
        entry = example(args.example)
        if entry.file is None:
            return None
        return example_path(args.example)
    return args.layer


def load_workload(args: argparse.Namespace, *, weight_index_bits: int) -> Any:
    """The layer (a QuantizedLayer with its input) or network (NetworkData) to simulate."""
    from eiesim.explore.catalog import load_example

    if args.example:
        return load_example(args.example)
    from eiesim.format import files as io
    from eiesim.network import is_network_file, load_network

    if is_network_file(args.layer):
        return load_network(args.layer)
    return io.load_layer(args.layer, weight_index_bits=weight_index_bits, seed=args.seed)


def announce(paths: list[Path]) -> None:
    """Say on stderr where each file went (stdout stays the command's result)."""
    for path in paths:
        print(f"eiesim: wrote {path}", file=sys.stderr)
