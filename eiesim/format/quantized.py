"""One quantized layer: codes, codebook and bias codes, with where they came from.

Every part of eiesim that holds a weight-shared layer holds a :class:`QuantizedLayer`: loading a
layer file (:func:`eiesim.format.files.load_layer`), quantizing float weights
(:func:`eiesim.compress.quantize_weights`), the synthetic generator of the paper's layers
(:func:`eiesim.explore.workloads.generate_layer`), the test helpers (:func:`eiesim.testing.random_layer`)
and the layers of a network (:mod:`eiesim.network`). The arrays are checked once, on
construction (integer codes inside the codebook, ``codebook[0] == 0``, at most 256 entries since
codes are uint8), so every consumer can trust them.

Besides the triple, a layer may carry:

* ``relu``: whether ReLU follows the layer when it is part of a network (default True);
* ``activations``: an input vector, when the layer came with one (a layer file does);
* ``source``, ``checksum``, ``quantized_on_load``: where it came from;
* ``reference_weights`` / ``reference_bias``: the float values it was quantized from, so the
  error of weight sharing can be reported against them (:attr:`QuantizedLayer.weight_error`);
* ``quantization``: what the k-means fit did (:class:`QuantizationStats`), when this layer
  was made by quantizing.

>>> import numpy as np
>>> q = QuantizedLayer(np.array([[0, 1], [2, 0]]), np.array([0.0, -0.5, 0.25]))
>>> q.shape, q.codes.dtype.name, q.weights().tolist()
((2, 2), 'uint8', [[0.0, -0.5], [0.25, 0.0]])
>>> QuantizedLayer(np.array([[3]]), np.array([0.0, 1.0]))
Traceback (most recent call last):
...
eiesim.errors.LayerError: codes contains index 3, outside the codebook's 2 entries (0..1); fix the codes or supply the full codebook
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from eiesim.errors import LayerError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from eiesim.format.encoded import EncodedLayer
    from eiesim.spec import HardwareSpec

KEPT_ENCODINGS = 4
"""Encodings a layer keeps (:meth:`QuantizedLayer.encode`): sweeps order their points by
encoding, so a few suffice."""

MAX_CODE_BITS = 8
"""Codes are stored as uint8, so a codebook has at most 2**8 entries; the spec's
``weight_index_bits`` (checked by :func:`eiesim.encode`) decides how many a chip can hold."""


@dataclass(frozen=True)
class QuantizationStats:
    """What weight sharing did to one layer (from :func:`eiesim.compress.quantize_weights`).

    Error statistics are over the kept (non-zero) weights only; pruned weights are exact.
    """

    bits: int
    """Bits of a code; the codebook has 2**bits entries."""
    init: str
    """Centroid initialisation used ("linear", "random" or "density")."""
    iterations: int
    """Lloyd iterations run (0 when the values were represented exactly)."""
    converged: bool
    """True when the assignment stopped changing (or the values are exact) before max_iter."""
    kept_weights: int
    """Number of non-zero weights."""
    distinct_kept_values: int
    """Number of distinct non-zero weight values (a codebook cannot use more centroids)."""
    clusters_used: int
    """Distinct non-zero codes that occur in the codes (codebook usage)."""
    reseeded_clusters: int
    """Times an empty cluster was moved to split the cluster with the largest error."""
    sse: float
    """Sum of squared errors of the kept weights against the float32 codebook."""
    rms_error: float
    """Root-mean-square error of the kept weights (0 when none are kept)."""
    max_abs_error: float
    """Largest absolute error of a kept weight."""
    relative_error: float
    """||W - Q(W)||_F / ||W||_F (0 for an all-zero layer)."""
    bias_max_abs_error: float = 0.0
    """Largest absolute error of a bias value (0 without bias)."""

    @property
    def codebook_usage(self) -> float:
        """Share of the 2**bits - 1 non-zero codebook entries that some weight uses."""
        return self.clusters_used / ((1 << self.bits) - 1)


@dataclass(frozen=True, eq=False)
class QuantizedLayer:
    """A fully connected layer as EIE stores it: codebook indices, shared values, bias codes.

    Checked on construction; ``codes`` and ``bias_codes`` become uint8, ``codebook`` float32.
    See the module doc for the optional metadata.
    """

    codes: np.ndarray
    """uint8 (out, in): index into ``codebook``; 0 = pruned."""
    codebook: np.ndarray
    """float32 (K,), K <= 256: ``codebook[0] == 0``, the shared weight values."""
    bias_codes: np.ndarray | None = None
    """uint8 (out,) codes of the bias (the extra bias column), or None."""
    relu: bool = True
    """Whether ReLU follows this layer in a network."""
    activations: np.ndarray | None = field(default=None, kw_only=True)
    """float64 (in,) input vector that came with the layer (a layer file has one), or None."""
    source: str = field(default="", kw_only=True)
    """File name, example name or generator call the layer came from."""
    checksum: str = field(default="", kw_only=True)
    """Short SHA-256 of the arrays it was read from ("" when not read from a file)."""
    quantized_on_load: bool = field(default=False, kw_only=True)
    """True when a file gave float weights and they were quantized on load."""
    reference_weights: np.ndarray | None = field(default=None, kw_only=True, repr=False)
    """The float (out, in) weights this layer was quantized from, or None."""
    reference_bias: np.ndarray | None = field(default=None, kw_only=True, repr=False)
    """The float (out,) bias this layer was quantized from, or None."""
    quantization: QuantizationStats | None = field(default=None, kw_only=True)
    """What the k-means fit did, when this layer was made by quantizing; else None."""

    def __post_init__(self) -> None:
        from eiesim.format.codes import check_codes  # compress imports this module

        codebook = np.asarray(self.codebook)
        if codebook.ndim == 1 and codebook.size > (1 << MAX_CODE_BITS):
            raise LayerError(f"codebook has {codebook.size} entries; at most "
                             f"{1 << MAX_CODE_BITS} fit 8-bit codes; quantize with fewer bits")
        codes, _, bias_codes = check_codes(self.codes, codebook, self.bias_codes, MAX_CODE_BITS)
        if not isinstance(self.relu, (bool, np.bool_)):
            raise LayerError(f"relu = {self.relu!r} must be True or False")
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "codebook", codebook.astype(np.float32))
        object.__setattr__(self, "bias_codes", bias_codes)
        object.__setattr__(self, "relu", bool(self.relu))
        if self.activations is not None:
            from eiesim.checks import real_array

            object.__setattr__(self, "activations", real_array(
                self.activations, "activations", (codes.shape[1],), source=self.source,
                why=f"(the layer has {codes.shape[1]} inputs)"))
        if self.reference_weights is not None and np.shape(self.reference_weights) != \
                codes.shape:
            raise LayerError(f"reference_weights has shape {np.shape(self.reference_weights)}; "
                             f"it must have the codes' shape {codes.shape}")

    # --- shape -------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """(out, in)."""
        return (int(self.codes.shape[0]), int(self.codes.shape[1]))

    @property
    def out_features(self) -> int:
        return int(self.codes.shape[0])

    @property
    def in_features(self) -> int:
        return int(self.codes.shape[1])

    @property
    def has_bias(self) -> bool:
        return self.bias_codes is not None

    @property
    def kept_weights(self) -> int:
        """Number of stored (non-zero-code) weights."""
        return int(np.count_nonzero(self.codes))

    @property
    def density(self) -> float:
        """Share of weights kept (non-zero codes)."""
        return self.kept_weights / self.codes.size

    @property
    def clusters_used(self) -> int:
        """Distinct non-zero codes that occur in ``codes``."""
        used = np.bincount(self.codes.ravel(), minlength=self.codebook.size)[1:]
        return int(np.count_nonzero(used))

    # --- values ------------------------------------------------------------------------------
    def weights(self) -> np.ndarray:
        """The dense (out, in) weights, float32, with the codebook's values."""
        return self.codebook[self.codes]

    def bias(self) -> np.ndarray | None:
        """The bias, float32 (out,), or None."""
        return None if self.bias_codes is None else self.codebook[self.bias_codes]

    def weight_error(self) -> dict[str, float] | None:
        """Error of the shared weights against :attr:`reference_weights` (None without them):
        ``rms`` and ``max_abs`` over every weight, ``relative`` = ||W - Q||_F / ||W||_F."""
        if self.reference_weights is None:
            return None
        reference = np.asarray(self.reference_weights, dtype=np.float64)
        error = reference - self.weights().astype(np.float64)
        norm = float(np.sqrt(np.sum(reference * reference)))
        frobenius = float(np.sqrt(np.sum(error * error)))
        return {"rms": frobenius / np.sqrt(error.size),
                "max_abs": float(np.max(np.abs(error), initial=0.0)),
                "relative": frobenius / norm if norm > 0 else 0.0}

    def encode(self, spec: HardwareSpec | None = None) -> EncodedLayer:
        """Encode into EIE's interleaved CSC for ``spec`` (default: the paper's 64 PEs).

        The layer keeps its last few encodings, one per :attr:`HardwareSpec.encoding_key`
        (PEs, index bits, weight bits), and returns the kept one for any spec that differs
        only in other fields (memories, queues, clock, arithmetic), checked against that spec's
        memories: networks run many inputs, and sweeps many timing points, on one encoding.
        """
        from eiesim.format.encoder import encode
        from eiesim.spec import DEFAULT_SPEC

        spec = DEFAULT_SPEC if spec is None else spec
        kept = self.__dict__.setdefault("_encodings", {})  # not a field: no part of equality
        encoded = kept.pop(spec.encoding_key, None)
        if encoded is None:
            # The memories are checked below, for this spec: one encoding serves every size.
            encoded = encode(self.codes, self.codebook, self.bias_codes, spec=spec,
                             check_capacity=False)
        kept[spec.encoding_key] = encoded  # most recently used last
        while len(kept) > KEPT_ENCODINGS:
            del kept[next(iter(kept))]
        encoded.check_fits(spec)
        return encoded

    def __getstate__(self) -> dict[str, Any]:
        # A copy sent to another process (a sweep worker) builds its own encodings.
        return {name: value for name, value in self.__dict__.items() if name != "_encodings"}

    def replace(self, **changes: Any) -> QuantizedLayer:
        """A copy with some fields changed (checked again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_quantized(cls, quantized: Any, relu: bool = True) -> QuantizedLayer:
        """From anything with ``codes``, ``codebook`` and ``bias_codes``, with ReLU ``relu``."""
        if isinstance(quantized, QuantizedLayer):
            return quantized if quantized.relu == relu else quantized.replace(relu=relu)
        return cls(quantized.codes, quantized.codebook, getattr(quantized, "bias_codes", None),
                   relu)

    # --- weight-sharing statistics (from :attr:`quantization`) -------------------------------
    def _stats(self, name: str) -> Any:
        if self.quantization is None:
            raise AttributeError(f"{name} is known only for a layer made by quantizing float "
                                 f"weights (quantization is None for {self.source or 'this'} "
                                 f"layer); see weight_error() for layers with reference weights")
        return getattr(self.quantization, name)

    @property
    def bits(self) -> int:
        """Bits of a code (:class:`QuantizationStats`)."""
        return self._stats("bits")

    @property
    def init(self) -> str:
        """Centroid initialisation (:class:`QuantizationStats`)."""
        return self._stats("init")

    @property
    def iterations(self) -> int:
        """Lloyd iterations (:class:`QuantizationStats`)."""
        return self._stats("iterations")

    @property
    def converged(self) -> bool:
        """Whether k-means converged (:class:`QuantizationStats`)."""
        return self._stats("converged")

    @property
    def sse(self) -> float:
        """Squared error of the kept weights (:class:`QuantizationStats`)."""
        return self._stats("sse")

    @property
    def rms_error(self) -> float:
        """RMS error of the kept weights (:class:`QuantizationStats`)."""
        return self._stats("rms_error")

    @property
    def max_abs_error(self) -> float:
        """Largest error of a kept weight (:class:`QuantizationStats`)."""
        return self._stats("max_abs_error")

    @property
    def relative_error(self) -> float:
        """||W - Q(W)||_F / ||W||_F (:class:`QuantizationStats`)."""
        return self._stats("relative_error")

    @property
    def bias_max_abs_error(self) -> float:
        """Largest error of a bias value (:class:`QuantizationStats`)."""
        return self._stats("bias_max_abs_error")


def as_quantized_layer(layer: Any, *, what: str = "layer") -> QuantizedLayer:
    """``layer`` if it is a :class:`QuantizedLayer`, else one built from its ``codes``,
    ``codebook`` and ``bias_codes`` (and ``relu``, ``activations`` when it has them)."""
    if isinstance(layer, QuantizedLayer):
        return layer
    if not (hasattr(layer, "codes") and hasattr(layer, "codebook")):
        raise LayerError(f"{what} is a {type(layer).__name__}; give a QuantizedLayer (or an "
                         f"object with codes, codebook and bias_codes)")
    return QuantizedLayer(layer.codes, layer.codebook, getattr(layer, "bias_codes", None),
                          bool(getattr(layer, "relu", True)),
                          activations=getattr(layer, "activations", None))


__all__ = ["MAX_CODE_BITS", "QuantizationStats", "QuantizedLayer", "as_quantized_layer"]
