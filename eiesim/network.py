"""Multi-layer networks on one simulated EIE chip: layer after layer, outputs feeding inputs.

EIE runs a network one fully connected layer at a time. Each PE has two activation register
files, source and destination (docs/hardware.md §3.5): a layer reads its input from the source
file and
accumulates its outputs in the destination file; after ReLU and write-back (rule T10, already
counted in each layer's cycles) the two files swap roles, so the next layer's LNZD scans the
previous layer's outputs where they are. No cycle is spent moving data between layers: the
network's cycles are the sum of its layers' cycles, and its energy the sum of their energies.

Exactness: in fixed point the outputs are the destination accumulators (after ReLU) and they
*are* the next layer's input registers. ``SimResult.outputs`` holds them as acc / 2**F_a, which
the next layer's rule A1 turns back into exactly the same integers (the same spec, so the same
F_a); in float32 the outputs are float32 values that convert to float32 exactly. So a network
run equals running its layers one by one, each on the previous one's output.

Long vectors: a layer whose outputs exceed the destination registers (more than
``act_regs_per_file`` rows per PE) writes them to the activation SRAM in output batches (rule
T13), and the next layer, whose input then exceeds the source registers, loads it back in input
batches (rule T12); both engines count those cycles and accesses, so a network's totals include
them.

Network file (``.npz``), for layers K = 0 .. L-1:

=======================  ======================  =================================================
array                    shape / dtype           meaning
=======================  ======================  =================================================
``layer{K}_codes``       (out_K, in_K) integer   codebook indices, 0 = pruned
``layer{K}_codebook``    (C,) float              shared values, ``codebook[0] == 0``
``layer{K}_bias_codes``  (out_K,) int, optional  bias as codebook indices (the extra bias column)
``layer{K}_relu``        () bool, optional       apply ReLU to layer K's output (default True)
``activations``          (in_0,) float           the input of layer 0 (chained network)
``layer{K}_activations`` (in_K,) float           *or* each layer's own input (independent layers)
=======================  ======================  =================================================

A file holds either ``activations`` or ``layer{K}_activations`` for every layer. With
``activations`` the layers chain: layer K's output is layer K+1's input, so the shapes must chain
(``out_K == in_(K+1)``). With one input per layer, every layer runs on its own input, as the
paper benchmarks AlexNet's, VGG's and NeuralTalk's layers (each with its measured activation
density), and the shapes need not chain; cycles and energy still add up over the layers. Whatever
``relu`` says, the last layer's output is also reported before ReLU
(:attr:`NetworkResult.pre_activations`), for classification.

>>> import numpy as np

>>> import eiesim
>>> rng = np.random.default_rng(0)
>>> codebook = np.linspace(-1, 1, 16).astype(np.float32); codebook[0] = 0
>>> layers = [NetworkLayer(rng.integers(0, 16, (32, 16)).astype(np.uint8), codebook),
...           NetworkLayer(rng.integers(0, 16, (10, 32)).astype(np.uint8), codebook)]
>>> result = simulate_network(layers, rng.random(16), eiesim.HardwareSpec(num_pes=4))
>>> result.num_layers, result.cycles == sum(r.cycles for r in result.layers)
(2, True)
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eiesim.checks import check_array_kinds, real_array, unknown_names_hint
from eiesim.errors import LayerError
from eiesim.io import SCHEMA_VERSION, checksum, read_npz
from eiesim.layer import EncodedLayer
from eiesim.quantized import QuantizedLayer
from eiesim.safe_output import write_file
from eiesim.sim import simulate
from eiesim.sim.result import SimResult
from eiesim.spec import DEFAULT_SPEC, HardwareSpec

__all__ = ["EncodedNetwork", "NetworkData", "NetworkLayer", "NetworkResult", "encode_network",
           "is_network_file", "load_network", "save_network", "simulate_network"]

_KEY = re.compile(r"^layer(0|[1-9][0-9]*)_(codes|codebook|bias_codes|relu|activations)$")
HOW_TO_MAKE_A_NETWORK_FILE = ("a network file is an .npz archive of named arrays "
                              "(layer0_codes, layer0_codebook, ..., activations); write one with "
                              "eiesim.network.save_network(path, layers, activations)")


NetworkLayer = QuantizedLayer
"""Old name of :class:`eiesim.quantized.QuantizedLayer`, the type of a network's layers:
``NetworkLayer(codes, codebook, bias_codes=None, relu=True)`` (checked on construction)."""


@dataclass(frozen=True, eq=False)
class EncodedNetwork:
    """A network encoded for one spec: the layers ready to simulate, and their ReLU flags.

    Encode once with :func:`encode_network` and simulate many inputs with it."""

    layers: tuple[EncodedLayer, ...]
    relu: tuple[bool, ...]
    spec: HardwareSpec
    chained: bool = True
    """Layer K's output is layer K+1's input; False for layers that each run on their own."""

    def __post_init__(self) -> None:
        if len(self.layers) != len(self.relu):
            raise LayerError(f"{len(self.layers)} layers but {len(self.relu)} ReLU flags; give "
                             f"one flag per layer")
        if self.chained:
            _check_chain([(layer.out_features, layer.in_features) for layer in self.layers])
        for layer in self.layers:
            layer.check_fits(self.spec)

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

    @property
    def out_features(self) -> int:
        return self.layers[-1].out_features


@dataclass(frozen=True, eq=False)
class NetworkData:
    """A network file's contents (:func:`load_network`)."""

    layers: tuple[NetworkLayer, ...]
    activations: np.ndarray | None  # float64 (in_0,): layer 0's input, the layers chained
    source: str
    checksum: str = ""
    layer_inputs: tuple[np.ndarray, ...] | None = None
    """Each layer's own input (``layer{K}_activations``), when the layers do not chain."""

    @property
    def chained(self) -> bool:
        return self.layer_inputs is None


