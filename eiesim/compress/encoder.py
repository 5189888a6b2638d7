"""Encode a code matrix into EIE's interleaved CSC (docs/hardware.md §2).

Two passes over the code matrix, row by row, in small numba kernels (a measured hot spot: the
dense matrix is read twice and nothing of its size is allocated; the kernels live in
:mod:`eiesim.compress.encode_kernels`, imported on first use so that importing eiesim does not
import numba): the first counts every (PE, column) slice's entries, padding included, which is
all the capacity check needs (:func:`layer_requirements`); the second writes the entries where
the counts put them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eiesim.checks import check_finite_values
from eiesim.errors import CapacityError, LayerError
from eiesim.layer import EncodedLayer, LayerRequirements
from eiesim.limits import check_pe_column_slices
from eiesim.spec import DEFAULT_SPEC, HardwareSpec


def check_codes(codes: np.ndarray, codebook: np.ndarray, bias_codes: np.ndarray | None,
                weight_index_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate a (codes, codebook, bias_codes) triple and return it in canonical dtypes."""
    codes = _code_matrix(codes)
    codebook = np.asarray(codebook)
    size = 1 << weight_index_bits
    if codebook.ndim != 1 or codebook.size < 1 or codebook.size > size:
        raise LayerError(f"codebook has shape {codebook.shape}; it must be 1-D with at most "
                         f"{size} values for {weight_index_bits}-bit indices; re-quantize with "
                         f"fewer clusters or use more weight_index_bits")
    if not np.issubdtype(codebook.dtype, np.number) or np.iscomplexobj(codebook):
        raise LayerError(f"codebook has dtype {codebook.dtype}; every centroid must be a real "
                         f"number")
    # NaN, infinity, or finite but beyond the float32 the codebook is stored in: named as such.
    check_finite_values(codebook, "codebook")
    if codebook[0] != 0:
        raise LayerError(f"codebook[0] = {float(codebook[0])} but index 0 is reserved for 0 "
                         f"(padding and pruned weights); prepend 0 to the codebook")
    full_codebook = np.zeros(size, dtype=np.float32)
    full_codebook[: codebook.size] = codebook.astype(np.float32)
    codes, bias_codes = _canonical_codes(codes, bias_codes, codebook.size)
    return codes, full_codebook, bias_codes


def _unpack(codes_or_layer: Any, codebook: Any, bias_codes: Any) -> tuple[Any, Any, Any]:
    """(codes, codebook, bias_codes) from the positional form or a quantized-layer object (any
    object with ``.codes``, ``.codebook`` and ``.bias_codes``)."""
    if all(hasattr(codes_or_layer, name) for name in ("codes", "codebook", "bias_codes")):
        if codebook is not None or bias_codes is not None:
            raise LayerError(f"encode() got a {type(codes_or_layer).__name__} and a separate "
                             f"codebook or bias_codes; pass the layer alone (it carries both)")
        return codes_or_layer.codes, codes_or_layer.codebook, codes_or_layer.bias_codes
    if codebook is None:
        raise LayerError("encode() needs a codebook with a code matrix; pass "
                         "encode(codes, codebook, bias_codes) or a quantized layer with .codes, "
                         ".codebook and .bias_codes")
    return codes_or_layer, codebook, bias_codes


def _code_matrix(codes: Any) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[0] < 1 or codes.shape[1] < 1:
        raise LayerError(f"codes has shape {codes.shape}; it must be a 2-D (out, in) matrix "
                         f"with at least one row and one column")
    if not np.issubdtype(codes.dtype, np.integer):
        raise LayerError(f"codes has dtype {codes.dtype}; codebook indices must be integers "
                         f"(uint8); pass float weights as 'weights' to have them quantized")
    return codes


def _canonical_codes(codes: Any, bias_codes: Any, num_index: int) -> tuple[np.ndarray, Any]:
    """Codes and bias codes as checked uint8 arrays (rows contiguous), without the codebook."""
    codes = _code_matrix(codes)

    def checked(array: np.ndarray, name: str) -> np.ndarray:
        low, high = (int(array.min()), int(array.max())) if array.size else (0, 0)
        if low < 0 or high >= num_index:
            bad = high if high >= num_index else low
            raise LayerError(f"{name} contains index {bad}, outside the codebook's "
                             f"{num_index} entries (0..{num_index - 1}); fix the codes "
                             f"or supply the full codebook")
        # Any strides will do for the kernels (no copy of a large uint8 view).
        return array if array.dtype == np.uint8 else array.astype(np.uint8)

    codes = checked(codes, "codes")
    if bias_codes is not None:
        bias_codes = np.asarray(bias_codes)
        if bias_codes.shape != (codes.shape[0],) or not np.issubdtype(bias_codes.dtype,
                                                                      np.integer):
            raise LayerError(f"bias_codes has shape {bias_codes.shape} and dtype "
                             f"{bias_codes.dtype}; it must be integer with shape "
                             f"({codes.shape[0]},), one code per output")
        bias_codes = checked(bias_codes, "bias_codes")
    return codes, bias_codes


