"""Compression front end: prune, quantize (weight sharing) and encode (interleaved CSC).

Pure numpy; never imports eiesim.sim (the two share only EncodedLayer).
"""

from eiesim.compress.encode import encode
from eiesim.compress.prune import (
    IterativePruneResult,
    density_schedule,
    iterative_prune,
    prune,
    prune_global,
    prune_global_mask,
    prune_mask,
)
from eiesim.compress.quantize import QuantizedLayer, dequantize, quantize

__all__ = [
    "IterativePruneResult", "QuantizedLayer", "density_schedule", "dequantize", "encode",
    "iterative_prune", "prune", "prune_global", "prune_global_mask", "prune_mask", "quantize",
]
