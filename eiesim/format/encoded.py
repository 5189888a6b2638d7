"""EncodedLayer: one fully connected layer stored the way EIE stores it (docs/hardware.md §2).

Row i of W belongs to PE ``i mod num_pes``; PE p keeps, for every column j, its slice of column j
as (v, z) entries: v is a codebook index, z the number of zeros before the entry within the PE's
slice of the column. A gap of g zeros is stored as ``g // 2**rel_index_bits`` padding entries
(v = 0, z = 2**rel_index_bits - 1) followed by the real entry (v, g mod 2**rel_index_bits).
``col_ptr[p, j]`` is where column j starts in PE p's entry array, so column j holds
``col_ptr[p, j + 1] - col_ptr[p, j]`` entries, padding included.

The bias is one more column, fed with activation 1, placed after the input columns rounded up
to a multiple of num_pes (the columns in between are empty), as EIE's RTL model does.

For the engines, the per-PE entry arrays are concatenated: PE p's entries are
``entry_v[pe_offsets[p]:pe_offsets[p + 1]]``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from eiesim.errors import CapacityError, LayerError
from eiesim.format.capacity import LayerRequirements
from eiesim.spec import DEFAULT_SPEC, HardwareSpec


@dataclass(frozen=True)
class StorageStats:
    """Storage of one encoded layer, over all PEs."""

    real_entries: int
    padding_entries: int
    v_bits: int
    z_bits: int
    pointer_bits: int
    max_entries_per_pe: int
    mean_entries_per_pe: float

    @property
    def entries(self) -> int:
        return self.real_entries + self.padding_entries

    @property
    def padding_share(self) -> float:
        """Padding entries as a fraction of all stored entries."""
        return self.padding_entries / self.entries if self.entries else 0.0

    @property
    def total_bits(self) -> int:
        return self.v_bits + self.z_bits + self.pointer_bits

    def to_dict(self) -> dict[str, Any]:
        return {
            "stored_real_entries": self.real_entries,
            "stored_padding_entries": self.padding_entries,
            "stored_entries": self.entries,
            "padding_share": self.padding_share,
            "v_bits": self.v_bits,
            "z_bits": self.z_bits,
            "pointer_bits": self.pointer_bits,
            "total_bits": self.total_bits,
            "max_entries_per_pe": self.max_entries_per_pe,
            "mean_entries_per_pe": self.mean_entries_per_pe,
        }


@dataclass(frozen=True, eq=False)
class EncodedLayer:
    """An interleaved-CSC layer. Build it with :func:`eiesim.format.encoder`."""

    num_pes: int
    weight_index_bits: int
    rel_index_bits: int
    out_features: int
    in_features: int
    has_bias: bool
    codebook: np.ndarray  # float32 (2**weight_index_bits,), codebook[0] == 0
    entry_v: np.ndarray  # uint8 (total entries,)
    entry_z: np.ndarray  # uint8 (total entries,)
    pe_offsets: np.ndarray  # int64 (num_pes + 1,)
    col_ptr: np.ndarray  # int64 (num_pes, num_columns + 1), relative to the PE's first entry

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def _from_encoder(cls, **fields: Any) -> EncodedLayer:
        """The layer :func:`eiesim.format.encoder.encode` built, without :meth:`validate`: the
        encoder writes every invariant by construction (tests/test_encode.py validates its
        output on random layers), and checking them again is a quarter of an encoding's time.
        Every other way of building a layer is checked."""
        names = {item.name for item in dataclasses.fields(cls)}
        if set(fields) != names:
            raise TypeError(f"_from_encoder() takes exactly the fields {sorted(names)}")
        layer = object.__new__(cls)
        for name, value in fields.items():
            object.__setattr__(layer, name, value)
        return layer

    # --- geometry ----------------------------------------------------------------------------
    @property
    def padded_in_features(self) -> int:
        """Input columns rounded up to a multiple of num_pes (where the bias column starts)."""
        return -(-self.in_features // self.num_pes) * self.num_pes

    @property
    def bias_column(self) -> int | None:
        return self.padded_in_features if self.has_bias else None

    @property
    def num_columns(self) -> int:
        """Columns stored per PE: padded inputs plus the bias column if there is one."""
        return self.padded_in_features + (1 if self.has_bias else 0)

    @property
    def rows_per_pe(self) -> np.ndarray:
        """Output rows each PE owns: rows p, p + N, p + 2N, ..."""
        pes = np.arange(self.num_pes)
        return (self.out_features - pes + self.num_pes - 1) // self.num_pes

    @property
    def entries_per_pe(self) -> np.ndarray:
        return np.diff(self.pe_offsets)

    @property
    def padding_run(self) -> int:
        return 1 << self.rel_index_bits

    # --- invariants --------------------------------------------------------------------------
    def validate(self) -> None:
        """Check every invariant of the format; raise LayerError naming the broken one."""
        n = self.num_pes
        if n < 1 or self.out_features < 1 or self.in_features < 1:
            raise LayerError(f"layer of {self.out_features}x{self.in_features} on {n} PEs: "
                             f"every dimension must be at least 1")
        if self.codebook.shape != (1 << self.weight_index_bits,):
            raise LayerError(f"codebook has shape {self.codebook.shape}, expected "
                             f"({1 << self.weight_index_bits},) for {self.weight_index_bits}-bit "
                             f"indices")
        if self.codebook[0] != 0:
            raise LayerError(f"codebook[0] = {self.codebook[0]} must be 0 (index 0 is padding)")
        if self.pe_offsets.shape != (n + 1,) or self.pe_offsets[0] != 0 \
                or np.any(np.diff(self.pe_offsets) < 0) \
                or self.pe_offsets[-1] != self.entry_v.size:
            raise LayerError("pe_offsets must rise from 0 to the number of entries")
        if self.entry_z.shape != self.entry_v.shape:
            raise LayerError("entry_v and entry_z differ in length")
        if self.col_ptr.shape != (n, self.num_columns + 1):
            raise LayerError(f"col_ptr has shape {self.col_ptr.shape}, expected "
                             f"({n}, {self.num_columns + 1})")
        if np.any(self.col_ptr[:, 0] != 0) or np.any(np.diff(self.col_ptr, axis=1) < 0) \
                or np.any(self.col_ptr[:, -1] != self.entries_per_pe):
            raise LayerError("each PE's column pointers must rise from 0 to its entry count")
        if self.entry_v.size:
            if int(self.entry_v.max()) >= self.codebook.size:
                raise LayerError(f"an entry uses codebook index {int(self.entry_v.max())}, the "
                                 f"codebook has {self.codebook.size} entries")
            if int(self.entry_z.max()) >= self.padding_run:
                raise LayerError(f"an entry has relative index {int(self.entry_z.max())}, "
                                 f"{self.rel_index_bits} bits hold at most {self.padding_run - 1}")
            if np.any((self.entry_v == 0) & (self.entry_z != self.padding_run - 1)):
                raise LayerError("a padding entry (v = 0) must have z = 2**rel_index_bits - 1")
        # Each column's entries must address rows inside the PE's slice. Rows rise within a
        # column, so checking the last entry of every (PE, column) slice suffices; its row is
        # the sum of z + 1 over the slice, minus 1 (docs/hardware.md §3.4).
        z_before = np.zeros(self.entry_z.size + 1, dtype=np.int64)
        np.cumsum(self.entry_z, dtype=np.int64, out=z_before[1:])
        starts = self.col_ptr[:, :-1] + self.pe_offsets[:-1, None]
        stops = self.col_ptr[:, 1:] + self.pe_offsets[:-1, None]
        last_rows = z_before[stops] - z_before[starts] + (stops - starts) - 1
        if np.any(last_rows >= self.rows_per_pe[:, None]):
            raise LayerError("an entry addresses a row beyond its PE's slice of the output")

    def _entry_rows(self) -> np.ndarray:
        """Local row index each entry addresses (padding entries included), in storage order."""
        return self._real_entry_coordinates[0]

    def real_entry_coordinates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(global row, column, codebook index) of every real (non-padding) entry."""
        return self._real_entry_coordinates[1:]

    @functools.cached_property
    def _real_entry_coordinates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        # Computed once per layer: decoding and output batches need it.
        rows = self.memo(("entry rows",), self._compute_entry_rows)
        real = self.entry_v != 0
        global_rows = rows[real] * self.num_pes + self.entry_pes()[real]
        return rows, global_rows, self.entry_columns()[real], self.entry_v[real]

    def _compute_entry_rows(self) -> np.ndarray:
        steps = self.entry_z.astype(np.int64)
        steps += 1
        # address = previous address + z + 1, restarting at -1 for every column
        # (docs/hardware.md §3.4): one running sum over all entries, in which the first step
        # of each column takes back the steps of the column before it (columns are stored
        # one after the other, so the non-empty ones tile the entries).
        starts = (self.col_ptr[:, :-1] + self.pe_offsets[:-1, None]).ravel()
        firsts = starts[np.diff(self.col_ptr, axis=1).ravel() > 0]
        if firsts.size > 1:
            steps[firsts[1:]] -= np.add.reduceat(steps, firsts)[:-1]
        np.cumsum(steps, out=steps)
        steps -= 1
        return steps

    # --- construction from real entries ---------------------------------------------------------
    @classmethod
    def from_entries(cls, *, num_pes: int, weight_index_bits: int, rel_index_bits: int,
                     out_features: int, in_features: int, has_bias: bool, codebook: np.ndarray,
                     pes: np.ndarray, columns: np.ndarray, local_rows: np.ndarray,
                     codes: np.ndarray) -> EncodedLayer:
        """The layer holding the given real entries, sorted by (PE, column, local row) as EIE
        stores them; gaps of 2**rel_index_bits zeros or more get their padding entries here."""
        num_columns = -(-in_features // num_pes) * num_pes + (1 if has_bias else 0)
        column_key = np.asarray(pes, dtype=np.int64) * num_columns + columns
        local_rows = np.asarray(local_rows, dtype=np.int64)
        # Gap before each entry within its PE's slice of its column (the first counts from -1).
        gaps = local_rows.copy()
        same_column = column_key[1:] == column_key[:-1]
        gaps[1:] -= np.where(same_column, local_rows[:-1] + 1, 0)
        run = 1 << rel_index_bits
        slots = gaps // run + 1  # padding entries, then the real entry
        real_positions = np.cumsum(slots) - 1
        total = int(real_positions[-1]) + 1 if real_positions.size else 0
        entry_v = np.zeros(total, dtype=np.uint8)
        entry_z = np.full(total, run - 1, dtype=np.uint8)
        entry_v[real_positions] = codes
        entry_z[real_positions] = gaps % run
        per_column = np.bincount(column_key, weights=slots, minlength=num_pes * num_columns)
        col_ptr = np.zeros((num_pes, num_columns + 1), dtype=np.int64)
        np.cumsum(per_column.astype(np.int64).reshape(num_pes, num_columns), axis=1,
                  out=col_ptr[:, 1:])
        pe_offsets = np.zeros(num_pes + 1, dtype=np.int64)
        np.cumsum(col_ptr[:, -1], out=pe_offsets[1:])
        return cls(num_pes=num_pes, weight_index_bits=weight_index_bits,
                   rel_index_bits=rel_index_bits, out_features=out_features,
                   in_features=in_features, has_bias=has_bias, codebook=codebook,
                   entry_v=entry_v, entry_z=entry_z, pe_offsets=pe_offsets, col_ptr=col_ptr)

    def output_batches(self, rows_per_pe: int) -> tuple[EncodedLayer, ...]:
        """Rule T13: the layer split into output batches of ``rows_per_pe`` local rows per PE
        (batch b holds global rows [b R N, (b + 1) R N)), each an interleaved CSC of its own,
        cut from this layer's entries without re-encoding. A layer whose PEs own at most
        ``rows_per_pe`` rows is its own single batch. Computed once per layer and batch size."""
        if int(self.rows_per_pe.max()) <= rows_per_pe:
            return (self,)
        return self.memo(("output_batches", rows_per_pe), lambda: self._cut_batches(rows_per_pe))

    def _cut_batches(self, rows_per_pe: int) -> tuple[EncodedLayer, ...]:
        n = self.num_pes
        _, global_rows, columns, codes = self._real_entry_coordinates
        local_rows = global_rows // n
        pes = global_rows - local_rows * n
        batches = []
        for first_row in range(0, self.out_features, rows_per_pe * n):
            first_local = first_row // n
            inside = (local_rows >= first_local) & (local_rows < first_local + rows_per_pe)
            batches.append(EncodedLayer.from_entries(
                num_pes=n, weight_index_bits=self.weight_index_bits,
                rel_index_bits=self.rel_index_bits,
                out_features=min(rows_per_pe * n, self.out_features - first_row),
                in_features=self.in_features, has_bias=self.has_bias, codebook=self.codebook,
                pes=pes[inside], columns=columns[inside],
                local_rows=local_rows[inside] - first_local, codes=codes[inside]))
        return tuple(batches)

    @functools.cached_property
    def _memo(self) -> dict:
        return {}

    def memo(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """``build()``, computed once per layer and ``key`` and kept with the layer: for views
        derived from its entries (output batches, an engine's layout of the entries), which
        cannot go stale because the layer is immutable."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = build()
            return value

    def float_outputs(self, activations: np.ndarray) -> np.ndarray:
        """relu(W a + bias) in float64 with the exact codebook values, from the real entries.
        The last few inputs' results are kept (read-only), so repeated runs of one input pay
        once."""
        activations = np.ascontiguousarray(activations, dtype=np.float64)
        if activations.shape != (self.in_features,):
            raise LayerError(f"activations have shape {activations.shape}; the layer takes "
                             f"({self.in_features},), one value per input")
        key = ("float_outputs", hashlib.blake2b(activations.tobytes(), digest_size=16).digest())
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        extended = np.zeros(self.num_columns, dtype=np.float64)
        extended[: self.in_features] = activations
        if self.has_bias:
            extended[self.bias_column] = 1.0
        # Only the entries of columns with a non-zero input are decoded: the others' terms are
        # +-0, which leave every sum as it is (the sums start at +0), so the result is the same
        # bit for bit, and an input that is mostly zeros needs a fraction of the work.
        from eiesim.format.decode_kernels import accumulate_float_outputs

        out = np.zeros(self.out_features, dtype=np.float64)
        accumulate_float_outputs(self.entry_v, self.entry_z, self.pe_offsets, self.col_ptr,
                                 self.num_pes, self.codebook.astype(np.float64), extended,
                                 np.flatnonzero(extended), out)
        result = np.maximum(out, 0.0)
        result.flags.writeable = False
        results = [k for k in self._memo if k[0] == "float_outputs"]
        for old in results[: max(0, len(results) - 7)]:
            del self._memo[old]
        self._memo[key] = result
        return result

    # --- decoding ----------------------------------------------------------------------------
    def entry_columns(self) -> np.ndarray:
        """Column index of each entry, in storage order."""
        counts = np.diff(self.col_ptr, axis=1).ravel()
        return np.tile(np.arange(self.num_columns), self.num_pes).repeat(counts)

    def entry_pes(self) -> np.ndarray:
        return np.repeat(np.arange(self.num_pes), self.entries_per_pe)

    def to_codes(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Decode back to (codes (out, in) uint8, bias_codes (out,) uint8 or None)."""
        rows, cols, values = self.real_entry_coordinates()
        codes = np.zeros((self.out_features, self.num_columns), dtype=np.uint8)
        codes[rows, cols] = values
        bias = codes[:, self.bias_column].copy() if self.has_bias else None
        return codes[:, : self.in_features].copy(), bias

    def to_dense(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Decode to float weights (out, in) and bias (out,) or None, through the codebook."""
        codes, bias_codes = self.to_codes()
        bias = self.codebook[bias_codes] if bias_codes is not None else None
        return self.codebook[codes], bias

    # --- statistics and capacity -------------------------------------------------------------
    @property
    def stored_padding_entries(self) -> int:
        """Padding entries (v = 0) the layer stores, over all PEs."""
        return self.memo("stored_padding_entries",
                         lambda: int(np.count_nonzero(self.entry_v == 0)))

    def storage_stats(self, pointer_bits: int | None = None) -> StorageStats:
        """Storage of the layer with ``pointer_bits``-bit column pointers (None: the default
        spec's width)."""
        if pointer_bits is None:
            pointer_bits = DEFAULT_SPEC.pointer_bits
        padding = self.stored_padding_entries
        entries = int(self.entry_v.size)
        per_pe = self.entries_per_pe
        return StorageStats(
            real_entries=entries - padding,
            padding_entries=padding,
            v_bits=entries * self.weight_index_bits,
            z_bits=entries * self.rel_index_bits,
            pointer_bits=int(self.col_ptr.size) * pointer_bits,
            max_entries_per_pe=int(per_pe.max()),
            mean_entries_per_pe=float(per_pe.mean()),
        )

    def check_fits(self, spec: HardwareSpec) -> None:
        """Raise CapacityError if this layer cannot run on ``spec``: encoded for other hardware,
        or over any memory or pointer limit (every exceeded limit listed in one error)."""
        for name in ("num_pes", "weight_index_bits", "rel_index_bits"):
            if getattr(self, name) != getattr(spec, name):
                raise CapacityError(
                    f"the layer was encoded with {name} = {getattr(self, name)} but the hardware "
                    f"has {name} = {getattr(spec, name)}; encode it again for this hardware "
                    f"(eiesim.encode(..., spec=spec))")
        LayerRequirements.of_layer(self).check(spec)
