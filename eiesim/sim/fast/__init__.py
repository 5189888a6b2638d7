"""The fast engine: a numba simulation of the timing contract in :mod:`eiesim.sim`.

``run(prepared)`` validates the prepared inputs, calls the private @njit kernels of
:mod:`eiesim.sim.fast.kernel` with plain arrays and scalars, and wraps their counters into an
:class:`~eiesim.sim.result.EngineOutput` laid out as :mod:`eiesim.actions` says. Two kernels
give identical results: the literal one steps every PE through every cycle of the front end
(rules T2-T8, T11); the default one skips from event to event (each broadcast's push and pop
cycles). The numba options live in :mod:`eiesim.jit`. :func:`warm_up` loads (or
compiles) the kernel before a timed run.
"""

from __future__ import annotations

import numpy as np

from eiesim.actions import CCU_EVENTS, CCU_INDEX, PE_EVENTS, PE_INDEX
from eiesim.errors import LayerError, SpecError
from eiesim.sim.fast import kernel
from eiesim.sim.prepare import PreparedInputs
from eiesim.sim.result import EngineOutput

__all__ = ["columns_of", "run", "warm_up"]

# Events this wrapper counts itself: the input-batch loads of T12 are CCU cycles the kernel
# treats as scan cycles (same timing), and the output write-back of T13 happens after the front
# end (eiesim.sim.simulation counts it).
_WRAPPER_PE_EVENTS = ("act_sram_reads", "act_sram_writes")
_WRAPPER_CCU_EVENTS = ("act_load_cycles",)

if sorted(kernel.PE_COUNTERS + _WRAPPER_PE_EVENTS) != sorted(PE_EVENTS) \
        or sorted(kernel.CCU_COUNTERS + _WRAPPER_CCU_EVENTS) != sorted(CCU_EVENTS):
    raise ImportError("the fast engine's counters differ from eiesim.actions; update "
                      "eiesim/sim/fast/kernel.py to count every event of PE_EVENTS and CCU_EVENTS")

_PE_COLUMNS = np.array([PE_INDEX[name] for name in kernel.PE_COUNTERS], dtype=np.int64)
_CCU_COLUMNS = np.array([CCU_INDEX[name] for name in kernel.CCU_COUNTERS], dtype=np.int64)


