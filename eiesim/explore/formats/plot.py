"""The crossover figure: bits per non-zero against density for every format (matplotlib,
imported only when a figure is drawn)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eiesim.explore.formats.bits import FORMATS
from eiesim.explore.formats.crossover import best_regions, density_grid, expected_table
from eiesim.spec import DEFAULT_SPEC, HardwareSpec

STYLE = {"dense": ("tab:gray", "-"), "bitmap": ("tab:blue", "-"), "coo": ("tab:orange", "-"),
         "csr": ("tab:green", "-"), "csc": ("tab:olive", "--"), "delta": ("tab:purple", "-"),
         "padded": ("tab:red", "--"), "eie": ("black", "-")}


def plot_bits_per_nonzero(rows: int, columns: int, spec: HardwareSpec = DEFAULT_SPEC, *,
                          formats: Sequence[str] = FORMATS, measured: Any = None,
                          ax: Any = None, path: str | Path | None = None,
                          title: str | None = None, points: int = 241,
                          **options: Any) -> Any:
    """Expected bits per non-zero of each format against density (log-log) for a ``rows`` x
    ``columns`` matrix, with the best format's range shaded along the bottom. ``measured``: a
    :func:`~eiesim.explore.formats.table.format_table` whose exact sizes are drawn as markers.
    Draws into ``ax`` (a new figure if None), saves to ``path`` if given; returns the axes.
    ``options`` go to :func:`~eiesim.explore.formats.crossover.expected_parts` (values,
    index_bits, output_batches)."""
    formats = tuple(formats)
    grid = density_grid(rows, columns, points)
    table = expected_table(rows, columns, spec, densities=grid, formats=formats, **options)
    if ax is None:
        from eiesim.plots import require_matplotlib

        # A figure of our own, outside pyplot (no backend chosen for the caller); given axes
        # keep theirs (a notebook's inline one).
        figure_class = require_matplotlib("the formats figure")
        ax = figure_class(figsize=(7.5, 5)).subplots()
    for fmt in formats:
        part = table[table["format"] == fmt]
        color, line = STYLE[fmt]
        label = {"eie": f"eie ({spec.num_pes} PEs, {_index(spec, options)}-bit index)",
                 "padded": f"padded ({_index(spec, options)}-bit index)"}.get(fmt, fmt)
        ax.plot(part["density"], part["bits_per_nonzero"], line, color=color, label=label,
                linewidth=2.4 if fmt == "eie" else 1.4)
    regions = best_regions(rows, columns, spec, densities=grid, formats=formats, **options)
    for _, region in regions.iterrows():
        ax.axvspan(region["density_from"], region["density_to"], ymin=0, ymax=0.03,
                   color=STYLE[region["format"]][0], alpha=0.8)
    if measured is not None:
        for fmt in formats:
            part = measured[measured["format"] == fmt]
            ax.scatter(part["density"], part["bits_per_nonzero"], color=STYLE[fmt][0],
                       marker="o" if fmt != "eie" else "*", s=30 if fmt != "eie" else 90,
                       edgecolor="white", linewidth=0.5, zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    # Far below one non-zero per column the sparse formats' curves climb for decades; the
    # crossovers all lie below a few times COO's bits per non-zero.
    coo = table[table["format"] == "coo"]["bits_per_nonzero"]
    top = 4 * float(coo.iloc[-1]) if len(coo) else None
    ax.set_ylim(0.6 * float(table["bits_per_nonzero"].min()), top)
    ax.set_xlabel("density (non-zeros / positions); the bar at the bottom: best format")
    ax.set_ylabel("bits per non-zero")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize="small", ncol=2)
    ax.set_title(title or f"{rows} x {columns}, {_value(spec, options)}")
    if path is not None:
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=120)
    return ax


def _index(spec: HardwareSpec, options: dict[str, Any]) -> int:
    return options.get("index_bits") or spec.rel_index_bits


def _value(spec: HardwareSpec, options: dict[str, Any]) -> str:
    if options.get("values", "codebook") == "codebook":
        return f"{spec.weight_index_bits}-bit codebook values"
    return f"{spec.data_bits}-bit raw values"
