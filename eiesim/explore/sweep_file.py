"""Sweeps that stream their rows to a CSV file as points finish, and resume after a crash.

A sweep of a million points runs for hours; keeping every row in memory and writing the table
at the end would lose all of it to a crash or a Ctrl-C. Here every finished batch of points is
appended to ``OUT.partial`` next to the destination (flushed to disk batch by batch), and
``OUT`` itself appears only when every point is done: sorted into point order, it is then the
same file, byte for byte, as an uninterrupted run's, written all or nothing through
:class:`~eiesim.safe_output.OutputFiles` together with the sidecar ``OUT``'s stem +
``.meta.json`` (the input's checksum, the fixed settings, the engine, the energy table, the
axes). ``resume=True`` reads ``OUT.partial`` (or a finished ``OUT`` with its sidecar, to extend
a grid) and runs only the points that are not in it, matching each row on every parameter;
a file made from another input or other settings is refused.

>>> import pathlib, tempfile
>>> from eiesim.explore import workloads
>>> layer = workloads.synthetic_layer("Alex-8", seed=0, scale=0.05)
>>> out = pathlib.Path(tempfile.mkdtemp()) / "sweep.csv"
>>> summary = sweep_to_file(layer, out, pes=[1, 4], fifo=[2, 8], workers=1, progress=False)
>>> summary.points, summary.ran, out.read_text().splitlines()[0].split(",")[:3]
(4, 4, ['pes', 'fifo', 'cycles'])
>>> sorted(path.name for path in out.parent.iterdir())
['sweep.csv', 'sweep.meta.json']

Memory stays bounded whatever the grid: points are generated lazily, at most a few batches per
worker are in flight (:func:`eiesim.explore.executor.iter_batches`), and the final sort merges runs
of
:data:`SORT_CHUNK_ROWS` rows spilled to temporary files. Only CSV is written (Parquet would
need pyarrow, which no eiesim extra installs).
"""

from __future__ import annotations

import csv
import heapq
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eiesim.errors import UsageError
from eiesim.explore.executor import BATCHES_PER_WORKER, ProgressCounter, iter_batches
from eiesim.explore.sweep import (
    SweepPlan,
    _evaluate,
    _Point,
    encoding_key,
    metric_columns,
    prepare_sweep,
)
from eiesim.explore.sweep_csv import (
    MARKER,
    cut_torn_line,
    first,
    format_value,
    metadata_path,
    partial_path,
    read_marker,
    read_rows,
    read_run,
    short,
    spill_run,
)
from eiesim.network import is_network
from eiesim.safe_output import OutputFiles
from eiesim.spec import DEFAULT_SPEC, HardwareSpec

SCHEMA_VERSION = 1
IDENTITY = ("input_checksum", "engine", "fit_memories", "base_spec", "energy_table_sha256",
            "columns")
"""What a resumed file must share with the sweep that resumes it (the axes may grow)."""
MAX_BATCH_POINTS = 64
"""Points per batch at most: a batch is what a crash can lose, and what is flushed at once."""
ORDER_WINDOW_POINTS = 4096
"""Points taken from the grid at a time and sorted so that points sharing an encoding run in
one batch (the layer keeps its last few encodings)."""
SORT_CHUNK_ROWS = 20_000
"""Rows sorted in memory at once when the finished file is put into point order."""
ESTIMATE_MIN_POINTS = 100
"""Grids with fewer points left to run get no estimate: they take seconds at most."""
SUMMARY_METRICS = {"cycles": "lowest", "energy_j": "lowest", "edp_js": "lowest",
                   "load_efficiency": "highest"}
"""The metrics whose best point the summary names, with what 'best' means."""


