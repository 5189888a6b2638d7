"""Every pruning criterion at an equal fine-tuning budget, measured on EIE:
``python -m benchmarks.criteria``.

The study of docs/pruning.md and ``notebooks/06_pruning_criteria.ipynb``. For three MLPs on
scikit-learn's bundled 8x8 digits, every criterion of :mod:`eiesim.search.criteria` plus the
one-shot ``magnitude`` and ``balanced`` baselines prunes every layer to the same density; each
result is fine-tuned the same number of epochs, shares its weights through a 4-bit codebook and
runs on EIE at 16 and 64 PEs (:func:`eiesim.search.compression.evaluate_network`).

Data use: a validation split (15 %, seed 0) is carved from the training images **before any
model is trained**; the models are trained on the rest (the fit split), the criteria and the
fine-tuning see only the fit split, decisions (which density meets the accuracy bound) use the
validation split, and the test set is only reported, with a 95 % Wilson interval. The examples'
model files were trained on all training images, so the study retrains the same architectures
with their recipe (``examples/make_models.py``) on the fit split:

* ``digits_mlp``: 64-128-64-10; ``lenet_300_100``: 64-300-100-10 (30 epochs of Adam, lr 2e-3,
  batch 32, initialisation seed 0, batch order seed 1);
* ``wide_mlp``: 256-512-256-10 on the same digits upsampled to 16x16 (each pixel repeated 2x2),
  trained here (12 epochs, same recipe): layers of 512 and 256 rows keep 64 PEs busy (8 and 4
  rows each), so pruning changes the cycles, not only the broadcasts. A wider
  256-1024-512-10 model costs about four times as much to train and prune, more than this
  study's 15-minute budget on a shared 2-core machine; ``--wide-model FILE`` runs the study on
  any 256-input model file instead (its data are the upsampled digits).

Writes ``benchmarks/results/criteria.csv`` (one row per model, density and criterion),
``criteria.json`` (command, machine, settings, times, and the equal-accuracy summary) and
``criteria.png``. ``--quick`` runs a seconds-long version (the digits MLP, one density, one
epoch) into another directory, for the notebook's CI run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
import time
import warnings
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.machine import git_revision
from eiesim.compress.prune import PruningWarning
from eiesim.search.compression import chip_accuracy, compress_network, evaluate_network, prune_masks
from eiesim.search.criteria import CRITERIA, CriterionSettings, prune_network
from eiesim.search.criteria.schedules import reinit_control
from eiesim.search.model import Dataset, load_data, load_model
from eiesim.search.parallel import single_threaded_blas
from eiesim.search.tasks import split_validation
from eiesim.search.train import MLP, init_mlp, train
from eiesim.spec import HardwareSpec

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
BASELINES = ("magnitude", "balanced")
METHODS = BASELINES + tuple(CRITERIA)
PES = (16, 64)
BITS = 4
VALIDATION_FRACTION = 0.15
Z95 = 1.959963984540054


def wilson_interval(correct: int, total: int) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion.

    >>> [round(v, 4) for v in wilson_interval(90, 100)]
    [0.8256, 0.9448]
    """
    p = correct / total
    denominator = 1 + Z95 ** 2 / total
    centre = (p + Z95 ** 2 / (2 * total)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / total + Z95 ** 2 / (4 * total ** 2)) / denominator
    return centre - half, centre + half


def upsample(inputs: np.ndarray) -> np.ndarray:
    """8x8 digits to 16x16 (each pixel repeated 2x2), 256 inputs per image."""
    return np.kron(inputs.reshape(-1, 8, 8), np.ones((2, 2))).reshape(-1, 256)


