"""Exact storage of one layer in each sparse format (docs/formats.md §1).

A layer is seen as the matrix [W | bias]: ``rows`` outputs by ``columns`` = inputs plus one bias
column when the layer has a bias, n = rows x columns positions, m of them non-zero. Every
format stores the m values with ``value_bits`` each (the codebook index width k, or the
datapath's raw width) and locates them its own way:

========  ===================================================================================
dense     every position's value: n values, no index
bitmap    one presence bit per position (n bits) and the m values
coo       each value's flat position (column-major), ceil(log2 n) bits
csr       each value's column, ceil(log2 columns) bits, and rows + 1 row pointers of
          ceil(log2 (m + 1)) bits
csc       each value's row, ceil(log2 rows) bits, and columns + 1 column pointers
delta     each value's gap (zeros since the previous non-zero, column-major), in the smallest
          width that holds the largest gap
padded    each value's gap in ``index_bits`` bits; a gap of g zeros first costs
          g // 2**index_bits padding entries (value 0, index all ones): the survey's zero-padded
          delta offsets over the flattened matrix, no pointers
eie       EIE's format (docs/hardware.md §2): ``padded`` restarted in every PE's slice of every
          column, rows interleaved over ``num_pes`` PEs, the bias column after the inputs
          rounded up to a multiple of num_pes, ``pointer_bits``-bit column pointers per PE, a
          separate encoding per output batch (rule T13), and every PE's entries of a batch
          filling whole sparse-matrix SRAM lines
========  ===================================================================================

Only ``eie`` is stored per PE, so only it has alignment bits; the others are one bit stream.
The codebook (2**k values, the same for every format) is not counted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from eiesim.errors import EiesimError
from eiesim.spec import DEFAULT_SPEC, PARAMETERS, HardwareSpec

FORMATS = ("dense", "bitmap", "coo", "csr", "csc", "delta", "padded", "eie")
"""Every format, from the densest-friendly to EIE's."""
VALUES = ("codebook", "raw")
"""Value kinds: a k-bit codebook index, or a raw value of the datapath's data_bits."""


class StorageFormatError(EiesimError):
    """A bad argument to the storage-format analysis (format, density, widths, layer)."""


def bits_for(largest: int) -> int:
    """Bits of an unsigned field that holds 0 .. ``largest`` (at least 1): ceil(log2(x + 1)).

    >>> bits_for(0), bits_for(1), bits_for(15), bits_for(16)
    (1, 1, 4, 5)
    """
    return max(1, int(largest).bit_length())


def check_format(name: str) -> str:
    """``name`` if it is a known format, else a StorageFormatError listing them."""
    if name not in FORMATS:
        import difflib

        close = difflib.get_close_matches(str(name), FORMATS, n=1)
        raise StorageFormatError(f"format {name!r} does not exist" + (
            f" (did you mean {close[0]!r}?)" if close else "")
            + f"; the formats are {', '.join(FORMATS)}")
    return name


def check_index_bits(index_bits: int) -> int:
    """The zero-padded formats' relative index width, checked against the spec's range."""
    param = PARAMETERS["rel_index_bits"]
    if isinstance(index_bits, bool) or not isinstance(index_bits, (int, np.integer)) \
            or not param.low <= index_bits <= param.high:
        raise StorageFormatError(
            f"index bits = {index_bits!r} is outside {param.low:g}..{param.high:g}; a relative "
            f"index needs at least 1 bit ({param.flag} B, {param.hint})")
    return int(index_bits)


def value_width(values: str, spec: HardwareSpec) -> int:
    """Bits of one stored value: the codebook index width, or the datapath's width."""
    if values not in VALUES:
        raise StorageFormatError(f"values = {values!r} is not a value kind; use 'codebook' "
                                 f"(k-bit codebook indices) or 'raw' ({spec.data_bits}-bit "
                                 f"values of the datapath)")
    return spec.weight_index_bits if values == "codebook" else spec.data_bits