@dataclass
class SweepSummary:
    """What a finished sweep file holds."""

    points: int
    ran: int = 0
    failed: int = 0
    resumed: int = 0  # points found done in the file resumed
    first_error: str | None = None
    best: dict[str, tuple[float, dict[str, str]]] = field(default_factory=dict)
    """metric -> (best value, the point's parameters as written)."""

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready values (``eiesim sweep --json``)."""
        return {"points": self.points, "ran": self.ran, "did_not_fit": self.failed,
                "resumed": self.resumed, "first_error": self.first_error,
                "best": {metric: {"value": value, "point": point}
                         for metric, (value, point) in self.best.items()}}

    def lines(self) -> list[str]:
        """The best point per metric, one line each."""
        return [f"  best {metric}: {value:.6g} at "
                + ", ".join(f"{name}={text}" for name, text in point.items())
                for metric, (value, point) in self.best.items()]


class _PointIndex:
    """A row's point number from its parameter cells (as written)."""

    def __init__(self, plan: SweepPlan) -> None:
        self._size = len(plan.columns)
        if plan.points is not None:
            self._explicit: dict[tuple[str, ...], int] | None = {}
            for index, changes in enumerate(plan.changes()):
                row = plan.row(changes)
                key = tuple(format_value(row.get(name)) for name in plan.columns)
                self._explicit.setdefault(key, index)
            return
        self._explicit = None
        self._positions = [{format_value(value): position for position, value in
                            enumerate(values)} for values in plan.axes or ()]
        self._strides = [math.prod(len(values) for values in (plan.axes or ())[axis + 1:])
                         for axis in range(len(self._positions))]

    def of(self, cells: list[str]) -> int | None:
        key = cells[:self._size]
        if self._explicit is not None:
            return self._explicit.get(tuple(key))
        index = 0
        for cell, positions, stride in zip(key, self._positions, self._strides):
            position = positions.get(cell)
            if position is None:
                return None
            index += position * stride
        return index


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _input_checksum(workload: Any) -> str:
    """The input's checksum as results report it, or one of its arrays when it has none (a
    workload made in Python)."""
    if getattr(workload, "checksum", ""):
        return workload.checksum
    from eiesim.format.files import checksum

    arrays: dict[str, Any] = {}
    if is_network(workload):
        for index, layer in enumerate(workload.layers):
            arrays |= {f"layer{index}_{name}": value for name, value in _layer_arrays(layer)}
        for index, values in enumerate(workload.layer_inputs or []):
            arrays[f"layer{index}_input"] = np.asarray(values)
        if workload.activations is not None:
            arrays["activations"] = np.asarray(workload.activations)
    else:
        arrays = dict(_layer_arrays(workload))
        arrays["activations"] = np.asarray(workload.activations)
    return checksum(arrays)


def _layer_arrays(layer: Any) -> Iterator[tuple[str, Any]]:
    yield "codes", np.asarray(layer.codes)
    yield "codebook", np.asarray(layer.codebook)
    if layer.bias_codes is not None:
        yield "bias_codes", np.asarray(layer.bias_codes)


