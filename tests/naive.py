"""Slow, obvious oracles for the tests: dense numpy values (rules A1-A5) and analytic bounds.

Nothing here imports an engine or eiesim.sim.prepare: the values are recomputed from the dense
code matrix (``layer.to_codes()``) and the raw activations, so an error in the engines or in the
input preparation shows up as a mismatch. Rule numbers refer to the contract in eiesim.sim.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from importlib import resources

import numpy as np

from eiesim.explore.workloads import generate_layer
from eiesim.format.encoded import EncodedLayer
from eiesim.format.quantized import QuantizedLayer
from eiesim.spec import HardwareSpec


# --- values (A1-A5) ---------------------------------------------------------------------------
def round_to_fixed(value: float, frac_bits: int) -> int:
    """floor(x * 2**F + 0.5), exactly (A1, A2)."""
    scaled = Fraction(float(value)) * (1 << frac_bits) + Fraction(1, 2)
    return scaled.numerator // scaled.denominator


def weight_frac_bits(codebook: np.ndarray, spec: HardwareSpec) -> int:
    """A2: the spec's F_w, or the largest F <= 2B at which every codebook value fits B bits."""
    if spec.weight_frac_bits is not None:
        return spec.weight_frac_bits
    bits = spec.data_bits
    values = [float(c) for c in np.asarray(codebook, dtype=np.float32)]
    if not any(values):
        return bits - 1
    for frac in range(2 * bits, -1, -1):
        fixed = [round_to_fixed(c, frac) for c in values]
        if max(fixed) <= (1 << (bits - 1)) - 1 and min(fixed) >= -(1 << (bits - 1)):
            return frac
    raise ValueError("codebook does not fit")


