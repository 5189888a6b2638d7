"""The results of a search: the tidy table, its Pareto front, the chosen network, the files.

Table: one row per evaluated network. The columns come in this order: ``strategy``,
``accuracy_float`` (float64 weights, test set), ``accuracy_val`` and ``accuracy_test`` (on the
chip, the spec's fixed-point arithmetic, on the validation and the test set),
``accuracy_test_low`` / ``accuracy_test_high`` (the 95 % Wilson score interval of the test
accuracy), ``cycles``, ``energy_j``, ``density``, ``density_{K}`` per layer, ``pareto``,
``meets_bound``, ``chosen``; then ``label`` (what the strategy chose), ``method`` (the pruning
method), ``fine_tune_epochs`` (the fine-tuning budget of the row: the same for every compressed
row, 0 for the dense one), ``cycles_mean``, ``nonzero_weights`` and ``cycles_{K}``. The
``dense`` row is the uncompressed model on the chip (every weight kept, the same weight
sharing). ``cycles`` and ``energy_j`` are of the first test input (the network file's
``activations``).

Every decision is taken on **validation**; the test columns only report. ``meets_bound``: the
validation accuracy on the chip, less ``margin`` standard errors sqrt(p (1 - p) / n_val), is at
least the uncompressed float model's validation accuracy minus ``max_accuracy_drop``.
``pareto``: no other row has at least the validation accuracy, at most the cycles and at most
the energy, and is strictly better in one of them. ``chosen``: among the *compressed* rows
meeting the bound (never the dense row), the lowest objective; ties go to the higher validation
accuracy, then the lower other cost, then the first row. When none meets the bound there is no
chosen row (:class:`~eiesim.search.tasks.NoNetworkMeetsBoundError`).
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


Z_95 = 1.959963984540054  # two-sided 95 % quantile of the standard normal


def wilson_interval(successes: Any, trials: int, z: float = Z_95) -> tuple[Any, Any]:
    """The Wilson score interval (low, high) of a binomial proportion, elementwise: better than
    p +- z se near 0 and 1, where accuracies live (it never leaves [0, 1])."""
    p = np.asarray(successes, dtype=float) / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z / denominator * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def standard_error(accuracy: Any, trials: int) -> Any:
    """sqrt(p (1 - p) / n): the standard error of an accuracy measured on ``trials`` samples."""
    p = np.asarray(accuracy, dtype=float)
    return np.sqrt(p * (1 - p) / trials)


def pareto_flags(table: Any, accuracy_column: str = "accuracy_val") -> np.ndarray:
    """True for rows no other row dominates in (max accuracy, min cycles, min energy_j)."""
    accuracy = table[accuracy_column].to_numpy(dtype=float)
    cycles = table["cycles"].to_numpy(dtype=float)
    energy = table["energy_j"].to_numpy(dtype=float)
    flags = np.ones(len(table), dtype=bool)
    for i in range(len(table)):
        at_least = (accuracy >= accuracy[i]) & (cycles <= cycles[i]) & (energy <= energy[i])
        better = (accuracy > accuracy[i]) | (cycles < cycles[i]) | (energy < energy[i])
        flags[i] = not np.any(at_least & better)
    return flags


def meets_bound(accuracy_val: Any, settings: SearchSettings, reference_accuracy: float,
                num_validation: int) -> Any:
    """Whether validation accuracies meet the bound by ``settings.margin`` standard errors."""
    floor = reference_accuracy - settings.max_accuracy_drop
    guarded = np.asarray(accuracy_val, dtype=float) - \
        settings.margin * standard_error(accuracy_val, num_validation)
    return guarded >= floor - 1e-12


def choose(table: Any, settings: SearchSettings) -> int | None:
    """Position of the chosen row (module doc), or None when no compressed row meets the
    bound."""
    candidates = table["meets_bound"].to_numpy(dtype=bool) & \
        (table["strategy"] != "dense").to_numpy()
    if not candidates.any():
        return None
    objective = OBJECTIVE_COLUMN[settings.objective]
    other = "energy_j" if objective == "cycles" else "cycles"
    positions = np.flatnonzero(candidates)
    return int(min(positions, key=lambda i: (float(table[objective].iloc[i]),
                                             -float(table["accuracy_val"].iloc[i]),
                                             float(table[other].iloc[i]), i)))


def tidy(rows: Sequence[dict[str, Any]], num_layers: int, settings: SearchSettings,
         reference_accuracy: float, num_validation: int, num_test: int
         ) -> tuple[Any, int | None]:
    """The results DataFrame (module doc) and the chosen row's position (None: no compressed
    network meets the bound). ``reference_accuracy``: the float model's validation accuracy."""
    import pandas as pd

    table = pd.DataFrame(list(rows)).rename(columns={"accuracy_chip": "accuracy_test"})
    correct = np.round(table["accuracy_test"].to_numpy(dtype=float) * num_test)
    table["accuracy_test_low"], table["accuracy_test_high"] = wilson_interval(correct, num_test)
    table["meets_bound"] = meets_bound(table["accuracy_val"], settings, reference_accuracy,
                                       num_validation)
    table["pareto"] = pareto_flags(table)
    chosen = choose(table, settings)
    table["chosen"] = np.arange(len(table)) == (-1 if chosen is None else chosen)
    layers = [f"density_{k}" for k in range(num_layers)]
    first = ["strategy", "accuracy_float", "accuracy_val", "accuracy_test", "accuracy_test_low",
             "accuracy_test_high", "cycles", "energy_j", "density", *layers, "pareto",
             "meets_bound", "chosen"]
    extra = ["label", "method", "fine_tune_epochs", "cycles_mean", "nonzero_weights",
             *[f"cycles_{k}" for k in range(num_layers)]]
    return table[first + extra].reset_index(drop=True), chosen


