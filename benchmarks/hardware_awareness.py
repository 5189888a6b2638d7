"""What hardware-awareness buys: ``python -m benchmarks.hardware_awareness``.

For each example model and PE count, one ``eiesim search`` (objective cycles, bound 0.01 on
validation, every compressed network fine-tuned with the same budget) and, from its table, the
network each rule picks among the networks meeting the bound **on validation**, reported with
its **test** accuracy and 95 % Wilson interval:

* ``search``: the search's choice, the fewest simulated cycles;
* ``best uniform``: the uniform density with the fewest cycles;
* ``global magnitude``: the global-threshold density with the fewest cycles;
* ``deep compression``: the recipe (hidden layers 10 %, last layer 25 %), the cheaper of its
  pruning methods (it meets the bound or not);
* ``fewest non-zeros``: the network with the fewest non-zero weights, as a search that counts
  non-zeros instead of simulating would choose among the same networks.

Where the non-zero pick is a different network from the cycle pick, simulated cycles changed the
decision; ``cycles_vs_search`` says by how much. ``r2_cycles_nonzeros`` is the share of the
cycles' variance across a run's compressed networks that a straight line in their non-zero
count explains.

Settings (``RUNS``): LeNet-300-100 gets every strategy at default settings. The wide
256-1024-512-10 model gets a reduced setting: the baselines only (uniform with both pruning
methods, global magnitude, the Deep Compression recipe) on the densities 0.03-0.3: the
sensitivity-based strategies would take hours on its layers until the chip-accuracy evaluation
is vectorised (``--full`` runs every strategy on the default grid anyway). The runs go in
order, LeNet first, and the result files are rewritten after each one.

Writes ``results/hardware_awareness.csv`` (one row per model, PE count and rule),
``results/hardware_awareness_{model}_{pes}.csv`` (each search's full table) and
``results/hardware_awareness.json`` (settings, per-run seconds and R^2, the machine).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.machine import REPOSITORY_ROOT, machine_info

RESULTS = Path(__file__).resolve().parent / "results"
EXAMPLES = REPOSITORY_ROOT / "examples"
PES = (16, 64, 256)
MAX_DROP = 0.01
BASELINES = ("uniform", "global", "deep_compression")
RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    "lenet_300_100": ("digits_data", {}),
    "wide_mlp": ("digits16_data", {"strategies": BASELINES,
                                   "densities": (0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3)}),
}
"""model -> (data file, SearchSettings changes of the reduced setting)."""
RULES = ("search", "best uniform", "global magnitude", "deep compression", "fewest non-zeros")


def pick(table: Any, rule: str) -> Any:
    """The row ``rule`` (module doc) picks from a search's table, or None."""
    compressed = table[table["strategy"] != "dense"]
    meeting = compressed[compressed["meets_bound"]]
    if rule == "search":
        return table[table["chosen"]].iloc[0] if table["chosen"].any() else None
    if rule == "fewest non-zeros":
        return meeting.loc[meeting["nonzero_weights"].idxmin()] if len(meeting) else None
    if rule == "deep compression":
        recipe = compressed[compressed["strategy"] == "deep_compression"]
        pool = recipe[recipe["meets_bound"]] if recipe["meets_bound"].any() else recipe
        return pool.loc[pool["cycles"].idxmin()] if len(pool) else None
    strategy = {"best uniform": "uniform", "global magnitude": "global"}[rule]
    pool = meeting[meeting["strategy"] == strategy]
    return pool.loc[pool["cycles"].idxmin()] if len(pool) else None


def r_squared(x: np.ndarray, y: np.ndarray) -> float:
    """R^2 of the least-squares line y ~ a x + b."""
    if len(x) < 3 or np.ptp(x) == 0:
        return float("nan")
    residual = y - np.polyval(np.polyfit(x, y, 1), x)
    return float(1.0 - residual.var() / y.var())


