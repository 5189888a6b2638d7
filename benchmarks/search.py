"""Time full ``eiesim search`` runs on 2 cores: ``python -m benchmarks.search``.

Two workloads, each run as a subprocess exactly as a user runs it (interpreter start, imports
and numba's cache load included), every strategy at default settings, ``--workers 2``:

* ``lenet``: LeNet-300-100 (64-300-100-10 on the bundled digits, ``examples/``) at 64 PEs, once
  per objective. Target: at most 20 s each.
* ``wide``: a 256-1024-512-10 ReLU MLP at 16 PEs, objective cycles. Target: at most 8 minutes.
  The model is ``examples/wide_mlp.npz`` on ``examples/digits16_data.npz`` (the digits at
  16x16 with their train, validation and test splits; ``python -m examples.make_models``
  makes both), or the pair given with ``--wide-files``.
* ``wide-parts``: CPU seconds, in this process, of the pieces a search repeats on the wide
  model (one chip-accuracy pass, one fine-tuning epoch, weight sharing of every layer):
  ``results/search_wide_parts.json``. Steadier than a whole search on a loaded machine.

Writes ``results/search_{workload}.json`` (commands, every wall time and their median, the
target, the CPU seconds of the search and its workers, machine, load averages, revision,
chosen networks) and the fronts
``results/search_{workload}_{objective}.csv`` / ``.png`` that the runs produced.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.machine import git_revision

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
TARGETS_S = {"lenet": 20.0, "wide": 480.0, "wide-parts": 0.0}
WORKLOADS = ("lenet", "wide", "wide-parts")


def main(argv: list[str] | None = None) -> int:
    """Time the compression search on the example models and write the results files."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs per command; the JSON keeps every time and the median")
    parser.add_argument("--only", choices=WORKLOADS, action="append",
                        help="run only this workload (repeatable); default: all")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--wide-files", type=Path, nargs=2, metavar=("MODEL", "DATA"),
                        help="the wide model and data files to use instead of the examples'")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    revision = git_revision()  # of the code that runs, read before any commit made meanwhile
    for workload in args.only or WORKLOADS:
        if workload == "lenet":
            files = (ROOT / "examples/lenet_300_100.npz", ROOT / "examples/digits_data.npz")
            source, pes, objectives = "examples/lenet_300_100.npz", 64, ("cycles", "energy")
        else:
            files, source = _wide_files(args.wide_files)
            pes, objectives = 16, ("cycles",)
        if workload == "wide-parts":
            payload = {"schema_version": 2, "workload": workload, "model": source,
                       "date": datetime.now(UTC).isoformat(timespec="seconds"),
                       "machine": _machine(), "revision": revision,
                       "parts": _time_parts(files, args.repeats)}
            (args.out / "search_wide_parts.json").write_text(json.dumps(payload, indent=1))
            continue
        runs = [_time_search(workload, objective, files, pes, args)
                for objective in objectives]
        payload = {"schema_version": 2, "workload": workload, "model": source,
                   "target_s": TARGETS_S[workload], "repeats": args.repeats,
                   "date": datetime.now(UTC).isoformat(timespec="seconds"),
                   "machine": _machine(), "revision": revision, "runs": runs}
        (args.out / f"search_{workload}.json").write_text(json.dumps(payload, indent=1,
                                                                     default=str))
    return 0