def _array(value: object, name: str, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` as a C-contiguous array of ``dtype`` and ``shape`` (copied only if needed)."""
    array = np.asarray(value)
    if array.shape != shape:
        raise LayerError(f"prepared input {name} has shape {array.shape}, expected {shape}; "
                         f"build the inputs with eiesim.sim.prepare_inputs(layer, activations, "
                         f"spec)")
    if array.dtype != dtype and not np.can_cast(array.dtype, dtype, casting="same_kind"):
        raise LayerError(f"prepared input {name} has dtype {array.dtype}, expected {dtype}; "
                         f"build the inputs with eiesim.sim.prepare_inputs")
    return np.ascontiguousarray(array, dtype=dtype)


def _storage(layer) -> kernel.Storage:
    n = layer.num_pes
    return kernel.Storage(
        entry_v=_array(layer.entry_v, "entry_v", np.uint8, layer.entry_v.shape),
        entry_z=_array(layer.entry_z, "entry_z", np.uint8, layer.entry_v.shape),
        pe_offsets=_array(layer.pe_offsets, "pe_offsets", np.int64, (n + 1,)),
        col_ptr=_array(layer.col_ptr, "col_ptr", np.int64, (n, layer.num_columns + 1)))


def columns_of(layer) -> kernel.Columns:
    """The layer's entries arranged for the event-skipping kernel (:data:`kernel.Columns`),
    built on first use and kept with the layer, so sweeps and repeated inputs reuse it."""
    return layer.memo(("fast engine", "columns"), lambda: _build_columns(layer))


def _build_columns(layer) -> kernel.Columns:
    shape = (layer.num_columns, layer.num_pes)
    # Lengths, padding counts, rows and offsets within one PE's slice of a column are below
    # its rows: int16 holds them for up to 32767 rows per PE, which keeps the per-(column, PE)
    # summaries that the kernel streams small. (row << 8) | code fits 32 bits below 2**24
    # rows; unsigned, so that indexing needs no check for negative indices.
    small = np.int16 if int(layer.rows_per_pe.max()) <= np.iinfo(np.int16).max else np.int32
    row_code = np.uint32 if layer.out_features < 1 << 24 else np.int64
    columns = kernel.Columns(
        start=np.empty(shape, dtype=np.int32), length=np.empty(shape, dtype=small),
        padding=np.empty(shape, dtype=small), first_row=np.empty(shape, dtype=small),
        last_real_offset=np.empty(shape, dtype=small), last_real_row=np.empty(shape, dtype=small),
        col_start=np.empty(layer.num_columns + 1, dtype=np.int64),
        entry_row_code=np.empty(int(np.count_nonzero(layer.entry_v)), dtype=row_code))
    kernel.build_columns(_storage(layer), columns)
    return columns


def _program_with_loads(nonzero: np.ndarray, spec, input_groups: int) -> tuple[np.ndarray, int]:
    """The CCU's program (T2) with T12's load cycles before every input batch.

    Load cycles never stall, exactly like scan cycles, so they enter the program as SCAN
    entries; the second value is how many there are. The bias group (after the input groups)
    needs no load.
    """
    n, regs = spec.num_pes, spec.act_regs_per_file
    if input_groups <= regs or spec.source_regs_hold_whole_input:
        return kernel.ccu_program(nonzero, n), 0

    def program_of(first_group: int, last_group: int) -> np.ndarray:
        segment = kernel.ccu_program(
            np.ascontiguousarray(nonzero[first_group * n:last_group * n]), n)
        return np.where(segment == kernel.SCAN, kernel.SCAN, segment + first_group * n)

    pieces, loads = [], 0
    for first_group in range(0, input_groups, regs):
        last_group = min(first_group + regs, input_groups)
        load = -(-(last_group - first_group) // spec.activations_per_sram_access)
        loads += load
        pieces += [np.full(load, kernel.SCAN, dtype=np.int64),
                   program_of(first_group, last_group)]
    if nonzero.size > input_groups * n:  # the bias group
        pieces.append(program_of(input_groups, nonzero.size // n))
    return np.concatenate(pieces).astype(np.int64), loads


def run(prepared: PreparedInputs, *, cycle_by_cycle: bool = False) -> EngineOutput:
    """Simulate one layer with the fast engine; see :mod:`eiesim.sim` for the contract.

    By default the event-skipping kernel computes every push and pop cycle from the recurrences
    of the contract; ``cycle_by_cycle=True`` runs the literal kernel that steps every PE through
    every cycle instead (slower, identical results; the tests hold the two equal).
    """
    if not isinstance(prepared, PreparedInputs):
        raise TypeError(f"run() takes PreparedInputs, got {type(prepared).__name__}; call "
                        f"eiesim.simulate(layer, activations, spec) or pass "
                        f"eiesim.sim.prepare_inputs(layer, activations, spec)")
    spec, layer = prepared.spec, prepared.layer
    n = spec.num_pes
    if layer.num_pes != n:
        raise SpecError(f"the layer was encoded for {layer.num_pes} PEs but the spec has "
                        f"num_pes = {n}; encode it again for this hardware")
    scan_length = int(prepared.scan_length)
    expected_scan = layer.padded_in_features + (n if layer.has_bias else 0)  # T1
    if scan_length != expected_scan:
        raise LayerError(f"prepared scan_length = {scan_length}, rule T1 gives {expected_scan} "
                         f"for this layer; build the inputs with eiesim.sim.prepare_inputs")
    codebook_size = layer.codebook.size
    nonzero = _array(prepared.nonzero, "nonzero", np.bool_, (scan_length,))
    act_fixed = _array(prepared.act_fixed, "act_fixed", np.int64, (scan_length,))
    act_float = _array(prepared.act_float, "act_float", np.float32, (scan_length,))
    codebook_fixed = _array(prepared.codebook_fixed, "codebook_fixed", np.int64,
                            (codebook_size,))
    codebook_float = _array(prepared.codebook_float, "codebook_float", np.float32,
                            (codebook_size,))

    is_fixed = bool(prepared.is_fixed)
    weight_frac = int(prepared.weight_frac_bits)
    if is_fixed and not 0 <= weight_frac <= 2 * spec.data_bits:
        raise SpecError(f"weight_frac_bits = {weight_frac} is outside 0..{2 * spec.data_bits} "
                        f"allowed by rule A2 for {spec.arithmetic}")
    out_features = layer.out_features
    out = kernel.Outputs(
        acc_fixed=np.zeros(out_features if is_fixed else 0, dtype=np.int64),
        acc_float=np.zeros(0 if is_fixed else out_features, dtype=np.float32),
        pe_counts=np.zeros((n, kernel.NUM_PE_COUNTERS), dtype=np.int64),
        ccu_counts=np.zeros(kernel.NUM_CCU_COUNTERS, dtype=np.int64))
    program, load_cycles = _program_with_loads(nonzero, spec,
                                               layer.padded_in_features // n)
    per_line = int(spec.entries_per_sram_line)
    line_mul, line_shift = kernel.line_divisor(per_line)
    timing = kernel.Timing(num_pes=n, queue_depth=int(spec.act_queue_depth),
                           entries_per_line=per_line, line_mul=line_mul, line_shift=line_shift)
    # A3's rounding shifts, clamped to 63 (see kernel._mac).
    arith = kernel.Arithmetic(
        is_fixed=is_fixed, round_shift=weight_frac > 0, quot_shift=min(weight_frac, 63),
        half_shift=min(max(weight_frac - 1, 0), 63), acc_min=int(prepared.acc_min),
        acc_max=int(prepared.acc_max))
    codebook = kernel.Codebook(fixed=codebook_fixed, float=codebook_float)
    acts = kernel.Activations(fixed=act_fixed, float=act_float)
    if cycle_by_cycle:
        frontend_cycles = kernel.frontend_cycles(program, acts, timing, _storage(layer), arith,
                                                 codebook, out)
    else:
        frontend_cycles = kernel.frontend_events(program, acts, timing, columns_of(layer), arith,
                                                 codebook,
                                                 out)
    raw_pe, raw_ccu = out.pe_counts, out.ccu_counts
    acc_fixed, acc_float = out.acc_fixed, out.acc_float

    pe_counts = np.zeros((n, len(PE_EVENTS)), dtype=np.int64)
    pe_counts[:, _PE_COLUMNS] = raw_pe
    ccu_counts = np.zeros(len(CCU_EVENTS), dtype=np.int64)
    ccu_counts[_CCU_COLUMNS] = raw_ccu
    # T12: the kernel ran the load cycles as scan cycles; count them as what they are.
    ccu_counts[CCU_INDEX["lnzd_scan_cycles"]] -= load_cycles
    ccu_counts[CCU_INDEX["act_load_cycles"]] = load_cycles
    pe_counts[:, PE_INDEX["act_sram_reads"]] = load_cycles
    return EngineOutput(
        frontend_cycles=int(frontend_cycles),
        accumulators=acc_fixed if is_fixed else acc_float,
        pe_counts=pe_counts,
        ccu_counts=ccu_counts,
    )


_WARM_KERNELS: set[bool] = set()


def warm_up(*, cycle_by_cycle: bool = False) -> None:
    """Load the kernel that :func:`run` will call (from numba's cache, or compile it) by running
    it once on a one-entry layer, so that a timed run measures the simulation alone. The
    kernels' argument types do not depend on the spec or the arithmetic, so one call warms the
    kernel for every later run; repeated calls return at once."""
    if cycle_by_cycle in _WARM_KERNELS:
        return
    from eiesim.format.encoded import EncodedLayer
    from eiesim.sim.prepare import prepare_inputs
    from eiesim.spec import DEFAULT_SPEC

    spec = DEFAULT_SPEC.replace(num_pes=1, weight_index_bits=1, rel_index_bits=1)
    tiny = EncodedLayer(num_pes=1, weight_index_bits=1, rel_index_bits=1, out_features=1,
                        in_features=1, has_bias=False,
                        codebook=np.array([0.0, 1.0], dtype=np.float32),
                        entry_v=np.ones(1, dtype=np.uint8), entry_z=np.zeros(1, dtype=np.uint8),
                        pe_offsets=np.array([0, 1], dtype=np.int64),
                        col_ptr=np.array([[0, 1]], dtype=np.int64))
    run(prepare_inputs(tiny, np.ones(1), spec), cycle_by_cycle=cycle_by_cycle)
    _WARM_KERNELS.add(cycle_by_cycle)
