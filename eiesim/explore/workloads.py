"""Synthetic layers: the one seeded generator, and the paper's nine benchmark layers made by it.

The real weights of the paper's models are not public; as in docs/hardware.md §5, synthetic
layers at
the paper's shapes and densities (uniform random sparsity) stand in for them. The NeuralTalk
layers use an all-ones input and no bias, as the authors' flow did. The real AlexNet fc8 layer
ships with eiesim (``eiesim.explore.catalog.example_path("alexnet-fc8")``).

:func:`generate_layer` is the only generator of synthetic layers in eiesim: the benchmark layers
(:func:`synthetic_layer`), the activity the default energy table is calibrated at
(:mod:`eiesim.energy.calibration`), and the random layers of the tests
(:func:`eiesim.testing.random_layer` and the test suite's oracle cases) all come from it, so the
energy table is calibrated on exactly the layers the benchmarks report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eiesim.errors import EiesimError
from eiesim.format.quantized import QuantizedLayer

ACTIVATION_DISTRIBUTIONS = ("uniform", "exponential", "ones")
"""Values of the non-zero inputs :func:`generate_layer` draws (see there)."""
TINY_ACTIVATIONS = (1e-4, 2.0 ** -12)
"""Magnitudes of the "tiny" inputs: below or exactly at the rounding step of a 16-bit
fixed-point input with 12 fraction bits, so they test that only the value the hardware holds
decides whether an input is broadcast."""


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
    """The paper's layer ``name`` (Table III), or an error listing the names."""
    if name not in PAPER_LAYERS_BY_NAME:
        raise EiesimError(f"layer {name!r} is not one of the paper's benchmark layers "
                          f"({', '.join(PAPER_LAYERS_BY_NAME)})")
    return PAPER_LAYERS_BY_NAME[name]


