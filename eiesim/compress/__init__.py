"""Compression front end: prune, quantize (weight sharing) and encode (interleaved CSC).

Functions: :func:`prune_weights` (and :func:`prune_mask`, :func:`prune_global`,
:func:`iterative_prune`), :func:`quantize_weights` (returns an
:class:`eiesim.format.quantized.QuantizedLayer`), :func:`dequantize`, :func:`encode`.

``help()`` on the modules :mod:`eiesim.compress.prune` and :mod:`eiesim.compress.quantize` shows
how each method works: ``quantize_weights(prune_weights(w, 0.1), bits=4)``.

Pure numpy; never imports eiesim.sim (the two share only EncodedLayer).
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
from eiesim.format.encoder import encode
from eiesim.format.quantized import QuantizationStats, QuantizedLayer

__all__ = [
    "IterativePruneResult", "PruningWarning", "QuantizationStats", "QuantizedLayer",
    "density_schedule", "dequantize", "encode", "iterative_prune", "prune_global",
    "prune_global_mask", "prune_mask", "prune_weights", "quantize_weights",
]