def encode_network(layers: Sequence[NetworkLayer], spec: HardwareSpec = DEFAULT_SPEC, *,
                   chained: bool = True) -> EncodedNetwork:
    """Encode every layer for ``spec`` (checking first that the shapes chain, if they must)."""
    layers = _as_layer_list(layers)
    if chained:
        _check_chain([(layer.out_features, layer.in_features) for layer in layers])
    return EncodedNetwork(tuple(layer.encode(spec) for layer in layers),
                          tuple(layer.relu for layer in layers), spec, chained)


# --- results ---------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class NetworkResult:
    """The result of :func:`simulate_network`: one :class:`~eiesim.sim.SimResult` per layer."""

    layers: tuple[SimResult, ...]
    relu: tuple[bool, ...]
    spec: HardwareSpec
    engine: str
    energy: tuple[Any, ...] | None = None
    """One :class:`eiesim.energy.EnergyReport` per layer, or None without the energy model."""
    chained: bool = True
    """Whether layer K's output was layer K+1's input (False: each layer ran on its own)."""

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def cycles(self) -> int:
        """Sum of the layers' cycles: the register files swap, nothing moves between layers."""
        return sum(result.cycles for result in self.layers)

    @property
    def time_s(self) -> float:
        return self.cycles / self.spec.clock_hz

    @property
    def layer_energy_j(self) -> tuple[float, ...] | None:
        if self.energy is None:
            return None
        return tuple(float(report.energy_j) for report in self.energy)

    @property
    def energy_j(self) -> float | None:
        """Energy of one inference through every layer (None without the energy model)."""
        per_layer = self.layer_energy_j
        return None if per_layer is None else float(sum(per_layer))

    @property
    def power_w(self) -> float | None:
        """Average power over the whole run (the key single-layer reports use too)."""
        energy = self.energy_j
        return None if energy is None else energy / self.time_s

    average_power_w = power_w  # the old name, kept for existing code

    @property
    def area_mm2(self) -> float | None:
        try:
            from eiesim.energy import area_report
        except ImportError:
            return None
        return area_report(self.spec).chip_mm2

    @property
    def edp_js(self) -> float | None:
        """Energy-delay product of one inference through the network, in J·s."""
        energy = self.energy_j
        return None if energy is None else energy * self.time_s

    @property
    def edap_jsm2(self) -> float | None:
        """Energy-delay-area product, in J·s·m² (area in square metres)."""
        edp, area = self.edp_js, self.area_mm2
        return None if edp is None or area is None else edp * area * 1e-6

    @property
    def load_efficiency(self) -> float:
        """Busy PE-cycles over all PE-cycles of the whole run (rule T11, over every layer)."""
        busy = sum(int(result.busy_cycles.sum()) for result in self.layers)
        return busy / (self.spec.num_pes * self.cycles)

    @property
    def macs(self) -> int:
        return sum(result.macs for result in self.layers)

    @property
    def outputs(self) -> np.ndarray:
        """The last layer's output (after ReLU if its ``relu`` flag says so)."""
        last = self.layers[-1]
        return last.outputs if self.relu[-1] else last.pre_activations

    @property
    def pre_activations(self) -> np.ndarray:
        """The last layer's output before ReLU (logits, for classification)."""
        return self.layers[-1].pre_activations

    @property
    def predicted_class(self) -> int:
        """argmax of :attr:`pre_activations` (lowest index on ties)."""
        return int(np.argmax(self.pre_activations))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: totals, one entry per layer, final outputs, config."""
        from eiesim.report import metrics

        energies = self.layer_energy_j
        layers = []
        for index, (result, relu) in enumerate(zip(self.layers, self.relu)):
            entry: dict[str, Any] = {"layer": index, "out": result.out_features,
                                     "in": result.in_features, "relu": relu}
            entry.update(metrics(result))
            entry["energy_j"] = None if energies is None else energies[index]
            layers.append(entry)
        return {
            "schema_version": SCHEMA_VERSION,
            "engine": self.engine,
            "num_layers": self.num_layers,
            "cycles": self.cycles,
            "time_s": self.time_s,
            "load_efficiency": self.load_efficiency,
            "macs": self.macs,
            "energy_j": self.energy_j,
            "power_w": self.power_w,
            "average_power_w": self.power_w,  # old key, kept as an alias of power_w
            "area_mm2": self.area_mm2,
            "edp_js": self.edp_js,
            "edap_jsm2": self.edap_jsm2,
            "chained": self.chained,
            "layers": layers,
            "outputs": self.outputs.tolist(),
            "pre_activations": self.pre_activations.tolist(),
            "predicted_class": self.predicted_class,
            "config": self.spec.to_dict(),
        }

    def format_table(self, *, title: str = "") -> str:
        """One row per layer and a total row."""
        energies = self.layer_energy_j
        header = ("layer", "shape", "ReLU", "cycles", "time", "load eff.", "MACs", "energy")
        rows = []
        for index, (result, relu) in enumerate(zip(self.layers, self.relu)):
            rows.append((str(index), f"{result.out_features} x {result.in_features}",
                         "yes" if relu else "no", f"{result.cycles:,}",
                         f"{result.time_s * 1e6:.3f} µs", f"{result.load_efficiency:.1%}",
                         f"{result.macs:,}",
                         "-" if energies is None else f"{energies[index] * 1e9:.3f} nJ"))
        energy = self.energy_j
        rows.append(("total", f"{self.out_features} x {self.in_features}" if self.chained
                     else "", "", f"{self.cycles:,}",
                     f"{self.time_s * 1e6:.3f} µs", f"{self.load_efficiency:.1%}",
                     f"{self.macs:,}", "-" if energy is None else f"{energy * 1e9:.3f} nJ"))
        widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]
        lines = [title] if title else []
        lines.append(f"{self.num_layers} layers on {self.spec.num_pes} PEs, queue depth "
                     f"{self.spec.act_queue_depth}, {self.spec.arithmetic}, {self.engine} engine"
                     + ("" if self.chained else "; each layer on its own input"))
        for i, row in enumerate([header] + rows):
            cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].ljust(widths[2])]
            cells += [cell.rjust(width) for cell, width in zip(row[3:], widths[3:])]
            lines.append("  ".join(cells).rstrip())
            if i == 0 or i == len(rows) - 1:
                lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
        return "\n".join(lines)

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

    @property
    def out_features(self) -> int:
        return self.layers[-1].out_features


def simulate_network(layers: EncodedNetwork | Sequence[NetworkLayer | EncodedLayer],
                     activations: np.ndarray | None, spec: HardwareSpec | None = None, *,
                     engine: str = "fast", energy: bool = True, energy_table: Any = None,
                     layer_inputs: Sequence[np.ndarray] | None = None) -> NetworkResult:
    """Run ``layers`` one after another on ``spec``, layer 0 on ``activations``.

    ``layers`` is an :class:`EncodedNetwork` (encode once, run many inputs), or a sequence of
    :class:`NetworkLayer` (encoded here for ``spec``) and/or already encoded
    :class:`~eiesim.EncodedLayer` (ReLU after each). Layer K + 1's input is layer K's output
    exactly as the hardware holds it (after ReLU unless the layer's flag is off; module doc).
    With ``energy`` (default) and the energy model available, each layer gets an
    :class:`eiesim.energy.EnergyReport` (``energy_table``: an :class:`eiesim.energy.EnergyTable`
    built for ``spec``; default: ``default_energy_table(spec)``).

    ``layer_inputs`` (one input per layer, ``activations`` None) runs every layer on its own
    input instead; the layers then need not chain.
    """
    chained = layer_inputs is None
    if chained == (activations is None):
        raise LayerError("give either activations (layer 0's input; the layers chain) or "
                         "layer_inputs (one input per layer), not both or neither")
    network = _as_encoded_network(layers, spec, chained=chained)
    spec = network.spec
    if not chained and len(layer_inputs) != len(network.layers):  # type: ignore[arg-type]
        raise LayerError(f"layer_inputs has {len(layer_inputs)} inputs for "  # type: ignore
                         f"{len(network.layers)} layers; give one input per layer")
    results: list[SimResult] = []
    current = None if activations is None else np.asarray(activations)
    for index, (layer, relu) in enumerate(zip(network.layers, network.relu)):
        if not chained:
            current = np.asarray(layer_inputs[index])  # type: ignore[index]
        try:
            result = simulate(layer, current, spec, engine=engine)
        except LayerError as error:
            if index == 0 and chained:
                raise
            raise LayerError(f"layer {index}: {error}") from None
        results.append(result)
        # The destination registers become the next layer's source registers, as they are.
        current = result.outputs if relu else result.pre_activations
    reports = _energy_reports(results, spec, energy_table) if energy else None
    return NetworkResult(tuple(results), network.relu, spec, engine, reports, chained)


def _energy_reports(results: Sequence[SimResult], spec: HardwareSpec,
                    table: Any) -> tuple[Any, ...] | None:
    """One EnergyReport per layer, or None when the energy model is not installed."""
    try:
        from eiesim.energy import default_energy_table, energy_report
    except ImportError:  # the energy model is optional to a network run
        return None
    table = default_energy_table(spec) if table is None else table
    return tuple(energy_report(result, table) for result in results)


# --- files -----------------------------------------------------------------------------------

def is_network_file(path: str | Path) -> bool:
    """True when ``path`` is a zip archive holding ``layer0_codes`` (a network file); False for
    anything else, readable or not (it only looks at the archive's member names)."""
    try:
        with zipfile.ZipFile(Path(path)) as archive:
            return "layer0_codes.npy" in archive.namelist()
    except Exception:  # not a zip, unreadable, damaged: not a network file
        return False


def load_network(path: str | Path) -> NetworkData:
    """Read and check a network file (module doc)."""
    source = str(path)
    arrays = read_npz(path, what="network file", how=HOW_TO_MAKE_A_NETWORK_FILE)
    layers, activations, layer_inputs = _layers_from_arrays(arrays, source)
    return NetworkData(tuple(layers), activations, source, checksum(arrays), layer_inputs)


def save_network(path: str | Path, layers: Sequence[NetworkLayer | Any],
                 activations: np.ndarray | None = None, *,
                 layer_inputs: Sequence[np.ndarray] | None = None) -> Path:
    """Write a network file. ``layers`` are :class:`~eiesim.quantized.QuantizedLayer` (alias
    :data:`NetworkLayer`) or anything with ``codes``, ``codebook`` and ``bias_codes`` (ReLU on).
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


# --- checks ----------------------------------------------------------------------------------

def _as_layer_list(layers: Any) -> list[QuantizedLayer]:
    if isinstance(layers, (QuantizedLayer, np.ndarray)) or not isinstance(layers, Sequence) \
            or len(layers) == 0:
        raise LayerError("a network needs a non-empty list of layers (QuantizedLayer, or "
                         "objects with codes, codebook and bias_codes)")
    result = []
    for index, layer in enumerate(layers):
        if isinstance(layer, QuantizedLayer):
            result.append(layer)
        elif hasattr(layer, "codes") and hasattr(layer, "codebook"):
            try:
                result.append(QuantizedLayer.from_quantized(layer))
            except LayerError as error:
                raise LayerError(f"layer {index}: {error}") from None
        else:
            raise LayerError(f"layer {index} is a {type(layer).__name__}; give QuantizedLayer "
                             f"(NetworkLayer) objects")
    return result


def _as_encoded_network(layers: Any, spec: HardwareSpec | None, *,
                        chained: bool = True) -> EncodedNetwork:
    if isinstance(layers, EncodedNetwork):
        if layers.chained != chained:
            raise LayerError("the network was encoded as " + ("chained" if layers.chained else
                             "independent layers") + "; encode it again with encode_network("
                             "layers, spec, chained=...) to match the inputs given")
        if spec is not None and spec != layers.spec:
            raise LayerError("the network was encoded for another spec than the one given; "
                             "encode it again with encode_network(layers, spec) or pass "
                             "spec=None")
        return layers
    if isinstance(layers, (NetworkLayer, EncodedLayer, np.ndarray)) \
            or not isinstance(layers, Sequence) or len(layers) == 0:
        raise LayerError("simulate_network takes a non-empty list of layers (NetworkLayer or "
                         "EncodedLayer) or an EncodedNetwork; for one layer use eiesim.simulate")
    if spec is None:
        first = next((layer for layer in layers if isinstance(layer, EncodedLayer)), None)
        spec = DEFAULT_SPEC if first is None else DEFAULT_SPEC.replace(
            num_pes=first.num_pes, weight_index_bits=first.weight_index_bits,
            rel_index_bits=first.rel_index_bits)
    shapes = []
    for index, layer in enumerate(layers):
        if not isinstance(layer, (NetworkLayer, EncodedLayer)):
            raise LayerError(f"layer {index} is a {type(layer).__name__}; give NetworkLayer or "
                             f"EncodedLayer objects (or an EncodedNetwork)")
        shapes.append((layer.out_features, layer.in_features))
    if chained:
        _check_chain(shapes)
    encoded, relu = [], []
    for layer in layers:
        if isinstance(layer, NetworkLayer):
            encoded.append(layer.encode(spec))
            relu.append(layer.relu)
        else:
            encoded.append(layer)
            relu.append(True)
    return EncodedNetwork(tuple(encoded), tuple(relu), spec, chained)


def _check_chain(shapes: Sequence[tuple[int, int]]) -> None:
    """Layer K's outputs must be layer K + 1's inputs."""
    for index in range(len(shapes) - 1):
        out_k, in_next = shapes[index][0], shapes[index + 1][1]
        if out_k != in_next:
            raise LayerError(f"layer {index} has {out_k} outputs but layer {index + 1} has "
                             f"{in_next} inputs; the shapes must chain (out of layer K == in of "
                             f"layer K+1): fix layer {index + 1}'s codes to shape "
                             f"({shapes[index + 1][0]}, {out_k})")


def _check_input(activations: Any, in_features: int, source: str) -> np.ndarray:
    return real_array(activations, "activations", (in_features,), source=source,
                      why=f"(layer 0 has {in_features} inputs)")

def _layers_from_arrays(arrays: dict[str, np.ndarray], source: str
                        ) -> tuple[list[NetworkLayer], np.ndarray | None,
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
                         f"{missing[0]} is missing")
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
                                  why=f"(layer {index} has {layer.in_features} inputs)")
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
    return layers, activations, None
