"""Network files (``.npz``): reading, checking and writing them (format: :mod:`eiesim.network`)."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eiesim.checks import check_array_kinds, check_float32_range, real_array, unknown_names_hint
from eiesim.errors import LayerError
from eiesim.format.files import checksum, read_npz
from eiesim.format.quantized import QuantizedLayer
from eiesim.network.run import _as_layer_list, _check_chain, _check_input
from eiesim.safe_output import write_file

_KEY = re.compile(r"^layer(0|[1-9][0-9]*)_(codes|codebook|bias_codes|relu|activations)$")
HOW_TO_MAKE_A_NETWORK_FILE = ("a network file is an .npz archive of named arrays "
                              "(layer0_codes, layer0_codebook, ..., activations); write one with "
                              "eiesim.network.save_network(path, layers, activations)")


@dataclass(frozen=True, eq=False)
class NetworkData:
    """A network file's contents (:func:`load_network`)."""

    layers: tuple[QuantizedLayer, ...]
    activations: np.ndarray | None  # float64 (in_0,): layer 0's input, the layers chained
    source: str
    checksum: str = ""
    layer_inputs: tuple[np.ndarray, ...] | None = None
    """Each layer's own input (``layer{K}_activations``), when the layers do not chain."""

    @property
    def chained(self) -> bool:
        return self.layer_inputs is None


# --- files -----------------------------------------------------------------------------------

def is_network_file(path: str | Path) -> bool:
    """True when ``path`` is a zip archive holding any ``layer{K}_...`` array (a network file,
    perhaps a broken one: a file starting at ``layer1`` is a network whose layer 0 is missing,
    which :func:`load_network` then says); False for anything else, readable or not (it only
    looks at the archive's member names)."""
    try:
        with zipfile.ZipFile(Path(path)) as archive:
            return any(_KEY.match(member[: -len(".npy")]) for member in archive.namelist()
                       if member.endswith(".npy"))
    except Exception:  # not a zip, unreadable, damaged: not a network file
        return False


def load_network(path: str | Path) -> NetworkData:
    """Read and check a network file (module doc)."""
    source = str(path)
    arrays = read_npz(path, what="network file", how=HOW_TO_MAKE_A_NETWORK_FILE)
    layers, activations, layer_inputs = _layers_from_arrays(arrays, source)
    return NetworkData(tuple(layers), activations, source, checksum(arrays), layer_inputs)


def save_network(path: str | Path, layers: Sequence[QuantizedLayer | Any],
                 activations: np.ndarray | None = None, *,
                 layer_inputs: Sequence[np.ndarray] | None = None) -> Path:
    """Write a network file. ``layers`` are :class:`~eiesim.format.quantized.QuantizedLayer` (alias
    :data:`QuantizedLayer`) or anything with ``codes``, ``codebook`` and ``bias_codes`` (ReLU on).
    Shapes and the input are checked before anything is written, and the file is written
    through a temporary file in the same folder (a failure leaves nothing behind).

    ``activations`` is layer 0's input (the layers chain); ``layer_inputs`` instead gives each
    layer its own input (module doc)."""
    layers = _as_layer_list(layers)
    if (activations is None) == (layer_inputs is None):
        raise LayerError("give either activations (layer 0's input; the layers chain) or "
                         "layer_inputs (one input per layer), not both or neither")
    arrays: dict[str, np.ndarray] = {}
    if layer_inputs is None:
        _check_chain([(layer.out_features, layer.in_features) for layer in layers])
        arrays["activations"] = _exact_float32(
            _check_input(activations, layers[0].in_features, "<activations>"))
    else:
        if len(layer_inputs) != len(layers):
            raise LayerError(f"layer_inputs has {len(layer_inputs)} inputs for {len(layers)} "
                             f"layers; give one input per layer")
        for index, (layer, values) in enumerate(zip(layers, layer_inputs)):
            arrays[f"layer{index}_activations"] = _exact_float32(real_array(
                values, f"layer{index}_activations", (layer.in_features,),
                why=f"(layer {index} has {layer.in_features} inputs)"))
    for index, layer in enumerate(layers):
        arrays[f"layer{index}_codes"] = layer.codes
        arrays[f"layer{index}_codebook"] = layer.codebook
        if layer.bias_codes is not None:
            arrays[f"layer{index}_bias_codes"] = layer.bias_codes
        arrays[f"layer{index}_relu"] = np.array(layer.relu)
    return write_file(path, lambda handle: np.savez_compressed(handle, **arrays))


