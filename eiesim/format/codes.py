"""Validation of code matrices (codebook indices) and their codebooks, shared by the encoder,
the capacity count and the layer files: one check, one message per fault."""

from __future__ import annotations

from typing import Any

import numpy as np

from eiesim.checks import check_finite_values
from eiesim.errors import LayerError


def check_codes(codes: np.ndarray, codebook: np.ndarray, bias_codes: np.ndarray | None,
                weight_index_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate a (codes, codebook, bias_codes) triple and return it in canonical dtypes."""
    codes = code_matrix(codes)
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
    codes, bias_codes = canonical_codes(codes, bias_codes, codebook.size)
    return codes, full_codebook, bias_codes


def code_matrix(codes: Any) -> np.ndarray:
    """``codes`` as a checked 2-D integer matrix (not yet range-checked)."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[0] < 1 or codes.shape[1] < 1:
        raise LayerError(f"codes has shape {codes.shape}; it must be a 2-D (out, in) matrix "
                         f"with at least one row and one column")
    if not np.issubdtype(codes.dtype, np.integer):
        raise LayerError(f"codes has dtype {codes.dtype}; codebook indices must be integers "
                         f"(uint8); pass float weights as 'weights' to have them quantized")
    return codes


def canonical_codes(codes: Any, bias_codes: Any, num_index: int) -> tuple[np.ndarray, Any]:
    """Codes and bias codes as checked uint8 arrays (rows contiguous), without the codebook."""
    codes = code_matrix(codes)

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
