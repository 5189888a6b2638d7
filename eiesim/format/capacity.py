"""What a layer needs from the chip's memories, counted without encoding it, and the smallest
memories that hold it (``--fit-memories``).

The counts are those of EIE's storage (docs/hardware.md §2): a gap of 2**rel_index_bits zeros or
more in a PE's slice of a column costs padding entries, so entries per PE depend on ``num_pes``
and ``rel_index_bits``. The first of the encoder's two passes (:func:`count_entries_per_column`)
is all a capacity check needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from eiesim.errors import CapacityError
from eiesim.format.codes import canonical_codes
from eiesim.limits import check_pe_column_slices
from eiesim.spec import DEFAULT_SPEC, HardwareSpec


@dataclass(frozen=True)
class Shortfall:
    """One limit a layer exceeds: the spec field, the smallest value that fits, and why."""

    field: str
    needed: int
    reason: str

    def __str__(self) -> str:
        from eiesim.spec import PARAMETERS

        return f"{self.reason}: {self.field} needs >= {self.needed} " \
               f"({PARAMETERS[self.field].flag} {self.needed})"


@dataclass(frozen=True)
class LayerRequirements:
    """What a layer needs from the memories, from counts alone (no encoding needed).

    ``max_entries_per_pe`` counts padding entries (rule of docs/hardware.md §2: a gap of
    2**rel_index_bits zeros or more in a PE's slice of a column costs padding entries), for the
    encoding given by ``num_pes`` and ``rel_index_bits``; ``worst_pe`` is the PE that needs them.
    Build it with :meth:`of_layer` or :func:`layer_requirements`.
    """

    num_pes: int
    out_features: int
    in_features: int
    has_bias: bool
    max_entries_per_pe: int
    worst_pe: int = 0

    @property
    def num_columns(self) -> int:
        return -(-self.in_features // self.num_pes) * self.num_pes + (1 if self.has_bias else 0)

    @property
    def max_rows_per_pe(self) -> int:
        return -(-self.out_features // self.num_pes)

    @classmethod
    def of_layer(cls, layer: Any) -> LayerRequirements:
        per_pe = layer.entries_per_pe
        worst = int(np.argmax(per_pe)) if per_pe.size else 0
        return cls(num_pes=layer.num_pes, out_features=layer.out_features,
                   in_features=layer.in_features, has_bias=layer.has_bias,
                   max_entries_per_pe=int(per_pe[worst]) if per_pe.size else 0, worst_pe=worst)

    def output_batches(self, spec: HardwareSpec) -> int:
        """Output batches of rule T13 (1 if every PE's rows fit its registers)."""
        return max(1, -(-self.max_rows_per_pe // spec.act_regs_per_file))

    def shortfalls(self, spec: HardwareSpec) -> list[Shortfall]:
        """Every memory or pointer limit of ``spec`` this layer exceeds, with the smallest
        value of the spec field that would fit (powers of two for sizes in bytes); memories
        are sized after the pointer width they must hold."""
        found: list[Shortfall] = []
        need = self.max_entries_per_pe
        where = f"PE {self.worst_pe} needs {need} entries"
        if need > spec.spmat_capacity_entries:
            found.append(Shortfall(
                "spmat_sram_bytes", _bytes_for(need * spec.entry_bits),
                f"{where}, its {spec.spmat_sram_bytes} B sparse-matrix SRAM holds "
                f"{spec.spmat_capacity_entries} (or use more PEs)"))
        pointer_bits = spec.pointer_bits
        if need > spec.max_pointer_value:
            pointer_bits = need.bit_length()
            found.append(Shortfall(
                "pointer_bits", pointer_bits,
                f"{where}, {spec.pointer_bits}-bit pointers address at most "
                f"{spec.max_pointer_value} (or use more PEs)"))
        # T13: each output batch is stored with pointers of its own.
        batches = self.output_batches(spec)
        pointers = batches * (self.num_columns + 1)
        if pointers * pointer_bits > spec.ptr_sram_bytes * 8:
            found.append(Shortfall(
                "ptr_sram_bytes", _bytes_for(pointers * pointer_bits),
                f"the layer needs {pointers} column pointers per PE "
                f"({batches} output batch{'es' if batches > 1 else ''} x "
                f"{self.num_columns + 1}), the {spec.ptr_sram_bytes} B pointer SRAM holds "
                f"{spec.ptr_sram_bytes * 8 // pointer_bits} {pointer_bits}-bit pointers"))
        # T12: registers that hold the whole input need no activation SRAM for it.
        input_slice = 0 if spec.source_regs_hold_whole_input else -(-self.in_features
                                                                     // self.num_pes)
        longest = max(input_slice, self.max_rows_per_pe)
        if longest > spec.max_activations_per_pe:
            found.append(Shortfall(
                "act_sram_bytes", _bytes_for(longest * spec.data_bits),
                f"each PE must hold {longest} activations, its {spec.act_regs_per_file} "
                f"registers and {spec.act_sram_bytes} B activation SRAM hold "
                f"{spec.max_activations_per_pe} (or use more PEs)"))
        return found

    def check(self, spec: HardwareSpec) -> None:
        """Raise one CapacityError listing every limit exceeded, each with its fix. The error's
        ``fixes`` attribute maps each spec field to the smallest value that fits."""
        found = self.shortfalls(spec)
        if not found:
            return
        shape = f"{self.out_features}x{self.in_features}"
        pes = f"{spec.num_pes} PE{'s' if spec.num_pes > 1 else ''}"
        error = CapacityError(f"the {shape} layer does not fit {pes}: "
                              + "; ".join(str(item) for item in found)
                              + "; or use more PEs, or --fit-memories to enlarge just these")
        error.fixes = {item.field: item.needed for item in found}
        raise error


def _bytes_for(bits: int) -> int:
    """The smallest power of two of bytes that holds ``bits`` bits."""
    need = max(1, -(-bits // 8))
    return 1 << (need - 1).bit_length()


def fit_memories(requirements_or_codes: Any, spec: HardwareSpec, *,
                 bias_codes: np.ndarray | None = None) -> tuple[HardwareSpec, dict[str, int]]:
    """``spec`` with just the memories and the pointer width that the layer exceeds enlarged,
    to the smallest sufficient values (powers of two for sizes in bytes), and the changes made
    ({} if it already fits).

    ``requirements_or_codes`` is a :class:`LayerRequirements`, an :class:`EncodedLayer`, a
    code matrix (with ``bias_codes``), or any object with ``.codes`` and ``.bias_codes`` (a
    quantized layer); the last two are counted for ``spec``'s encoding without encoding them.

    A dense 256 x 1024 layer on one PE has 262 144 entries of 8 bits: the 128 KB sparse-matrix
    SRAM and 16-bit pointers are too small, everything else fits.

    >>> import numpy as np
    >>> from eiesim.spec import DEFAULT_SPEC, HardwareSpec
    >>> spec, changes = fit_memories(np.ones((256, 1024), np.uint8), HardwareSpec(num_pes=1))
    >>> changes
    {'spmat_sram_bytes': 262144, 'pointer_bits': 19}
    """
    requirements = requirements_or_codes
    if hasattr(requirements, "entries_per_pe"):  # an EncodedLayer: its own counts
        requirements = LayerRequirements.of_layer(requirements)
    elif not isinstance(requirements, LayerRequirements):
        requirements = layer_requirements(requirements, bias_codes=bias_codes, spec=spec)
    if requirements.num_pes != spec.num_pes:
        raise CapacityError(f"the requirements were counted for num_pes = "
                            f"{requirements.num_pes} but the hardware has num_pes = "
                            f"{spec.num_pes}; count them again for this hardware")
    changes: dict[str, int] = {}
    # The pointer width first: the pointer SRAM is sized for pointers of the new width.
    for _ in range(2):
        found = requirements.shortfalls(spec.replace(**changes) if changes else spec)
        if not found:
            break
        changes.update({item.field: item.needed for item in found})
    fitted = spec.replace(**changes) if changes else spec
    requirements.check(fitted)
    return fitted, changes


def count_entries_per_column(codes: np.ndarray, bias_codes: np.ndarray | None,
                             spec: HardwareSpec) -> np.ndarray:
    """Entries (padding included) of every (PE, column) slice: int64 (num_pes, num_columns)."""
    num_pes = spec.num_pes
    padded_in = -(-codes.shape[1] // num_pes) * num_pes
    num_columns = padded_in + (1 if bias_codes is not None else 0)
    check_pe_column_slices(num_pes, num_columns, codes.shape[1], CapacityError)
    from eiesim.format.encode_kernels import count_entries

    per_column = np.zeros((num_pes, num_columns), dtype=np.int64)
    count_entries(codes, bias_or_empty(bias_codes), num_pes,
                   padded_in if bias_codes is not None else -1, spec.rel_index_bits, per_column)
    return per_column


def bias_or_empty(bias_codes: np.ndarray | None) -> np.ndarray:
    """The bias codes, or an empty array for a layer without bias (the kernels take arrays)."""
    return bias_codes if bias_codes is not None else np.zeros(0, dtype=np.uint8)


def requirements_from_counts(per_column: np.ndarray, out_features: int, in_features: int,
                             has_bias: bool) -> LayerRequirements:
    """The layer's needs from its per-(PE, column) entry counts."""
    per_pe = per_column.sum(axis=1)
    worst = int(np.argmax(per_pe))
    return LayerRequirements(num_pes=per_column.shape[0], out_features=out_features,
                             in_features=in_features, has_bias=has_bias,
                             max_entries_per_pe=int(per_pe[worst]), worst_pe=worst)


def layer_requirements(codes_or_layer: Any, bias_codes: Any = None, *,
                       spec: HardwareSpec = DEFAULT_SPEC) -> LayerRequirements:
    """What the layer needs from ``spec``'s memories once encoded for ``spec`` (entries per PE
    with padding, pointers, activations), counted without building the encoding. Takes a code
    matrix (with ``bias_codes``) or a quantized layer (``.codes``, ``.bias_codes``)."""
    if all(hasattr(codes_or_layer, name) for name in ("codes", "bias_codes")):
        codes_or_layer, bias_codes = codes_or_layer.codes, codes_or_layer.bias_codes
    codes, bias_codes = canonical_codes(codes_or_layer, bias_codes, 1 << 8)
    per_column = count_entries_per_column(codes, bias_codes, spec)
    return requirements_from_counts(per_column, *codes.shape, bias_codes is not None)
