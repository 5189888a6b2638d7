"""The activation queues' occupancy over time, recorded cheaply from the reference engine.

A :class:`~eiesim.sim.trace.TraceRecorder` keeps every event of a run; a picture of the queues
needs only their occupancy. :class:`QueueOccupancy` is an observer with the same hooks that
keeps just that, and only the cycles where it changes (the engine reports every cycle). The
fast engine has no time series: pass this only with ``engine="reference"``.

>>> import numpy as np
>>> import eiesim
>>> spec = eiesim.HardwareSpec(num_pes=2)
>>> layer = eiesim.encode(np.array([[1, 1], [1, 0]], dtype=np.uint8), np.array([0.0, 0.5]),
...                       spec=spec)
>>> queues = QueueOccupancy()
>>> _ = eiesim.simulate(layer, np.array([1.0, 2.0]), spec, engine="reference", trace=queues)
>>> queues.matrix().tolist()  # PE x cycle: entries held from the start of each cycle
[[0, 1, 1, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0, 0, 0]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

OCCUPANCY_EVENT = "occupancy"
"""The event the reference engine reports for a queue (unit ``pe{p}.act_queue``)."""


class QueueOccupancy:
    """Per PE, the cycles at which its queue's occupancy changed and the new occupancy."""

    def __init__(self) -> None:
        self.num_pes = 0
        self.total_cycles = 0
        self.changes: list[list[tuple[int, int]]] = []

    # --- the engine's side (the hooks of TraceRecorder) ------------------------------------
    def start(self, **meta: Any) -> None:
        self.num_pes = int(meta.get("num_pes", 0))
        self.total_cycles = 0
        self.changes = [[] for _ in range(self.num_pes)]

    def record(self, unit: str, event: str, cycle: int, **args: Any) -> None:
        if event != OCCUPANCY_EVENT:
            return
        pe = int(unit[2:unit.index(".")])  # "pe12.act_queue"
        entries = int(args["entries"])
        history = self.changes[pe]
        if (history[-1][1] if history else 0) != entries:
            history.append((int(cycle), entries))

    def finish(self, **summary: Any) -> None:
        self.total_cycles = int(summary.get("total_cycles", 0))

    @classmethod
    def from_trace(cls, recorder: Any) -> QueueOccupancy:
        """The occupancy held in a full :class:`~eiesim.sim.trace.TraceRecorder`."""
        occupancy = cls()
        occupancy.start(**recorder.meta)
        for event in recorder.events:
            occupancy.record(event.unit, event.event, event.cycle, **event.args)
        occupancy.finish(**recorder.meta)
        return occupancy

    # --- queries ---------------------------------------------------------------------------
    def matrix(self) -> np.ndarray:
        """Occupancy as a (num_pes, cycles) int array: entries held from each cycle's start."""
        last = max([self.total_cycles] + [history[-1][0] + 1 for history in self.changes
                                          if history])
        result = np.zeros((self.num_pes, last), dtype=np.int64)
        for pe, history in enumerate(self.changes):
            for (cycle, entries), following in zip(history, history[1:] + [(last, 0)]):
                result[pe, cycle:following[0]] = entries
        return result
