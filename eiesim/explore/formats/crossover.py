"""Expected storage against density from the formulas, the densities where one format overtakes
another, and the figure (docs/formats.md §2).

A rows x columns matrix (no bias) whose positions are each non-zero with probability p (density)
holds m = p n non-zeros, n = rows x columns, and each format's expected bits follow from the
definitions of :mod:`eiesim.explore.formats.bits`:

* dense ``n w``; bitmap ``m w + n``; coo ``m (w + ceil(log2 n))``;
* csr ``m (w + ceil(log2 columns)) + (rows + 1) ceil(log2 (m + 1))``; csc the same transposed;
* delta ``m (w + E[ceil(log2 (g + 1))])`` with g the largest gap: each gap reaches g zeros
  with probability (1 - p)**g, so the largest does with about 1 - (1 - (1 - p)**g)**m;
* padded ``(m + P) (w + b)``: a non-zero at position i (0-based) of a run of L positions is
  preceded by a gap of at least g zeros with probability (1 - p)**g for g <= i, so the expected
  padding entries of the run are ``P(L) = p sum_{j >= 1} (1 - p)**(j R) (L - j R)`` over
  ``j R <= L - 1``, R = 2**b (a closed geometric sum; L = n for the flattened matrix);
* eie: ``P(L)`` summed over every PE's slice of every column of every output batch (slices of
  ceil or floor of rows / num_pes rows, cut into batches of the destination registers), plus
  batches x num_pes x (padded columns + 1) pointers of the spec's width. The alignment of each
  PE's entries to SRAM lines (less than one line per PE and batch) is left out.

w is the value width, b the zero-padded index width. These are expectations: an exact count on
one random layer differs by the sampling noise of m and of the largest gap.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from eiesim.explore.formats.bits import (
    FORMATS,
    StorageFormatError,
    bits_for,
    check_format,
    check_index_bits,
    value_width,
)
from eiesim.spec import DEFAULT_SPEC, HardwareSpec

BISECTION_STEPS = 60
"""Halvings of a crossover's bracket in log density (far below any grid step)."""


def check_densities(densities: Any) -> np.ndarray:
    """Densities as a float array, each in [0, 1]."""
    array = np.atleast_1d(np.asarray(densities, dtype=np.float64))
    bad = array[~((array >= 0) & (array <= 1))]
    if bad.size:
        raise StorageFormatError(f"density {float(bad[0])!r} is outside [0, 1]; a density is the "
                                 f"share of non-zero weights, e.g. 0.1 for 10 %")
    return array


def _check_shape(rows: int, columns: int) -> tuple[int, int]:
    if int(rows) < 1 or int(columns) < 1:
        raise StorageFormatError(f"shape {rows} x {columns}: a matrix needs at least one row "
                                 f"and one column")
    return int(rows), int(columns)


def expected_padding(length: int, density: np.ndarray, index_bits: int) -> np.ndarray:
    """Expected padding entries of one run of ``length`` positions (docstring: P(L)).

    >>> brute = 0.5 * sum(0.5 ** (4 * j) * (40 - 4 * j) for j in range(1, 10))
    >>> bool(np.isclose(expected_padding(40, np.array([0.5]), 2)[0], brute))
    True
    """
    run = 1 << index_bits
    last = (int(length) - 1) // run  # J: the largest j with j R <= L - 1
    p = np.asarray(density, dtype=np.float64)
    if last < 1:
        return np.zeros_like(p)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_x = run * np.log1p(-np.minimum(p, 1.0))  # -inf at p = 1
        x = np.exp(log_x)
        one_minus_x = -np.expm1(log_x)
        x_last = np.exp(last * log_x)
        s0 = x * (1 - x_last) / one_minus_x
        s1 = x * (1 - (last + 1) * x_last + last * x_last * x) / one_minus_x ** 2
        total = p * (length * s0 - run * s1)
    return np.where((p > 0) & (p < 1), np.maximum(total, 0.0), 0.0)


