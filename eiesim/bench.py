"""The benchmark suite: what EIE buys over dense hardware and CPUs, and how fast eiesim is.

:func:`run_suite` runs the paper's nine benchmark layers (EIE Table III, as seeded synthetic
layers from :mod:`eiesim.workloads`) and the real AlexNet fc8 layer through eiesim, and returns a
:class:`BenchResult`: a pandas DataFrame with one row per layer, a summary (geometric means,
the performance targets, encoding memory) and the machine it ran on. :func:`write_results`
saves it as CSV, JSON and a PNG plot. The command ``python -m benchmarks.run`` (see
benchmarks/README.md) is a thin wrapper around these two functions.

Per layer, the table holds:

* **EIE, simulated** (fast engine, default design point; a layer that does not fit the 16-bit
  pointers or the 32 KB pointer SRAM gets just those enlarged, listed in ``spec_changes``):
  cycles, time, load efficiency, and energy when :mod:`eiesim.energy` provides
  ``energy_report``.
* **Dense accelerator**: the same 64 PEs at the same clock computing the uncompressed layer,
  one MAC per PE per cycle, every weight and every activation (:func:`dense_accelerator_cycles`).
* **This machine's CPU**, measured: numpy dense ``W @ a`` (BLAS, float32), scipy CSR ``W @ a``
  (float32), both batch 1, and numpy dense at batch 64 (time per input); medians.
* **The paper's** CPU, GPU and EIE times (Table IV) beside ours.
* **Speedups** of simulated EIE over each baseline; geometric means over the nine paper layers.
* **Simulator speed**: fast-engine wall time (median after a warm-up, so numba compilation is
  excluded) and simulated cycles per second; the reference (SimPy) engine on some layers;
  encoding throughput.

Timings are medians of repeated ``time.perf_counter`` measurements; performance is measured
here, never asserted in tests (ARCHITECTURE.md, habit 12).

>>> dense_accelerator_cycles(out_features=1000, in_features=4096, num_pes=64)
65536
>>> round(geomean([2.0, 8.0]), 12)
4.0
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

SCHEMA_VERSION = 1
REAL_LAYER = "Alex-8 (real)"
"""Row name of the real AlexNet fc8 layer shipped with eiesim."""
MEMORY_LAYER = "VGG-6"
"""The largest paper layer (25088 x 4096): its encoding's peak memory is measured."""

TARGETS = {
    "fast_engine_alexnet_fc8_ms": (5.0, "ms", "fast engine on the real AlexNet fc8 at 64 PEs "
                                              "(SimResult.wall_time_s, median, warm)"),
    "nine_layers_encode_and_simulate_s": (10.0, "s", "encode + simulate all nine paper layers "
                                                     "(sum of per-layer medians, warm)"),
    "cli_example_s": (2.0, "s", "`eiesim run --example alexnet-fc8` as a whole process, warm "
                                "numba cache (median of subprocess runs)"),
}
"""Targets: name -> (limit, unit, what is measured). Met when the measured value is below."""

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
    """BLAS threads for the CPU baselines (None: BLAS's default); see :func:`cpu_baselines`."""
    reference_layers: tuple[str, ...] = (REAL_LAYER, "Alex-8", "VGG-8", "NT-We", "NT-Wd",
                                         "NT-LSTM")
    """Layers also run on the reference (SimPy) engine: the smaller ones (~1 k cycles/s)."""
    reference_repeats: int = 3
    cli_runs: int = 7
    memory_probe: bool = True

    @classmethod
    def full(cls, **changes: Any) -> "BenchConfig":
        """The paper's sizes, enough repeats for stable medians (several minutes)."""
        return cls(**changes)

    @classmethod
    def quick_mode(cls, **changes: Any) -> "BenchConfig":
        """Layers at 1/16 of the paper's size, few repeats: a smoke run well under a minute."""
        values: dict[str, Any] = dict(
            quick=True, scale=1 / 16, min_repeats=3, min_time_s=0.02, max_repeats=20,
            encode_min_repeats=1, reference_layers=("NT-We", "NT-LSTM"), reference_repeats=1,
            cli_runs=2)
        values.update(changes)
        return cls(**values)


