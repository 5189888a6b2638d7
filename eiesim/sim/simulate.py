"""simulate(): the public entry point that validates, prepares, runs an engine and wraps up."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from eiesim.errors import SpecError
from eiesim.layer import EncodedLayer
from eiesim.sim.prepare import PreparedInputs, prepare_inputs
from eiesim.sim.result import EngineOutput, SimResult
from eiesim.spec import DEFAULT_SPEC, HardwareSpec

ENGINES = ("fast", "reference")


def spec_for_layer(layer: EncodedLayer, spec: HardwareSpec | None) -> HardwareSpec:
    """The spec to simulate with: the given one, or the default with the layer's encoding."""
    if spec is not None:
        return spec
    return DEFAULT_SPEC.replace(num_pes=layer.num_pes, weight_index_bits=layer.weight_index_bits,
                                rel_index_bits=layer.rel_index_bits)


_WARM_ENGINES: set[str] = set()


def _warm_up(engine: str) -> None:
    """Run the engine once on a tiny layer so that compilation (or loading numba's cache) is not
    counted in ``wall_time_s``, which measures the simulation alone."""
    if engine in _WARM_ENGINES or engine != "fast":
        return
    _WARM_ENGINES.add(engine)
    from eiesim.compress.encode import encode

    for arithmetic in ("fixed16", "float32"):
        spec = DEFAULT_SPEC.replace(num_pes=2, arithmetic=arithmetic)
        tiny = encode(np.array([[1, 0], [0, 1], [1, 1]], dtype=np.uint8),
                      np.array([0.0, 0.5], dtype=np.float32), np.array([1, 0, 1], np.uint8),
                      spec=spec)
        _run_engine(engine, prepare_inputs(tiny, np.array([1.0, 0.0]), spec), None)


def _run_engine(engine: str, prepared: PreparedInputs, trace: Any) -> EngineOutput:
    # Imported here so that using one engine never pays for importing (or compiling) the other.
    if engine == "fast":
        if trace is not None:
            raise SpecError("tracing needs the reference engine; use engine='reference' "
                            "(--engine reference) together with a trace")
        from eiesim.sim.fast import run
        return run(prepared)
    from eiesim.sim.reference import run as run_reference
    return run_reference(prepared, trace=trace)


def float_reference(layer: EncodedLayer, activations: np.ndarray) -> np.ndarray:
    """relu(W a + bias) in float64 with the exact codebook values, from the encoded entries."""
    rows, cols, values = layer.real_entry_coordinates()
    extended = np.zeros(layer.num_columns, dtype=np.float64)
    extended[: layer.in_features] = activations
    if layer.has_bias:
        extended[layer.bias_column] = 1.0
    weights = layer.codebook.astype(np.float64)[values]
    out = np.bincount(rows, weights=weights * extended[cols], minlength=layer.out_features)
    return np.maximum(out, 0.0)


def simulate(layer: EncodedLayer, activations: np.ndarray, spec: HardwareSpec | None = None, *,
             engine: str = "fast", trace: Any = None) -> SimResult:
    """Simulate ``layer`` on input ``activations`` with hardware ``spec``.

    ``engine`` is ``"fast"`` (numba, default) or ``"reference"`` (SimPy, readable, slow; the
    only one that records a ``trace``). Both implement the contract in :mod:`eiesim.sim`.
    """
    if engine not in ENGINES:
        raise SpecError(f"engine = {engine!r} is unknown; use one of {', '.join(ENGINES)}")
    spec = spec_for_layer(layer, spec)
    prepared = prepare_inputs(layer, activations, spec)
    _warm_up(engine)
    start = time.perf_counter()
    output = _run_engine(engine, prepared, trace)
    wall_time_s = time.perf_counter() - start

    if prepared.is_fixed:
        scale = float(1 << prepared.act_frac_bits)
        pre = output.accumulators.astype(np.float64) / scale
    else:
        pre = output.accumulators.astype(np.float32).astype(np.float64)
    return SimResult(
        engine=engine,
        spec=spec,
        out_features=layer.out_features,
        in_features=layer.in_features,
        frontend_cycles=int(output.frontend_cycles),
        drain_cycles=spec.arith_pipeline_stages,
        relu_cycles=-(-int(layer.rows_per_pe.max()) // spec.relu_outputs_per_cycle),
        outputs=np.maximum(pre, 0.0),
        pre_activations=pre,
        float_reference=float_reference(layer, np.asarray(activations, dtype=np.float64)),
        pe_counts=output.pe_counts,
        ccu_counts=output.ccu_counts,
        wall_time_s=wall_time_s,
        act_frac_bits=prepared.act_frac_bits,
        weight_frac_bits=prepared.weight_frac_bits,
        trace=output.trace,
    )
