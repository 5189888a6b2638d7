"""Design-space sweeps: many hardware points on one layer, into a tidy pandas DataFrame.

>>> from eiesim.explore import workloads
>>> layer = workloads.synthetic_layer("Alex-8", seed=0, scale=0.05)
>>> table = sweep(layer, pes=[1, 4], fifo=[1, 8], workers=1, progress=False)
>>> table[["pes", "fifo", "cycles"]].shape, int(table["error"].notna().sum())
((4, 3), 0)

Strictness: every point's hardware is built and checked before the first point runs, so a value
that is invalid in itself (``pes=[0]``, ``arith=["fixed3"]``) raises a
:class:`~eiesim.errors.SpecError` naming it. Only a point whose layer does not fit that
point's memories becomes a row with the reason in ``error`` (a missing value for every point
that ran); with ``fit_memories=True`` such a point runs instead on the smallest memories that
hold the layer, and ``spec_changes`` says what was enlarged.

Points run in local processes by default (``workers``) or on a Dask cluster (``client`` or
``scheduler``), through :func:`eiesim.explore.executor.run_tasks`: the layer is shipped to every
worker
once, and points travel in batches.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eiesim.errors import EiesimError, SpecError
from eiesim.format.quantized import as_quantized_layer
from eiesim.network import fit_workload, is_network
from eiesim.report import SCALAR_METRICS
from eiesim.spec import DEFAULT_SPEC, PARAMETERS, HardwareSpec, field_for

ENERGY_METRICS = ("energy_j", "power_w", "pj_per_mac", "spmat_read_energy_j", "area_mm2",
                  "edp_js", "edap_jsm2")
NETWORK_METRICS = ("cycles", "time_s", "energy_j", "power_w", "area_mm2", "edp_js", "edap_jsm2",
                   "load_efficiency", "macs")
"""Whole-network columns of a network sweep; each layer K adds ``layer{K}_cycles``,
``layer{K}_time_s``, ``layer{K}_energy_j`` and ``layer{K}_load_efficiency``."""
LAYER_METRICS = ("cycles", "time_s", "energy_j", "load_efficiency")


METRICS: tuple[str, ...] = (*SCALAR_METRICS, "padding_share", *ENERGY_METRICS)
"""The metric columns of a layer sweep, in order."""


def design_points(axes: Mapping[str, Sequence[Any]] | None = None,
                  points: Iterable[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The points of a sweep as dicts of spec-field changes, in a fixed order.

    ``axes`` gives the cartesian product (last axis varies fastest); ``points`` an explicit list.
    Names may be spec fields or their sweep axes (``pes`` for ``num_pes``).
    """
    return list(plan_sweep(DEFAULT_SPEC, axes, points, check=False).changes())


