"""The suite's figure: speedups per layer, and the simulator's wall time per layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.config import TARGETS, BenchResult

SPEEDUP_SERIES = (
    ("speedup_vs_dense_acc", "EIE (sim) vs dense accelerator, same 64 PEs"),
    ("speedup_vs_cpu_dense", "EIE (sim) vs CPU dense, this machine (numpy)"),
    ("speedup_vs_cpu_sparse", "EIE (sim) vs CPU sparse, this machine (scipy CSR)"),
    ("speedup_vs_paper_cpu_dense", "EIE (sim) vs paper's CPU dense (i7, MKL)"),
    ("paper_speedup_vs_cpu_dense", "paper: EIE vs CPU dense"),
    ("paper_speedup_vs_gpu_dense", "paper: EIE vs GPU dense"),
)


def plot_results(result: BenchResult, path: str | Path) -> Path:
    """Speedups per layer (log axis) and simulator wall time per layer, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = result.table
    layers = list(table["layer"])
    x = np.arange(len(layers))
    figure, (speed_ax, sim_ax) = plt.subplots(2, 1, figsize=(15, 9.5),
                                              gridspec_kw={"height_ratios": [3, 2]})
    width = 0.8 / len(SPEEDUP_SERIES)
    for index, (column, label) in enumerate(SPEEDUP_SERIES):
        values = table[column].to_numpy(dtype=float)
        speed_ax.bar(x + (index - (len(SPEEDUP_SERIES) - 1) / 2) * width, values, width,
                     label=label)
    speed_ax.set_yscale("log")
    speed_ax.axhline(1.0, color="black", linewidth=0.8)
    speed_ax.set_xticks(x, layers)
    speed_ax.set_ylabel("speedup (baseline time / EIE time)")
    title = "EIE speedup per layer (batch 1)"
    if result.config.quick:
        title += f"  [quick mode: layers at scale {result.config.scale:g}]"
    speed_ax.set_title(title)
    speed_ax.grid(True, axis="y", which="both", alpha=0.3)
    speed_ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))

    target_ms = TARGETS["fast_engine_alexnet_fc8_ms"][0]
    sim_ax.bar(x - 0.2, table["sim_wall_ms"], 0.4, label="fast engine (numba), ms")
    sim_ax.bar(x + 0.2, table["ref_wall_s"] * 1e3, 0.4, label="reference engine (SimPy), ms")
    sim_ax.axhline(target_ms, color="red", linestyle="--", linewidth=1,
                   label=f"{target_ms:g} ms target (AlexNet fc8, fast engine)")
    sim_ax.set_yscale("log")
    sim_ax.set_xticks(x, layers)
    sim_ax.set_ylabel("simulator wall time (ms, median)")
    sim_ax.set_title("eiesim speed per layer")
    sim_ax.grid(True, axis="y", which="both", alpha=0.3)
    sim_ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    machine = result.machine
    figure.text(0.01, 0.005, f"{result.command}; {machine['cpu_model']}, "
                             f"{machine['usable_cores']} cores, {machine['date_utc']}, eiesim "
                             f"{machine['eiesim']} ({machine['git_revision']})",
                fontsize="x-small", color="gray")
    figure.tight_layout(rect=(0, 0.02, 1, 1))
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
