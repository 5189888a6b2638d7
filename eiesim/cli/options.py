"""Options shared by the commands: hardware flags made from the spec's field metadata.

Every :class:`~eiesim.spec.HardwareSpec` field declares its flag, doc, unit and range
(:data:`eiesim.spec.PARAMETERS`); the flags of ``run``, ``sweep``, ``compress`` and
``search``, their help and the sweep's axes are all made from that one declaration, so no
default or range is restated here.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

from eiesim.errors import SpecError, UsageError
from eiesim.spec import DEFAULT_SPEC, PARAMETERS, PRESETS, HardwareSpec, Parameter, field_for

_SI = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}
_BOOLEANS = {"true": True, "yes": True, "on": True, "1": True,
             "false": False, "no": False, "off": False, "0": False}


class ArgumentParser(argparse.ArgumentParser):
    """argparse with errors as one stderr line and exit code 2, like every other eiesim error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"eiesim: error: {message} (see '{self.prog} --help')\n")


def parse_hz(text: str) -> float:
    """'800e6', '800M', '800MHz', '1.2 GHz' -> hertz.

    >>> parse_hz("800MHz"), parse_hz("1.2 GHz")
    (800000000.0, 1200000000.0)
    """
    match = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([kKMG]?)(?:[hH][zZ])?\s*", text)
    try:
        if match:
            return float(match.group(1)) * _SI[match.group(2)]
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r} is not a frequency; write e.g. 800e6 or 800MHz")


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
                               help=_help(name, param))
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
    """Sweep axes by field name, from the list flags and ``--vary``, in the order given."""
    axes: dict[str, list[Any]] = {}
    for key, value in vars(args).items():
        if key.startswith("axis:") and value is not None:
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
        from eiesim.catalog import describe

        print(describe())
        parser.exit(0)


def add_source_options(parser: argparse.ArgumentParser, what: str) -> None:
    """The workload of ``run`` and ``sweep``: a file, a shipped example, or the list of them."""
    from eiesim.catalog import EXAMPLES

    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("layer", nargs="?", type=Path, help=what)
    source.add_argument("--example", metavar="NAME",
                        help="a workload shipped with eiesim: " + ", ".join(EXAMPLES)
                             + " (see --list-examples)")
    source.add_argument("--list-examples", action=_ListExamples,
                        help="list the shipped workloads with their shapes and densities")


def input_path(args: argparse.Namespace) -> Path | None:
    """The file the workload is read from (None for a generated example): an input that no
    output may overwrite."""
    from eiesim.catalog import example

    if args.example:
        entry = example(args.example)
        if entry.is_network or entry.paper_name is not None:
            return None
        from eiesim import io

        return io.example_path(args.example)
    return args.layer


def load_workload(args: argparse.Namespace, *, weight_index_bits: int) -> Any:
    """The layer (a QuantizedLayer with its input) or network (NetworkData) to simulate."""
    from eiesim.catalog import load_example

    if args.example:
        return load_example(args.example)
    from eiesim import io
    from eiesim.network import is_network_file, load_network

    if is_network_file(args.layer):
        return load_network(args.layer)
    return io.load_layer(args.layer, weight_index_bits=weight_index_bits, seed=args.seed)


def announce(paths: list[Path]) -> None:
    """Say on stderr where each file went (stdout stays the command's result)."""
    for path in paths:
        print(f"eiesim: wrote {path}", file=sys.stderr)
