"""Layer files (.npz) in, results (.json) out, each versioned and checked.

Layer file format (``.npz``), one fully connected layer ``b = ReLU(W a + bias)``:

=================  =========================  ===============================================
array              shape / dtype              meaning
=================  =========================  ===============================================
``weights``        (out, in) float            dense weights; zeros are pruned. Quantized with
                                              Deep Compression's k-means on load.
``codes``          (out, in) integer          *or* codebook indices, 0 = pruned (with
                                              ``codebook``)
``codebook``       (K,) float, K <= 2**bits   shared weight values; ``codebook[0] == 0``
``activations``    (in,) float                the input vector
``bias``           (out,) float, optional     bias, quantized with the layer's codebook
``bias_codes``     (out,) integer, optional   *or* bias as codebook indices
=================  =========================  ===============================================

Exactly one of ``weights`` and ``codes`` must be present; ``codebook`` goes with ``codes`` only;
at most one of ``bias`` and ``bias_codes``. Any other array is an error (a misspelt name would
otherwise be silently ignored).
"""

from __future__ import annotations

import hashlib
import platform
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from eiesim.checks import real_array, unknown_names_hint
from eiesim.errors import EiesimError, LayerError

SCHEMA_VERSION = 1
LAYER_ARRAYS = ("weights", "codes", "codebook", "activations", "bias", "bias_codes")
EXAMPLES = {"alexnet-fc8": "alexnet_fc8.npz"}


@dataclass(frozen=True, eq=False)
class LayerData:
    """A layer as stored in a file: codes and codebook (quantized if needed), input, bias."""

    codes: np.ndarray  # uint8 (out, in)
    codebook: np.ndarray  # float32 (K,)
    activations: np.ndarray  # float64 (in,)
    bias_codes: np.ndarray | None  # uint8 (out,) or None
    source: str  # file name or example name
    quantized_on_load: bool = False
    checksum: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return self.codes.shape  # type: ignore[return-value]


def example_path(name: str) -> Path:
    """Path of a layer shipped with eiesim (``alexnet-fc8``: AlexNet fc8, as EIE's authors
    encoded it, with a real fc7 activation vector)."""
    if name not in EXAMPLES:
        raise EiesimError(f"example {name!r} is unknown; the shipped examples are "
                          f"{', '.join(EXAMPLES)}")
    return Path(str(resources.files("eiesim") / "data" / EXAMPLES[name]))


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    return digest.hexdigest()[:16]


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise LayerError(f"layer file {str(path)!r} does not exist; give the path of an .npz "
                         f"file, or use --example alexnet-fc8")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise LayerError(f"{str(path)!r} is not a readable .npz layer file ({error}); save one "
                         f"with numpy.savez or eiesim.io.save_layer") from None


def load_layer(path: str | Path, *, weight_index_bits: int = 4, seed: int = 0) -> LayerData:
    """Read and check a layer file; quantize float ``weights`` to ``weight_index_bits``."""
    path = Path(path)
    arrays = _read_npz(path)
    return layer_from_arrays(arrays, source=str(path), weight_index_bits=weight_index_bits,
                             seed=seed)


def layer_from_arrays(arrays: dict[str, np.ndarray], *, source: str = "<arrays>",
                      weight_index_bits: int = 4, seed: int = 0) -> LayerData:
    """Check the arrays of a layer (see the module docstring) and return LayerData."""
    unknown = sorted(set(arrays) - set(LAYER_ARRAYS))
    if unknown:
        raise LayerError(f"{source}: unknown array(s) "
                         f"{unknown_names_hint(unknown, LAYER_ARRAYS)}; a layer file holds "
                         f"{', '.join(LAYER_ARRAYS)}")
    has_weights, has_codes = "weights" in arrays, "codes" in arrays
    if has_weights == has_codes:
        what = "both" if has_weights else "neither"
        raise LayerError(f"{source}: has {what} of 'weights' and 'codes'; give exactly one "
                         f"(float weights, or codebook indices with a 'codebook')")
    if "activations" not in arrays:
        raise LayerError(f"{source}: the array 'activations' (the input vector) is missing; "
                         f"add it with shape (in,)")
    if "bias" in arrays and "bias_codes" in arrays:
        raise LayerError(f"{source}: has both 'bias' and 'bias_codes'; keep one")
    if has_codes and "codebook" not in arrays:
        raise LayerError(f"{source}: 'codes' needs a 'codebook' (codebook[0] == 0); add it")
    if has_weights and "codebook" in arrays:
        raise LayerError(f"{source}: 'codebook' goes with 'codes', not 'weights'; drop it or "
                         f"store codes")
    if has_weights and "bias_codes" in arrays:
        raise LayerError(f"{source}: 'bias_codes' goes with 'codes'; store a float 'bias'")

    main = arrays["weights" if has_weights else "codes"]
    if main.ndim != 2 or main.shape[0] < 1 or main.shape[1] < 1:
        raise LayerError(f"{source}: {'weights' if has_weights else 'codes'} has shape "
                         f"{main.shape}; it must be a 2-D (out, in) matrix")
    out_features, in_features = main.shape
    activations = real_array(arrays["activations"], "activations", (in_features,),
                             source=source)
    bias = real_array(arrays["bias"], "bias", (out_features,), source=source) \
        if "bias" in arrays else None

    from eiesim.compress.encode import check_codes  # validation shared with the encoder

    if has_weights:
        weights = real_array(main, "weights", main.shape, source=source)
        from eiesim.compress.quantize import quantize

        quantized = quantize(weights, bits=weight_index_bits, seed=seed, bias=bias)
        codes, codebook, bias_codes = quantized.codes, quantized.codebook, quantized.bias_codes
    else:
        codebook = np.asarray(arrays["codebook"])
        if codebook.ndim != 1 or not np.issubdtype(codebook.dtype, np.number):
            raise LayerError(f"{source}: codebook has shape {codebook.shape} and dtype "
                             f"{codebook.dtype}; it must be a 1-D float vector")
        codes, bias_codes = main, arrays.get("bias_codes")
    try:
        codes, codebook, bias_codes = check_codes(codes, codebook, bias_codes,
                                                  weight_index_bits)
    except LayerError as error:
        raise LayerError(f"{source}: {error}") from None
    return LayerData(codes=codes, codebook=codebook, activations=activations,
                     bias_codes=bias_codes, source=source, quantized_on_load=has_weights,
                     checksum=_checksum(arrays))


def save_layer(path: str | Path, codes: np.ndarray, codebook: np.ndarray,
               activations: np.ndarray, bias_codes: np.ndarray | None = None) -> Path:
    """Write a layer file with codes and codebook (the format :func:`load_layer` reads)."""
    arrays = {"codes": np.asarray(codes, dtype=np.uint8),
              "codebook": np.asarray(codebook, dtype=np.float32),
              "activations": np.asarray(activations, dtype=np.float32)}
    if bias_codes is not None:
        arrays["bias_codes"] = np.asarray(bias_codes, dtype=np.uint8)
    path = Path(path)
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
    return path


def environment_metadata() -> dict[str, Any]:
    """Versions of eiesim and the packages that decide its numbers, and the machine."""
    import numba
    import simpy

    import eiesim

    return {
        "eiesim": eiesim.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "simpy": simpy.__version__,
        "machine": platform.machine(),
        "platform": platform.platform(),
    }