def _count(codes: np.ndarray, bias_codes: np.ndarray | None, spec: HardwareSpec) -> np.ndarray:
    """Entries (padding included) of every (PE, column) slice: int64 (num_pes, num_columns)."""
    num_pes = spec.num_pes
    padded_in = -(-codes.shape[1] // num_pes) * num_pes
    num_columns = padded_in + (1 if bias_codes is not None else 0)
    check_pe_column_slices(num_pes, num_columns, codes.shape[1], CapacityError)
    from eiesim.compress.encode_kernels import count_entries

    per_column = np.zeros((num_pes, num_columns), dtype=np.int64)
    count_entries(codes, _bias_or_empty(bias_codes), num_pes,
                   padded_in if bias_codes is not None else -1, spec.rel_index_bits, per_column)
    return per_column


def _bias_or_empty(bias_codes: np.ndarray | None) -> np.ndarray:
    return bias_codes if bias_codes is not None else np.zeros(0, dtype=np.uint8)


def _requirements(per_column: np.ndarray, out_features: int, in_features: int,
                  has_bias: bool) -> LayerRequirements:
    per_pe = per_column.sum(axis=1)
    worst = int(np.argmax(per_pe))
    return LayerRequirements(num_pes=per_column.shape[0], out_features=out_features,
                             in_features=in_features, has_bias=has_bias,
                             max_entries_per_pe=int(per_pe[worst]), worst_pe=worst)


def layer_requirements(codes_or_layer: Any, bias_codes: Any = None, *,
                       spec: HardwareSpec = DEFAULT_SPEC) -> LayerRequirements:
    """What the layer needs from ``spec``'s memories once encoded for ``spec`` (entries per PE
    with padding, pointers, activations), counted without building the encoding. Takes a code
    matrix (with ``bias_codes``) or a quantized layer (``.codes``, ``.bias_codes``)."""
    if all(hasattr(codes_or_layer, name) for name in ("codes", "bias_codes")):
        codes_or_layer, bias_codes = codes_or_layer.codes, codes_or_layer.bias_codes
    codes, bias_codes = _canonical_codes(codes_or_layer, bias_codes, 1 << 8)
    return _requirements(_count(codes, bias_codes, spec), *codes.shape, bias_codes is not None)


def encode(codes_or_layer: Any, codebook: Any = None, bias_codes: Any = None, *,
           spec: HardwareSpec = DEFAULT_SPEC, check_capacity: bool = True) -> EncodedLayer:
    """Encode codes (out, in) with ``codebook`` for ``spec.num_pes`` PEs.

    The first argument is a code matrix (then ``codebook`` is required and ``bias_codes``, (out,),
    if given, becomes the extra bias column fed with activation 1), or a quantized layer: any
    object with ``.codes``, ``.codebook`` and ``.bias_codes``.

    Before building anything the layer is checked against every memory and pointer limit of
    ``spec``, from counts alone: one CapacityError lists every limit exceeded and the value
    that fits (:func:`eiesim.layer.fit_memories` applies them). ``check_capacity=False``
    encodes a layer that only a larger design point can run.

    The paper's worked example (16x8 matrix, 4 PEs): PE 0 holds rows 0, 4, 8, 12.

    >>> import numpy as np
    >>> codes = np.zeros((16, 8), dtype=np.uint8)
    >>> for row, col in [(0, 0), (8, 0), (12, 0), (4, 1), (0, 2), (12, 2), (0, 4), (4, 4),
    ...                  (0, 5), (12, 5), (0, 6), (8, 7), (12, 7)]:
    ...     codes[row, col] = 1
    >>> layer = encode(codes, np.array([0.0, 1.0]), spec=HardwareSpec(num_pes=4))
    >>> layer.col_ptr[0].tolist()
    [0, 3, 4, 6, 6, 8, 10, 11, 13]
    >>> layer.entry_z[:13].tolist()
    [0, 1, 0, 1, 0, 2, 0, 0, 0, 2, 0, 2, 0]
    """
    codes, codebook, bias_codes = _unpack(codes_or_layer, codebook, bias_codes)
    codes, full_codebook, bias_codes = check_codes(codes, codebook, bias_codes,
                                                   spec.weight_index_bits)
    num_pes = spec.num_pes
    out_features, in_features = codes.shape
    padded_in = -(-in_features // num_pes) * num_pes
    has_bias = bias_codes is not None

    per_column = _count(codes, bias_codes, spec)
    if check_capacity:
        _requirements(per_column, out_features, in_features, has_bias).check(spec)

    col_ptr = np.zeros((num_pes, per_column.shape[1] + 1), dtype=np.int64)
    np.cumsum(per_column, axis=1, out=col_ptr[:, 1:])
    del per_column
    pe_offsets = np.zeros(num_pes + 1, dtype=np.int64)
    np.cumsum(col_ptr[:, -1], out=pe_offsets[1:])
    total = int(pe_offsets[-1])
    entry_v = np.zeros(total, dtype=np.uint8)
    entry_z = np.full(total, spec.padding_run - 1, dtype=np.uint8)
    cursor = col_ptr[:, :-1] + pe_offsets[:-1, None]
    from eiesim.compress.encode_kernels import write_entries

    write_entries(codes, _bias_or_empty(bias_codes), num_pes, padded_in if has_bias else -1,
                   spec.rel_index_bits, cursor, entry_v, entry_z)
    del cursor

    return EncodedLayer(
        num_pes=num_pes,
        weight_index_bits=spec.weight_index_bits,
        rel_index_bits=spec.rel_index_bits,
        out_features=out_features,
        in_features=in_features,
        has_bias=has_bias,
        codebook=full_codebook,
        entry_v=entry_v,
        entry_z=entry_z,
        pe_offsets=pe_offsets,
        col_ptr=col_ptr,
    )
