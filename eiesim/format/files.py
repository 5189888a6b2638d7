"""Layer files (.npz) in and out, checked (JSON results, which carry a schema version, are
written by :mod:`eiesim.report`; layer files carry none: their arrays are the format).

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
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from eiesim.checks import check_array_kinds, real_array, refuse_model_file, unknown_names_hint
from eiesim.errors import EiesimError, LayerError
from eiesim.format.quantized import MAX_CODE_BITS, QuantizedLayer
from eiesim.safe_output import write_file

LAYER_ARRAYS = ("weights", "codes", "codebook", "activations", "bias", "bias_codes")


HOW_TO_MAKE_A_LAYER_FILE = ("a layer file is an .npz archive of named arrays: write one with "
                            "eiesim.format.files.save_layer(path, codes, codebook, activations) or "
                            "numpy.savez(path, weights=W, activations=a)")



def checksum(arrays: dict[str, np.ndarray]) -> str:
    """Short SHA-256 over the arrays' names and bytes (sorted by name): the input checksum of
    results."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(name.encode())
        digest.update(memoryview(np.ascontiguousarray(arrays[name])).cast("B"))  # no copy
    return digest.hexdigest()[:16]


_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


def read_npz(path: str | Path, *, what: str = "layer file",
             how: str = HOW_TO_MAKE_A_LAYER_FILE,
             error: type[EiesimError] = LayerError) -> dict[str, np.ndarray]:
    """Every array of the .npz archive ``path``, or ``error`` (a :class:`LayerError` unless
    given) saying what the file is instead (missing, a directory, empty, a single .npy array,
    text or other bytes, a zip that is not an .npz, a damaged archive, Python objects, an
    intact archive with an array too large to load: :func:`eiesim.limits.check_file_array`,
    checked from the array headers before any data is read) and ``how`` to make a ``what``.

    Never unpickles: arrays of Python objects are refused."""
    try:
        return _read_npz(Path(path), what, how)
    except LayerError as failure:
        if error is LayerError:
            raise
        raise error(str(failure)) from None


def _read_npz(path: Path, what: str, how: str) -> dict[str, np.ndarray]:
    name = str(path)
    if not path.exists():
        raise LayerError(f"{what} {name!r} does not exist; give the path of an .npz file "
                         f"({how})")
    if not path.is_file():
        raise LayerError(f"{what} {name!r} is a directory or special file, not an .npz file; "
                         f"{how}")
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as error:
        raise LayerError(f"{what} {name!r} cannot be read ({error.strerror}); check its "
                         f"permissions") from None
    if not head:
        raise LayerError(f"{what} {name!r} is empty (0 bytes); {how}")
    if head.startswith(_NPY_MAGIC):
        raise LayerError(f"{what} {name!r} holds a single numpy array (a .npy file, as "
                         f"numpy.save writes), not an archive of named arrays; {how}")
    if not head.startswith(_ZIP_MAGICS):
        kind = "a text file" if _looks_like_text(path) else "not a numpy file"
        raise LayerError(f"{what} {name!r} is {kind} (it starts with {head[:8]!r}), not an .npz "
                         f"archive; {how}")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
    except Exception as error:  # a damaged archive fails in many ways; say so once
        raise LayerError(f"{what} {name!r} looks like a zip archive but is damaged "
                         f"({type(error).__name__}: {error}); {how}") from None
    foreign = [member for member in members if not member.endswith(".npy")]
    if foreign:
        raise LayerError(f"{what} {name!r} is a zip archive but not an .npz: member "
                         f"{foreign[0]!r} is not a numpy array; {how}")
    _check_array_headers(path, members, f"{what} {name!r}", how)
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as data:
            for array_name in data.files:
                current = array_name
                arrays[array_name] = data[array_name]
    except ValueError as error:
        if "allow_pickle" in str(error) or "Object arrays" in str(error):
            raise LayerError(f"{what} {name!r}: array {current!r} holds Python objects (dtype "
                             f"object); eiesim reads numeric arrays only and never unpickles; "
                             f"save plain numeric arrays ({how})") from None
        raise LayerError(f"{what} {name!r}: array {current!r} is damaged or not a numpy array "
                         f"({error}); {how}") from None
    except MemoryError:
        raise LayerError(f"{what} {name!r}: array {current!r} is intact but there is not "
                         f"enough memory to load it; free memory or give a smaller file") from None
    except Exception as error:  # damaged member, truncated data
        raise LayerError(f"{what} {name!r} is a damaged .npz archive ({type(error).__name__}: "
                         f"{error}); {how}") from None
    return arrays


