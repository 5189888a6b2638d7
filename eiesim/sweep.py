"""Design-space sweeps: many hardware points on one layer, into a tidy pandas DataFrame.

>>> from eiesim import workloads
>>> layer = workloads.synthetic_layer("Alex-8", seed=0, scale=0.05)
>>> table = sweep(layer, pes=[1, 4], fifo=[1, 8], workers=1, progress=False)
>>> table[["pes", "fifo", "cycles"]].shape
(4, 3)

Points run in local processes by default (``workers``), or on a Dask cluster (``client`` or
``scheduler``). The layer is shipped to every worker once, not with every point. Each point
encodes the layer for its hardware (PEs and index bits change the encoding), simulates it and
reports every metric of :mod:`eiesim.report` (and energy, power and area). A point whose layer
does not fit its hardware gives a row with the reason in ``error`` and empty metrics rather than
ending the sweep.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Iterable, Mapping, Sequence

from eiesim.errors import EiesimError, SpecError
from eiesim.io import LayerData
from eiesim.spec import DEFAULT_SPEC, HardwareSpec

# Short sweep names (CLI and DataFrame columns) for the most swept HardwareSpec fields.
AXIS_FIELDS = {
    "pes": "num_pes",
    "fifo": "act_queue_depth",
    "index_bits": "rel_index_bits",
    "weight_bits": "weight_index_bits",
    "sram_width": "spmat_sram_width_bits",
    "pointer_bits": "pointer_bits",
    "clock": "clock_hz",
    "arith": "arithmetic",
}
FIELD_AXES = {field: axis for axis, field in AXIS_FIELDS.items()}
_SPEC_FIELDS = set(DEFAULT_SPEC.to_dict())


def _field(name: str) -> str:
    field = AXIS_FIELDS.get(name, name)
    if field not in _SPEC_FIELDS:
        raise SpecError(f"cannot sweep {name!r}: it is neither a sweep axis "
                        f"({', '.join(AXIS_FIELDS)}) nor a HardwareSpec field")
    return field


def design_points(axes: Mapping[str, Sequence[Any]] | None = None,
                  points: Iterable[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The points of a sweep as dicts of spec-field changes, in a fixed order.

    ``axes`` gives the cartesian product (last axis varies fastest); ``points`` an explicit list.
    """
    if (axes and any(axes.values())) and points is not None:
        raise SpecError("give either axes (a cartesian product) or explicit points, not both")
    if points is not None:
        result = [{_field(name): value for name, value in point.items()} for point in points]
    else:
        axes = {name: list(values) for name, values in (axes or {}).items()}
        for name, values in axes.items():
            if not values:
                raise SpecError(f"sweep axis {name!r} has no values; give at least one")
        fields = [_field(name) for name in axes]
        result = [dict(zip(fields, combo)) for combo in itertools.product(*axes.values())]
    if not result:
        raise SpecError("the sweep has no points; give at least one axis value or point")
    return result


# --- work done per point (runs in workers) -----------------------------------------------------
_WORKER_LAYER: LayerData | None = None


def _set_worker_layer(layer: LayerData) -> None:
    global _WORKER_LAYER
    _WORKER_LAYER = layer


def evaluate_point(layer: LayerData, base: HardwareSpec, changes: Mapping[str, Any],
                   engine: str = "fast") -> dict[str, Any]:
    """Encode, simulate and report one design point; a user error becomes the ``error`` field."""
    from eiesim import report
    from eiesim.compress import encode
    from eiesim.sim import simulate

    row: dict[str, Any] = {FIELD_AXES.get(name, name): value for name, value in changes.items()}
    try:
        spec = base.replace(**changes)
        encoded = encode(layer.codes, layer.codebook, layer.bias_codes, spec=spec)
        result = simulate(encoded, layer.activations, spec, engine=engine)
        energy = _energy_metrics(result)
    except EiesimError as error:
        row["error"] = str(error)
        return row
    row.update(report.metrics(result))
    row.update(energy)
    row["padding_share"] = result.padding_entries / max(result.entries, 1)
    row["error"] = ""
    return row


def _energy_metrics(result: Any) -> dict[str, Any]:
    from eiesim.energy import area_report, energy_report

    report = energy_report(result)
    return {"energy_j": report.energy_j, "power_w": report.average_power_w,
            "pj_per_mac": report.pj_per_mac, "spmat_read_energy_j": report.by_unit["spmat_read"],
            "area_mm2": area_report(result.spec).chip_mm2}


