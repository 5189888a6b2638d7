"""The benchmark suite: what EIE buys over dense hardware and CPUs, and how fast eiesim is.

:func:`run_suite` runs the paper's nine benchmark layers (EIE Table III, as seeded synthetic
layers from :mod:`eiesim.explore.workloads`) and the real AlexNet fc8 layer through eiesim, and
returns a
:class:`~benchmarks.config.BenchResult`: a pandas DataFrame with one row per layer, a summary
(geometric means, the performance targets, encoding memory, CLI start-up, sweep throughput) and
the machine it ran on. :func:`benchmarks.results_io.write_results` saves it as CSV, JSON and a
PNG plot; ``python -m benchmarks`` (see benchmarks/README.md) does both.

Per layer, the table holds:

* **EIE, simulated** (fast engine, default design point; a layer that does not fit the 16-bit
  pointers or the 32 KB pointer SRAM gets just those enlarged, listed in ``spec_changes``):
  cycles, time, load efficiency and energy.
* **Dense accelerator**: the same PEs at the same clock computing the uncompressed layer, one
  MAC per PE per cycle (:func:`benchmarks.baselines.dense_accelerator_cycles`).
* **This machine's CPU**, measured: numpy dense ``W @ a`` (BLAS, float32), scipy CSR ``W @ a``
  (float32), both batch 1, and numpy dense at batch 64 (time per input); medians.
* **The paper's** CPU, GPU and EIE times (Table IV) beside ours.
* **Speedups** of simulated EIE over each baseline; geometric means over the nine paper layers.
* **Simulator speed**: fast-engine wall time (median after a warm-up, so numba compilation is
  excluded) and simulated cycles per second; the reference (SimPy) engine on some layers;
  encoding throughput.

Timings are medians of repeated ``time.perf_counter`` measurements; performance is measured
here, never asserted in tests. Only eiesim's public API is used.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import eiesim
from benchmarks import processes
from benchmarks.baselines import cpu_baselines, dense_accelerator_cycles
from benchmarks.config import (
    FULL_SIZE_ONLY,
    HIGHER_IS_BETTER,
    MEMORY_LAYER,
    RATIO_COLUMNS,
    REAL_LAYER,
    SPEEDUP_COLUMNS,
    TARGETS,
    BenchConfig,
    BenchResult,
    geomean,
    timed_samples,
)
from benchmarks.machine import load_average, machine_info
from eiesim.energy import energy_report
from eiesim.explore import catalog, workloads
from eiesim.format import files as io


def fitting_spec(layer: Any, base: Any) -> tuple[Any, str]:
    """The design point ``base`` with just the memories and pointer width that ``layer`` (an
    :class:`~eiesim.EncodedLayer`) exceeds enlarged, by :func:`eiesim.format.capacity.fit_memories`
    (the
    mechanism of ``--fit-memories``), and a note of the change (``"none"`` if it already fits).
    Among the paper's layers only the pointers of Alex-6 and VGG-6 need it."""
    from eiesim.format.capacity import fit_memories

    spec, changes = fit_memories(layer, base)
    note = ", ".join(f"{name} {getattr(base, name)}->{value}" for name, value in changes.items())
    return spec, note or "none"


def _workloads(config: BenchConfig) -> Iterator[tuple[str, Any, Any, str]]:
    """(row name, layer data, the paper's row, kind) for the nine paper layers and the real one,
    generated one at a time (VGG-6 alone is 100 MB of codes)."""
    for paper in workloads.PAPER_LAYERS:
        data = workloads.synthetic_layer(paper.name, seed=config.seed, scale=config.scale)
        yield paper.name, data, paper, "synthetic"
        if paper.name == "Alex-8":
            yield REAL_LAYER, io.load_layer(catalog.example_path("alexnet-fc8")), paper, "real"


