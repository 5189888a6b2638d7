"""The chip's arithmetic (rules A1-A5 of :mod:`eiesim.sim`) over many inputs at once.

An oracle-checked re-implementation: the third implementation of A1-A5 beside the reference
and fast engines, written for one purpose, scoring a compressed network's accuracy on the chip
over a whole validation or test set. It computes only values (no timing, no counters), and
tests/test_chip_arithmetic.py holds its outputs equal bit for bit to the fast engine's on
random networks in fixed16, fixed8 and float32, saturating cases included. Any change to A1-A5
in the engines must be made here too; those tests catch the difference.

Why a numba kernel and not a matrix product: in fixed point every product is rounded on its
own (A3) and the adder saturates after every addition, so a row's sum depends on the order of
its terms and cannot be regrouped; in float32 each addition rounds (A5, no fused multiply-add),
which a BLAS product would reorder. The kernel therefore adds the terms one by one in broadcast
(column) order, as every PE does, but only over the stored non-zero weights of each column and
only for non-zero activations (the LNZD skips a zero, and adding a zero term changes nothing:
in fixed point the sum is already in range, in float32 the accumulator is never -0). As in
the fast engine's ``_accumulate``, a column's terms are computed once per codebook entry and
each entry adds its term from that small table.

A layer is prepared once (:func:`prepare_chip_layer`: the column-major entries and the number
format of A1/A2, without encoding the layer for the PEs) and then scores any number of inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from eiesim.errors import EiesimError
from eiesim.format.quantized import QuantizedLayer
from eiesim.jit import NUMBA_OPTIONS
from eiesim.sim.prepare import auto_weight_frac_bits, to_fixed
from eiesim.spec import HardwareSpec

__all__ = ["ChipLayer", "ChipRangeError", "chip_network_logits", "prepare_chip_layer"]



class ChipRangeError(EiesimError):
    """An input activation outside the fixed-point range of rule A1."""


@dataclass(frozen=True, eq=False)
class ChipLayer:
    """One layer as the chip's arithmetic reads it: column-major entries and number format.

    Column j < in_features holds the layer's stored weights of input j; column in_features is
    the bias column (rule T1), present only when the layer has a bias. Within a column the
    entries are in row order; each row receives at most one term per column, so the order
    within a column does not change any sum."""

    col_start: np.ndarray  # int64 (columns + 1,)
    entry_row: np.ndarray  # int32 (entries,)
    entry_code: np.ndarray  # int32 (entries,): codebook index
    codebook_fixed: np.ndarray  # int64 (K,): A2 (zeros in float32)
    codebook_float: np.ndarray  # float32 (K,)
    in_features: int
    out_features: int
    relu: bool
    act_frac_bits: int
    weight_frac_bits: int
    """A2's F_w (0 in float32)."""


def prepare_chip_layer(layer: QuantizedLayer, spec: HardwareSpec) -> ChipLayer:
    """The column view and number format of ``layer`` for ``spec`` (module doc)."""
    codes = np.asarray(layer.codes)
    columns, rows = np.nonzero(codes.T)  # column-major: by column, then row
    codes_by_column = codes.T[columns, rows]
    if layer.bias_codes is not None:
        bias = np.asarray(layer.bias_codes)
        bias_rows = np.flatnonzero(bias)
        columns = np.concatenate([columns, np.full(bias_rows.size, layer.in_features)])
        rows = np.concatenate([rows, bias_rows])
        codes_by_column = np.concatenate([codes_by_column, bias[bias_rows]])
    num_columns = layer.in_features + (layer.bias_codes is not None)
    col_start = np.zeros(num_columns + 1, dtype=np.int64)
    np.cumsum(np.bincount(columns, minlength=num_columns), out=col_start[1:])
    codebook_float = np.asarray(layer.codebook, dtype=np.float32)
    act_frac = weight_frac = 0
    codebook_fixed = np.zeros(codebook_float.size, dtype=np.int64)
    if spec.is_fixed_point:
        act_frac, weight_frac, codebook_fixed = _fixed_point_format(layer, codebook_float, spec)
    return ChipLayer(col_start=col_start, entry_row=rows.astype(np.int32),
                     entry_code=codes_by_column.astype(np.int32),
                     codebook_fixed=codebook_fixed, codebook_float=codebook_float,
                     in_features=int(layer.in_features), out_features=int(layer.out_features),
                     relu=bool(layer.relu), act_frac_bits=act_frac, weight_frac_bits=weight_frac)


def _fixed_point_format(layer: QuantizedLayer, codebook_float: np.ndarray,
                        spec: HardwareSpec) -> tuple[int, int, np.ndarray]:
    """(F_a, F_w, the fixed-point codebook) as :func:`eiesim.sim.prepare_inputs` derives them
    (A1, A2) from the codebook alone, so the layer need not be encoded to learn them."""
    bits = spec.data_bits
    high, low = (1 << (bits - 1)) - 1, -(1 << (bits - 1))
    weight_frac = spec.weight_frac_bits if spec.weight_frac_bits is not None \
        else auto_weight_frac_bits(codebook_float.astype(np.float64), bits)
    codebook_fixed = to_fixed(codebook_float, weight_frac)
    if codebook_fixed.max() > high or codebook_fixed.min() < low:
        # An explicit weight_frac_bits the codebook does not fit: the engines' own error.
        from eiesim.sim import prepare_inputs

        prepare_inputs(layer.encode(spec), np.zeros(layer.in_features), spec)
        raise ChipRangeError(f"the codebook does not fit {spec.arithmetic} with "
                             f"weight_frac_bits = {weight_frac}; leave weight_frac_bits unset")
    return int(spec.act_frac_bits_effective), int(weight_frac), codebook_fixed.astype(np.int64)


