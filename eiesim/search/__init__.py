"""Hardware-aware compression of a whole network, with eiesim's simulated cycles or energy as
the cost instead of FLOPs or non-zero counts.

On EIE, non-zero counts mislead: padding entries (rule T7), load imbalance across PEs (T5), the
one-cycle minimum per broadcast column (T2, T5) and each layer's input sparsity change the
cycles. The strategies here therefore measure every network they propose on the simulator:

======================  =========================================================================
module                  strategy
======================  =========================================================================
``sensitivity``         each layer pruned alone: accuracy and cost against density (lookup table)
``allocation``          from the curves: the classic threshold rule, and the densities that
                        minimise the objective under an accuracy-drop budget
``netadapt``            NetAdapt: step the budget down, prune the best layer, short fine-tunes
``amc``                 AMC-style per-layer policy under an enforced resource constraint
``baselines``           uniform density, global magnitude pruning, the Deep Compression recipe
``results``             tidy table, Wilson intervals, the bound on validation, Pareto front,
                        chosen network, atomic files, plot
``parallel``            local processes or Dask, results in task order
``run``                 :func:`search`: everything above in one call
======================  =========================================================================

>>> from eiesim.search import SearchSettings
>>> SearchSettings(objective="energy", max_accuracy_drop=0.02).cost_key
'energy_j'
"""

from eiesim.search.results import pareto_flags, plot_front
from eiesim.search.run import SearchResult, search
from eiesim.search.sensitivity import plot_sensitivity
from eiesim.search.tasks import OBJECTIVES, STRATEGIES, SearchError, SearchSettings

__all__ = ["OBJECTIVES", "STRATEGIES", "SearchError", "SearchResult", "SearchSettings",
           "pareto_flags", "plot_front", "plot_sensitivity", "search"]
