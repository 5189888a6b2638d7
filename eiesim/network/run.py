"""Networks on one chip: encoding and simulating layer after layer, and their results.

See :mod:`eiesim.network` for how layers chain (or run on their own inputs) on EIE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eiesim.checks import real_array
from eiesim.errors import LayerError
from eiesim.format.encoded import EncodedLayer
from eiesim.format.quantized import QuantizedLayer
from eiesim.sim import simulate
from eiesim.sim.result import SimResult
from eiesim.spec import DEFAULT_SPEC, HardwareSpec


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


def encode_network(layers: Sequence[QuantizedLayer], spec: HardwareSpec = DEFAULT_SPEC, *,
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
        from eiesim.report import SCHEMA_VERSION, metrics

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


def simulate_network(layers: EncodedNetwork | Sequence[QuantizedLayer | EncodedLayer],
                     activations: np.ndarray | None, spec: HardwareSpec | None = None, *,
                     engine: str = "fast", energy: bool = True, energy_table: Any = None,
                     layer_inputs: Sequence[np.ndarray] | None = None) -> NetworkResult:
    """Run ``layers`` one after another on ``spec``, layer 0 on ``activations``.

    ``layers`` is an :class:`EncodedNetwork` (encode once, run many inputs), or a sequence of
    :class:`QuantizedLayer` (encoded here for ``spec``) and/or already encoded
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
                             f"(QuantizedLayer) objects")
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
    if isinstance(layers, (QuantizedLayer, EncodedLayer, np.ndarray)) \
            or not isinstance(layers, Sequence) or len(layers) == 0:
        raise LayerError("simulate_network takes a non-empty list of layers (QuantizedLayer or "
                         "EncodedLayer) or an EncodedNetwork; for one layer use eiesim.simulate")
    if spec is None:
        first = next((layer for layer in layers if isinstance(layer, EncodedLayer)), None)
        spec = DEFAULT_SPEC if first is None else DEFAULT_SPEC.replace(
            num_pes=first.num_pes, weight_index_bits=first.weight_index_bits,
            rel_index_bits=first.rel_index_bits)
    shapes = []
    for index, layer in enumerate(layers):
        if not isinstance(layer, (QuantizedLayer, EncodedLayer)):
            raise LayerError(f"layer {index} is a {type(layer).__name__}; give QuantizedLayer or "
                             f"EncodedLayer objects (or an EncodedNetwork)")
        shapes.append((layer.out_features, layer.in_features))
    if chained:
        _check_chain(shapes)
    encoded, relu = [], []
    for layer in layers:
        if isinstance(layer, QuantizedLayer):
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


def is_network(workload: Any) -> bool:
    """True for a network (an object with ``layers``, such as :class:`NetworkData`), False for
    one layer (an object with ``codes``, such as a QuantizedLayer)."""
    return hasattr(workload, "layers") and not hasattr(workload, "codes")


def fit_workload(workload: Any, spec: HardwareSpec) -> tuple[HardwareSpec, dict[str, int]]:
    """``spec`` with just the memories and pointer width that the layer, or any layer of the
    network, exceeds enlarged (:func:`eiesim.format.capacity.fit_memories`, layer by layer for a
    network:
    the sizes only grow), and every change made (the ``--fit-memories`` of run and sweep)."""
    from eiesim.format.capacity import fit_memories

    changes: dict[str, int] = {}
    for layer in workload.layers if is_network(workload) else [workload]:
        spec, more = fit_memories(layer, spec)
        changes.update(more)
    return spec, changes
