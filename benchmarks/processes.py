"""Measurements of whole processes and process pools: the CLI's start-up and run time, the
peak memory of encoding, and the throughput of a parallel design-space sweep.

Each is timed with :func:`time.perf_counter` and :func:`resource.getrusage` (CPU time of the
children), as the median of several runs.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.config import SWEEP_LAYER, BenchConfig
from benchmarks.machine import REPOSITORY_ROOT


def subprocess_env() -> dict[str, str]:
    """The environment for child processes: the eiesim this process imported, and this
    ``benchmarks`` package, first on the path (so a child never measures another copy)."""
    import eiesim

    env = dict(os.environ)
    roots = [str(Path(eiesim.__file__).resolve().parent.parent), str(REPOSITORY_ROOT)]
    if env.get("PYTHONPATH"):
        roots.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(roots))
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


def measure_processes(commands: dict[str, list[str]], runs: int) -> dict[str, dict[str, Any]]:
    """Whole-process wall time of each command: one untimed run (it fills numba's on-disk cache
    and the OS's file cache), then ``runs`` timed runs; medians, and the child's CPU time. The
    commands take turns (one run of each per round), so that a change in the machine's load
    while they run affects all of them alike: what makes their ratios comparable on a shared
    machine."""
    env = subprocess_env()
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu_times: dict[str, list[float]] = {name: [] for name in commands}
    errors: dict[str, str] = {}
    for index in range(runs + 1):
        for name, command in commands.items():
            if name in errors:
                continue
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=env,
                                  timeout=900)
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode != 0:
                errors[name] = done.stderr.strip()[-500:]
            elif index:
                times[name].append(elapsed)
                cpu_times[name].append(after.ru_utime + after.ru_stime - before.ru_utime
                                       - before.ru_stime)
    # CPU time (user + system of the child) is less sensitive than wall time to other
    # processes competing for the cores; both are reported, the targets judge the wall time.
    return {name: {"command": " ".join(command), "error": errors[name]} if name in errors
            else {"command": " ".join(command), "runs": len(times[name]),
                  "median_s": statistics.median(times[name]), "min_s": min(times[name]),
                  "max_s": max(times[name]), "cpu_median_s": statistics.median(cpu_times[name])}
            for name, command in commands.items()}


def compile_bytecode() -> dict[str, Any]:
    """Compile eiesim's modules to bytecode (``__pycache__``), as ``pip install`` does for an
    installed package, so that the command is timed as users run it. Python writes bytecode
    on first import by itself, unless ``PYTHONDONTWRITEBYTECODE`` is set (as on some shared
    machines), and then every run of an editable install compiles eiesim's sources again:
    tens of milliseconds that numpy and numba, installed with their bytecode, never pay.
    Returns what was done, for the results."""
    import compileall

    import eiesim

    package = Path(eiesim.__file__).resolve().parent
    compiled = compileall.compile_dir(str(package), quiet=1, force=False)
    return {"package": str(package), "compiled": bool(compiled),
            "pythondontwritebytecode": bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))}


IMPORTS_COMMAND = [sys.executable, "-c", "import numpy, numba"]
"""What any numba program pays before it does anything: the yardstick of the start-up
ratio (``cli_example_vs_imports``)."""


def measure_cli_startup(runs: int) -> dict[str, Any]:
    """Start-up cost of the command line: ``eiesim --help`` (imports and argument parsing
    only), ``eiesim run --example alexnet-fc8`` (plus loading, encoding and simulating the
    shipped layer) and, for comparison, ``python -c "import numpy, numba"``; whole-process
    medians, the three taking turns, eiesim's bytecode compiled first
    (:func:`compile_bytecode`)."""
    bytecode = compile_bytecode()
    return measure_processes({"help": cli_command() + ["--help"],
                              "run_example": cli_command() + ["run", "--example", "alexnet-fc8"],
                              "imports": IMPORTS_COMMAND}, runs) | {"bytecode": bytecode}


def measure_sweep_throughput(config: BenchConfig) -> dict[str, Any]:
    """Design points per minute of :func:`eiesim.explore.sweep.sweep` on the shipped fc8 layer over
    ``config.sweep_axes`` with ``config.sweep_workers`` local worker processes.

    Each timed run is one whole ``sweep`` call, starting its worker pool included (what a user
    waits for); one untimed run first, so that numba's cache is warm. ``cpu_median_s`` adds
    this process's and the reaped workers' CPU time.
    """
    from eiesim.explore import catalog
    from eiesim.explore.sweep import sweep
    from eiesim.format import files as io

    layer = io.load_layer(catalog.example_path(SWEEP_LAYER))
    axes = {name: list(values) for name, values in config.sweep_axes.items()}
    times, cpu_times, failed = [], [], 0
    for index in range(config.sweep_runs + 1):
        before = [resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                       resource.RUSAGE_CHILDREN)]
        start = time.perf_counter()
        table = sweep(layer, workers=config.sweep_workers, progress=False, **axes)
        elapsed = time.perf_counter() - start
        after = [resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                      resource.RUSAGE_CHILDREN)]
        # A point that ran has an empty or missing error (both spellings occur across versions).
        failed = int(table["error"].fillna("").astype(str).ne("").sum())
        if index:
            times.append(elapsed)
            cpu_times.append(sum(a.ru_utime + a.ru_stime - b.ru_utime - b.ru_stime
                                 for a, b in zip(after, before)))
    points = config.sweep_points
    median_s = statistics.median(times)
    return {"layer": SWEEP_LAYER, "axes": axes, "points": points,
            "workers": config.sweep_workers, "runs": len(times),
            "points_with_error": failed, "median_s": median_s, "min_s": min(times),
            "cpu_median_s": statistics.median(cpu_times),
            "points_per_min": points / median_s * 60.0}


def measure_encode_memory(data: Any, spec: Any) -> dict[str, Any]:
    """Peak memory of ``eiesim.encode`` on ``data`` in a fresh process
    (:mod:`benchmarks.memory_probe`).

    Two measures: ``tracemalloc_peak_bytes``, the peak of memory allocated while encoding
    (numpy reports its buffers to tracemalloc; the input codes, loaded before, are not counted),
    and ``peak_rss_bytes``, the process's peak resident set size (VmHWM in /proc/self/status:
    interpreter, imports and input codes included; ``rss_before_bytes`` is its RSS just before
    encoding).
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        np.save(path / "codes.npy", data.codes)
        np.save(path / "codebook.npy", data.codebook)
        if data.bias_codes is not None:
            np.save(path / "bias.npy", data.bias_codes)
        (path / "spec.json").write_text(json.dumps(spec.to_dict()))
        done = subprocess.run([sys.executable, "-m", "benchmarks.memory_probe", folder],
                              capture_output=True, text=True, env=subprocess_env(),
                              timeout=1800)
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-500:]}
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    probe["method"] = ("tracemalloc peak during encode() in a fresh process (input codes "
                       "excluded); peak_rss_bytes = that process's VmHWM (peak RSS, "
                       "interpreter, imports and input included)")
    return probe
