"""Turn (layer, activations, spec) into the arrays both engines consume (rules T1, T2, A1, A2).

Both engines start from the same PreparedInputs so that they differ only in how they schedule
work, never in how they read the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eiesim.checks import check_float32_range, real_array
from eiesim.errors import LayerError, SpecError
from eiesim.format.encoded import EncodedLayer
from eiesim.spec import HardwareSpec


@dataclass(frozen=True, eq=False)
class PreparedInputs:
    """The layer, the spec and the input as both engines read them: fixed-point and float32
    values, the LNZD's non-zero slots, the formats' fraction bits."""
    spec: HardwareSpec
    layer: EncodedLayer
    scan_length: int  # slots the LNZD scans: a multiple of num_pes (T1)
    act_fixed: np.ndarray  # int64 (scan_length,): activations in fixed point (A1); 0 in float32
    act_float: np.ndarray  # float32 (scan_length,): activations as float32 (A5)
    nonzero: np.ndarray  # bool (scan_length,): slots the LNZD detects (T2)
    codebook_fixed: np.ndarray  # int64 (codebook size,) (A2); zeros in float32 mode
    codebook_float: np.ndarray  # float32 (codebook size,)
    act_frac_bits: int
    weight_frac_bits: int

    @property
    def is_fixed(self) -> bool:
        return self.spec.is_fixed_point

    @property
    def acc_min(self) -> int:
        return -(1 << (self.spec.data_bits - 1))

    @property
    def acc_max(self) -> int:
        return (1 << (self.spec.data_bits - 1)) - 1


def to_fixed(values: np.ndarray, frac_bits: int) -> np.ndarray:
    """Round to nearest, ties up: floor(x * 2**frac_bits + 0.5) (rules A1, A2)."""
    return np.floor(np.asarray(values, dtype=np.float64) * float(1 << frac_bits) + 0.5)


def auto_weight_frac_bits(codebook: np.ndarray, data_bits: int) -> int:
    """Largest F <= 2B such that every codebook value rounds into B bits (rule A2)."""
    high = (1 << (data_bits - 1)) - 1
    low = -(1 << (data_bits - 1))
    if not np.any(codebook):
        return data_bits - 1
    for frac_bits in range(2 * data_bits, -1, -1):
        fixed = to_fixed(codebook, frac_bits)
        if fixed.max() <= high and fixed.min() >= low:
            return frac_bits
    biggest = float(np.abs(codebook).max())
    raise LayerError(f"codebook value {biggest} does not fit {data_bits}-bit fixed point even "
                     f"with 0 fractional bits (limit {high}); scale the weights or use a wider "
                     f"format (e.g. arithmetic='fixed32' or 'float32')")


def check_activations(activations: np.ndarray, in_features: int) -> np.ndarray:
    """The input vector as a checked 1-D float array of ``in_features`` finite values."""
    return real_array(activations, "activations", (in_features,),
                      why=f"(one value for each of the layer's {in_features} inputs)")


def check_activation_range(values: np.ndarray, spec: HardwareSpec, *,
                           in_features: int | None = None) -> np.ndarray:
    """The activations as fixed-point integers (rule A1), or an error naming the first value
    outside the format's range; nothing to check in float32 (returns zeros).

    ``in_features``: slots from there on are the bias column's constant 1.0 (rule T1), whose
    overflow is a spec problem (too many fractional bits), not an input problem.
    """
    values = np.asarray(values, dtype=np.float64)
    if not spec.is_fixed_point:
        return np.zeros(values.size, dtype=np.float64)
    bits, act_frac = spec.data_bits, spec.act_frac_bits_effective
    high, low = (1 << (bits - 1)) - 1, -(1 << (bits - 1))
    act_fixed = to_fixed(values, act_frac)
    if values.size and (act_fixed.max() > high or act_fixed.min() < low):
        worst = int(np.argmax(np.abs(act_fixed)))
        in_features = values.size if in_features is None else in_features
        what = "the bias column's activation 1.0" if worst >= in_features \
            else f"activation {worst} = {values[worst]}"
        limit = high / (1 << act_frac)
        raise (SpecError if worst >= in_features else LayerError)(
            f"{what} exceeds the {spec.arithmetic} range +-{limit:g} with {act_frac} "
            f"fractional bits; scale the input, lower act_frac_bits, or use "
            f"arithmetic='float32'")
    return act_fixed


def prepare_inputs(layer: EncodedLayer, activations: np.ndarray,
                   spec: HardwareSpec) -> PreparedInputs:
    """The arrays both engines read for (layer, activations, spec): the extended input with the
    bias slot (T1), what the LNZD detects as non-zero (T2), and the fixed-point or float32
    activations and codebook (A1, A2, A5). Checks that the layer fits the spec and that every
    input value is finite and inside the arithmetic's range."""
    layer.check_fits(spec)
    values = check_activations(activations, layer.in_features)
    if not spec.is_fixed_point:  # (fixed point has its own, narrower range check below)
        check_float32_range(values, "activations")
    n = spec.num_pes
    scan_length = layer.padded_in_features + (n if layer.has_bias else 0)  # T1
    extended = np.zeros(scan_length, dtype=np.float64)
    extended[: layer.in_features] = values
    if layer.has_bias:
        extended[layer.padded_in_features] = 1.0

    with np.errstate(over="ignore"):  # beyond float32: refused by the fixed-point range check
        act_float = extended.astype(np.float32)
    codebook_float = layer.codebook.astype(np.float32)
    if spec.is_fixed_point:
        bits = spec.data_bits
        act_frac = spec.act_frac_bits_effective
        high, low = (1 << (bits - 1)) - 1, -(1 << (bits - 1))
        act_fixed = check_activation_range(extended, spec, in_features=layer.in_features)
        weight_frac = spec.weight_frac_bits if spec.weight_frac_bits is not None \
            else auto_weight_frac_bits(codebook_float.astype(np.float64), bits)
        codebook_fixed = to_fixed(codebook_float, weight_frac)
        if codebook_fixed.max() > high or codebook_fixed.min() < low:
            raise SpecError(
                f"weight_frac_bits = {weight_frac} puts codebook value "
                f"{float(np.abs(codebook_float).max())} outside {bits}-bit fixed point; use "
                f"at most {auto_weight_frac_bits(codebook_float.astype(np.float64), bits)} "
                f"fractional bits or leave weight_frac_bits unset")
        act_fixed = act_fixed.astype(np.int64)
        codebook_fixed = codebook_fixed.astype(np.int64)
        nonzero = act_fixed != 0
    else:
        act_frac = weight_frac = 0
        act_fixed = np.zeros(scan_length, dtype=np.int64)
        codebook_fixed = np.zeros(codebook_float.size, dtype=np.int64)
        nonzero = act_float != 0
    return PreparedInputs(
        spec=spec, layer=layer, scan_length=scan_length, act_fixed=act_fixed,
        act_float=act_float, nonzero=nonzero, codebook_fixed=codebook_fixed,
        codebook_float=codebook_float, act_frac_bits=act_frac, weight_frac_bits=weight_frac)
