"""What every pruning criterion shares: its settings, its result, and the rule that lands on a
target density.

Target density: layer k keeps ``round(densities[k] * size)`` positions (halves up, at least one;
the rounding of :mod:`eiesim.compress.prune`). A criterion ranks the positions by its own score
and keeps the highest; on ties the lower row-major position wins. A layer whose density is 1 is
kept whole and left out of every penalty. Criteria that prune while training (the regularisers)
may reach fewer positions than the target; they report what they reached (docs/pruning.md).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eiesim.compress.prune import _count, _top_k, mask_densities
from eiesim.errors import EiesimError
from eiesim.search.model import Dataset
from eiesim.search.train import MLP


class CriterionError(EiesimError):
    """A bad argument to a pruning criterion (density, strength, missing data, settings)."""


@dataclass(frozen=True)
class CriterionSettings:
    """The knobs of the criteria; each criterion reads the ones its docstring names."""

    epochs: int = 10
    """Training epochs of the criterion's own phase: regularised training, the gradual
    schedule, SNIP's training from initialisation, and each round of the lottery ticket."""
    lr: float = 2e-3
    """Adam's learning rate for the weights in that phase."""
    batch_size: int = 32
    strength: float | None = None
    """Regulariser strength (l1, group_lasso, hoyer, l0, variational_dropout), >= 0; None
    takes the criterion's default (docs/pruning.md)."""
    gate_lr: float = 5e-2
    """Adam's learning rate of L0's gate parameters log(alpha) and of variational dropout's
    log(sigma^2): they travel several units, the weights hundredths."""
    damping: float = 1e-2
    """OBS: H + damping * mean(diag H) * I (keeps the inverse finite where inputs are
    correlated or constant); 0 is allowed when H is invertible."""
    obs_rounds: int = 8
    """OBS: removals per layer happen in this many rounds, each taking the lowest saliencies
    of the round with their joint update; one weight per round is textbook OBS."""
    sample_size: int = 512
    """Training rows used for OBD's Hessian, OBS's H = X X^T and SNIP's batch."""
    rewind_iteration: int = 20
    """Lottery ticket: Adam step k whose weights the kept weights are reset to (0: the
    initialisation, as in Frankle and Carbin 2019; > 0: rewinding, Frankle et al. 2020)."""
    lottery_rounds: int = 3
    """Lottery ticket: rounds of iterative magnitude pruning to reach the target."""

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "obs_rounds", "sample_size", "lottery_rounds"):
            _check_int(getattr(self, name), name, 1)
        _check_int(self.rewind_iteration, "rewind_iteration", 0)
        for name in ("lr", "gate_lr"):
            value = getattr(self, name)
            if not _is_real(value) or not 0 < value < math.inf:
                raise CriterionError(f"{name} = {value!r} must be a positive learning rate, "
                                     f"e.g. 2e-3")
        if self.strength is not None:
            check_strength(self.strength)
        if not _is_real(self.damping) or not 0 <= self.damping < math.inf:
            raise CriterionError(f"damping = {self.damping!r} must be >= 0 (a share of H's "
                                 f"mean diagonal), e.g. 1e-2")


@dataclass(frozen=True, eq=False)
class CriterionResult:
    """Masks chosen by a criterion, and the weights to fine-tune from (0 outside the masks)."""

    method: str
    masks: tuple[np.ndarray, ...]
    model: MLP = field(repr=False)
    """The criterion's weights with every pruned weight exactly 0: the trained model masked
    (one-shot criteria), the regularised or schedule-trained model, or the rewound ticket
    trained again (lottery)."""
    target_density: tuple[float, ...]
    penalty_density: tuple[float, ...] | None = None
    """Regularisers: each layer's density of exact non-zeros the penalty alone reached, before
    the final cut to the target (None for the other criteria)."""
    details: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def layer_density(self) -> tuple[float, ...]:
        """Reached density per layer (kept positions over positions)."""
        return mask_densities(self.masks)[0]

    @property
    def density(self) -> float:
        """Reached density of the whole network (biases not counted)."""
        return mask_densities(self.masks)[1]


def check_densities(densities: Sequence[float] | float, model: MLP) -> tuple[float, ...]:
    """One density in (0, 1] per layer (a single number applies to every layer)."""
    if _is_real(densities):
        densities = [densities] * model.num_layers  # type: ignore[list-item]
    values = tuple(densities)  # type: ignore[arg-type]
    if len(values) != model.num_layers:
        raise CriterionError(f"{len(values)} densities for {model.num_layers} layers; give "
                             f"one density per layer, or one number for all")
    for k, d in enumerate(values):
        if not _is_real(d) or not 0.0 < d <= 1.0:
            raise CriterionError(f"density {d!r} of layer {k} is outside (0, 1]; give the "
                                 f"fraction of weights kept, e.g. 0.1")
    return tuple(float(d) for d in values)


def check_strength(strength: object) -> float:
    """A regulariser strength as a float, or a CriterionError if it is below 0 or not finite."""
    if not _is_real(strength) or not 0 <= strength < math.inf:  # type: ignore[operator]
        raise CriterionError(f"strength = {strength!r} is below 0 or not finite; a "
                             f"regulariser strength must be >= 0, e.g. 1e-3")
    return float(strength)  # type: ignore[arg-type]


def require_data(method: str, data: Dataset | None) -> Dataset:
    """The training data a criterion needs, or a CriterionError naming the method."""
    if data is None:
        raise CriterionError(f"method {method!r} needs training data (data=Dataset(...), or "
                             f"--data on the command line); give the data the model was "
                             f"trained on")
    if not isinstance(data, Dataset):
        raise CriterionError(f"data is a {type(data).__name__}; give an "
                             f"eiesim.search.model.Dataset")
    return data


def keep_count(density: float, size: int) -> int:
    """``round(density * size)``, halves up, at least 1."""
    return _count(density, size)


def keep_top(scores: np.ndarray, density: float) -> np.ndarray:
    """Bool mask of the ``keep_count(density, size)`` highest scores (lower index on ties)."""
    flat = np.asarray(scores, dtype=np.float64).ravel()
    return _top_k(flat, keep_count(density, flat.size)).reshape(np.shape(scores))


def cut_to_target(scores: np.ndarray, allowed: np.ndarray, density: float) -> np.ndarray:
    """``allowed`` if it keeps no more than the target; else the target count of the allowed
    positions with the highest scores (a regulariser's final cut)."""
    count = keep_count(density, allowed.size)
    if int(allowed.sum()) <= count:
        return allowed.copy()
    ranked = np.where(allowed, np.asarray(scores, dtype=np.float64), -np.inf).ravel()
    return _top_k(ranked, count).reshape(allowed.shape)


def sample_rows(data: Dataset, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded sample of ``count`` training rows (all of them if fewer)."""
    n = data.train_inputs.shape[0]
    if count >= n:
        return data.train_inputs, data.train_labels
    rows = np.sort(np.random.default_rng(seed).choice(n, size=count, replace=False))
    return data.train_inputs[rows], data.train_labels[rows]


def finish(method: str, model: MLP, masks: Sequence[np.ndarray], densities: Sequence[float],
           **extra: Any) -> CriterionResult:
    """The result: ``model`` masked (pruned weights exactly 0)."""
    masks = tuple(np.asarray(m, dtype=bool) for m in masks)
    return CriterionResult(method, masks, model.masked(masks), tuple(densities), **extra)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) \
        and math.isfinite(float(value))  # type: ignore[arg-type]


def _check_int(value: object, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise CriterionError(f"{name} = {value!r} must be a whole number >= {low}")
