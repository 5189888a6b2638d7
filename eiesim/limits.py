"""Memory limits checked from counts before anything is allocated.

A value that would make eiesim allocate more memory than a workstation has (a 100 000 x 100 000
layer in a model file, ``--pes 65536`` on a layer of 40 inputs) is refused from its shape with
the memory it would need, the limit and the fix, instead of failing half-way with a
``MemoryError`` or swapping the machine to a halt. These are limits of the program, not of the
modelled hardware (those live in :mod:`eiesim.spec`).
"""

from __future__ import annotations

import math

from eiesim.errors import EiesimError

MAX_FILE_ARRAY_VALUES = 1 << 28
"""Values in one array read from an input file: 2 GiB as float64, the type eiesim computes
in (twice VGG-16's fc6, the largest fully connected layer of the paper's benchmarks)."""

MAX_PE_COLUMN_SLICES = 1 << 27
"""(PE, column) slices of an encoded layer: the encoder and the capacity check count entries
per slice in an int64 table (1 GiB at this limit), and the column pointers take as much."""

_FLOAT64_BYTES = 8


def format_bytes(count: float) -> str:
    """``40.0 GB``: a byte count in decimal units, for messages.

    >>> format_bytes(3), format_bytes(2 ** 31)
    ('3 bytes', '2.1 GB')
    """
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} bytes"


def check_file_array(shape: tuple[int, ...], dtype: str, *, name: str, what: str,
                     error: type[EiesimError]) -> None:
    """Refuse an array of a file from its header, before loading it, when it holds more than
    :data:`MAX_FILE_ARRAY_VALUES` values; ``what`` names the file (``model file 'x.npz'``).

    >>> check_file_array((100_000, 100_000), "float32", name="layer0_weights",
    ...                  what="model file 'm.npz'", error=EiesimError)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    eiesim.errors.EiesimError: model file 'm.npz': array 'layer0_weights' has shape ... 80.0 GB ...
    """
    values = math.prod(int(size) for size in shape)
    if values > MAX_FILE_ARRAY_VALUES:
        raise error(f"{what}: array {name!r} has shape {tuple(int(s) for s in shape)} "
                    f"({dtype}): {values:,} values, {format_bytes(values * _FLOAT64_BYTES)} as "
                    f"float64, above eiesim's limit of {MAX_FILE_ARRAY_VALUES:,} values "
                    f"({format_bytes(MAX_FILE_ARRAY_VALUES * _FLOAT64_BYTES)}) per array; the "
                    f"file is intact but too large: give a smaller layer, or prune and split "
                    f"it first")


def check_pe_column_slices(num_pes: int, num_columns: int, in_features: int,
                           error: type[EiesimError]) -> None:
    """Refuse, before the encoder allocates its (PE, column) tables, an encoding with more than
    :data:`MAX_PE_COLUMN_SLICES` slices (``num_pes`` x the ``num_columns`` padded to a
    multiple of ``num_pes``)."""
    slices = num_pes * num_columns
    if slices > MAX_PE_COLUMN_SLICES:
        largest = math.isqrt(MAX_PE_COLUMN_SLICES)
        raise error(f"num_pes = {num_pes} (--pes) on a layer of {in_features} inputs: each PE "
                    f"keeps a pointer per column, {num_columns:,} columns once padded to a "
                    f"multiple of num_pes, so encoding needs {slices:,} (PE, column) slices, "
                    f"{format_bytes(2 * slices * _FLOAT64_BYTES)} of tables, above eiesim's "
                    f"limit of {MAX_PE_COLUMN_SLICES:,}; use fewer PEs (up to {largest:,} "
                    f"always fits a layer of at most that many inputs)")