def _simulate_row(name: str, data: Any, paper: Any, kind: str, config: BenchConfig,
                  progress: Callable[[str], None]) -> dict[str, Any]:
    base = eiesim.HardwareSpec()
    out_features, in_features = data.codes.shape
    repeat = dict(min_repeats=config.min_repeats, min_time_s=config.min_time_s,
                  max_repeats=config.max_repeats)

    def encode(spec: Any) -> Any:
        return eiesim.encode(data.codes, data.codebook, data.bias_codes, spec=spec,
                             check_capacity=False)  # fitted to the spec below

    layer = encode(base)
    spec, changes = fitting_spec(layer, base)  # encoding does not depend on the pointer fields
    encode_times, layer = timed_samples(lambda: encode(spec), warmup=0, min_repeats=max(
        1, config.encode_min_repeats), min_time_s=config.min_time_s,
        max_repeats=config.max_repeats)

    # Warm-up (numba compilation or cache load), then time the engine alone (wall_time_s) and
    # the whole simulate() call (input preparation and the float reference included).
    walls: list[float] = []

    def simulate_once() -> Any:
        sim = eiesim.simulate(layer, data.activations, spec)
        walls.append(sim.wall_time_s)
        return sim

    calls, result = timed_samples(simulate_once, **repeat)
    del walls[0]  # the warm-up run
    sim_wall_s = statistics.median(walls)

    row: dict[str, Any] = {
        "layer": name, "kind": kind, "in_geomean": kind == "synthetic",
        "source": data.source, "out_features": out_features, "in_features": in_features,
        "weight_density": float(np.count_nonzero(data.codes)) / data.codes.size,
        # T13 re-broadcasts the input once per output batch
        "activation_density": (result.broadcasts / result.output_batches - int(layer.has_bias))
        / in_features,
        "spec_changes": changes, "pointer_bits": spec.pointer_bits,
        "ptr_sram_bytes": spec.ptr_sram_bytes,
        "cycles": result.cycles, "eie_time_us": result.time_s * 1e6,
        "load_efficiency": result.load_efficiency, "mac_utilization": result.mac_utilization,
        "issued_entries": result.issued_entries,
        "issued_padding_entries": result.issued_padding_entries,
        "stored_entries": result.stored_entries,
        "stored_padding_entries": result.stored_padding_entries, "macs": result.macs,
    }
    dense_cycles = dense_accelerator_cycles(out_features, in_features, spec.num_pes)
    row["dense_acc_cycles"] = dense_cycles
    # What sparsity removes: dense MACs over the MACs EIE does (its ideal speedup over the dense
    # accelerator, before padding, load imbalance and scan cycles).
    row["work_reduction"] = out_features * in_features / max(result.macs, 1)
    row["dense_acc_time_us"] = dense_cycles / spec.clock_hz * 1e6
    energy = energy_report(result)
    row["energy_uj"] = energy.energy_j * 1e6
    row["power_w"] = energy.energy_j / result.time_s
    row["dense_acc_energy_uj"] = energy.dense_baseline_j * 1e6

    progress(f"{name}: CPU baselines")
    row.update(cpu_baselines(data.codes, data.codebook, data.activations, config=config))
    for field_name in ("cpu_dense", "cpu_sparse", "gpu_dense", "gpu_sparse"):
        row[f"paper_{field_name}_us"] = getattr(paper, f"{field_name}_us")
    row["paper_eie_us"] = paper.eie_actual_us
    row["paper_eie_theoretical_us"] = paper.eie_theoretical_us

    row["sim_wall_ms"] = sim_wall_s * 1e3
    row["sim_wall_min_ms"] = min(walls) * 1e3  # the least disturbed run, for noisy machines
    row["sim_cycles_per_s"] = result.cycles / sim_wall_s
    row["sim_repeats"] = len(walls)
    row["simulate_call_ms"] = statistics.median(calls) * 1e3
    row["encode_ms"] = statistics.median(encode_times) * 1e3
    row["encode_elems_per_s"] = out_features * in_features / statistics.median(encode_times)
    row["encode_repeats"] = len(encode_times)
    row.update(_reference_columns(name, layer, data, spec, result, config, progress))
    return row


def _reference_columns(name: str, layer: Any, data: Any, spec: Any, fast: Any,
                       config: BenchConfig, progress: Callable[[str], None]) -> dict[str, Any]:
    """Wall time of the reference engine and whether it agrees with the fast one exactly.

    An exception from the reference engine is recorded in ``ref_error`` instead of ending a
    run of several minutes; the test of the suite fails on any recorded error.
    """
    columns: dict[str, Any] = {"ref_wall_s": math.nan, "ref_cycles_per_s": math.nan,
                               "ref_agrees": None, "ref_error": ""}
    if name not in config.reference_layers:
        return columns
    progress(f"{name}: reference engine ({config.reference_repeats} run(s))")
    try:
        ref_walls = []
        for _ in range(max(1, config.reference_repeats)):
            reference = eiesim.simulate(layer, data.activations, spec, engine="reference")
            ref_walls.append(reference.wall_time_s)
    except Exception as error:
        columns["ref_error"] = f"{type(error).__name__}: {error}"
        return columns
    columns["ref_wall_s"] = statistics.median(ref_walls)
    columns["ref_cycles_per_s"] = reference.cycles / columns["ref_wall_s"]
    columns["ref_agrees"] = bool(
        reference.cycles == fast.cycles
        and np.array_equal(reference.pe_counts, fast.pe_counts)
        and np.array_equal(reference.ccu_counts, fast.ccu_counts)
        and np.array_equal(reference.outputs, fast.outputs))
    return columns


