"""Central control unit (CCU) and the leading-non-zero-detection (LNZD) tree (rules T1-T3).

The LNZD tree is a quadtree (fan-in ``spec.lnzd_fanin``): leaf nodes sit over groups of PEs and
read those PEs' source activations, inner nodes over groups of nodes, up to the root, which
hands the CCU the leading non-zero activation (docs/hardware.md §3). The tree is combinational: a
request and its answer happen within the decide phase of one cycle.

The LNZD scans the extended input vector (T1) in groups of N slots, one slot per PE (slot s
belongs to PE s mod N, which holds a_s in its source register file). At the first request of a
group each leaf latches its PEs' activations of that group: one source-activation read per PE
per group (T11). In every cycle the CCU asks for the leading non-zero at or after its cursor
within the current group:

* found at slot s: a broadcast cycle (T3). If no activation queue is full at the start of the
  cycle, (a_s, s) is pushed into every queue and the cursor moves to s + 1; otherwise the
  broadcast stalls and the same request is repeated next cycle.
* none left in the group: a scan cycle; the cursor moves to the next group.

A cursor that moves past the group's last slot starts the next group without a scan cycle.
This reproduces T2 exactly: a group costs one broadcast cycle per non-zero, plus one scan cycle
if it has no non-zero or its last non-zero is not in its last slot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import simpy

from eiesim.actions import CCU_INDEX

if TYPE_CHECKING:  # pragma: no cover
    from eiesim.sim.reference.clock import Clock
    from eiesim.sim.reference.pe import ProcessingElement

ACTIVE = CCU_INDEX["ccu_active_cycles"]
BROADCASTS = CCU_INDEX["broadcasts"]
STALLS = CCU_INDEX["broadcast_stall_cycles"]
SCANS = CCU_INDEX["lnzd_scan_cycles"]
LOADS = CCU_INDEX["act_load_cycles"]


class LnzdNode:
    """One LNZD node: reports the leading non-zero (slot, a_slot) of its subtree, or None."""

    def __init__(self, env: simpy.Environment, name: str, num_pes: int,
                 children: list[LnzdNode] | None = None,
                 pes: list[ProcessingElement] | None = None) -> None:
        self.env = env
        self.name = name
        self.num_pes = num_pes
        self.children = children or []
        self.pes = pes or []  # a leaf's PEs, in slot order
        self.latched_group = -1
        self.latch: list[tuple[int, object, bool]] = []  # (slot, a_slot, non-zero) of the group
        self._request: simpy.Event | None = None

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def ask(self, cursor: int) -> simpy.Event:
        """Request the leading non-zero at slot >= cursor in cursor's group; returns the reply."""
        reply = self.env.event()
        self._request.succeed((cursor, reply))
        return reply

    def run(self):
        while True:
            self._request = self.env.event()
            cursor, reply = yield self._request
            if self.is_leaf:
                group = cursor // self.num_pes
                if group != self.latched_group:
                    self.latched_group = group
                    self.latch = [pe.act_rw.read_source(group) for pe in self.pes]
                found = next(((slot, value) for slot, value, nonzero in self.latch
                              if nonzero and slot >= cursor), None)
            else:
                # All children answer in parallel; the first child (lowest slots) with a
                # non-zero wins: that is the leading non-zero.
                replies = [child.ask(cursor) for child in self.children]
                yield self.env.all_of(replies)
                found = next((r.value for r in replies if r.value is not None), None)
            reply.succeed(found)


def build_lnzd_tree(env: simpy.Environment, pes: list[ProcessingElement],
                    fanin: int) -> list[list[LnzdNode]]:
    """Leaves over groups of ``fanin`` PEs, then nodes over groups of ``fanin`` nodes, up to one
    root. Returns the levels, leaves first (16 + 4 + 1 = 21 nodes for 64 PEs at fan-in 4)."""
    n = len(pes)
    level = [LnzdNode(env, f"lnzd.0.{i}", n, pes=pes[start:start + fanin])
             for i, start in enumerate(range(0, n, fanin))]
    levels = [level]
    while len(level) > 1:
        depth = len(levels)
        level = [LnzdNode(env, f"lnzd.{depth}.{i}", n, children=level[start:start + fanin])
                 for i, start in enumerate(range(0, len(level), fanin))]
        levels.append(level)
    return levels


class CCU:
    """The central control unit: walks the LNZD's answers and broadcasts (a_j, j) (T2, T3)."""

    def __init__(self, env: simpy.Environment, clock: Clock, root: LnzdNode,
                 pes: list[ProcessingElement], scan_length: int, trace=None, *,
                 input_groups: int, regs_per_pe: int, activations_per_access: int,
                 whole_input: bool) -> None:
        self.env = env
        self.clock = clock
        self.root = root
        self.pes = pes
        self.scan_length = scan_length
        self.trace = trace
        self.input_groups = input_groups
        self.regs_per_pe = regs_per_pe  # groups the source register files hold (T12)
        self.activations_per_access = activations_per_access
        self.whole_input = whole_input  # the source registers hold any input (T12)
        self.counts = [0] * len(CCU_INDEX)
        # Read by the chip's end-of-cycle bookkeeping only (after this cycle's decide phase).
        self.stalled = False  # the broadcast stalled in this cycle (T3, T11)
        self.done = False  # no CCU cycle left (T8)

    def run(self):
        n = len(self.pes)
        cursor = 0  # next slot of the extended vector the LNZD looks at
        # T12: the input groups (the bias group holds a constant and needs no register).
        groups = self.input_groups
        batched = groups > self.regs_per_pe and not self.whole_input
        loaded_batch = -1
        while cursor < self.scan_length:
            batch = (cursor // n) // self.regs_per_pe
            if batched and cursor < groups * n and batch != loaded_batch:
                # T12: load this input batch from the activation SRAM before scanning it.
                loaded_batch = batch
                batch_groups = min(self.regs_per_pe, groups - batch * self.regs_per_pe)
                for _ in range(-(-batch_groups // self.activations_per_access)):
                    cycle = yield self.clock.decide
                    self.counts[ACTIVE] += 1
                    self.counts[LOADS] += 1
                    self.stalled = False  # a load cycle never stalls
                    for pe in self.pes:
                        pe.act_rw.load_source_access()
                    self._record("load", cycle, batch=batch)
                continue
            cycle = yield self.clock.decide
            self.counts[ACTIVE] += 1
            self.stalled = False
            group = cursor // n
            found = yield self.root.ask(cursor)
            if found is None:
                # T2: the group has no (further) non-zero: one scan cycle, then the next group.
                self.counts[SCANS] += 1
                cursor = (group + 1) * n
                self._record("scan", cycle, group=group)
                continue
            slot, value = found
            # T3 with T4: the queues' occupancy at the start of the cycle decides.
            if any(pe.act_queue.full for pe in self.pes):
                self.counts[STALLS] += 1
                self.stalled = True
                self._record("stall", cycle, group=group, column=slot)
                continue
            for pe in self.pes:
                pe.act_queue.push(value, slot)
            self.counts[BROADCASTS] += 1
            cursor = slot + 1  # past the group's last slot: the next group, no scan cycle (T2)
            self._record("broadcast", cycle, group=group, column=slot)
        self.done = True

    def _record(self, event: str, cycle: int, **args) -> None:
        if self.trace is not None:
            self.trace.record("ccu", event, cycle, **args)
