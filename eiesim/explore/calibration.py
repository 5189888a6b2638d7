"""Measure the calibration activity of the default energy table and store it as data.

The energy model (:mod:`eiesim.energy.calibration`) reads the rates from
``eiesim/data/energy/calibration_activity.json``; this module makes that file by running the
benchmark layers (:data:`CALIBRATION_LAYERS`, seed :data:`CALIBRATION_SEED`, the paper's shapes
and densities from :mod:`eiesim.explore.workloads`) on the default spec with the fast engine::

    python -m eiesim.explore.calibration           # print the measured rates as JSON
    python -m eiesim.explore.calibration --write   # store them in the package's data file
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path

from eiesim.energy.calibration import CALIBRATION_FILE, activity_of
from eiesim.explore.workloads import PAPER_LAYERS_BY_NAME, PaperLayer, synthetic_layer
from eiesim.spec import DEFAULT_SPEC, HardwareSpec

# The paper's Table III layers (NeuralTalk: all-ones input, no bias, docs/hardware.md §5).
PAPER_LAYERS: Mapping[str, PaperLayer] = PAPER_LAYERS_BY_NAME
CALIBRATION_LAYERS = tuple(name for name in PAPER_LAYERS if name != "VGG-6")
CALIBRATION_SEED = 0
DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "energy" / CALIBRATION_FILE


def run_paper_layer(name: str, spec: HardwareSpec = DEFAULT_SPEC, *,
                    seed: int = CALIBRATION_SEED, in_scale: float = 1.0):
    """Encode and simulate the benchmark layer ``name`` on ``spec`` (fast engine)."""
    from eiesim.format.encoder import encode
    from eiesim.sim import simulate

    layer = synthetic_layer(name, seed=seed, in_scale=in_scale)
    encoded = encode(layer.codes, layer.codebook, layer.bias_codes, spec=spec)
    return simulate(encoded, layer.activations, spec)


def measure_calibration_activity(seed: int = CALIBRATION_SEED) -> dict[str, float]:
    """Run the calibration layers on the default spec and return their pooled activity."""
    return activity_of(run_paper_layer(name, seed=seed) for name in CALIBRATION_LAYERS)


def calibration_document(activity: Mapping[str, float]) -> str:
    """The JSON text of the data file for ``activity`` (6 significant digits)."""
    return json.dumps({
        "what": "calibration activity of the default energy table: each event's count over "
                "the paper's benchmark layers (all but VGG-6, seed 0) on the default spec, per "
                "cycle (CCU events) or per PE-cycle (the others)",
        "measured_by": "python -m eiesim.explore.calibration --write",
        "activity": {name: float(f"{rate:.6g}") for name, rate in activity.items()},
    }, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure the calibration activity; print it, or store it with ``--write``."""
    parser = argparse.ArgumentParser(
        prog="python -m eiesim.explore.calibration",
        description="Measure the calibration activity of the default energy table (the "
                    "benchmark layers on the default spec, fast engine) and print it, or "
                    "store it in the package's data file with --write.")
    parser.add_argument("--write", action="store_true",
                        help=f"replace eiesim/data/energy/{CALIBRATION_FILE}")
    args = parser.parse_args(argv)
    document = calibration_document(measure_calibration_activity())
    if args.write:
        from eiesim.safe_output import write_file

        write_file(DATA_FILE, lambda handle: handle.write(document.encode()))
        print(f"wrote {DATA_FILE}", file=sys.stderr)
    else:
        sys.stdout.write(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
