"""The results of a search: the tidy table, its Pareto front, the chosen network, the files.

Table: one row per evaluated network. The columns of the issue come first, in this order:
``strategy``, ``accuracy_float``, ``accuracy_chip``, ``cycles``, ``energy_j``, ``density``,
``density_{K}`` per layer, ``pareto``, ``chosen``; then ``label`` (what the strategy chose),
``method`` (the pruning method),
``meets_bound``, ``accuracy_val``, ``cycles_mean``, ``nonzero_weights`` and ``cycles_{K}``. The
``dense`` row is the uncompressed model on the chip (every weight kept, the same weight sharing).
Accuracies are on the test set; ``cycles`` and ``energy_j`` are of the first test input (the
network file's ``activations``).

``pareto``: no other row has at least the chip accuracy, at most the cycles and at most the
energy, and is strictly better in one of them. ``chosen``: among the rows meeting the bound
(chip accuracy >= the uncompressed float model's accuracy - ``max_accuracy_drop``), the lowest
objective; ties go to the higher chip accuracy, then the lower other cost, then the first row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eiesim.safe_output import OutputFiles
from eiesim.search.compression import CompressedNetwork, save_compressed
from eiesim.search.tasks import SearchError, SearchSettings

OBJECTIVE_COLUMN = {"cycles": "cycles", "energy": "energy_j"}


def pareto_flags(table: Any) -> np.ndarray:
    """True for rows no other row dominates in (max accuracy_chip, min cycles, min energy_j)."""
    accuracy = table["accuracy_chip"].to_numpy(dtype=float)
    cycles = table["cycles"].to_numpy(dtype=float)
    energy = table["energy_j"].to_numpy(dtype=float)
    flags = np.ones(len(table), dtype=bool)
    for i in range(len(table)):
        at_least = (accuracy >= accuracy[i]) & (cycles <= cycles[i]) & (energy <= energy[i])
        better = (accuracy > accuracy[i]) | (cycles < cycles[i]) | (energy < energy[i])
        flags[i] = not np.any(at_least & better)
    return flags


def choose(table: Any, settings: SearchSettings, reference_accuracy: float) -> int:
    """Index (position) of the chosen row (module doc); SearchError when none meets the bound."""
    floor = reference_accuracy - settings.max_accuracy_drop
    meets = table["accuracy_chip"].to_numpy(dtype=float) >= floor - 1e-12
    if not meets.any():
        best = float(table["accuracy_chip"].max())
        raise SearchError(f"no evaluated network reaches chip accuracy {floor:.4f} (the model's "
                          f"{reference_accuracy:.4f} minus max_accuracy_drop "
                          f"{settings.max_accuracy_drop:g}); the best reaches {best:.4f}: allow "
                          f"a larger drop or more bits")
    objective = OBJECTIVE_COLUMN[settings.objective]
    other = "energy_j" if objective == "cycles" else "cycles"
    positions = np.flatnonzero(meets)
    return int(min(positions, key=lambda i: (float(table[objective].iloc[i]),
                                             -float(table["accuracy_chip"].iloc[i]),
                                             float(table[other].iloc[i]), i)))


def tidy(rows: Sequence[dict[str, Any]], num_layers: int, settings: SearchSettings,
         reference_accuracy: float) -> tuple[Any, int]:
    """The results DataFrame (module doc) and the chosen row's position."""
    import pandas as pd

    table = pd.DataFrame(list(rows))
    table["meets_bound"] = table["accuracy_chip"] >= \
        reference_accuracy - settings.max_accuracy_drop - 1e-12
    table["pareto"] = pareto_flags(table)
    chosen = choose(table, settings, reference_accuracy)
    table["chosen"] = np.arange(len(table)) == chosen
    layers = [f"density_{k}" for k in range(num_layers)]
    first = ["strategy", "accuracy_float", "accuracy_chip", "cycles", "energy_j", "density",
             *layers, "pareto", "chosen"]
    extra = ["label", "method", "meets_bound", "accuracy_val", "cycles_mean", "nonzero_weights",
             *[f"cycles_{k}" for k in range(num_layers)]]
    return table[first + extra], chosen


def plot_front(table: Any, objective: str, ax: Any = None, bound: float | None = None) -> Any:
    """Chip accuracy against the objective, one colour per strategy, the front in these two
    coordinates (each network more accurate than every cheaper one), the chosen network and
    the accuracy ``bound`` marked."""
    if ax is None:
        import matplotlib.pyplot as plt

        figure, ax = plt.subplots(figsize=(7, 4.5))
    else:
        figure = ax.figure
    column = OBJECTIVE_COLUMN[objective]
    scale, unit = (1.0, "cycles") if column == "cycles" else (1e9, "energy (nJ)")
    for strategy, part in table.groupby("strategy", sort=False):
        marker = "*" if strategy == "dense" else "o"
        ax.scatter(part[column] * scale, part["accuracy_chip"], label=strategy, marker=marker,
                   s=80 if strategy == "dense" else 25, alpha=0.8)
    ordered = table.sort_values([column, "accuracy_chip"], ascending=[True, False])
    best = ordered["accuracy_chip"].cummax()
    front = ordered[ordered["accuracy_chip"] >= best.shift(fill_value=-1.0) + 1e-12]
    ax.step(front[column] * scale, front["accuracy_chip"], where="post", color="black",
            linewidth=0.8, label="front (accuracy vs " + objective + ")")
    if bound is not None:
        ax.axhline(bound, color="red", linestyle="--", linewidth=0.8, label="accuracy bound")
    chosen = table[table["chosen"]]
    ax.scatter(chosen[column] * scale, chosen["accuracy_chip"], s=200, facecolors="none",
               edgecolors="red", linewidths=1.5, label="chosen")
    ax.set_xlabel(f"{unit} per inference (first test input)")
    ax.set_ylabel("test accuracy on the chip")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return figure


def write_outputs(outputs: OutputFiles, table: Any, network: CompressedNetwork,
                  activations: np.ndarray, *, objective: str, bound: float | None = None,
                  network_path: str | Path | None = None, report_path: str | Path | None = None,
                  plot_path: str | Path | None = None) -> None:
    """Produce the network file, the CSV and the plot into ``outputs`` (each path declared
    there first); they appear when the caller commits, all or none."""
    if network_path is not None:
        with outputs.writing(network_path) as temporary:
            save_compressed(temporary, network, activations)
    if report_path is not None:
        with outputs.writing(report_path) as temporary:
            table.to_csv(temporary, index=False)
    if plot_path is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure = plot_front(table, objective, bound=bound)
        with outputs.writing(plot_path) as temporary:
            figure.savefig(temporary, format=Path(plot_path).suffix.lstrip(".").lower(),
                           dpi=120, bbox_inches="tight")
        plt.close(figure)
