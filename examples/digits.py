"""Handwritten digits end to end: train an MLP, prune, quantize, run every test image on EIE.

The data is scikit-learn's bundled 8x8 digits (``sklearn.datasets.load_digits``: 1,797 images,
shipped with scikit-learn, nothing downloaded). Pixels 0..16 are divided by 16, so inputs are
multiples of 1/16 in [0, 1]: exact in EIE's Q7.8 fixed point (rule A1).

This is an example built on eiesim's public API, not part of the installed package; import it
from the repository root as ``from examples import digits``.

The model is a small ReLU MLP, 64 -> 128 -> 64 -> 10 by default, trained with
:mod:`eiesim.search.train` (softmax cross-entropy, Adam, seeded mini-batches; about a
second). Its three fully connected layers are
exactly what EIE runs: ``y = ReLU(W x + b)``, weights (out, in), the last layer's output read
before ReLU as logits.

The study (:func:`study`), for each pruning method and density:

1. prune every layer to the density with :func:`eiesim.compress.iterative_prune`, layer after
   layer, fine-tuning the whole network with masked gradients after each round
   (:func:`fine_tune_callback` is the ``fine_tune(weights, mask)`` callback; method "gradient"
   scores |w * dL/dw| with the training loss's gradient, :func:`gradient_callback`);
2. share weights with 4-bit k-means per layer (:func:`eiesim.compress.quantize`, the bias with
   the layer's codebook as in EIE's flow);
3. measure accuracy in float64 with the pruned weights, in float64 with the quantized weights,
   and on the simulated chip: every test image through :func:`eiesim.network.simulate_network`
   in 16-bit fixed point, the class being the argmax of the last layer's pre-activations; with
   the cycles, load efficiency and energy (:mod:`eiesim.energy`, when installed) per image.

Load-balance-aware pruning ("balanced", ESE) gives every PE the same number of weights in every
column, so no PE is left with a long column slice while the others wait (rules T3, T5): its load
efficiency is higher than magnitude pruning's at the same density. Measured (all 360 test
images, hidden layers pruned, output layer dense): at 16 PEs and density 0.25, 88.5 % against
83.3 %, 251 against 303 cycles per image, at 96.4 % against 96.7 % accuracy on the chip. The
study, with every number, is ``notebooks/04_digits_end_to_end.ipynb``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eiesim.compress import QuantizedLayer, iterative_prune, quantize_weights
from eiesim.compress.prune import METHODS
from eiesim.errors import EiesimError
from eiesim.network import EncodedNetwork, encode_network, simulate_network
from eiesim.search import train as trainer
from eiesim.search.train import MLP, forward
from eiesim.spec import DEFAULT_SPEC, HardwareSpec

__all__ = ["MLP", "DigitsData", "DigitsError", "HardwareEvaluation", "PrunedModel", "accuracy",
           "evaluate_hardware", "fine_tune", "fine_tune_callback", "gradient_callback",
           "load_data", "network_layers", "prune_model", "quantize_model", "quantized_accuracy",
           "quantized_predictions", "study", "train"]

HIDDEN = (128, 64)
"""Hidden layer widths of the default model: 64 -> 128 -> 64 -> 10."""
PIXEL_SCALE = 16.0
"""Digits pixels are 0..16; inputs are pixels / 16, in [0, 1]."""


class DigitsError(EiesimError):
    """A bad argument to the digits study, or scikit-learn missing."""


# --- data ------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class DigitsData:
    """Train and test split of the digits, inputs scaled to [0, 1]."""

    x_train: np.ndarray  # float64 (n_train, 64)
    y_train: np.ndarray  # int64 (n_train,)
    x_test: np.ndarray  # float64 (n_test, 64)
    y_test: np.ndarray  # int64 (n_test,)

    @property
    def num_classes(self) -> int:
        return 10


def load_data(*, test_size: float = 0.2, seed: int = 0) -> DigitsData:
    """The bundled digits, split stratified and seeded (``test_size=0.2``: 360 test images)."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise DigitsError("the digits study needs scikit-learn (its bundled digits data set); "
                          "pip install scikit-learn") from None
    if not isinstance(test_size, float) or not 0.0 < test_size < 1.0:
        raise DigitsError(f"test_size = {test_size!r} must be a fraction in (0, 1), e.g. 0.2")
    digits = load_digits()
    x = digits.data.astype(np.float64) / PIXEL_SCALE
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size,
                                                        random_state=seed, stratify=y)
    return DigitsData(x_train, y_train, x_test, y_test)


