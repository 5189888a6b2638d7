"""The eiesim command, run as a subprocess: exit codes, stdout, stderr, files written."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eiesim.explore import catalog
from eiesim.format.quantized import QuantizedLayer


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eiesim.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def example_json():
    done = run_cli("run", "--example", "alexnet-fc8", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_example_json_has_documented_keys(example_json):
    for key in ("cycles", "time_s", "load_efficiency", "macs", "issued_entries",
                "issued_padding_entries", "stored_entries",
                "broadcasts", "pointer_reads", "spmat_reads", "per_pe_busy_cycles",
                "wall_time_s", "config", "schema_version", "metadata"):
        assert key in example_json, key
    assert len(example_json["per_pe_busy_cycles"]) == 64
    assert example_json["config"]["num_pes"] == 64
    assert example_json["time_s"] == pytest.approx(example_json["cycles"] / 800e6)
    assert 0 < example_json["load_efficiency"] <= 1
    assert example_json["metadata"]["input_checksum"]


def test_example_json_has_energy_and_area(example_json):
    assert 0.45 < example_json["power_w"] < 0.75  # the paper's chip: about 0.59 W
    assert example_json["energy_j"] == pytest.approx(
        example_json["power_w"] * example_json["time_s"])
    breakdown = example_json["energy_breakdown"]
    assert sum(breakdown.values()) == pytest.approx(example_json["energy_j"])
    assert max(breakdown, key=breakdown.get) == "spmat_read"
    assert example_json["area_mm2"] == pytest.approx(40.8, rel=0.02)
    assert example_json["energy_savings_vs_dense"] > 10


def test_user_energy_table_changes_energy(tmp_path, example_json):
    table = tmp_path / "table.toml"
    table.write_text("[scale]\nspmat_read = 2.0\n")
    done = run_cli("run", "--example", "alexnet-fc8", "--json", "--energy-table", str(table))
    assert done.returncode == 0, done.stderr
    scaled = json.loads(done.stdout)
    assert scaled["energy_breakdown"]["spmat_read"] == pytest.approx(
        2 * example_json["energy_breakdown"]["spmat_read"])
    assert scaled["energy_breakdown"]["arith"] == pytest.approx(
        example_json["energy_breakdown"]["arith"])


@pytest.mark.parametrize("text, message", [
    ("[events]\nmacs = -1.0\n", "negative|non-negative|>= 0"),
    ("[events]\nwarp_drive = 1e-12\n", "warp_drive"),
    ("[scale]\nnot_a_unit = 2\n", "not_a_unit"),
    ("[events]\nmacs = 'cheap'\n", "cheap|number"),
])
def test_bad_energy_tables_exit_2(tmp_path, text, message):
    import re

    table = tmp_path / "table.toml"
    table.write_text(text)
    done = run_cli("run", "--example", "alexnet-fc8", "--energy-table", str(table))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert re.search(message, done.stderr), done.stderr


def test_example_macs_match_the_real_layer(example_json):
    data = np.load(catalog.example_path("alexnet-fc8"))
    active = data["activations"] > 0
    expected = int(np.count_nonzero(data["codes"][:, active])) + int(
        np.count_nonzero(data["bias_codes"]))
    assert example_json["macs"] == expected
    assert example_json["broadcasts"] == int(active.sum()) + 1  # + the bias column


def test_table_output_and_saved_outputs(tmp_path):
    out = tmp_path / "out.npy"
    done = run_cli("run", "--example", "alexnet-fc8", "--pes", "32", "--fifo", "4",
                   "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert "cycles" in done.stdout and "load efficiency" in done.stdout
    assert "32 PEs" in done.stdout
    outputs = np.load(out)
    data = np.load(catalog.example_path("alexnet-fc8"))
    reference = np.maximum(data["codebook"][data["codes"]].astype(np.float64)
                           @ data["activations"] + data["codebook"][data["bias_codes"]], 0)
    assert outputs.shape == (1000,)
    assert np.max(np.abs(outputs - reference)) < 0.1


def test_float_weights_file_is_quantized(tmp_path):
    rng = np.random.default_rng(1)
    weights = rng.normal(size=(20, 30)) * (rng.random((20, 30)) < 0.3)
    path = tmp_path / "layer.npz"
    np.savez(path, weights=weights, activations=rng.random(30), bias=rng.normal(size=20))
    done = run_cli("run", str(path), "--pes", "4", "--json", "--arith", "float32")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["metadata"]["quantized_on_load"] is True
    assert payload["config"]["arithmetic"] == "float32"


def test_help_explains_everything():
    top = run_cli("--help")
    assert top.returncode == 0 and "run" in top.stdout
    sub = run_cli("run", "--help")
    assert sub.returncode == 0
    for option in ("--pes", "--fifo", "--index-bits", "--sram-width", "--clock", "--arith",
                   "--json", "--output", "--example", "--engine", "--trace", "--set"):
        assert option in sub.stdout, option


def _text_file(path, text):
    path.write_text(text)
    return path


def _layer_file(tmp_path, name="layer.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: _layer_file(p, codes=np.ones((3, 4), np.uint8), codebook=np.array([0.0, 1.0])),
     "'activations'"),
    (lambda p: _layer_file(p, codes=np.ones((3, 4), np.uint8), codebook=np.array([0.0, 1.0]),
                           activation=np.ones(4)),
     "did you mean 'activations'"),
    (lambda p: _layer_file(p, codes=np.ones((3, 4), np.uint8), codebook=np.array([0.0, 1.0]),
                           activations=np.ones(5)),
     r"shape \(5,\).*\(4,\)"),
    (lambda p: _layer_file(p, weights=np.full((3, 4), np.inf), activations=np.ones(4)),
     r"weights\[0, 0\] = inf is not finite"),
    (lambda p: _layer_file(p, codes=np.ones((3, 4), np.uint8), codebook=np.array([0.0, 1.0]),
                           activations=np.array([1.0, np.nan, 0, 0])),
     "finite"),
    (lambda p: _layer_file(p, codes=np.full((3, 4), 7, np.uint8), codebook=np.array([0.0, 1.0]),
                           activations=np.ones(4)),
     "index 7, outside the codebook"),
    (lambda p: _layer_file(p, codes=np.ones((3, 4), np.uint8), codebook=np.array([0.1, 1.0]),
                           activations=np.ones(4)),
     "reserved for 0"),
    (lambda p: _layer_file(p, activations=np.ones(4)), "neither of 'weights' and 'codes'"),
    (lambda p: p / "missing.npz", "does not exist"),
    (lambda p: _text_file(p / "bad.npz", "not a zip"), "is a text file"),
    (lambda p: _layer_file(p, codes=np.ones((3, 4), np.uint8), codebook=np.array([0.0, 1.0]),
                           activations=np.full(4, 1000.0)),
     "exceeds the fixed16 range"),
])
def test_bad_layer_files_exit_2_without_traceback(tmp_path, make, message):
    path = make(tmp_path)
    out = tmp_path / "out.npy"
    done = run_cli("run", str(path), "--pes", "2", "--output", str(out))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("eiesim: error:")
    assert len(done.stderr.strip().splitlines()) == 1
    import re

    assert re.search(message, done.stderr), done.stderr
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--pes", "0"], r"num_pes = 0 \(--pes\) is below the minimum 1"),
    (["--fifo", "0"], r"act_queue_depth = 0 \(--fifo\) is below the minimum 1"),
    (["--index-bits", "0"], r"rel_index_bits = 0 \(--index-bits\) is below the minimum 1"),
    (["--sram-width", "4"], "narrower than one 8-bit entry"),
    (["--arith", "int7"], "not supported"),
    (["--clock", "fast"], "not a frequency"),
    (["--set", "bogus=3"], "unknown hardware parameter 'bogus'"),
    (["--pes", "1", "--set", "spmat_sram_bytes=1024"], "needs .* entries.*more PEs"),
    (["--trace", "t.json", "--engine", "fast"], "implies --engine reference"),
])
def test_bad_parameters_exit_2(tmp_path, args, message):
    import re

    done = run_cli("run", "--example", "alexnet-fc8", *args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout
    assert "Traceback" not in done.stderr
    assert re.search(message, done.stderr), done.stderr
    assert not (tmp_path / "t.json").exists()


def test_reference_engine_and_trace_from_the_cli(tmp_path):
    rng = np.random.default_rng(5)
    codes = ((rng.random((24, 40)) < 0.3) * rng.integers(1, 16, (24, 40))).astype(np.uint8)
    path = _layer_file(tmp_path, codes=codes, codebook=np.linspace(-1, 1, 16) * (
        np.arange(16) > 0), activations=rng.random(40) * (rng.random(40) < 0.5))
    trace = tmp_path / "trace.json"
    reference = run_cli("run", str(path), "--pes", "4", "--fifo", "2", "--engine", "reference",
                        "--trace", str(trace), "--json")
    fast = run_cli("run", str(path), "--pes", "4", "--fifo", "2", "--json")
    assert reference.returncode == 0 and fast.returncode == 0, reference.stderr + fast.stderr
    ref, fst = json.loads(reference.stdout), json.loads(fast.stdout)
    assert ref["engine"] == "reference" and fst["engine"] == "fast"
    for key in ("cycles", "macs", "per_pe_busy_cycles", "events"):
        assert ref[key] == fst[key], key
    events = json.loads(trace.read_text())["traceEvents"]
    slices = [e for e in events if e.get("ph") == "X" and str(e.get("name", "")).startswith("col")]
    assert sum(e["dur"] for e in slices) == sum(ref["per_pe_busy_cycles"])


def test_compress_then_run(tmp_path):
    rng = np.random.default_rng(2)
    dense = tmp_path / "dense.npz"
    np.savez(dense, weights=rng.normal(size=(32, 48)), bias=rng.normal(size=32) * 0.1,
             activations=rng.random(48))
    layer = tmp_path / "layer.npz"
    done = run_cli("compress", str(dense), "--method", "balanced", "--density", "0.25",
                   "--pes", "4", "-o", str(layer), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["density"] == pytest.approx(0.25, abs=0.01)
    with np.load(layer) as data:
        codes = data["codes"]
    per_pe_column = [np.count_nonzero(codes[p::4], axis=0) for p in range(4)]
    assert np.ptp(np.array(per_pe_column), axis=0).max() <= 1  # balanced across PEs
    ran = run_cli("run", str(layer), "--pes", "4", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["macs"] > 0
    bad = run_cli("compress", str(dense), "--method", "magnitude", "--density", "0",
                  "-o", str(tmp_path / "bad.npz"))
    assert bad.returncode == 2 and "density" in bad.stderr
    assert not (tmp_path / "bad.npz").exists()


def test_network_file_runs_layer_after_layer(tmp_path):
    from eiesim.network import save_network

    rng = np.random.default_rng(4)
    codebook = np.linspace(-0.5, 0.5, 16) * (np.arange(16) > 0)
    shapes = [(24, 40), (10, 24)]
    layers = [QuantizedLayer(((rng.random(s) < 0.4) * rng.integers(1, 16, s)).astype(np.uint8),
                           codebook.astype(np.float32)) for s in shapes]
    path = tmp_path / "net.npz"
    save_network(path, layers, rng.random(40))
    done = run_cli("run", str(path), "--pes", "4", "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["cycles"] == sum(layer["cycles"] for layer in payload["layers"])
    table = run_cli("run", str(path), "--pes", "4")
    assert table.returncode == 0 and "total" in table.stdout.lower()


def test_the_command_skips_numbas_blas_probe_and_nothing_else(tmp_path):
    program = (
        "import sys, contextlib, io\n"
        "from eiesim.cli import _SkipNumbaBlasProbe, main\n"
        "sys.meta_path.insert(0, _SkipNumbaBlasProbe())\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    code = main(['run', '--example', 'alexnet-fc8', '--json'])\n"
        "print(code, 'scipy.linalg' in sys.modules)\n"
        "import scipy.linalg\n"  # once numba has looked, scipy.linalg imports as usual
        "print(scipy.linalg.norm([3.0, 4.0]))\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "False", "5.0"]


def test_float_weights_report_the_error_against_the_users_weights(tmp_path):
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(30, 50)) * (rng.random((30, 50)) < 0.3)
    np.savez(tmp_path / "float.npz", weights=weights, activations=rng.random(50))
    done = run_cli("run", "float.npz", "--pes", "4", "--json", "--output", "out.npy",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["metadata"]["quantized_on_load"] is True
    exact = np.maximum(weights @ np.load(tmp_path / "float.npz")["activations"], 0)
    chip = np.load(tmp_path / "out.npy")
    assert payload["max_abs_error_vs_float_weights"] == pytest.approx(np.abs(chip - exact).max())
    assert payload["max_abs_error_vs_float_weights"] > payload["max_abs_error"]  # sharing costs
    assert 0 < payload["weight_error"]["relative"] < 0.5
    table = run_cli("run", "float.npz", "--pes", "4", cwd=tmp_path)
    assert "vs your weights" in table.stdout and "quantized" in table.stdout


def test_preset_is_the_base_of_the_other_flags(example_json):
    done = run_cli("run", "--example", "alexnet-fc8", "--preset", "authors-model", "--json")
    assert done.returncode == 0, done.stderr
    authors = json.loads(done.stdout)
    assert authors["config"]["act_queue_depth"] == 7
    assert authors["config"]["arith_pipeline_stages"] == 3
    assert authors["config"]["source_regs_hold_whole_input"] is True
    assert authors["end_latency_cycles"] == 2 and example_json["end_latency_cycles"] == 0
    done = run_cli("run", "--example", "alexnet-fc8", "--preset", "authors-model", "--fifo", "3",
                   "--set", "end_of_layer_latency_cycles=0", "--whole-input-regs", "no",
                   "--json")
    assert done.returncode == 0, done.stderr
    changed = json.loads(done.stdout)
    assert changed["config"]["act_queue_depth"] == 3
    assert changed["config"]["arith_pipeline_stages"] == 3  # still the preset's
    assert changed["end_latency_cycles"] == 0
    assert changed["config"]["source_regs_hold_whole_input"] is False


@pytest.mark.parametrize("command", ["run", "sweep", "compress", "search"])
def test_every_command_with_hardware_flags_takes_a_preset(command):
    from eiesim.cli import build_parser
    from eiesim.cli.options import spec_from_args

    needed = {"run": ["--example", "alexnet-fc8"],
              "sweep": ["--example", "alexnet-fc8", "--out", "x.csv"],
              "compress": ["layer.npz", "--method", "magnitude", "--density", "0.1", "-o",
                           "out.npz"],
              "search": ["net.npz", "--data", "d.npz", "--objective", "cycles",
                         "--max-accuracy-drop", "0.01", "-o", "o.npz", "--report", "r.json"],
              }[command]
    argv = [command, *needed, "--preset", "authors-model", "--set", "num_pes=16"]
    spec = spec_from_args(build_parser(argv).parse_args(argv))
    assert (spec.num_pes, spec.end_of_layer_latency_cycles) == (16, 2)


def test_unknown_preset_exits_2_with_the_known_names(tmp_path):
    done = run_cli("run", "--example", "alexnet-fc8", "--preset", "rtl", cwd=tmp_path)
    assert done.returncode == 2 and not done.stdout
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "unknown preset 'rtl'" in done.stderr
    assert "known presets are eie, authors-model" in done.stderr


def test_sweep_axis_of_a_flag_field_under_a_preset(tmp_path):
    import pandas as pd

    out = tmp_path / "sweep.csv"
    done = run_cli("sweep", "--example", "alexnet-fc8", "--preset", "authors-model",
                   "--pes", "32,64", "--whole-input-regs", "true,false", "--out", str(out),
                   "--no-progress")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out).set_index(["pes", "source_regs_hold_whole_input"])
    assert (table["end_latency_cycles"] == 2).all()
    # 128 inputs per PE on 32 PEs: batches and load cycles only without the preset's registers.
    assert table.loc[(32, False), "cycles"] > table.loc[(32, True), "cycles"]
    assert table.loc[(64, False), "cycles"] == table.loc[(64, True), "cycles"]


def test_the_command_loads_cached_kernels_without_numbas_compiler_set_up(tmp_path):
    # The same cycles as the library's own run; numba's linear-algebra implementations (part
    # of the compiler's set-up) never load; a function compiled afterwards (a cache miss)
    # still compiles, with the full set-up and numba's extensions.
    program = (
        "import sys, contextlib, io, json\n"
        "from eiesim.cli import main\n"
        "from eiesim.cli.kernel_loading import LightCachedKernelLoads\n"
        "sys.meta_path.insert(0, LightCachedKernelLoads())\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    code = main(['run', '--example', 'alexnet-fc8', '--json'])\n"
        "from numba.core import entrypoints\n"
        "print(code, json.loads(out.getvalue())['cycles'], 'numba.np.linalg' in sys.modules,\n"
        "      entrypoints._already_initialized)\n"
        "import gc, numba, numpy as np\n"
        "gc.disable()  # as the bounded commands run: compiling turns collection back on\n"
        "total = numba.njit(lambda x: np.sort(x).sum())\n"
        "print(total(np.arange(4.0)), 'numba.np.linalg' in sys.modules,\n"
        "      entrypoints._already_initialized, gc.isenabled())\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    # Numba's extensions wait until something is compiled, then load before it compiles.
    assert done.stdout.split() == ["0", "7894", "False", "False", "6.0", "True", "True", "True"]


def test_run_of_one_layer_imports_only_what_it_uses(tmp_path):
    # Start-up (issue 21): the other commands' modules, the network package, the search,
    # pandas, matplotlib and the TOML reader are not imported to run one layer.
    program = (
        "import sys, contextlib, io\n"
        "from eiesim.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    code = main(['run', '--example', 'alexnet-fc8'])\n"
        "prefixes = ('eiesim.cli.', 'eiesim.network', 'eiesim.search', 'pandas', 'matplotlib',\n"
        "            'tomllib')\n"
        "print(code, *sorted(m for m in sys.modules if m.startswith(prefixes)))\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "eiesim.cli.options", "eiesim.cli.run"]


@pytest.mark.parametrize("command, collects", [("run", False), ("sweep", True)])
def test_only_unbounded_commands_keep_the_garbage_collector(tmp_path, command, collects):
    # The command's own process: `run` ends right after its work and runs without the cyclic
    # collector; a sweep runs as long as its grid takes and keeps it.
    arguments = [command, "--example", "alexnet-fc8"] + (
        ["--pes", "64", "--no-progress", "-o", str(tmp_path / "s.csv")]
        if command == "sweep" else [])
    program = (
        "import gc, os, sys\n"
        f"sys.argv = ['eiesim', *{arguments!r}]\n"
        "end = os._exit\n"
        "def report(code):\n"
        "    print('collector', gc.isenabled(), 'exit', code, file=sys.stderr)\n"
        "    sys.stderr.flush()\n"
        "    end(code)\n"
        "os._exit = report\n"
        "from eiesim.cli import console_main\n"
        "console_main()\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0 and f"collector {collects} exit 0" in done.stderr, done.stderr
