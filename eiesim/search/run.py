"""One call from a trained model and its data to the compressed network for EIE.

:func:`search` runs the strategies of :class:`~eiesim.search.tasks.SearchSettings`
and returns a :class:`SearchResult`; :meth:`SearchResult.write` writes the network file, the CSV
and the plot atomically (:func:`~eiesim.search.results.write_outputs`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eiesim.safe_output import OutputFiles
from eiesim.search.allocation import minimise_allocation, threshold_allocation
from eiesim.search.amc import amc
from eiesim.search.baselines import global_candidates, uniform_candidates
from eiesim.search.compression import (
    CompressedNetwork,
    check_data_range,
    dense_network,
    evaluate_network,
    layer_table,
)
from eiesim.search.model import Dataset
from eiesim.search.netadapt import netadapt
from eiesim.search.parallel import Evaluator, single_threaded_blas
from eiesim.search.results import tidy, write_outputs
from eiesim.search.sensitivity import CostTable, sensitivity_curves
from eiesim.search.tasks import (
    Candidate,
    SearchContext,
    SearchError,
    SearchSettings,
    evaluate_candidate,
    split_validation,
)
from eiesim.search.train import MLP
from eiesim.spec import HardwareSpec

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as work completes (total may grow)."""


@dataclass(frozen=True, eq=False)
class SearchResult:
    """Everything a search found."""

    table: Any
    """The results DataFrame (eiesim.search.results), one row per network."""
    curves: Any
    """The sensitivity curves (eiesim.search.sensitivity), or None if not run."""
    network: CompressedNetwork
    """The chosen network."""
    layers: Any
    """Per-layer table of the chosen network (eiesim.search.compression.layer_table)."""
    settings: SearchSettings
    spec: HardwareSpec
    reference_accuracy: float
    """Test accuracy of the uncompressed float model (the bound is measured from it)."""
    first_input: np.ndarray = field(repr=False)
    seconds: float = 0.0
    networks: tuple[CompressedNetwork, ...] = field(default=(), repr=False)
    """Every evaluated network, in the order of the table's rows (dense first)."""

    @property
    def chosen(self) -> Any:
        """The chosen row (a pandas Series)."""
        return self.table[self.table["chosen"]].iloc[0]

    def write(self, network_path: str | Path | None = None,
              report_path: str | Path | None = None, plot_path: str | Path | None = None, *,
              inputs: Sequence[str | Path] = ()) -> list[Path]:
        """Write the chosen network (``.npz``, ``eiesim run`` runs it), the CSV (``.csv``) and
        the plot (``.png``, ``.pdf`` or ``.svg``): all or nothing, never over ``inputs``."""
        with OutputFiles(inputs=inputs) as outputs:
            for path, flag, suffixes in ((network_path, "network_path", (".npz",)),
                                         (report_path, "report_path", (".csv",)),
                                         (plot_path, "plot_path", (".png", ".pdf", ".svg"))):
                if path is not None:
                    outputs.add(path, flag, suffixes=suffixes)
            self.write_into(outputs, network_path=network_path, report_path=report_path,
                            plot_path=plot_path)
            return outputs.commit()

    def write_into(self, outputs: OutputFiles, *, network_path: str | Path | None = None,
                   report_path: str | Path | None = None,
                   plot_path: str | Path | None = None) -> None:
        """Produce the files into ``outputs`` (paths declared there); the caller commits."""
        write_outputs(outputs, self.table, self.network, self.first_input,
                      objective=self.settings.objective,
                      bound=self.reference_accuracy - self.settings.max_accuracy_drop,
                      network_path=network_path, report_path=report_path, plot_path=plot_path)


def search(model: MLP, data: Dataset, spec: HardwareSpec | None = None,
           settings: SearchSettings | None = None, *, workers: int | None = 1,
           scheduler: str | None = None, client: Any = None,
           progress: Progress | None = None, progress_bars: bool = False) -> SearchResult:
    """Compress ``model`` for ``spec`` with every strategy; choose the network meeting the bound
    at the lowest objective (eiesim.search.results).

    ``workers`` local processes (None: all cores), or a Dask ``scheduler`` address or
    ``client`` (:func:`eiesim.explore.executor.run_tasks`); ``progress(stage, done, total)`` is
    called
    as work completes; ``progress_bars`` shows the executor's bars on a terminal. The bound is
    measured from the uncompressed float model's test accuracy."""
    with single_threaded_blas():
        return _search(model, data, spec, settings, workers=workers, scheduler=scheduler,
                       client=client, progress=progress, progress_bars=progress_bars)


