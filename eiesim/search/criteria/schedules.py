"""Pruning schedules: gradual magnitude pruning and the lottery ticket (with its control).

* ``gradual`` (Zhu and Gupta, "To prune, or not to prune", 2017): starting from the trained
  model, ``settings.epochs`` epochs of training; before epoch t (t = 1 .. E) each layer is
  pruned by magnitude, among the weights still kept, to the cubic schedule
  ``d_t = d_f + (1 - d_f) (1 - t / E)**3``, so the last epoch trains at the target d_f.
* ``lottery`` (Frankle and Carbin, "The Lottery Ticket Hypothesis", ICLR 2019; rewinding:
  Frankle, Dziugaite, Roy, Carbin, "Linear Mode Connectivity and the Lottery Ticket
  Hypothesis", ICML 2020): from a fresh initialisation (seed) train ``settings.epochs``
  epochs recording the weights after Adam step k = ``settings.rewind_iteration`` (k = 0: the
  initialisation); then ``settings.lottery_rounds`` rounds of iterative magnitude pruning: prune
  each layer by magnitude among the kept weights to ``d**(r/R)``, reset the kept weights (and the
  biases) to their recorded values at step k, train ``settings.epochs`` epochs with the mask
  fixed. The ticket is the last round's trained network.
* ``lottery_reinit``: the random re-initialisation control: the lottery's final masks, weights
  drawn afresh (another seed) and trained ``settings.epochs`` epochs with the mask fixed.
"""

from __future__ import annotations

import numpy as np

from eiesim.search.criteria.base import (
    CriterionError,
    CriterionResult,
    CriterionSettings,
    finish,
    keep_top,
    require_data,
)
from eiesim.search.criteria.saliency import fresh_initialisation
from eiesim.search.model import Dataset
from eiesim.search.train import MLP, train

REINIT_SEED_OFFSET = 7919
"""lottery_reinit draws its weights with seed + this (a seed the lottery never uses)."""


def cubic_schedule(final_density: float, step: int, steps: int) -> float:
    """Zhu and Gupta's density after pruning step ``step`` of ``steps`` (1-based)."""
    return final_density + (1.0 - final_density) * (1.0 - step / steps) ** 3


def _prune_among(model: MLP, masks: list[np.ndarray], densities: list[float]
                 ) -> list[np.ndarray]:
    """Magnitude pruning of each layer to ``densities`` among the positions still kept."""
    new = []
    for w, m, d in zip(model.weights, masks, densities):
        if d >= 1.0:
            new.append(m.copy())
            continue
        scores = np.where(m, np.abs(w), -1.0)  # a pruned position never comes back
        new.append(keep_top(scores, d) & m)
    return new


def gradual(model: MLP, densities: tuple[float, ...], *, data: Dataset | None,
            settings: CriterionSettings, seed: int) -> CriterionResult:
    """Gradual magnitude pruning with the cubic schedule (module doc)."""
    data = require_data("gradual", data)
    masks = [np.ones(w.shape, dtype=bool) for w in model.weights]
    current = model
    for step in range(1, settings.epochs + 1):
        masks = _prune_among(current, masks, [cubic_schedule(d, step, settings.epochs)
                                              for d in densities])
        current = train(current, data.train_inputs, data.train_labels, epochs=1,
                        lr=settings.lr, batch_size=settings.batch_size, seed=seed + step,
                        masks=masks)
    return finish("gradual", current, masks, densities)


def record_weights(step: int) -> tuple[list[MLP], object]:
    """A recorder for :func:`eiesim.search.train.train`'s ``after_step`` hook: the list gets a
    copy of the model after Adam step ``step``."""
    recorded: list[MLP] = []

    def after_step(model: MLP, count: int) -> None:
        if count == step:
            recorded.append(model.copy())

    return recorded, after_step


def rewind(recorded: MLP, masks: list[np.ndarray] | tuple[np.ndarray, ...]) -> MLP:
    """The kept weights reset to the recorded ones, the pruned ones exactly 0, the biases
    recorded: bit for bit the recorded values."""
    return recorded.masked(masks)


def lottery_ticket(model: MLP, densities: tuple[float, ...], data: Dataset,
                   settings: CriterionSettings, seed: int) -> tuple[MLP, list[np.ndarray], MLP]:
    """(the trained ticket, its masks, the recorded rewind point)."""
    start = fresh_initialisation(model, seed)
    if settings.rewind_iteration == 0:
        recorded, hook = [start.copy()], None
    else:
        recorded, hook = record_weights(settings.rewind_iteration)
    current = train(start, data.train_inputs, data.train_labels, epochs=settings.epochs,
                    lr=settings.lr, batch_size=settings.batch_size, seed=seed,
                    after_step=hook)  # type: ignore[arg-type]
    if not recorded:
        steps = settings.epochs * -(-data.train_inputs.shape[0] // settings.batch_size)
        raise_short(settings.rewind_iteration, steps)
    masks = [np.ones(w.shape, dtype=bool) for w in model.weights]
    rounds = settings.lottery_rounds
    for r in range(1, rounds + 1):
        masks = _prune_among(current, masks, [d ** (r / rounds) for d in densities])
        current = train(rewind(recorded[0], masks), data.train_inputs, data.train_labels,
                        epochs=settings.epochs, lr=settings.lr,
                        batch_size=settings.batch_size, seed=seed + r, masks=masks)
    return current, masks, recorded[0]


def raise_short(rewind_iteration: int, steps: int) -> None:
    """Refuse a rewind point beyond the first training's Adam steps."""
    raise CriterionError(f"rewind_iteration = {rewind_iteration} is beyond the {steps} Adam "
                         f"steps of the first training; use at most {steps} (0 rewinds to the "
                         f"initialisation)")


def lottery(model: MLP, densities: tuple[float, ...], *, data: Dataset | None,
            settings: CriterionSettings, seed: int) -> CriterionResult:
    """The winning ticket with rewinding (module doc)."""
    data = require_data("lottery", data)
    ticket, masks, recorded = lottery_ticket(model, densities, data, settings, seed)
    return finish("lottery", ticket, masks, densities, details={"rewind_point": recorded})


def lottery_reinit(model: MLP, densities: tuple[float, ...], *, data: Dataset | None,
                   settings: CriterionSettings, seed: int) -> CriterionResult:
    """The lottery's masks from a fresh random initialisation (module doc)."""
    data = require_data("lottery_reinit", data)
    _, masks, _ = lottery_ticket(model, densities, data, settings, seed)
    return reinit_control(model, masks, densities, data, settings, seed)


def reinit_control(model: MLP, masks: list[np.ndarray] | tuple[np.ndarray, ...],
                   densities: tuple[float, ...], data: Dataset, settings: CriterionSettings,
                   seed: int) -> CriterionResult:
    """:func:`lottery_reinit` from the lottery's masks already found (``lottery``'s result
    with the same arguments has them): a study running both need not search them twice."""
    start = fresh_initialisation(model, seed + REINIT_SEED_OFFSET)
    trained = train(start, data.train_inputs, data.train_labels, epochs=settings.epochs,
                    lr=settings.lr, batch_size=settings.batch_size, seed=seed, masks=list(masks))
    return finish("lottery_reinit", trained, masks, densities)
