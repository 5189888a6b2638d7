"""The reported cycle components add up to the reported total, in every output format."""

import json

import numpy as np
import pytest

import eiesim
from eiesim import report
from eiesim.explore import catalog
from eiesim.testing import random_layer

ENGINES = ["fast", "reference"]


def layers():
    # A small unbatched layer, and one shaped like the paper's NT-Wd (8791 x 600): its PEs own
    # 138 rows each at 64 PEs, more than the 64 registers, so it runs in 3 output batches (T13).
    small = random_layer(5, out_features=40, in_features=30, density=0.3, act_density=0.6)
    nt_wd = random_layer(7, out_features=8791, in_features=600, density=0.11, act_density=1.0)
    return [("small", small, eiesim.HardwareSpec(num_pes=4)),
            ("NT-Wd-shaped", nt_wd, eiesim.HardwareSpec(act_sram_bytes=1 << 12)),
            ("small, separate ReLU pass", small,
             eiesim.HardwareSpec(num_pes=4, relu_outputs_per_cycle=2, act_regs_per_file=3)),
            ("small, authors' model", small, eiesim.HardwareSpec.preset("authors-model",
                                                                       num_pes=4))]


@pytest.mark.parametrize("name, case, spec", layers(), ids=[name for name, _, _ in layers()])
def test_cycle_components_add_up_in_metrics_json_and_table(name, case, spec):
    result = eiesim.simulate(case.encode(spec), case.activations, spec)
    values = report.metrics(result)
    assert set(report.CYCLE_COMPONENTS) <= set(report.SCALAR_METRICS)
    assert "output_batches" in report.SCALAR_METRICS
    assert sum(values[part] for part in report.CYCLE_COMPONENTS) == values["cycles"]
    payload = json.loads(json.dumps(report.to_dict(result)))
    assert sum(payload[part] for part in report.CYCLE_COMPONENTS) == payload["cycles"]
    assert payload["output_batches"] == result.output_batches
    table = report.format_table(result)
    for part in report.CYCLE_COMPONENTS:
        assert f"{values[part]:,}" in table
    if name == "NT-Wd-shaped":
        assert result.output_batches == 3 and result.writeback_cycles > 0
        assert result.drain_cycles == 3 * spec.arith_pipeline_stages
    if "authors' model" in name:
        assert result.end_latency_cycles == 2  # rule T14
    if "separate ReLU" in name:
        assert result.relu_cycles > 0 and result.output_batches > 1


def test_components_agree_between_engines_on_a_batched_layer():
    case = random_layer(9, out_features=50, in_features=20, density=0.3, act_density=0.7)
    spec = eiesim.HardwareSpec(num_pes=3, act_regs_per_file=4, relu_outputs_per_cycle=3)
    layer = case.encode(spec)
    fast, reference = (report.metrics(eiesim.simulate(layer, case.activations, spec,
                                                      engine=engine)) for engine in ENGINES)
    for part in report.CYCLE_COMPONENTS + ("cycles", "output_batches"):
        assert fast[part] == reference[part], part
    np.testing.assert_equal(sum(fast[p] for p in report.CYCLE_COMPONENTS), fast["cycles"])


def test_stored_and_issued_counts_and_mac_utilization_on_the_real_layer():
    """The issue's example: fc8 at 2-bit relative indices stores far more padding than it
    issues (only broadcast columns issue), and padding makes load efficiency rise while the
    chip gets slower; MAC utilization falls with it."""
    from eiesim import HardwareSpec, encode, simulate
    from eiesim.format import files as io
    from eiesim.report import metrics

    data = io.load_layer(catalog.example_path("alexnet-fc8"))
    results = {}
    for bits in (2, 4):
        spec = HardwareSpec(rel_index_bits=bits)
        results[bits] = simulate(encode(data, spec=spec), data.activations, spec)
    two, four = results[2], results[4]
    assert two.stored_padding_entries > two.issued_padding_entries > 0
    assert two.stored_entries > two.issued_entries
    stats = encode(data, spec=HardwareSpec(rel_index_bits=2)).storage_stats()
    assert stats.to_dict()["stored_padding_entries"] == two.stored_padding_entries
    assert two.cycles > four.cycles and two.load_efficiency > four.load_efficiency
    assert two.mac_utilization < four.mac_utilization
    assert two.mac_utilization == two.macs / (64 * two.cycles)
    row = metrics(two)
    assert row["issued_entries"] == two.issued_entries and "entries" not in row
