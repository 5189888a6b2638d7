"""Encode a code matrix into EIE's interleaved CSC (../shared/EIE.md §2), vectorised numpy."""

from __future__ import annotations

import numpy as np

from eiesim.errors import LayerError
from eiesim.layer import EncodedLayer
from eiesim.spec import DEFAULT_SPEC, HardwareSpec


def check_codes(codes: np.ndarray, codebook: np.ndarray, bias_codes: np.ndarray | None,
                weight_index_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate a (codes, codebook, bias_codes) triple and return it in canonical dtypes."""
    codes = np.asarray(codes)
    codebook = np.asarray(codebook)
    if codes.ndim != 2 or codes.shape[0] < 1 or codes.shape[1] < 1:
        raise LayerError(f"codes has shape {codes.shape}; it must be a 2-D (out, in) matrix "
                         f"with at least one row and one column")
    if not np.issubdtype(codes.dtype, np.integer):
        raise LayerError(f"codes has dtype {codes.dtype}; codebook indices must be integers "
                         f"(uint8); pass float weights as 'weights' to have them quantized")
    size = 1 << weight_index_bits
    if codebook.ndim != 1 or codebook.size < 1 or codebook.size > size:
        raise LayerError(f"codebook has shape {codebook.shape}; it must be 1-D with at most "
                         f"{size} values for {weight_index_bits}-bit indices; re-quantize with "
                         f"fewer clusters or use more weight_index_bits")
    if not np.issubdtype(codebook.dtype, np.number) or not np.all(np.isfinite(codebook)):
        raise LayerError("codebook holds non-finite or non-numeric values; every centroid must "
                         "be a finite number")
    if codebook[0] != 0:
        raise LayerError(f"codebook[0] = {float(codebook[0])} but index 0 is reserved for 0 "
                         f"(padding and pruned weights); prepend 0 to the codebook")
    full_codebook = np.zeros(size, dtype=np.float32)
    full_codebook[: codebook.size] = codebook.astype(np.float32)

    def checked(array: np.ndarray, name: str) -> np.ndarray:
        if array.size and (array.min() < 0 or array.max() >= codebook.size):
            bad = int(array.max()) if array.max() >= codebook.size else int(array.min())
            raise LayerError(f"{name} contains index {bad}, outside the codebook's "
                             f"{codebook.size} entries (0..{codebook.size - 1}); fix the codes "
                             f"or supply the full codebook")
        return array.astype(np.uint8)

    codes = checked(codes, "codes")
    if bias_codes is not None:
        bias_codes = np.asarray(bias_codes)
        if bias_codes.shape != (codes.shape[0],) or not np.issubdtype(bias_codes.dtype,
                                                                      np.integer):
            raise LayerError(f"bias_codes has shape {bias_codes.shape} and dtype "
                             f"{bias_codes.dtype}; it must be integer with shape "
                             f"({codes.shape[0]},), one code per output")
        bias_codes = checked(bias_codes, "bias_codes")
    return codes, full_codebook, bias_codes


def encode(codes: np.ndarray, codebook: np.ndarray, bias_codes: np.ndarray | None = None, *,
           spec: HardwareSpec = DEFAULT_SPEC) -> EncodedLayer:
    """Encode codes (out, in) with ``codebook`` for ``spec.num_pes`` PEs.

    ``bias_codes`` (out,), if given, becomes the extra bias column fed with activation 1.

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
    codes, full_codebook, bias_codes = check_codes(codes, codebook, bias_codes,
                                                   spec.weight_index_bits)
    num_pes = spec.num_pes
    out_features, in_features = codes.shape
    padded_in = -(-in_features // num_pes) * num_pes
    num_columns = padded_in + (1 if bias_codes is not None else 0)

    # Lay the matrix out as (PE, column, local row): row i = local * N + pe. np.nonzero walks
    # that view in exactly EIE's storage order (PE, then column, then local row), so no sort.
    rows_per_pe = -(-out_features // num_pes)
    extended = np.zeros((rows_per_pe * num_pes, num_columns), dtype=np.uint8)
    extended[:out_features, :in_features] = codes
    if bias_codes is not None:
        extended[:out_features, padded_in] = bias_codes
    by_pe = extended.reshape(rows_per_pe, num_pes, num_columns).transpose(1, 2, 0)
    pe_column_row = np.nonzero(by_pe)
    values = by_pe[pe_column_row]
    del extended, by_pe
    # One int64 key per non-zero for its (PE, column) slice, and its local row; temporaries
    # are dropped as soon as possible because VGG-6-sized layers have millions of non-zeros.
    column_key = pe_column_row[0] * num_columns + pe_column_row[1]
    local_rows = pe_column_row[2]
    del pe_column_row

    # Gap before each non-zero within its PE's slice of its column (the first of a slice
    # counts from row -1).
    gaps = local_rows.copy()
    same_column = column_key[1:] == column_key[:-1]
    gaps[1:] -= np.where(same_column, local_rows[:-1] + 1, 0)
    del local_rows, same_column
    run = spec.padding_run
    slots = gaps // run + 1  # padding entries, then the real entry

    real_positions = np.cumsum(slots) - 1
    total = int(real_positions[-1]) + 1 if real_positions.size else 0
    entry_v = np.zeros(total, dtype=np.uint8)
    entry_z = np.full(total, run - 1, dtype=np.uint8)
    entry_v[real_positions] = values
    entry_z[real_positions] = gaps % run
    del real_positions, gaps, values

    per_column = np.bincount(column_key, weights=slots,
                             minlength=num_pes * num_columns).astype(np.int64)
    del column_key, slots
    per_column = per_column.reshape(num_pes, num_columns)
    col_ptr = np.zeros((num_pes, num_columns + 1), dtype=np.int64)
    np.cumsum(per_column, axis=1, out=col_ptr[:, 1:])
    pe_offsets = np.zeros(num_pes + 1, dtype=np.int64)
    np.cumsum(col_ptr[:, -1], out=pe_offsets[1:])

    return EncodedLayer(
        num_pes=num_pes,
        weight_index_bits=spec.weight_index_bits,
        rel_index_bits=spec.rel_index_bits,
        out_features=out_features,
        in_features=in_features,
        has_bias=bias_codes is not None,
        codebook=full_codebook,
        entry_v=entry_v,
        entry_z=entry_z,
        pe_offsets=pe_offsets,
        col_ptr=col_ptr,
    )
