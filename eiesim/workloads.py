"""The paper's nine benchmark layers (EIE Table III) as seeded synthetic layers, and the real one.

The real weights of these models are not public; as in ../shared/EIE.md §5, synthetic layers at
the paper's shapes and densities (uniform random sparsity) stand in for them. The NeuralTalk
layers use an all-ones input and no bias, as the authors' flow did. The real AlexNet fc8 layer
ships with eiesim (``eiesim.io.example_path("alexnet-fc8")``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eiesim.errors import EiesimError
from eiesim.io import LayerData


@dataclass(frozen=True)
class PaperLayer:
    """One row of the paper's Tables III and IV (times in microseconds, batch 1)."""

    name: str
    in_features: int
    out_features: int
    weight_density: float
    activation_density: float
    cpu_dense_us: float
    cpu_sparse_us: float
    gpu_dense_us: float
    gpu_sparse_us: float
    eie_theoretical_us: float
    eie_actual_us: float

    @property
    def neuraltalk(self) -> bool:
        return self.name.startswith("NT-")

    @property
    def has_bias(self) -> bool:
        return not self.neuraltalk


PAPER_LAYERS: tuple[PaperLayer, ...] = (
    PaperLayer("Alex-6", 9216, 4096, 0.09, 0.351, 7516.2, 3066.5, 541.5, 134.8, 28.1, 30.3),
    PaperLayer("Alex-7", 4096, 4096, 0.09, 0.353, 6187.1, 1282.1, 243.0, 65.8, 11.7, 12.2),
    PaperLayer("Alex-8", 4096, 1000, 0.25, 0.375, 1134.9, 890.5, 80.5, 54.6, 8.9, 9.9),
    PaperLayer("VGG-6", 25088, 4096, 0.04, 0.183, 35022.8, 3774.3, 1467.8, 167.0, 28.1, 34.4),
    PaperLayer("VGG-7", 4096, 4096, 0.04, 0.375, 5372.8, 545.1, 243.0, 39.8, 7.9, 8.7),
    PaperLayer("VGG-8", 4096, 1000, 0.23, 0.411, 774.2, 777.3, 80.5, 48.0, 7.3, 8.4),
    PaperLayer("NT-We", 4096, 600, 0.10, 1.0, 605.0, 261.2, 65.0, 17.7, 5.2, 8.0),
    PaperLayer("NT-Wd", 600, 8791, 0.11, 1.0, 1361.4, 437.4, 90.1, 41.1, 13.0, 13.9),
    PaperLayer("NT-LSTM", 1201, 2400, 0.10, 1.0, 470.5, 260.0, 51.9, 18.5, 6.5, 7.5),
)
PAPER_LAYERS_BY_NAME = {layer.name: layer for layer in PAPER_LAYERS}

# A 4-bit codebook of plausible shared weights: 0 for pruned, 15 centroids on both sides of 0.
SYNTHETIC_CODEBOOK = np.concatenate(
    ([0.0], -np.linspace(0.1, 0.01, 7), np.linspace(0.01, 0.1, 8))).astype(np.float32)


def paper_layer(name: str) -> PaperLayer:
    if name not in PAPER_LAYERS_BY_NAME:
        raise EiesimError(f"layer {name!r} is not one of the paper's benchmark layers "
                          f"({', '.join(PAPER_LAYERS_BY_NAME)})")
    return PAPER_LAYERS_BY_NAME[name]


def synthetic_layer(name: str, *, seed: int = 0, scale: float = 1.0) -> LayerData:
    """A layer with the shape and densities of the paper's layer ``name``.

    Weights: each kept independently with probability ``weight_density`` (uniform random
    sparsity), codes uniform over the 15 non-zero entries of :data:`SYNTHETIC_CODEBOOK`.
    Activations: non-negative (they come out of a ReLU), each non-zero with probability
    ``activation_density``; all ones for the NeuralTalk layers. ``scale`` < 1 shrinks both
    dimensions (at least 1) for quick runs; densities stay the same.

    >>> layer = synthetic_layer("Alex-8", seed=1, scale=0.125)
    >>> layer.codes.shape, layer.bias_codes is not None
    ((125, 512), True)
    """
    spec = paper_layer(name)
    if not 0 < scale <= 1:
        raise EiesimError(f"scale = {scale} must be in (0, 1]; use 1 for the paper's size")
    rng = np.random.default_rng(seed)
    out_features = max(1, round(spec.out_features * scale))
    in_features = max(1, round(spec.in_features * scale))
    kept = rng.random((out_features, in_features), dtype=np.float32) < spec.weight_density
    codes = np.zeros((out_features, in_features), dtype=np.uint8)
    codes[kept] = rng.integers(1, SYNTHETIC_CODEBOOK.size, int(kept.sum()), dtype=np.uint8)
    if spec.neuraltalk:
        activations = np.ones(in_features)
        bias_codes = None
    else:
        active = rng.random(in_features) < spec.activation_density
        activations = np.where(active, rng.exponential(1.0, in_features), 0.0)
        bias_codes = rng.integers(1, SYNTHETIC_CODEBOOK.size, out_features, dtype=np.uint8)
    return LayerData(codes=codes, codebook=SYNTHETIC_CODEBOOK.copy(), activations=activations,
                     bias_codes=bias_codes, source=f"synthetic {name} (seed {seed}, scale "
                                                   f"{scale:g})")