def _time_search(workload: str, objective: str, files: tuple[Path, Path], pes: int,
                 args: argparse.Namespace) -> dict:
    stem = args.out / f"search_{workload}_{objective}"
    model, data = files
    command = [sys.executable, "-m", "eiesim.cli", "search", str(model), "--data", str(data),
               "--objective", objective, "--max-accuracy-drop", "0.01", "--pes", str(pes),
               "--workers", str(args.workers), "-o", f"{stem}.npz", "--report", f"{stem}.csv",
               "--plot", f"{stem}.png", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    load_before = os.getloadavg()
    seconds: list[float] = []
    cpu_seconds: list[float] = []
    stdout, exit_code, stderr = "", 0, ""
    for _ in range(args.repeats):
        for suffix in (".npz", ".csv", ".png"):  # the command never overwrites its outputs
            stem.with_suffix(suffix).unlink(missing_ok=True)
        cpu_before = _children_cpu_s()
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        seconds.append(round(time.perf_counter() - start, 2))
        cpu_seconds.append(round(_children_cpu_s() - cpu_before, 2))
        # A search whose networks all miss the bound says so with exit code 2, still timed.
        if done.returncode != 0 and not stem.with_suffix(".csv").exists():
            raise SystemExit(f"{workload} {objective}: eiesim search failed:\n{done.stderr}")
        stdout, exit_code, stderr = done.stdout, done.returncode, done.stderr.strip()
    stem.with_suffix(".npz").unlink(missing_ok=True)  # the network is reproducible, not kept
    front = pd.read_csv(f"{stem}.csv")
    picked = front[front["chosen"]] if "chosen" in front else front.iloc[:0]
    chosen = picked.iloc[0].to_dict() if len(picked) else {"strategy": "none", "label": stderr}
    median = statistics.median(seconds)
    shown = ["eiesim", *command[3:]]
    print(f"{workload} {objective}: median {median:.1f} s of {seconds} (target "
          f"{TARGETS_S[workload]:.0f} s; CPU {cpu_seconds} s), {len(front)} networks, "
          f"chosen {chosen['strategy']} "
          f"({chosen['label']})")
    return {"objective": objective, "pes": pes,
            "command": shlex.join(_relative(shown)), "wall_s": seconds,
            "median_s": median, "within_target": median <= TARGETS_S[workload],
            "cpu_s": cpu_seconds, "median_cpu_s": statistics.median(cpu_seconds),
            "load_average_before": load_before, "load_average_after": os.getloadavg(),
            "networks": len(front), "exit_code": exit_code, "chosen": chosen,
            "stdout": stdout, "stderr": stderr}


def _time_parts(files: tuple[Path, Path], repeats: int) -> dict:
    """CPU seconds (this process, medians of ``repeats``) of the pieces a search repeats, on
    the wide model at 16 PEs: one chip-accuracy pass over 216 inputs (the size of the
    validation split of the digits), one fine-tuning epoch with every weight kept, and the
    4-bit weight sharing of all layers."""
    from eiesim.compress.quantize import quantize
    from eiesim.search.compression import chip_accuracy, dense_network
    from eiesim.search.model import load_data, load_model
    from eiesim.search.parallel import single_threaded_blas
    from eiesim.search.train import fine_tune
    from eiesim.spec import HardwareSpec

    model, data = load_model(files[0]), load_data(files[1])
    spec = HardwareSpec(num_pes=16)
    inputs, labels = data.train_inputs[:216], data.train_labels[:216]
    layers = dense_network(model, bits=4).layers()
    masks = [np.ones(w.shape, dtype=bool) for w in model.weights]
    work = {
        "chip_accuracy_pass": lambda: chip_accuracy(layers, inputs, labels, spec),
        "fine_tune_epoch": lambda: fine_tune(model, data.train_inputs, data.train_labels,
                                             masks, epochs=1, lr=1e-3),
        "quantize_all_layers": lambda: [quantize(w, 4, bias=b)
                                        for w, b in zip(model.weights, model.biases)]}
    parts = {}
    with single_threaded_blas():  # as in a search's workers
        for name, run in work.items():
            parts[name] = _time_part(name, run, repeats)
    return parts


def _time_part(name: str, run: Callable[[], object], repeats: int) -> dict:
    run()  # numba's compile or cache load is not part of the repeated work
    times = []
    for _ in range(repeats):
        start = time.process_time()
        run()
        times.append(round(time.process_time() - start, 3))
    print(f"wide-parts {name}: median {statistics.median(times):.3f} CPU s of {times}")
    return {"cpu_s": times, "median_cpu_s": statistics.median(times)}


def _wide_files(given: list[Path] | None) -> tuple[tuple[Path, Path], str]:
    """The wide model and its data: given, else the example files (module doc)."""
    if given:
        return (given[0].resolve(), given[1].resolve()), f"given: {given[0].name}"
    model, data = ROOT / "examples/wide_mlp.npz", ROOT / "examples/digits16_data.npz"
    missing = [str(path.relative_to(ROOT)) for path in (model, data) if not path.exists()]
    if missing:
        raise SystemExit(f"{', '.join(missing)} missing: run python -m examples.make_models, "
                         f"or give --wide-files MODEL DATA")
    return (model, data), "examples/wide_mlp.npz on examples/digits16_data.npz"


def _relative(words: list[str]) -> list[str]:
    """The command as run from the repository root, without this machine's paths."""
    return [str(Path(w).relative_to(ROOT)) if Path(w).is_relative_to(ROOT) else
            (Path(w).name if w.startswith(os.sep) else w) for w in words]


def _children_cpu_s() -> float:
    """User + system CPU seconds of every finished child process (the search and its workers):
    on a machine shared with other jobs, steadier than the wall time, which waits for them."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine() -> dict:
    return {"cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}



if __name__ == "__main__":
    raise SystemExit(main())
