"""Per-layer densities from the sensitivity curves (issue strategy 5a).

* :func:`threshold_allocation`: the classic rule of Deep Compression's sensitivity analysis,
  per layer the lowest density whose accuracy drop stays within T;
* :func:`minimise_allocation`: the densities that minimise the predicted cost (cycles or
  energy, :class:`~eiesim.search.sensitivity.CostTable`) subject to the sum of the
  layers' accuracy drops staying within a budget. Drops are whole numbers of validation
  samples, so a dynamic programme over (layer, drop used) finds the exact optimum of this
  additive model for any number of layers.

Both read either curve: *without* fine-tuning (``tuned=False``), as Han et al. measured
sensitivity, which overstates the drop of a network that is fine-tuned afterwards; or *with*
the short fine-tune, which understates it when several layers are pruned together (the
drops do not add up). The search proposes networks from both and simulates them all.
"""

from __future__ import annotations

import math
from typing import Any

from eiesim.search.sensitivity import CostTable, accuracy_drops


def threshold_allocation(curves: Any, threshold: float, *,
                         tuned: bool = False) -> tuple[float, ...]:
    """Per layer, the lowest density whose accuracy drop is at most ``threshold``."""
    densities = []
    for _, drops in sorted(accuracy_drops(curves, tuned=tuned).items()):
        allowed = [d for d, drop in drops.items() if drop <= threshold + 1e-12]
        densities.append(min(allowed) if allowed else 1.0)
    return tuple(densities)


def minimise_allocation(curves: Any, table: CostTable, budget: float, num_validation: int,
                        *, tuned: bool = False) -> tuple[float, ...]:
    """Densities minimising ``table.predict`` with the summed drops within ``budget``."""
    drops = accuracy_drops(curves, tuned=tuned)
    limit = int(math.floor(budget * num_validation + 1e-9))
    # best[b] = (cost, densities) of the cheapest prefix whose drops add up to b samples
    best: dict[int, tuple[float, tuple[float, ...]]] = {0: (0.0, ())}
    for layer, layer_drops in sorted(drops.items()):
        following: dict[int, tuple[float, tuple[float, ...]]] = {}
        for used, (cost, chosen) in best.items():
            for density, drop in sorted(layer_drops.items()):
                samples = max(0, int(round(drop * num_validation)))
                total = used + samples
                if total > limit:
                    continue
                value = cost + table.layer_cost(layer, density)
                if total not in following or value < following[total][0] - 1e-12:
                    following[total] = (value, chosen + (density,))
        best = following
    return min(best.values(), key=lambda item: (item[0], item[1]))[1]