def check_axes(axes: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The axes as lists, refusing a single value where a list belongs (``pes=4``), an empty
    list, a value given twice on one axis, and two names of one field."""
    checked: dict[str, list[Any]] = {}
    fields: dict[str, str] = {}
    for name, values in axes.items():
        field = field_for(name)
        if field in fields:
            raise SpecError(f"sweep axes {fields[field]!r} and {name!r} both set {field}; "
                            f"give its values once")
        fields[field] = name
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise SpecError(f"sweep axis {name}={values!r} is a single value; give a list of "
                            f"values, e.g. {name}=[{values!r}]")
        values = list(values)
        if not values:
            raise SpecError(f"sweep axis {name!r} has no values; give at least one")
        seen: list[Any] = []
        for value in values:
            if any(value == other for other in seen):
                raise SpecError(f"sweep axis {name!r} lists {value!r} twice, which would give "
                                f"duplicate rows; give each value once")
            seen.append(value)
        checked[name] = values
    return checked


@dataclass(frozen=True)
class SweepPlan:
    """The points of a sweep, generated on demand (a grid of a million points is never held in
    memory): the cartesian product of ``axes`` (last axis fastest) or the explicit ``points``."""

    base: HardwareSpec
    columns: tuple[str, ...]  # the table's parameter columns, named as the caller named them
    fields: tuple[str, ...]  # the spec field of each column
    axes: tuple[tuple[Any, ...], ...] | None
    points: tuple[dict[str, Any], ...] | None  # field -> value
    formats: tuple[HardwareSpec, ...] = ()
    """One point's spec per distinct arithmetic format (filled by a checked plan)."""

    def __len__(self) -> int:
        if self.points is not None:
            return len(self.points)
        return math.prod(len(values) for values in self.axes or ())

    def changes(self) -> Iterator[dict[str, Any]]:
        """Each point's spec-field changes, in point order."""
        if self.points is not None:
            yield from (dict(point) for point in self.points)
            return
        for combo in itertools.product(*(self.axes or ())):
            yield dict(zip(self.fields, combo))

    def row(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """A point's parameter columns."""
        column = dict(zip(self.fields, self.columns))
        return {column[name]: value for name, value in changes.items()}


def plan_sweep(base: HardwareSpec, axes: Mapping[str, Any] | None,
               points: Iterable[Mapping[str, Any]] | None, *,
               check: bool = True) -> SweepPlan:
    """The sweep's points; with ``check``, every point's hardware is built once now, so that an
    invalid value fails before any point runs (a million points take about 20 s)."""
    if (axes and any(True for _ in axes)) and points is not None:
        raise SpecError("give either axes (a cartesian product) or explicit points, not both")
    if points is not None:
        points = list(points)
        explicit = tuple({field_for(name): value for name, value in point.items()}
                         for point in points)
        names = list(dict.fromkeys(name for point in points for name in point))
        fields = tuple(dict.fromkeys(field for point in explicit for field in point))
        columns = tuple(_column(field, names) for field in fields)
        plan = SweepPlan(base, columns, fields, None, explicit)
    else:
        checked = check_axes(axes or {})
        fields = tuple(field_for(name) for name in checked)
        plan = SweepPlan(base, tuple(checked), fields,
                         tuple(tuple(values) for values in checked.values()), None)
    if len(plan) == 0:
        raise SpecError("the sweep has no points; give at least one axis value or point")
    if check:
        formats: dict[tuple[Any, ...], HardwareSpec] = {}
        for changes in plan.changes():
            spec = _point_spec(base, changes)
            formats.setdefault((spec.arithmetic, spec.act_frac_bits), spec)
        plan = dataclasses.replace(plan, formats=tuple(formats.values()))
    return plan


def _point_spec(base: HardwareSpec, changes: Mapping[str, Any]) -> HardwareSpec:
    try:
        return base.replace(**changes)
    except SpecError as error:
        raise SpecError(f"sweep point {_describe(changes)}: {error}") from None


def metric_columns(layer: Any, fit_memories: bool) -> list[str]:
    """The columns after the parameters: the metrics, ``spec_changes`` with fitting, ``error``."""
    if is_network(layer):
        per_layer = [f"layer{index}_{name}" for index in range(len(layer.layers))
                     for name in LAYER_METRICS]
        metrics = list(NETWORK_METRICS) + per_layer
    else:
        metrics = list(METRICS)
    return metrics + (["spec_changes"] if fit_memories else []) + ["error"]


@dataclass(frozen=True)
class _Point:
    """One design point as a worker receives it (the worker builds its spec: a million specs
    are not built twice in the parent)."""

    changes: dict[str, Any]  # spec field -> value
    row: dict[str, Any]  # the parameters as the table shows them


@dataclass(frozen=True)
class _SweepContext:
    """What every point shares, shipped to each worker once."""

    layer: Any  # a quantized layer (.codes, .codebook, .bias_codes, .activations) or a network
    base: HardwareSpec
    engine: str
    energy_table: Path | None
    fit_memories: bool


def _fit(workload: Any, spec: HardwareSpec, fit_memories: bool,
         row: dict[str, Any]) -> HardwareSpec:
    """The point's spec, with what ``fit_memories`` changed recorded in ``row``."""
    if not fit_memories:
        return spec
    spec, changes = fit_workload(workload, spec)
    row["spec_changes"] = _changes_text(changes)
    return spec


def _changes_text(changes: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value}" for name, value in changes.items())


def evaluate_point(layer: Any, spec: HardwareSpec, engine: str = "fast", *,
                   energy_table: str | Path | None = None,
                   fit_memories: bool = False) -> dict[str, Any]:
    """Encode, simulate and report one design point.

    A layer that does not fit the point's memories gives ``{"error": reason}``; every other
    user error raises. The layer keeps its encodings (:meth:`QuantizedLayer.encode`), so
    points that differ only in timing or memory parameters reuse one.
    """
    from eiesim import report
    from eiesim.errors import CapacityError
    from eiesim.sim import simulate

    row: dict[str, Any] = {}
    spec = _fit(layer, spec, fit_memories, row)
    try:
        encoded = as_quantized_layer(layer).encode(spec)
        result = simulate(encoded, layer.activations, spec, engine=engine)
    except CapacityError as error:
        row["error"] = str(error)
        return row
    row.update(report.metrics(result))
    row.update(_energy_metrics(result, energy_table))
    row["padding_share"] = result.issued_padding_entries / max(result.issued_entries, 1)
    return row


def _energy_metrics(result: Any, energy_table: str | Path | None) -> dict[str, Any]:
    from eiesim.energy import area_report, energy_report, load_energy_table
    from eiesim.report import energy_fields

    table = None if energy_table is None else load_energy_table(energy_table, result.spec)
    fields = energy_fields(energy_report(result, table), area_report(result.spec))
    metrics = {name: fields[name] for name in ENERGY_METRICS if name in fields}
    metrics["spmat_read_energy_j"] = fields["energy_breakdown"]["spmat_read"]
    return metrics


def evaluate_network_point(network: Any, spec: HardwareSpec, engine: str = "fast", *,
                           energy_table: str | Path | None = None,
                           fit_memories: bool = False) -> dict[str, Any]:
    """Simulate a whole network at one design point: per-layer and total cycles, time and
    energy, the chip's area, and the energy-delay (``edp_js``) and energy-delay-area
    (``edap_jsm2``) products of one inference through the network.

    ``network`` is a :class:`~eiesim.network.NetworkData` (chained, or one input per layer). A
    layer that does not fit the point's memories gives ``{"error": reason}``.
    """
    from eiesim.energy import load_energy_table
    from eiesim.errors import CapacityError
    from eiesim.network import simulate_network

    row: dict[str, Any] = {}
    spec = _fit(network, spec, fit_memories, row)
    table = None if energy_table is None else load_energy_table(energy_table, spec)
    try:
        result = simulate_network(network.layers, network.activations, spec, engine=engine,
                                  energy_table=table, layer_inputs=network.layer_inputs)
    except CapacityError as error:
        row["error"] = str(error)
        return row
    for name in NETWORK_METRICS:
        row[name] = getattr(result, name)
    energies = result.layer_energy_j
    for index, layer_result in enumerate(result.layers):
        row[f"layer{index}_cycles"] = layer_result.cycles
        row[f"layer{index}_time_s"] = layer_result.time_s
        row[f"layer{index}_energy_j"] = energies[index] if energies else None
        row[f"layer{index}_load_efficiency"] = layer_result.load_efficiency
    return row


def _evaluate(context: _SweepContext, point: _Point) -> dict[str, Any]:
    spec = context.base.replace(**point.changes)
    if is_network(context.layer):
        return point.row | evaluate_network_point(
            context.layer, spec, context.engine, energy_table=context.energy_table,
            fit_memories=context.fit_memories)
    return point.row | evaluate_point(context.layer, spec, context.engine,
                                      energy_table=context.energy_table,
                                      fit_memories=context.fit_memories)


def sweep(layer: Any, base_spec: HardwareSpec | None = None, *,
          points: Iterable[Mapping[str, Any]] | None = None, workers: int | None = None,
          client: Any = None, scheduler: str | None = None, engine: str = "fast",
          energy_table: str | Path | None = None, fit_memories: bool = False,
          progress: bool = True, retries: int = 3, **axes: Sequence[Any]) -> Any:
    """Run every design point on ``layer`` and return a pandas DataFrame, one row a point.

    ``layer`` is a quantized layer with its input (:func:`eiesim.format.files.load_layer`,
    :func:`eiesim.explore.workloads.synthetic_layer`) or a network
    (:class:`~eiesim.network.NetworkData`,
    :func:`eiesim.network.load_network`, :func:`eiesim.explore.catalog.load_example`): a network's
    row
    holds per-layer and total cycles, time and energy, the area, ``edp_js`` and ``edap_jsm2``.
    A mapping of names to workloads (say, one network per pruning method) sweeps each over the
    same points, the name in a first column ``workload``, so that they compare in one table.

    Axes are keyword lists: ``pes``, ``fifo``, ``index_bits``, ``weight_bits``, ``sram_width``,
    ``pointer_bits``, ``clock``, ``arith``, or any HardwareSpec field name. Columns: one per
    swept parameter (named as given), then every metric (:data:`METRICS`), then
    ``spec_changes`` (with ``fit_memories``) and ``error`` (missing where the point ran).

    ``engine`` and ``energy_table`` (a TOML/YAML file, as ``eiesim run --energy-table``) apply to
    every point. ``workers`` local processes (default: all cores; 1 runs in this process), or a
    Dask ``client`` / ``scheduler`` address. Rows come back in point order whatever ran where.
    """
    import pandas as pd

    from eiesim.explore.executor import run_tasks

    if isinstance(layer, Mapping):
        if not layer:
            raise SpecError("the mapping of workloads is empty; give at least one")
        tables = []
        for name, workload in layer.items():
            table = sweep(workload, base_spec, points=points, workers=workers, client=client,
                          scheduler=scheduler, engine=engine, energy_table=energy_table,
                          fit_memories=fit_memories, progress=progress, retries=retries,
                          **axes)
            table.insert(0, "workload", name)
            tables.append(table)
        return pd.concat(tables, ignore_index=True)

    base = base_spec or DEFAULT_SPEC
    layer, plan, context = prepare_sweep(layer, base, axes, points, engine=engine,
                                         energy_table=energy_table, fit_memories=fit_memories)
    tasks = [_Point(changes, plan.row(changes)) for changes in plan.changes()]
    # Points that share an encoding run next to each other (so in one worker's batch), then
    # the rows go back to the order of the points.
    order = sorted(range(len(tasks)), key=lambda index: encoding_key(base, tasks[index].changes))
    results = run_tasks(_evaluate, [tasks[index] for index in order], shared=context,
                        workers=workers, client=client, scheduler=scheduler, progress=progress,
                        desc="eiesim sweep", unit="point", retries=retries)
    rows: list[dict[str, Any]] = [{}] * len(tasks)
    for position, index in enumerate(order):
        rows[index] = results[position]
    table = pd.DataFrame(rows)
    table = table.reindex(columns=list(plan.columns) + metric_columns(layer, fit_memories))
    table["error"] = table["error"].astype("object").where(table["error"].notna(), None)
    return table


def prepare_sweep(layer: Any, base: HardwareSpec, axes: Mapping[str, Any],
                  points: Iterable[Mapping[str, Any]] | None, *, engine: str,
                  energy_table: str | Path | None,
                  fit_memories: bool) -> tuple[Any, SweepPlan, _SweepContext]:
    """Check everything that can be checked before a point runs (the engine, every point's
    hardware, the input against each arithmetic format) and make what workers share."""
    from eiesim.sim import ENGINES

    if engine not in ENGINES:
        raise SpecError(f"engine = {engine!r} is unknown; use one of {', '.join(ENGINES)}")
    if not is_network(layer):
        layer = as_quantized_layer(layer)  # one object, so that its encodings are reused
    plan = plan_sweep(base, axes, points)
    inputs = (([layer.activations] if layer.activations is not None else [])
              + list(layer.layer_inputs or [])) if is_network(layer) else [layer.activations]
    for values in inputs:
        _check_input_range(values, plan.formats)
    context = _SweepContext(layer=layer, base=base, engine=engine,
                            energy_table=None if energy_table is None else Path(energy_table),
                            fit_memories=fit_memories)
    return layer, plan, context


def encoding_key(base: HardwareSpec, changes: Mapping[str, Any]) -> tuple[Any, ...]:
    """The point's :attr:`HardwareSpec.encoding_key`, without building its spec."""
    return tuple(changes.get(name, getattr(base, name)) for name in base.ENCODING_FIELDS)


def _column(field: str, given: list[str]) -> str:
    """The table column of a spec field: the name the caller used for it."""
    for name in given:
        if field_for(name) == field:
            return name
    return PARAMETERS[field].axis or field


def _describe(changes: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in changes.items())


def _check_input_range(activations: Any, specs: Sequence[HardwareSpec]) -> None:
    """An input activation outside a point's arithmetic range is an error of the input, not of
    the point: raise it before any point runs (once per distinct arithmetic format)."""
    from eiesim.sim.prepare import check_activation_range

    seen = set()
    for spec in specs:
        key = (spec.arithmetic, spec.act_frac_bits)
        if key in seen:
            continue
        seen.add(key)
        try:
            check_activation_range(activations, spec)
        except EiesimError as error:
            raise type(error)(f"sweep point arithmetic={spec.arithmetic!r}: {error}") from None
