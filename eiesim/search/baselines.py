"""The baselines every pruning paper compares against (strategy 5d).

* uniform: every layer pruned to the same density, for each density of the grid;
* global magnitude: one |w| threshold over all layers (:func:`eiesim.compress.prune_global_mask`),
  keeping each density of the grid overall, so redundant layers lose more.

Neither looks at the hardware; the hardware-aware strategies are judged against them at equal
accuracy.
"""

from __future__ import annotations

from eiesim.search.tasks import Candidate, SearchContext


def uniform_candidates(context: SearchContext) -> list[Candidate]:
    layers = context.model.num_layers
    return [Candidate("uniform", f"density {d:g}", method, densities=(float(d),) * layers)
            for method in context.settings.methods
            for d in sorted(context.settings.densities, reverse=True)]


def global_candidates(context: SearchContext) -> list[Candidate]:
    return [Candidate("global", f"density {d:g}", "magnitude", global_density=float(d))
            for d in sorted(context.settings.densities, reverse=True)]
