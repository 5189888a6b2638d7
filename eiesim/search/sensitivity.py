"""Sensitivity analysis (Han et al. 2015): each layer pruned alone, accuracy against density.

For every pruning method, every layer and every density of the grid (and 1.0), the layer alone
is pruned; the curves hold the validation accuracy on the chip without and with a short
fine-tune, beside the layer's own simulated cycles and energy on the first test input. The cost
columns are the lookup table (:class:`CostTable`) the allocation, NetAdapt and AMC predict a
network's cost from, as NetAdapt builds its tables from measurements on the device: a network's
predicted cost is the sum of its layers' costs at their densities, interpolated linearly between
measured densities. The prediction ignores that pruning one layer changes the next layer's input
sparsity (rule T2), which is why every proposed network is then simulated exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eiesim.search.parallel import Evaluator
from eiesim.search.tasks import SearchContext, sensitivity_point


def sensitivity_curves(context: SearchContext, evaluator: Evaluator,
                       progress: Callable[[int], None] | None = None) -> Any:
    """The curves as a DataFrame: one row per (method, layer, density), density 1.0 included."""
    import pandas as pd

    densities = sorted(set(context.settings.densities) | {1.0})
    tasks = [(method, layer, d) for method in context.settings.methods
             for layer in range(context.model.num_layers) for d in densities]
    return pd.DataFrame(evaluator.map(sensitivity_point, tasks, progress, desc="sensitivity"))


@dataclass(frozen=True, eq=False)
class CostTable:
    """Per-layer cost against density, from the sensitivity sweep (module doc)."""

    densities: tuple[np.ndarray, ...]  # ascending, per layer
    costs: tuple[np.ndarray, ...]

    @classmethod
    def from_curves(cls, curves: Any, objective: str) -> CostTable:
        """From the curves of one method (filter ``curves`` on its ``method`` first)."""
        column = "layer_cycles" if objective == "cycles" else "layer_energy_j"
        densities, costs = [], []
        for layer in sorted(curves["layer"].unique()):
            part = curves[curves["layer"] == layer].sort_values("density")
            densities.append(part["density"].to_numpy(dtype=float))
            costs.append(part[column].to_numpy(dtype=float))
        return cls(tuple(densities), tuple(costs))

    @property
    def num_layers(self) -> int:
        return len(self.costs)

    def layer_cost(self, layer: int, density: float) -> float:
        return float(np.interp(density, self.densities[layer], self.costs[layer]))

    def predict(self, densities: Sequence[float]) -> float:
        """Predicted cost of a network with these per-layer densities."""
        return sum(self.layer_cost(k, d) for k, d in enumerate(densities))

    @property
    def dense_cost(self) -> float:
        return self.predict([1.0] * self.num_layers)

    @property
    def min_density(self) -> float:
        return float(min(d[0] for d in self.densities))


def plot_sensitivity(curves: Any, objective: str = "cycles") -> Any:
    """One panel per (method, layer): validation accuracy on the chip against the layer's
    density, without and with the short fine-tune, and the layer's simulated cost (grey, right
    axis). Returns the matplotlib figure."""
    from eiesim.plots import require_matplotlib

    column, unit = (("layer_cycles", "layer cycles") if objective == "cycles"
                    else ("layer_energy_j", "layer energy (J)"))
    methods = list(dict.fromkeys(curves["method"]))
    layers = sorted(curves["layer"].unique())
    figure = require_matplotlib("plot_sensitivity")(
        figsize=(4 * len(layers), 3.2 * len(methods)))
    axes = figure.subplots(len(methods), len(layers), squeeze=False, sharey=True)
    for i, method in enumerate(methods):
        for j, layer in enumerate(layers):
            ax = axes[i][j]
            part = curves[(curves["method"] == method) & (curves["layer"] == layer)]
            part = part.sort_values("density")
            ax.plot(part["density"], part["accuracy_val"], "o-", label="no fine-tune")
            ax.plot(part["density"], part["accuracy_val_tuned"], "s--",
                    label="short fine-tune")
            ax.set_xscale("log")
            ax.set_title(f"layer {layer}, {method}", fontsize=9)
            ax.set_xlabel("density of this layer")
            twin = ax.twinx()
            twin.plot(part["density"], part[column], color="grey", marker=".")
            twin.set_ylim(0, None)
            if j == len(layers) - 1:
                twin.set_ylabel(unit, color="grey")
        axes[i][0].set_ylabel("validation accuracy (chip)")
    axes[0][0].legend(fontsize=8)
    figure.tight_layout()
    return figure


def accuracy_drops(curves: Any, *, tuned: bool = False) -> dict[int, dict[float, float]]:
    """Per layer, density -> validation accuracy lost against the layer kept dense (the
    curves of one method)."""
    column = "accuracy_val_tuned" if tuned else "accuracy_val"
    drops: dict[int, dict[float, float]] = {}
    for layer in sorted(curves["layer"].unique()):
        part = curves[curves["layer"] == layer]
        reference = float(part.loc[part["density"] == 1.0, column].iloc[0])
        drops[int(layer)] = {float(d): reference - float(a)
                             for d, a in zip(part["density"], part[column])}
    return drops
