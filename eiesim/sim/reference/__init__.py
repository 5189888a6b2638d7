"""The reference engine: a SimPy discrete-event model of EIE, the executable timing contract.

One SimPy process per hardware unit, named as in the paper (ISCA 2016, Fig. 4 and Table II):

* ``ccu.CCU``          central control unit: walks the LNZD answers, broadcasts (a_j, j) (T2, T3)
* ``ccu.LnzdNode``     leading-non-zero-detection quadtree, fan-in ``spec.lnzd_fanin`` (T2)
* ``pe.ActQueue``      each PE's activation queue (T3, T4)
* ``pe.PtrRead``       pointer read from the even and odd pointer banks (T5)
* ``pe.SpmatRead``     sparse-matrix read with its SRAM line register (T6)
* ``pe.Arith``         decode, address accumulation, multiply-accumulate, bypass (T7, A3, A5)
* ``pe.ActRw``         source activations for the LNZD, ReLU and write-back (T10, T11)

``clock.Clock`` splits every cycle into a decide phase (read start-of-cycle state, stage
updates) and a commit phase (apply them), at distinct simulated times, so the order of work in a
cycle is explicit (T4) and never depends on SimPy's tie-breaking among simultaneous events.
``chip.Chip`` wires it together and does the per-cycle bookkeeping (T8, T11).

This package never imports the fast engine: the two are independent implementations of the
contract in :mod:`eiesim.sim`, and tests require identical results.
"""

from __future__ import annotations

from typing import Any

from eiesim.errors import SpecError
from eiesim.sim.prepare import PreparedInputs
from eiesim.sim.reference.chip import Chip
from eiesim.sim.result import EngineOutput

__all__ = ["run"]


def _check_trace(trace: Any) -> Any:
    if trace is None:
        return None
    if trace is True:
        from eiesim.sim.trace import TraceRecorder
        return TraceRecorder()
    missing = [name for name in ("start", "record", "finish")
               if not callable(getattr(trace, name, None))]
    if missing:
        raise SpecError(f"trace = {trace!r} lacks the method(s) {', '.join(missing)}; pass an "
                        f"eiesim.sim.trace.TraceRecorder() (or trace=True for a new one)")
    return trace


def run(prepared: PreparedInputs, trace: Any = None, *,
        shuffle_seed: int | None = None) -> EngineOutput:
    """Simulate one layer cycle by cycle; ``trace`` (a :class:`eiesim.sim.trace.TraceRecorder`, or
    True for a new one) receives every (unit, event, cycle) and is returned in the output.

    ``shuffle_seed`` starts the SimPy processes in a shuffled order and breaks SimPy's ties
    between simultaneous events at random (for tests: the result must not depend on it)."""
    trace = _check_trace(trace)
    if trace is not None:
        spec, layer = prepared.spec, prepared.layer
        trace.start(engine="reference", num_pes=spec.num_pes,
                    act_queue_depth=spec.act_queue_depth,
                    arith_pipeline_stages=spec.arith_pipeline_stages,
                    relu_outputs_per_cycle=spec.relu_outputs_per_cycle,
                    clock_hz=spec.clock_hz, out_features=layer.out_features,
                    in_features=layer.in_features, has_bias=layer.has_bias,
                    rows_per_pe=[int(r) for r in layer.rows_per_pe])
    return Chip(prepared, trace, shuffle_seed).run()