@dataclass(frozen=True)
class Pattern:
    """Where a layer's non-zeros are: the only thing storage depends on besides the widths.

    ``rows`` and ``columns`` list the non-zeros of [W | bias] in column-major order (by column,
    then row); the bias column, if any, is column ``in_features``.
    """

    out_features: int
    in_features: int
    has_bias: bool
    rows: np.ndarray
    columns: np.ndarray
    source: str = ""
    _gaps: dict = field(default_factory=dict, compare=False, repr=False)
    """EIE's gaps per encoding (they do not depend on the index width), kept for sweeps."""

    @property
    def num_columns(self) -> int:
        return self.in_features + (1 if self.has_bias else 0)

    @property
    def positions(self) -> int:
        return self.out_features * self.num_columns

    @property
    def nonzeros(self) -> int:
        return int(self.rows.size)

    @property
    def density(self) -> float:
        return self.nonzeros / self.positions


def pattern_of(layer: Any, *, codebook_entries: int | None = None) -> Pattern:
    """The non-zero pattern of a layer: a :class:`~eiesim.format.quantized.QuantizedLayer` (or any
    object with ``.codes`` and ``.bias_codes``), an :class:`~eiesim.format.encoded.EncodedLayer`, a
    dense 2-D array of float weights or codes (non-zero = stored; no bias), or a Pattern.
    ``codebook_entries``: the most codebook entries the chosen k allows (checked when given)."""
    if isinstance(layer, Pattern):
        return layer
    from eiesim.format.encoded import EncodedLayer

    source = getattr(layer, "source", "")
    if isinstance(layer, EncodedLayer):
        codes, bias = layer.to_codes()
        used = int(np.flatnonzero(layer.codebook).max(initial=0)) + 1
    elif hasattr(layer, "codes") and hasattr(layer, "bias_codes"):
        codes, bias = np.asarray(layer.codes), layer.bias_codes
        used = int(np.asarray(layer.codebook).size) if hasattr(layer, "codebook") else 0
    else:
        codes, bias, used = _dense_array(layer), None, 0
    if codebook_entries is not None and used > codebook_entries:
        raise StorageFormatError(
            f"the layer's codebook has {used} entries, {codebook_entries.bit_length() - 1}-bit "
            f"values hold {codebook_entries}; give more weight bits (--weight-bits) or use raw "
            f"values")
    return _pattern(codes, bias, source)


def _dense_array(weights: Any) -> np.ndarray:
    array = np.asarray(weights)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise StorageFormatError(f"weights have shape {array.shape}; give a 2-D (out, in) "
                                 f"matrix with at least one row and one column")
    if not np.issubdtype(array.dtype, np.number) or not np.all(np.isfinite(array)):
        raise StorageFormatError("weights hold non-finite or non-numeric values; every weight "
                                 "must be a finite number (0 = pruned)")
    return array


def _pattern(codes: np.ndarray, bias: np.ndarray | None, source: str) -> Pattern:
    out_features, in_features = codes.shape
    # nonzero over the transpose visits column by column: column-major order for free.
    columns, rows = np.nonzero(np.asarray(codes).T)
    if bias is not None:
        bias_rows = np.flatnonzero(np.asarray(bias))
        rows = np.concatenate([rows, bias_rows])
        columns = np.concatenate([columns, np.full(bias_rows.size, in_features)])
    return Pattern(out_features, in_features, bias is not None, rows.astype(np.int64),
                   columns.astype(np.int64), source)


@dataclass(frozen=True)
class StorageSize:
    """The exact bits of one layer in one format. ``bits`` is the total."""

    format: str
    value_bits: int
    index_bits: int
    pointer_bits: int
    alignment_bits: int
    padding_entries: int
    nonzeros: int
    value_width_bits: int
    index_width_bits: int
    pointer_width_bits: int

    @property
    def bits(self) -> int:
        return self.value_bits + self.index_bits + self.pointer_bits + self.alignment_bits

    @property
    def bits_per_nonzero(self) -> float:
        return self.bits / self.nonzeros if self.nonzeros else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "bits": self.bits, **{
            key: value for key, value in asdict(self).items() if key != "format"},
            "bits_per_nonzero": self.bits_per_nonzero}


