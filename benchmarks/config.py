"""What the suite runs (:class:`BenchConfig`), what it returns (:class:`BenchResult`), its
targets, and the small pure helpers every part of the harness shares.

>>> round(geomean([2.0, 8.0]), 12)
4.0
>>> BenchConfig.quick_mode().scale
0.0625
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

SCHEMA_VERSION = 4
"""Version of bench.json. 4: ``cli_startup`` gained ``bytecode`` (eiesim's bytecode is
compiled before the command is timed); 3: ``cli_startup`` gained ``imports`` and the targets
``cli_example_vs_imports``; 2: the summary gained ``sweep`` and ``cli_startup``; 1 had
neither."""

REAL_LAYER = "Alex-8 (real)"
"""Row name of the real AlexNet fc8 layer shipped with eiesim."""
MEMORY_LAYER = "VGG-6"
"""The largest paper layer (25088 x 4096): its encoding's peak memory is measured."""
SWEEP_LAYER = "alexnet-fc8"
"""The shipped example layer the sweep-throughput measurement runs on (never scaled)."""

TARGETS = {
    "fast_engine_alexnet_fc8_ms": (0.8, "ms", "fast engine on the real AlexNet fc8 at 64 PEs "
                                              "(SimResult.wall_time_s, median, warm)"),
    "simulate_overhead_alexnet_fc8_ms": (1.5, "ms", "a whole simulate() call minus the engine "
                                                    "on the real fc8 (input preparation, float "
                                                    "reference, result; median)"),
    "encode_alexnet_fc8_ms": (20.0, "ms", "encode() of the real fc8, 1000 x 4096 (median)"),
    "encode_vgg6_s": (0.6, "s", "encode() of VGG-6, 4096 x 25088 at 4 % (median)"),
    "encode_peak_vs_codes": (2.0, "x", "encode()'s tracemalloc peak on VGG-6 over the bytes "
                                       "of its code matrix"),
    "nine_layers_encode_and_simulate_s": (10.0, "s", "encode + simulate all nine paper layers "
                                                     "(sum of per-layer medians, warm)"),
    "sweep_points_per_min": (25_000.0, "points/min", "eiesim.explore.sweep.sweep on fc8, "
                                                    "512 points, 2 workers (median of runs); "
                                                    "met when above"),
    "cli_example_s": (0.5, "s", "`eiesim run --example alexnet-fc8` as a whole process, warm "
                                "numba cache (median of subprocess runs)"),
    "cli_help_s": (0.2, "s", "`eiesim --help` as a whole process (median of subprocess runs)"),
    "cli_example_vs_imports": (1.3, "x", "`eiesim run --example alexnet-fc8` over `python -c "
                                         "\"import numpy, numba\"`, whole processes taking "
                                         "turns (ratio of medians)"),
}
"""Targets: name -> (limit, unit, what is measured). Issue 21 set the fast engine's, the
sweep's and the start-up ratio; the others are issue 12's. Met when the measured value is below
the limit, except for the throughput (:data:`HIGHER_IS_BETTER`), met when above."""
HIGHER_IS_BETTER = {"sweep_points_per_min"}
FULL_SIZE_ONLY = {"nine_layers_encode_and_simulate_s", "encode_vgg6_s", "encode_peak_vs_codes",
                  "sweep_points_per_min"}
"""Targets defined at the paper's sizes (or the full sweep grid): not judged in quick mode."""

SPEEDUP_COLUMNS = (
    "speedup_vs_dense_acc",
    "speedup_vs_cpu_dense",
    "speedup_vs_cpu_sparse",
    "speedup_vs_cpu_dense_b64",
    "speedup_vs_paper_cpu_dense",
    "speedup_vs_paper_cpu_sparse",
    "speedup_vs_paper_gpu_dense",
    "speedup_vs_paper_gpu_sparse",
    "paper_speedup_vs_cpu_dense",
    "paper_speedup_vs_gpu_dense",
)
"""Speedup columns (baseline time / EIE time); ``paper_*`` are the paper's own EIE over its own
baselines. Their geometric means over the nine paper layers are in the summary."""

RATIO_COLUMNS = ("sim_time_vs_paper_eie", "cpu_dense_vs_paper_cpu_dense",
                 "energy_savings_vs_dense_acc")
"""Other ratios whose geometric means are reported (when the column has values)."""