# --- the model: eiesim.search.train's MLP and masked trainer ---------------------------------

def train(data: DigitsData, hidden: Sequence[int] = HIDDEN, *, epochs: int = 30,
          lr: float = 2e-3, batch_size: int = 32, seed: int = 0) -> MLP:
    """Train the float MLP 64 -> hidden... -> 10 (He initialisation, Adam), seeded."""
    sizes = [data.x_train.shape[1], *[int(h) for h in hidden], data.num_classes]
    return trainer.train(trainer.init_mlp(sizes, seed=seed), data.x_train, data.y_train,
                         epochs=epochs, lr=lr, batch_size=batch_size, seed=seed + 1)


def fine_tune(model: MLP, data: DigitsData, masks: Sequence[np.ndarray | None], *,
              epochs: int = 2, lr: float = 5e-4, batch_size: int = 32, seed: int = 0) -> MLP:
    """Retrain ``model`` in place for a few epochs, pruned weights (mask False) held at 0."""
    full = [np.ones(w.shape, dtype=bool) if m is None else m
            for w, m in zip(model.weights, masks)]
    tuned = trainer.fine_tune(model, data.x_train, data.y_train, full, epochs=epochs, lr=lr,
                              batch_size=batch_size, seed=seed)
    model.weights[:] = tuned.weights
    model.biases[:] = tuned.biases
    return model


def fine_tune_callback(model: MLP, data: DigitsData, layer: int,
                       masks: list[np.ndarray | None], *, epochs: int = 2, lr: float = 5e-4,
                       seed: int = 0) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A ``fine_tune(weights, mask) -> weights`` callback for
    :func:`eiesim.compress.iterative_prune` of ``model``'s layer ``layer``.

    It puts the pruned weights and mask into the model, fine-tunes the whole network (every
    layer under its mask in ``masks``, which it updates) and returns the layer's new weights.
    Each call uses a new seed, so rounds see different batch orders.
    """
    calls = [0]

    def callback(weights: np.ndarray, mask: np.ndarray) -> np.ndarray:
        calls[0] += 1
        model.weights[layer] = np.where(mask, weights, 0.0)
        masks[layer] = mask
        fine_tune(model, data, masks, epochs=epochs, lr=lr,
                  seed=seed * 1000 + layer * 100 + calls[0])
        return model.weights[layer]

    return callback


def gradient_callback(model: MLP, data: DigitsData,
                      layer: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``gradients(weights, mask) -> dL/dW`` of layer ``layer`` over the whole training set,
    for method "gradient" of :func:`eiesim.compress.iterative_prune` (SNIP's |w * dL/dw|)."""

    def callback(weights: np.ndarray, mask: np.ndarray) -> np.ndarray:
        model.weights[layer] = np.where(mask, weights, 0.0)
        _, grad_w, _ = trainer.loss_and_gradients(model, data.x_train, data.y_train)
        return grad_w[layer]

    return callback


# --- compression -----------------------------------------------------------------------------

@dataclass(eq=False)
class PrunedModel:
    """A pruned and fine-tuned copy of a model, with the masks of its kept weights."""

    model: MLP
    masks: list[np.ndarray]
    method: str
    density: float

    @property
    def density_achieved(self) -> float:
        """Non-zero weights over all weights of every layer."""
        kept = sum(int(np.count_nonzero(w)) for w in self.model.weights)
        return kept / sum(w.size for w in self.model.weights)