def storage_size(layer: Any, fmt: str, spec: HardwareSpec = DEFAULT_SPEC, *,
                 values: str = "codebook", index_bits: int | None = None,
                 output_batches: bool = True) -> StorageSize:
    """The exact bits of ``layer`` (see :func:`pattern_of`) stored in format ``fmt``.

    Widths come from ``spec``: k = ``weight_index_bits`` (or ``data_bits`` for raw
    ``values``), the zero-padded formats' index width = ``index_bits`` (default the spec's
    ``rel_index_bits``), and for ``eie`` the PEs, pointer width, SRAM line width and (with
    ``output_batches``) the destination registers that split a layer into output batches.

    >>> import numpy as np
    >>> codes = np.array([[0, 3, 0, 0], [5, 0, 0, 0], [0, 0, 0, 0]])
    >>> [storage_size(codes, f).bits for f in ("dense", "bitmap", "coo", "csc")]
    [48, 20, 16, 22]
    """
    check_format(fmt)
    width = value_width(values, spec)
    limit = (1 << spec.weight_index_bits) if values == "codebook" else None
    pattern = pattern_of(layer, codebook_entries=limit)
    index_bits = check_index_bits(spec.rel_index_bits if index_bits is None else index_bits)
    m, rows, columns = pattern.nonzeros, pattern.out_features, pattern.num_columns

    def size(value_items: int, index_width: int, index_items: int | None = None, *,
             pointers: int = 0, pointer_width: int = 0, alignment: int = 0,
             padding: int = 0) -> StorageSize:
        index_items = value_items if index_items is None else index_items
        return StorageSize(fmt, value_items * width, index_items * index_width,
                           pointers * pointer_width, alignment, padding, m, width,
                           index_width, pointer_width)

    if fmt == "dense":
        return size(pattern.positions, 0)
    if fmt == "bitmap":
        return size(m, 1, pattern.positions)
    if fmt == "coo":
        return size(m, bits_for(pattern.positions - 1))
    if fmt == "csr":
        return size(m, bits_for(columns - 1), pointers=rows + 1, pointer_width=bits_for(m))
    if fmt == "csc":
        return size(m, bits_for(rows - 1), pointers=columns + 1, pointer_width=bits_for(m))
    gaps = _flat_gaps(pattern)
    if fmt == "delta":
        return size(m, bits_for(int(gaps.max())) if m else 0)
    if fmt == "padded":
        padding = int(np.sum(gaps >> index_bits))
        return size(m + padding, index_bits, padding=padding)
    return _eie_size(pattern, spec, width, index_bits, output_batches)


def _flat_gaps(pattern: Pattern) -> np.ndarray:
    """Zeros before each non-zero in the column-major flattening (the first counts from 0)."""
    flat = pattern.columns * pattern.out_features + pattern.rows
    return np.diff(flat, prepend=-1) - 1


@dataclass(frozen=True)
class EieSlices:
    """EIE's entry counts for one layer: per output batch and PE, real and padding entries."""

    entries: np.ndarray  # int64 (batches, num_pes), padding included
    padding: np.ndarray  # int64 (batches, num_pes)
    num_columns: int  # stored columns per PE and batch: padded inputs plus the bias column


