"""``eiesim run``: simulate one layer or a network and report cycles, time, energy, outputs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from eiesim.cli.options import (
    PLOT_SUFFIXES,
    add_common_options,
    add_source_options,
    add_spec_options,
    announce,
    engine_for,
    input_path,
    load_workload,
    spec_from_args,
)
from eiesim.errors import UsageError
from eiesim.safe_output import OutputFiles

NAME = "run"
HELP = ("simulate one layer (or a network) and report cycles, time, load balance, energy and "
        "outputs")


def add_parser(commands: Any) -> None:
    """Add ``eiesim run`` and its options to the command parser."""
    run = commands.add_parser(
        NAME, help=HELP,
        description="Simulate one fully connected layer b = ReLU(W a + bias) on EIE. The layer "
                    "file (.npz) holds 'weights' (float, quantized on load) or 'codes' with a "
                    "'codebook', the input 'activations', and optionally 'bias' or "
                    "'bias_codes' (see docs/file-formats.md). A network file (layer0_codes, "
                    "layer0_codebook, ..., activations) runs layer after layer and reports each "
                    "layer and the total.")
    add_source_options(run, "layer or network file (.npz)")
    add_spec_options(run)
    run.add_argument("--trace", type=Path, metavar="FILE.json",
                     help="write a Chrome/Perfetto trace-event JSON file (implies --engine "
                          "reference, the engine that records events)")
    add_common_options(
        run, "engine", "energy_table", "seed", "json", "plot", "output",
        seed={"help": "seed of the k-means quantization of float weights (default 0)"},
        plot={"help": "also draw the run: cycles and entries per PE, energy per unit, and "
                      "with --engine reference the queues' occupancy over time (.png, .pdf, "
                      ".svg; a network: a row per layer and each layer's share)"},
        output={"metavar": "OUT.npy", "help": "save the output activations (after ReLU) as a "
                                              ".npy file, written exactly to this path"})
    run.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Simulate the layer or network and print or write its results; returns the exit code."""
    spec = spec_from_args(args)
    args.engine = engine_for(args)

    if args.plot is not None:
        from eiesim.plots import require_matplotlib

        require_matplotlib("--plot")
    # Every destination is checked before any work, and written only once all of it succeeded.
    with OutputFiles(inputs=[input_path(args), args.energy_table]) as outputs:
        if args.output is not None:
            outputs.add(args.output, "--output")
        if args.trace is not None:
            outputs.add(args.trace, "--trace")
        if args.plot is not None:
            outputs.add(args.plot, "--plot", suffixes=PLOT_SUFFIXES)
        from eiesim import energy

        table = energy.load_energy_table(args.energy_table, spec) if args.energy_table else None
        workload = load_workload(args, weight_index_bits=spec.weight_index_bits)
        from eiesim.format.quantized import QuantizedLayer

        if not isinstance(workload, QuantizedLayer):  # a network (eiesim.network.NetworkData)
            if args.trace is not None:
                raise UsageError("--trace records one layer; run the layers of a network one at "
                                 "a time")
            payload, text, result_outputs, recorder, picture = _run_network(args, workload, spec,
                                                                            table)
        else:
            payload, text, result_outputs, recorder, picture = _run_layer(args, workload, spec,
                                                                          table)
        if args.output is not None:
            import numpy as np

            with outputs.writing(args.output) as temporary:
                with open(temporary, "wb") as handle:
                    np.save(handle, result_outputs)  # a file object: no '.npy' is appended
        if recorder is not None and args.trace is not None:
            with outputs.writing(args.trace) as temporary:
                recorder.write_chrome_trace(temporary)
        if args.plot is not None:
            from eiesim.plots import plot_run

            with outputs.writing(args.plot) as temporary:
                plot_run(**picture, path=temporary)
        written = outputs.commit()
    from eiesim.checks import json_text

    print(json_text(payload) if args.json else text)
    announce(written)
    return 0


def _fit(spec: Any, workload: Any, fit: bool) -> tuple[Any, dict[str, Any]]:
    """The spec to run: as given, or with the memories the workload does not fit enlarged."""
    if not fit:
        return spec, {}
    from eiesim.network import fit_workload

    return fit_workload(workload, spec)