def grid_edge(row: Any, num_layers: int, settings: SearchSettings) -> list[int]:
    """The layers of a results row pruned to (about) the grid's lowest density: where the
    search could not look further."""
    lowest = min(settings.densities)
    return [k for k in range(num_layers) if float(row[f"density_{k}"]) <= lowest * 1.05]


def plot_front(table: Any, objective: str, ax: Any = None, bound: float | None = None) -> Any:
    """Validation accuracy on the chip (what the search decides on) against the objective, one
    colour per strategy, the front in these two coordinates (each network more accurate than
    every cheaper one), the chosen network and the accuracy ``bound`` marked."""
    if ax is None:
        from eiesim.plots import require_matplotlib

        # A figure of its own, outside pyplot: the library never chooses a backend.
        figure = require_matplotlib("plot_front")(figsize=(7, 4.5))
        ax = figure.subplots()
    else:
        figure = ax.figure
    column = OBJECTIVE_COLUMN[objective]
    scale, unit = (1.0, "cycles") if column == "cycles" else (1e9, "energy (nJ)")
    for strategy, part in table.groupby("strategy", sort=False):
        marker = "*" if strategy == "dense" else "o"
        ax.scatter(part[column] * scale, part["accuracy_val"], label=strategy, marker=marker,
                   s=80 if strategy == "dense" else 25, alpha=0.8)
    ordered = table.sort_values([column, "accuracy_val"], ascending=[True, False])
    best = ordered["accuracy_val"].cummax()
    front = ordered[ordered["accuracy_val"] >= best.shift(fill_value=-1.0) + 1e-12]
    ax.step(front[column] * scale, front["accuracy_val"], where="post", color="black",
            linewidth=0.8, label="front (accuracy vs " + objective + ")")
    if bound is not None:
        ax.axhline(bound, color="red", linestyle="--", linewidth=0.8, label="accuracy bound")
    chosen = table[table["chosen"]]
    ax.scatter(chosen[column] * scale, chosen["accuracy_val"], s=200, facecolors="none",
               edgecolors="red", linewidths=1.5, label="chosen")
    ax.set_xlabel(f"{unit} per inference (first test input)")
    ax.set_ylabel("validation accuracy on the chip")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return figure


def write_outputs(outputs: OutputFiles, table: Any, network: CompressedNetwork | None,
                  activations: np.ndarray, *, objective: str, bound: float | None = None,
                  network_path: str | Path | None = None, report_path: str | Path | None = None,
                  plot_path: str | Path | None = None) -> None:
    """Produce the network file, the CSV and the plot into ``outputs`` (each path declared
    there first); they appear when the caller commits, all or none."""
    if network_path is not None:
        if network is None:
            raise SearchError("no network was chosen (none meets the bound); write only the "
                              "report and the plot")
        with outputs.writing(network_path) as temporary:
            save_compressed(temporary, network, activations)
    if report_path is not None:
        with outputs.writing(report_path) as temporary:
            table.to_csv(temporary, index=False)
    if plot_path is not None:
        figure = plot_front(table, objective, bound=bound)
        with outputs.writing(plot_path) as temporary:
            figure.savefig(temporary, format=Path(plot_path).suffix.lstrip(".").lower(),
                           dpi=120, bbox_inches="tight")
