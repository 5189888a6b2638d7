"""One call from float weights to a layer file: prune, quantize (weight sharing), save.

:func:`compress_arrays` turns a float (out, in) weight matrix (and bias) into the arrays of a
layer file (``codes``, ``codebook``, ``bias_codes``; see :mod:`eiesim.format.files`);
:func:`compress_file` does the same from an ``.npz`` file to a layer file that ``eiesim run``
reads, and returns a :class:`CompressSummary`. The command line wraps it as
``eiesim compress IN.npz --method METHOD --density D [--pes N] [--bits B] [--seed S] -o OUT.npz``.

Input file (``.npz``):

=================  =====================  ==========================================================
array              shape / dtype          meaning
=================  =====================  ==========================================================
``weights``        (out, in) float        dense trained weights
``bias``           (out,) float, opt.     bias; quantized with the layer's codebook (§2 of
                                          docs/hardware.md)
``activations``    (in,) float, opt.      an input vector, copied to the layer file (``eiesim
                                          run`` needs one)
``gradients``      (out, in) float, opt.  dL/dW, needed by ``method="gradient"`` only
``inputs``         (n, in) float, opt.    a sample of the layer's input vectors, needed by
                                          ``method="obs"`` only
=================  =====================  ==========================================================

Method "obs" (layer-wise Optimal Brain Surgeon, :mod:`eiesim.compress.obs`) is the one method
here that needs more than the weights: the Hessian of the layer's reconstruction error is
``X X^T`` of its inputs, so the input file carries a sample of them as ``inputs``; OBS then also
moves the kept weights and the bias (the least-squares refit of the layer's outputs).

Pruning is one shot here (:func:`eiesim.compress.prune_weights`); for pruning with retraining
use :func:`eiesim.compress.iterative_prune` with a ``fine_tune`` callback, then
:func:`eiesim.compress.quantize_weights` (``examples/digits.py`` is a worked example;
:mod:`eiesim.search.compression` does it for whole networks).

Pure numpy: like the rest of :mod:`eiesim.compress`, this module never imports :mod:`eiesim.sim`.

>>> import numpy as np

>>> w = np.random.default_rng(0).normal(size=(32, 16))
>>> arrays = compress_arrays(w, method="magnitude", density=0.25, bits=4)
>>> sorted(arrays), arrays["codes"].shape, int(np.count_nonzero(arrays["codes"]))
(['codebook', 'codes'], (32, 16), 128)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eiesim.checks import check_array_kinds, real_array, refuse_model_file, unknown_names_hint
from eiesim.compress.obs import obs_prune_layer
from eiesim.compress.prune import METHODS, _check_num_pes, prune_weights
from eiesim.compress.quantize import quantize_weights
from eiesim.errors import CompressionError, LayerError
from eiesim.format.quantized import QuantizedLayer

INPUT_ARRAYS = ("weights", "bias", "activations", "gradients", "inputs")
"""Arrays an input file of :func:`compress_file` may hold."""
LAYER_METHODS = METHODS + ("obs",)
"""The methods of :func:`compress_file`: the weights-only ones and OBS (needs ``inputs``)."""


@dataclass(frozen=True)
class CompressSummary:
    """What :func:`compress_file` did: the density reached and the error weight sharing made."""

    in_path: str
    out_path: str
    shape: tuple[int, int]
    method: str
    density_target: float
    density: float
    """Non-zero codes / (out * in): the share of weights EIE stores (a kept weight that was
    already 0 stays 0, so it can be below the target)."""
    kept_weights: int
    bits: int
    codebook_size: int
    clusters_used: int
    rms_error: float
    """Root-mean-square error of the kept weights after weight sharing."""
    relative_error: float
    """||W_pruned - Q(W_pruned)||_F / ||W_pruned||_F."""
    max_abs_error: float
    bias_max_abs_error: float
    has_bias: bool
    num_pes: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["shape"] = list(self.shape)
        return values

    def format(self) -> str:
        """A few readable lines (what ``eiesim compress`` prints)."""
        out, inp = self.shape
        lines = [
            f"compressed {self.in_path} -> {self.out_path}",
            f"layer      {out} x {inp}, method {self.method}"
            + (f" ({self.num_pes} PEs)" if self.method == "balanced" else ""),
            f"density    {self.density:.2%} stored (target {self.density_target:.2%}), "
            f"{self.kept_weights:,} weights",
            f"codebook   {self.bits}-bit, {self.clusters_used} of {self.codebook_size - 1} "
            f"clusters used (index 0 = pruned)",
            f"weight sharing error  rms {self.rms_error:.3g}, max {self.max_abs_error:.3g}, "
            f"relative {self.relative_error:.2%}"
            + (f"; bias max {self.bias_max_abs_error:.3g}" if self.has_bias else ""),
        ]
        if self.bits > 4:
            lines.append(f"note       {self.bits}-bit codes: run with --weight-bits {self.bits}")
        return "\n".join(lines)


def compress_arrays(weights: np.ndarray, bias: np.ndarray | None = None, *, method: str,
                    density: float, num_pes: int | None = None, bits: int | None = None,
                    seed: int = 0, gradients: np.ndarray | None = None,
                    inputs: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Prune ``weights`` (out, in) to ``density`` with ``method``, then share the kept weights
    through a ``2**bits``-entry codebook; return the layer-file arrays.

    The result holds ``codes`` (uint8 (out, in), 0 = pruned), ``codebook`` (float32
    (2**bits,), entry 0 = 0) and, when ``bias`` is given, ``bias_codes`` (uint8 (out,)). Add
    ``activations`` and pass it to :func:`eiesim.format.files.save_layer` to get a runnable layer
    file.
    ``num_pes`` and ``bits`` default to the default spec's ``num_pes`` and
    ``weight_index_bits``. ``num_pes`` matters to method "balanced" only (row i belongs to PE
    i mod num_pes);
    ``gradients`` (dL/dW) is needed by method "gradient" only; ``inputs`` (n, in), a sample
    of the layer's input vectors, by method "obs" only; ``seed`` decides method "random".
    """
    arrays, _ = _compress(weights, bias, method=method, density=density, num_pes=num_pes,
                          bits=bits, seed=seed, gradients=gradients, inputs=inputs)
    return arrays


