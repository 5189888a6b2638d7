"""What every worker needs (:class:`SearchContext`) and the units of work the searches send.

Each task function takes ``(context, task)`` and is deterministic given them, so a search
gives the same front on one process, many processes or a Dask cluster.

Data use: every decision (the strategies' signal, early stopping of fine-tuning, the accuracy
bound and the choice) is taken on a **validation** split the model was not trained on: the data
file's ``val_inputs`` / ``val_labels``, or, only when asked (``validation_fraction``), a seeded
share carved from the training data, which is honest only if the model never saw those rows.
Fine-tuning uses the training data minus any carved rows; the test set only reports.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eiesim.checks import check_seed
from eiesim.compress.prune import PruningWarning
from eiesim.errors import EiesimError
from eiesim.network import simulate_network
from eiesim.search.compression import (
    PRUNING_METHODS,
    CompressedNetwork,
    chip_accuracy,
    compress_network,
    energy_table_for,
    evaluate_network,
    global_masks,
    prune_masks,
)
from eiesim.search.model import Dataset
from eiesim.search.train import MLP, fine_tune
from eiesim.spec import HardwareSpec

OBJECTIVES = ("cycles", "energy")
STRATEGIES = ("uniform", "global", "deep_compression", "threshold", "allocation", "netadapt",
              "amc")


class SearchError(EiesimError):
    """A bad search setting or input, or a search that found nothing meeting the bound."""


class NoNetworkMeetsBoundError(SearchError):
    """No compressed network meets the accuracy bound on validation; ``result`` holds the
    table of every evaluated network (its ``network`` is None), so the report can still be
    written. The dense network is never returned in its place."""

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result


class SearchWarning(UserWarning):
    """Something about the search's data or outcome the user must know (a validation split
    carved from the training data, a saturated validation split, a choice at the grid's
    edge)."""


@dataclass(frozen=True)
class SearchSettings:
    """Every knob of a search; the defaults are what ``eiesim search`` runs."""

    objective: str = "cycles"
    """"cycles" or "energy" (of the first test input; eiesim.search.compression)."""
    max_accuracy_drop: float = 0.01
    """Absolute validation-accuracy drop on the chip allowed against the uncompressed float
    model's validation accuracy."""
    margin: float = 0.0
    """Standard errors by which the bound must hold: a network meets it when its validation
    accuracy minus ``margin`` times its standard error sqrt(p (1 - p) / n) is at least the
    bound (0: the plain bound; 1 or 2 guard against choosing on validation noise)."""
    methods: tuple[str, ...] = ("magnitude", "balanced")
    """Per-layer pruning methods (eiesim.search.compression.PRUNING_METHODS: those of
    eiesim.compress.prune and the criteria of eiesim.search.criteria): every per-layer strategy
    runs once with each. "balanced" (load-balance-aware, ESE) gives every PE the same work in
    every column, which plain magnitude pruning does not; which wins on cycles depends on the
    layer, so the search tries both by default. Global pruning is always by magnitude."""
    bits: int | None = None
    """Weight-sharing bits per layer (codebook of 2**bits entries, entry 0 = pruned); None:
    the spec's ``weight_index_bits``, the widest codebook the chip indexes."""
    seed: int = 0
    strategies: tuple[str, ...] = STRATEGIES
    densities: tuple[float, ...] = (0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7)
    """Density grid of the sensitivity curves and of the uniform and global baselines."""
    short_epochs: int = 1
    """Fine-tuning epochs inside the searches (sensitivity, NetAdapt candidates)."""
    long_epochs: int = 4
    """Fine-tuning epochs per pruning step of every network that becomes a row of the
    results."""
    prune_steps: int = 3
    """Pruning steps (geometric schedule, fine-tuning after each) of the rows' networks.
    Every compressed row gets the same budget, ``prune_steps * long_epochs`` epochs counted
    from the trained model (``fine_tune_budget``, the CSV's ``fine_tune_epochs``): NetAdapt's
    iterates spent part of it in the search's short fine-tunes and get the rest."""
    fine_tune_lr: float = 1e-3
    """Adam's learning rate when fine-tuning. Early stopping on the validation loss (below)
    is what keeps fine-tuning from hurting: without it, a few epochs at 1e-3 can lower a dense
    model's validation accuracy; with it, 12 epochs keep or improve the dense shipped models'
    (tests/test_search_data.py). A lower rate does not recover pruned networks: LeNet-300-100
    pruned to density 0.1 reaches 73.1 % validation accuracy in 12 epochs at 1e-4, 90.3 % at
    3e-4 and 96.1 % at 1e-3 (dense: 96.9 %)."""
    fine_tune_batch: int = 32
    """Mini-batch size when fine-tuning."""
    patience: int = 2
    """Early stopping: fine-tuning stops after this many epochs without a lower validation
    loss and keeps the weights of the lowest one (the starting weights included)."""
    validation_fraction: float | None = None
    """None: the data's own validation split (an error without one). A fraction in (0, 0.5):
    carve that share of the training rows as validation (seeded), which is honest only when
    the model was not trained on them (a SearchWarning says so)."""
    thresholds: tuple[float, ...] = (0.005, 0.01, 0.02, 0.04)
    """Accuracy-drop thresholds T of the classic per-layer rule (Deep Compression)."""
    drop_budget_factors: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    """Summed predicted drops allowed by the allocation, as multiples of max_accuracy_drop."""
    netadapt_step: float = 0.06
    """Resource reduction per NetAdapt iteration, as a share of the dense network's cost."""
    netadapt_max_iterations: int = 16
    amc_budgets: tuple[float, ...] = (0.1, 0.25, 0.5)
    """AMC resource budgets: shares of the way from the cheapest predicted network (every
    layer at the grid's lowest density) to the dense one."""
    amc_population: int = 8
    amc_generations: int = 4
    timing_inputs: int = 8
    """Test inputs averaged into ``cycles_mean`` (a check; the objective is the first one)."""
    energy_table: str | None = None
    """A TOML or YAML energy table applied to the default one (None: the default table), for
    every network's energy and so for ``objective="energy"``."""

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise SearchError(f"objective = {self.objective!r} is unknown; use one of "
                              f"{', '.join(OBJECTIVES)}")
        drop = self.max_accuracy_drop
        if isinstance(drop, bool) or not isinstance(drop, (int, float)) or not 0 <= drop < 1:
            raise SearchError(f"max_accuracy_drop = {drop!r} must be an absolute accuracy "
                              f"drop in [0, 1), e.g. 0.01 for one point")
        methods = (self.methods,) if isinstance(self.methods, str) else tuple(self.methods)
        unknown_methods = [m for m in methods if m not in PRUNING_METHODS]
        if unknown_methods or not methods:
            raise SearchError(f"methods {unknown_methods or list(methods)}: use pruning methods "
                              f"among {', '.join(PRUNING_METHODS)}")
        object.__setattr__(self, "methods", tuple(dict.fromkeys(methods)))
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown or not self.strategies:
            raise SearchError(f"strategies {unknown or list(self.strategies)} : choose among "
                              f"{', '.join(STRATEGIES)}")
        if not self.densities or not all(0 < d < 1 for d in self.densities):
            raise SearchError(f"densities = {self.densities} must be fractions in (0, 1)")
        checks = [("netadapt_step", (self.netadapt_step,), 0.0, 1.0, "e.g. 0.06"),
                  ("amc_budgets", self.amc_budgets, 0.0, 1.0, "shares in (0, 1]"),
                  ("thresholds", self.thresholds, -1e-12, 1.0, "accuracy drops in [0, 1]"),
                  ("drop_budget_factors", self.drop_budget_factors, 0.0, math.inf,
                   "positive multiples of max_accuracy_drop"),
                  ("fine_tune_lr", (self.fine_tune_lr,), 0.0, math.inf, "e.g. 1e-3"),
                  ("margin", (self.margin,), -1e-12, 10.0, "standard errors in [0, 10]")]
        for name, values, low, high, hint in checks:
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       and low < v <= high for v in values):
                raise SearchError(f"{name} = {getattr(self, name)!r} out of range; use {hint}")
        fraction = self.validation_fraction
        if fraction is not None and (isinstance(fraction, bool) or
                                     not isinstance(fraction, (int, float)) or
                                     not 0 < fraction < 0.5):
            raise SearchError(f"validation_fraction (--validation-from-train) = {fraction!r} "
                              f"must be None (the data's own validation split) or in (0, 0.5), "
                              f"e.g. 0.15")
        for name in ("short_epochs", "long_epochs", "prune_steps", "netadapt_max_iterations",
                     "amc_population", "amc_generations", "timing_inputs", "fine_tune_batch",
                     "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SearchError(f"{name} = {value!r} must be a whole number >= 1")
        if self.bits is not None and (isinstance(self.bits, bool) or
                                      not isinstance(self.bits, int) or not 1 <= self.bits <= 8):
            raise SearchError(f"bits = {self.bits!r} must be a whole number of weight-sharing "
                              f"bits in 1..8 (at most the spec's weight_index_bits)")
        check_seed(self.seed, error=SearchError)

    @property
    def fine_tune_budget(self) -> int:
        """Fine-tuning epochs every compressed row gets (``prune_steps * long_epochs``)."""
        return self.prune_steps * self.long_epochs

    @property
    def cost_key(self) -> str:
        """The results column minimised: "cycles" or "energy_j"."""
        return "cycles" if self.objective == "cycles" else "energy_j"


@dataclass(frozen=True, eq=False)
class SearchContext:
    """The read-only state every worker needs: sent once per worker."""

    model: MLP
    """The trained, uncompressed float model."""
    fit: Dataset
    """Fine-tuning data (training minus validation) and the test set."""
    val_inputs: np.ndarray
    val_labels: np.ndarray
    spec: HardwareSpec
    settings: SearchSettings

    def compress(self, masks: Sequence[np.ndarray], *, epochs: int, start: MLP | None = None,
                 method: str = "") -> CompressedNetwork:
        """Fine-tune ``epochs`` (at most: early stopping on the validation loss) from
        ``start`` (default the trained model) with ``masks`` fixed, then weight-share."""
        settings = self.settings
        model = self.model if start is None else start
        if epochs:
            model = fine_tune(model, self.fit.train_inputs, self.fit.train_labels, masks,
                              epochs=epochs, lr=settings.fine_tune_lr,
                              batch_size=settings.fine_tune_batch, seed=settings.seed,
                              validation=(self.val_inputs, self.val_labels),
                              patience=settings.patience)
        return compress_network(model, masks, self.fit, bits=settings.bits, method=method,
                                fine_tune_epochs=0, seed=settings.seed)

    def masks(self, densities: Sequence[float], method: str,
              start: MLP | None = None) -> list[np.ndarray]:
        # A search tries every method on every layer; that balanced pruning cannot balance a
        # layer with fewer rows than PEs is a finding the simulated cycles already show, not
        # something to warn about once per candidate.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PruningWarning)
            return prune_masks(self.model if start is None else start, densities,
                               method, num_pes=self.spec.num_pes,
                               seed=self.settings.seed, data=self.fit)

    def val_accuracy(self, network: CompressedNetwork) -> float:
        """Validation accuracy on the chip (the decisions of every strategy use it)."""
        return chip_accuracy(network.layers(), self.val_inputs, self.val_labels, self.spec)


def validation_split(data: Dataset, settings: SearchSettings
                     ) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """(fine-tuning data with the test set, validation inputs, validation labels): the data's
    own validation split, or with ``validation_fraction`` one carved from the training rows
    (with a SearchWarning); a SearchError when there is neither."""
    if settings.validation_fraction is not None:
        warnings.warn(f"the validation split is {settings.validation_fraction:g} of the training "
                      f"data ({data.source}): the search's decisions are honest only if the "
                      f"model was not trained on those rows; give the data file a val_inputs / "
                      f"val_labels split the model never saw", SearchWarning, stacklevel=3)
        return split_validation(data, settings.validation_fraction, settings.seed)
    if not data.has_validation:
        raise SearchError(f"{data.source} has no validation split: every decision of the "
                          f"search needs data the model was not trained on; add val_inputs "
                          f"and val_labels to the data file, or carve a share F of the "
                          f"training rows with --validation-from-train F "
                          f"(validation_fraction=F) if the model never saw them")
    fit = Dataset(data.train_inputs, data.train_labels, data.test_inputs, data.test_labels,
                  source=data.source)
    assert data.val_inputs is not None and data.val_labels is not None
    return fit, data.val_inputs, data.val_labels


def split_validation(data: Dataset, fraction: float, seed: int
                     ) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """(training minus validation with the test set, validation inputs, validation labels)."""
    n = data.train_inputs.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    count = max(1, int(round(fraction * n)))
    if count >= n:
        raise SearchError(f"{data.source}: train_inputs has {n} row{'s' if n != 1 else ''}; the "
                          f"search holds out {count} for validation (validation_fraction = "
                          f"{fraction}, at least 1 row) and fine-tunes on the rest, so it needs "
                          f"at least {count + 1} training rows: give more")
    val, rest = order[:count], np.sort(order[count:])
    fit = Dataset(data.train_inputs[rest], data.train_labels[rest], data.test_inputs,
                  data.test_labels, source=data.source)
    return fit, data.train_inputs[val], data.train_labels[val]


@dataclass(frozen=True, eq=False)
class Candidate:
    """A network to build and evaluate as a row of the results."""

    strategy: str
    label: str
    method: str
    """Pruning method (global pruning: "magnitude"; NetAdapt: the method its masks came from)."""
    densities: tuple[float, ...] | None = None
    """Per-layer densities pruned from the base model with ``method``, or None."""
    global_density: float | None = None
    """Overall density of global magnitude pruning, or None."""
    masks: tuple[np.ndarray, ...] | None = field(default=None, repr=False)
    """Given masks (NetAdapt's iterates): fine-tuned once, not pruned further."""
    start: MLP | None = field(default=None, repr=False)
    """Weights to start fine-tuning from (NetAdapt's iterate); None: the base model."""
    epochs_spent: int = 0
    """Fine-tuning epochs ``start`` already had (NetAdapt's short fine-tunes): deducted from
    the budget every row gets (SearchSettings.prune_steps)."""


def evaluate_candidate(context: SearchContext, candidate: Candidate
                       ) -> tuple[dict[str, Any], CompressedNetwork]:
    """Prune, fine-tune, quantize, evaluate: a results row and the network.

    Densities (per layer, or global) are reached in ``prune_steps`` geometric steps from the
    base model, each pruning the current weights (masks only shrink) and fine-tuning
    ``long_epochs`` (Han et al. 2015's iterative pruning); given masks are fine-tuned for what
    is left of the same budget after ``epochs_spent``, so every row had equal training."""
    settings = context.settings
    if candidate.masks is not None:
        remaining = max(0, settings.fine_tune_budget - candidate.epochs_spent)
        network = context.compress(list(candidate.masks), epochs=remaining,
                                   start=candidate.start, method=candidate.method)
    elif candidate.densities is not None or candidate.global_density is not None:
        model = context.model
        masks = [np.ones(w.shape, dtype=bool) for w in model.weights]
        for step in range(1, settings.prune_steps + 1):
            power = step / settings.prune_steps
            if candidate.densities is not None:
                new = context.masks([d ** power for d in candidate.densities], candidate.method,
                                    start=model)
            else:
                new = global_masks(model, candidate.global_density ** power)
            masks = [m & n for m, n in zip(masks, new)]
            network = context.compress(masks, epochs=settings.long_epochs, start=model,
                                       method=candidate.method)
            model = network.model
    else:
        raise SearchError(f"candidate {candidate.label!r} has no densities and no masks")
    evaluation = evaluate_network(network, context.fit, context.spec,
                                  timing_inputs=context.settings.timing_inputs,
                                  energy_table=context.settings.energy_table)
    row = {"strategy": candidate.strategy, "label": candidate.label,
           "method": candidate.method}
    row.update(evaluation.metrics())
    row["accuracy_val"] = context.val_accuracy(network)
    row["fine_tune_epochs"] = settings.fine_tune_budget
    return row, network


def sensitivity_point(context: SearchContext, task: tuple[str, int, float]) -> dict[str, Any]:
    """Layer ``k`` alone pruned to ``density`` with ``method``: validation accuracy on the chip
    without and with a short fine-tune, and the layer's and network's cycles and energy (first
    test input, without fine-tune: the mask alone decides the layer's storage)."""
    method, layer, density = task
    densities = [1.0] * context.model.num_layers
    densities[layer] = density
    masks = context.masks(densities, method)
    plain = context.compress(masks, epochs=0)
    tuned = context.compress(masks, epochs=context.settings.short_epochs)
    result = simulate_network(plain.layers(), context.fit.test_inputs[0], context.spec,
                              energy_table=energy_table_for(context.spec,
                                                            context.settings.energy_table))
    return {"method": method, "layer": layer, "density": float(density),
            "accuracy_val": context.val_accuracy(plain),
            "accuracy_val_tuned": context.val_accuracy(tuned),
            "layer_cycles": int(result.layers[layer].cycles),
            "layer_energy_j": float(result.layer_energy_j[layer]),
            "layer_padding_entries": int(result.layers[layer].issued_padding_entries),
            "layer_nonzero_weights": int(np.count_nonzero(plain.quantized[layer].codes)),
            "cycles": int(result.cycles), "energy_j": float(result.energy_j)}


def short_fine_tune(context: SearchContext,
                    task: tuple[MLP, tuple[np.ndarray, ...], tuple[float, ...], str]
                    ) -> tuple[float, MLP, tuple[np.ndarray, ...]]:
    """One NetAdapt proposal, whole in a worker: prune ``start`` to the per-layer densities
    with ``method``, keep only weights the current ``masks`` keep (a pruned weight never
    returns), fine-tune shortly; validation chip accuracy, the weights and the masks."""
    start, masks, densities, method = task
    new = context.masks(list(densities), method, start=start)
    combined = tuple(m & n for m, n in zip(masks, new))
    network = context.compress(list(combined), epochs=context.settings.short_epochs,
                               start=start)
    return context.val_accuracy(network), network.model, combined


def episode_accuracy(context: SearchContext, task: tuple[str, tuple[float, ...]]) -> float:
    """AMC's reward signal: validation chip accuracy of the pruned model, no fine-tune."""
    method, densities = task
    return context.val_accuracy(context.compress(context.masks(densities, method), epochs=0))
