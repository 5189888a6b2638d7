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
    candidates = []
    cheapest = table.predict([table.min_density] * table.num_layers)
    for index, share in enumerate(settings.amc_budgets):
        budget = cheapest + share * (table.dense_cost - cheapest)
        rng = np.random.default_rng([settings.seed, index, settings.methods.index(method)])
        mean, spread = np.zeros(size), np.full(size, 2.0)
        best: tuple[float, tuple[float, ...]] | None = None
        for _ in range(settings.amc_generations):
            thetas = mean + spread * rng.standard_normal((settings.amc_population, size))
            actions = [policy_actions(t, embeddings, table, budget) for t in thetas]
            rewards = evaluator.map(episode_accuracy, [(method, a) for a in actions], progress,
                                    desc=f"amc ({method})")
            order = sorted(range(len(thetas)), key=lambda i: (-rewards[i], i))
            for i in order[:1]:
                if best is None or rewards[i] > best[0]:
                    best = (rewards[i], actions[i])
            top = thetas[order[:elite]]
            mean, spread = top.mean(axis=0), top.std(axis=0) + 0.1
        assert best is not None  # amc_generations >= 1 (SearchSettings)
        densities = best[1]
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