def _run_layer(args: argparse.Namespace, data: Any, spec: Any,
               table: Any) -> tuple[dict[str, Any], str, Any, Any, dict[str, Any]]:
    from eiesim import encode, energy, report
    from eiesim.progress import activity
    from eiesim.sim import simulate

    spec, changes = _fit(spec, data, args.fit_memories)
    layer = encode(data.codes, data.codebook, data.bias_codes, spec=spec)
    recorder = None
    if args.trace is not None:
        from eiesim.sim.trace import TraceRecorder

        recorder = TraceRecorder()
    elif args.plot is not None and args.engine == "reference":
        from eiesim.sim.occupancy import QueueOccupancy
        from eiesim.sim.simulation import output_batches

        # The queues' picture over time, if the layer runs in one batch (as traces do).
        recorder = QueueOccupancy() if len(output_batches(layer, spec)) == 1 else None
    with activity(f"eiesim: simulating ({args.engine} engine)", enabled=not args.json):
        result = simulate(layer, data.activations, spec, engine=args.engine, trace=recorder)
    energy_report = energy.energy_report(result, table)
    area = energy.area_report(spec)
    metadata = report.environment_metadata()
    metadata.update({"layer": data.source, "input_checksum": data.checksum,
                     "quantized_on_load": data.quantized_on_load})
    payload = report.to_dict(result, metadata=metadata)
    payload.update(report.energy_fields(energy_report, area))
    payload["spec_changes"] = changes
    quantization = _quantization_fields(data, result)
    payload.update(quantization)
    text = "\n".join([report.format_table(result, title=f"eiesim: {data.source}"),
                      report.format_energy(energy_report, area)]
                     + _quantization_lines(quantization) + _changes_lines(changes))
    occupancy = None
    if recorder is not None:
        from eiesim.sim.occupancy import QueueOccupancy

        occupancy = recorder if isinstance(recorder, QueueOccupancy) \
            else QueueOccupancy.from_trace(recorder)
    picture = {"result": result, "layer": layer, "energy": energy_report,
               "occupancy": occupancy}
    return payload, text, result.outputs, recorder, picture


def _quantization_fields(data: Any, result: Any) -> dict[str, Any]:
    """For float weights quantized on load: the weight-sharing error against the user's float
    weights, and the chip's output error against ReLU(W a + bias) computed with them (the
    table's 'output error' line compares with the quantized layer in float64)."""
    if not data.quantized_on_load or data.reference_weights is None:
        return {}
    import numpy as np

    weights = np.asarray(data.reference_weights, dtype=np.float64)
    exact = weights @ np.asarray(data.activations, dtype=np.float64)
    if data.reference_bias is not None:
        exact = exact + np.asarray(data.reference_bias, dtype=np.float64)
    exact = np.maximum(exact, 0.0)
    difference = result.outputs - exact
    norm = float(np.linalg.norm(exact))
    return {"weight_error": data.weight_error(),
            "max_abs_error_vs_float_weights": float(np.abs(difference).max()),
            "relative_error_vs_float_weights": float(np.linalg.norm(difference) / norm)
            if norm > 0 else 0.0,
            "codebook_entries_used": data.clusters_used}


def _quantization_lines(fields: dict[str, Any]) -> list[str]:
    if not fields:
        return []
    weights = fields["weight_error"]
    return [f"{'quantized':<16}  float weights shared on load through a k-means codebook "
            f"({fields['codebook_entries_used']} entries used): weight error rms "
            f"{weights['rms']:.3g}, relative {weights['relative']:.3g}",
            f"{'vs your weights':<16}  output max |Δ| "
            f"{fields['max_abs_error_vs_float_weights']:.3g}, relative "
            f"{fields['relative_error_vs_float_weights']:.3g} against ReLU(W a + b) with your "
            f"float weights"]


def _run_network(args: argparse.Namespace, network: Any, spec: Any,
                 table: Any) -> tuple[dict[str, Any], str, Any, None, dict[str, Any]]:
    from eiesim.network import simulate_network
    from eiesim.progress import activity

    spec, changes = _fit(spec, network, args.fit_memories)
    with activity(f"eiesim: simulating {len(network.layers)} layers", enabled=not args.json):
        result = simulate_network(network.layers, network.activations, spec, engine=args.engine,
                                  energy_table=table, layer_inputs=network.layer_inputs)
    payload = result.to_dict()
    from eiesim.report import environment_metadata

    payload["metadata"] = environment_metadata() | {"network": network.source,
                                                    "input_checksum": network.checksum}
    payload["spec_changes"] = changes
    text = "\n".join([result.format_table(title=f"eiesim: {network.source}")]
                     + _changes_lines(changes))
    return payload, text, result.outputs, None, {"result": result, "layer": network}


def _changes_lines(changes: dict[str, Any]) -> list[str]:
    if not changes:
        return []
    from eiesim.spec import PARAMETERS

    return ["", "--fit-memories changed: " + ", ".join(
        f"{name} = {value} ({PARAMETERS[name].flag})" for name, value in changes.items())]