def _check_array_headers(path: Path, members: list[str], what: str, how: str) -> None:
    """Read every member's .npy header (shape and dtype, a few hundred bytes) and refuse an
    array too large to load before any data is read (:mod:`eiesim.limits`); a header that
    cannot be read is damage."""
    with zipfile.ZipFile(path) as archive:
        for member in members:
            name = member[: -len(".npy")]
            try:
                handle = archive.open(member)
            except Exception as error:  # a damaged local header
                raise LayerError(f"{what}: array {name!r} is damaged ({type(error).__name__}: "
                                 f"{error}); {how}") from None
            with handle:
                check_array_header(handle, name=name, what=what, how=how)


def check_array_header(handle: Any, *, name: str, what: str, how: str) -> None:
    """Read the .npy header at ``handle`` (a binary file positioned at the array: shape and
    dtype, a few hundred bytes) and refuse array ``name`` of ``what`` if it is too large to load
    (:func:`eiesim.limits.check_file_array`), before any of its data is read. A header that
    cannot be read is damage (a :class:`LayerError` saying ``how`` to make the file)."""
    from numpy.lib import format as npy_format

    from eiesim.limits import check_file_array

    try:
        version = npy_format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = npy_format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _, dtype = npy_format.read_array_header_2_0(handle)
        else:  # numpy reads its other versions itself, and checks them then
            return
    except Exception as error:  # a truncated or garbled header
        raise LayerError(f"{what}: array {name!r} is damaged (its header cannot be read: "
                         f"{type(error).__name__}: {error}); {how}") from None
    check_file_array(shape, str(dtype), name=name, what=what, error=LayerError)


def _looks_like_text(path: Path) -> bool:
    with open(path, "rb") as handle:
        sample = handle.read(512)
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch >= 32 or ch in (9, 10, 13) for ch in sample)


def load_layer(path: str | Path, *, weight_index_bits: int | None = None,
               seed: int = 0) -> QuantizedLayer:
    """Read and check a layer file (module doc); quantize float ``weights`` to
    ``weight_index_bits`` (default: the default spec's). Returns a
    :class:`~eiesim.format.quantized.QuantizedLayer` with ``activations``, ``source`` and
    ``checksum`` set (and ``quantized_on_load`` plus the float ``reference_weights`` when the
    file held float weights)."""
    path = Path(path)
    arrays = read_npz(path)
    return layer_from_arrays(arrays, source=str(path), weight_index_bits=weight_index_bits,
                             seed=seed)