def _evaluate_in_worker(base: HardwareSpec, changes: Mapping[str, Any],
                        engine: str) -> dict[str, Any]:
    if _WORKER_LAYER is None:
        raise RuntimeError("the sweep worker's initializer did not run")
    return evaluate_point(_WORKER_LAYER, base, changes, engine)


def sweep(layer: LayerData, base_spec: HardwareSpec | None = None, *,
          points: Iterable[Mapping[str, Any]] | None = None, workers: int | None = None,
          client: Any = None, scheduler: str | None = None, engine: str = "fast",
          progress: bool = True, retries: int = 3, **axes: Sequence[Any]) -> Any:
    """Run every design point on ``layer`` and return a pandas DataFrame, one row a point.

    Axes are keyword lists: ``pes``, ``fifo``, ``index_bits``, ``weight_bits``, ``sram_width``,
    ``pointer_bits``, ``clock``, ``arith``, or any HardwareSpec field name. Columns: one per
    swept parameter (named as given), then every metric, then ``error``.

    ``workers`` local processes (default: all cores; 1 runs in this process), or a Dask
    ``client`` / ``scheduler`` address. Rows come back in point order whatever ran where.
    """
    import pandas as pd

    base = base_spec or DEFAULT_SPEC
    changes_list = design_points(axes, points)
    if client is not None or scheduler is not None:
        rows = _run_dask(layer, base, changes_list, client, scheduler, engine, progress,
                         retries)
    else:
        rows = _run_local(layer, base, changes_list, workers, engine, progress)
    from eiesim.report import SCALAR_METRICS

    table = pd.DataFrame(rows)
    parameters = list(dict.fromkeys(FIELD_AXES.get(name, name)
                                    for changes in changes_list for name in changes))
    metrics = list(SCALAR_METRICS) + ["padding_share"]
    extra = [c for c in table.columns if c not in parameters + metrics + ["error"]]
    table = table.reindex(columns=parameters + metrics + extra + ["error"])
    table["error"] = table["error"].fillna("")
    return table


def _progress(iterable: Iterable[Any], total: int, enabled: bool) -> Iterable[Any]:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc="eiesim sweep", unit="point")


def _run_local(layer: LayerData, base: HardwareSpec, changes_list: list[dict[str, Any]],
               workers: int | None, engine: str, progress: bool) -> list[dict[str, Any]]:
    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise SpecError(f"workers = {workers}; use at least 1 process")
    if workers == 1 or len(changes_list) == 1:
        return [evaluate_point(layer, base, changes, engine)
                for changes in _progress(changes_list, len(changes_list), progress)]
    with ProcessPoolExecutor(max_workers=min(workers, len(changes_list)),
                             initializer=_set_worker_layer, initargs=(layer,)) as pool:
        futures = [pool.submit(_evaluate_in_worker, base, changes, engine)
                   for changes in changes_list]
        rows: list[dict[str, Any]] = []
        for future in _progress(futures, len(futures), progress):
            rows.append(future.result())
    return rows


def _run_dask(layer: LayerData, base: HardwareSpec, changes_list: list[dict[str, Any]],
              client: Any, scheduler: str | None, engine: str, progress: bool,
              retries: int) -> list[dict[str, Any]]:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise EiesimError("distributed sweeps need dask.distributed; install it with "
                          "pip install 'eiesim[dist]'") from None
    own_client = client is None
    if own_client:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as error:
            raise EiesimError(f"cannot reach the Dask scheduler at {scheduler!r} ({error}); "
                              f"check the address (e.g. tcp://127.0.0.1:8786)") from None
    try:
        # Scatter once: every task refers to the same layer future instead of carrying a copy.
        layer_future = client.scatter(layer, broadcast=True)
        futures = [client.submit(evaluate_point, layer_future, base, changes, engine,
                                 pure=False, retries=retries)
                   for changes in changes_list]
        index = {future.key: position for position, future in enumerate(futures)}
        rows: list[dict[str, Any] | None] = [None] * len(futures)
        for future in _progress(as_completed(futures), len(futures), progress):
            rows[index[future.key]] = future.result()
        return [row for row in rows if row is not None]
    finally:
        if own_client:
            client.close()