def extended_activations(layer: EncodedLayer, activations: np.ndarray) -> list[float]:
    """T1: inputs, zeros up to a multiple of N, then (with a bias) 1.0 and N - 1 zeros."""
    n = layer.num_pes
    padded = -(-layer.in_features // n) * n
    values = [float(x) for x in activations] + [0.0] * (padded - layer.in_features)
    if layer.has_bias:
        values += [1.0] + [0.0] * (n - 1)
    return values


def hardware_activations(layer: EncodedLayer, activations: np.ndarray,
                         spec: HardwareSpec) -> list:
    """The extended vector as the hardware holds it: ints (A1) or float32 (A5)."""
    values = extended_activations(layer, activations)
    if spec.is_fixed_point:
        return [round_to_fixed(x, spec.act_frac_bits_effective) for x in values]
    return [np.float32(x) for x in values]


def dense_codes(layer: EncodedLayer) -> np.ndarray:
    """Code matrix (out, scan length) with the bias codes in the bias column (T1)."""
    codes, bias_codes = layer.to_codes()
    n = layer.num_pes
    padded = -(-layer.in_features // n) * n
    width = padded + (n if layer.has_bias else 0)
    dense = np.zeros((layer.out_features, width), dtype=np.int64)
    dense[:, : layer.in_features] = codes
    if layer.has_bias:
        dense[:, padded] = bias_codes
    return dense


def oracle_accumulators(layer: EncodedLayer, activations: np.ndarray,
                        spec: HardwareSpec) -> np.ndarray:
    """Accumulators before ReLU, by global row: int64 (fixed point) or float32.

    Column by column in broadcast order (ascending index, non-zero activations only, T2), each
    row with a non-zero code gets one multiply-accumulate: A3 with Python integers (exact
    product, floor division, saturating add) or A5 in numpy float32 (no fused multiply-add).
    """
    codes = dense_codes(layer)
    acts = hardware_activations(layer, activations, spec)
    if spec.is_fixed_point:
        bits = spec.data_bits
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        frac_w = weight_frac_bits(layer.codebook, spec)
        weights = [round_to_fixed(float(c), frac_w) for c in layer.codebook]
        acc = [0] * layer.out_features
        for j, a in enumerate(acts):
            if a == 0:
                continue
            for i in np.flatnonzero(codes[:, j]):
                product = weights[codes[i, j]] * a
                s = (product + (1 << (frac_w - 1))) // (1 << frac_w) if frac_w else product
                acc[i] = min(max(acc[i] + s, low), high)
        return np.array(acc, dtype=np.int64)
    codebook = layer.codebook.astype(np.float32)
    acc = np.zeros(layer.out_features, dtype=np.float32)
    for j, a in enumerate(acts):
        if a == 0:
            continue
        rows = np.flatnonzero(codes[:, j])
        acc[rows] = acc[rows] + codebook[codes[rows, j]] * np.float32(a)
    return acc


def oracle_outputs(layer: EncodedLayer, activations: np.ndarray,
                   spec: HardwareSpec) -> np.ndarray:
    """A4: ReLU of the accumulators, as float64 in activation units."""
    acc = oracle_accumulators(layer, activations, spec)
    if spec.is_fixed_point:
        return np.maximum(acc, 0).astype(np.float64) / (1 << spec.act_frac_bits_effective)
    return np.maximum(acc.astype(np.float64), 0.0)


# --- timing bounds (T1-T11) -------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    """What the contract fixes without simulating: the LNZD program and the work per column."""

    broadcast_columns: np.ndarray  # slot indices broadcast, in order (T2)
    scan_cycles: int  # CCU cycles without a broadcast (T2)
    entries: np.ndarray  # (N, broadcasts): k[p, j] of the broadcast columns
    rows_per_pe: np.ndarray
    drain_cycles: int  # P (T9)
    relu_cycles: int  # R (T10)

    @property
    def broadcasts(self) -> int:
        return int(self.broadcast_columns.size)

    @property
    def program_cycles(self) -> int:
        """L: the CCU's cycles without stalls (broadcasts + scans)."""
        return self.broadcasts + self.scan_cycles

    def work_lower_bound(self) -> int:
        """Front end >= max over PEs of sum over broadcast columns of max(1, k[p, j])."""
        if self.broadcasts == 0:
            return 0
        return int(np.maximum(self.entries, 1).sum(axis=1).max())

    def lockstep_upper_bound(self) -> int:
        """Front end <= L + sum over broadcasts of max_p max(1, k[p, j]) + 1.

        Why: write M(b) = max_p max(1, k[p, b]) and idx(b) for broadcast b's position in the CCU
        program. By induction on b, push(b) <= idx(b) + sum_{b' < b} M(b') and every PE can pop
        broadcast b + 1 (its unit is free or on its column's last entry) by
        push(b) + 1 + M(b): a PE pops b at max(push(b) + 1, the cycle its unit frees), and a
        full queue delays push(b) only until some PE pops b - D, which is no later than that
        bound for b - 1 (T3, T4, T5). The last column's unit is empty one cycle after its last
        issue, so T <= idx(B - 1) + sum_b M(b) + 2 <= L + sum_b M(b) + 1; the scans after the
        last broadcast are covered by L. The constant 1 is tight: one PE, one input, one
        column of k entries gives T = 1 (broadcast) + 1 (pop, T4) + k (issue) = L + M + 1.
        """
        if self.broadcasts == 0:
            return self.program_cycles
        per_broadcast = np.maximum(self.entries, 1).max(axis=0)
        return int(self.program_cycles + per_broadcast.sum() + 1)


def lnzd_program(nonzero: np.ndarray, num_pes: int) -> tuple[np.ndarray, int]:
    """T2 by the book: (broadcast slots in order, number of scan cycles)."""
    broadcasts: list[int] = []
    scans = 0
    for start in range(0, nonzero.size, num_pes):
        group = np.flatnonzero(nonzero[start: start + num_pes])
        broadcasts.extend(int(start + i) for i in group)
        if group.size == 0 or group[-1] != num_pes - 1:
            scans += 1
    return np.array(broadcasts, dtype=np.int64), scans


def schedule(layer: EncodedLayer, activations: np.ndarray, spec: HardwareSpec) -> Schedule:
    acts = hardware_activations(layer, activations, spec)
    nonzero = np.array([a != 0 for a in acts], dtype=bool)
    columns, scans = lnzd_program(nonzero, layer.num_pes)
    per_column = np.diff(layer.col_ptr, axis=1)
    rows = layer.rows_per_pe
    return Schedule(
        broadcast_columns=columns,
        scan_cycles=scans,
        entries=per_column[:, columns],
        rows_per_pe=rows,
        drain_cycles=spec.arith_pipeline_stages,
        relu_cycles=(-(-int(rows.max()) // spec.relu_outputs_per_cycle)
                     if spec.relu_outputs_per_cycle else 0),  # T10: 0 = ReLU on the way out
    )


# --- random inputs ----------------------------------------------------------------------------
Case = QuantizedLayer  # the layers below are QuantizedLayers with ``activations`` set


def activation_limit(spec: HardwareSpec) -> float:
    """Largest magnitude an input may have in the spec's format (A1), with some margin."""
    if not spec.is_fixed_point:
        return 100.0
    return 0.9 * (1 << (spec.data_bits - 1 - spec.act_frac_bits_effective))


def random_case(rng: np.random.Generator, spec: HardwareSpec, out_features: int,
                in_features: int, density: float, act_density: float, bias: bool,
                empty_rows: float = 0.0, empty_cols: float = 0.0,
                zero_run: float = 0.0, empty_groups: float = 0.0,
                idle_pes: float = 0.0) -> QuantizedLayer:
    """A random layer and input vector that fit ``spec``, from eiesim's one generator
    (:func:`eiesim.explore.workloads.generate_layer`, seeded from ``rng``).

    Some rows and columns are forced empty, and all rows of a share ``idle_pes`` of the PEs
    (load imbalance: those PEs starve while the others fill their queues, T3, T11);
    activations include negatives, zeros, a run of
    zeros of ``zero_run`` times the input length, a share ``empty_groups`` of the LNZD
    groups all zero (each costs a scan cycle, T2) and tiny values that
    round to zero in fixed point (T2: only the value the hardware holds counts).
    """
    scale = float(rng.choice([0.01, 0.5, 2.0]))
    act_scale = activation_limit(spec) * float(rng.choice([0.05, 0.3, 1.0]))
    return generate_layer(
        out_features, in_features, weight_density=density, activation_density=act_density,
        seed=int(rng.integers(2**63)), random_codebook_scale=scale,
        code_bits=spec.weight_index_bits, bias_share=15 / 16 if bias else None,
        empty_row_share=empty_rows, empty_column_share=empty_cols, num_pes=spec.num_pes,
        idle_pe_share=idle_pes, activation_scale=act_scale, signed_activations=True,
        tiny_activation_share=0.05, zero_run_share=zero_run, empty_group_share=empty_groups)


def load_fc8() -> dict[str, np.ndarray]:
    """The real AlexNet fc8 layer shipped with eiesim (codes, codebook, activations, bias)."""
    path = resources.files("eiesim") / "data" / "alexnet_fc8.npz"
    with resources.as_file(path) as file, np.load(file) as data:
        return {name: data[name] for name in data.files}
