"""Plots of sweep tables (matplotlib, imported only when a plot is asked for)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eiesim.errors import MissingDependencyError

DEFAULT_METRICS = ("cycles", "load_efficiency")


def require_matplotlib(what: str = "plotting") -> Any:
    """matplotlib's pyplot (non-interactive), or an error naming the extra to install; called
    before any work when a command will plot, so that a long run is never lost to it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError(f"{what} needs matplotlib, which is not installed; "
                                     f"install it with pip install 'eiesim[plot]'") from None
    return plt


def _powers_of_two(values: Any) -> bool:
    """Whole positive values that are all powers of two, spanning more than one (log2 axis)."""
    if values.dtype.kind not in "iu" or len(values) == 0 or values.min() <= 0:
        return False
    ints = [int(v) for v in values]
    return all(v & (v - 1) == 0 for v in ints) and max(ints) > min(ints)


def _style_axis(axis: Any, values: Any, which: str) -> None:
    """log2 scale for powers of two; integer ticks on integer data."""
    from matplotlib.ticker import FixedLocator, MaxNLocator, ScalarFormatter

    if _powers_of_two(values):
        getattr(axis, f"set_{which}scale")("log", base=2)
        ticks = sorted({int(v) for v in values})
        target = getattr(axis, f"{which}axis")
        target.set_major_locator(FixedLocator(ticks))
        target.set_major_formatter(ScalarFormatter())
        target.set_minor_locator(FixedLocator([]))
    elif values.dtype.kind in "iu":
        getattr(axis, f"{which}axis").set_major_locator(MaxNLocator(integer=True))


def plot_sweep(table: Any, axes: Sequence[str], path: str | Path,
               metrics: Sequence[str] = DEFAULT_METRICS) -> Path:
    """One panel per metric against the first swept axis, one line per combination of the
    other axes; written to ``path`` (format from its suffix)."""
    plt = require_matplotlib()
    x_axis, others = axes[0], list(axes[1:])
    ok = table[table["error"].isna()]
    figure, panels = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.2),
                                  squeeze=False)
    groups = ok.groupby(others) if others else [((), ok)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{name}={value}" for name, value in zip(others, key)) or None
        group = group.sort_values(x_axis)
        for panel, metric in zip(panels[0], metrics):
            panel.plot(group[x_axis], group[metric], marker="o", label=label)
    for panel, metric in zip(panels[0], metrics):
        panel.set_xlabel(x_axis)
        panel.set_ylabel(metric)
        panel.grid(True, alpha=0.3)
        _style_axis(panel, ok[x_axis], "x")
        values = ok[metric].dropna()
        if values.dtype.kind in "iuf" and len(values) and values.min() > 0 \
                and values.max() / values.min() >= 16:
            panel.set_yscale("log")
        elif values.dtype.kind in "iu":
            _style_axis(panel, values, "y")
    if others:
        panels[0][-1].legend(fontsize="small")
    figure.suptitle("eiesim sweep")
    figure.tight_layout()
    path = Path(path)
    suffix = path.suffix.lstrip(".").lower()
    figure.savefig(path, dpi=120, format=suffix if suffix in ("png", "pdf", "svg") else "png")
    plt.close(figure)
    return path
