"""Time a full ``eiesim search`` on LeNet-300-100 at 64 PEs: ``python -m benchmarks.search``.

The target of the hardware-aware compression work: a full search (every strategy, default
settings) on LeNet-300-100 (64-300-100-10 on the bundled digits, ``examples/``) at 64 PEs in at
most 2 minutes on 2 cores. The command runs as a subprocess, as a user runs it (interpreter
start, imports and numba's cache load included), once per objective, and writes
``results/search_lenet.json`` (command, wall times, machine, chosen networks) and the fronts
``results/search_lenet_{objective}.csv`` / ``.png`` that the runs produced.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
TARGET_S = 120.0


def main(argv: list[str] | None = None) -> int:
    """Time the compression search on the example models and write the results files."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = []
    load_before = os.getloadavg()
    for objective in ("cycles", "energy"):
        stem = args.out / f"search_lenet_{objective}"
        command = [sys.executable, "-m", "eiesim.cli", "search",
                   "examples/lenet_300_100.npz", "--data", "examples/digits_data.npz",
                   "--objective", objective, "--max-accuracy-drop", "0.01", "--pes", "64",
                   "--workers", str(args.workers), "-o", f"{stem}.npz", "--report",
                   f"{stem}.csv", "--plot", f"{stem}.png", "--no-progress"]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              check=True)
        seconds = time.perf_counter() - start
        (args.out / f"{stem.name}.npz").unlink()  # the network file is reproducible, not kept
        front = pd.read_csv(f"{stem}.csv")
        chosen = front[front["chosen"]].iloc[0].to_dict()
        runs.append({"objective": objective, "command": shlex.join(["eiesim", *command[3:]]),
                     "wall_s": round(seconds, 2), "within_target": seconds <= TARGET_S,
                     "networks": len(front), "chosen": chosen, "stdout": done.stdout})
        print(f"{objective}: {seconds:.1f} s, {len(front)} networks, chosen "
              f"{chosen['strategy']} ({chosen['label']})")
    payload = {
        "schema_version": 1, "target_s": TARGET_S,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "load_average_before": load_before,
                    "load_average_after": os.getloadavg(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "revision": _revision(), "runs": runs}
    (args.out / "search_lenet.json").write_text(json.dumps(payload, indent=1, default=str))
    return 0


def _revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())
