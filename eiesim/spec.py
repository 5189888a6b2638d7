"""HardwareSpec: every hardware number of the simulated EIE, in one frozen, validated object.

Nothing else in eiesim hard-codes a width, a depth, a latency or a capacity: the encoder, both
engines, the energy model and the report read them from here. The defaults are EIE's design
point (Han et al., ISCA 2016; see docs/hardware.md §3).

Queue depth convention
----------------------
``act_queue_depth`` is the number of (a_j, j) entries an activation queue *holds*. The paper
chooses depth 8. EIE's RTL model implements the queue as a circular buffer of B slots whose full
test is ``(write + 1) mod B == read``, so B slots hold B - 1 entries: an RTL-model buffer of
B slots is ``act_queue_depth = B - 1`` here (its 8-slot buffer is depth 7), and our depth D is an
RTL-model buffer of D + 1 slots. :meth:`HardwareSpec.from_rtl_queue_slots` does the conversion.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eiesim.errors import SpecError

_FIXED_RE = re.compile(r"^fixed(\d+)$")


@dataclass(frozen=True)
class Parameter:
    """What eiesim knows of one hardware parameter: the command-line flags, their help, the sweep
    axes and the validation messages are all made from it."""

    doc: str
    kind: type  # int, float, str or bool
    unit: str = ""
    low: float | None = None
    high: float | None = None
    flag: str = ""  # command-line flag, e.g. "--pes"
    axis: str | None = None  # short sweep name, e.g. "pes"
    metavar: str = "VALUE"
    hint: str = ""  # how to fix a bad value
    optional: bool = False  # None is allowed (and means: derived, see doc)
    default: Any = None


def _param(default: Any, doc: str, *, unit: str = "", low: float | None = None,
           high: float | None = None, flag: str = "", axis: str | None = None,
           metavar: str = "VALUE", hint: str) -> Any:
    kind = bool if isinstance(default, bool) else str if isinstance(default, str) \
        else float if isinstance(default, float) else int
    return dataclasses.field(default=default, metadata={"eiesim": Parameter(
        doc=doc, kind=kind, unit=unit, low=low, high=high, flag=flag, axis=axis,
        metavar=metavar, hint=hint, optional=default is None, default=default)})


@dataclass(frozen=True)
class HardwareSpec:
    """One EIE design point. All fields are user-settable; ``__post_init__`` validates them.

    >>> spec = HardwareSpec()
    >>> spec.num_pes, spec.act_queue_depth, spec.entries_per_sram_line
    (64, 8, 8)
    >>> HardwareSpec(num_pes=0)
    Traceback (most recent call last):
    ...
    eiesim.errors.SpecError: num_pes = 0 (--pes) is below the minimum 1 PEs; the paper's chip has 64
    """

    # --- array -----------------------------------------------------------------------------
    num_pes: int = _param(
        64, "processing elements; row i of W (and output i) lives on PE i mod num_pes",
        unit="PEs", low=1, high=1 << 16, flag="--pes", axis="pes", metavar="N",
        hint="the paper's chip has 64")
    act_queue_depth: int = _param(
        8, "entries each PE's activation queue holds (EIE's RTL model's 8-slot circular buffer "
        "holds 7; see the module docstring)", unit="entries", low=1, high=1 << 16,
        flag="--fifo", axis="fifo", metavar="D", hint="the paper uses 8")
    lnzd_fanin: int = _param(
        4, "fan-in of the leading-non-zero-detection tree (21 nodes for 64 PEs at fan-in 4)",
        unit="inputs", low=2, high=64, hint="the paper's LNZD tree has fan-in 4")

    # --- sparse-matrix encoding --------------------------------------------------------------
    weight_index_bits: int = _param(
        4, "bits of the codebook index v; the codebook has 2**bits entries, entry 0 = 0",
        unit="bits", low=1, high=8, flag="--weight-bits", axis="weight_bits", metavar="B",
        hint="the paper uses 4-bit codebook indices")
    rel_index_bits: int = _param(
        4, "bits of the relative row index z; a gap of 2**bits zeros needs a padding entry",
        unit="bits", low=1, high=16, flag="--index-bits", axis="index_bits", metavar="B",
        hint="the paper uses 4-bit relative indices")
    pointer_bits: int = _param(
        16, "width of a column pointer; a PE addresses at most 2**bits - 1 entries",
        unit="bits", low=1, high=64, flag="--pointer-bits", axis="pointer_bits", metavar="B",
        hint="the paper uses 16-bit pointers")

    # --- memories per PE ---------------------------------------------------------------------
    spmat_sram_width_bits: int = _param(
        64, "width of one sparse-matrix SRAM line (8 entries of 8 bits at the paper's 64)",
        unit="bits", low=1, high=1 << 16, flag="--sram-width", axis="sram_width",
        metavar="BITS", hint="the paper uses 64-bit lines")
    spmat_sram_bytes: int = _param(
        128 * 1024, "sparse-matrix SRAM capacity per PE", unit="bytes", low=1, high=1 << 40,
        flag="--spmat-sram-bytes", metavar="BYTES", hint="the paper uses 128 KB (131072)")
    ptr_sram_bytes: int = _param(
        32 * 1024, "pointer SRAM capacity per PE, both banks together", unit="bytes", low=1,
        high=1 << 40, flag="--ptr-sram-bytes", metavar="BYTES",
        hint="the paper uses 32 KB (32768)")
    act_sram_bytes: int = _param(
        2 * 1024, "activation SRAM per PE for vectors longer than the register files",
        unit="bytes", low=0, high=1 << 40, flag="--act-sram-bytes", metavar="BYTES",
        hint="the paper uses 2 KB (2048)")
    act_regs_per_file: int = _param(
        64, "registers in each of the two activation register files (source, destination) "
        "per PE", unit="activations", low=1, high=1 << 20, flag="--act-regs", metavar="R",
        hint="the paper uses 64")
    act_sram_width_bits: int | None = _param(
        None, "width of one activation-SRAM access, moving width // data_bits activations per "
        "cycle when long vectors are batched (rules T12, T13); none = one activation. The "
        "paper does not give it; the area model fits a 2 KB SRAM with a 16-bit port into the "
        "activation R/W unit's area of Table II, but not one with a 64-bit port",
        unit="bits", low=1, high=1 << 16, flag="--act-sram-width", metavar="BITS",
        hint="leave it unset for one activation per access")

    # --- timing ------------------------------------------------------------------------------
    clock_hz: float = _param(
        800e6, "clock frequency (the paper's critical path is 1.15 ns)", unit="Hz", low=1e6,
        high=10e9, flag="--clock", axis="clock", metavar="HZ",
        hint="the paper's clock is 800e6 (800MHz); a 45 nm design runs between 1 MHz and 10 GHz")
    arith_pipeline_stages: int = _param(
        4, "stages of the arithmetic unit after the sparse-matrix read: decode and address "
        "accumulate, read destination and multiply, shift and add, write (the RTL model: 3)",
        unit="stages", low=1, high=64, flag="--pipeline-stages", metavar="P",
        hint="the paper's RTL has 4 stages")
    relu_outputs_per_cycle: int = _param(
        0, "0: ReLU costs no cycle of its own, it is applied as outputs leave the destination "
        "register file, as EIE does it (rule T10); a positive value models a separate ReLU and "
        "write-back pass at the end of the layer, this many outputs per PE per cycle",
        unit="outputs/cycle", low=0, high=1 << 16, flag="--relu-per-cycle", metavar="K",
        hint="use 0 for ReLU on the way out of the register file (EIE), or the outputs per "
             "cycle of a separate ReLU pass")
    end_of_layer_latency_cycles: int = _param(
        0, "cycles after the last write-back before the layer counts as done (rule T14); the "
        "paper gives none, EIE's RTL model counts 2", unit="cycles", low=0, high=1 << 16,
        flag="--end-latency", metavar="CYCLES",
        hint="the paper's chip has none (0); the RTL model counts 2")
    source_regs_hold_whole_input: bool = _param(
        False, "false: the source register file holds act_regs_per_file activations per PE and "
        "a longer input is loaded from the activation SRAM in input batches (rule T12), as "
        "EIE's 64-entry register file must; true: it holds the whole input vector, with no "
        "input batches and no load cycles, as EIE's RTL model does", flag="--whole-input-regs",
        metavar="BOOL",
        hint="the paper's chip batches long inputs (false); the RTL model holds them whole (true)")

    # --- arithmetic --------------------------------------------------------------------------
    arithmetic: str = _param(
        "fixed16", "fixedB (B-bit two's-complement fixed point, 4 <= B <= 32; the paper: "
        "fixed16) or float32", flag="--arith", axis="arith", metavar="FORMAT",
        hint="use 'fixed16' (or 'fixedB' with 4 <= B <= 32) or 'float32'")
    act_frac_bits: int | None = _param(
        None, "fractional bits of activations and accumulators in fixed point; none = B // 2 "
        "(Q7.8 for fixed16)", unit="bits", low=0, flag="--act-frac-bits", metavar="F",
        hint="leave it unset for B // 2")
    weight_frac_bits: int | None = _param(
        None, "fractional bits of codebook values in fixed point; none = chosen per layer as "
        "the largest that represents the codebook's largest magnitude", unit="bits", low=0,
        flag="--weight-frac-bits", metavar="F", hint="leave it unset to choose it per layer")

    def __post_init__(self) -> None:
        # Ranges, units and fixes come from each field's metadata (PARAMETERS); only the checks
        # that relate two fields are written out here.
        for name, param in PARAMETERS.items():
            if name == "arithmetic":
                continue
            value = getattr(self, name)
            if value is None and param.optional:
                continue
            if param.kind is bool:
                _check_flag(self, name, param)
            else:
                _check_number(self, name, param)
        if not isinstance(self.arithmetic, str) or not (
                self.arithmetic == "float32" or _FIXED_RE.match(self.arithmetic)):
            raise SpecError(f"{_named('arithmetic', self.arithmetic)} is not supported; "
                            f"{PARAMETERS['arithmetic'].hint}")
        if self.spmat_sram_width_bits < self.entry_bits:
            raise SpecError(
                f"{_named('spmat_sram_width_bits', self.spmat_sram_width_bits)} is narrower than "
                f"one {self.entry_bits}-bit entry (weight_index_bits + rel_index_bits); use at "
                f"least {self.entry_bits} bits")
        if self.spmat_sram_bytes * 8 < self.spmat_sram_width_bits:
            raise SpecError(
                f"{_named('spmat_sram_bytes', self.spmat_sram_bytes)} holds less than one "
                f"{self.spmat_sram_width_bits}-bit line; make the SRAM larger or the line narrower")
        if self.is_fixed_point:
            bits = self.data_bits
            if not 4 <= bits <= 32:
                raise SpecError(f"{_named('arithmetic', self.arithmetic)} has {bits} bits, "
                                f"outside 4..32; use e.g. 'fixed16' or 'fixed8'")
            if self.act_frac_bits is not None and self.act_frac_bits > bits - 1:
                raise SpecError(f"{_named('act_frac_bits', self.act_frac_bits)} is above the "
                                f"maximum {bits - 1}: activations are {bits}-bit")
            if self.weight_frac_bits is not None and self.weight_frac_bits > 2 * bits:
                raise SpecError(f"{_named('weight_frac_bits', self.weight_frac_bits)} is above "
                                f"the maximum {2 * bits}; leave it unset to choose it per layer")
        if self.act_sram_width_bits is not None and self.act_sram_width_bits < self.data_bits:
            raise SpecError(
                f"{_named('act_sram_width_bits', self.act_sram_width_bits)} is narrower than "
                f"one {self.data_bits}-bit activation; use at least {self.data_bits} bits")

    # --- derived quantities (never stored, so they cannot disagree with the fields) -----------
    @property
    def entry_bits(self) -> int:
        """Bits of one (v, z) entry in the sparse-matrix SRAM."""
        return self.weight_index_bits + self.rel_index_bits

    @property
    def entries_per_sram_line(self) -> int:
        """Whole entries per SRAM line; leftover bits of a line stay unused (e.g. 64-bit lines
        of 6-bit entries hold 10 entries and waste 4 bits)."""
        return self.spmat_sram_width_bits // self.entry_bits

    @property
    def codebook_size(self) -> int:
        return 1 << self.weight_index_bits

    @property
    def padding_run(self) -> int:
        """Rows one padding entry (v=0, z=max) advances: 2**rel_index_bits."""
        return 1 << self.rel_index_bits

    @property
    def spmat_capacity_entries(self) -> int:
        return (self.spmat_sram_bytes * 8) // self.entry_bits

    @property
    def max_pointer_value(self) -> int:
        return (1 << self.pointer_bits) - 1

    @property
    def max_entries_per_pe(self) -> int:
        """Entries a PE can hold: the smaller of the SRAM capacity and what a pointer addresses."""
        return min(self.spmat_capacity_entries, self.max_pointer_value)

    @property
    def ptr_capacity(self) -> int:
        """Column pointers the pointer SRAM holds (a layer with C columns needs C + 1)."""
        return (self.ptr_sram_bytes * 8) // self.pointer_bits

    @property
    def is_fixed_point(self) -> bool:
        return self.arithmetic != "float32"

    @property
    def data_bits(self) -> int:
        """Width of activations, codebook values and accumulators (32 for float32)."""
        match = _FIXED_RE.match(self.arithmetic)
        return int(match.group(1)) if match else 32

    @property
    def act_frac_bits_effective(self) -> int:
        if self.act_frac_bits is not None:
            return self.act_frac_bits
        return self.data_bits // 2

    @property
    def act_sram_entries(self) -> int:
        return (self.act_sram_bytes * 8) // self.data_bits

    @property
    def act_sram_access_bits(self) -> int:
        """Bits one activation-SRAM access moves (act_sram_width_bits, default data_bits)."""
        return self.act_sram_width_bits if self.act_sram_width_bits is not None \
            else self.data_bits

    @property
    def activations_per_sram_access(self) -> int:
        """Activations one activation-SRAM access moves (T12, T13)."""
        return self.act_sram_access_bits // self.data_bits

    @property
    def max_activations_per_pe(self) -> int:
        """Longest slice of an input or output vector one PE can hold (registers or SRAM)."""
        return max(self.act_regs_per_file, self.act_sram_entries)

    @property
    def lnzd_nodes(self) -> int:
        """Nodes of the LNZD tree: ceil(N/f) + ceil(N/f^2) + ... down to the root (21 for 64)."""
        nodes, width = 0, self.num_pes
        while True:
            width = -(-width // self.lnzd_fanin)
            nodes += width
            if width == 1:
                return nodes

    ENCODING_FIELDS = ("num_pes", "rel_index_bits", "weight_index_bits")
    """The fields a layer's encoding depends on; specs that differ only in others (queue depth,
    memory sizes, clock, arithmetic, ...) share one encoding of a layer."""

    @property
    def encoding_key(self) -> tuple[int, ...]:
        return tuple(getattr(self, name) for name in self.ENCODING_FIELDS)

    @property
    def cycle_s(self) -> float:
        return 1.0 / self.clock_hz

    # --- construction ------------------------------------------------------------------------
    def replace(self, **changes: Any) -> HardwareSpec:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> HardwareSpec:
        """Build from a mapping, rejecting unknown keys by name."""
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SpecError(f"unknown hardware parameter(s) {', '.join(unknown)}; known "
                            f"parameters are {', '.join(sorted(known))}")
        return cls(**dict(values))

    @classmethod
    def preset(cls, name: str, **changes: Any) -> HardwareSpec:
        """The spec of a named preset (:data:`PRESETS`), with ``changes`` on top.

        >>> spec = HardwareSpec.preset("authors-model")
        >>> spec.act_queue_depth, spec.arith_pipeline_stages, spec.end_of_layer_latency_cycles
        (7, 3, 2)
        >>> HardwareSpec.preset("eie") == HardwareSpec()
        True
        """
        if name not in PRESETS:
            close = difflib.get_close_matches(str(name), PRESETS, n=1)
            raise SpecError(f"unknown preset {name!r}"
                            + (f" (did you mean {close[0]!r}?)" if close else "")
                            + f"; known presets are {', '.join(PRESETS)}")
        return cls.from_dict({**PRESETS[name].values, **changes})

    @classmethod
    def from_rtl_queue_slots(cls, slots: int, **others: Any) -> HardwareSpec:
        """The spec whose queue matches an RTL-model circular buffer of ``slots`` slots."""
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 2:
            raise SpecError(f"an RTL-model queue of {slots!r} slots holds no entry; it needs at "
                            f"least 2 slots (B slots hold B - 1 entries)")
        return cls(act_queue_depth=slots - 1, **others)


def _named(name: str, value: Any) -> str:
    """``num_pes = 0 (--pes)``: a field and its value, with the command-line flag that sets it,
    so that one message serves Python and command-line users."""
    return f"{name} = {value!r} ({PARAMETERS[name].flag})"


def _check_flag(spec: HardwareSpec, name: str, param: Parameter) -> None:
    value = getattr(spec, name)
    # A numpy boolean scalar (from a sweep grid or a loaded file) is accepted and stored as a
    # plain bool; 0 and 1 are not, so that a number meant for another field is not taken as one.
    is_numpy_bool = getattr(getattr(value, "dtype", None), "kind", "") == "b" \
        and getattr(value, "ndim", 1) == 0
    if not (isinstance(value, bool) or is_numpy_bool):
        raise SpecError(f"{_named(name, value)} must be true or false; {param.hint}")
    object.__setattr__(spec, name, bool(value))


def _check_number(spec: HardwareSpec, name: str, param: Parameter) -> None:
    value = getattr(spec, name)
    whole = param.kind is int
    if isinstance(value, bool) or not isinstance(
            value, numbers.Integral if whole else numbers.Real) or (
            not whole and not math.isfinite(value)):
        what = "a whole number" if whole else "a finite number"
        raise SpecError(f"{_named(name, value)} must be {what} of {param.unit}; {param.hint}")
    value = int(value) if whole else float(value)
    object.__setattr__(spec, name, value)  # numpy numbers become plain ones (JSON, hashing)
    if param.low is not None and value < param.low:
        raise SpecError(f"{_named(name, value)} is below the minimum {param.low:g} "
                        f"{param.unit}; {param.hint}")
    if param.high is not None and value > param.high:
        raise SpecError(f"{_named(name, value)} is above the maximum {param.high:g} "
                        f"{param.unit}; {param.hint}")


PARAMETERS: dict[str, Parameter] = {
    # A field without a short flag of its own is set by its name: --lnzd-fanin.
    field.name: dataclasses.replace(field.metadata["eiesim"], flag=field.metadata["eiesim"].flag
                                    or "--" + field.name.replace("_", "-"))
    for field in dataclasses.fields(HardwareSpec) if field.init}
"""Every hardware parameter's declaration (doc, unit, range, flag), in field order."""

