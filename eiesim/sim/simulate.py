"""simulate(): the public entry point that validates, prepares, runs an engine and wraps up."""

from __future__ import annotations

import time
import weakref
from typing import Any

import numpy as np

from eiesim.actions import PE_INDEX
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
    batches = output_batches(layer, spec)
    if trace is not None and len(batches) > 1:
        raise SpecError(f"the layer runs in {len(batches)} output batches (rule T13: PEs own "
                        f"more than act_regs_per_file = {spec.act_regs_per_file} rows); traces "
                        f"cover single-batch layers, so trace fewer rows or use more PEs")
    prepared = [prepare_inputs(batch, activations, spec) for batch in batches]
    _warm_up(engine)
    start = time.perf_counter()
    outputs = [_run_engine(engine, inputs, trace) for inputs in prepared]
    wall_time_s = time.perf_counter() - start

    first = prepared[0]
    accumulators = np.concatenate([output.accumulators for output in outputs])
    if first.is_fixed:
        pre = accumulators.astype(np.float64) / float(1 << first.act_frac_bits)
    else:
        pre = accumulators.astype(np.float32).astype(np.float64)
    pe_counts = sum(output.pe_counts for output in outputs)
    ccu_counts = sum(output.ccu_counts for output in outputs)
    relu_cycles = sum(-(-int(batch.rows_per_pe.max()) // spec.relu_outputs_per_cycle)
                      for batch in batches)
    writeback_cycles = 0
    if len(batches) > 1:
        # T13: every batch's outputs go to the activation SRAM, K per access, one access a cycle.
        per_access = spec.activations_per_sram_access
        for batch in batches:
            accesses = -(-batch.rows_per_pe // per_access)
            pe_counts[:, PE_INDEX["act_sram_writes"]] += accesses
            writeback_cycles += int(accesses.max())
    return SimResult(
        engine=engine,
        spec=spec,
        out_features=layer.out_features,
        in_features=layer.in_features,
        frontend_cycles=sum(int(output.frontend_cycles) for output in outputs),
        drain_cycles=spec.arith_pipeline_stages * len(batches),
        relu_cycles=relu_cycles,
        writeback_cycles=writeback_cycles,
        output_batches=len(batches),
        outputs=np.maximum(pre, 0.0),
        pre_activations=pre,
        float_reference=float_reference(layer, np.asarray(activations, dtype=np.float64)),
        pe_counts=pe_counts,
        ccu_counts=ccu_counts,
        wall_time_s=wall_time_s,
        act_frac_bits=first.act_frac_bits,
        weight_frac_bits=first.weight_frac_bits,
        trace=outputs[0].trace,
    )


def output_batches(layer: EncodedLayer, spec: HardwareSpec) -> list[EncodedLayer]:
    """Rule T13: the layer itself, or one sub-layer per output batch of
    ``act_regs_per_file`` local rows per PE (global rows [b R N, (b + 1) R N))."""
    layer.check_fits(spec)
    rows = spec.act_regs_per_file * spec.num_pes
    if int(layer.rows_per_pe.max()) <= spec.act_regs_per_file:
        return [layer]
    # Splitting re-encodes the layer; keep the pieces for the next run of the same layer
    # (many inputs, or sweep points that only change timing parameters).
    cached = _BATCH_CACHE.setdefault(layer, {})
    if rows not in cached:
        from eiesim.compress.encode import encode

        codes, bias_codes = layer.to_codes()
        cached[rows] = [
            encode(codes[first:first + rows], layer.codebook,
                   None if bias_codes is None else bias_codes[first:first + rows], spec=spec)
            for first in range(0, layer.out_features, rows)]
    return cached[rows]


_BATCH_CACHE: "weakref.WeakKeyDictionary[EncodedLayer, dict[int, list[EncodedLayer]]]" = \
    weakref.WeakKeyDictionary()