def prune_model(model: MLP, data: DigitsData, method: str, density: float, *,
                num_pes: int | None = None, steps: int = 3, epochs: int = 2,
                lr: float = 5e-4, seed: int = 0,
                last_layer_density: float | None = None) -> PrunedModel:
    """Prune a copy of ``model``: every layer to ``density`` with ``method``, iteratively.

    Layers are pruned one after the other, each in ``steps`` rounds (a geometric schedule); after
    each round the whole network is fine-tuned ``epochs`` epochs with masked gradients. Method
    "balanced" balances the rows of ``num_pes`` PEs (row i on PE i mod num_pes; default: the
    spec's default PE count); "gradient" uses
    the training loss's gradient before each round. ``last_layer_density`` prunes the output
    layer to another density (None: ``density``), as Deep Compression kept AlexNet's fc8 denser.
    """
    if method not in METHODS:
        raise DigitsError(f"method = {method!r} is not a pruning method; use one of "
                          f"{', '.join(METHODS)}")
    num_pes = DEFAULT_SPEC.num_pes if num_pes is None else num_pes
    pruned = model.copy()
    masks: list[np.ndarray | None] = [None] * pruned.num_layers
    for layer in range(pruned.num_layers):
        callback = fine_tune_callback(pruned, data, layer, masks, epochs=epochs, lr=lr,
                                      seed=seed)
        gradients = gradient_callback(pruned, data, layer) if method == "gradient" else None
        target = density if last_layer_density is None or layer < pruned.num_layers - 1 \
            else last_layer_density
        if target >= 1.0:  # kept dense: nothing to prune, nothing to fine-tune for it
            continue
        weights, mask = iterative_prune(pruned.weights[layer], target, steps, callback,
                                        method, seed=seed + layer, gradients=gradients,
                                        num_pes=num_pes)
        pruned.weights[layer] = weights
        masks[layer] = mask
    return PrunedModel(pruned, [np.ones(w.shape, dtype=bool) if m is None else m
                                for w, m in zip(pruned.weights, masks)], method, float(density))


def quantize_model(model: MLP, bits: int | None = None, *,
                   seed: int = 0) -> list[QuantizedLayer]:
    """Weight sharing per layer: ``2**bits``-entry k-means codebooks, bias with the layer's
    (default: the spec's default weight index bits)."""
    bits = DEFAULT_SPEC.weight_index_bits if bits is None else bits
    return [quantize_weights(w, bits, seed=seed, bias=b)
            for w, b in zip(model.weights, model.biases)]


def network_layers(quantized: Sequence[QuantizedLayer]) -> list[QuantizedLayer]:
    """The layers as EIE runs them (ReLU after each; the last one is read before ReLU)."""
    return [QuantizedLayer.from_quantized(q) for q in quantized]


def accuracy(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray | None], x: np.ndarray,
             y: np.ndarray) -> float:
    """Float64 accuracy of the ReLU MLP with these (out, in) weights and biases (None: none)."""
    logits = forward(MLP(list(weights), list(biases)), x)[-1]
    return float(np.mean(np.argmax(logits, axis=1) == y))


def quantized_predictions(quantized: Sequence[QuantizedLayer], x: np.ndarray) -> np.ndarray:
    """Classes predicted in float64 with the codebook values (the chip's weights, unrounded)."""
    weights = [q.weights().astype(np.float64) for q in quantized]
    biases = [None if q.bias() is None else q.bias().astype(np.float64) for q in quantized]
    return np.argmax(forward(MLP(weights, biases), x)[-1], axis=1)


def quantized_accuracy(quantized: Sequence[QuantizedLayer], x: np.ndarray,
                       y: np.ndarray) -> float:
    """Accuracy in float64 with the codebook values (what the chip computes, unrounded)."""
    return float(np.mean(quantized_predictions(quantized, x) == y))


# --- the chip --------------------------------------------------------------------------------

