"""AMC-style per-layer density search (He et al., ECCV 2018; strategy 5c), with a lighter agent.

As in AMC, an agent walks the layers in order and picks each layer's density from a layer
embedding (index, input and output width, share of the weights, share of the dense network's
cost, the previous action); the reward is -error (validation accuracy on the chip of the
pruned network without fine-tuning, as AMC scores episodes); and the resource constraint is
enforced on the actions: layer k's density is capped so that the budget can still be met when
every later layer takes the smallest density, which makes every episode's predicted cost (the
:class:`CostTable` of eiesim's measurements) meet the budget.

The agent is lighter than AMC's DDPG: a linear policy (density = bound-clipped sigmoid of
weights . embedding) optimised by the cross-entropy method, ``amc_population`` policies per
generation over ``amc_generations`` generations per budget. Why: the networks here have a few
layers, so the action space has a few dimensions; DDPG's actor-critic with replay needs hundreds
of episodes just to fit its critic (AMC used 300-400 on ResNet), while the cross-entropy method
converges on a policy of ~7 parameters in a few dozen episodes that run in parallel, and it is
deterministic under a seed. The best episode of each budget becomes a candidate.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from eiesim.search.parallel import Evaluator
from eiesim.search.sensitivity import CostTable
from eiesim.search.tasks import Candidate, SearchContext, episode_accuracy

_ELITE_SHARE = 0.25


def layer_embeddings(context: SearchContext, table: CostTable) -> np.ndarray:
    """(layers, 6) static part of each layer's state; the previous action is appended live."""
    model = context.model
    total_weights = sum(w.size for w in model.weights)
    dense = table.dense_cost
    rows = []
    for k, w in enumerate(model.weights):
        out_features, in_features = w.shape
        rows.append([1.0, k / max(1, model.num_layers - 1), np.log2(in_features) / 16,
                     np.log2(out_features) / 16, w.size / total_weights,
                     table.layer_cost(k, 1.0) / dense])
    return np.array(rows)


def policy_actions(theta: np.ndarray, embeddings: np.ndarray, table: CostTable,
                   budget: float) -> tuple[float, ...]:
    """Densities chosen by the linear policy ``theta``, capped by the budget (module doc)."""
    minimum = table.min_density
    chosen: list[float] = []
    previous = 1.0
    for k in range(embeddings.shape[0]):
        state = np.append(embeddings[k], previous)
        wish = minimum + (1.0 - minimum) / (1.0 + np.exp(-float(state @ theta)))
        spent = sum(table.layer_cost(j, d) for j, d in enumerate(chosen))
        rest = sum(table.layer_cost(j, minimum) for j in range(k + 1, embeddings.shape[0]))
        density = _largest_density_within(table, k, budget - spent - rest, float(wish))
        chosen.append(density)
        previous = density
    return tuple(chosen)


def amc(context: SearchContext, evaluator: Evaluator, table: CostTable, method: str,
        progress: Callable[[int], None] | None = None) -> list[Candidate]:
    """One candidate per budget in ``amc_budgets``, pruning with ``method`` (module doc)."""
    settings = context.settings
    embeddings = layer_embeddings(context, table)
    size = embeddings.shape[1] + 1
    elite = max(1, int(round(_ELITE_SHARE * settings.amc_population)))
    cheapest = table.predict([table.min_density] * table.num_layers)
    budgets = [cheapest + share * (table.dense_cost - cheapest) for share in settings.amc_budgets]
    # One cross-entropy search per budget, each with its own seeded generator; every
    # generation's episodes of all budgets go to the workers as one batch (the budgets are
    # independent), so the draws and the results do not depend on how many workers run them.
    rngs = [np.random.default_rng([settings.seed, index, settings.methods.index(method)])
            for index in range(len(budgets))]
    means = [np.zeros(size) for _ in budgets]
    spreads = [np.full(size, 2.0) for _ in budgets]
    best: list[tuple[float, tuple[float, ...]] | None] = [None] * len(budgets)
    population = settings.amc_population
    for _ in range(settings.amc_generations):
        thetas = [means[b] + spreads[b] * rngs[b].standard_normal((population, size))
                  for b in range(len(budgets))]
        actions = [[policy_actions(t, embeddings, table, budget) for t in thetas[b]]
                   for b, budget in enumerate(budgets)]
        rewards = evaluator.map(episode_accuracy,
                                [(method, a) for episodes in actions for a in episodes],
                                progress, desc=f"amc ({method})")
        for b in range(len(budgets)):
            mine = rewards[b * population:(b + 1) * population]
            order = sorted(range(population), key=lambda i: (-mine[i], i))
            if best[b] is None or mine[order[0]] > best[b][0]:
                best[b] = (mine[order[0]], actions[b][order[0]])
            top = thetas[b][order[:elite]]
            means[b], spreads[b] = top.mean(axis=0), top.std(axis=0) + 0.1
    candidates = []
    for share, found in zip(settings.amc_budgets, best):
        assert found is not None  # amc_generations >= 1 (SearchSettings)
        densities = found[1]
        candidates.append(Candidate("amc", f"budget {share:g}: " +
                                    ", ".join(f"{d:.3g}" for d in densities), method,
                                    densities=densities))
    return candidates


def _largest_density_within(table: CostTable, layer: int, allowance: float,
                            wish: float) -> float:
    """min(wish, the largest density whose layer cost fits ``allowance``), at least the
    table's minimum (then the budget is infeasible and the minimum is the best effort)."""
    low, high = table.min_density, min(1.0, wish)
    if table.layer_cost(layer, high) <= allowance:
        return high
    if table.layer_cost(layer, low) > allowance:
        return low
    for _ in range(40):  # bisection on the piecewise-linear cost (non-decreasing in practice)
        middle = 0.5 * (low + high)
        if table.layer_cost(layer, middle) <= allowance:
            low = middle
        else:
            high = middle
    return low
