"""Regenerate the golden results of the shipped AlexNet fc8 layer.

Run from the repository root:

    python -m tests.golden.regenerate

It simulates the layer at each configuration of :data:`CONFIGS` on both engines, refuses to
write anything if the engines disagree, and writes ``tests/golden/alexnet_fc8.json``: cycles and
their components, every CCU and per-PE counter, and checksums of the outputs. The values come
from these runs only; never edit the file by hand. Regenerate it when the timing contract
changes on purpose, and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

import eiesim
from eiesim.actions import CCU_EVENTS, PE_EVENTS
from eiesim.explore import catalog
from eiesim.format import files as io
from eiesim.format.capacity import fit_memories
from eiesim.testing import assert_results_equal

GOLDEN_PATH = Path(__file__).with_name("alexnet_fc8.json")
LAYER = "alexnet-fc8"

# name -> spec fields; memories too small for the layer are enlarged by fit_memories.
CONFIGS: dict[str, dict[str, Any]] = {
    "64 PEs, queue depth 8 (the paper's design point)": {},
    "16 PEs, queue depth 2": {"num_pes": 16, "act_queue_depth": 2},
    "64 PEs, fixed8, 2-bit relative index, 8 registers, separate ReLU pass": {
        # 8 registers: input and output batches through the activation SRAM (T12, T13);
        # 2-bit relative indices: padding entries; 3 fractional bits hold the inputs (<= 10.6).
        "arithmetic": "fixed8", "act_frac_bits": 3, "rel_index_bits": 2,
        "act_regs_per_file": 8, "act_sram_width_bits": 32, "relu_outputs_per_cycle": 1},
    # The authors' model (docs/hardware.md §7) where both of its rules show: 128 inputs per PE
    # (no input batches, T12) and the end-of-layer latency (T14).
    "32 PEs, the authors-model preset": {"preset": "authors-model", "num_pes": 32},
}


def sha256(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes()).hexdigest()


def summary(result: eiesim.SimResult) -> dict[str, Any]:
    """What the golden file pins of one run."""
    return {
        "cycles": result.cycles,
        "frontend_cycles": result.frontend_cycles,
        "drain_cycles": result.drain_cycles,
        "relu_cycles": result.relu_cycles,
        "writeback_cycles": result.writeback_cycles,
        "end_latency_cycles": result.end_latency_cycles,
        "output_batches": result.output_batches,
        "ccu_counts": {name: result.ccu_count(name) for name in CCU_EVENTS},
        "pe_counts": {name: result.pe_count(name).tolist() for name in PE_EVENTS},
        "pre_activations_sha256": sha256(result.pre_activations),
        "outputs_sha256": sha256(result.outputs),
        "outputs_sum": float(result.outputs.sum()),
    }


def spec_of(fields: dict[str, Any]) -> eiesim.HardwareSpec:
    data = io.load_layer(catalog.example_path(LAYER))
    fields = dict(fields)
    spec = eiesim.HardwareSpec.preset(fields.pop("preset", "eie"), **fields)
    return fit_memories(data, spec)[0]


def run(spec: eiesim.HardwareSpec, engine: str) -> eiesim.SimResult:
    data = io.load_layer(catalog.example_path(LAYER))
    layer = eiesim.encode(data, spec=spec)
    return eiesim.simulate(layer, data.activations, spec, engine=engine)


def main() -> None:
    data = io.load_layer(catalog.example_path(LAYER))
    configs = []
    for name, fields in CONFIGS.items():
        spec = spec_of(fields)
        fast, reference = run(spec, "fast"), run(spec, "reference")
        assert_results_equal(fast, reference, names=("fast", "reference"))
        configs.append({"name": name, "spec": spec.to_dict(), **summary(fast)})
        print(f"{name}: {fast.cycles} cycles, engines agree")
    payload = {
        "layer": LAYER,
        "layer_checksum": data.checksum,
        "made_by": "python -m tests.golden.regenerate (both engines, identical results)",
        "eiesim_version": eiesim.__version__,
        "configs": configs,
    }
    text = json.dumps(payload, indent=1)
    # One line per list of numbers (per-PE counters), so the file reads as a table.
    text = re.sub(r"\[\s+([-0-9.e, \n]+?)\s+\]",
                  lambda match: "[" + " ".join(match.group(1).split()) + "]", text)
    GOLDEN_PATH.write_text(text + "\n")
    print(f"wrote {GOLDEN_PATH}")


if __name__ == "__main__":
    main()