def _add_ratios(table: Any) -> None:
    eie = table["eie_time_us"]
    table["speedup_vs_dense_acc"] = table["dense_acc_time_us"] / eie
    table["speedup_vs_cpu_dense"] = table["cpu_dense_us"] / eie
    table["speedup_vs_cpu_sparse"] = table["cpu_sparse_us"] / eie
    table["speedup_vs_cpu_dense_b64"] = table["cpu_dense_b64_us"] / eie
    for base in ("cpu_dense", "cpu_sparse", "gpu_dense", "gpu_sparse"):
        table[f"speedup_vs_paper_{base}"] = table[f"paper_{base}_us"] / eie
    table["paper_speedup_vs_cpu_dense"] = table["paper_cpu_dense_us"] / table["paper_eie_us"]
    table["paper_speedup_vs_gpu_dense"] = table["paper_gpu_dense_us"] / table["paper_eie_us"]
    table["sim_time_vs_paper_eie"] = eie / table["paper_eie_us"]
    table["cpu_dense_vs_paper_cpu_dense"] = table["cpu_dense_us"] / table["paper_cpu_dense_us"]
    table["energy_savings_vs_dense_acc"] = table["dense_acc_energy_uj"] / table["energy_uj"]


def _warm_up_engines(progress: Callable[[str], None], reference: bool) -> None:
    """Compile (or load from numba's cache) the fast engine, import the reference engine."""
    data = workloads.synthetic_layer("Alex-8", seed=0, scale=0.02)
    spec = eiesim.HardwareSpec()
    layer = eiesim.encode(data.codes, data.codebook, data.bias_codes, spec=spec)
    start = time.perf_counter()
    eiesim.simulate(layer, data.activations, spec)
    progress(f"fast engine warm-up (numba compile or cache load): "
             f"{time.perf_counter() - start:.2f} s")
    if reference:
        eiesim.simulate(layer, data.activations, spec, engine="reference")


def run_suite(config: BenchConfig | None = None, *, command: str = "",
              progress: Callable[[str], None] | None = None) -> BenchResult:
    """Run the whole suite (see the module docstring) and return its table and summary.

    ``progress`` receives one line per step (``python -m benchmarks`` prints them to stderr);
    nothing is printed otherwise.
    """
    import pandas as pd

    config = config or BenchConfig()
    say = progress or (lambda message: None)
    started = time.perf_counter()
    machine = machine_info()
    _warm_up_engines(say, reference=bool(config.reference_layers))

    rows = []
    memory: dict[str, Any] = {}
    for name, data, paper, kind in _workloads(config):
        say(f"{name}: {data.codes.shape[0]} x {data.codes.shape[1]}, encode + simulate")
        row = _simulate_row(name, data, paper, kind, config, say)
        rows.append(row)
        if name == MEMORY_LAYER and config.memory_probe:
            say(f"{name}: peak memory of encoding (separate process)")
            spec = eiesim.HardwareSpec(pointer_bits=row["pointer_bits"],
                                       ptr_sram_bytes=row["ptr_sram_bytes"])
            memory = {"layer": name, "shape": list(data.codes.shape),
                      **processes.measure_encode_memory(data, spec)}
    table = pd.DataFrame(rows)
    _add_ratios(table)

    cli_startup: dict[str, Any] = {}
    if config.cli_runs > 0:
        say(f"eiesim --help and eiesim run --example alexnet-fc8: {config.cli_runs} timed "
            f"process runs each")
        cli_startup = processes.measure_cli_startup(config.cli_runs)
    sweep: dict[str, Any] = {}
    if config.sweep_runs > 0:
        say(f"sweep throughput: {config.sweep_points} points on fc8, {config.sweep_workers} "
            f"workers, {config.sweep_runs} timed run(s)")
        sweep = processes.measure_sweep_throughput(config)

    machine["load_average_end"] = load_average()
    summary = summarize(table, config, cli_startup=cli_startup, memory=memory, sweep=sweep)
    summary["suite_wall_s"] = time.perf_counter() - started
    return BenchResult(table=table, summary=summary, machine=machine, config=config,
                       command=command)


