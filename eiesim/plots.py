"""Plots of sweep tables (matplotlib, imported only when a plot is asked for)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence


def plot_sweep(table: Any, axes: Sequence[str], path: str | Path) -> Path:
    """Cycles and load efficiency against the first swept axis, one line per other combo."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from eiesim.errors import EiesimError

        raise EiesimError("plotting needs matplotlib; pip install 'eiesim[plot]'") from None
    x_axis, others = axes[0], list(axes[1:])
    ok = table[table["error"] == ""]
    figure, (cycles_ax, load_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    groups = ok.groupby(others) if others else [((), ok)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{name}={value}" for name, value in zip(others, key)) or None
        group = group.sort_values(x_axis)
        cycles_ax.plot(group[x_axis], group["cycles"], marker="o", label=label)
        load_ax.plot(group[x_axis], group["load_efficiency"], marker="o", label=label)
    for ax, ylabel in ((cycles_ax, "cycles"), (load_ax, "load efficiency")):
        ax.set_xlabel(x_axis)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if ok[x_axis].dtype.kind in "iu" and ok[x_axis].min() > 0 and \
                ok[x_axis].max() / ok[x_axis].min() >= 16:
            ax.set_xscale("log", base=2)
    cycles_ax.set_yscale("log")
    if others:
        load_ax.legend(fontsize="small")
    figure.suptitle("eiesim sweep")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