def _exact_float32(values: np.ndarray) -> np.ndarray:
    """float32 as in layer files, unless that would change a value (inputs must stay exact)."""
    single = values.astype(np.float32)
    return single if np.array_equal(single, values) else values


def _layers_from_arrays(arrays: dict[str, np.ndarray], source: str
                        ) -> tuple[list[QuantizedLayer], np.ndarray | None,
                                   tuple[np.ndarray, ...] | None]:
    check_array_kinds(arrays, source=source,
                      boolean=tuple(name for name in arrays if name.endswith("_relu")))
    parts: dict[int, dict[str, np.ndarray]] = {}
    unknown = []
    for name, array in arrays.items():
        if name == "activations":
            continue
        match = _KEY.match(name)
        if match is None:
            unknown.append(name)
            continue
        parts.setdefault(int(match.group(1)), {})[match.group(2)] = array
    if unknown:
        known = ["activations", "layer0_codes", "layer0_codebook", "layer0_bias_codes",
                 "layer0_relu", "layer0_activations"]
        raise LayerError(f"{source}: unknown array(s) {unknown_names_hint(unknown, known)}; "
                         f"a network file holds "
                         f"layer{{K}}_codes, layer{{K}}_codebook, layer{{K}}_bias_codes, "
                         f"layer{{K}}_relu (K = 0, 1, ...) and activations (or "
                         f"layer{{K}}_activations, one input per layer)")
    if not parts:
        raise LayerError(f"{source}: no layer arrays (layer0_codes, layer0_codebook, ...); this "
                         f"is not a network file")
    count = max(parts) + 1
    missing = [k for k in range(count) if k not in parts]
    if missing:
        raise LayerError(f"{source}: layers must be numbered 0..{count - 1} without gaps; layer "
                         f"{missing[0]} is missing (no layer{missing[0]}_codes or "
                         f"layer{missing[0]}_codebook); number the layers from 0")
    layers = []
    for index in range(count):
        part = parts[index]
        for needed in ("codes", "codebook"):
            if needed not in part:
                raise LayerError(f"{source}: layer {index} has no 'layer{index}_{needed}'; each "
                                 f"layer needs codes and a codebook")
        relu = True
        if "relu" in part:
            flag = part["relu"]
            if flag.shape != () or not (flag.dtype == np.bool_ or (
                    np.issubdtype(flag.dtype, np.integer) and int(flag) in (0, 1))):
                raise LayerError(f"{source}: layer{index}_relu = {flag!r} must be a bool "
                                 f"scalar (True applies ReLU to layer {index}'s output)")
            relu = bool(flag)
        try:
            layers.append(QuantizedLayer(part["codes"], part["codebook"],
                                         part.get("bias_codes"), relu))
        except LayerError as error:
            raise LayerError(f"{source}: layer {index}: {error}") from None
    own = [index for index in range(count) if "activations" in parts[index]]
    if own:
        if "activations" in arrays:
            raise LayerError(f"{source}: has both 'activations' (layer 0's input, the layers "
                             f"chained) and per-layer 'layer{{K}}_activations'; keep one kind")
        if len(own) != count:
            lacking = next(k for k in range(count) if k not in own)
            raise LayerError(f"{source}: layer {lacking} has no 'layer{lacking}_activations'; "
                             f"with per-layer inputs every layer needs its own")
        inputs = tuple(real_array(parts[index]["activations"], f"layer{index}_activations",
                                  (layer.in_features,), source=source,
                                  why=f"(layer {index} has {layer.in_features} inputs)",
                                  within_float32=True)
                       for index, layer in enumerate(layers))
        return layers, None, inputs
    try:
        _check_chain([(layer.out_features, layer.in_features) for layer in layers])
    except LayerError as error:
        raise LayerError(f"{source}: {error}") from None
    if "activations" not in arrays:
        raise LayerError(f"{source}: the array 'activations' (the input of layer 0, shape "
                         f"({layers[0].in_features},)) is missing; add it (or give every "
                         f"layer its own input as layer{{K}}_activations)")
    activations = _check_input(arrays["activations"], layers[0].in_features, source)
    check_float32_range(activations, "activations", source=source)
    return layers, activations, None
