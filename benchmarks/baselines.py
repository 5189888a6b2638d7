"""What simulated EIE is compared with: a dense accelerator of the same size and clock, and this
machine's CPU (numpy dense, scipy CSR) measured on the decoded layer.

>>> dense_accelerator_cycles(out_features=1000, in_features=4096, num_pes=64)
65536
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np

from benchmarks.config import BenchConfig, timed_samples


def dense_accelerator_cycles(out_features: int, in_features: int, num_pes: int) -> int:
    """Cycles of the uncompressed layer on ``num_pes`` PEs doing one MAC per PE per cycle.

    Rows are interleaved over PEs as in EIE, so each PE owns ceil(out / N) rows; a dense machine
    has no activation or weight sparsity to skip, so every PE processes every input column for
    each of its rows: ceil(out / N) x in cycles (bias, pipeline fill and ReLU neglected, and
    DRAM bandwidth assumed sufficient: an optimistic dense baseline).
    """
    return -(-out_features // num_pes) * in_features


class BlasThreads:
    """Context manager limiting BLAS to ``threads`` threads (threadpoolctl), if installed."""

    def __init__(self, threads: int | None) -> None:
        self.threads, self.limiter = threads, None

    def __enter__(self) -> BlasThreads:
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
    with BlasThreads(config.blas_threads):
        dense, _ = timed_samples(lambda: weights @ vector, **repeat)
        batched, _ = timed_samples(lambda: weights @ batch, **dict(repeat, min_repeats=max(
            3, config.min_repeats // 2)))
    all_threads, _ = timed_samples(lambda: weights @ vector, **repeat)
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
        row["cpu_note"] = "scipy missing (pip install 'eiesim[bench]'): no CSR baseline"
    else:
        csr = scipy.sparse.csr_matrix(weights)
        sparse, _ = timed_samples(lambda: csr @ vector, **repeat)
        row["cpu_sparse_us"] = statistics.median(sparse) * 1e6
        counts.append(len(sparse))
    row["cpu_repeats"] = min(counts)
    return row