def studied_models(quick: bool, wide_model: Path | None
                   ) -> list[tuple[str, MLP, Dataset, np.ndarray, np.ndarray]]:
    """(name, model trained on the fit split, fit data, validation inputs, labels)."""
    data = load_data(ROOT / "examples" / "digits_data.npz")
    fit, val_x, val_y = split_validation(data, VALIDATION_FRACTION, seed=0)
    recipes = [("digits_mlp", [64, 128, 64, 10], 30)]
    if not quick:
        recipes.append(("lenet_300_100", [64, 300, 100, 10], 30))
    models = []
    for name, sizes, epochs in recipes:
        model = train(init_mlp(sizes, seed=0), fit.train_inputs, fit.train_labels,
                      epochs=1 if quick else epochs, lr=2e-3, batch_size=32, seed=1)
        models.append((name, model, fit, val_x, val_y))
    if not quick:
        wide_fit = Dataset(upsample(fit.train_inputs), fit.train_labels,
                           upsample(fit.test_inputs), fit.test_labels, source="digits 16x16")
        if wide_model is None:
            model = train(init_mlp([256, 512, 256, 10], seed=0), wide_fit.train_inputs,
                          wide_fit.train_labels, epochs=12, lr=2e-3, batch_size=32, seed=1)
            name = "wide_mlp"
        else:
            model, name = load_model(wide_model), wide_model.stem
        models.append((name, model, wide_fit, upsample(val_x), val_y))
    return models


def run_one(name: str, model: MLP, fit: Dataset, val_x: np.ndarray, val_y: np.ndarray,
            density: float, method: str, settings: CriterionSettings, fine_tune_epochs: int,
            lottery_cache: dict) -> dict:
    """Prune, fine-tune, weight-share and simulate one network: one results row."""
    densities = tuple([density] * model.num_layers)
    start_time = time.perf_counter()
    penalty = None
    if method in BASELINES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PruningWarning)
            masks = prune_masks(model, densities, method, num_pes=max(PES), data=fit)
        start = model.masked(masks)
    elif method == "lottery_reinit" and (name, density) in lottery_cache:
        ticket = lottery_cache[name, density]
        result = reinit_control(model, ticket.masks, densities, fit, settings, 0)
        masks, start = list(result.masks), result.model
    else:
        result = prune_network(model, densities, method, data=fit, settings=settings, seed=0)
        masks, start, penalty = list(result.masks), result.model, result.penalty_density
        if method == "lottery":
            lottery_cache[name, density] = result
    criterion_s = time.perf_counter() - start_time
    network = compress_network(start, masks, fit, bits=BITS, method=method,
                               fine_tune_epochs=fine_tune_epochs, lr=1e-3, seed=0)
    test_n = len(fit.test_labels)
    row = {"model": name, "method": method, "density_target": density,
           "density": network.density,
           "penalty_density": None if penalty is None else float(
               sum(p * m.size for p, m in zip(penalty, masks)) / sum(m.size for m in masks)),
           "criterion_epochs": _criterion_epochs(method, settings),
           "fine_tune_epochs": fine_tune_epochs,
           "accuracy_val_before_ft": float(np.mean(start.predict(val_x) == val_y)),
           "accuracy_test_before_ft": float(np.mean(start.predict(fit.test_inputs)
                                                    == fit.test_labels)),
           "criterion_s": round(criterion_s, 3)}
    for pes in PES:
        spec = HardwareSpec(num_pes=pes)
        evaluation = evaluate_network(network, fit, spec, timing_inputs=8)
        result_net = evaluation.result
        if pes == max(PES):
            row["accuracy_val"] = chip_accuracy(network.layers(), val_x, val_y, spec)
            row["accuracy_test"] = evaluation.accuracy_chip
            low, high = wilson_interval(round(evaluation.accuracy_chip * test_n), test_n)
            row["accuracy_test_low"], row["accuracy_test_high"] = low, high
            row["accuracy_test_float"] = evaluation.accuracy_float
        row[f"cycles_{pes}"] = evaluation.cycles
        row[f"cycles_mean_{pes}"] = evaluation.cycles_mean
        row[f"energy_nj_{pes}"] = evaluation.energy_j * 1e9
        row[f"load_efficiency_{pes}"] = float(result_net.load_efficiency)
        row[f"padding_entries_{pes}"] = int(sum(evaluation.layer_padding_entries))
        row[f"padding_share_{pes}"] = sum(evaluation.layer_padding_entries) / max(
            1, sum(evaluation.layer_entries))
        for k, cycles in enumerate(evaluation.layer_cycles):
            row[f"layer{k}_cycles_{pes}"] = cycles
            row[f"layer{k}_load_efficiency_{pes}"] = evaluation.layer_load_efficiency[k]
            # A layer takes at least one cycle per broadcast (rule T2): its non-zero inputs.
            row[f"layer{k}_broadcasts_{pes}"] = int(result_net.layers[k].broadcasts)
    for k, m in enumerate(masks):
        row[f"layer{k}_density"] = float(m.mean())
        row[f"layer{k}_empty_rows"] = int((~m.any(axis=1)).sum())
        row[f"layer{k}_empty_columns"] = int((~m.any(axis=0)).sum())
    return row


