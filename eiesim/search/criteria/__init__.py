"""Every pruning criterion of the compression literature, on one trainer, measured on EIE.

Each criterion takes a trained :class:`~eiesim.search.train.MLP`, one target density per layer
and (all of them) the training data, and returns a
:class:`~eiesim.search.criteria.base.CriterionResult`: one mask per layer and the weights to
fine-tune from, 0 outside the masks. docs/pruning.md gives each one's definition, the rule it
uses to hit the target density, and its reference.

======================  ============  =========================================================
method                  module        what decides which weights stay
======================  ============  =========================================================
``obd``                 saliency      ½ H_kk w_k², Gauss-Newton diagonal (LeCun et al. 1990)
``obs``                 saliency      layer-wise OBS on the layer's inputs, with the update
``snip``                saliency      |g * w| at a fresh initialisation, then trained
``l1``                  regularized   proximal L1 training, exact zeros
``group_lasso``         regularized   proximal group lasso on rows and columns
``hoyer``               regularized   DeepHoyer's (Σ|w|)²/Σw² penalty
``l0``                  regularized   hard-concrete L0 gates (Louizos et al. 2018)
``variational_dropout`` regularized   sparse variational dropout, log α > 3 pruned
``gradual``             schedules     cubic magnitude schedule (Zhu and Gupta 2017)
``lottery``             schedules     lottery ticket with rewinding (Frankle et al.)
``lottery_reinit``      schedules     its random re-initialisation control
======================  ============  =========================================================

>>> import numpy as np
>>> from eiesim.search.model import Dataset
>>> from eiesim.search.train import init_mlp
>>> rng = np.random.default_rng(0)
>>> x = rng.random((60, 4)); y = (x[:, 0] > x[:, 1]).astype(np.int64)
>>> data = Dataset(x, y, x[:8], y[:8])
>>> result = prune_network(init_mlp([4, 8, 2]), 0.5, "obd", data=data)
>>> result.layer_density
(0.5, 0.5)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from eiesim.search.criteria import regularized, saliency, schedules
from eiesim.search.criteria.base import (
    CriterionError,
    CriterionResult,
    CriterionSettings,
    check_densities,
)
from eiesim.search.model import Dataset
from eiesim.search.train import MLP, TrainError, _check_seed

__all__ = ["CRITERIA", "Criterion", "CriterionError", "CriterionResult", "CriterionSettings",
           "prune_network"]


@dataclass(frozen=True)
class Criterion:
    """A registered criterion: its function and what it needs."""

    function: Callable[..., CriterionResult]
    needs_data: bool
    """Needs the training data (every criterion here: a loss, inputs or training)."""
    trains: bool
    """Trains the network itself before the common fine-tuning (the regularisers, the
    schedules, SNIP); False: one shot on the trained weights (OBD, OBS)."""
    summary: str


CRITERIA: dict[str, Criterion] = {
    "obd": Criterion(saliency.obd, True, False, "Optimal Brain Damage, Gauss-Newton diagonal"),
    "obs": Criterion(saliency.obs, True, False, "layer-wise Optimal Brain Surgeon"),
    "snip": Criterion(saliency.snip, True, True, "SNIP at initialisation, then trained"),
    "l1": Criterion(regularized.l1, True, True, "proximal L1"),
    "group_lasso": Criterion(regularized.group_lasso, True, True,
                             "proximal group lasso on rows and columns"),
    "hoyer": Criterion(regularized.hoyer, True, True, "DeepHoyer regulariser"),
    "l0": Criterion(regularized.l0, True, True, "hard-concrete L0 gates"),
    "variational_dropout": Criterion(regularized.variational_dropout, True, True,
                                     "sparse variational dropout"),
    "gradual": Criterion(schedules.gradual, True, True, "gradual magnitude, cubic schedule"),
    "lottery": Criterion(schedules.lottery, True, True, "lottery ticket with rewinding"),
    "lottery_reinit": Criterion(schedules.lottery_reinit, True, True,
                                "lottery masks, random re-initialisation"),
}
"""Every criterion by method name, the same in Python and on the command line."""


def prune_network(model: MLP, densities: Sequence[float] | float, method: str, *,
                  data: Dataset | None = None, settings: CriterionSettings | None = None,
                  seed: int = 0) -> CriterionResult:
    """Prune ``model`` to ``densities`` (one per layer, or one for all) with ``method``."""
    if method not in CRITERIA:
        raise CriterionError(f"method = {method!r} is not a pruning criterion; use one of "
                             f"{', '.join(CRITERIA)}")
    if not isinstance(model, MLP):
        raise CriterionError(f"model is a {type(model).__name__}; give an "
                             f"eiesim.search.train.MLP (eiesim.search.model.load_model)")
    checked = check_densities(densities, model)
    try:
        _check_seed(seed)
    except TrainError as error:
        raise CriterionError(str(error)) from None
    settings = CriterionSettings() if settings is None else settings
    if not isinstance(settings, CriterionSettings):
        raise CriterionError("settings must be an eiesim.search.criteria.CriterionSettings")
    criterion = CRITERIA[method]
    if criterion.needs_data and data is None:
        raise CriterionError(f"method {method!r} needs training data (data=Dataset(...), or "
                             f"--data on the command line); give the data the model was "
                             f"trained on")
    if data is not None:
        data.check_model(model)
    return criterion.function(model, checked, data=data, settings=settings, seed=int(seed))