def compress_file(in_path: str | Path, out_path: str | Path, *, method: str, density: float,
                  num_pes: int | None = None, bits: int | None = None, seed: int = 0,
                  activations: np.ndarray | None = None) -> CompressSummary:
    """Compress the float layer in ``in_path`` into the layer file ``out_path``.

    ``in_path`` holds ``weights`` and optionally ``bias``, ``activations`` and ``gradients``
    (module doc). The written file holds ``codes``, ``codebook``, ``activations`` and, with a
    bias, ``bias_codes`` — the format :func:`eiesim.format.files.load_layer` and ``eiesim run``
    read.
    ``activations`` given here replace the file's. A layer file needs an input vector, so the
    call fails (before any work, writing nothing) when neither provides one. Nothing is written
    unless every step succeeds.
    """
    in_path, out_path = Path(in_path), Path(out_path)
    if out_path.suffix.lower() != ".npz":
        raise CompressionError(f"output {str(out_path)!r} must end in .npz (a layer file is a "
                               f"numpy archive); e.g. -o layer.npz")
    if out_path.exists() and in_path.exists() and out_path.resolve() == in_path.resolve():
        raise CompressionError(f"output {str(out_path)!r} is the input file; write the compressed "
                               f"layer to another path")
    if not out_path.parent.is_dir():
        raise CompressionError(f"output directory {str(out_path.parent)!r} does not exist; create "
                               f"it or write the layer file elsewhere")
    arrays = _read_input(in_path)
    source = str(in_path)
    weights = arrays["weights"]
    if weights.ndim != 2 or weights.shape[0] < 1 or weights.shape[1] < 1:
        raise CompressionError(f"{source}: weights has shape {weights.shape}; it must be a 2-D "
                               f"(out, in) matrix")
    out_features, in_features = weights.shape
    if activations is None:
        if "activations" not in arrays:
            raise CompressionError(
                f"{source}: has no 'activations', and a layer file needs an input vector of "
                f"shape ({in_features},) for `eiesim run`; add 'activations' to the input file "
                f"(or pass activations= from Python)")
        activations = arrays["activations"]
    activations = _float_array(activations, "activations", (in_features,), source)
    bias = arrays.get("bias")
    if bias is not None:
        bias = _float_array(bias, "bias", (out_features,), source)
    gradients = arrays.get("gradients")
    if method == "gradient" and gradients is None:
        raise CompressionError(f"{source}: method 'gradient' keeps the largest |w * dL/dw| and "
                               f"needs an array 'gradients' of shape {weights.shape} in the "
                               f"input file; add it or use --method magnitude")
    if gradients is not None:
        gradients = _float_array(gradients, "gradients", weights.shape, source)
    inputs = arrays.get("inputs")
    if method == "obs" and inputs is None:
        raise CompressionError(f"{source}: method 'obs' needs an array 'inputs' of shape (n, "
                            f"{in_features}), a sample of the layer's input vectors, in the "
                            f"input file; add it or use --method magnitude")

    try:
        layer_arrays, quantized = _compress(weights, bias, method=method, density=density,
                                            num_pes=num_pes, bits=bits, seed=seed,
                                            gradients=gradients, inputs=inputs)
    except CompressionError:
        raise
    except LayerError as error:  # from prune() or quantize(): name the file too
        raise CompressionError(f"{source}: {error}") from None

    from eiesim.format.files import (
        save_layer,  # io imports compress lazily; keep the import one way
    )

    save_layer(out_path, layer_arrays["codes"], layer_arrays["codebook"], activations,
               layer_arrays.get("bias_codes"))
    return CompressSummary(
        in_path=source, out_path=str(out_path), shape=(int(out_features), int(in_features)),
        method=method, density_target=float(density),
        density=quantized.kept_weights / quantized.codes.size,
        kept_weights=quantized.kept_weights, bits=quantized.bits,
        codebook_size=int(quantized.codebook.size), clusters_used=quantized.clusters_used,
        rms_error=quantized.rms_error, relative_error=quantized.relative_error,
        max_abs_error=quantized.max_abs_error, bias_max_abs_error=quantized.bias_max_abs_error,
        has_bias=bias is not None, num_pes=_check_num_pes(num_pes), seed=int(seed))


