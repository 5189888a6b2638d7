"""The baselines every pruning paper compares against (strategy 5d).

* uniform: every layer pruned to the same density, for each density of the grid;
* global magnitude: one |w| threshold over all layers (:func:`eiesim.compress.prune_global_mask`),
  keeping each density of the grid overall, so redundant layers lose more;
* the Deep Compression recipe (Han et al. 2015/2016: LeNet-300-100 kept 8 % of its hidden
  layers' weights and 26 % of the output layer's): every layer but the last at 10 %, the last at
  25 %, once per pruning method.

Neither looks at the hardware; the hardware-aware strategies are judged against them at equal
accuracy.
"""

from __future__ import annotations

from eiesim.search.tasks import Candidate, SearchContext


def uniform_candidates(context: SearchContext) -> list[Candidate]:
    """Every layer at the same density, for each density of the grid and each method."""
    layers = context.model.num_layers
    return [Candidate("uniform", f"density {d:g}", method, densities=(float(d),) * layers)
            for method in context.settings.methods
            for d in sorted(context.settings.densities, reverse=True)]


DEEP_COMPRESSION_HIDDEN = 0.1
DEEP_COMPRESSION_LAST = 0.25


def deep_compression_candidates(context: SearchContext) -> list[Candidate]:
    """Deep Compression's recipe: hidden layers at 10 %, the last layer at 25 %, for each method."""
    layers = context.model.num_layers
    densities = (DEEP_COMPRESSION_HIDDEN,) * (layers - 1) + (DEEP_COMPRESSION_LAST,)
    return [Candidate("deep_compression", f"hidden {DEEP_COMPRESSION_HIDDEN:g}, last "
                      f"{DEEP_COMPRESSION_LAST:g}", method, densities=densities)
            for method in context.settings.methods]


def global_candidates(context: SearchContext) -> list[Candidate]:
    """One magnitude threshold for all layers, at each density of the grid."""
    return [Candidate("global", f"density {d:g}", "magnitude", global_density=float(d))
            for d in sorted(context.settings.densities, reverse=True)]
