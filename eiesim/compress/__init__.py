"""Compression front end: prune and quantize (weight sharing) one layer's float weights.

Functions: :func:`prune_weights` (and :func:`prune_mask`, :func:`prune_global`,
:func:`iterative_prune`), :func:`quantize_weights` (returns an
:class:`eiesim.format.quantized.QuantizedLayer`, which :func:`eiesim.encode` stores as EIE does),
:func:`dequantize`; layer-wise Optimal Brain Surgeon in :mod:`eiesim.compress.obs`.

``help()`` on the modules :mod:`eiesim.compress.prune` and :mod:`eiesim.compress.quantize` shows
how each method works: ``quantize_weights(prune_weights(w, 0.1), bits=4)``.

Pure numpy (and numba for k-means); never imports eiesim.sim: compression and the simulator
share only EIE's storage format (:mod:`eiesim.format`).
"""

from eiesim.compress.prune import (
    IterativePruneResult,
    PruningWarning,
    density_schedule,
    iterative_prune,
    prune_global,
    prune_global_mask,
    prune_mask,
    prune_weights,
)
from eiesim.compress.quantize import dequantize, quantize_weights
from eiesim.format.quantized import QuantizationStats, QuantizedLayer

__all__ = [
    "IterativePruneResult", "PruningWarning", "QuantizationStats", "QuantizedLayer",
    "density_schedule", "dequantize", "iterative_prune", "prune_global",
    "prune_global_mask", "prune_mask", "prune_weights", "quantize_weights",
]