def _normal(value: Any) -> Any:
    """``value`` as JSON gives it back (tuples become lists), for comparisons."""
    return json.loads(json.dumps(value))


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class StreamingSweep:
    """One sweep into ``out``: :meth:`run` streams the missing points into ``OUT.partial``,
    :meth:`produce` writes the sorted table and its sidecar into declared
    :class:`OutputFiles`, :meth:`remove_partial` cleans up after the commit."""

    def __init__(self, layer: Any, out: str | os.PathLike, base_spec: HardwareSpec | None = None,
                 *, axes: Mapping[str, Any] | None = None,
                 points: Iterable[Mapping[str, Any]] | None = None, resume: bool = False,
                 engine: str = "fast", energy_table: str | os.PathLike | None = None,
                 fit_memories: bool = False, workers: int | None = None, client: Any = None,
                 scheduler: str | None = None, retries: int = 3, progress: bool = True) -> None:
        base = base_spec or DEFAULT_SPEC
        self.layer, self.plan, self._context = prepare_sweep(
            layer, base, axes or {}, points, engine=engine, energy_table=energy_table,
            fit_memories=fit_memories)
        self.out = Path(out)
        # A device or FIFO (/dev/stdout) has no folder to keep a partial file or a sidecar in:
        # its rows wait in a temporary folder, and such a sweep cannot be resumed.
        self.sidecar = not (self.out.exists() and not self.out.is_file())
        if self.sidecar:
            self.partial = partial_path(self.out)
        elif resume:
            raise UsageError(f"--resume needs a file to resume; {str(self.out)!r} is not a "
                             f"regular file")
        else:
            self.partial = Path(tempfile.mkdtemp(prefix="eiesim-sweep-")) / "sweep.partial"
        self.columns = list(self.plan.columns) + metric_columns(self.layer, fit_memories)
        self._index = _PointIndex(self.plan)
        self._resume = resume
        self._run_options = dict(workers=workers, client=client, scheduler=scheduler,
                                 retries=retries)
        self._workers = workers or (os.cpu_count() or 1)
        self._progress = progress
        table = None if energy_table is None else Path(energy_table)
        default = DEFAULT_SPEC.to_dict()
        self.metadata: dict[str, Any] = _normal({
            "schema_version": SCHEMA_VERSION,
            "input": getattr(self.layer, "source", "") or None,
            "input_checksum": _input_checksum(self.layer),
            "engine": engine,
            "fit_memories": fit_memories,
            "settings": {name: value for name, value in base.to_dict().items()
                         if default[name] != value},
            "base_spec": base.to_dict(),
            "energy_table": None if table is None else str(table),
            "energy_table_sha256": None if table is None else _sha256(table),
            "axes": None if self.plan.axes is None else dict(zip(self.plan.columns,
                                                                 self.plan.axes)),
            "columns": self.columns,
        })
        self.done = np.zeros(len(self.plan), dtype=bool)
        self.table_file: Path | None = None

    # --- resuming -----------------------------------------------------------------------------
    def _check_identity(self, theirs: Mapping[str, Any], where: Path) -> None:
        for key in IDENTITY:
            there, here = _normal(theirs.get(key)), self.metadata[key]
            if there == here:
                continue
            if isinstance(there, dict) and isinstance(here, dict):
                difference = ", ".join(f"{name} {there.get(name)!r} there, {here.get(name)!r} now"
                                       for name in dict.fromkeys([*there, *here])
                                       if there.get(name) != here.get(name))
            else:
                difference = f"{short(there)} there, {short(here)} now"
            raise UsageError(f"--resume: {str(where)!r} was made from another input or other "
                             f"settings ({key}: {difference}); resume with the same input, "
                             f"axes' names and settings, or write to another output")

    def _mark_done(self, rows: Iterable[list[str]], where: Path) -> int:
        found = 0
        for row in rows:
            index = self._index.of(row)
            if index is None:
                raise UsageError(f"--resume: {str(where)!r} holds the point "
                                 f"{', '.join(f'{n}={v}' for n, v in zip(self.columns, row))}, "
                                 f"which is not a point of this sweep; give axes that include "
                                 f"every point of the file, or write to another output")
            found += not self.done[index]
            self.done[index] = True
        return found

    def _open_existing(self) -> int:
        """Points already done, from the partial file or a finished table; 0 for a new
        sweep, whose partial file is created here."""
        if self.partial.exists():
            if not self._resume:
                raise UsageError(f"{str(self.partial)!r} holds the rows of an unfinished sweep; "
                                 f"add --resume to finish it, or delete it to start afresh")
            self._check_identity(read_marker(self.partial), self.partial)
            cut_torn_line(self.partial)
            return self._mark_done(read_rows(self.partial, self.columns, marker=True), self.partial)
        if self._resume and self.out.is_file():
            sidecar = metadata_path(self.out)
            if not sidecar.is_file():
                raise UsageError(f"--resume: {str(self.out)!r} has no {sidecar.name!r} beside "
                                 f"it, so its input and settings are unknown; write to another "
                                 f"output")
            self._check_identity(json.loads(sidecar.read_text()), sidecar)
            found = self._mark_done(read_rows(self.out, self.columns, marker=False), self.out)
            self._create_partial(read_rows(self.out, self.columns, marker=False))
            return found
        self._create_partial(())
        return 0

    def _create_partial(self, rows: Iterable[list[str]]) -> None:
        # Written whole under a temporary name, then renamed: a partial file always starts
        # with its metadata and header.
        handle, name = tempfile.mkstemp(dir=self.partial.parent or Path("."),
                                        prefix=f".{self.partial.name}.")
        try:
            with os.fdopen(handle, "w", newline="", encoding="utf-8") as stream:
                stream.write(MARKER + json.dumps(self.metadata) + "\n")
                writer = csv.writer(stream, lineterminator="\n")
                writer.writerow(self.columns)
                writer.writerows(rows)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(name, self.partial)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise

    # --- running ------------------------------------------------------------------------------
    def run(self, notify: Callable[[str], None] | None = None) -> SweepSummary:
        """Run every point not yet in the partial file, appending rows as batches finish.
        ``notify`` receives the estimate after the first batch (from
        :data:`ESTIMATE_MIN_POINTS` points left on)."""
        resumed = self._open_existing()
        remaining = int(len(self.plan) - self.done.sum())
        batch_size = max(1, min(MAX_BATCH_POINTS,
                                -(-remaining // (self._workers * BATCHES_PER_WORKER))))
        started = time.perf_counter()
        with open(self.partial, "a", newline="", encoding="utf-8") as stream, \
                ProgressCounter(remaining, self._progress, "eiesim sweep", "point") as counter:
            writer = csv.writer(stream, lineterminator="\n")
            batches = iter_batches(_evaluate, self._batches(batch_size), shared=self._context,
                                   **self._run_options)
            first = True
            try:
                for _, rows in batches:
                    writer.writerows([format_value(row.get(name)) for name in self.columns]
                                     for row in rows)
                    stream.flush()
                    os.fsync(stream.fileno())
                    counter.advance(len(rows))
                    if first and notify is not None and remaining >= ESTIMATE_MIN_POINTS:
                        notify(self._estimate(time.perf_counter() - started, len(rows),
                                              remaining, resumed))
                    first = False
            finally:
                batches.close()  # ends the workers now, on an error or Ctrl-C too
        return SweepSummary(points=len(self.plan), resumed=resumed)

    def _batches(self, batch_size: int) -> Iterator[tuple[None, list[_Point]]]:
        base = self.plan.base
        window: list[_Point] = []

        def cut() -> Iterator[tuple[None, list[_Point]]]:
            window.sort(key=lambda point: encoding_key(base, point.changes))
            for start in range(0, len(window), batch_size):
                yield None, window[start:start + batch_size]
            window.clear()

        for index, changes in enumerate(self.plan.changes()):
            if self.done[index]:
                continue
            window.append(_Point(changes, self.plan.row(changes)))
            if len(window) >= ORDER_WINDOW_POINTS:
                yield from cut()
        yield from cut()

    def _estimate(self, seconds: float, batch_points: int, remaining: int, resumed: int) -> str:
        rounds = math.ceil(remaining / (batch_points * self._workers))
        done = f" ({resumed:,} already done)" if resumed else ""
        return (f"{len(self.plan):,} points{done}; estimated {_duration(seconds * rounds)} "
                f"from the first batch")

    # --- finishing ----------------------------------------------------------------------------
    def produce(self, outputs: OutputFiles) -> SweepSummary:
        """Write the table in point order and its sidecar into ``outputs`` (both declared by
        the caller: ``out`` and, when :attr:`sidecar`, :func:`metadata_path`); the caller
        commits, then calls :meth:`remove_partial`."""
        summary = SweepSummary(points=len(self.plan))
        with outputs.writing(self.out) as temporary, \
                open(temporary, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(self.columns)
            written = 0
            for row in self._sorted_rows():
                writer.writerow(row)
                written += 1
                self._count(summary, row)
        self.table_file = temporary  # readable until the caller commits (a plot reads it)
        if written != len(self.plan):
            raise RuntimeError(f"the sweep file holds {written} of {len(self.plan)} points")
        if self.sidecar:
            with outputs.writing(metadata_path(self.out)) as temporary:
                temporary.write_text(json.dumps(
                    self.metadata | {"points": summary.points, "ran": summary.ran,
                                     "failed": summary.failed}, indent=1) + "\n")
        return summary

    def _count(self, summary: SweepSummary, row: list[str]) -> None:
        error = row[-1]
        if error:
            summary.failed += 1
            summary.first_error = summary.first_error or error
            return
        summary.ran += 1
        parameters = dict(zip(self.plan.columns, row))
        for metric, better in SUMMARY_METRICS.items():
            if metric not in self.columns:
                continue
            text = row[self.columns.index(metric)]
            if not text:
                continue
            value = float(text)
            held = summary.best.get(metric)
            if held is None or (value < held[0] if better == "lowest" else value > held[0]):
                summary.best[metric] = (value, parameters)

    def _sorted_rows(self) -> Iterator[list[str]]:
        """The partial file's rows in point order (each point once), sorting at most
        :data:`SORT_CHUNK_ROWS` rows in memory at a time."""
        with tempfile.TemporaryDirectory(prefix="eiesim-sweep-") as folder:
            runs: list[Path] = []
            chunk: list[tuple[int, list[str]]] = []
            for row in read_rows(self.partial, self.columns, marker=True):
                index = self._index.of(row)
                if index is None:  # pragma: no cover - run() wrote only points of the plan
                    raise RuntimeError(f"row {row} is not a point of the sweep")
                chunk.append((index, row))
                if len(chunk) >= SORT_CHUNK_ROWS:
                    runs.append(spill_run(sorted(chunk, key=first), Path(folder) / str(len(runs))))
                    chunk = []
            chunk.sort(key=first)
            merged = heapq.merge(*(read_run(path) for path in runs), iter(chunk), key=first)
            last = -1
            for index, row in merged:
                if index != last:
                    yield row
                last = index

    def remove_partial(self) -> None:
        self.partial.unlink(missing_ok=True)
        if not self.sidecar:
            self.partial.parent.rmdir()


def sweep_to_file(layer: Any, out: str | os.PathLike, base_spec: HardwareSpec | None = None, *,
                  resume: bool = False, points: Iterable[Mapping[str, Any]] | None = None,
                  engine: str = "fast", energy_table: str | os.PathLike | None = None,
                  fit_memories: bool = False, workers: int | None = None, client: Any = None,
                  scheduler: str | None = None, retries: int = 3, progress: bool = True,
                  notify: Callable[[str], None] | None = None,
                  **axes: Any) -> SweepSummary:
    """:func:`eiesim.explore.sweep.sweep` into a CSV file, streamed and resumable (module
    docstring):
    the same arguments, plus ``out``, ``resume`` and ``notify`` (called with the estimate
    after the first batch). Returns a :class:`SweepSummary`."""
    with OutputFiles(inputs=[energy_table]) as outputs:
        outputs.add(out, "out")
        sweep = StreamingSweep(layer, out, base_spec, axes=axes, points=points, resume=resume,
                               engine=engine, energy_table=energy_table,
                               fit_memories=fit_memories, workers=workers, client=client,
                               scheduler=scheduler, retries=retries, progress=progress)
        if sweep.sidecar:
            outputs.add(metadata_path(out), "metadata")
        resumed = sweep.run(notify).resumed
        summary = sweep.produce(outputs)
        outputs.commit()
    sweep.remove_partial()
    summary.resumed = resumed
    return summary
