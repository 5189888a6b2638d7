"""The files of a streamed sweep (:mod:`eiesim.explore.sweep_file`): where they are, how a cell is
written, and reading them back (a partial file's metadata line, its rows, a row a crash cut
short, the sorted runs of the final merge).

>>> format_value(None), format_value(3), format_value(0.1), format_value(float("nan"))
('', '3', '0.1', '')
>>> partial_path("runs/sweep.csv").as_posix(), metadata_path("runs/sweep.csv").as_posix()
('runs/sweep.csv.partial', 'runs/sweep.meta.json')
"""

from __future__ import annotations

import csv
import json
import math
import numbers
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from eiesim.errors import UsageError

PARTIAL_SUFFIX = ".partial"
"""``OUT.partial``: the rows finished so far, in the order they finished."""
MARKER = "# eiesim sweep, unfinished: "
"""The first line of a partial file, followed by the sweep's metadata as JSON."""


def partial_path(out: str | os.PathLike) -> Path:
    """Where the rows of an unfinished sweep to ``out`` are kept."""
    out = Path(out)
    return out.with_name(out.name + PARTIAL_SUFFIX)


def metadata_path(out: str | os.PathLike) -> Path:
    """The sidecar JSON of a finished sweep table: ``results.csv`` -> ``results.meta.json``."""
    out = Path(out)
    return out.with_name(out.stem + ".meta.json")


def format_value(value: Any) -> str:
    """A cell as written: missing values empty, floats as Python's shortest repr, text on
    one line (so that every row is one line, and a torn last line is recognisable)."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        return "" if math.isnan(value) else repr(value)
    return str(value).replace("\r", " ").replace("\n", " ")


def first(item: tuple[int, list[str]]) -> int:
    """A (point, row) pair's point number: the sort key of the final merge."""
    return item[0]


def short(value: Any) -> str:
    """A value as JSON, cut to 60 characters for an error message."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def spill_run(chunk: list[tuple[int, list[str]]], path: Path) -> Path:
    """Write one sorted run of (point, row) pairs to ``path`` for the merge."""
    with open(path, "w", newline="", encoding="utf-8") as stream:
        csv.writer(stream, lineterminator="\n").writerows([index, *row] for index, row in chunk)
    return path


def read_run(path: Path) -> Iterator[tuple[int, list[str]]]:
    """The (point, row) pairs of a run written by :func:`spill_run`, in order."""
    with open(path, newline="", encoding="utf-8") as stream:
        for row in csv.reader(stream):
            yield int(row[0]), row[1:]


def read_marker(path: Path) -> dict[str, Any]:
    """The settings recorded in a partial file's first line, or a UsageError."""
    with open(path, encoding="utf-8") as stream:
        first = stream.readline()
    if not first.startswith(MARKER):
        raise UsageError(f"{str(path)!r} is not an eiesim sweep's partial file; delete it or "
                         f"write to another output")
    return json.loads(first[len(MARKER):])


def cut_torn_line(path: Path) -> None:
    """Drop a last row that a crash cut short (every complete row ends with a newline)."""
    with open(path, "rb+") as stream:
        size = stream.seek(0, os.SEEK_END)
        if size == 0:
            return
        stream.seek(size - 1)
        if stream.read(1) == b"\n":
            return
        position = size
        while position > 0:
            step = min(4096, position)
            stream.seek(position - step)
            block = stream.read(step)
            cut = block.rfind(b"\n")
            if cut >= 0:
                stream.truncate(position - step + cut + 1)
                return
            position -= step
        stream.truncate(0)


def read_rows(path: Path, columns: list[str], *, marker: bool) -> Iterator[list[str]]:
    """The data rows of a sweep file whose header must be ``columns``."""
    with open(path, newline="", encoding="utf-8") as stream:
        if marker:
            stream.readline()
        reader = csv.reader(stream)
        header = next(reader, None)
        if header != columns:
            raise UsageError(f"--resume: the columns of {str(path)!r} are not this sweep's "
                             f"(found {short(header)}); resume with the same axes, or write "
                             f"to another output")
        for row in reader:
            if len(row) != len(columns):
                raise UsageError(f"{str(path)!r}, line {reader.line_num}: {len(row)} cells "
                                 f"where the header has {len(columns)}; the file was changed "
                                 f"outside eiesim; delete it or write to another output")
            yield row
