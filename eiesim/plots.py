"""Plots of sweep tables and of single runs (matplotlib, imported only when a plot is asked
for). The figures are :class:`matplotlib.figure.Figure` objects made without pyplot, so the
library never chooses a backend: a notebook shows them, :meth:`Figure.savefig` writes them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eiesim.errors import MissingDependencyError

DEFAULT_METRICS = ("cycles", "load_efficiency")


def require_matplotlib(what: str = "plotting") -> Any:
    """matplotlib's Figure class, or an error naming the extra to install; called before any
    work when a command will plot, so that a long run is never lost to it."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(f"{what} needs matplotlib, which is not installed; "
                                     f"install it with pip install 'eiesim[plot]'") from None
    return Figure


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
    figure_class = require_matplotlib()
    x_axis, others = axes[0], list(axes[1:])
    ok = table[table["error"].isna()]
    figure = figure_class(figsize=(5.5 * len(metrics), 4.2))
    panels = figure.subplots(1, len(metrics), squeeze=False)
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
    return path


# --- one run -----------------------------------------------------------------------------------
ENERGY_UNITS = (("J", 1.0), ("mJ", 1e-3), ("µJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12))
"""Energy bars are drawn in the largest unit in which the biggest bar is at least 1."""


def energy_unit(joules: float) -> tuple[str, float]:
    """The unit to show ``joules`` in, and its size in joules.

    >>> energy_unit(3.2e-6), energy_unit(4e-10)
    (('µJ', 1e-06), ('pJ', 1e-12))
    """
    for name, size in ENERGY_UNITS:
        if abs(joules) >= size:
            return name, size
    return ENERGY_UNITS[-1]


def plot_run(result: Any, path: str | Path | None = None, *, layer: Any = None,
             energy: Any = None, occupancy: Any = None) -> Any:
    """A picture of one run's load balance, returned as a matplotlib Figure (and written to
    ``path`` when given, format from its suffix).

    For a layer (:class:`~eiesim.sim.SimResult`) one row of panels: per PE, the busy, stall
    and idle cycles as stacked bars; per PE, the entries issued (and stored, when the
    ``layer`` is given: a QuantizedLayer or EncodedLayer), padding hatched; the energy per
    unit (``energy``: an :class:`~eiesim.energy.EnergyReport`, default the 45 nm table); and,
    with ``occupancy`` (a :class:`~eiesim.sim.occupancy.QueueOccupancy` recorded by the reference
    engine), the activation queues' occupancy over time. For a network
    (:class:`~eiesim.network.NetworkResult`) one such row per layer (``layer``: the network,
    for stored entries), then each layer's share of the total cycles and energy.
    """
    figure_class = require_matplotlib()
    layers = list(getattr(result, "layers", [result]))
    network = hasattr(result, "layers")
    sources = list(getattr(layer, "layers", layer)) if layer is not None and network \
        else [layer] * len(layers)
    reports = _energy_reports(result, layers, energy)
    columns = 4 if occupancy is not None and not network else 3
    rows = len(layers) + (1 if network else 0)
    figure = figure_class(figsize=(5.0 * columns, 3.6 * rows), layout="constrained")
    panels = figure.subplots(rows, columns, squeeze=False)
    for index, layer_result in enumerate(layers):
        name = f"layer {index}: " if network else ""
        _cycle_bars(panels[index][0], layer_result, name)
        _entry_bars(panels[index][1], layer_result, sources[index], name)
        _energy_bars(panels[index][2], reports[index], name)
        if columns == 4:
            _occupancy_map(figure, panels[index][3], occupancy)
    if network:
        _layer_shares(panels[-1][0], layers, reports)
        for panel in panels[-1][1:]:
            panel.set_visible(False)
    title = f"eiesim {result.engine} engine, {result.spec.num_pes} PEs"
    figure.suptitle(title + (f", {len(layers)} layers" if network else ""))
    if path is not None:
        path = Path(path)
        suffix = path.suffix.lstrip(".").lower()
        figure.savefig(path, dpi=110,
                       format=suffix if suffix in ("png", "pdf", "svg") else "png")
    return figure


def _energy_reports(result: Any, layers: list[Any], energy: Any) -> list[Any]:
    from eiesim.energy import energy_report

    given = getattr(result, "energy", None) if hasattr(result, "layers") else energy
    if given is None:
        return [energy_report(layer_result) for layer_result in layers]
    return list(given) if isinstance(given, (list, tuple)) else [given]


def _cycle_bars(panel: Any, result: Any, name: str) -> None:
    import numpy as np

    pes = np.arange(result.spec.num_pes)
    bottom = np.zeros(len(pes))
    for label, values, color in (("busy", result.busy_cycles, "tab:green"),
                                 ("stall", result.stall_cycles, "tab:red"),
                                 ("idle", result.idle_cycles, "tab:gray")):
        panel.bar(pes, values, bottom=bottom, label=label, color=color, width=0.9)
        bottom = bottom + values
    panel.set_xlabel("PE")
    panel.set_ylabel("cycles")
    panel.set_title(f"{name}cycles per PE (load efficiency {result.load_efficiency:.1%})",
                    fontsize="medium")
    panel.legend(fontsize="small", ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.2))


def _stored_per_pe(layer: Any, spec: Any) -> tuple[Any, Any] | None:
    """(real, padding) entries each PE stores, from the layer (encoded for ``spec``)."""
    import numpy as np

    if layer is None:
        return None
    encoded = layer if hasattr(layer, "pe_offsets") else layer.encode(spec)
    padding = np.array([int((encoded.entry_v[start:end] == 0).sum()) for start, end
                        in zip(encoded.pe_offsets[:-1], encoded.pe_offsets[1:])])
    return encoded.entries_per_pe - padding, padding


def _entry_bars(panel: Any, result: Any, layer: Any, name: str) -> None:
    import numpy as np

    pes = np.arange(result.spec.num_pes)
    issued_padding = result.pe_count("padding_entries")
    issued_real = result.pe_count("entries") - issued_padding
    stored = _stored_per_pe(layer, result.spec)
    width = 0.45 if stored is not None else 0.9
    shift = width / 2 if stored is not None else 0.0
    panel.bar(pes - shift, issued_real, width=width, color="tab:blue", label="issued")
    panel.bar(pes - shift, issued_padding, bottom=issued_real, width=width, color="white",
              edgecolor="tab:blue", hatch="///", label="issued padding")
    if stored is not None:
        real, padding = stored
        panel.bar(pes + shift, real, width=width, color="tab:orange", label="stored")
        panel.bar(pes + shift, padding, bottom=real, width=width, color="white",
                  edgecolor="tab:orange", hatch="\\\\", label="stored padding")
    panel.set_xlabel("PE")
    panel.set_ylabel("entries")
    panel.set_title(f"{name}entries per PE (padding hatched)", fontsize="medium")
    panel.legend(fontsize="small", ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2))