def _criterion_epochs(method: str, settings: CriterionSettings) -> int:
    """Training epochs a criterion spends before the common fine-tuning."""
    if method in BASELINES or not CRITERIA[method].trains:
        return 0
    if method in ("lottery", "lottery_reinit"):
        return settings.epochs * (settings.lottery_rounds + 1) + (
            settings.epochs if method == "lottery_reinit" else 0)
    return settings.epochs


def dense_rows(models, fine_tune_epochs: int) -> list[dict]:
    """The unpruned networks' rows (the reference each criterion is compared with)."""
    rows = []
    for name, model, fit, val_x, val_y in models:
        masks = [np.ones(w.shape, dtype=bool) for w in model.weights]
        network = compress_network(model, masks, fit, bits=BITS, method="dense",
                                   fine_tune_epochs=0)
        row = {"model": name, "method": "dense", "density_target": 1.0, "density": 1.0,
               "fine_tune_epochs": 0}
        for pes in PES:
            spec = HardwareSpec(num_pes=pes)
            evaluation = evaluate_network(network, fit, spec, timing_inputs=8)
            if pes == max(PES):
                row["accuracy_val"] = chip_accuracy(network.layers(), val_x, val_y, spec)
                row["accuracy_test"] = evaluation.accuracy_chip
            row[f"cycles_{pes}"] = evaluation.cycles
            row[f"energy_nj_{pes}"] = evaluation.energy_j * 1e9
            row[f"load_efficiency_{pes}"] = float(evaluation.result.load_efficiency)
        rows.append(row)
    return rows


def equal_accuracy(table: pd.DataFrame, max_drop: float) -> pd.DataFrame:
    """Per model and method, the sparsest network whose validation chip accuracy is within
    ``max_drop`` of the dense network's (the lowest density meeting it; cycles at 64 PEs
    break ties)."""
    picks = []
    for model, group in table.groupby("model", sort=False):
        dense = group[group["method"] == "dense"].iloc[0]
        bound = dense["accuracy_val"] - max_drop
        for method, rows in group[group["method"] != "dense"].groupby("method", sort=False):
            meeting = rows[rows["accuracy_val"] >= bound]
            if len(meeting):
                best = meeting.sort_values(["density_target", "cycles_64"]).iloc[0]
                picks.append(best.to_dict() | {"meets_bound": True})
            else:
                picks.append({"model": model, "method": method, "meets_bound": False})
    return pd.DataFrame(picks)


