"""User energy tables: a TOML or YAML file that replaces or scales entries of the default table.

See :mod:`eiesim.energy` for the file format. Replacements are applied first, then scales; an
event scaled both through its unit and by name is multiplied by both factors.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eiesim.actions import UNITS
from eiesim.energy.events import ENERGY_EVENTS, UNIT_OF
from eiesim.energy.table import EnergyTable, EnergyTableError, default_energy_table
from eiesim.spec import HardwareSpec

SECTIONS = ("description", "events", "clock", "leakage", "dram_j_per_bit", "scale")
_REPLACE = {"events": ("event_j", ENERGY_EVENTS, "joules per event"),
            "clock": ("clock_j", UNITS, "joules per cycle"),
            "leakage": ("leakage_w", UNITS, "watts")}


def _suggest(name: str, known: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}known names: {', '.join(known)}"


def _number(key: str, value: Any, what: str, example: str) -> float:
    if value is None:
        raise EnergyTableError(f"{key} has no value; give {what}, e.g. {example}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EnergyTableError(f"{key} = {_shown(value)} is not a number; give {what} as a "
                               f"plain number without quotes or units, e.g. {example}")
    if isinstance(value, int) and value.bit_length() > _LARGEST_FLOAT_BITS:
        raise EnergyTableError(f"{key} = {_shown(value)} is larger than any number eiesim "
                               f"computes with (about 1.8e308); give {what}, e.g. {example}")
    if not math.isfinite(value):
        raise EnergyTableError(f"{key} = {value!r} is not finite; give {what}, e.g. {example}")
    if value < 0:
        raise EnergyTableError(f"{key} = {value!r} is below the minimum 0; {what} cannot be "
                               f"negative, e.g. {example}")
    return float(value)


_LARGEST_FLOAT_BITS = 1024  # an int of more bits does not fit a float64 (max about 1.8e308)


def _shown(value: Any) -> str:
    """``value`` for a message: a huge integer by its digit count, not its 400 digits (Python
    refuses to print ints of more than 4300 digits at all)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        digits = math.floor(value.bit_length() * math.log10(2)) + 1
        return f"a {digits}-digit integer"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _section(overrides: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    section = overrides.get(name, {})
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise EnergyTableError(f"[{name}] must be a table of name = number entries, got "
                               f"{section!r}; e.g. [{name}] then one entry per line")
    return section


def apply_overrides(table: EnergyTable, overrides: Mapping[str, Any], *,
                    source: str = "user overrides") -> EnergyTable:
    """A copy of ``table`` with ``overrides`` (the parsed file format) applied."""
    if not isinstance(overrides, Mapping):
        raise EnergyTableError(f"{source}: the top level must be a table of sections "
                               f"({', '.join(SECTIONS)}), got {type(overrides).__name__}")
    unknown = [key for key in overrides if key not in SECTIONS]
    if unknown:
        raise EnergyTableError(f"{source}: unknown section {unknown[0]!r}; "
                               f"{_suggest(str(unknown[0]), list(SECTIONS))}")
    values = {attr: dict(getattr(table, attr)) for attr, _, _ in _REPLACE.values()}
    dram = table.dram_j_per_bit
    provenance = dict(table.provenance)

    for section, (attr, known, what) in _REPLACE.items():
        for name, value in _section(overrides, section).items():
            key = f"{section}.{name}"
            if name not in known:
                raise EnergyTableError(f"{source}: {key} is not a known "
                                       f"{'event' if section == 'events' else 'unit'}; "
                                       f"{_suggest(str(name), list(known))}")
            values[attr][name] = _number(key, value, what, f"{name} = 1.2e-12")
            provenance[key] = f"{values[attr][name]:.6g} set by {source}"
    if "dram_j_per_bit" in overrides:
        dram = _number("dram_j_per_bit", overrides["dram_j_per_bit"], "joules per bit",
                       "dram_j_per_bit = 2e-11")
        provenance["dram_j_per_bit"] = f"{dram:.6g} set by {source}"

    for name, factor in _section(overrides, "scale").items():
        key = f"scale.{name}"
        factor = _number(key, factor, "a non-negative factor", f"{name} = 1.5")
        if name in UNITS:
            targets = [f"events.{event}" for event in ENERGY_EVENTS if UNIT_OF[event] == name]
            targets += [f"clock.{name}", f"leakage.{name}"]
        elif name in ENERGY_EVENTS:
            targets = [f"events.{name}"]
        elif name == "dram_j_per_bit":
            targets = ["dram_j_per_bit"]
        else:
            raise EnergyTableError(f"{source}: {key} names no unit or event; "
                                   f"{_suggest(str(name), list(UNITS) + list(ENERGY_EVENTS))}")
        for target in targets:
            if target == "dram_j_per_bit":
                dram *= factor
            else:
                section, _, entry = target.partition(".")
                values[_REPLACE[section][0]][entry] *= factor
            provenance[target] = f"{provenance[target]}; scaled x{factor:g} by {source} ({key})"

    description = overrides.get("description", table.name)
    if not isinstance(description, str):
        raise EnergyTableError(f"{source}: description = {description!r} must be a string, "
                               f"e.g. description = \"28 nm estimate\"")
    return EnergyTable(event_j=values["event_j"], clock_j=values["clock_j"],
                       leakage_w=values["leakage_w"], dram_j_per_bit=dram,
                       provenance=provenance, spec=table.spec, name=description)


def _import_yaml(path: Path) -> Any:
    """PyYAML, an optional dependency (the ``yaml`` extra): only YAML tables need it."""
    try:
        import yaml
    except ImportError:
        raise EnergyTableError(
            f"energy table {path} is YAML, and reading YAML needs PyYAML, which is not "
            f"installed; install it with pip install 'eiesim[yaml]', or write the table as "
            f".toml") from None
    return yaml


# YAML 1.1, which PyYAML implements, reads 1e-12 (no dot) as a string; YAML 1.2 and TOML read
# it as a number, and so does eiesim: an energy table is numbers (a quoted '1e-12' stays a
# string and is refused as quoted).
_YAML_12_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")


def _yaml_parser(yaml: Any) -> Any:
    class _Loader(yaml.SafeLoader):
        """PyYAML's safe loader, reading every YAML 1.2 number as a number."""

    _Loader.add_implicit_resolver("tag:yaml.org,2002:float", _YAML_12_FLOAT,
                                  list("-+0123456789."))
    return lambda text: yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


def load_energy_table(path: str | Path, spec: HardwareSpec,
                      base: EnergyTable | None = None) -> EnergyTable:
    """The default table for ``spec`` (or ``base``) with the overrides in ``path`` applied.

    ``path`` is a ``.toml`` file (read with tomllib) or a ``.yaml`` / ``.yml`` file (PyYAML,
    safe loader); see :mod:`eiesim.energy` for the format.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise EnergyTableError(f"energy table {path} has suffix {suffix!r}; use a .toml, .yaml "
                               f"or .yml file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EnergyTableError(f"energy table {path} does not exist; check the path") from None
    except UnicodeDecodeError as error:
        raise EnergyTableError(f"energy table {path} is not UTF-8 text (byte "
                               f"0x{error.object[error.start]:02x} at offset {error.start}); "
                               f"save it as UTF-8") from None
    except OSError as error:
        raise EnergyTableError(f"energy table {path} cannot be read ({error}); check the path "
                               f"and its permissions") from None
    if suffix == ".toml":
        import tomllib  # here, not at start-up: most runs read no table

        parse, syntax_errors = tomllib.loads, (tomllib.TOMLDecodeError,)
    else:
        yaml = _import_yaml(path)
        parse, syntax_errors = _yaml_parser(yaml), (yaml.YAMLError,)
    try:
        overrides = parse(text)
    except syntax_errors as error:
        message = " ".join(str(error).split())
        raise EnergyTableError(f"energy table {path} is not valid "
                               f"{'TOML' if suffix == '.toml' else 'YAML'}: {message}; fix the "
                               f"syntax (a missing value, e.g. 'macs =', is a syntax error in "
                               f"TOML)") from None
    if overrides is None:  # an empty YAML file
        overrides = {}
    base = default_energy_table(spec) if base is None else base
    if base.spec != spec:
        raise EnergyTableError("the base table was built for another spec than the one given; "
                               "pass base=default_energy_table(spec) or omit base")
    return apply_overrides(base, overrides, source=str(path))