def chip_network_logits(layers: Sequence[ChipLayer], inputs: np.ndarray,
                        spec: HardwareSpec) -> np.ndarray:
    """The last layer's pre-activations (float64, acc / 2**F_a in fixed point) for every row of
    ``inputs``, each layer's outputs (after ReLU where the layer has it) feeding the next as
    the destination registers become the next layer's source registers."""
    inputs = np.atleast_2d(np.asarray(inputs, dtype=np.float64))
    if spec.is_fixed_point:
        return _fixed_network(layers, inputs, spec)
    current = inputs.astype(np.float32)
    for layer in layers:
        out = np.zeros((current.shape[0], layer.out_features), dtype=np.float32)
        _float32_kernel(np.ascontiguousarray(current), layer.col_start, layer.entry_row,
                        layer.entry_code, layer.codebook_float, np.float32(1.0), out)
        pre = out
        current = np.maximum(out, np.float32(0.0)) if layer.relu else out
    return pre.astype(np.float64)


def _fixed_network(layers: Sequence[ChipLayer], inputs: np.ndarray,
                   spec: HardwareSpec) -> np.ndarray:
    bits = spec.data_bits
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    act_frac = int(spec.act_frac_bits_effective)
    acts = np.floor(inputs * float(1 << act_frac) + 0.5)  # A1: round to nearest, ties up
    if acts.size and (acts.max() > high or acts.min() < low):
        raise ChipRangeError(f"an input activation exceeds the {spec.arithmetic} range "
                             f"+-{high / (1 << act_frac):g} with {act_frac} fractional bits; "
                             f"scale the inputs or use arithmetic='float32'")
    current = acts.astype(np.int64)
    for layer in layers:
        weight_frac = layer.weight_frac_bits
        out = np.zeros((current.shape[0], layer.out_features), dtype=np.int64)  # A4
        # A3's rounding shifts, clamped to 63 exactly as the fast engine does (F_w <= 2B = 64).
        _fixed_kernel(current, layer.col_start, layer.entry_row, layer.entry_code,
                      layer.codebook_fixed, np.int64(1 << act_frac),
                      (weight_frac > 0, min(weight_frac, 63), min(max(weight_frac - 1, 0), 63),
                       low, high), out)
        pre = out
        # Outputs stay integers between layers: acc / 2**F_a re-rounded by A1 is acc itself,
        # and a saturated accumulator is inside the range A1 checks.
        current = np.maximum(out, 0) if layer.relu else out
    return pre.astype(np.float64) / float(1 << act_frac)


@njit(**NUMBA_OPTIONS)
def _fixed_kernel(acts, col_start, entry_row, entry_code, codebook, bias_act, arith, out):
    """A3 per input row: every column in order, a term per codebook entry, saturating adds.

    ``arith`` = (rounds, quot_shift, half_shift, acc_min, acc_max); s = (p >> F) + bit F - 1
    of p, the overflow-free form of floor((p + 2**(F-1)) / 2**F) the fast engine uses."""
    rounds, quot, half, low, high = arith
    in_features = acts.shape[1]
    num_columns = col_start.size - 1
    terms = np.empty(codebook.size, dtype=np.int64)
    for s in range(acts.shape[0]):
        acc = out[s]
        for j in range(num_columns):
            a = acts[s, j] if j < in_features else bias_act
            if a == 0:
                continue
            for v in range(codebook.size):
                prod = codebook[v] * a  # exact: 2B <= 64 bits (A3)
                terms[v] = (prod >> quot) + ((prod >> half) & 1) if rounds else prod
            for e in range(col_start[j], col_start[j + 1]):
                g = entry_row[e]
                total = acc[g] + terms[entry_code[e]]
                if total > high:  # the B-bit adder saturates (A3)
                    total = high
                elif total < low:
                    total = low
                acc[g] = total


@njit(**NUMBA_OPTIONS)
def _float32_kernel(acts, col_start, entry_row, entry_code, codebook, bias_act, out):
    """A5 per input row: a float32 product per codebook entry, then float32 sums in column
    order (no fused multiply-add: numba does not contract without fastmath)."""
    in_features = acts.shape[1]
    num_columns = col_start.size - 1
    terms = np.empty(codebook.size, dtype=np.float32)
    for s in range(acts.shape[0]):
        acc = out[s]
        for j in range(num_columns):
            a = acts[s, j] if j < in_features else bias_act
            if a == 0:
                continue
            for v in range(codebook.size):
                terms[v] = codebook[v] * a
            for e in range(col_start[j], col_start[j + 1]):
                g = entry_row[e]
                acc[g] = acc[g] + terms[entry_code[e]]