def generate_layer(out_features: int, in_features: int, *, weight_density: float,
                   activation_density: float, seed: int = 0,
                   codebook: np.ndarray | None = None, random_codebook_scale: float | None = None,
                   code_bits: int = 4, bias_share: float | None = 1.0,
                   empty_row_share: float = 0.0, empty_column_share: float = 0.0,
                   num_pes: int | None = None, idle_pe_share: float = 0.0,
                   activations: str = "uniform", activation_scale: float = 1.0,
                   signed_activations: bool = False, tiny_activation_share: float = 0.0,
                   zero_run_share: float = 0.0, empty_group_share: float = 0.0,
                   source: str | None = None) -> QuantizedLayer:
    """A seeded random quantized layer with its input vector; every random choice from ``seed``.

    Weights: each kept independently with probability ``weight_density`` (uniform random
    sparsity), with a code drawn uniformly from the non-zero entries of the codebook. Then a
    share ``empty_row_share`` of the rows and ``empty_column_share`` of the columns is emptied,
    and, with ``num_pes``, every row of a share ``idle_pe_share`` of the PEs (load imbalance).
    Codebook: ``codebook`` (default :data:`SYNTHETIC_CODEBOOK`), or with
    ``random_codebook_scale`` 0 followed by ``2**code_bits - 1`` sorted values drawn uniformly
    from [-scale, scale]. Bias: with ``bias_share`` (None = no bias) each row's bias code is
    non-zero with that probability (uniform over the non-zero codes).

    Inputs: exactly ``round(activation_density * in_features)`` non-zero, at random positions.
    Their values are ``activations``: "uniform" in [scale / 100, scale), "exponential" with mean
    ``activation_scale``, or "ones" (all 1, ignoring the density: NeuralTalk's inputs); with
    ``signed_activations`` each gets a random sign (inputs out of a ReLU are non-negative).
    Corner cases for tests: a share ``tiny_activation_share`` of the non-zero inputs gets a
    magnitude from :data:`TINY_ACTIVATIONS`; a run of zeros ``zero_run_share`` of the input
    long; and, with ``num_pes``, a share ``empty_group_share`` of the groups of ``num_pes``
    consecutive inputs (the LNZD's groups) all zero.

    >>> layer = generate_layer(6, 8, weight_density=0.5, activation_density=0.25, seed=1)
    >>> layer.shape, int(np.count_nonzero(layer.activations)), layer.bias_codes is not None
    ((6, 8), 2, True)
    """
    _check_share(weight_density, "weight_density")
    _check_share(activation_density, "activation_density")
    if activations not in ACTIVATION_DISTRIBUTIONS:
        raise EiesimError(f"activations = {activations!r} is unknown; use one of "
                          f"{', '.join(map(repr, ACTIVATION_DISTRIBUTIONS))}")
    if (idle_pe_share or empty_group_share) and num_pes is None:
        raise EiesimError("idle_pe_share and empty_group_share need num_pes (the PEs whose rows "
                          "or LNZD groups they empty); pass num_pes=spec.num_pes")
    rng = np.random.default_rng(seed)
    if random_codebook_scale is not None:
        size = 1 << code_bits
        codebook = np.zeros(size, dtype=np.float32)
        codebook[1:] = np.sort(rng.uniform(-random_codebook_scale, random_codebook_scale,
                                           size - 1))
    elif codebook is None:
        codebook = SYNTHETIC_CODEBOOK
    codebook = np.asarray(codebook, dtype=np.float32).copy()

    kept = rng.random((out_features, in_features), dtype=np.float32) < weight_density
    codes = np.zeros((out_features, in_features), dtype=np.uint8)
    codes[kept] = rng.integers(1, codebook.size, int(kept.sum()), dtype=np.uint8)
    if empty_row_share:
        codes[rng.random(out_features) < empty_row_share, :] = 0
    if empty_column_share:
        codes[:, rng.random(in_features) < empty_column_share] = 0
    if idle_pe_share:
        idle = rng.random(num_pes) < idle_pe_share
        codes[idle[np.arange(out_features) % num_pes], :] = 0
    bias_codes = None
    if bias_share is not None:
        bias_codes = np.where(rng.random(out_features) < bias_share,
                              rng.integers(1, codebook.size, out_features), 0).astype(np.uint8)

    if activations == "ones":
        inputs = np.ones(in_features)
    else:
        inputs = np.zeros(in_features)
        count = int(round(activation_density * in_features))
        where = rng.choice(in_features, size=count, replace=False)
        if activations == "uniform":
            values = rng.uniform(activation_scale / 100, activation_scale, count)
        else:
            values = rng.exponential(activation_scale, count)
        if tiny_activation_share:
            tiny = rng.random(count) < tiny_activation_share
            values[tiny] = rng.choice(TINY_ACTIVATIONS, int(tiny.sum()))
        if signed_activations:
            values *= rng.choice([-1.0, 1.0], count)
        inputs[where] = values
    if zero_run_share:
        run = int(zero_run_share * in_features)
        start = int(rng.integers(0, in_features - run + 1))
        inputs[start: start + run] = 0.0
    if empty_group_share:
        groups = rng.random(-(-in_features // num_pes)) < empty_group_share
        inputs[np.repeat(groups, num_pes)[:in_features]] = 0.0
    return QuantizedLayer(codes, codebook, bias_codes, activations=inputs,
                          source=source or f"generate_layer({out_features}, {in_features}, "
                                           f"seed={seed})")


def synthetic_layer(name: str, *, seed: int = 0, scale: float = 1.0,
                    in_scale: float = 1.0) -> QuantizedLayer:
    """The paper's layer ``name`` (Table III) made by :func:`generate_layer`.

    Shape and weight density from the table; codes uniform over the 15 non-zero entries of
    :data:`SYNTHETIC_CODEBOOK`; a bias with every code non-zero. Inputs: non-negative (they come
    out of a ReLU), exactly ``round(activation_density * in)`` of them non-zero, uniform in
    [0.01, 1); all ones and no bias for the NeuralTalk layers. ``scale`` < 1 shrinks both
    dimensions, ``in_scale`` < 1 only the number of columns (every PE's per-column statistics,
    rows per PE, density and padding, stay those of the full layer), each to at least 1, for
    quick runs; densities stay the same.

    >>> layer = synthetic_layer("Alex-8", seed=1, scale=0.125)
    >>> layer.codes.shape, layer.bias_codes is not None
    ((125, 512), True)
    """
    spec = paper_layer(name)
    for value, what in ((scale, "scale"), (in_scale, "in_scale")):
        if not 0 < value <= 1:
            raise EiesimError(f"{what} = {value} must be in (0, 1]; use 1 for the paper's size")
    out_features = max(1, round(spec.out_features * scale))
    in_features = max(1, round(spec.in_features * scale * in_scale))
    return generate_layer(
        out_features, in_features, weight_density=spec.weight_density,
        activation_density=spec.activation_density, seed=seed,
        bias_share=1.0 if spec.has_bias else None,
        activations="ones" if spec.neuraltalk else "uniform",
        source=f"synthetic {name} (seed {seed}, scale {scale:g}"
               + (f", in_scale {in_scale:g})" if in_scale != 1 else ")"))


def _check_share(value: float, name: str) -> None:
    if not 0 <= value <= 1:
        raise EiesimError(f"{name} = {value} must be in [0, 1], a share")
