"""docs/metrics.md documents every key of `eiesim run --json` and every sweep column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import eiesim
from eiesim import report
from eiesim.explore.sweep import METRICS, sweep
from eiesim.explore.workloads import synthetic_layer
from eiesim.network import NetworkData, simulate_network

DOC = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"


@pytest.fixture(scope="module")
def documented() -> set[str]:
    return set(re.findall(r"`([A-Za-z_{}0-9]+)`", DOC.read_text(encoding="utf-8")))


def test_every_layer_key_and_sweep_column_is_documented(documented):
    from eiesim.energy import area_report, energy_report

    layer = synthetic_layer("Alex-8", seed=0, scale=0.05)
    spec = eiesim.HardwareSpec(num_pes=4)
    result = eiesim.simulate(eiesim.encode(layer, spec=spec), layer.activations, spec)
    payload = report.to_dict(result) | report.energy_fields(energy_report(result),
                                                            area_report(spec))
    missing = [key for key in payload if key not in documented]
    table = sweep(layer, pes=[4], workers=1, progress=False)
    missing += [column for column in table.columns if column not in documented
                and column != "pes"]
    assert not missing, f"not in docs/metrics.md: {missing}"
    assert set(METRICS) <= set(table.columns)


def test_every_network_key_and_column_is_documented(documented):
    layers = tuple(synthetic_layer(name, seed=0, scale=0.05) for name in ("NT-We", "NT-LSTM"))
    inputs = tuple(layer.activations for layer in layers)
    network = NetworkData(layers, None, "two", layer_inputs=inputs)
    spec = eiesim.HardwareSpec(num_pes=4)
    payload = simulate_network(layers, None, spec, layer_inputs=network.layer_inputs).to_dict()
    missing = [key for key in payload if key not in documented]
    missing += [key for key in payload["layers"][0] if key not in documented]
    table = sweep(network, fifo=[4], workers=1, progress=False)
    missing += [re.sub(r"^layer\d+_", "layer{K}_", column) for column in table.columns
                if re.sub(r"^layer\d+_", "layer{K}_", column) not in documented
                and column not in ("fifo",)]
    assert not missing, f"not in docs/metrics.md: {missing}"
