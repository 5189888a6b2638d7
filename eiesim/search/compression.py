"""Network-level compression: prune every layer, fine-tune, quantize, and measure on the chip.

The flow of Deep Compression (Han, Mao, Dally, ICLR 2016) applied to a whole MLP
(:class:`~eiesim.search.train.MLP`), with EIE as the measuring instrument:

1. :func:`prune_masks` prunes every layer to its own density with any method of
   :mod:`eiesim.compress.prune` (:func:`global_masks`: one magnitude threshold for all layers);
2. :func:`compress_network` fine-tunes with those masks fixed
   (:func:`eiesim.search.train.fine_tune`) and shares each layer's weights through a
   ``2**bits``-entry codebook (:func:`eiesim.compress.quantize`, the bias with the layer's
   codebook as in EIE's flow);
3. :func:`evaluate_network` measures test accuracy in float64 (the pruned, fine-tuned weights)
   and on the chip (the codebook values in the spec's arithmetic, rules A1-A5 of
   :mod:`eiesim.sim`), and simulates the network (:func:`eiesim.network.simulate_network`)
   for cycles and energy per layer and in total.

Which input the cycles are of: a layer's cycles depend on how many of its input activations are
non-zero (rule T2), so a network has no single cycle count. ``cycles`` and ``energy_j`` here are
those of the **first test input**, the input written into the network file as ``activations``,
so ``eiesim run`` on that file reports exactly these numbers; ``cycles_mean`` averages the
first ``timing_inputs`` test inputs as a check that the first one is typical.

Chip accuracy: :func:`chip_logits` computes the last layer's pre-activations of every test input
with the arithmetic of rules A1-A5 (:mod:`eiesim.search.chip_arithmetic`, a numba kernel: column
by column in broadcast order, the inputs then the bias column, saturating after every
addition); tests hold it equal to the fast engine's outputs bit for bit.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eiesim.compress.prune import METHODS, mask_densities, prune_global_mask, prune_mask
from eiesim.compress.quantize import quantize_weights
from eiesim.errors import CompressionError
from eiesim.format.quantized import QuantizedLayer
from eiesim.network import save_network, simulate_network
from eiesim.search.chip_arithmetic import ChipLayer, chip_network_logits, prepare_chip_layer
from eiesim.search.criteria import CRITERIA, CriterionSettings, prune_network
from eiesim.search.model import Dataset
from eiesim.search.train import MLP, fine_tune, loss_and_gradients
from eiesim.spec import HardwareSpec

PRUNING_METHODS = METHODS + tuple(CRITERIA)
"""Every per-layer method of the network-level API and ``eiesim search --method``: the
one-shot ones of :mod:`eiesim.compress.prune` and the criteria of
:mod:`eiesim.search.criteria`."""

__all__ = ["PRUNING_METHODS", "CompressedNetwork", "CompressionError", "NetworkEvaluation",
           "chip_accuracy",
           "chip_layers", "chip_logits", "compress_network", "dense_network", "energy_table_for",
           "evaluate_network", "global_masks", "layer_table", "prune_masks", "save_compressed"]


@dataclass(frozen=True, eq=False)
class CompressedNetwork:
    """A pruned, fine-tuned and weight-shared network: the float model and its chip layers."""

    model: MLP
    """The pruned, fine-tuned float model (0 outside the masks)."""
    masks: tuple[np.ndarray, ...]
    quantized: tuple[QuantizedLayer, ...]
    method: str
    bits: int

    @property
    def layer_density(self) -> tuple[float, ...]:
        """Kept positions over all positions, per layer (the mask's density)."""
        return mask_densities(self.masks)[0]

    @property
    def density(self) -> float:
        """Kept weights over all weights of the network (biases not counted)."""
        return mask_densities(self.masks)[1]

    def layers(self) -> list[QuantizedLayer]:
        """The layers as EIE runs them: ReLU after every layer but the last (the logits)."""
        last = len(self.quantized) - 1
        return [QuantizedLayer.from_quantized(q, relu=k != last)
                for k, q in enumerate(self.quantized)]


def prune_masks(model: MLP, densities: Sequence[float], method: str = "magnitude", *,
                num_pes: int, seed: int = 0, data: Dataset | None = None,
                criterion_settings: CriterionSettings | None = None) -> list[np.ndarray]:
    """One mask per layer keeping ``densities[k]`` of layer k's positions with ``method``.

    Method "gradient" scores |w * dL/dw| with the training loss (needs ``data``); "balanced"
    balances the rows of ``num_pes`` PEs. A density of 1 keeps the layer whole. The criteria
    of :mod:`eiesim.search.criteria` (all need ``data``) give their masks here; the weights
    they end with (refit, regularised, the rewound ticket) come with
    :func:`eiesim.search.criteria.prune_network`.
    """
    densities = _check_densities(densities, model)
    if method in CRITERIA:
        return list(prune_network(model, densities, method, data=data,
                                  settings=criterion_settings, seed=seed).masks)
    if method not in METHODS:
        raise CompressionError(f"method = {method!r} is not a pruning method; use one of "
                               f"{', '.join(PRUNING_METHODS)}")
    gradients: list[Any] = [None] * model.num_layers
    if method == "gradient":
        if data is None:
            raise CompressionError("method 'gradient' needs the training data (data=...) for "
                                   "the loss gradient")
        gradients = loss_and_gradients(model, data.train_inputs, data.train_labels)[1]
    masks = []
    for k, (w, density) in enumerate(zip(model.weights, densities)):
        if density >= 1.0:
            masks.append(np.ones(w.shape, dtype=bool))
        else:
            masks.append(prune_mask(w, density, method, seed=seed + k, gradients=gradients[k],
                                    num_pes=num_pes))
    return masks


def global_masks(model: MLP, density: float) -> list[np.ndarray]:
    """Global magnitude pruning: one |w| threshold over all layers, ``density`` kept overall."""
    return prune_global_mask(model.weights, density, "magnitude")


def compress_network(model: MLP, masks: Sequence[np.ndarray], data: Dataset, *, bits: int,
                     method: str = "magnitude", fine_tune_epochs: int = 3, lr: float = 1e-3,
                     seed: int = 0) -> CompressedNetwork:
    """Fine-tune ``model`` with ``masks`` fixed (0 epochs: only mask it), then quantize."""
    if fine_tune_epochs:
        tuned = fine_tune(model, data.train_inputs, data.train_labels, masks,
                          epochs=fine_tune_epochs, lr=lr, seed=seed)
    else:
        tuned = model.masked(masks)
    quantized = tuple(quantize_weights(w, bits, seed=seed, bias=b)
                      for w, b in zip(tuned.weights, tuned.biases))
    return CompressedNetwork(tuned, tuple(np.asarray(m, dtype=bool) for m in masks),
                             quantized, method, int(bits))


def dense_network(model: MLP, *, bits: int, seed: int = 0) -> CompressedNetwork:
    """The uncompressed model on the chip: every weight kept, ``bits``-bit weight sharing."""
    masks = [np.ones(w.shape, dtype=bool) for w in model.weights]
    quantized = tuple(quantize_weights(w, bits, seed=seed, bias=b)
                      for w, b in zip(model.weights, model.biases))
    return CompressedNetwork(model.copy(), tuple(masks), quantized, "dense", int(bits))


# --- the chip's arithmetic --------------------------------------------------------------------

def chip_logits(layers: Sequence[QuantizedLayer], inputs: np.ndarray,
                spec: HardwareSpec) -> np.ndarray:
    """The last layer's pre-activations for every row of ``inputs``, as the chip computes them
    (rules A1-A5; module doc). Equal to ``simulate_network(...).pre_activations`` row by row."""
    return chip_network_logits(chip_layers(layers, spec), inputs, spec)


def check_data_range(data: Dataset, spec: HardwareSpec) -> None:
    """Refuse, before any work, input data outside the chip's fixed-point input range (rule
    A1), naming the array, the index, the value and the range; float32 has no narrower range
    than the data file's own check."""
    if not spec.is_fixed_point:
        return
    from eiesim.sim.prepare import to_fixed

    act_frac = spec.act_frac_bits_effective
    high, low = (1 << (spec.data_bits - 1)) - 1, -(1 << (spec.data_bits - 1))
    scale = float(1 << act_frac)
    for name in ("train_inputs", "test_inputs", "val_inputs"):
        values = getattr(data, name)
        if values is None:
            continue
        fixed = to_fixed(values, act_frac)
        outside = np.argwhere((fixed > high) | (fixed < low))
        if outside.size:
            row, column = (int(i) for i in outside[0])
            raise CompressionError(f"{data.source}: {name}[{row}, {column}] = "
                                   f"{values[row, column]:g} is outside the chip's "
                                   f"{spec.arithmetic} input range {low / scale:g}.."
                                   f"{high / scale:g} ({act_frac} fractional bits); scale the "
                                   f"data, lower act_frac_bits, or use arithmetic='float32'")


def chip_layers(layers: Sequence[QuantizedLayer], spec: HardwareSpec) -> tuple[ChipLayer, ...]:
    """The layers prepared once for :func:`chip_logits`-style scoring of many input sets."""
    return tuple(prepare_chip_layer(layer, spec) for layer in layers)


def chip_accuracy(layers: Sequence[QuantizedLayer | ChipLayer], inputs: np.ndarray,
                  labels: np.ndarray, spec: HardwareSpec) -> float:
    """Share of inputs whose argmax chip logit (lowest index on ties) is the label; ``layers``
    as network layers or already prepared (:func:`chip_layers`)."""
    prepared = [layer if isinstance(layer, ChipLayer) else prepare_chip_layer(layer, spec)
                for layer in layers]
    logits = chip_network_logits(prepared, inputs, spec)
    return float(np.mean(np.argmax(logits, axis=1) == labels))


# --- evaluation -------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class NetworkEvaluation:
    """Accuracy and simulated cost of one compressed network (module doc for the cycles)."""

    accuracy_float: float
    accuracy_chip: float
    cycles: int
    energy_j: float
    cycles_mean: float
    density: float
    layer_density: tuple[float, ...]
    layer_cycles: tuple[int, ...]
    layer_energy_j: tuple[float, ...]
    layer_load_efficiency: tuple[float, ...]
    layer_padding_entries: tuple[int, ...]
    layer_entries: tuple[int, ...]
    nonzero_weights: int
    result: Any = field(default=None, repr=False)
    """The :class:`eiesim.network.NetworkResult` of the first test input."""

    def metrics(self) -> dict[str, Any]:
        """The scalar columns of a results row (``density_{K}`` per layer)."""
        row: dict[str, Any] = {"accuracy_float": self.accuracy_float,
                               "accuracy_chip": self.accuracy_chip, "cycles": self.cycles,
                               "energy_j": self.energy_j, "density": self.density}
        row.update({f"density_{k}": d for k, d in enumerate(self.layer_density)})
        row.update({"cycles_mean": self.cycles_mean, "nonzero_weights": self.nonzero_weights})
        row.update({f"cycles_{k}": c for k, c in enumerate(self.layer_cycles)})
        return row


@functools.lru_cache(maxsize=8)
@functools.lru_cache(maxsize=16)  # every candidate asks; tables are immutable
def energy_table_for(spec: HardwareSpec, energy_table: str | None = None) -> Any:
    """The energy table of ``spec``: the default one, or the user's TOML/YAML file
    ``energy_table`` applied to it (``eiesim search --energy-table``), read once per process."""
    if energy_table is None:
        from eiesim.energy import default_energy_table

        return default_energy_table(spec)
    from eiesim.energy import load_energy_table

    return load_energy_table(energy_table, spec)


def evaluate_network(network: CompressedNetwork, data: Dataset, spec: HardwareSpec, *,
                     timing_inputs: int = 8, energy_table: str | None = None
                     ) -> NetworkEvaluation:
    """Test accuracy (float64 and chip), and cycles and energy of the first test input."""
    layers = network.layers()
    accuracy_float = float(np.mean(network.model.predict(data.test_inputs) == data.test_labels))
    accuracy_chip = chip_accuracy(layers, data.test_inputs, data.test_labels, spec)
    table = energy_table_for(spec, energy_table)
    from eiesim.network import encode_network

    encoded = encode_network(layers, spec)  # once: every timing input runs on this encoding
    first = simulate_network(encoded, data.test_inputs[0], energy_table=table)
    count = max(1, min(int(timing_inputs), data.test_inputs.shape[0]))
    cycles = [first.cycles] + [simulate_network(encoded, data.test_inputs[i], energy=False).cycles
                               for i in range(1, count)]
    energy = first.layer_energy_j
    return NetworkEvaluation(
        accuracy_float=accuracy_float, accuracy_chip=accuracy_chip, cycles=int(first.cycles),
        energy_j=float(first.energy_j), cycles_mean=float(np.mean(cycles)),
        density=network.density, layer_density=network.layer_density,
        layer_cycles=tuple(int(r.cycles) for r in first.layers),
        layer_energy_j=tuple(float(e) for e in energy),
        layer_load_efficiency=tuple(float(r.load_efficiency) for r in first.layers),
        layer_padding_entries=tuple(int(r.issued_padding_entries) for r in first.layers),
        layer_entries=tuple(int(r.issued_entries) for r in first.layers),
        nonzero_weights=sum(int(np.count_nonzero(q.codes)) for q in network.quantized),
        result=first)


def layer_table(network: CompressedNetwork, evaluation: NetworkEvaluation) -> Any:
    """Per-layer table of a network: shape, density, bits, codebook use, cycles, load
    efficiency, padding entries and energy (of the first test input)."""
    import pandas as pd

    rows = []
    for k, q in enumerate(network.quantized):
        rows.append({"layer": k, "out": q.shape[0], "in": q.shape[1],
                     "density": network.layer_density[k], "bits": network.bits,
                     "clusters_used": q.clusters_used, "cycles": evaluation.layer_cycles[k],
                     "load_efficiency": evaluation.layer_load_efficiency[k],
                     "padding_entries": evaluation.layer_padding_entries[k],
                     "entries": evaluation.layer_entries[k],
                     "energy_j": evaluation.layer_energy_j[k]})
    return pd.DataFrame(rows)


def save_compressed(path: Any, network: CompressedNetwork, activations: np.ndarray) -> Any:
    """Write ``network`` as a network file (``eiesim run`` runs it) with ``activations``."""
    return save_network(path, network.layers(), activations)


def _check_densities(densities: Sequence[float], model: MLP) -> list[float]:
    values = [float(d) for d in densities]
    if len(values) != model.num_layers:
        raise CompressionError(f"{len(values)} densities for {model.num_layers} layers; give "
                               f"one density per layer")
    for k, d in enumerate(values):
        if not 0.0 < d <= 1.0:
            raise CompressionError(f"density {d!r} of layer {k} must be in (0, 1]")
    return values