@dataclass(frozen=True, eq=False)
class BenchResult:
    """Output of :func:`run_suite`."""

    table: Any  # pandas.DataFrame, one row per layer
    summary: dict[str, Any]
    machine: dict[str, Any]
    config: BenchConfig
    command: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON payload: schema version, machine, config, summary and every row."""
        rows = json.loads(self.table.to_json(orient="records"))
        return {"schema_version": SCHEMA_VERSION, "command": self.command,
                "machine": self.machine, "config": asdict(self.config),
                "summary": self.summary, "columns": COLUMN_DOCS, "rows": rows}


# --- small pure helpers ----------------------------------------------------------------------


def geomean(values: Sequence[float]) -> float:
    """Geometric mean, exp(mean(log x)); NaN if empty or if any value is not positive and finite
    (a speedup that could not be measured must not silently drop out of the mean)."""
    array = np.asarray(list(values), dtype=np.float64)
    if array.size == 0 or not np.all(np.isfinite(array)) or np.any(array <= 0):
        return math.nan
    return float(np.exp(np.mean(np.log(array))))


def dense_accelerator_cycles(out_features: int, in_features: int, num_pes: int) -> int:
    """Cycles of the uncompressed layer on ``num_pes`` PEs doing one MAC per PE per cycle.

    Rows are interleaved over PEs as in EIE, so each PE owns ceil(out / N) rows; a dense machine
    has no activation or weight sparsity to skip, so every PE processes every input column for
    each of its rows: ceil(out / N) x in cycles (bias, pipeline fill and ReLU neglected, and
    DRAM bandwidth assumed sufficient: an optimistic dense baseline).
    """
    return -(-out_features // num_pes) * in_features


def fitting_spec(layer: Any, base: Any) -> tuple[Any, str]:
    """The design point ``base`` with only the pointer width and pointer SRAM enlarged, as
    much as ``layer`` (an :class:`~eiesim.layer.EncodedLayer`) needs; and a note of the change
    (``"none"`` if it already fits).

    The pointer width grows to address the fullest PE's entries; the pointer SRAM grows to the
    next power of two of bytes that holds every column pointer at that width. Any other
    capacity problem (sparse-matrix or activation SRAM) is left to :meth:`check_fits` to raise:
    this suite changes no other part of the design point.
    """
    changes: dict[str, Any] = {}
    need_entries = int(layer.entries_per_pe.max()) if layer.entries_per_pe.size else 0
    pointer_bits = max(base.pointer_bits, need_entries.bit_length())
    if pointer_bits != base.pointer_bits:
        changes["pointer_bits"] = pointer_bits
    need_bytes = -(-(layer.num_columns + 1) * pointer_bits // 8)
    if need_bytes > base.ptr_sram_bytes:
        changes["ptr_sram_bytes"] = 1 << (need_bytes - 1).bit_length()
    spec = base.replace(**changes) if changes else base
    layer.check_fits(spec)
    note = ", ".join(f"{name} {getattr(base, name)}->{value}" for name, value in changes.items())
    return spec, note or "none"


def _samples(run: Callable[[], Any], *, min_repeats: int, min_time_s: float,
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


# --- machine ---------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_total_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _git_revision() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _version(module: str) -> str | None:
    try:
        return str(__import__(module).__version__)
    except ImportError:
        return None


def machine_info() -> dict[str, Any]:
    """The machine and software the numbers came from."""
    import eiesim

    info: dict[str, Any] = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_total_bytes": _memory_total_bytes(),
        "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "eiesim": eiesim.__version__,
        "git_revision": _git_revision(),
    }
    for module in ("numpy", "scipy", "numba", "pandas", "simpy", "matplotlib"):
        info[module] = _version(module)
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [{key: pool.get(key) for key in ("internal_api", "version",
                                                         "num_threads", "architecture")}
                        for pool in threadpool_info()]
    except ImportError:
        info["blas"] = None
    return info


# --- the measurements ------------------------------------------------------------------------


def _energy_function() -> Callable[[Any], Any] | None:
    """``energy_report(result)`` if this eiesim has an energy model, else None (checked at run
    time: the suite works without it and then has no energy columns)."""
    try:
        from eiesim.energy import energy_report  # type: ignore[attr-defined]

        return energy_report
    except ImportError:
        pass
    try:
        from eiesim.energy.report import energy_report  # type: ignore[no-redef]

        return energy_report
    except ImportError:
        return None


class _BlasThreads:
    """Context manager limiting BLAS to ``threads`` threads (threadpoolctl), if installed."""

    def __init__(self, threads: int | None) -> None:
        self.threads, self.limiter = threads, None

    def __enter__(self) -> "_BlasThreads":
        if self.threads is not None:
            try:
                from threadpoolctl import threadpool_limits
            except ImportError:
                return self
            self.limiter = threadpool_limits(limits=self.threads, user_api="blas")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.limiter is not None:
            self.limiter.restore_original_limits()


def cpu_baselines(codes: np.ndarray, codebook: np.ndarray, activations: np.ndarray, *,
                  config: BenchConfig) -> dict[str, Any]:
    """Median times (µs) of ``W @ a`` on this CPU: numpy dense (BLAS) and scipy CSR at batch 1,
    numpy dense at batch ``config.batch`` (per input); all float32, W the decoded layer.

    BLAS runs on ``config.blas_threads`` threads (1: scipy's CSR product is single-threaded
    too, and on a shared machine a multi-threaded BLAS waiting for a busy core gives outliers
    of 10-60x); ``cpu_dense_all_threads_us`` is dense batch 1 with BLAS's default threads.
    """
    weights = codebook.astype(np.float32)[codes]
    vector = np.ascontiguousarray(activations, dtype=np.float32)
    batch = np.ascontiguousarray(np.repeat(vector[:, None], config.batch, axis=1))
    repeat = dict(min_repeats=config.min_repeats, min_time_s=config.min_time_s,
                  max_repeats=config.max_repeats)
    with _BlasThreads(config.blas_threads):
        dense, _ = _samples(lambda: weights @ vector, **repeat)
        batched, _ = _samples(lambda: weights @ batch, **dict(repeat, min_repeats=max(
            3, config.min_repeats // 2)))
    all_threads, _ = _samples(lambda: weights @ vector, **repeat)
    row: dict[str, Any] = {
        "cpu_dense_us": statistics.median(dense) * 1e6,
        "cpu_dense_b64_us": statistics.median(batched) * 1e6 / config.batch,
        "cpu_dense_all_threads_us": statistics.median(all_threads) * 1e6,
        "cpu_sparse_us": math.nan,
    }
    counts = [len(dense), len(batched)]
    try:
        import scipy.sparse
    except ImportError:
        row["cpu_note"] = "scipy missing: no CSR baseline"
    else:
        csr = scipy.sparse.csr_matrix(weights)
        sparse, _ = _samples(lambda: csr @ vector, **repeat)
        row["cpu_sparse_us"] = statistics.median(sparse) * 1e6
        counts.append(len(sparse))
    row["cpu_repeats"] = min(counts)
    return row


def _workloads(config: BenchConfig) -> Iterator[tuple[str, Any, Any, str]]:
    """(row name, LayerData, the paper's row, kind) for the nine paper layers and the real one,
    generated one at a time (VGG-6 alone is 100 MB of codes)."""
    from eiesim import io, workloads

    for paper in workloads.PAPER_LAYERS:
        data = workloads.synthetic_layer(paper.name, seed=config.seed, scale=config.scale)
        yield paper.name, data, paper, "synthetic"
        if paper.name == "Alex-8":
            yield REAL_LAYER, io.load_layer(io.example_path("alexnet-fc8")), paper, "real"


def _simulate_row(name: str, data: Any, paper: Any, kind: str, config: BenchConfig,
                  energy_report: Callable[[Any], Any] | None,
                  progress: Callable[[str], None]) -> dict[str, Any]:
    import eiesim

    base = eiesim.HardwareSpec()
    out_features, in_features = data.codes.shape
    repeat = dict(min_repeats=config.min_repeats, min_time_s=config.min_time_s,
                  max_repeats=config.max_repeats)

    encode = lambda spec: eiesim.encode(data.codes, data.codebook, data.bias_codes, spec=spec,
                                        check_capacity=False)  # fitted to the spec below
    layer = encode(base)
    spec, changes = fitting_spec(layer, base)  # encoding does not depend on the pointer fields
    encode_times, layer = _samples(lambda: encode(spec), warmup=0, min_repeats=max(
        1, config.encode_min_repeats), min_time_s=config.min_time_s,
        max_repeats=config.max_repeats)

    # Warm-up (numba compilation or cache load), then time the engine alone (wall_time_s) and
    # the whole simulate() call (input preparation and the float reference included).
    walls: list[float] = []

    def simulate_once() -> Any:
        sim = eiesim.simulate(layer, data.activations, spec)
        walls.append(sim.wall_time_s)
        return sim

    calls, result = _samples(simulate_once, **repeat)
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
        "load_efficiency": result.load_efficiency, "entries": result.entries,
        "padding_entries": result.padding_entries, "macs": result.macs,
    }
    dense_cycles = dense_accelerator_cycles(out_features, in_features, spec.num_pes)
    row["dense_acc_cycles"] = dense_cycles
    # What sparsity removes: dense MACs over the MACs EIE does (its ideal speedup over the dense
    # accelerator, before padding, load imbalance and scan cycles).
    row["work_reduction"] = out_features * in_features / max(result.macs, 1)
    row["dense_acc_time_us"] = dense_cycles / spec.clock_hz * 1e6
    if energy_report is not None:
        try:
            energy = energy_report(result)
            row["energy_uj"] = energy.energy_j * 1e6
            row["power_w"] = energy.energy_j / result.time_s
            dense_j = getattr(energy, "dense_baseline_j", None)
            row["dense_acc_energy_uj"] = dense_j * 1e6 if dense_j is not None else math.nan
        except Exception as error:  # an unfinished energy model must not stop the suite
            row["energy_uj"] = row["power_w"] = row["dense_acc_energy_uj"] = math.nan
            row["energy_error"] = f"{type(error).__name__}: {error}"

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

    row["ref_wall_s"] = row["ref_cycles_per_s"] = math.nan
    row["ref_agrees"] = None
    row["ref_error"] = ""
    if name in config.reference_layers:
        progress(f"{name}: reference engine ({config.reference_repeats} run(s))")
        try:
            ref_walls = []
            for _ in range(max(1, config.reference_repeats)):
                reference = eiesim.simulate(layer, data.activations, spec, engine="reference")
                ref_walls.append(reference.wall_time_s)
            row["ref_wall_s"] = statistics.median(ref_walls)
            row["ref_cycles_per_s"] = reference.cycles / row["ref_wall_s"]
            row["ref_agrees"] = bool(
                reference.cycles == result.cycles
                and np.array_equal(reference.pe_counts, result.pe_counts)
                and np.array_equal(reference.ccu_counts, result.ccu_counts)
                and np.array_equal(reference.outputs, result.outputs))
        except Exception as error:  # the reference engine is allowed to be unfinished
            row["ref_error"] = f"{type(error).__name__}: {error}"
    return row


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
    if "energy_uj" in table and "dense_acc_energy_uj" in table:
        table["energy_savings_vs_dense_acc"] = table["dense_acc_energy_uj"] / table["energy_uj"]


def _warm_up_engines(progress: Callable[[str], None], reference: bool) -> None:
    """Compile (or load from numba's cache) the fast engine, import the reference engine."""
    import eiesim
    from eiesim import workloads

    data = workloads.synthetic_layer("Alex-8", seed=0, scale=0.02)
    spec = eiesim.HardwareSpec()
    layer = eiesim.encode(data.codes, data.codebook, data.bias_codes, spec=spec)
    start = time.perf_counter()
    eiesim.simulate(layer, data.activations, spec)
    progress(f"fast engine warm-up (numba compile or cache load): "
             f"{time.perf_counter() - start:.2f} s")
    if reference:
        try:
            eiesim.simulate(layer, data.activations, spec, engine="reference")
        except Exception:  # reported per layer by _simulate_row
            pass


def _subprocess_env() -> dict[str, str]:
    """The environment for child processes, with this eiesim importable first."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]]
                                                  if env.get("PYTHONPATH") else []))
    return env


def cli_command() -> list[str]:
    """``eiesim`` as installed next to this interpreter, else ``python -m eiesim.cli``."""
    script = Path(sys.executable).parent / "eiesim"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("eiesim")
    if found and Path(found).resolve().parent == Path(sys.executable).resolve().parent:
        return [found]
    return [sys.executable, "-m", "eiesim.cli"]


def measure_cli(runs: int) -> dict[str, Any]:
    """Whole-process wall time of ``eiesim run --example alexnet-fc8`` (one untimed warm-up run
    so that numba's on-disk cache is filled; then ``runs`` timed runs)."""
    import resource

    command = cli_command() + ["run", "--example", "alexnet-fc8"]
    env = _subprocess_env()
    times, cpu_times = [], []
    for index in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            return {"command": " ".join(command), "error": done.stderr.strip()[-500:]}
        if index:
            times.append(elapsed)
            cpu_times.append(after.ru_utime + after.ru_stime - before.ru_utime
                             - before.ru_stime)
    # CPU time (user + system of the child) is less sensitive than wall time to other
    # processes competing for the cores; both are reported, the target judges the wall time.
    return {"command": " ".join(command), "runs": len(times),
            "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "cpu_median_s": statistics.median(cpu_times)}


_MEMORY_PROBE = r"""
import json, resource, sys, time, tracemalloc
from pathlib import Path
import numpy as np
import eiesim

def rss_bytes():
    # VmRSS / VmHWM of this process (peak RSS of its own address space). Not ru_maxrss: Linux
    # carries the parent's peak across fork + exec, so a child started by a big parent would
    # report the parent's peak.
    try:
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        return {key: int(status[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")}
    except (OSError, KeyError, ValueError):
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return {"VmRSS": maxrss, "VmHWM": maxrss}

folder = Path(sys.argv[1])
spec = eiesim.HardwareSpec.from_dict(json.loads((folder / "spec.json").read_text()))
codes = np.load(folder / "codes.npy")
codebook = np.load(folder / "codebook.npy")
bias = np.load(folder / "bias.npy") if (folder / "bias.npy").exists() else None
before = rss_bytes()
tracemalloc.start()
start = time.perf_counter()
layer = eiesim.encode(codes, codebook, bias, spec=spec)
elapsed = time.perf_counter() - start
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
after = rss_bytes()
layer_bytes = sum(a.nbytes for a in (layer.entry_v, layer.entry_z, layer.col_ptr,
                                     layer.pe_offsets))
print(json.dumps({"tracemalloc_peak_bytes": peak, "rss_before_bytes": before["VmRSS"],
                  "peak_rss_bytes": after["VmHWM"], "input_codes_bytes": codes.nbytes,
                  "encoded_layer_bytes": layer_bytes, "encode_s_under_tracemalloc": elapsed}))
"""


def measure_encode_memory(data: Any, spec: Any) -> dict[str, Any]:
    """Peak memory of ``encode`` on ``data`` in a fresh subprocess.

    Two measures: ``tracemalloc_peak_bytes``, the peak of memory allocated while encoding
    (numpy reports its buffers to tracemalloc; the input codes, loaded before, are not counted),
    and ``peak_rss_bytes``, the subprocess's peak resident set size (VmHWM in
    /proc/self/status: interpreter, imports and input codes included; ``rss_before_bytes`` is
    its RSS just before encoding). ``resource.getrusage`` ru_maxrss is used only where /proc is
    missing: on Linux it inherits the parent's peak across fork + exec.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        np.save(path / "codes.npy", data.codes)
        np.save(path / "codebook.npy", data.codebook)
        if data.bias_codes is not None:
            np.save(path / "bias.npy", data.bias_codes)
        (path / "spec.json").write_text(json.dumps(spec.to_dict()))
        done = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, folder],
                              capture_output=True, text=True, env=_subprocess_env(),
                              timeout=1800)
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-500:]}
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    probe["method"] = ("tracemalloc peak during encode() in a fresh subprocess (input codes "
                       "excluded); peak_rss_bytes = the subprocess's VmHWM (peak RSS, "
                       "interpreter, imports and input included)")
    return probe


# --- the suite -------------------------------------------------------------------------------


def run_suite(config: BenchConfig | None = None, *, command: str = "",
              progress: Callable[[str], None] | None = None) -> BenchResult:
    """Run the whole suite (see the module docstring) and return its table and summary.

    ``progress`` receives one line per step (the CLI prints them to stderr); nothing is
    printed otherwise.
    """
    import pandas as pd

    config = config or BenchConfig()
    say = progress or (lambda message: None)
    started = time.perf_counter()
    machine = machine_info()
    energy_report = _energy_function()
    _warm_up_engines(say, reference=bool(config.reference_layers))

    rows = []
    memory: dict[str, Any] = {}
    for name, data, paper, kind in _workloads(config):
        say(f"{name}: {data.codes.shape[0]} x {data.codes.shape[1]}, encode + simulate")
        row = _simulate_row(name, data, paper, kind, config, energy_report, say)
        rows.append(row)
        if name == MEMORY_LAYER and config.memory_probe:
            import eiesim

            say(f"{name}: peak memory of encoding (subprocess)")
            spec = eiesim.HardwareSpec(pointer_bits=row["pointer_bits"],
                                       ptr_sram_bytes=row["ptr_sram_bytes"])
            memory = {"layer": name, "shape": list(data.codes.shape),
                      **measure_encode_memory(data, spec)}
    table = pd.DataFrame(rows)
    _add_ratios(table)
    if "energy_error" in table:
        table["energy_error"] = table["energy_error"].fillna("")

    cli: dict[str, Any] = {}
    if config.cli_runs > 0:
        say(f"eiesim run --example alexnet-fc8: {config.cli_runs} timed subprocess runs")
        cli = measure_cli(config.cli_runs)

    machine["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    summary = summarize(table, config, cli=cli, memory=memory)
    summary["suite_wall_s"] = time.perf_counter() - started
    summary["energy_model"] = energy_report is not None
    return BenchResult(table=table, summary=summary, machine=machine, config=config,
                       command=command)


def summarize(table: Any, config: BenchConfig, *, cli: dict[str, Any],
              memory: dict[str, Any]) -> dict[str, Any]:
    """Geometric means over the nine paper layers, the targets, memory and CLI timings."""
    paper_rows = table[table["in_geomean"].astype(bool)]
    geomeans = {}
    for column in SPEEDUP_COLUMNS + RATIO_COLUMNS:
        if column in paper_rows and paper_rows[column].notna().any():
            geomeans[column] = geomean(paper_rows[column])
    full_size = config.scale == 1.0
    note = "" if full_size else f"quick mode: layers at scale {config.scale:g}, not the paper's"

    real = table[table["layer"] == REAL_LAYER]
    measured = {
        "fast_engine_alexnet_fc8_ms": float(real["sim_wall_ms"].iloc[0]) if len(real)
        else math.nan,
        "nine_layers_encode_and_simulate_s": float(
            (paper_rows["encode_ms"] + paper_rows["simulate_call_ms"]).sum() / 1e3),
        "cli_example_s": float(cli.get("median_s", math.nan)),
    }
    best = {  # the least disturbed run: shows how much of a miss is the machine's noise
        "fast_engine_alexnet_fc8_ms": float(real["sim_wall_min_ms"].iloc[0]) if len(real)
        else math.nan,
        "nine_layers_encode_and_simulate_s": math.nan,
        "cli_example_s": float(cli.get("min_s", math.nan)),
    }
    targets = []
    for name, (limit, unit, what) in TARGETS.items():
        value = measured[name]
        applies = full_size or name != "nine_layers_encode_and_simulate_s"
        met = bool(value < limit) if applies and math.isfinite(value) else None
        targets.append({"name": name, "what": what, "limit": limit, "unit": unit,
                        "measured": value, "best_run": best[name], "met": met,
                        "note": "" if applies else note})
    return {
        "geomean_over": list(paper_rows["layer"]),
        "geomeans": geomeans,
        "targets": targets,
        "nine_layers_encode_s": float(paper_rows["encode_ms"].sum() / 1e3),
        "nine_layers_simulate_call_s": float(paper_rows["simulate_call_ms"].sum() / 1e3),
        "nine_layers_fast_engine_s": float(paper_rows["sim_wall_ms"].sum() / 1e3),
        "encode_memory": memory,
        "cli": cli,
        "note": note,
    }


# --- output ----------------------------------------------------------------------------------

COLUMN_DOCS: dict[str, str] = {
    "layer": "paper layer name (synthetic), or 'Alex-8 (real)' for the shipped real layer",
    "kind": "synthetic (seeded, paper's shape and densities) or real",
    "in_geomean": "row counts in the geometric means (the nine paper layers)",
    "spec_changes": "changes from the default design point needed for the layer to fit",
    "cycles": "eiesim cycles (fast engine)",
    "eie_time_us": "cycles / 800 MHz",
    "load_efficiency": "sum of PE busy cycles / (PEs x cycles)",
    "energy_uj": "eiesim energy model (if present), microjoules per inference",
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
    """The per-layer table, geometric means and targets as text."""
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
        lines.append(f"  {target['name']:34s} {target['measured']:10.3f} {target['unit']:2s} "
                     f"(< {target['limit']:g})  {status:7s} {best_text}  {target['note']}")
    memory = summary.get("encode_memory") or {}
    if "tracemalloc_peak_bytes" in memory:
        lines.append(f"encode memory ({memory['layer']} {memory['shape'][0]} x "
                     f"{memory['shape'][1]}): tracemalloc peak "
                     f"{memory['tracemalloc_peak_bytes'] / 2**20:.0f} MiB, subprocess peak RSS "
                     f"{memory['peak_rss_bytes'] / 2**20:.0f} MiB (RSS before encoding "
                     f"{memory['rss_before_bytes'] / 2**20:.0f} MiB)")
    elif memory.get("error"):
        lines.append(f"encode memory: failed: {memory['error']}")
    lines.append(f"suite wall time {summary['suite_wall_s']:.1f} s; machine "
                 f"{result.machine['cpu_model']}, {result.machine['usable_cores']} cores; "
                 f"load average {result.machine['load_average_start']} -> "
                 f"{result.machine.get('load_average_end')}")
    return "\n".join(lines)


def plot_results(result: BenchResult, path: str | Path) -> Path:
    """Speedups per layer (log axis) and simulator wall time per layer, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = result.table
    layers = list(table["layer"])
    x = np.arange(len(layers))
    series = [
        ("speedup_vs_dense_acc", "EIE (sim) vs dense accelerator, same 64 PEs"),
        ("speedup_vs_cpu_dense", "EIE (sim) vs CPU dense, this machine (numpy)"),
        ("speedup_vs_cpu_sparse", "EIE (sim) vs CPU sparse, this machine (scipy CSR)"),
        ("speedup_vs_paper_cpu_dense", "EIE (sim) vs paper's CPU dense (i7, MKL)"),
        ("paper_speedup_vs_cpu_dense", "paper: EIE vs CPU dense"),
        ("paper_speedup_vs_gpu_dense", "paper: EIE vs GPU dense"),
    ]
    figure, (speed_ax, sim_ax) = plt.subplots(2, 1, figsize=(15, 9.5),
                                              gridspec_kw={"height_ratios": [3, 2]})
    width = 0.8 / len(series)
    for index, (column, label) in enumerate(series):
        values = table[column].to_numpy(dtype=float)
        speed_ax.bar(x + (index - (len(series) - 1) / 2) * width, values, width, label=label)
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

    sim_ax.bar(x - 0.2, table["sim_wall_ms"], 0.4, label="fast engine (numba), ms")
    sim_ax.bar(x + 0.2, table["ref_wall_s"] * 1e3, 0.4, label="reference engine (SimPy), ms")
    sim_ax.axhline(TARGETS["fast_engine_alexnet_fc8_ms"][0], color="red", linestyle="--",
                   linewidth=1, label="5 ms target (AlexNet fc8, fast engine)")
    sim_ax.set_yscale("log")
    sim_ax.set_xticks(x, layers)
    sim_ax.set_ylabel("simulator wall time (ms, median)")
    sim_ax.set_title("eiesim speed per layer")
    sim_ax.grid(True, axis="y", which="both", alpha=0.3)
    sim_ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.text(0.01, 0.005, f"{result.machine['cpu_model']}, {result.machine['usable_cores']} "
                             f"cores, {result.machine['date_utc']}, eiesim "
                             f"{result.machine['eiesim']} ({result.machine['git_revision']})",
                fontsize="x-small", color="gray")
    figure.tight_layout(rect=(0, 0.02, 1, 1))
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_results(result: BenchResult, out_dir: str | Path, *,
                  stem: str | None = None) -> dict[str, Path]:
    """Write ``<stem>.csv``, ``<stem>.json`` and ``<stem>.png`` into ``out_dir``.

    ``stem`` defaults to ``bench`` (``bench-quick`` in quick mode, so a quick run never
    overwrites the full results).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = stem or ("bench-quick" if result.config.quick else "bench")
    paths = {"csv": out / f"{stem}.csv", "json": out / f"{stem}.json", "png": out / f"{stem}.png"}
    result.table.to_csv(paths["csv"], index=False)
    payload = _finite_or_none(result.to_dict())
    paths["json"].write_text(json.dumps(payload, indent=2, allow_nan=False,
                                        default=_json_default) + "\n")
    plot_results(result, paths["png"])
    return paths


def _finite_or_none(value: Any) -> Any:
    """NaN and infinities become null: strict JSON has no spelling for them."""
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(item) for item in value]
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        return None
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


__all__ = ["BenchConfig", "BenchResult", "COLUMN_DOCS", "REAL_LAYER", "SPEEDUP_COLUMNS",
           "TARGETS", "cpu_baselines", "dense_accelerator_cycles", "fitting_spec", "format_table",
           "geomean", "machine_info", "measure_cli", "measure_encode_memory", "plot_results",
           "run_suite", "summarize", "write_results"]