# --- internals -------------------------------------------------------------------------------

def _compress(weights: np.ndarray, bias: np.ndarray | None, *, method: str, density: float,
              num_pes: int, bits: int, seed: int, gradients: np.ndarray | None,
              inputs: np.ndarray | None = None
              ) -> tuple[dict[str, np.ndarray], QuantizedLayer]:
    if not isinstance(method, str) or method not in LAYER_METHODS:
        raise CompressionError(f"method = {method!r} is not a pruning method; use one of "
                            f"{', '.join(LAYER_METHODS)}")
    w = np.asarray(weights)
    if w.ndim != 2:
        raise CompressionError(f"weights has shape {w.shape}; compress one fully connected layer "
                               f"as a 2-D (out, in) matrix")
    if method == "gradient" and gradients is None:
        raise CompressionError(f"method 'gradient' needs gradients=dL/dW of shape {w.shape}; pass "
                               f"them or use method='magnitude'")
    # prune() and quantize() validate density, seed, num_pes, bits and the values themselves.
    if method == "obs":
        if inputs is None:
            raise CompressionError(f"method 'obs' needs inputs, a sample (n, {w.shape[1]}) of the "
                                f"layer's input vectors; pass them or use method='magnitude'")
        pruned, bias, _ = obs_prune_layer(w, inputs, density, bias=bias)
    else:
        pruned = prune_weights(w, density, method, seed=seed, gradients=gradients,
                               num_pes=num_pes)
    quantized = quantize_weights(pruned, bits=bits, seed=seed, bias=bias)
    arrays = {"codes": quantized.codes, "codebook": quantized.codebook}
    if quantized.bias_codes is not None:
        arrays["bias_codes"] = quantized.bias_codes
    return arrays, quantized


def _read_input(path: Path) -> dict[str, np.ndarray]:
    from eiesim.format.files import read_npz  # io imports compress lazily; keep the import one way

    try:
        arrays = read_npz(path, what="input file",
                          how="save the float weights with numpy.savez(path, weights=W, "
                              "activations=a)")
    except LayerError as error:
        raise CompressionError(str(error)) from None
    check_array_kinds(arrays, source=str(path), error=CompressionError)
    source = str(path)
    refuse_model_file(arrays, source, "a layer's input file", CompressionError)
    if "codes" in arrays:
        arrays = _weights_of_layer_file(arrays, source)
    unknown = sorted(set(arrays) - set(INPUT_ARRAYS))
    if unknown:
        raise CompressionError(f"{source}: unknown array(s) "
                               f"{unknown_names_hint(unknown, INPUT_ARRAYS)}; an input file holds "
                               f"{', '.join(INPUT_ARRAYS)}")
    if "weights" not in arrays:
        raise CompressionError(f"{source}: the array 'weights' (float, (out, in)) is missing; "
                               f"save it with numpy.savez(path, weights=W)")
    weights = arrays["weights"]
    if not np.issubdtype(weights.dtype, np.floating) and not np.issubdtype(weights.dtype,
                                                                           np.integer):
        raise CompressionError(f"{source}: weights have dtype {weights.dtype}; they must be real "
                               f"numbers")
    return arrays


def _weights_of_layer_file(arrays: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    """A layer file (codes and codebook, say the shipped fc8) compressed again: its weights and
    bias are the codebook's values, so it can be pruned further or shared in fewer bits."""
    from eiesim.compress.quantize import dequantize
    from eiesim.format.files import layer_from_arrays

    try:
        layer = layer_from_arrays(arrays, source=source)
    except LayerError as error:
        raise CompressionError(str(error)) from None
    inputs = {"weights": dequantize(layer.codes, layer.codebook)}
    if layer.bias_codes is not None:
        inputs["bias"] = dequantize(layer.bias_codes[:, None], layer.codebook)[:, 0]
    if layer.activations is not None:
        inputs["activations"] = layer.activations
    return inputs


def _float_array(array: object, name: str, shape: tuple[int, ...], source: str) -> np.ndarray:
    return real_array(array, name, shape, source=source, why="to match the weights",
                      error=CompressionError)