def layer_from_arrays(arrays: dict[str, np.ndarray], *, source: str = "<arrays>",
                      weight_index_bits: int | None = None, seed: int = 0) -> QuantizedLayer:
    """Check the arrays of a layer (see the module docstring) and return the layer."""
    if weight_index_bits is None:
        from eiesim.spec import DEFAULT_SPEC

        weight_index_bits = DEFAULT_SPEC.weight_index_bits
    unknown = sorted(set(arrays) - set(LAYER_ARRAYS))
    refuse_model_file(unknown, source, "a layer file")
    if unknown:
        raise LayerError(f"{source}: unknown array(s) "
                         f"{unknown_names_hint(unknown, LAYER_ARRAYS)}; a layer file holds "
                         f"{', '.join(LAYER_ARRAYS)}")
    arrays = {name: np.asarray(value) for name, value in arrays.items()}
    check_array_kinds(arrays, source=source)
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
                             source=source, within_float32=True)
    bias = real_array(arrays["bias"], "bias", (out_features,), source=source,
                      within_float32=True) if "bias" in arrays else None

    from eiesim.format.codes import check_codes  # validation shared with the encoder

    reference_weights = None
    if has_weights:
        weights = real_array(main, "weights", main.shape, source=source, within_float32=True)
        # The one import up the house: a layer file may hold float weights, and only the
        # compression front end knows how to share them through a codebook (k-means). Loading
        # does what `eiesim compress` would, so that every command accepts such a file.
        from eiesim.compress.quantize import quantize_weights

        try:
            quantized = quantize_weights(weights, bits=weight_index_bits, seed=seed, bias=bias)
        except LayerError as error:
            raise LayerError(f"{source}: {error}") from None
        codes, codebook, bias_codes = quantized.codes, quantized.codebook, quantized.bias_codes
        reference_weights = weights
        stats = quantized.quantization
    else:
        codebook = arrays["codebook"]
        if codebook.ndim != 1:
            raise LayerError(f"{source}: codebook has shape {codebook.shape}; it must be a 1-D "
                             f"float vector")
        codes, bias_codes, stats = main, arrays.get("bias_codes"), None
    try:
        codes, codebook, bias_codes = check_codes(codes, codebook, bias_codes,
                                                  weight_index_bits)
        return QuantizedLayer(codes, codebook, bias_codes, activations=activations,
                              source=source, checksum=checksum(arrays),
                              quantized_on_load=has_weights,
                              reference_weights=reference_weights, reference_bias=bias,
                              quantization=stats)
    except LayerError as error:
        raise LayerError(f"{source}: {error}") from None


def save_layer(path: str | Path, codes: Any, codebook: np.ndarray | None = None,
               activations: np.ndarray | None = None, bias_codes: np.ndarray | None = None, *,
               weight_index_bits: int = MAX_CODE_BITS) -> Path:
    """Write a layer file with codes and codebook (the format :func:`load_layer` reads).

    ``codes`` is the (out, in) code matrix, or a :class:`~eiesim.format.quantized.QuantizedLayer`
    (then its codebook, bias codes and, unless given, activations are written). Everything is
    checked exactly as :func:`load_layer` checks it (with up to ``weight_index_bits``-bit
    codes; load such a file with the same ``weight_index_bits``) before anything is written;
    the file is written to a temporary file in the same folder and renamed, so a failure
    leaves no partial file and an existing file untouched. The path is used as given (no
    suffix is added)."""
    if isinstance(codes, QuantizedLayer):
        layer = codes
        codes, codebook, bias_codes = layer.codes, layer.codebook, layer.bias_codes
        activations = layer.activations if activations is None else activations
    if codebook is None or activations is None:
        missing = "codebook" if codebook is None else "activations"
        raise LayerError(f"save_layer needs {missing}; pass it (a layer file holds codes, a "
                         f"codebook and the input vector 'activations')")
    given = {"codes": codes, "codebook": codebook, "activations": activations}
    if bias_codes is not None:
        given["bias_codes"] = bias_codes
    layer = layer_from_arrays(given, source=f"save_layer({str(path)!r})",
                              weight_index_bits=weight_index_bits)
    arrays = {"codes": layer.codes,
              "codebook": layer.codebook[: np.asarray(codebook).size],
              "activations": _smallest_exact_float(layer.activations)}
    if layer.bias_codes is not None:
        arrays["bias_codes"] = layer.bias_codes
    return write_file(path, lambda handle: np.savez_compressed(handle, **arrays))


def _smallest_exact_float(values: np.ndarray) -> np.ndarray:
    """float32 when that keeps every value, else float64 (an input must stay exact)."""
    single = values.astype(np.float32)
    return single if np.array_equal(single, values) else values
