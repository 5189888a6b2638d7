"""Traces of a simulated layer: record (unit, event, cycle) and export Chrome/Perfetto JSON.

Pass a :class:`TraceRecorder` to the reference engine and open the exported file in
https://ui.perfetto.dev or chrome://tracing:

>>> import numpy as np
>>> import eiesim
>>> from eiesim.sim.trace import TraceRecorder
>>> spec = eiesim.HardwareSpec(num_pes=2)
>>> layer = eiesim.encode(np.array([[1, 0], [1, 1]], dtype=np.uint8), np.array([0.0, 0.5]),
...                       spec=spec)
>>> recorder = TraceRecorder()
>>> result = eiesim.simulate(layer, np.array([1.0, 2.0]), spec, engine="reference",
...                          trace=recorder)
>>> trace = recorder.to_chrome_trace()
>>> sorted(trace)
['displayTimeUnit', 'otherData', 'traceEvents']
>>> recorder.column_slices(1)  # PE 1: (column, start cycle, cycles)
[(0, 1, 1), (1, 2, 2)]
>>> result.busy_cycles.tolist()
[2, 3]
>>> recorder.write_chrome_trace("eie_trace.json")  # doctest: +SKIP

Timestamps are clock cycles: one microsecond on the trace's time axis is one cycle.

What the Chrome trace shows (process "EIE", one thread per unit):

* thread "CCU + LNZD": one slice per LNZD group (``group g``), with nested one-cycle slices for
  every broadcast (``bcast col j``) and scan cycle (``scan``) and a slice for every run of
  broadcast stall cycles (``broadcast stall``, rule T3).
* thread "PE p": one slice per column the PE processed (``col j``, category ``column``) and one
  slice per run of starved cycles (``stall``: the broadcast stalled because some other queue
  was full; ``idle``: nothing to do), category ``starvation`` (rule T11); after the front end
  ``drain`` (T9) and ``relu`` (T10) slices, category ``backend``.
* a counter ``act_queue PE p`` per PE: the queue's occupancy from the start of each cycle on.

Column slices and busy cycles: a PE is busy in a cycle when its pointer read or its sparse-matrix
read works (T11). A column's slice starts at its pointer-read cycle and covers its entries'
issue cycles. When the next column's pointer read happens in the same cycle as this column's
last entry (T5, no bubble between back-to-back columns), that shared cycle is attributed to the
*next* column: its slice starts with its own pointer read and this column's slice ends one cycle
earlier. So an empty column's slice is always one cycle long, a column with k entries gets k or
k + 1 cycles, slices on a PE never overlap, and they sum exactly to the PE's ``busy_cycles``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

__all__ = ["TraceEvent", "TraceRecorder"]

CHIP_PID = 1
CCU_TID = 0


@dataclass(frozen=True)
class TraceEvent:
    """One recorded event: ``unit`` (e.g. ``"ccu"``, ``"pe3.ptr_read"``) did ``event`` in
    ``cycle``, with event-specific ``args``."""

    unit: str
    event: str
    cycle: int
    args: dict[str, Any] = field(default_factory=dict)


def _runs(cycles: list[int]) -> list[tuple[int, int]]:
    """Sorted cycles as maximal runs of consecutive cycles: (first cycle, length)."""
    runs: list[tuple[int, int]] = []
    for cycle in sorted(cycles):
        if runs and runs[-1][0] + runs[-1][1] == cycle:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((cycle, 1))
    return runs


class TraceRecorder:
    """Records what the reference engine reports, cycle by cycle.

    The engine calls :meth:`start` once, :meth:`record` for every event and :meth:`finish` at
    the end; a recorder passed to a new run starts afresh. ``events`` holds the raw events,
    ``meta`` what the engine said about the run."""

    def __init__(self) -> None:
        self.events: list[TraceEvent] = []
        self.meta: dict[str, Any] = {}
        self._by_kind: dict[tuple[str, str], list[TraceEvent]] = {}

    # --- the engine's side -------------------------------------------------------------------
    def start(self, **meta: Any) -> None:
        self.events = []
        self.meta = dict(meta)
        self._by_kind = {}

    def record(self, unit: str, event: str, cycle: int, **args: Any) -> None:
        recorded = TraceEvent(unit, event, int(cycle), args)
        self.events.append(recorded)
        self._by_kind.setdefault((unit, event), []).append(recorded)

    def finish(self, **summary: Any) -> None:
        self.meta.update(summary)

    # --- queries -----------------------------------------------------------------------------
    @property
    def num_pes(self) -> int:
        return int(self.meta.get("num_pes", 0))

    def select(self, unit: str | None = None, event: str | None = None) -> list[TraceEvent]:
        """Events of one unit and/or kind, in cycle order."""
        if unit is not None and event is not None:
            chosen = self._by_kind.get((unit, event), [])
        else:
            chosen = [e for e in self.events if (unit is None or e.unit == unit)
                      and (event is None or e.event == event)]
        return sorted(chosen, key=lambda e: e.cycle)

    def column_slices(self, pe: int) -> list[tuple[int, int, int]]:
        """(column, start cycle, cycles) per column PE ``pe`` processed, attributed as the
        module docstring says; the cycles sum to the PE's busy cycles."""
        reads = self.select(f"pe{pe}.ptr_read", "pointer_read")
        ends = {e.args["column"]: e.cycle for e in self.select(f"pe{pe}.spmat_read",
                                                                "column_end")}
        slices = []
        for i, read in enumerate(reads):
            column = read.args["column"]
            last = ends.get(column, read.cycle) if read.args["entries"] else read.cycle
            next_read = reads[i + 1].cycle if i + 1 < len(reads) else None
            end = last if next_read == last else last + 1
            slices.append((column, read.cycle, end - read.cycle))
        return slices

    # --- Chrome trace-event format -------------------------------------------------------------
    def to_chrome_trace(self) -> dict[str, Any]:
        """The run as a Chrome trace-event JSON object (``traceEvents`` plus metadata)."""
        if not self.meta:
            raise ValueError("the recorder holds no run; pass it as trace= to "
                             "eiesim.simulate(..., engine='reference') first")
        n = self.num_pes
        events: list[dict[str, Any]] = []
        events += self._metadata_events(n)
        events += self._ccu_events()
        for pe in range(n):
            events += self._pe_events(pe)
        other = {
            "time_unit": "timestamps are clock cycles: 1 us on the time axis = 1 cycle",
            "generator": "eiesim reference engine",
            "column_slices": "a cycle shared by a column's last entry and the next column's "
                             "pointer read belongs to the next column; column slices of a PE "
                             "sum to its busy_cycles",
        }
        for key, value in self.meta.items():
            if isinstance(value, (int, float, str, bool)) or value is None:
                other[key] = value
        from eiesim.version import __version__

        other["eiesim_version"] = __version__
        return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": other}

    def write_chrome_trace(self, path: str | PathLike) -> None:
        """Write :meth:`to_chrome_trace` as JSON to ``path`` (open it in ui.perfetto.dev)."""
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.to_chrome_trace(), handle, separators=(",", ":"), allow_nan=False)

    def _metadata_events(self, n: int) -> list[dict[str, Any]]:
        def meta(name: str, tid: int | None, args: dict[str, Any]) -> dict[str, Any]:
            event = {"name": name, "ph": "M", "pid": CHIP_PID, "args": args}
            if tid is not None:
                event["tid"] = tid
            return event

        events = [meta("process_name", None, {"name": f"EIE ({n} PEs)"}),
                  meta("process_sort_index", None, {"sort_index": 0}),
                  meta("thread_name", CCU_TID, {"name": "CCU + LNZD"}),
                  meta("thread_sort_index", CCU_TID, {"sort_index": 0})]
        for pe in range(n):
            events.append(meta("thread_name", pe + 1, {"name": f"PE {pe}"}))
            events.append(meta("thread_sort_index", pe + 1, {"sort_index": pe + 1}))
        return events

    @staticmethod
    def _slice(name: str, cat: str, tid: int, ts: int, dur: int,
               args: dict[str, Any] | None = None) -> dict[str, Any]:
        event = {"name": name, "cat": cat, "ph": "X", "ts": ts, "dur": dur, "pid": CHIP_PID,
                 "tid": tid}
        if args:
            event["args"] = args
        return event

    def _ccu_events(self) -> list[dict[str, Any]]:
        ccu = self.select("ccu")
        events = []
        groups: dict[int, list[TraceEvent]] = {}
        loads: dict[int, list[int]] = {}
        for e in ccu:
            if e.event == "load":  # T12: an input batch loaded from the activation SRAM
                loads.setdefault(e.args["batch"], []).append(e.cycle)
            else:
                groups.setdefault(e.args["group"], []).append(e)
        for batch, cycles_of_load in sorted(loads.items()):
            for start, length in _runs(cycles_of_load):
                events.append(self._slice(f"load input batch {batch}", "act_sram", CCU_TID,
                                          start, length, {"cycles": length}))
        for group, cycles in sorted(groups.items()):
            first, last = cycles[0].cycle, cycles[-1].cycle
            broadcasts = [e for e in cycles if e.event == "broadcast"]
            stalls = [e.cycle for e in cycles if e.event == "stall"]
            events.append(self._slice(f"group {group}", "lnzd", CCU_TID, first, last - first + 1,
                                      {"broadcasts": len(broadcasts),
                                       "stall_cycles": len(stalls)}))
            for e in broadcasts:
                events.append(self._slice(f"bcast col {e.args['column']}", "broadcast", CCU_TID,
                                          e.cycle, 1, {"column": e.args["column"]}))
            for e in cycles:
                if e.event == "scan":
                    events.append(self._slice("scan", "lnzd", CCU_TID, e.cycle, 1))
            for start, length in _runs(stalls):
                events.append(self._slice("broadcast stall", "stall", CCU_TID, start, length,
                                          {"cycles": length}))
        end = self.select("chip", "frontend_end")
        if end:
            events.append({"name": "front end done", "ph": "i", "s": "p", "ts": end[0].cycle,
                           "pid": CHIP_PID, "tid": CCU_TID, "cat": "chip"})
        for e in self.select("chip", "end_latency"):  # T14: after the last write-back
            events.append(self._slice("end-of-layer latency", "chip", CCU_TID, e.cycle,
                                      e.args["cycles"], {"cycles": e.args["cycles"]}))
        return events

    def _pe_events(self, pe: int) -> list[dict[str, Any]]:
        tid = pe + 1
        events = []
        entries = {e.args["column"]: e.args["entries"]
                   for e in self.select(f"pe{pe}.ptr_read", "pointer_read")}
        for column, start, cycles in self.column_slices(pe):
            events.append(self._slice(f"col {column}", "column", tid, start, cycles,
                                      {"column": column, "entries": entries[column]}))
        for kind in ("stall", "idle"):
            for start, length in _runs([e.cycle for e in self.select(f"pe{pe}", kind)]):
                events.append(self._slice(kind, "starvation", tid, start, length,
                                          {"cycles": length}))
        frontend = self.meta.get("frontend_cycles")
        drain = self.meta.get("arith_pipeline_stages")
        if frontend is not None and drain:
            events.append(self._slice("drain", "backend", tid, frontend, drain))
        for e in self.select(f"pe{pe}.act_rw", "relu"):
            events.append(self._slice("relu", "backend", tid, e.cycle, e.args["cycles"],
                                      {"rows": e.args["rows"]}))
        name = f"act_queue PE {pe}"
        events.append({"name": name, "ph": "C", "ts": 0, "pid": CHIP_PID,
                       "args": {"entries": 0}})
        occupancy = 0
        for e in self.select(f"pe{pe}.act_queue", "occupancy"):
            if e.args["entries"] != occupancy:  # a push and a pop in one cycle change nothing
                occupancy = e.args["entries"]
                events.append({"name": name, "ph": "C", "ts": e.cycle, "pid": CHIP_PID,
                               "args": {"entries": occupancy}})
        return events