def expected_delta_width(positions: int, density: np.ndarray) -> np.ndarray:
    """Expected width of the delta format's index: the bits of the largest of m = p n gaps.

    Each gap reaches g zeros with probability (1 - p)**g, so the largest reaches g with
    probability about 1 - (1 - (1 - p)**g)**m, and the width is at least w >= 2 exactly when
    the largest gap reaches 2**(w - 1): E[width] = 1 + sum over w >= 2 of that probability.

    >>> [round(float(v), 2) for v in expected_delta_width(10**6, np.array([1.0, 0.5, 0.01]))]
    [1.0, 5.0, 10.29]
    """
    p = np.minimum(np.asarray(density, dtype=np.float64), 1.0)
    m = p * positions
    width = np.ones_like(p)
    with np.errstate(divide="ignore"):
        log_q = np.log1p(-p)  # -inf at p = 1: no gap at all
    for bits in range(2, bits_for(positions - 1) + 1):
        reach = np.exp((1 << (bits - 1)) * log_q)  # (1 - p)**g, g = 2**(bits - 1)
        # 1 - (1 - reach)**m, accurate when reach is tiny and m large
        width += np.where(m > 0, -np.expm1(m * np.log1p(-np.minimum(reach, 1 - 1e-16))), 0.0)
    return width


