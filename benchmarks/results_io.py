"""The suite's results as text, CSV, JSON and PNG.

Every file names what produced it: the JSON holds the command, the machine (CPU, cores, load,
versions, git revision) and the date; the text table ends with them; the PNG's footer names
the machine, date and revision.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.config import HIGHER_IS_BETTER, BenchResult

COLUMN_DOCS: dict[str, str] = {
    "layer": "paper layer name (synthetic), or 'Alex-8 (real)' for the shipped real layer",
    "kind": "synthetic (seeded, paper's shape and densities) or real",
    "in_geomean": "row counts in the geometric means (the nine paper layers)",
    "spec_changes": "changes from the default design point needed for the layer to fit",
    "cycles": "eiesim cycles (fast engine)",
    "eie_time_us": "cycles / 800 MHz",
    "load_efficiency": "sum of PE busy cycles / (PEs x cycles)",
    "energy_uj": "eiesim energy model, microjoules per inference",
    "power_w": "energy / time",
    "dense_acc_cycles": "ceil(out / 64) x in: same 64 PEs, one MAC per PE per cycle, dense",
    "work_reduction": "out x in / MACs done: the ideal speedup over the dense accelerator",
    "dense_acc_energy_uj": "the energy model's dense baseline (dense weights from DRAM)",
    "cpu_dense_us": "numpy float32 W @ a on this machine, median",
    "cpu_sparse_us": "scipy.sparse CSR float32 W @ a on this machine, median",
    "cpu_dense_b64_us": "numpy float32 W @ A, A with 64 columns, median / 64",
    "cpu_dense_all_threads_us": "cpu_dense_us with BLAS's default thread count",
    "paper_*_us": "the paper's Table IV (i7-5930K MKL, Titan X cuBLAS/cuSPARSE, EIE actual)",
    "speedup_vs_*": "baseline time / eiesim EIE time",
    "paper_speedup_vs_*": "the paper's baseline time / the paper's EIE time",
    "sim_time_vs_paper_eie": "eiesim EIE time / the paper's EIE actual time",
    "cpu_dense_vs_paper_cpu_dense": "this machine's dense time / the paper's CPU dense time",
    "sim_wall_ms": "fast engine wall time (SimResult.wall_time_s), median, warm",
    "sim_wall_min_ms": "fastest of those runs (least disturbed by other processes)",
    "sim_cycles_per_s": "simulated cycles per wall-clock second, fast engine",
    "simulate_call_ms": "whole eiesim.simulate() call, median, warm",
    "ref_wall_s": "reference (SimPy) engine wall time, median",
    "ref_agrees": "reference engine gave identical cycles, counters and outputs",
    "ref_error": "the reference engine's exception, if it raised one (empty otherwise)",
    "encode_ms": "eiesim.encode, median",
    "encode_elems_per_s": "dense elements (out x in) encoded per second",
}

DISPLAY_COLUMNS = {
    "layer": "layer",
    "shape": "out x in",
    "spec_changes": "spec changes",
    "cycles": "cycles",
    "eie_time_us": "EIE µs",
    "paper_eie_us": "paper µs",
    "load_efficiency": "load eff",
    "energy_uj": "energy µJ",
    "speedup_vs_dense_acc": "× dense acc",
    "cpu_dense_us": "CPU dense µs",
    "cpu_sparse_us": "CPU CSR µs",
    "speedup_vs_cpu_dense": "× CPU dense",
    "speedup_vs_cpu_sparse": "× CPU CSR",
    "speedup_vs_cpu_dense_b64": "× CPU b64",
    "paper_speedup_vs_cpu_dense": "paper × CPU",
    "sim_wall_ms": "sim ms",
    "ref_wall_s": "ref s",
    "encode_ms": "encode ms",
}


def format_table(result: BenchResult) -> str:
    """The per-layer table, geometric means, targets, start-up and sweep rows as text."""
    import pandas as pd

    table = result.table.copy()
    table["shape"] = [f"{o} x {i}" for o, i in zip(table["out_features"], table["in_features"])]
    columns = [c for c in DISPLAY_COLUMNS if c in table]
    shown = table[columns].rename(columns=DISPLAY_COLUMNS)
    formats = {"EIE µs": "{:.2f}", "paper µs": "{:.1f}", "load eff": "{:.1%}",
               "energy µJ": "{:.3f}", "CPU dense µs": "{:.1f}", "CPU CSR µs": "{:.1f}",
               "sim ms": "{:.2f}", "ref s": "{:.2f}", "encode ms": "{:.1f}"}
    for column in shown:
        if column in formats:
            shown[column] = [("" if pd.isna(v) else formats[column].format(v))
                             for v in shown[column]]
        elif column.startswith("×") or column.startswith("paper ×"):
            shown[column] = [("" if pd.isna(v) else f"{v:,.1f}") for v in shown[column]]
    lines = [shown.to_string(index=False), ""]
    summary = result.summary
    if summary.get("note"):
        lines.append(f"NOTE: {summary['note']}")
    lines.append("geometric means over " + ", ".join(summary["geomean_over"]) + ":")
    for name, value in summary["geomeans"].items():
        lines.append(f"  {name:34s} {value:10.3f}")
    lines.append("targets:")
    for target in summary["targets"]:
        status = {True: "MET", False: "NOT MET", None: "n/a"}[target["met"]]
        best = target["best_run"]
        best_text = f"best run {best:.3f}" if math.isfinite(best) else ""
        bound = ">" if target["name"] in HIGHER_IS_BETTER else "<"
        lines.append(f"  {target['name']:34s} {target['measured']:10.3f} {target['unit']:2s} "
                     f"({bound} {target['limit']:g})  {status:7s} {best_text}  {target['note']}")
    lines.extend(_speed_lines(summary))
    lines.append(f"suite wall time {summary['suite_wall_s']:.1f} s; command {result.command!r}; "
                 f"{result.machine['date_utc']}; machine {result.machine['cpu_model']}, "
                 f"{result.machine['usable_cores']} cores; load average "
                 f"{result.machine['load_average_start']} -> "
                 f"{result.machine.get('load_average_end')}; eiesim "
                 f"{result.machine['eiesim']} ({result.machine['git_revision']})")
    return "\n".join(lines)


def _speed_lines(summary: dict[str, Any]) -> list[str]:
    """Encoding memory, CLI start-up and sweep throughput, one line each."""
    lines = []
    memory = summary.get("encode_memory") or {}
    if "tracemalloc_peak_bytes" in memory:
        lines.append(f"encode memory ({memory['layer']} {memory['shape'][0]} x "
                     f"{memory['shape'][1]}): tracemalloc peak "
                     f"{memory['tracemalloc_peak_bytes'] / 2**20:.0f} MiB, process peak RSS "
                     f"{memory['peak_rss_bytes'] / 2**20:.0f} MiB (RSS before encoding "
                     f"{memory['rss_before_bytes'] / 2**20:.0f} MiB)")
    elif memory.get("error"):
        lines.append(f"encode memory: failed: {memory['error']}")
    bytecode = (summary.get("cli_startup") or {}).get("bytecode")
    if bytecode:
        lines.append("CLI start-up: eiesim's bytecode compiled before timing, as an installed "
                     "package has it"
                     + (" (PYTHONDONTWRITEBYTECODE is set here: without this every run would "
                        "compile eiesim's sources)" if bytecode["pythondontwritebytecode"]
                        else ""))
    for key, label in (("help", "eiesim --help"),
                       ("run_example", "eiesim run --example alexnet-fc8"),
                       ("imports", 'python -c "import numpy, numba"')):
        measured = (summary.get("cli_startup") or {}).get(key)
        if not measured:
            continue
        if "error" in measured:
            lines.append(f"CLI start-up, {label}: failed: {measured['error']}")
        else:
            lines.append(f"CLI start-up, {label}: median {measured['median_s']:.3f} s, best "
                         f"{measured['min_s']:.3f} s, CPU {measured['cpu_median_s']:.3f} s "
                         f"({measured['runs']} runs)")
    sweep = summary.get("sweep") or {}
    if sweep:
        lines.append(f"sweep throughput ({sweep['layer']}, {sweep['points']} points, "
                     f"{sweep['workers']} workers): {sweep['points_per_min']:,.0f} points/min "
                     f"(median {sweep['median_s']:.2f} s per sweep over {sweep['runs']} runs; "
                     f"{sweep['points_with_error']} points with an error)")
    return lines


def write_results(result: BenchResult, out_dir: str | Path, *,
                  stem: str | None = None) -> dict[str, Path]:
    """Write ``<stem>.csv``, ``<stem>.json`` and ``<stem>.png`` into ``out_dir``.

    ``stem`` defaults to ``bench`` (``bench-quick`` in quick mode, so a quick run never
    overwrites the full results).
    """
    from benchmarks.plots import plot_results

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = stem or ("bench-quick" if result.config.quick else "bench")
    paths = {"csv": out / f"{stem}.csv", "json": out / f"{stem}.json", "png": out / f"{stem}.png"}
    result.table.to_csv(paths["csv"], index=False)
    payload = finite_or_none(result.to_dict(COLUMN_DOCS))
    paths["json"].write_text(json.dumps(payload, indent=2, allow_nan=False,
                                        default=_json_default) + "\n")
    plot_results(result, paths["png"])
    return paths


def finite_or_none(value: Any) -> Any:
    """NaN and infinities become None: strict JSON has no spelling for them.

    >>> finite_or_none({"a": [1.0, float("nan")]})
    {'a': [1.0, None]}
    """
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        return None
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
