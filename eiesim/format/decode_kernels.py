"""The numba kernel that reads the encoded format back (see
:meth:`eiesim.format.encoded.EncodedLayer.float_outputs`, which checks the input and calls it).
Arrays and integers only; imported on first use, so that importing eiesim does not import numba.
"""

from __future__ import annotations

from numba import njit

from eiesim.jit import NUMBA_OPTIONS


@njit(**NUMBA_OPTIONS)
def accumulate_float_outputs(entry_v, entry_z, pe_offsets, col_ptr, num_pes, codebook, inputs,
                             columns, out):
    """out[row] += codebook[v] * inputs[column] for every real entry of the given columns, PE
    by PE, column by column, entry by entry: the order in which the entries are stored, so the
    sums are the same bit for bit whatever computes them in that order. A slice's local rows
    are the running sum of z + 1 from -1 (docs/hardware.md §3.4); a padding entry (v = 0)
    only advances it."""
    for p in range(num_pes):
        base = pe_offsets[p]
        for column in columns:
            value = inputs[column]
            local = -1
            for e in range(base + col_ptr[p, column], base + col_ptr[p, column + 1]):
                local += entry_z[e] + 1
                v = entry_v[e]
                if v != 0:
                    out[local * num_pes + p] += codebook[v] * value