def _energy_bars(panel: Any, report: Any, name: str) -> None:
    by_unit = dict(sorted(report.by_unit.items(), key=lambda item: -item[1]))
    unit, size = energy_unit(max(by_unit.values(), default=0.0))
    panel.barh(list(by_unit), [value / size for value in by_unit.values()], color="tab:purple")
    panel.invert_yaxis()
    panel.set_xlabel(f"energy ({unit})")
    total_unit, total_size = energy_unit(report.energy_j)
    panel.set_title(f"{name}energy per unit (total {report.energy_j / total_size:.3g} "
                    f"{total_unit})", fontsize="medium")


def _occupancy_map(figure: Any, panel: Any, occupancy: Any) -> None:
    matrix = occupancy.matrix()
    image = panel.imshow(matrix, aspect="auto", interpolation="nearest", cmap="viridis",
                         origin="lower")
    panel.set_xlabel("cycle")
    panel.set_ylabel("PE")
    panel.set_title("activation queue occupancy (reference engine)", fontsize="medium")
    figure.colorbar(image, ax=panel, label="entries")


def _layer_shares(panel: Any, layers: list[Any], reports: list[Any]) -> None:
    import numpy as np

    cycles = np.array([layer.cycles for layer in layers], dtype=float)
    energies = np.array([report.energy_j for report in reports], dtype=float)
    positions = np.arange(len(layers))
    panel.bar(positions - 0.2, 100 * cycles / cycles.sum(), width=0.4, label="cycles")
    panel.bar(positions + 0.2, 100 * energies / energies.sum(), width=0.4, label="energy")
    panel.set_xticks(positions, [f"layer {index}" for index in positions])
    panel.set_ylabel("share of the network (%)")
    panel.set_title("each layer's share of the total", fontsize="medium")
    panel.legend(fontsize="small")