@dataclass(frozen=True)
class HardwareEvaluation:
    """Every image of a set through the simulated chip."""

    accuracy: float
    predictions: np.ndarray = field(repr=False)
    cycles: np.ndarray = field(repr=False)  # per image
    layer_cycles: np.ndarray = field(repr=False)  # (images, layers)
    layer_busy: np.ndarray = field(repr=False)  # (images, layers): busy PE-cycles
    layer_broadcasts: np.ndarray = field(repr=False)  # (images, layers), bias included
    macs: np.ndarray = field(repr=False)  # per image
    energy_j: np.ndarray | None = field(repr=False)  # per image, or None
    num_pes: int = 0
    clock_hz: float = 0.0

    @property
    def cycles_per_image(self) -> float:
        return float(self.cycles.mean())

    @property
    def time_s_per_image(self) -> float:
        return self.cycles_per_image / self.clock_hz

    @property
    def load_efficiency(self) -> float:
        """Busy PE-cycles over all PE-cycles, over every layer of every image."""
        return float(self.layer_busy.sum()) / (self.num_pes * float(self.cycles.sum()))

    @property
    def layer_load_efficiency(self) -> np.ndarray:
        return self.layer_busy.sum(axis=0) / (self.num_pes * self.layer_cycles.sum(axis=0))

    @property
    def energy_j_per_image(self) -> float | None:
        return None if self.energy_j is None else float(self.energy_j.mean())


def evaluate_hardware(network: EncodedNetwork, x: np.ndarray, y: np.ndarray, *,
                      engine: str = "fast", energy: bool = True) -> HardwareEvaluation:
    """Run every row of ``x`` through the chip (``network`` encoded for its spec)."""
    spec = network.spec
    table = None
    if energy:
        try:
            from eiesim.energy import default_energy_table
        except ImportError:
            energy = False
        else:
            table = default_energy_table(spec)
    n, layers = x.shape[0], len(network.layers)
    predictions = np.zeros(n, dtype=np.int64)
    layer_cycles = np.zeros((n, layers), dtype=np.int64)
    layer_busy = np.zeros((n, layers), dtype=np.int64)
    layer_broadcasts = np.zeros((n, layers), dtype=np.int64)
    macs = np.zeros(n, dtype=np.int64)
    energy_j = np.zeros(n) if energy else None
    for i in range(n):
        result = simulate_network(network, x[i], engine=engine, energy=energy,
                                  energy_table=table)
        predictions[i] = result.predicted_class
        layer_cycles[i] = [r.cycles for r in result.layers]
        layer_busy[i] = [int(r.busy_cycles.sum()) for r in result.layers]
        layer_broadcasts[i] = [r.broadcasts for r in result.layers]
        macs[i] = result.macs
        if energy_j is not None:
            energy_j[i] = result.energy_j if result.energy_j is not None else math.nan
    if energy_j is not None and np.isnan(energy_j).all():
        energy_j = None
    return HardwareEvaluation(float(np.mean(predictions == y)), predictions,
                              layer_cycles.sum(axis=1), layer_cycles, layer_busy,
                              layer_broadcasts, macs, energy_j, spec.num_pes, spec.clock_hz)


# --- the study -------------------------------------------------------------------------------

