"""Every hardware default lives in eiesim/spec.py: no other module restates one as a literal.

The check reads the package's source and flags (1) a function parameter named like a hardware
parameter (a spec field, its sweep axis, or a common short form such as ``bits``) whose default
is a number, (2) a keyword argument that restates a field's default value (``num_pes=64``),
and (3) a command-line option of a hardware parameter with a numeric ``default=``. Take such
values from ``DEFAULT_SPEC`` (or a ``HardwareSpec``) instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

import eiesim
from eiesim.spec import AXES, DEFAULT_SPEC, PARAMETERS

PACKAGE = Path(eiesim.__file__).parent
HARDWARE_NAMES = {*PARAMETERS, *AXES, "bits", "num_pes", "pes", "pointer_bits", "index_bits",
                  "weight_bits", "queue_depth", "fifo_depth"}
FLAGS = {param.flag for param in PARAMETERS.values()} | {"--bits"}


def _numeric(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
        and not isinstance(node.value, bool)


def hardware_literals(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            arguments = node.args
            positional = arguments.posonlyargs + arguments.args
            defaults = [None] * (len(positional) - len(arguments.defaults)) + arguments.defaults
            pairs = list(zip(positional, defaults)) + list(
                zip(arguments.kwonlyargs, arguments.kw_defaults))
            for argument, default in pairs:
                if argument.arg in HARDWARE_NAMES and _numeric(default):
                    found.append(f"{filename}:{node.lineno} default {argument.arg}="
                                 f"{default.value}")  # type: ignore[union-attr]
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                field = AXES.get(keyword.arg or "", keyword.arg)
                if field in PARAMETERS and _numeric(keyword.value) \
                        and keyword.value.value == getattr(DEFAULT_SPEC, field):  # type: ignore
                    found.append(f"{filename}:{node.lineno} keyword {keyword.arg}="
                                 f"{keyword.value.value}")  # type: ignore[attr-defined]
            flags = [arg.value for arg in node.args if isinstance(arg, ast.Constant)]
            if any(flag in FLAGS for flag in flags):
                for keyword in node.keywords:
                    if keyword.arg == "default" and _numeric(keyword.value):
                        found.append(f"{filename}:{node.lineno} option {flags[0]} default="
                                     f"{keyword.value.value}")  # type: ignore[attr-defined]
    return found


def test_the_checker_finds_literals():
    assert hardware_literals("def f(x, num_pes=64):\n    pass\n", "a.py") == [
        "a.py:1 default num_pes=64"]
    assert hardware_literals("g(num_pes=64)\n", "b.py") == ["b.py:1 keyword num_pes=64"]
    assert hardware_literals("g(num_pes=1)\n", "b.py") == []  # a tiny layer, not a default
    assert hardware_literals("p.add_argument('--pes', default=64)\n", "d.py") == [
        "d.py:1 option --pes default=64"]
    assert hardware_literals("def f(num_pes=DEFAULT_SPEC.num_pes): g(bits=spec.bits)\n",
                             "c.py") == []


def test_no_hardware_default_outside_spec():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "spec.py" and path.parent == PACKAGE:
            continue
        found += hardware_literals(path.read_text(encoding="utf-8"),
                                   str(path.relative_to(PACKAGE.parent)))
    assert not found, "hardware numbers outside eiesim/spec.py:\n" + "\n".join(found)
