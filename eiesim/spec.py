"""HardwareSpec: every hardware number of the simulated EIE, in one frozen, validated object.

Nothing else in eiesim hard-codes a width, a depth, a latency or a capacity: the encoder, both
engines, the energy model and the report read them from here. The defaults are EIE's design
point (Han et al., ISCA 2016; see ../shared/EIE.md §3).

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
import math
import re
from dataclasses import dataclass
import numbers
from typing import Any, Mapping

from eiesim.errors import SpecError

_FIXED_RE = re.compile(r"^fixed(\d+)$")


@dataclass(frozen=True)
class HardwareSpec:
    """One EIE design point. All fields are user-settable; ``__post_init__`` validates them.

    >>> spec = HardwareSpec()
    >>> spec.num_pes, spec.act_queue_depth, spec.entries_per_sram_line
    (64, 8, 8)
    >>> HardwareSpec(num_pes=0)
    Traceback (most recent call last):
    ...
    eiesim.errors.SpecError: num_pes = 0 is below the minimum 1; use between 1 and 65536 processing elements
    """

    # --- array -----------------------------------------------------------------------------
    num_pes: int = 64
    """Processing elements. Row i of W (and output i) lives on PE i mod num_pes."""
    act_queue_depth: int = 8
    """Entries each PE's activation queue holds (paper: 8). See the module docstring."""
    lnzd_fanin: int = 4
    """Fan-in of the leading-non-zero-detection quadtree (paper: 4, 21 nodes for 64 PEs)."""

    # --- sparse-matrix encoding --------------------------------------------------------------
    weight_index_bits: int = 4
    """Bits of the codebook index v; the codebook has 2**weight_index_bits entries, entry 0 = 0."""
    rel_index_bits: int = 4
    """Bits of the relative row index z; gaps of 2**rel_index_bits zeros need a padding entry."""
    pointer_bits: int = 16
    """Width of a column pointer; a PE can address at most 2**pointer_bits - 1 entries."""

    # --- memories per PE ---------------------------------------------------------------------
    spmat_sram_width_bits: int = 64
    """Width of one sparse-matrix SRAM line (paper: 64 bits = 8 entries of 8 bits)."""
    spmat_sram_bytes: int = 128 * 1024
    """Sparse-matrix SRAM capacity per PE (paper: 128 KB)."""
    ptr_sram_bytes: int = 32 * 1024
    """Pointer SRAM capacity per PE, both banks together (paper: 32 KB)."""
    act_sram_bytes: int = 2 * 1024
    """Activation SRAM per PE for vectors longer than the register files (paper: 2 KB)."""
    act_regs_per_file: int = 64
    """Registers in each of the two activation register files (source, destination) per PE."""
    act_sram_width_bits: int | None = None
    """Width of one activation-SRAM access; it moves width // data_bits activations per cycle
    when vectors longer than the register files are batched (rules T12, T13). None means one
    activation (data_bits). The paper does not give it; the area model (eiesim.energy.area)
    fits a 2 KB SRAM with a 16-bit port into the activation R/W unit's 18,934 um^2 of Table II,
    but not one with a 64-bit port."""

    # --- timing ------------------------------------------------------------------------------
    clock_hz: float = 800e6
    """Clock frequency (paper: 800 MHz, critical path 1.15 ns)."""
    arith_pipeline_stages: int = 4
    """Stages of the arithmetic unit after the sparse-matrix read: decode ‖ address accumulate,
    read destination ‖ multiply, shift and add, write (paper's RTL: 4; the RTL model uses 3)."""
    relu_outputs_per_cycle: int = 0
    """0 (default, as EIE does it): ReLU costs no cycle of its own, it is applied as outputs
    leave the destination register file (rule T10). A positive value models a separate ReLU
    and write-back pass at the end of the layer, this many outputs per PE per cycle."""

    # --- arithmetic --------------------------------------------------------------------------
    arithmetic: str = "fixed16"
    """``"fixedB"`` (B-bit two's-complement fixed point, 4 <= B <= 32; paper: fixed16) or
    ``"float32"``."""
    act_frac_bits: int | None = None
    """Fractional bits of activations and accumulators in fixed point; None means B // 2
    (Q7.8 for fixed16)."""
    weight_frac_bits: int | None = None
    """Fractional bits of codebook values in fixed point; None means: chosen per layer as the
    largest that represents the codebook's largest magnitude without overflow."""

    def __post_init__(self) -> None:
        _check_int(self, "num_pes", 1, 1 << 16, "use between 1 and 65536 processing elements")
        _check_int(self, "act_queue_depth", 1, 1 << 16,
                   "a queue must hold at least one entry (the paper uses 8)")
        _check_int(self, "lnzd_fanin", 2, 64, "the paper's LNZD tree has fan-in 4")
        _check_int(self, "weight_index_bits", 1, 8, "the paper uses 4-bit codebook indices")
        _check_int(self, "rel_index_bits", 1, 16, "the paper uses 4-bit relative indices")
        _check_int(self, "pointer_bits", 1, 64, "the paper uses 16-bit pointers")
        _check_int(self, "spmat_sram_width_bits", 1, 1 << 16, "the paper uses 64-bit lines")
        if self.spmat_sram_width_bits < self.entry_bits:
            raise SpecError(
                f"spmat_sram_width_bits = {self.spmat_sram_width_bits} is narrower than one "
                f"{self.entry_bits}-bit entry (weight_index_bits + rel_index_bits); use at least "
                f"{self.entry_bits} bits")
        _check_int(self, "spmat_sram_bytes", 1, 1 << 40, "the paper uses 128 KB")
        if self.spmat_sram_bytes * 8 < self.spmat_sram_width_bits:
            raise SpecError(
                f"spmat_sram_bytes = {self.spmat_sram_bytes} holds less than one "
                f"{self.spmat_sram_width_bits}-bit line; make the SRAM larger or the line narrower")
        _check_int(self, "ptr_sram_bytes", 1, 1 << 40, "the paper uses 32 KB")
        _check_int(self, "act_sram_bytes", 0, 1 << 40, "the paper uses 2 KB")
        _check_int(self, "act_regs_per_file", 1, 1 << 20, "the paper uses 64")
        if self.act_sram_width_bits is not None:
            _check_int(self, "act_sram_width_bits", 1, 1 << 16,
                       "leave it unset for one activation per access")
        if isinstance(self.clock_hz, bool) or not isinstance(self.clock_hz, (int, float)) \
                or not math.isfinite(self.clock_hz) or self.clock_hz <= 0:
            raise SpecError(f"clock_hz = {self.clock_hz!r} must be a positive finite number of "
                            f"hertz; the paper's clock is 800e6")
        _check_int(self, "arith_pipeline_stages", 1, 64, "the paper's RTL has 4 stages")
        _check_int(self, "relu_outputs_per_cycle", 0, 1 << 16,
                   "use 0 for ReLU on the way out of the register file (EIE), or the outputs "
                   "per cycle of a separate ReLU pass")
        if not isinstance(self.arithmetic, str) or not (
                self.arithmetic == "float32" or _FIXED_RE.match(self.arithmetic)):
            raise SpecError(f"arithmetic = {self.arithmetic!r} is not supported; use 'fixed16' "
                            f"(or 'fixedB' with 4 <= B <= 32) or 'float32'")
        if self.is_fixed_point:
            bits = self.data_bits
            if not 4 <= bits <= 32:
                raise SpecError(f"arithmetic = {self.arithmetic!r} has {bits} bits, outside "
                                f"4..32; use e.g. 'fixed16' or 'fixed8'")
            if self.act_frac_bits is not None:
                _check_int(self, "act_frac_bits", 0, bits - 1,
                           f"activations are {bits}-bit, so use 0..{bits - 1} fractional bits")
            if self.weight_frac_bits is not None:
                _check_int(self, "weight_frac_bits", 0, 2 * bits,
                           "leave it unset to choose it per layer")

        if self.act_sram_width_bits is not None and self.act_sram_width_bits < self.data_bits:
            raise SpecError(
                f"act_sram_width_bits = {self.act_sram_width_bits} is narrower than one "
                f"{self.data_bits}-bit activation; use at least {self.data_bits} bits")

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

    @property
    def cycle_s(self) -> float:
        return 1.0 / self.clock_hz

    # --- construction ------------------------------------------------------------------------
    def replace(self, **changes: Any) -> "HardwareSpec":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "HardwareSpec":
        """Build from a mapping, rejecting unknown keys by name."""
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SpecError(f"unknown hardware parameter(s) {', '.join(unknown)}; known "
                            f"parameters are {', '.join(sorted(known))}")
        return cls(**dict(values))

    @classmethod
    def from_rtl_queue_slots(cls, slots: int, **others: Any) -> "HardwareSpec":
        """The spec whose queue matches an RTL-model circular buffer of ``slots`` slots."""
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 2:
            raise SpecError(f"an RTL-model queue of {slots!r} slots holds no entry; it needs at "
                            f"least 2 slots (B slots hold B - 1 entries)")
        return cls(act_queue_depth=slots - 1, **others)


def _check_int(spec: HardwareSpec, name: str, low: int, high: int, hint: str) -> None:
    value = getattr(spec, name)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SpecError(f"{name} = {value!r} must be a whole number; {hint}")
    value = int(value)
    object.__setattr__(spec, name, value)  # numpy integers become plain ints (JSON, hashing)
    if value < low:
        raise SpecError(f"{name} = {value} is below the minimum {low}; {hint}")
    if value > high:
        raise SpecError(f"{name} = {value} is above the maximum {high}; {hint}")


DEFAULT_SPEC = HardwareSpec()