def _search(model: MLP, data: Dataset, spec: HardwareSpec | None,
            settings: SearchSettings | None, *, workers: int | None, scheduler: str | None,
            client: Any, progress: Progress | None, progress_bars: bool) -> SearchResult:
    start_time = time.perf_counter()
    spec = HardwareSpec() if spec is None else spec
    settings = SearchSettings() if settings is None else settings
    if settings.bits is None:
        settings = dataclasses.replace(settings, bits=spec.weight_index_bits)
    elif settings.bits > spec.weight_index_bits:
        raise SearchError(f"bits = {settings.bits}: a {1 << settings.bits}-entry codebook needs "
                          f"{settings.bits}-bit weight indices but the spec has "
                          f"weight_index_bits = {spec.weight_index_bits}; use at most "
                          f"{spec.weight_index_bits} bits or raise weight_index_bits")
    if not isinstance(model, MLP) or not isinstance(data, Dataset):
        raise SearchError("search takes an MLP (eiesim.search.model.load_model) and a Dataset "
                          "(eiesim.search.model.load_data)")
    data.check_model(model)
    check_data_range(data, spec)
    fit, val_inputs, val_labels = split_validation(data, settings.validation_fraction,
                                                   settings.seed)
    context = SearchContext(model, fit, val_inputs, val_labels, spec, settings)
    reference = float(np.mean(model.predict(data.test_inputs) == data.test_labels))
    report = _Reporter(progress)
    dense = dense_network(model, bits=settings.bits, seed=settings.seed)
    dense_row = {"strategy": "dense", "label": "uncompressed", "method": "none"}
    dense_row.update(evaluate_network(dense, fit, spec,
                                      timing_inputs=settings.timing_inputs).metrics())
    dense_row["accuracy_val"] = context.val_accuracy(dense)
    wanted = set(settings.strategies)
    with Evaluator(context, workers=workers, scheduler=scheduler, client=client,
                   progress_bars=progress_bars) as evaluator:
        candidates: list[Candidate] = []
        if "uniform" in wanted:
            candidates += uniform_candidates(context)
        if "global" in wanted:
            candidates += global_candidates(context)
        curves = None
        if wanted & {"threshold", "allocation", "netadapt", "amc"}:
            count = len(set(settings.densities) | {1.0}) * model.num_layers * \
                len(settings.methods)
            curves = sensitivity_curves(context, evaluator, report.stage("sensitivity", count))
            for method in settings.methods:
                candidates += _from_curves(context, evaluator, curves, method, wanted,
                                           dense_row["accuracy_val"], report)
        candidates = _distinct(candidates)
        evaluated = evaluator.map(evaluate_candidate, candidates,
                                  report.stage("fine-tune and simulate", len(candidates)),
                                  desc="fine-tune and simulate")
    rows = [dense_row] + [row for row, _ in evaluated]
    networks = [dense] + [network for _, network in evaluated]
    results, chosen = tidy(rows, model.num_layers, settings, reference)
    network = networks[chosen]
    evaluation = evaluate_network(network, fit, spec, timing_inputs=1)
    return SearchResult(results, curves, network, layer_table(network, evaluation), settings,
                        spec, reference, data.test_inputs[0].copy(),
                        time.perf_counter() - start_time, tuple(networks))


def _from_curves(context: SearchContext, evaluator: Evaluator, all_curves: Any, method: str,
                 wanted: set[str], reference_val: float, report: _Reporter) -> list[Candidate]:
    """The candidates of the curve-based strategies for one pruning method."""
    settings = context.settings
    curves = all_curves[all_curves["method"] == method]
    table = CostTable.from_curves(curves, settings.objective)
    candidates: list[Candidate] = []
    for tuned, curve in ((False, "untuned"), (True, "tuned")):
        if "threshold" in wanted:
            candidates += [Candidate("threshold", f"T {t:g}, {curve} curves", method,
                                     densities=threshold_allocation(curves, t, tuned=tuned))
                           for t in settings.thresholds]
        if "allocation" in wanted:
            for factor in settings.drop_budget_factors:
                budget = factor * settings.max_accuracy_drop
                densities = minimise_allocation(curves, table, budget,
                                                len(context.val_labels), tuned=tuned)
                candidates.append(Candidate("allocation", f"drop budget {budget:g}, {curve} "
                                            f"curves", method, densities=densities))
    if "netadapt" in wanted:
        upper = settings.netadapt_max_iterations * context.model.num_layers
        candidates += netadapt(context, evaluator, table, method, reference_val,
                               report.stage(f"netadapt ({method})", upper))
    if "amc" in wanted:
        episodes = len(settings.amc_budgets) * settings.amc_generations * \
            settings.amc_population
        candidates += amc(context, evaluator, table, method,
                          report.stage(f"amc ({method})", episodes))
    return candidates


def _distinct(candidates: list[Candidate]) -> list[Candidate]:
    """Drop a per-layer-density candidate that repeats an earlier one of its strategy (the
    threshold rule gives the same densities for neighbouring T): same network, same row."""
    seen: set[tuple[str, str, tuple[float, ...]]] = set()
    kept = []
    for candidate in candidates:
        if candidate.densities is not None:
            key = (candidate.strategy, candidate.method,
                   tuple(round(d, 12) for d in candidate.densities))
            if key in seen:
                continue
            seen.add(key)
        kept.append(candidate)
    return kept


class _Reporter:
    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress

    def stage(self, name: str, total: int) -> Callable[[int], None] | None:
        if self.progress is None:
            return None
        done = [0]
        self.progress(name, 0, total)

        def advance(count: int) -> None:
            done[0] += count
            assert self.progress is not None
            self.progress(name, done[0], max(total, done[0]))

        return advance
