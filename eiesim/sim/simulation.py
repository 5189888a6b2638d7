"""simulate(): the public entry point that validates, prepares, runs an engine and wraps up."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from eiesim.actions import PE_INDEX
from eiesim.errors import LayerError, SpecError
from eiesim.format.encoded import EncodedLayer
from eiesim.sim.prepare import PreparedInputs, check_activations, prepare_inputs
from eiesim.sim.result import EngineOutput, SimResult
from eiesim.spec import DEFAULT_SPEC, HardwareSpec

ENGINES = ("fast", "reference")


def spec_for_layer(layer: EncodedLayer, spec: HardwareSpec | None) -> HardwareSpec:
    """The spec to simulate with: the given one, or the default with the layer's encoding."""
    if spec is not None:
        return spec
    return DEFAULT_SPEC.replace(num_pes=layer.num_pes, weight_index_bits=layer.weight_index_bits,
                                rel_index_bits=layer.rel_index_bits)


def _run_engine(engine: str, prepared: PreparedInputs, trace: Any) -> EngineOutput:
    # Imported here so that using one engine never pays for importing (or compiling) the other.
    if engine == "fast":
        from eiesim.sim.fast import run
        return run(prepared)
    from eiesim.sim.reference import run as run_reference
    return run_reference(prepared, trace=trace)


def float_reference(layer: EncodedLayer, activations: np.ndarray) -> np.ndarray:
    """relu(W a + bias) in float64 with the exact codebook values (see
    :meth:`EncodedLayer.float_outputs`)."""
    return layer.float_outputs(activations)