FULL_SWEEP_AXES: dict[str, tuple[Any, ...]] = {
    "pes": (32, 64, 128, 256),
    "fifo": (1, 2, 4, 8, 16, 32, 64, 128),
    "index_bits": (3, 4, 5, 6),
    "sram_width": (32, 64, 128, 256),
}
"""The sweep-throughput grid on fc8: 4 x 8 x 4 x 4 = 512 points (PEs x queue depths x index
widths x SRAM widths, as issue 12 measured it), every one of which fits."""
QUICK_SWEEP_AXES: dict[str, tuple[Any, ...]] = {
    "pes": (32, 64),
    "fifo": (2, 8),
    "sram_width": (32, 64),
}
"""Quick mode's grid: 8 points, enough to exercise the measurement, not to judge it."""


@dataclass(frozen=True)
class BenchConfig:
    """What the suite runs and how hard it tries to get stable timings."""

    quick: bool = False
    scale: float = 1.0
    """Size of the synthetic layers relative to the paper's (the real layer is never scaled)."""
    seed: int = 0
    min_repeats: int = 7
    """At least this many timed runs per measurement (after one untimed warm-up run)."""
    min_time_s: float = 0.5
    """... and repeat until the timed runs add up to this much (capped by ``max_repeats``)."""
    max_repeats: int = 200
    encode_min_repeats: int = 3
    batch: int = 64
    blas_threads: int | None = 1
    """BLAS threads for the CPU baselines (None: BLAS's default); see
    :func:`benchmarks.baselines.cpu_baselines`."""
    reference_layers: tuple[str, ...] = (REAL_LAYER, "Alex-8", "VGG-8", "NT-We", "NT-Wd",
                                         "NT-LSTM")
    """Layers also run on the reference (SimPy) engine: the smaller ones (~1 k cycles/s)."""
    reference_repeats: int = 3
    cli_runs: int = 7
    """Timed whole-process runs of each CLI command (0 skips the CLI measurements)."""
    memory_probe: bool = True
    sweep_runs: int = 3
    """Timed runs of the sweep-throughput grid (0 skips it)."""
    sweep_workers: int = 2
    sweep_axes: dict[str, tuple[Any, ...]] = field(default_factory=lambda: dict(FULL_SWEEP_AXES))

    @property
    def sweep_points(self) -> int:
        return math.prod(len(values) for values in self.sweep_axes.values())

    @classmethod
    def full(cls, **changes: Any) -> BenchConfig:
        """The paper's sizes, enough repeats for stable medians (several minutes)."""
        return cls(**changes)

    @classmethod
    def quick_mode(cls, **changes: Any) -> BenchConfig:
        """Layers at 1/16 of the paper's size, few repeats: a smoke run of well under a minute."""
        values: dict[str, Any] = dict(
            quick=True, scale=1 / 16, min_repeats=3, min_time_s=0.02, max_repeats=20,
            encode_min_repeats=1, reference_layers=("NT-We", "NT-LSTM"), reference_repeats=1,
            cli_runs=2, sweep_runs=2, sweep_axes=dict(QUICK_SWEEP_AXES))
        values.update(changes)
        return cls(**values)


@dataclass(frozen=True, eq=False)
class BenchResult:
    """Output of :func:`benchmarks.suite.run_suite`."""

    table: Any  # pandas.DataFrame, one row per layer
    summary: dict[str, Any]
    machine: dict[str, Any]
    config: BenchConfig
    command: str = ""

    def to_dict(self, column_docs: dict[str, str]) -> dict[str, Any]:
        """The JSON payload: schema version, command, machine (with the date), config, summary,
        the column descriptions and every row."""
        rows = json.loads(self.table.to_json(orient="records"))
        return {"schema_version": SCHEMA_VERSION, "command": self.command,
                "machine": self.machine, "config": asdict(self.config),
                "summary": self.summary, "columns": column_docs, "rows": rows}


def geomean(values: Sequence[float]) -> float:
    """Geometric mean, exp(mean(log x)); NaN if empty or if any value is not positive and finite
    (a speedup that could not be measured must not silently drop out of the mean)."""
    array = np.asarray(list(values), dtype=np.float64)
    if array.size == 0 or not np.all(np.isfinite(array)) or np.any(array <= 0):
        return math.nan
    return float(np.exp(np.mean(np.log(array))))


def timed_samples(run: Callable[[], Any], *, min_repeats: int, min_time_s: float,
                  max_repeats: int, warmup: int = 1) -> tuple[list[float], Any]:
    """Wall times of repeated ``run()`` calls (after ``warmup`` untimed ones), and the last
    return value. Repeats until ``min_repeats`` runs and ``min_time_s`` of timed work."""
    value = None
    for _ in range(warmup):
        value = run()
    times: list[float] = []
    while len(times) < max(1, min_repeats) or (sum(times) < min_time_s
                                               and len(times) < max_repeats):
        start = time.perf_counter()
        value = run()
        times.append(time.perf_counter() - start)
    return times, value
