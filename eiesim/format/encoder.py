"""Encode a code matrix into EIE's interleaved CSC (docs/hardware.md §2).

Two passes over the code matrix, row by row, in small numba kernels (a measured hot spot: the
dense matrix is read twice and nothing of its size is allocated; the kernels live in
:mod:`eiesim.format.encode_kernels`, imported on first use so that importing eiesim does not
import numba): the first counts every (PE, column) slice's entries, padding included, which is
all the capacity check needs (:func:`eiesim.format.capacity.layer_requirements`); the second writes
the entries where
the counts put them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eiesim.errors import LayerError
from eiesim.format.capacity import bias_or_empty, count_entries_per_column, requirements_from_counts
from eiesim.format.codes import check_codes
from eiesim.format.encoded import EncodedLayer
from eiesim.spec import DEFAULT_SPEC, HardwareSpec


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


def encode(codes_or_layer: Any, codebook: Any = None, bias_codes: Any = None, *,
           spec: HardwareSpec = DEFAULT_SPEC, check_capacity: bool = True) -> EncodedLayer:
    """Encode codes (out, in) with ``codebook`` for ``spec.num_pes`` PEs.

    The first argument is a code matrix (then ``codebook`` is required and ``bias_codes``, (out,),
    if given, becomes the extra bias column fed with activation 1), or a quantized layer: any
    object with ``.codes``, ``.codebook`` and ``.bias_codes``.

    Before building anything the layer is checked against every memory and pointer limit of
    ``spec``, from counts alone: one CapacityError lists every limit exceeded and the value
    that fits (:func:`eiesim.format.capacity.fit_memories` applies them). ``check_capacity=False``
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

    per_column = count_entries_per_column(codes, bias_codes, spec)
    if check_capacity:
        requirements_from_counts(per_column, out_features, in_features, has_bias).check(spec)

    col_ptr = np.zeros((num_pes, per_column.shape[1] + 1), dtype=np.int64)
    np.cumsum(per_column, axis=1, out=col_ptr[:, 1:])
    del per_column
    pe_offsets = np.zeros(num_pes + 1, dtype=np.int64)
    np.cumsum(col_ptr[:, -1], out=pe_offsets[1:])
    total = int(pe_offsets[-1])
    entry_v = np.zeros(total, dtype=np.uint8)
    entry_z = np.full(total, spec.padding_run - 1, dtype=np.uint8)
    cursor = col_ptr[:, :-1] + pe_offsets[:-1, None]
    from eiesim.format.encode_kernels import write_entries

    write_entries(codes, bias_or_empty(bias_codes), num_pes, padded_in if has_bias else -1,
                   spec.rel_index_bits, cursor, entry_v, entry_z)
    del cursor

    return EncodedLayer._from_encoder(
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