def eie_slices(layer: Any, spec: HardwareSpec = DEFAULT_SPEC, *, index_bits: int | None = None,
               output_batches: bool = True) -> EieSlices:
    """Count EIE's entries per output batch and PE from the pattern alone, independently of
    :func:`eiesim.encode` (the tests check the two agree): within a PE's slice of a column of
    a batch, a real entry at local row r after one at r' costs (r - r' - 1) >> index_bits
    padding entries (docs/hardware.md §2)."""
    pattern = pattern_of(layer)
    index_bits = check_index_bits(spec.rel_index_bits if index_bits is None else index_bits)
    key = (spec.num_pes, spec.act_regs_per_file, output_batches)
    if key not in pattern._gaps:
        pattern._gaps[key] = _eie_gaps(pattern, spec, output_batches)
    gaps, owner, batches, num_columns = pattern._gaps[key]
    n = spec.num_pes
    padding = np.bincount(owner, weights=gaps >> index_bits, minlength=batches * n)
    real = np.bincount(owner, minlength=batches * n)
    padding = padding.astype(np.int64).reshape(batches, n)
    return EieSlices(entries=real.reshape(batches, n) + padding, padding=padding,
                     num_columns=num_columns)


def _eie_gaps(pattern: Pattern, spec: HardwareSpec,
              output_batches: bool) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Each real entry's gap in its PE's slice of its column and batch, its (batch, PE) as
    batch * num_pes + PE, the number of batches, and the columns stored per PE."""
    n = spec.num_pes
    padded_in = -(-pattern.in_features // n) * n
    num_columns = padded_in + (1 if pattern.has_bias else 0)
    max_rows = -(-pattern.out_features // n)
    batch_rows = spec.act_regs_per_file if output_batches and max_rows > \
        spec.act_regs_per_file else max_rows
    batches = -(-max_rows // batch_rows)
    local = pattern.rows // n
    pe = pattern.rows - local * n
    batch = local // batch_rows
    local -= batch * batch_rows
    columns = np.where(pattern.columns == pattern.in_features, padded_in, pattern.columns)
    # The pattern is column-major, so a stable sort by (batch, PE) leaves each slice's rows
    # rising within its column: the order EIE stores them in.
    order = np.argsort(batch * n + pe, kind="stable")
    slice_key = (batch * n + pe)[order] * num_columns + columns[order]
    local = local[order]
    gaps = local.copy()
    same = np.zeros(local.size, dtype=bool)
    same[1:] = slice_key[1:] == slice_key[:-1]
    gaps[1:] -= np.where(same[1:], local[:-1] + 1, 0)
    return gaps, (batch * n + pe)[order], batches, num_columns


def _eie_size(pattern: Pattern, spec: HardwareSpec, width: int, index_bits: int,
              output_batches: bool) -> StorageSize:
    slices = eie_slices(pattern, spec, index_bits=index_bits, output_batches=output_batches)
    entries = int(slices.entries.sum())
    entry_bits = width + index_bits
    line = spec.spmat_sram_width_bits
    per_line = line // entry_bits
    # Each PE's entries of a batch start on a line of their own (the engines index them from
    # 0); an entry wider than a line takes whole lines of its own.
    lines = -(-slices.entries // per_line) if per_line else \
        slices.entries * -(-entry_bits // line)
    alignment = int(lines.sum()) * line - entries * entry_bits
    pointers = slices.entries.size * (slices.num_columns + 1)
    return StorageSize("eie", entries * width, entries * index_bits, pointers * spec.pointer_bits,
                       alignment, int(slices.padding.sum()), pattern.nonzeros, width,
                       index_bits, spec.pointer_bits)


def storage_sizes(layer: Any, spec: HardwareSpec = DEFAULT_SPEC, *, values: str = "codebook",
                  index_bits: int | None = None, formats: tuple[str, ...] = FORMATS,
                  output_batches: bool = True) -> list[StorageSize]:
    """:func:`storage_size` of ``layer`` in every format of ``formats`` (pattern found once)."""
    limit = (1 << spec.weight_index_bits) if values == "codebook" else None
    pattern = pattern_of(layer, codebook_entries=limit)
    return [storage_size(pattern, fmt, spec, values=values, index_bits=index_bits,
                         output_batches=output_batches) for fmt in formats]
