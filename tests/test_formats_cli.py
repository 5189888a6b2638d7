"""``eiesim formats``: the JSON schema, the text table, networks, the index-bits sweep, the
formulas for a shape, plots, and bad input (one line on stderr, exit 2, nothing written)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from eiesim.cli import main
from eiesim.explore.catalog import load_example
from eiesim.explore.formats import FORMATS, format_table, storage_size
from eiesim.network import save_network
from eiesim.spec import HardwareSpec
from eiesim.testing import random_layer

RECORD_KEYS = {"format", "bits", "value_bits", "index_bits", "pointer_bits", "padding_entries",
               "bits_per_nonzero"}


def run(capsys, *args):
    code = main(["formats", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def network_file(tmp_path):
    layers = [random_layer(seed, out_features=48, in_features=40, density=density, bias=True)
              for seed, density in ((1, 0.05), (2, 0.6))]
    path = tmp_path / "net.npz"
    save_network(path, layers, layer_inputs=[layer.activations for layer in layers])
    return path, layers


def test_json_of_the_real_layer(capsys):
    code, out, _ = run(capsys, "--example", "alexnet-fc8", "--json")
    assert code == 0
    payload = json.loads(out)
    (layer,) = payload["layers"]
    assert (layer["layer"], layer["rows"], layer["columns"]) == (0, 1000, 4096)
    assert [record["format"] for record in layer["formats"]] == list(FORMATS)
    assert all(RECORD_KEYS <= set(record) for record in layer["formats"])
    bits = {record["format"]: record["bits"] for record in layer["formats"]}
    assert layer["best"] == min(bits, key=bits.get)
    fc8 = load_example("alexnet-fc8")
    assert bits["eie"] == storage_size(fc8, "eie").bits
    assert layer["nonzeros"] == int(np.count_nonzero(fc8.codes)) + int(
        np.count_nonzero(fc8.bias_codes))
    assert payload["chip_weight_sram_bits"] == 64 * (128 + 32) * 1024 * 8
    assert "storage-only" in payload["storage_energy"]


def test_network_table_sweep_and_plot(capsys, network_file, tmp_path):
    path, layers = network_file
    plot = tmp_path / "formats.png"
    code, out, err = run(capsys, str(path), "--pes", "4", "--index-bits", "1,2,3",
                         "--simulate", "--plot", str(plot))
    assert code == 0, err
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert "layer 0:" in out and "layer 1:" in out and "best per layer" in out
    assert "eie by index bits: 1:" in out and "storage-only" in out
    assert "eie simulated on the layer's input" in out
    code, out, _ = run(capsys, str(path), "--pes", "4", "--index-bits", "1,2,3", "--json")
    payload = json.loads(out)
    expected = format_table(layers, HardwareSpec(num_pes=4, rel_index_bits=1))
    for k, layer in enumerate(payload["layers"]):
        part = expected[expected["layer"] == k]
        assert [r["bits"] for r in layer["formats"]] == part["bits"].tolist()
        sweep = layer["index_bits_sweep"]
        assert [r["index_bits"] for r in sweep] == [1, 2, 3]
        assert layer["best_index_bits"] == min(sweep, key=lambda r: r["bits"])["index_bits"]
    assert payload["totals"][-1]["format"] == "best per layer"


def test_formulas_for_a_shape(capsys):
    code, out, _ = run(capsys, "--shape", "10000x10000", "--weight-bits", "8",
                       "--densities", "0.01,0.5", "--json")
    assert code == 0
    payload = json.loads(out)
    regions = [region["format"] for region in payload["best_regions"]]
    assert regions[-2:] == ["bitmap", "dense"]
    assert {record["density"] for record in payload["densities"]} == {0.01, 0.5}
    code, out, _ = run(capsys, "--shape", "10000x10000", "--formats", "bitmap,dense")
    # 4-bit values: dense beats a bitmap above 1 - 1/4; no other format is compared
    assert "0.75 .. 1          dense" in out and out.count("bitmap / dense") == 1


@pytest.mark.parametrize("args, message", [
    (["--example", "alexnet-fc8", "--formats", "bitmap,csx"], "format 'csx' does not exist"),
    (["--example", "alexnet-fc8", "--index-bits", "0"], "index bits = 0 is outside 1..16"),
    (["--example", "alexnet-fc8", "--index-bits", "two"], "--index-bits 'two' is not"),
    (["--shape", "100x100", "--densities", "0.5,1.5"], "density 1.5 is outside [0, 1]"),
    (["--shape", "100x100", "--densities", "-1"], "density -1.0 is outside [0, 1]"),
    (["--shape", "100by100"], "--shape '100by100' is not ROWSxCOLUMNS"),
    (["--example", "alexnet-fc8", "--densities", "0.1"], "--densities goes with --shape"),
    (["--example", "alexnet-fc8", "--values", "raw", "--formats", ""], "--formats is empty"),
])
def test_bad_input_is_one_line(capsys, tmp_path, args, message):
    plot = tmp_path / "never.png"
    code, out, err = run(capsys, *args, "--plot", str(plot))
    assert code == 2
    assert err.startswith("eiesim: error: ") and err.count("\n") == 1, err
    assert message in err
    assert out == "" and not plot.exists()


@pytest.mark.slow
def test_command_as_a_subprocess(tmp_path):
    done = subprocess.run([sys.executable, "-m", "eiesim.cli", "formats", "--example",
                           "alexnet-fc8", "--index-bits", "2,3,4"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "<- best" in done.stdout and "eie takes" in done.stdout
    assert "smallest at 3 bits" in done.stdout
    done = subprocess.run([sys.executable, "-m", "eiesim.cli", "formats", "--example",
                           "alexnet-fc8", "--index-bits", "0"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
