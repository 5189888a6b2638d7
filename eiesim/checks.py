"""Validation of user-supplied arrays, shared by every entry point that reads them."""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from eiesim.errors import EiesimError, LayerError

FLOAT32_MAX = float(np.finfo(np.float32).max)
"""The largest finite float32: no value beyond it can reach the chip, whose widest arithmetic
is float32 (the codebook is float32 too)."""


def real_array(array: object, name: str, shape: tuple[int, ...], *, source: str = "",
               why: str = "to match the layer",
               error: type[EiesimError] = LayerError,
               within_float32: bool = False) -> np.ndarray:
    """``array`` as float64 after checking its shape, that it holds real numbers and that every
    value is finite (and, with ``within_float32``, inside float32's range:
    :func:`check_float32_range`); otherwise ``error`` naming the array, the offending value
    and the fix.

    >>> real_array([1, 2], "activations", (2,)).dtype
    dtype('float64')
    >>> real_array([1.0, float("nan")], "activations", (2,), source="x.npz")
    Traceback (most recent call last):
    ...
    eiesim.errors.LayerError: x.npz: activations[1] = nan is not finite; every value must be a finite number
    """
    prefix = f"{source}: " if source else ""
    values = np.asarray(array)
    if values.shape != tuple(shape):
        raise error(f"{prefix}{name} has shape {values.shape}; it must have shape "
                    f"{tuple(shape)} {why}")
    if not (np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)) \
            or values.dtype == np.bool_:
        raise error(f"{prefix}{name} has dtype {values.dtype}; it must hold real numbers")
    values = values.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(values.ravel()))
    if bad.size:
        where = np.unravel_index(int(bad[0]), values.shape)
        index = ", ".join(str(int(i)) for i in where)
        raise error(f"{prefix}{name}[{index}] = {values[where]} is not finite; every value must "
                    f"be a finite number")
    if within_float32:
        check_float32_range(values, name, source=source, error=error)
    return values


def _position(values: np.ndarray, flat_index: int) -> str:
    where = np.unravel_index(int(flat_index), values.shape)
    return ", ".join(str(int(i)) for i in where)


def check_float32_range(values: object, name: str, *, source: str = "",
                        error: type[EiesimError] = LayerError) -> None:
    """Refuse finite values beyond float32's range (:data:`FLOAT32_MAX`), naming the first one,
    its position and the range.

    >>> check_float32_range([1.0, -1e39], "activations", source="x.npz")
    Traceback (most recent call last):
    ...
    eiesim.errors.LayerError: x.npz: activations[1] = -1e+39 is outside float32's range -3.40282e+38..3.40282e+38 (the chip's widest arithmetic); scale the values down
    """
    prefix = f"{source}: " if source else ""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return
    bad = np.flatnonzero(np.abs(array.ravel()) > FLOAT32_MAX)
    if bad.size:
        value = array.ravel()[bad[0]]
        raise error(f"{prefix}{name}[{_position(array, bad[0])}] = {value:g} is outside "
                    f"float32's range {-FLOAT32_MAX:g}..{FLOAT32_MAX:g} (the chip's widest "
                    f"arithmetic); scale the values down")


def check_finite_values(values: np.ndarray, name: str, *, source: str = "",
                        error: type[EiesimError] = LayerError) -> None:
    """Refuse NaN, infinite and beyond-float32 values, naming the first one and its position.

    >>> check_finite_values(np.array([[0.0, np.nan]]), "test_inputs", source="d.npz")
    Traceback (most recent call last):
    ...
    eiesim.errors.LayerError: d.npz: test_inputs[0, 1] = nan is not finite; every value must be a finite number
    """
    prefix = f"{source}: " if source else ""
    array = np.asarray(values)
    if array.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(array.ravel()))
        if bad.size:
            raise error(f"{prefix}{name}[{_position(array, bad[0])}] = {array.ravel()[bad[0]]} "
                        f"is not finite; every value must be a finite number")
    check_float32_range(array, name, source=source, error=error)


