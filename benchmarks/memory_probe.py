"""Peak memory of ``eiesim.encode``, measured in a fresh process.

Run by :func:`benchmarks.processes.measure_encode_memory` as
``python -m benchmarks.memory_probe FOLDER``; FOLDER holds ``codes.npy``, ``codebook.npy``,
optionally ``bias.npy``, and ``spec.json``. Prints one JSON object on its last line. A process
of its own, so that the benchmark's own allocations do not count.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

import eiesim


def resident_set_bytes() -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of this process.

    Not ``ru_maxrss`` where /proc exists: Linux carries the parent's peak across fork + exec,
    so a child started by a big parent would report the parent's peak.
    """
    try:
        with open("/proc/self/status") as status_file:
            status = dict(line.split(":", 1) for line in status_file)
        return {key: int(status[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")}
    except (OSError, KeyError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return {"VmRSS": peak, "VmHWM": peak}


def probe(folder: Path) -> dict[str, float]:
    """Peak memory and time of encoding the largest paper layer, in a fresh process."""
    spec = eiesim.HardwareSpec.from_dict(json.loads((folder / "spec.json").read_text()))
    codes = np.load(folder / "codes.npy")
    codebook = np.load(folder / "codebook.npy")
    bias_path = folder / "bias.npy"
    bias_codes = np.load(bias_path) if bias_path.exists() else None
    before = resident_set_bytes()
    tracemalloc.start()
    start = time.perf_counter()
    layer = eiesim.encode(codes, codebook, bias_codes, spec=spec)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    after = resident_set_bytes()
    # Every array the encoded layer holds (entries, pointers, offsets, codebook, ...).
    layer_bytes = sum(value.nbytes for value in vars(layer).values()
                      if isinstance(value, np.ndarray))
    return {"tracemalloc_peak_bytes": peak, "rss_before_bytes": before["VmRSS"],
            "peak_rss_bytes": after["VmHWM"], "input_codes_bytes": codes.nbytes,
            "encoded_layer_bytes": layer_bytes, "encode_s_under_tracemalloc": elapsed}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m benchmarks.memory_probe FOLDER")
    print(json.dumps(probe(Path(sys.argv[1]))))
