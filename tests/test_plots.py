"""Pictures of a run (eiesim.plots.plot_run, eiesim run --plot) and of a sweep."""

import subprocess
import sys

import numpy as np
import pytest

from eiesim import HardwareSpec, simulate
from eiesim.explore import workloads
from eiesim.sim.occupancy import QueueOccupancy

pytest.importorskip("matplotlib")
from eiesim.plots import energy_unit, plot_run  # noqa: E402


@pytest.fixture(scope="module")
def small_layer():
    return workloads.synthetic_layer("Alex-8", seed=3, scale=0.06)


def _titles(figure):
    return [axis.get_title() for axis in figure.axes if axis.get_visible() and axis.get_title()]


def test_a_layer_on_the_fast_engine_has_cycles_entries_and_energy_panels(small_layer):
    spec = HardwareSpec(num_pes=8)
    result = simulate(small_layer.encode(spec), small_layer.activations, spec)
    figure = plot_run(result, layer=small_layer)
    titles = _titles(figure)
    assert len(titles) == 3
    assert titles[0].startswith("cycles per PE") and titles[1].startswith("entries per PE")
    assert titles[2].startswith("energy per unit")
    cycles, entries, energy = [axis for axis in figure.axes if axis.get_title()]
    # The stacked busy/stall/idle bars of each PE add up to the front end's cycles (T11).
    heights = np.zeros(spec.num_pes)
    for patch in cycles.patches:
        heights[int(round(patch.get_x() + patch.get_width() / 2))] += patch.get_height()
    assert heights.tolist() == [result.frontend_cycles] * spec.num_pes
    labels = [text.get_text() for text in entries.get_legend().get_texts()]
    assert labels == ["issued", "issued padding", "stored", "stored padding"]
    assert energy.get_xlabel() in ("energy (nJ)", "energy (µJ)", "energy (pJ)")


def test_the_reference_engine_adds_the_queue_occupancy_over_time(small_layer):
    spec = HardwareSpec(num_pes=4, act_queue_depth=4)
    queues = QueueOccupancy()
    result = simulate(small_layer.encode(spec), small_layer.activations, spec,
                      engine="reference", trace=queues)
    matrix = queues.matrix()
    assert matrix.shape[0] == 4 and matrix.shape[1] >= result.frontend_cycles
    assert 0 < matrix.max() <= spec.act_queue_depth
    figure = plot_run(result, occupancy=queues)
    assert _titles(figure)[-1] == "activation queue occupancy (reference engine)"
    image = [axis for axis in figure.axes if axis.images][0].images[0]
    assert np.array_equal(image.get_array(), matrix)


def test_a_network_has_a_row_per_layer_and_the_shares_of_the_total():
    from eiesim.explore.catalog import load_example
    from eiesim.network import simulate_network

    network = load_example("neuraltalk")
    result = simulate_network(network.layers, network.activations, HardwareSpec(),
                              layer_inputs=network.layer_inputs)
    figure = plot_run(result, layer=network)
    titles = _titles(figure)
    assert len(titles) == 3 * 3 + 1
    assert [title.split(":")[0] for title in titles[:9:3]] == ["layer 0", "layer 1", "layer 2"]
    shares = [axis for axis in figure.axes if axis.get_title() == titles[-1]][0]
    cycle_bars = shares.patches[:3]
    assert sum(bar.get_height() for bar in cycle_bars) == pytest.approx(100)
    assert cycle_bars[1].get_height() == pytest.approx(
        100 * result.layers[1].cycles / result.cycles)


def test_energy_is_shown_in_a_unit_that_fits():
    assert energy_unit(6.2e-6) == ("µJ", 1e-6)
    assert energy_unit(36e-9) == ("nJ", 1e-9)
    assert energy_unit(0.5e-12) == ("pJ", 1e-12)
    assert energy_unit(2.0) == ("J", 1.0)


@pytest.mark.slow  # the command line, on the reference engine
def test_run_plot_from_the_command_line(tmp_path):
    figure = tmp_path / "run.png"
    done = subprocess.run([sys.executable, "-m", "eiesim.cli", "run", "--example", "alexnet-fc8",
                           "--pes", "16", "--fit-memories", "--plot", figure],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = subprocess.run([sys.executable, "-m", "eiesim.cli", "run", "--example", "alexnet-fc8",
                          "--plot", tmp_path / "run.txt"], capture_output=True, text=True,
                         timeout=600)
    assert bad.returncode == 2 and "must end in .png" in bad.stderr
    assert not (tmp_path / "run.txt").exists()
