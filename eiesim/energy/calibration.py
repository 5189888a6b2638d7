"""The activity the default energy table is calibrated at: the paper's benchmark layers.

The paper measured Table II's power "with toggle rates from RTL simulation of the benchmark
layers" (docs/hardware.md §4). We do the same with this simulator: the benchmark layers
exactly as the benchmark suite makes them (:func:`eiesim.explore.workloads.synthetic_layer`, seed 0,
full size: the paper's shapes and densities, uniform random sparsity, 4-bit codes), run back
to back on the default design point; the *calibration activity* is each event's count over the
whole run divided by its PE-cycles (per-PE events) or cycles (CCU events), i.e. a time-weighted
average over the layers.

VGG-6 is left out of the calibration: at 4 % density its 25088 x 4096 matrix needs about
101 K entries in one PE (padding included), more than 16-bit pointers address (the paper's
open inconsistency, docs/hardware.md §3.7); it runs with ``pointer_bits = 17``, a different
design point.

``CALIBRATION_ACTIVITY`` holds the measured rates so that building an energy table never runs
the simulator. Regenerate them after any change to the generator, the engines or the default
spec with ``python -m eiesim.energy.calibration --write``, which runs
:func:`measure_calibration_activity` and rewrites the block at the end of this file (the tests
check that the stored rates are what the engine measures).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from eiesim.energy.events import CCU_ENERGY_EVENTS, PE_ENERGY_EVENTS, event_counts
from eiesim.explore.workloads import PAPER_LAYERS_BY_NAME, PaperLayer, synthetic_layer
from eiesim.format.quantized import QuantizedLayer
from eiesim.spec import DEFAULT_SPEC, HardwareSpec

# The paper's Table III layers (NeuralTalk: all-ones input, no bias, docs/hardware.md §5) as
# eiesim.explore.workloads defines them for the benchmark suite.
PAPER_LAYERS: Mapping[str, PaperLayer] = PAPER_LAYERS_BY_NAME

CALIBRATION_LAYERS = tuple(name for name in PAPER_LAYERS if name != "VGG-6")
CALIBRATION_SEED = 0

LayerInputs = QuantizedLayer
"""Old name of :class:`eiesim.format.quantized.QuantizedLayer` (what :func:`paper_layer_inputs`
returned)."""


def paper_layer_inputs(name: str, *, seed: int = CALIBRATION_SEED,
                       in_scale: float = 1.0) -> QuantizedLayer:
    """Old name: :func:`eiesim.explore.workloads.synthetic_layer` ``(name, seed=seed,
    in_scale=in_scale)``, the benchmark layer with its input vector."""
    return synthetic_layer(name, seed=seed, in_scale=in_scale)


def run_paper_layer(name: str, spec: HardwareSpec = DEFAULT_SPEC, *,
                    seed: int = CALIBRATION_SEED, in_scale: float = 1.0):
    """Encode and simulate the benchmark layer ``name`` on ``spec`` (fast engine)."""
    from eiesim.format.encoder import encode
    from eiesim.sim import simulate

    layer = synthetic_layer(name, seed=seed, in_scale=in_scale)
    encoded = encode(layer.codes, layer.codebook, layer.bias_codes, spec=spec)
    return simulate(encoded, layer.activations, spec)


def activity_of(results) -> dict[str, float]:
    """Pooled activity of several results: per-PE events per PE-cycle, CCU events per cycle."""
    totals = dict.fromkeys(CCU_ENERGY_EVENTS + PE_ENERGY_EVENTS, 0)
    cycles = pe_cycles = 0
    for result in results:
        for name, count in event_counts(result).items():
            totals[name] += count
        cycles += result.cycles
        pe_cycles += result.cycles * result.spec.num_pes
    return {name: totals[name] / (cycles if name in CCU_ENERGY_EVENTS else pe_cycles)
            for name in totals}


def measure_calibration_activity(seed: int = CALIBRATION_SEED) -> dict[str, float]:
    """Run the calibration layers on the default spec and return their pooled activity."""
    return activity_of(run_paper_layer(name, seed=seed) for name in CALIBRATION_LAYERS)


# The stored block runs from a line starting with the BEGIN marker to one starting with END.
_BLOCK = re.compile(r"^(# --- calibrated constants: BEGIN[^\n]*\n(?:#[^\n]*\n)*)(.*?)"
                    r"^(# --- calibrated constants: END)", re.S | re.M)


def format_activity(activity: Mapping[str, float]) -> str:
    """The Python block that stores ``activity`` (6 significant digits)."""
    lines = ["CALIBRATION_ACTIVITY: Mapping[str, float] = MappingProxyType({"]
    lines += [f"    {name!r}: {rate:.6g}," for name, rate in activity.items()]
    lines.append("})")
    return "\n".join(lines).replace("'", '"') + "\n"


def write_calibration_activity(activity: Mapping[str, float], path: str | Path = __file__
                               ) -> None:
    """Replace the stored constants at the end of ``path`` (this module) by ``activity``."""
    path = Path(path)
    text = path.read_text()
    if len(_BLOCK.findall(text)) != 1:
        raise RuntimeError(f"{path} must hold exactly one calibrated-constants block")
    path.write_text(_BLOCK.sub(lambda m: m.group(1) + format_activity(activity) + m.group(3),
                               text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eiesim.energy.calibration",
        description="Measure the calibration activity of the default energy table (the "
                    "benchmark layers on the default spec, fast engine) and print it, or "
                    "store it in this module with --write.")
    parser.add_argument("--write", action="store_true",
                        help="rewrite CALIBRATION_ACTIVITY in eiesim/energy/calibration.py")
    args = parser.parse_args(argv)
    activity = measure_calibration_activity()
    if args.write:
        write_calibration_activity(activity)
        print(f"wrote {len(activity)} rates to eiesim/energy/calibration.py", file=sys.stderr)
    else:
        sys.stdout.write(format_activity(activity))
    return 0


# --- calibrated constants: BEGIN (measured by `python -m eiesim.energy.calibration --write`:
# seed 0, default spec, fast engine; CCU events per cycle, the others per PE-cycle) ---
# --- calibrated constants: END)",
CALIBRATION_ACTIVITY: Mapping[str, float] = MappingProxyType({
    "ccu_active_cycles": 0.989304,
    "broadcasts": 0.218661,
    "broadcast_stall_cycles": 0.765222,
    "lnzd_scan_cycles": 0.00351698,
    "act_load_cycles": 0.00190393,
    "act_queue_pushes": 0.218661,
    "act_queue_pops": 0.218661,
    "src_act_reads": 0.00684886,
    "pointer_reads": 0.218661,
    "empty_columns": 0.0253897,
    "spmat_line_reads": 0.17508,
    "entries": 0.920082,
    "padding_entries": 0.118816,
    "codebook_decodes": 0.920082,
    "macs": 0.801266,
    "acc_reads": 0.798421,
    "acc_writes": 0.801266,
    "bypasses": 0.00284557,
    "act_sram_reads": 0.00190393,
    "act_sram_writes": 0.00181613,
    "relu_ops": 0.00538765,
    "act_writebacks": 0.00538765,
})
# --- calibrated constants: END


if __name__ == "__main__":
    sys.exit(main())