def summarize(table: Any, config: BenchConfig, *, cli_startup: dict[str, Any],
              memory: dict[str, Any], sweep: dict[str, Any]) -> dict[str, Any]:
    """Geometric means over the nine paper layers, the targets, memory, CLI start-up and
    sweep throughput."""
    paper_rows = table[table["in_geomean"].astype(bool)]
    geomeans = {}
    for column in SPEEDUP_COLUMNS + RATIO_COLUMNS:
        if column in paper_rows and paper_rows[column].notna().any():
            geomeans[column] = geomean(paper_rows[column])
    full_size = config.scale == 1.0
    note = "" if full_size else f"quick mode: layers at scale {config.scale:g}, not the paper's"

    real = table[table["layer"] == REAL_LAYER]
    vgg6 = table[table["layer"] == MEMORY_LAYER]
    cli = cli_startup.get("run_example", {})
    help_run = cli_startup.get("help", {})
    imports = cli_startup.get("imports", {})

    def first(rows: Any, column: str, scale: float = 1.0) -> float:
        return float(rows[column].iloc[0]) * scale if len(rows) else math.nan

    codes_bytes = memory.get("input_codes_bytes") or math.nan
    measured = {
        "fast_engine_alexnet_fc8_ms": first(real, "sim_wall_ms"),
        "simulate_overhead_alexnet_fc8_ms": first(real, "simulate_call_ms")
        - first(real, "sim_wall_ms"),
        "encode_alexnet_fc8_ms": first(real, "encode_ms"),
        "encode_vgg6_s": first(vgg6, "encode_ms", 1e-3),
        "encode_peak_vs_codes": float(memory.get("tracemalloc_peak_bytes", math.nan))
        / codes_bytes,
        "nine_layers_encode_and_simulate_s": float(
            (paper_rows["encode_ms"] + paper_rows["simulate_call_ms"]).sum() / 1e3),
        "sweep_points_per_min": float(sweep.get("points_per_min", math.nan)),
        "cli_example_s": float(cli.get("median_s", math.nan)),
        "cli_help_s": float(help_run.get("median_s", math.nan)),
        "cli_example_vs_imports": float(cli.get("median_s", math.nan))
        / float(imports.get("median_s", math.nan)),
    }
    best = {  # the least disturbed run: shows how much of a miss is the machine's noise
        "fast_engine_alexnet_fc8_ms": first(real, "sim_wall_min_ms"),
        "cli_example_s": float(cli.get("min_s", math.nan)),
        "cli_help_s": float(help_run.get("min_s", math.nan)),
        "cli_example_vs_imports": float(cli.get("min_s", math.nan))
        / float(imports.get("min_s", math.nan)),
        "sweep_points_per_min": 60.0 * sweep["points"] / sweep["min_s"] if sweep.get("min_s")
        else math.nan,
    }
    targets = []
    for name, (limit, unit, what) in TARGETS.items():
        value = measured[name]
        applies = full_size or name not in FULL_SIZE_ONLY
        better = value > limit if name in HIGHER_IS_BETTER else value < limit
        met = bool(better) if applies and math.isfinite(value) else None
        targets.append({"name": name, "what": what, "limit": limit, "unit": unit,
                        "measured": value, "best_run": best.get(name, math.nan), "met": met,
                        "note": "" if applies else note})
    return {
        "geomean_over": list(paper_rows["layer"]),
        "geomeans": geomeans,
        "targets": targets,
        "nine_layers_encode_s": float(paper_rows["encode_ms"].sum() / 1e3),
        "nine_layers_simulate_call_s": float(paper_rows["simulate_call_ms"].sum() / 1e3),
        "nine_layers_fast_engine_s": float(paper_rows["sim_wall_ms"].sum() / 1e3),
        "encode_memory": memory,
        "cli_startup": cli_startup,
        "sweep": sweep,
        "note": note,
    }
