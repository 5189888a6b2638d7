"""Peak memory and time of a streamed sweep (``eiesim.explore.sweep_file``) against its number of
points.

``python -m benchmarks.sweep_memory OUT.json 1000 10000 100000`` runs, for each count, a sweep
of that many points of a small synthetic layer on two worker processes into a temporary CSV,
each in a fresh process (so that one run's allocations do not count for the next), and writes
the peak resident memory of the parent (VmHWM), the points per second and the CSV's size to
OUT.json with the machine's description. Memory that stays flat as the points grow is the
claim under test: points are generated lazily, a few batches are in flight, and the final sort
merges bounded runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKERS = 2
LAYER = ("Alex-8", 0.01)  # a small synthetic layer: the sweep's own machinery dominates


def _axes(points: int) -> dict[str, list[int]]:
    """A grid of exactly ``points`` points: queue depths 1-8 times register-file sizes."""
    if points % 8:
        raise SystemExit(f"{points} is not a multiple of 8")
    return {"fifo": list(range(1, 9)), "act_regs_per_file": list(range(64, 64 + points // 8))}


def probe(points: int) -> dict[str, float]:
    """Peak resident memory and throughput of one streamed sweep of ``points`` points."""
    from benchmarks.memory_probe import resident_set_bytes
    from eiesim.explore import workloads
    from eiesim.explore.sweep_file import sweep_to_file

    layer = workloads.synthetic_layer(LAYER[0], seed=0, scale=LAYER[1])
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "sweep.csv"
        start = time.perf_counter()
        summary = sweep_to_file(layer, out, workers=WORKERS, progress=False, **_axes(points))
        seconds = time.perf_counter() - start
        size = out.stat().st_size
    memory = resident_set_bytes()
    return {"points": points, "ran": summary.ran, "seconds": seconds,
            "points_per_s": points / seconds, "peak_rss_mb": memory["VmHWM"] / 2**20,
            "csv_mb": size / 2**20}


def main(argv: list[str]) -> None:
    """Probe each point count given on the command line and write the JSON results."""
    if len(argv) >= 2 and argv[0] == "--probe":
        print(json.dumps(probe(int(argv[1]))))
        return
    if len(argv) < 2:
        raise SystemExit("usage: python -m benchmarks.sweep_memory OUT.json POINTS [POINTS ...]")
    from benchmarks.machine import machine_info

    runs = []
    for points in map(int, argv[1:]):
        done = subprocess.run([sys.executable, "-m", "benchmarks.sweep_memory", "--probe",
                               str(points)], capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(runs[-1], file=sys.stderr)
    result = {"command": "python -m benchmarks.sweep_memory " + " ".join(argv),
              "workers": WORKERS, "layer": {"name": LAYER[0], "scale": LAYER[1]},
              "machine": machine_info(), "runs": runs}
    Path(argv[0]).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
