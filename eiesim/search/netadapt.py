"""NetAdapt (Yang et al., ECCV 2018) with eiesim as the target platform (strategy 5b).

Each iteration lowers the resource budget by ``netadapt_step`` times the dense network's cost.
For every layer, the candidate prunes that layer alone just enough that the predicted network
cost (the lookup table built from eiesim's measurements, :class:`CostTable`) meets the new
budget: the highest density on a fine grid below the layer's current one that does. Each
candidate is pruned from the current weights (masks only shrink: a pruned weight never returns),
fine-tuned shortly, and scored by validation accuracy on the chip; the most accurate one becomes
the next iteration's network (ties: the lower predicted cost, then the lower layer). The loop
ends when no layer can meet the next budget, after ``netadapt_max_iterations``, or when the best
candidate has lost more than ``max(4 D, D + 0.03)`` validation accuracy (D the accuracy bound:
later iterates could only be worse). Every iterate then gets what is left of the fine-tuning
budget every row gets (its short fine-tunes count against it) and becomes a row of the results,
so the strategy contributes a whole trade-off curve, as in the paper, at equal training.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from eiesim.search.parallel import Evaluator
from eiesim.search.sensitivity import CostTable
from eiesim.search.tasks import Candidate, SearchContext, short_fine_tune

_GRID_POINTS = 80  # densities tried per layer, geometric from the table's minimum up to 1


def netadapt(context: SearchContext, evaluator: Evaluator, table: CostTable, method: str,
             reference_accuracy: float,
             progress: Callable[[int], None] | None = None) -> list[Candidate]:
    """The iterates of NetAdapt pruning with ``method`` (``table`` measured with it), as
    candidates for the long fine-tune (module doc)."""
    settings = context.settings
    grid = np.geomspace(table.min_density, 1.0, _GRID_POINTS)
    model = context.model
    layers = model.num_layers
    masks = tuple(np.ones(w.shape, dtype=bool) for w in model.weights)
    densities = [1.0] * layers
    budget = table.predict(densities)
    step = settings.netadapt_step * table.dense_cost
    stop_drop = max(4 * settings.max_accuracy_drop, settings.max_accuracy_drop + 0.03)
    iterates: list[Candidate] = []
    for iteration in range(1, settings.netadapt_max_iterations + 1):
        budget -= step
        proposals = []
        for layer in range(layers):
            density = _density_for_budget(table, densities, layer, budget, grid)
            if density is None:
                continue
            trial = list(densities)
            trial[layer] = density
            proposals.append(trial)
        if not proposals:
            break
        # Each proposal is pruned, fine-tuned and scored in a worker, all layers at once.
        scored = evaluator.map(short_fine_tune, [(model, masks, tuple(trial), method)
                                                 for trial in proposals], progress,
                               desc=f"netadapt ({method})")
        best = max(range(len(proposals)),
                   key=lambda i: (scored[i][0], -table.predict(proposals[i]), -i))
        accuracy, model, masks = scored[best]
        densities = proposals[best]
        label = f"iter {iteration}: " + ", ".join(f"{d:.3g}" for d in densities)
        iterates.append(Candidate("netadapt", label, method, masks=masks, start=model,
                                  epochs_spent=iteration * settings.short_epochs))
        if reference_accuracy - accuracy > stop_drop:
            break
    return iterates


def _density_for_budget(table: CostTable, densities: list[float], layer: int, budget: float,
                        grid: np.ndarray) -> float | None:
    """The highest grid density below the layer's current one whose predicted network cost
    is within ``budget``, or None."""
    others = table.predict(densities) - table.layer_cost(layer, densities[layer])
    for density in grid[::-1]:
        if density >= densities[layer] - 1e-12:
            continue
        if others + table.layer_cost(layer, float(density)) <= budget:
            return float(density)
    return None