AXES: dict[str, str] = {param.axis: name for name, param in PARAMETERS.items() if param.axis}
"""Short sweep names (``pes``, ``fifo``, ...) of the most swept fields."""


def field_for(name: str) -> str:
    """The spec field a name refers to: a field name, a sweep axis (``pes``) or a flag
    (``--pes``)."""
    if name in PARAMETERS:
        return name
    if name in AXES:
        return AXES[name]
    for field_name, param in PARAMETERS.items():
        if name == param.flag:
            return field_name
    close = difflib.get_close_matches(name, [*PARAMETERS, *AXES], n=1)
    raise SpecError(f"unknown hardware parameter {name!r}"
                    + (f" (did you mean {close[0]!r}?)" if close else "")
                    + f"; known parameters are {', '.join(PARAMETERS)}")


@dataclass(frozen=True)
class Preset:
    """A named design point: the fields it changes from the defaults, and why each."""

    doc: str
    changes: tuple[tuple[str, Any, str], ...] = ()  # (field, value, why)

    @property
    def values(self) -> dict[str, Any]:
        return {name: value for name, value, _ in self.changes}


PRESETS: dict[str, Preset] = {
    "eie": Preset("EIE as the paper describes it: the defaults of every field"),
    "authors-model": Preset(
        "EIE's RTL model, the authors' cycle-level C++ simulator that the paper's cycle counts "
        "came from (docs/hardware.md §7)",
        (("act_queue_depth", 7, "its queue is a circular buffer of 8 slots, which holds 7 "
                                "entries"),
         ("arith_pipeline_stages", 3, "its arithmetic pipeline has 3 stages, the paper's RTL 4"),
         ("end_of_layer_latency_cycles", 2, "it counts two cycles after the last write-back "
                                            "before it declares the layer done"),
         ("source_regs_hold_whole_input", True, "its register file holds the whole input "
                                                "vector: no input batches, no load cycles"))),
}
"""Named presets for :meth:`HardwareSpec.preset` and ``--preset NAME`` on every command."""


DEFAULT_SPEC = HardwareSpec()