def plot(table: pd.DataFrame, path: Path) -> None:
    """Accuracy against cycles for every criterion, one panel per model and PE count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(table["model"]))
    figure, axes = plt.subplots(2, len(models), figsize=(5 * len(models), 8), squeeze=False)
    for column, model in enumerate(models):
        rows = table[(table["model"] == model) & (table["method"] != "dense")]
        dense = table[(table["model"] == model) & (table["method"] == "dense")].iloc[0]
        for method, group in rows.groupby("method", sort=False):
            group = group.sort_values("density_target")
            # 13 methods: distinct colours (tab20) and markers, so no two lines look alike.
            index = METHODS.index(method)
            style = dict(linestyle="--" if method in BASELINES else "-",
                         color=plt.get_cmap("tab20")(index), marker="osD^v<>ph*XP8"[index],
                         label=method)
            axes[0, column].plot(group["density_target"], group["accuracy_test"], **style)
            axes[1, column].plot(group["cycles_64"], group["accuracy_test"], **style)
        axes[0, column].axhline(dense["accuracy_test"], color="black", linewidth=0.8)
        axes[1, column].axhline(dense["accuracy_test"], color="black", linewidth=0.8)
        axes[0, column].set(title=model, xlabel="density (every layer)",
                            ylabel="test accuracy on the chip", xscale="log")
        axes[1, column].set(xlabel="cycles at 64 PEs (first test image)",
                            ylabel="test accuracy on the chip")
    axes[0, 0].legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """Run the pruning-criteria study and write criteria.csv, .json and .png."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.criteria",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="seconds: the digits MLP, one density, one epoch")
    parser.add_argument("--out", type=Path, default=None,
                        help="results directory (default benchmarks/results; --quick: "
                             "required)")
    parser.add_argument("--wide-model", type=Path, default=None,
                        help="a 256-input model file to study instead of the 256-512-256-10 "
                             "trained here")
    parser.add_argument("--max-accuracy-drop", type=float, default=0.02,
                        help="validation accuracy drop allowed against the dense network "
                             "(216 validation images: 0.02 is about 4 images)")
    args = parser.parse_args(argv)
    if args.quick and args.out is None:
        parser.error("--quick needs --out (the committed results are the full run's)")
    out = RESULTS if args.out is None else args.out
    out.mkdir(parents=True, exist_ok=True)
    densities = (0.1,) if args.quick else (0.05, 0.1, 0.2, 0.3)
    settings = CriterionSettings(epochs=1, sample_size=128, lottery_rounds=2) if args.quick \
        else CriterionSettings(epochs=6, lottery_rounds=3)
    fine_tune_epochs = 1 if args.quick else 3
    started = time.perf_counter()
    load_before = os.getloadavg()
    with single_threaded_blas():  # small matrices: BLAS threads only contend (parallel.py)
        table = _study(args, densities, settings, fine_tune_epochs)
    summary = equal_accuracy(table, args.max_accuracy_drop)
    seconds = time.perf_counter() - started
    table.to_csv(out / "criteria.csv", index=False)
    plot(table, out / "criteria.png")
    command = ["python", "-m", "benchmarks.criteria"] + (argv if argv is not None
                                                         else sys.argv[1:])
    payload = {
        "schema_version": 1, "command": shlex.join(command),
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "wall_s": round(seconds, 1),
        "machine": {"cores": os.cpu_count(), "load_average_before": load_before,
                    "load_average_after": os.getloadavg(),
                    "python": platform.python_version(), "platform": platform.platform()},
        "revision": git_revision(), "densities": densities, "pes": PES, "bits": BITS,
        "fine_tune_epochs": fine_tune_epochs, "criterion_settings": asdict(settings),
        "validation_fraction": VALIDATION_FRACTION,
        "max_accuracy_drop": args.max_accuracy_drop,
        "equal_accuracy": json.loads(summary.to_json(orient="records"))}
    (out / "criteria.json").write_text(json.dumps(payload, indent=1, default=str))
    print(f"{len(table)} networks in {seconds:.0f} s; wrote {out / 'criteria.csv'}")
    return 0


def _study(args: argparse.Namespace, densities: tuple[float, ...],
           settings: CriterionSettings, fine_tune_epochs: int) -> pd.DataFrame:
    models = studied_models(args.quick, args.wide_model)
    rows = dense_rows(models, fine_tune_epochs)
    lottery_cache: dict = {}
    for name, model, fit, val_x, val_y in models:
        for density in densities:
            for method in METHODS:
                row = run_one(name, model, fit, val_x, val_y, density, method, settings,
                              fine_tune_epochs, lottery_cache)
                rows.append(row)
                print(f"{name} d={density:g} {method:<20} val {row['accuracy_val']:.3f} "
                      f"test {row['accuracy_test']:.3f} cycles64 {row['cycles_64']} "
                      f"({row['criterion_s']:.1f} s)", flush=True)
    return pd.DataFrame(rows)



if __name__ == "__main__":
    raise SystemExit(main())