def json_text(payload: object) -> str:
    """``payload`` as standard JSON (no ``NaN`` or ``Infinity``, which JSON does not have and
    many readers refuse); a non-finite number is an error naming its key.

    >>> json_text({"cycles": 3})
    '{"cycles": 3}'
    >>> json_text({"a": {"b": float("inf")}})
    Traceback (most recent call last):
    ...
    eiesim.errors.EiesimError: result field a.b = inf is not finite; JSON has no such number, so nothing was printed
    """
    import json
    import math

    try:
        return json.dumps(payload, allow_nan=False)
    except ValueError:
        def first_bad(value: object, path: str) -> tuple[str, object] | None:
            if isinstance(value, float) and not math.isfinite(value):
                return path, value
            items = value.items() if isinstance(value, dict) else \
                enumerate(value) if isinstance(value, (list, tuple)) else ()
            for key, item in items:
                found = first_bad(item, f"{path}.{key}" if path else str(key))
                if found:
                    return found
            return None

        path, value = first_bad(payload, "") or ("?", "?")
        raise EiesimError(f"result field {path} = {value} is not finite; JSON has no such "
                          f"number, so nothing was printed") from None


def unknown_names_hint(unknown: list[str] | set[str], known: list[str] | tuple[str, ...]) -> str:
    """``'actvations' (did you mean 'activations'?), 'x'``: unknown array names, each with the
    closest known name, so that a misspelt array is named rather than silently ignored.

    >>> unknown_names_hint(["activation"], ["weights", "activations"])
    "'activation' (did you mean 'activations'?)"
    """
    hints = []
    for name in sorted(unknown):
        close = difflib.get_close_matches(name, list(known), n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return ", ".join(hints)


def refuse_model_file(names: Any, source: str, what: str,
                      error: type[EiesimError] = LayerError) -> None:
    """A trained network's file (``layer{K}_weights``) given where one layer is expected: say
    what it is and which command takes it, instead of naming its arrays as unknown.

    >>> refuse_model_file(["layer0_weights", "layer0_bias"], "mlp.npz", "a layer file")
    Traceback (most recent call last):
    ...
    eiesim.errors.LayerError: mlp.npz is a model file (layer0_weights, ...: a trained network), not a layer file; compress it for EIE with `eiesim search mlp.npz --data DATA.npz ...`, which writes a network file that `eiesim run` runs
    """
    import re

    if any(re.fullmatch(r"layer\d+_weights", str(name)) for name in names):
        raise error(f"{source} is a model file (layer0_weights, ...: a trained network), not "
                    f"{what}; compress it for EIE with `eiesim search {source} --data DATA.npz "
                    f"...`, which writes a network file that `eiesim run` runs")


def check_array_kinds(arrays: dict[str, np.ndarray], *, source: str = "",
                      boolean: tuple[str, ...] = (),
                      error: type[EiesimError] = LayerError) -> None:
    """Refuse arrays that are not real numbers: complex (the imaginary part would be dropped),
    boolean (except the names in ``boolean``), object, string or structured dtypes; the message
    names the array.

    >>> check_array_kinds({"codebook": np.array([0, 1j])}, source="x.npz")
    Traceback (most recent call last):
    ...
    eiesim.errors.LayerError: x.npz: array 'codebook' has dtype complex128; it must hold real numbers (integers or floats); store the real values only
    """
    prefix = f"{source}: " if source else ""
    for name, array in arrays.items():
        kind = np.asarray(array).dtype.kind
        if kind in "iuf" or (kind == "b" and name in boolean):
            continue
        dtype = np.asarray(array).dtype
        fix = {"c": "store the real values only",
               "b": "store integers (0/1) or floats instead of booleans",
               "O": "store a numeric array (eiesim never unpickles Python objects)"}.get(
            kind, "store a numeric array")
        raise error(f"{prefix}array {name!r} has dtype {dtype}; it must hold real numbers "
                    f"(integers or floats); {fix}")


def check_seed(seed: object, *, name: str = "seed",
               error: type[EiesimError] = EiesimError) -> int:
    """``seed`` as an int after checking that it is a whole number >= 0 (numpy's generators
    take no negative seed); the one check of every seed eiesim takes.

    >>> check_seed(7)
    7
    >>> check_seed(-1, name="--seed")
    Traceback (most recent call last):
    ...
    eiesim.errors.EiesimError: --seed -1 is below the minimum 0; give a whole number >= 0 (every random choice in eiesim is drawn from it)
    """
    import numbers

    # "seed = -1" for a parameter, "--seed -1" for an option, "-1" where argparse names it
    shown = f"{name} {seed!r}" if name.startswith("-") else \
        f"{name} = {seed!r}" if name else repr(seed)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise error(f"{shown} must be a whole number >= 0 (every random choice in eiesim is "
                    f"drawn from it)")
    if seed < 0:
        raise error(f"{shown} is below the minimum 0; give a whole number >= 0 (every random "
                    f"choice in eiesim is drawn from it)")
    return int(seed)