def relu_cycles(rows_per_pe: int, spec: HardwareSpec) -> int:
    """Rule T10: R = 0 with ReLU on the way out of the register file (the default), else
    ceil(rows / relu_outputs_per_cycle) cycles of a separate pass."""
    if spec.relu_outputs_per_cycle == 0:
        return 0
    return -(-rows_per_pe // spec.relu_outputs_per_cycle)


def simulate(layer: EncodedLayer, activations: np.ndarray, spec: HardwareSpec | None = None, *,
             engine: str = "fast", trace: Any = None) -> SimResult:
    """Simulate ``layer`` on input ``activations`` with hardware ``spec``.

    ``engine`` is ``"fast"`` (numba, default) or ``"reference"`` (SimPy, readable, slow; the
    only one that records a ``trace``). Both implement the contract in :mod:`eiesim.sim`.

    What a call does, in order: check that the layer fits ``spec`` (CapacityError otherwise);
    split it into output batches if rule T13 needs them (cut from the layer's own entries, once
    per layer and batch size, see :meth:`EncodedLayer.output_batches`); prepare the input
    (rules T1, A1, A2); on the first fast run in a process, load the fast engine's kernel
    (:func:`eiesim.sim.fast.warm_up`: from numba's on-disk cache, or by compiling it), and on
    the first fast run of a layer, arrange its entries for the kernel
    (:func:`eiesim.sim.fast.columns_of`, kept with the layer); then run the engine once per
    batch. ``wall_time_s`` is the time of those engine runs alone. The float64 reference
    output (``SimResult.float_reference``) is computed on first access and kept with the layer
    for the same input.
    """
    if engine not in ENGINES:
        raise SpecError(f"engine = {engine!r} is unknown; use one of {', '.join(ENGINES)}")
    if trace is not None and engine == "fast":
        raise SpecError("tracing needs the reference engine; use engine='reference' "
                        "(--engine reference) together with a trace")
    spec = spec_for_layer(layer, spec)
    batches = output_batches(layer, spec)
    if trace is not None and len(batches) > 1:
        raise SpecError(f"the layer runs in {len(batches)} output batches (rule T13: PEs own "
                        f"more than act_regs_per_file = {spec.act_regs_per_file} rows); traces "
                        f"cover single-batch layers, so trace fewer rows or use more PEs")
    activations = check_activations(activations, layer.in_features)
    prepared = [prepare_inputs(batch, activations, spec) for batch in batches]
    if engine == "fast":
        from eiesim.sim.fast import columns_of, warm_up
        warm_up()
        for batch in batches:
            columns_of(batch)  # the layer's layout for the kernel, built once per layer
    start = time.perf_counter()
    outputs = [_run_engine(engine, inputs, trace) for inputs in prepared]
    wall_time_s = time.perf_counter() - start

    first = prepared[0]
    accumulators = outputs[0].accumulators if len(outputs) == 1 else \
        np.concatenate([output.accumulators for output in outputs])
    if first.is_fixed:
        pre = accumulators.astype(np.float64) / float(1 << first.act_frac_bits)
    else:
        pre = accumulators.astype(np.float64)
        _check_no_float32_overflow(pre)
    pe_counts = outputs[0].pe_counts
    ccu_counts = outputs[0].ccu_counts
    for output in outputs[1:]:
        pe_counts = pe_counts + output.pe_counts
        ccu_counts = ccu_counts + output.ccu_counts
    writeback_cycles = 0
    if len(batches) > 1:
        # T13: every batch's outputs go to the activation SRAM, K per access, one access a cycle.
        per_access = spec.activations_per_sram_access
        for batch in batches:
            accesses = -(-batch.rows_per_pe // per_access)
            pe_counts[:, PE_INDEX["act_sram_writes"]] += accesses
            writeback_cycles += int(accesses.max())
    # The float reference is the same for every spec: computed on first use, kept by the layer.
    return SimResult(
        engine=engine,
        spec=spec,
        out_features=layer.out_features,
        in_features=layer.in_features,
        frontend_cycles=sum(int(output.frontend_cycles) for output in outputs),
        drain_cycles=spec.arith_pipeline_stages * len(batches),
        relu_cycles=sum(relu_cycles(int(batch.rows_per_pe.max()), spec) for batch in batches),
        writeback_cycles=writeback_cycles,
        output_batches=len(batches),
        outputs=np.maximum(pre, 0.0),
        pre_activations=pre,
        float_reference_of=_FloatReference(layer, activations),
        pe_counts=pe_counts,
        ccu_counts=ccu_counts,
        wall_time_s=wall_time_s,
        act_frac_bits=first.act_frac_bits,
        weight_frac_bits=first.weight_frac_bits,
        trace=outputs[0].trace,
        stored_entries=int(layer.entry_v.size),
        stored_padding_entries=layer.stored_padding_entries,
        end_latency_cycles=spec.end_of_layer_latency_cycles,  # T14: once per layer
    )


class _FloatReference:
    """Computes the float64 reference of (layer, activations) when first asked for it."""

    __slots__ = ("layer", "activations")

    def __init__(self, layer: EncodedLayer, activations: np.ndarray) -> None:
        self.layer = layer
        self.activations = activations

    def __call__(self) -> np.ndarray:
        # A copy: the layer keeps its array for the next run of this input.
        return self.layer.float_outputs(self.activations).copy()


def output_batches(layer: EncodedLayer, spec: HardwareSpec) -> tuple[EncodedLayer, ...]:
    """Rule T13: the layer itself, or one sub-layer per output batch of
    ``act_regs_per_file`` local rows per PE (global rows [b R N, (b + 1) R N))."""
    layer.check_fits(spec)
    return layer.output_batches(spec.act_regs_per_file)


def _check_no_float32_overflow(pre: np.ndarray) -> None:
    """Refuse a float32 run whose accumulation left float32's range: its outputs would be
    infinite or NaN, which no report, error figure or JSON file can carry."""
    bad = np.flatnonzero(~np.isfinite(pre))
    if bad.size:
        from eiesim.checks import FLOAT32_MAX

        raise LayerError(f"output {int(bad[0])} = {pre[bad[0]]}: accumulating W a in float32 "
                         f"went beyond float32's range +-{FLOAT32_MAX:g} ({bad.size} of "
                         f"{pre.size} outputs did); scale the weights or the activations down")
