"""The countable hardware events: the shared vocabulary of both engines and the energy model.

Engines count events; joules are multiplied in afterwards (eiesim.energy). Every event belongs to
one hardware unit, named as in the paper (Table II). Per-PE events are counted per PE, in a
(num_pes, len(PE_EVENTS)) int64 array whose columns follow ``PE_EVENTS``; events of the central
control unit are counted once, in an array following ``CCU_EVENTS``.

Cycle-classification counters (busy / stall / idle) are kept beside the events in the same
arrays because both engines produce them the same way; they are not energy events.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """One countable hardware event: its name, the unit that does it, and what it means."""
    name: str
    unit: str
    meaning: str


# Units, as in the paper's Table II, plus the central control unit (CCU with the LNZD tree).
UNITS = ("ccu", "act_queue", "ptr_read", "spmat_read", "arith", "act_rw")

CCU_EVENT_LIST = (
    Event("ccu_active_cycles", "ccu",
          "cycles in which the CCU and its LNZD tree work (scan, broadcast or stalled broadcast)"),
    Event("broadcasts", "ccu", "(a_j, j) pairs broadcast to every PE (rule T3)"),
    Event("broadcast_stall_cycles", "ccu",
          "cycles a broadcast waited because some activation queue was full (rule T3)"),
    Event("lnzd_scan_cycles", "ccu",
          "CCU cycles spent scanning without a broadcast: empty groups and group ends (rule T2)"),
    Event("act_load_cycles", "ccu",
          "CCU cycles spent loading an input batch from the activation SRAM (rule T12)"),
)

PE_EVENT_LIST = (
    Event("busy_cycles", "pe", "cycles the pointer read or sparse-matrix read worked (rule T11)"),
    Event("stall_cycles", "pe",
          "cycles with nothing to do while the broadcast was stalled by a full queue (T11)"),
    Event("idle_cycles", "pe", "other cycles with nothing to do before the front end ended (T11)"),
    Event("act_queue_pushes", "act_queue", "entries pushed into the activation queue"),
    Event("act_queue_pops", "act_queue", "entries popped from the activation queue"),
    Event("src_act_reads", "act_rw",
          "source activations read by the PE's local leading-non-zero detection (one a group)"),
    Event("pointer_reads", "ptr_read", "column pointer pairs read, one word from each bank (T5)"),
    Event("empty_columns", "ptr_read", "columns with no entry in this PE (cost a cycle, T5)"),
    Event("spmat_line_reads", "spmat_read", "sparse-matrix SRAM lines read (T6)"),
    Event("entries", "spmat_read", "(v, z) entries issued, padding included (T6)"),
    Event("padding_entries", "spmat_read", "padding entries issued (v = 0, no write, T7)"),
    Event("codebook_decodes", "arith", "codebook look-ups, one per issued entry (T7)"),
    Event("macs", "arith", "multiply-accumulates of real entries (T7)"),
    # The accumulators are the destination register file of the activation read/write unit
    # (paper §IV), so their traffic belongs to act_rw, not to the arithmetic unit.
    Event("acc_reads", "act_rw", "destination accumulator reads (MACs not served by the bypass)"),
    Event("acc_writes", "act_rw", "destination accumulator writes, one per MAC (T7)"),
    Event("bypasses", "arith",
          "MACs whose accumulator was forwarded from the previous cycle's add (T7)"),
    Event("act_sram_reads", "act_rw",
          "activation-SRAM accesses loading input batches into the source registers (T12)"),
    Event("act_sram_writes", "act_rw",
          "activation-SRAM accesses writing output batches back (T13)"),
    Event("relu_ops", "act_rw", "outputs passed through ReLU (T10)"),
    Event("act_writebacks", "act_rw", "output activations written back (T10)"),
)

CCU_EVENTS = tuple(event.name for event in CCU_EVENT_LIST)
PE_EVENTS = tuple(event.name for event in PE_EVENT_LIST)
CYCLE_CLASSES = ("busy_cycles", "stall_cycles", "idle_cycles")
EVENTS_BY_NAME = {event.name: event for event in CCU_EVENT_LIST + PE_EVENT_LIST}

# Column positions, so engines can index the count arrays by name without string look-ups.
CCU_INDEX = {name: i for i, name in enumerate(CCU_EVENTS)}
PE_INDEX = {name: i for i, name in enumerate(PE_EVENTS)}
