"""One call from a trained model and its data to the compressed network for EIE.

:func:`search` runs the strategies of :class:`~eiesim.search.tasks.SearchSettings`
and returns a :class:`SearchResult`; :meth:`SearchResult.write` writes the network file, the CSV
and the plot atomically (:func:`~eiesim.search.results.write_outputs`).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eiesim.safe_output import OutputFiles
from eiesim.search.allocation import minimise_allocation, threshold_allocation
from eiesim.search.amc import amc
from eiesim.search.baselines import (
    deep_compression_candidates,
    global_candidates,
    uniform_candidates,
)
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
from eiesim.search.results import grid_edge, standard_error, tidy, write_outputs
from eiesim.search.sensitivity import CostTable, sensitivity_curves
from eiesim.search.tasks import (
    Candidate,
    NoNetworkMeetsBoundError,
    SearchContext,
    SearchError,
    SearchSettings,
    SearchWarning,
    evaluate_candidate,
    validation_split,
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
    network: CompressedNetwork | None
    """The chosen network (None only inside :class:`NoNetworkMeetsBoundError`)."""
    layers: Any
    """Per-layer table of the chosen network (eiesim.search.compression.layer_table)."""
    settings: SearchSettings
    spec: HardwareSpec
    reference_accuracy: float
    """Validation accuracy of the uncompressed float model (the bound is measured from it)."""
    first_input: np.ndarray = field(repr=False)
    seconds: float = 0.0
    networks: tuple[CompressedNetwork, ...] = field(default=(), repr=False)
    """Every evaluated network, in the order of the table's rows (dense first)."""
    reference_test_accuracy: float = float("nan")
    """Test accuracy of the uncompressed float model (reported, never decided on)."""
    num_validation: int = 0
    num_test: int = 0
    notes: tuple[str, ...] = ()
    """What the user must know about the data or the outcome (also issued as SearchWarning):
    a carved or saturated validation split, a choice at the density grid's edge."""

    @property
    def bound(self) -> float:
        """The validation accuracy on the chip a network must reach (before the margin)."""
        return self.reference_accuracy - self.settings.max_accuracy_drop

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
                      bound=self.bound,
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
    as work completes; ``progress_bars`` shows the executor's bars on a terminal. Every decision
    is taken on validation (eiesim.search.tasks); the bound is measured from the uncompressed
    float model's validation accuracy. Raises :class:`NoNetworkMeetsBoundError` (with the table)
    when no compressed network meets the bound."""
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
    fit, val_inputs, val_labels = validation_split(data, settings)
    context = SearchContext(model, fit, val_inputs, val_labels, spec, settings)
    reference = float(np.mean(model.predict(val_inputs) == val_labels))
    reference_test = float(np.mean(model.predict(data.test_inputs) == data.test_labels))
    report = _Reporter(progress)
    dense = dense_network(model, bits=settings.bits, seed=settings.seed)
    dense_row = {"strategy": "dense", "label": "uncompressed", "method": "none"}
    dense_row.update(evaluate_network(dense, fit, spec, timing_inputs=settings.timing_inputs,
                                      energy_table=settings.energy_table).metrics())
    dense_row["accuracy_val"] = context.val_accuracy(dense)
    dense_row["fine_tune_epochs"] = 0
    notes = [_saturation_note(dense_row, len(val_labels), len(data.test_labels))]
    wanted = set(settings.strategies)
    with Evaluator(context, workers=workers, scheduler=scheduler, client=client,
                   progress_bars=progress_bars) as evaluator:
        candidates: list[Candidate] = []
        if "uniform" in wanted:
            candidates += uniform_candidates(context)
        if "global" in wanted:
            candidates += global_candidates(context)
        if "deep_compression" in wanted:
            candidates += deep_compression_candidates(context)
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
        results, chosen = tidy(rows, model.num_layers, settings, reference, len(val_labels),
                               len(data.test_labels))
        if chosen is not None and grid_edge(results.iloc[chosen], model.num_layers, settings):
            extension = _below_the_grid(context, results.iloc[chosen])
            more = evaluator.map(evaluate_candidate, extension,
                                 report.stage("below the grid", len(extension)),
                                 desc="below the grid")
            rows += [row for row, _ in more]
            networks += [network for _, network in more]
            results, chosen = tidy(rows, model.num_layers, settings, reference,
                                   len(val_labels), len(data.test_labels))
            notes.append(_edge_note(results, chosen, extension, model.num_layers, settings))
    notes = [note for note in notes if note]
    for note in notes:
        warnings.warn(note, SearchWarning, stacklevel=3)
    common = dict(table=results, curves=curves, settings=settings, spec=spec,
                  reference_accuracy=reference, first_input=data.test_inputs[0].copy(),
                  networks=tuple(networks), reference_test_accuracy=reference_test,
                  num_validation=len(val_labels), num_test=len(data.test_labels),
                  notes=tuple(notes))
    if chosen is None:
        floor = reference - settings.max_accuracy_drop
        compressed = results[results["strategy"] != "dense"]
        best = compressed.loc[compressed["accuracy_val"].idxmax()] if len(compressed) else None
        margin = f" by {settings.margin:g} standard errors" if settings.margin else ""
        failed = SearchResult(network=None, layers=None,
                              seconds=time.perf_counter() - start_time, **common)
        reached = "" if best is None else (f"; the most accurate, {best['strategy']} "
                                           f"({best['label']}), reaches "
                                           f"{best['accuracy_val']:.4f}")
        raise NoNetworkMeetsBoundError(
            f"nothing meets the bound: no compressed network reaches validation accuracy "
            f"{floor:.4f} on the chip{margin} (the model's {reference:.4f} minus "
            f"max_accuracy_drop {settings.max_accuracy_drop:g}){reached}; the dense network is "
            f"not a result: allow a larger drop, more bits, denser grid points or more "
            f"fine-tuning", failed)
    network = networks[chosen]
    evaluation = evaluate_network(network, fit, spec, timing_inputs=1,
                                  energy_table=settings.energy_table)
    return SearchResult(network=network, layers=layer_table(network, evaluation),
                        seconds=time.perf_counter() - start_time, **common)


def _saturation_note(dense_row: dict[str, Any], num_validation: int, num_test: int) -> str:
    """A note when the dense network's validation accuracy is far above its test accuracy:
    the model was probably trained on the validation rows, which then cannot tell networks
    apart (every one scores near 1)."""
    val, test = float(dense_row["accuracy_val"]), float(dense_row["accuracy_chip"])
    spread = float(np.hypot(standard_error(val, num_validation),
                            standard_error(test, num_test)))
    if val - test <= 2.5 * max(spread, 1.0 / num_validation):
        return ""
    return (f"the validation split looks saturated: the dense network scores {val:.4f} on it "
            f"but {test:.4f} on the test set ({(val - test) / max(spread, 1e-12):.1f} standard "
            f"errors apart); the model was probably trained on it, so decisions taken on it "
            f"are unreliable: give a validation split the model never saw")


_EXTENSION_FACTORS = (0.7, 0.5, 0.35)


def _below_the_grid(context: SearchContext, row: Any) -> list[Candidate]:
    """Uniform candidates below the grid's lowest density, with the chosen row's pruning
    method (global pruning's: magnitude): how much further a choice at the edge could go."""
    lowest = min(context.settings.densities)
    method = row["method"] if row["method"] in context.settings.methods else "magnitude"
    layers = context.model.num_layers
    return [Candidate("uniform", f"density {lowest * f:.3g} (below the grid)", method,
                      densities=(lowest * f,) * layers) for f in _EXTENSION_FACTORS]


def _edge_note(results: Any, chosen: int | None, extension: list[Candidate], num_layers: int,
               settings: SearchSettings) -> str:
    lowest = min(settings.densities)
    tried = ", ".join(f"{c.densities[0]:.3g}" for c in extension if c.densities)
    below = results[results["label"].str.endswith("(below the grid)")]
    meeting = below[below["meets_bound"]]
    reach = (f"uniform density {meeting['density'].min():.3g} still meets the bound"
             if len(meeting) else "no uniform density below it meets the bound")
    note = (f"the best network of the grid has layers at its lowest density {lowest:g}; "
            f"uniform densities {tried} were tried below it: {reach}")
    if chosen is not None and grid_edge(results.iloc[chosen], num_layers,
                                        dataclasses.replace(settings, densities=(
                                            lowest * _EXTENSION_FACTORS[-1],))):
        note += "; the choice sits at the lowest density tried: extend the density grid " \
                "further down to see how far it could go"
    return note


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