def _eie_runs(rows: int, spec: HardwareSpec, output_batches: bool) -> tuple[dict[int, int], int]:
    """Lengths of every PE's slice of one column, per batch ({length: count}), and batches."""
    n = spec.num_pes
    per_pe = [(rows - pe + n - 1) // n for pe in range(min(n, rows))]
    largest = max(per_pe)
    batch_rows = spec.act_regs_per_file if output_batches and largest > \
        spec.act_regs_per_file else largest
    runs: dict[int, int] = {}
    for count in per_pe:
        for start in range(0, count, batch_rows):
            length = min(batch_rows, count - start)
            runs[length] = runs.get(length, 0) + 1
    return runs, -(-largest // batch_rows)


def expected_parts(fmt: str, densities: Any, rows: int, columns: int,
                   spec: HardwareSpec = DEFAULT_SPEC, *, values: str = "codebook",
                   index_bits: int | None = None,
                   output_batches: bool = True) -> dict[str, np.ndarray]:
    """Expected value, index and pointer bits and padding entries of format ``fmt`` for a
    ``rows`` x ``columns`` matrix at each density (see the module docstring)."""
    check_format(fmt)
    p = check_densities(densities)
    rows, columns = _check_shape(rows, columns)
    b = check_index_bits(spec.rel_index_bits if index_bits is None else index_bits)
    w = value_width(values, spec)
    n = rows * columns
    m = p * n
    zero = np.zeros_like(p)
    pointer_width = np.array([bits_for(int(round(v))) for v in m], dtype=np.float64)
    padding = zero
    pointers = zero
    if fmt == "dense":
        value, index = np.full_like(p, n * w), zero
    elif fmt == "bitmap":
        value, index = m * w, np.full_like(p, n)
    elif fmt == "coo":
        value, index = m * w, m * bits_for(n - 1)
    elif fmt in ("csr", "csc"):
        indexed, pointed = (columns, rows) if fmt == "csr" else (rows, columns)
        value, index = m * w, m * bits_for(indexed - 1)
        pointers = (pointed + 1) * pointer_width
    elif fmt == "delta":
        value, index = m * w, m * expected_delta_width(n, p)
    elif fmt == "padded":
        padding = expected_padding(n, p, b)
        value, index = (m + padding) * w, (m + padding) * b
    else:
        runs, batches = _eie_runs(rows, spec, output_batches)
        padding = columns * sum(count * expected_padding(length, p, b)
                                for length, count in runs.items())
        value, index = (m + padding) * w, (m + padding) * b
        padded_columns = -(-columns // spec.num_pes) * spec.num_pes
        # Every PE holds its pointers, also one without a row.
        pointers = np.full_like(p, batches * spec.num_pes * (padded_columns + 1)
                                * spec.pointer_bits)
    return {"value_bits": value, "index_bits": index, "pointer_bits": pointers,
            "padding_entries": padding, "nonzeros": m}


def expected_bits(fmt: str, densities: Any, rows: int, columns: int,
                  spec: HardwareSpec = DEFAULT_SPEC, **options: Any) -> np.ndarray:
    """Expected total bits of format ``fmt`` at each density (:func:`expected_parts`)."""
    parts = expected_parts(fmt, densities, rows, columns, spec, **options)
    return parts["value_bits"] + parts["index_bits"] + parts["pointer_bits"]


def density_grid(rows: int, columns: int, points: int = 241) -> np.ndarray:
    """Log-spaced densities from one non-zero in the matrix to a full matrix."""
    rows, columns = _check_shape(rows, columns)
    return np.geomspace(1.0 / (rows * columns), 1.0, points)


def expected_table(rows: int, columns: int, spec: HardwareSpec = DEFAULT_SPEC, *,
                   densities: Any = None, formats: tuple[str, ...] = FORMATS,
                   **options: Any) -> Any:
    """A tidy DataFrame of every format's expected bits at each density: density, format,
    nonzeros, bits, value_bits, index_bits, pointer_bits, padding_entries, bits_per_nonzero."""
    import pandas as pd

    p = density_grid(rows, columns) if densities is None else check_densities(densities)
    frames = []
    for fmt in formats:
        parts = expected_parts(fmt, p, rows, columns, spec, **options)
        bits = parts["value_bits"] + parts["index_bits"] + parts["pointer_bits"]
        with np.errstate(divide="ignore", invalid="ignore"):
            per = np.where(parts["nonzeros"] > 0, bits / parts["nonzeros"], np.inf)
        frames.append(pd.DataFrame({"density": p, "format": fmt, **parts, "bits": bits,
                                    "bits_per_nonzero": per}))
    return pd.concat(frames, ignore_index=True)


def _refine(first: str, second: str, low: float, high: float, rows: int, columns: int,
            spec: HardwareSpec, options: dict[str, Any]) -> float:
    """The density in [low, high] where first - second changes sign (bisection in log p)."""
    def difference(p: float) -> float:
        return float(expected_bits(first, [p], rows, columns, spec, **options)[0]
                     - expected_bits(second, [p], rows, columns, spec, **options)[0])

    sign_low = np.sign(difference(low))
    for _ in range(BISECTION_STEPS):
        middle = float(np.sqrt(low * high))
        if np.sign(difference(middle)) == sign_low:
            low = middle
        else:
            high = middle
    return float(np.sqrt(low * high))


def sign_changes(sign: np.ndarray) -> np.ndarray:
    """Indices where a sequence of signs turns from one non-zero sign to the other; a tie (0)
    between two equal signs is no change, and a change through ties counts where the new sign
    first appears.

    >>> sign_changes(np.array([1, 0, 1, 0, -1, -1, 1])).tolist()
    [4, 6]
    """
    at = np.flatnonzero(sign)
    return at[1:][sign[at[1:]] != sign[at[:-1]]]


def crossovers(rows: int, columns: int, spec: HardwareSpec = DEFAULT_SPEC, *,
               densities: Any = None, formats: tuple[str, ...] = FORMATS,
               **options: Any) -> Any:
    """Every density at which one format overtakes another, from the formulas: a DataFrame of
    density, smaller_below (the format with fewer bits just below it), smaller_above, and
    grid_step (the index of the grid density just above it). Sign changes are found on the
    density grid (default :func:`density_grid`) and refined by bisection."""
    import pandas as pd

    p = density_grid(rows, columns) if densities is None else np.sort(check_densities(densities))
    p = p[p > 0]
    bits = {fmt: expected_bits(fmt, p, rows, columns, spec, **options) for fmt in formats}
    found = []
    for first, second in itertools.combinations(formats, 2):
        sign = np.sign(bits[first] - bits[second])
        for step in sign_changes(sign):
            low = step - 1
            while sign[low] == 0:  # bracket from the last grid point that was not a tie
                low -= 1
            density = _refine(first, second, p[low], p[step], rows, columns, spec, options)
            below, above = (first, second) if sign[step] > 0 else (second, first)
            found.append({"density": density, "smaller_below": below, "smaller_above": above,
                          "grid_step": int(step)})
    return pd.DataFrame(found, columns=["density", "smaller_below", "smaller_above",
                                        "grid_step"]).sort_values("density",
                                                                  ignore_index=True)


def best_regions(rows: int, columns: int, spec: HardwareSpec = DEFAULT_SPEC, *,
                 densities: Any = None, formats: tuple[str, ...] = FORMATS,
                 **options: Any) -> Any:
    """The density ranges in which each format takes the fewest bits: a DataFrame of format,
    density_from, density_to (bounds refined by bisection), from the formulas."""
    import pandas as pd

    p = density_grid(rows, columns) if densities is None else np.sort(check_densities(densities))
    p = p[p > 0]
    table = np.vstack([expected_bits(fmt, p, rows, columns, spec, **options)
                       for fmt in formats])
    best = np.argmin(table, axis=0)
    regions, start = [], float(p[0])
    for step in range(1, p.size + 1):
        if step < p.size and best[step] == best[step - 1]:
            continue
        end = float(p[-1]) if step == p.size else _refine(
            formats[best[step - 1]], formats[best[step]], p[step - 1], p[step], rows, columns,
            spec, options)
        regions.append({"format": formats[best[step - 1]], "density_from": start,
                        "density_to": end})
        start = end
    return pd.DataFrame(regions)