def summarise(table: Any, model: str, pes: int) -> list[dict[str, Any]]:
    """One row per decision rule: its pick against the search's, cycles, energy and accuracy."""
    search_row = pick(table, "search")
    rows = []
    for rule in RULES:
        row = pick(table, rule)
        if row is None:
            rows.append({"model": model, "pes": pes, "rule": rule, "meets_bound": False})
            continue
        rows.append({
            "model": model, "pes": pes, "rule": rule, "strategy": row["strategy"],
            "method": row["method"], "label": row["label"], "density": row["density"],
            "nonzero_weights": int(row["nonzero_weights"]), "cycles": int(row["cycles"]),
            "cycles_vs_search": (float(row["cycles"]) / float(search_row["cycles"])
                                 if search_row is not None else float("nan")),
            "same_network_as_search": bool(search_row is not None
                                           and row.name == search_row.name),
            "accuracy_val": row["accuracy_val"], "accuracy_test": row["accuracy_test"],
            "accuracy_test_low": row["accuracy_test_low"],
            "accuracy_test_high": row["accuracy_test_high"],
            "meets_bound": bool(row["meets_bound"]),
            "fine_tune_epochs": int(row["fine_tune_epochs"])})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the comparison for each model and PE count and write the results files."""
    import pandas as pd

    from eiesim.search import SearchSettings, search
    from eiesim.search.model import load_data, load_model
    from eiesim.search.tasks import NoNetworkMeetsBoundError
    from eiesim.spec import HardwareSpec

    parser = argparse.ArgumentParser(prog="python -m benchmarks.hardware_awareness",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pes", type=int, nargs="+", default=list(PES))
    parser.add_argument("--models", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--full", action="store_true",
                        help="every strategy on every model (hours on the wide one)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    summary, runs = [], []
    info = machine_info()
    for name in args.models:
        data_name, reduced = RUNS[name]
        model = load_model(EXAMPLES / f"{name}.npz")
        data = load_data(EXAMPLES / f"{data_name}.npz")
        settings = SearchSettings(objective="cycles", max_accuracy_drop=MAX_DROP)
        if not args.full:
            settings = dataclasses.replace(settings, **reduced)
        for pes in args.pes:
            start = time.perf_counter()
            try:
                result = search(model, data, HardwareSpec(num_pes=pes), settings,
                                workers=args.workers)
                notes = list(result.notes)
            except NoNetworkMeetsBoundError as failure:
                result, notes = failure.result, list(failure.result.notes) + [str(failure)]
            seconds = time.perf_counter() - start
            table = result.table
            table.to_csv(args.out / f"hardware_awareness_{name}_{pes}.csv", index=False)
            compressed = table[table["strategy"] != "dense"]
            r2 = r_squared(compressed["nonzero_weights"].to_numpy(dtype=float),
                           compressed["cycles"].to_numpy(dtype=float))
            rows = summarise(table, name, pes)
            summary += rows
            runs.append({"model": name, "pes": pes, "seconds": round(seconds, 1),
                         "networks": len(table), "r2_cycles_nonzeros": r2,
                         "strategies": list(settings.strategies),
                         "densities": list(settings.densities), "notes": notes,
                         "fine_tune_budget": settings.fine_tune_budget,
                         "reference_val": result.reference_accuracy,
                         "reference_test": result.reference_test_accuracy})
            chosen = rows[0]
            print(f"{name} at {pes} PEs: {seconds:.0f} s, {len(table)} networks, R^2 "
                  f"{r2:.3f}; search {chosen.get('cycles')} cycles, fewest non-zeros "
                  f"{rows[-1].get('cycles')} cycles", flush=True)
            pd.DataFrame(summary).to_csv(args.out / "hardware_awareness.csv", index=False)
            payload = {"schema_version": 1,
                       "command": shlex.join(["python", "-m", "benchmarks.hardware_awareness",
                                              *(sys.argv[1:] if argv is None else argv)]),
                       "max_accuracy_drop": MAX_DROP, "machine": info, "runs": runs}
            (args.out / "hardware_awareness.json").write_text(
                json.dumps(payload, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