def study(methods: Iterable[str] = METHODS, densities: Iterable[float] = (0.5, 0.25, 0.1), *,
          num_pes: int = 8, bits: int = 4, steps: int = 3, epochs: int = 2,
          spec: HardwareSpec | None = None, data: DigitsData | None = None,
          model: MLP | None = None, n_test: int | None = None, engine: str = "fast",
          last_layer_density: float | None = None, seed: int = 0,
          progress: Callable[[str], Any] | None = None) -> Any:
    """Accuracy, cycles, load efficiency and energy for every (method, density): a DataFrame.

    ``model`` defaults to :func:`train` on ``data`` (default :func:`load_data`); ``spec``
    defaults to ``HardwareSpec(num_pes=num_pes)`` (fixed16, queue depth 8), and method
    "balanced" balances for its PEs. ``n_test`` limits the test images simulated (all of them
    by default; the float accuracies always use all). ``last_layer_density`` prunes the
    10-class output layer to another density (None: the same; 1.0 keeps it dense, as a method
    pruning whole rows would otherwise delete classes). Columns:

    ``method, density`` (target), ``last_layer_density``, ``density_achieved`` (non-zero
    weights / all weights), ``num_pes``, ``acc_dense`` (the unpruned float model),
    ``acc_pruned`` (float64, pruned and fine-tuned), ``acc_quantized`` (float64, 4-bit
    codebooks), ``acc_hardware`` (the chip, fixed16),
    ``hw_agrees`` (share of images where the chip and the quantized float model predict the
    same class), ``cycles_per_image``, ``time_us_per_image``, ``load_efficiency`` (busy / all
    PE-cycles over all layers), ``broadcasts_per_image`` (non-zero activations broadcast, bias
    included, over all layers), ``macs_per_image``, ``load_efficiency_l0..`` (per layer),
    ``energy_nj_per_image``
    (NaN without :mod:`eiesim.energy`), ``quant_rel_error`` (mean over layers of
    ||W - Q(W)|| / ||W||), ``seconds`` (wall time of the row).
    """
    import pandas as pd

    methods, densities = list(methods), [float(d) for d in densities]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise DigitsError(f"methods {unknown or methods!r}: give pruning methods among "
                          f"{', '.join(METHODS)}")
    if not densities:
        raise DigitsError("densities is empty; give e.g. densities=[0.5, 0.25, 0.1]")
    if n_test is not None:
        _check_positive_int(n_test, "n_test")
    spec = HardwareSpec(num_pes=num_pes) if spec is None else spec
    data = load_data(seed=seed) if data is None else data
    model = train(data, seed=seed) if model is None else model
    acc_dense = float(np.mean(model.predict(data.x_test) == data.y_test))
    x_hw, y_hw = data.x_test[:n_test], data.y_test[:n_test]

    rows = []
    for method in methods:
        for density in densities:
            start = time.perf_counter()
            pruned = prune_model(model, data, method, density, num_pes=spec.num_pes,
                                 steps=steps, epochs=epochs, seed=seed,
                                 last_layer_density=last_layer_density)
            quantized = quantize_model(pruned.model, bits, seed=seed)
            network = encode_network(network_layers(quantized), spec)  # once per (m, d)
            hardware = evaluate_hardware(network, x_hw, y_hw, engine=engine)
            float_predictions = quantized_predictions(quantized, x_hw)
            row = {
                "method": method, "density": density,
                "last_layer_density": density if last_layer_density is None
                else float(last_layer_density),
                "density_achieved": pruned.density_achieved, "num_pes": spec.num_pes,
                "acc_dense": acc_dense,
                "acc_pruned": float(np.mean(pruned.model.predict(data.x_test) == data.y_test)),
                "acc_quantized": quantized_accuracy(quantized, data.x_test, data.y_test),
                "acc_hardware": hardware.accuracy,
                "hw_agrees": float(np.mean(hardware.predictions == float_predictions)),
                "cycles_per_image": hardware.cycles_per_image,
                "time_us_per_image": hardware.time_s_per_image * 1e6,
                "load_efficiency": hardware.load_efficiency,
            }
            row["broadcasts_per_image"] = float(hardware.layer_broadcasts.sum(axis=1).mean())
            row["macs_per_image"] = float(hardware.macs.mean())
            for k, value in enumerate(hardware.layer_load_efficiency):
                row[f"load_efficiency_l{k}"] = float(value)
            per_image = hardware.energy_j_per_image
            row["energy_nj_per_image"] = math.nan if per_image is None else per_image * 1e9
            row["quant_rel_error"] = float(np.mean([q.relative_error for q in quantized]))
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
            if progress is not None:
                progress(f"{method} {density:g}: hardware accuracy {hardware.accuracy:.3f}, "
                         f"{hardware.cycles_per_image:.0f} cycles, load efficiency "
                         f"{hardware.load_efficiency:.1%}")
    return pd.DataFrame(rows)


def _check_positive_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DigitsError(f"{name} = {value!r} must be a whole number >= 1")
