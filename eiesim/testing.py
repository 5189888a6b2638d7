"""Public helpers for tests: seeded random layers and an exact, readable result comparison.

>>> import eiesim
>>> from eiesim.testing import random_layer, assert_results_equal
>>> case = random_layer(7, out_features=12, in_features=10)
>>> spec = eiesim.HardwareSpec(num_pes=3)
>>> layer = case.encode(spec)
>>> a = eiesim.simulate(layer, case.activations, spec, engine="reference")
>>> assert_results_equal(a, a)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eiesim.actions import CCU_EVENTS, PE_EVENTS
from eiesim.explore.workloads import generate_layer
from eiesim.format.quantized import QuantizedLayer

__all__ = ["assert_results_equal", "random_layer"]



def random_layer(seed: int, *, out_features: int | None = None, in_features: int | None = None,
                 density: float | None = None, act_density: float | None = None,
                 weight_index_bits: int | None = None, bias: bool | None = None,
                 weight_scale: float = 1.0, act_scale: float = 2.0,
                 signed_activations: bool = False, empty_share: float = 0.2) -> QuantizedLayer:
    """A small seeded random layer for property tests, made by
    :func:`eiesim.explore.workloads.generate_layer`; every choice left as None is drawn from
    ``seed``.

    Shapes are drawn from 1..40, ``density`` (share of kept weights) from 0 to 1,
    ``act_density`` (share of non-zero inputs) from 0 to 1; inputs are uniform below
    ``act_scale`` (signed with ``signed_activations``) and one in ten is tiny, to round to 0 in
    fixed point. About ``empty_share`` of the rows and of the columns are emptied, so empty
    rows, empty columns and long runs of zeros (padding) occur. The codebook holds 0 and then
    2**weight_index_bits - 1 sorted values in [-weight_scale, weight_scale] (default bits: the
    default spec's); with a bias (drawn when None), 7 in 10 bias codes are non-zero.
    """
    if weight_index_bits is None:
        from eiesim.spec import DEFAULT_SPEC

        weight_index_bits = DEFAULT_SPEC.weight_index_bits
    choices = np.random.default_rng([seed, 1])  # the shape and density draws
    out_features = int(choices.integers(1, 41)) if out_features is None else out_features
    in_features = int(choices.integers(1, 41)) if in_features is None else in_features
    density = float(choices.choice([0.0, 0.05, 0.1, 0.3, 0.6, 1.0])) if density is None \
        else density
    act_density = float(choices.choice([0.0, 0.2, 0.5, 0.9, 1.0])) if act_density is None \
        else act_density
    bias = bool(choices.random() < 0.5) if bias is None else bias
    return generate_layer(
        out_features, in_features, weight_density=density, activation_density=act_density,
        seed=seed, random_codebook_scale=weight_scale, code_bits=weight_index_bits,
        bias_share=0.7 if bias else None, empty_row_share=empty_share,
        empty_column_share=empty_share, activation_scale=act_scale,
        signed_activations=signed_activations, tiny_activation_share=0.1,
        source=f"random_layer({seed})")


def _same_bits(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Element-wise bit equality (any NaN equals any NaN)."""
    if x.dtype.kind == "f":
        unsigned = np.dtype(f"u{x.dtype.itemsize}")
        return (x.view(unsigned) == y.view(unsigned)) | (np.isnan(x) & np.isnan(y))
    return x == y


def _values(result: Any) -> tuple[str, np.ndarray]:
    if hasattr(result, "accumulators"):
        return "accumulators", np.asarray(result.accumulators)
    return "pre_activations", np.asarray(result.pre_activations)


def assert_results_equal(a: Any, b: Any, *, names: tuple[str, str] = ("a", "b"),
                         max_lines: int = 40) -> None:
    """Require two engine results to be identical, or raise AssertionError listing what
    differs: front-end cycles, every CCU count, every PE count (by PE and event name), and the
    accumulators bit for bit.

    ``a`` and ``b`` are :class:`eiesim.sim.result.EngineOutput` or
    :class:`eiesim.sim.result.SimResult` objects (one kind for both)."""
    first, second = names
    lines: list[str] = []

    def differ(what: str, x: Any, y: Any) -> None:
        lines.append(f"{what}: {first}={x} {second}={y}")

    if int(a.frontend_cycles) != int(b.frontend_cycles):
        differ("frontend_cycles", a.frontend_cycles, b.frontend_cycles)
    for name in ("drain_cycles", "relu_cycles", "writeback_cycles", "end_latency_cycles",
                 "output_batches"):
        if hasattr(a, name) and getattr(a, name) != getattr(b, name):
            differ(name, getattr(a, name), getattr(b, name))

    ccu_a, ccu_b = np.asarray(a.ccu_counts), np.asarray(b.ccu_counts)
    if ccu_a.shape != ccu_b.shape:
        differ("ccu_counts shape", ccu_a.shape, ccu_b.shape)
    else:
        for i in np.flatnonzero(ccu_a != ccu_b):
            differ(f"ccu {CCU_EVENTS[i]}", int(ccu_a[i]), int(ccu_b[i]))

    pe_a, pe_b = np.asarray(a.pe_counts), np.asarray(b.pe_counts)
    if pe_a.shape != pe_b.shape:
        differ("pe_counts shape", pe_a.shape, pe_b.shape)
    else:
        for pe, event in np.argwhere(pe_a != pe_b):
            differ(f"PE {pe} {PE_EVENTS[event]}", int(pe_a[pe, event]), int(pe_b[pe, event]))

    label, values_a = _values(a)
    _, values_b = _values(b)
    if values_a.dtype != values_b.dtype or values_a.shape != values_b.shape:
        differ(f"{label} dtype/shape", (values_a.dtype, values_a.shape),
               (values_b.dtype, values_b.shape))
    else:
        for row in np.flatnonzero(~_same_bits(values_a, values_b)):
            differ(f"{label}[{row}]", repr(values_a[row].item()), repr(values_b[row].item()))

    if lines:
        shown = lines[:max_lines]
        if len(lines) > max_lines:
            shown.append(f"... and {len(lines) - max_lines} more differences")
        raise AssertionError(f"results differ in {len(lines)} place(s):\n  " +
                             "\n  ".join(shown))
