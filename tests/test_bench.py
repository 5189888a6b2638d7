"""The benchmark harness (``benchmarks/``): quick mode end to end (files, columns, sane
values) and its helpers.

Performance itself is measured by the harness, never asserted here: no test below depends on
how fast anything ran.
"""

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import eiesim
from benchmarks import config as bench_config
from benchmarks.baselines import dense_accelerator_cycles
from benchmarks.suite import fitting_spec
from eiesim.errors import CapacityError
from eiesim.explore import workloads

ROOT = Path(__file__).resolve().parent.parent
PAPER_NAMES = [layer.name for layer in workloads.PAPER_LAYERS]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--quiet",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out / "bench-quick.csv")
    payload = json.loads((out / "bench-quick.json").read_text())
    return out, done, table, payload


@pytest.mark.slow  # one quick suite run (~20 s) shared by these tests
def test_quick_run_writes_csv_json_png_and_prints_the_table(quick_run):
    out, done, _, _ = quick_run
    assert sorted(path.name for path in out.iterdir()) == [
        "bench-quick.csv", "bench-quick.json", "bench-quick.png"]
    assert (out / "bench-quick.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "geometric means" in done.stdout
    assert "Alex-8 (real)" in done.stdout
    assert "cli_example_s" in done.stdout
    assert "sweep throughput" in done.stdout and "points/min" in done.stdout
    assert "CLI start-up, eiesim --help" in done.stdout


@pytest.mark.slow
def test_table_has_every_layer_once(quick_run):
    _, _, table, payload = quick_run
    assert sorted(table["layer"]) == sorted(PAPER_NAMES + [bench_config.REAL_LAYER])
    assert list(table.loc[table["in_geomean"], "layer"]) == PAPER_NAMES
    assert payload["summary"]["geomean_over"] == PAPER_NAMES
    assert len(payload["rows"]) == len(table)


REQUIRED_COLUMNS = [
    "layer", "kind", "in_geomean", "out_features", "in_features", "spec_changes", "cycles",
    "eie_time_us", "load_efficiency", "dense_acc_cycles", "dense_acc_time_us", "cpu_dense_us",
    "cpu_sparse_us", "cpu_dense_b64_us", "paper_cpu_dense_us", "paper_cpu_sparse_us",
    "paper_gpu_dense_us", "paper_gpu_sparse_us", "paper_eie_us", "sim_wall_ms",
    "sim_cycles_per_s", "simulate_call_ms", "ref_wall_s", "ref_cycles_per_s", "encode_ms",
    "encode_elems_per_s", "energy_uj", "power_w", "dense_acc_energy_uj",
    *bench_config.SPEEDUP_COLUMNS]


@pytest.mark.slow
def test_columns_exist(quick_run):
    _, _, table, _ = quick_run
    missing = [column for column in REQUIRED_COLUMNS if column not in table]
    assert not missing


@pytest.mark.slow
def test_values_are_sane(quick_run):
    _, _, table, _ = quick_run
    assert (table["cycles"] > 0).all()
    assert np.allclose(table["eie_time_us"], table["cycles"] / 800e6 * 1e6)
    assert ((table["load_efficiency"] > 0) & (table["load_efficiency"] <= 1)).all()
    expected = [math.ceil(out / 64) * inp
                for out, inp in zip(table["out_features"], table["in_features"])]
    assert table["dense_acc_cycles"].tolist() == expected
    for column in ("cpu_dense_us", "cpu_sparse_us", "cpu_dense_b64_us", "sim_wall_ms",
                   "sim_cycles_per_s", "encode_elems_per_s"):
        assert (np.isfinite(table[column]) & (table[column] > 0)).all(), column
    for column in bench_config.SPEEDUP_COLUMNS:
        assert (np.isfinite(table[column]) & (table[column] > 0)).all(), column
    # The real layer is never scaled: the shipped AlexNet fc8.
    real = table[table["layer"] == bench_config.REAL_LAYER].iloc[0]
    assert (real["out_features"], real["in_features"]) == (1000, 4096)
    # The paper's numbers are copied, not recomputed.
    for paper in workloads.PAPER_LAYERS:
        row = table[table["layer"] == paper.name].iloc[0]
        assert row["paper_cpu_dense_us"] == paper.cpu_dense_us
        assert row["paper_eie_us"] == paper.eie_actual_us


@pytest.mark.slow
def test_reference_engine_ran_and_agreed(quick_run):
    _, _, table, payload = quick_run
    assert payload["config"]["reference_layers"]
    for name in payload["config"]["reference_layers"]:
        row = table[table["layer"] == name].iloc[0]
        assert pd.isna(row["ref_error"]) or row["ref_error"] == "", row["ref_error"]
        assert row["ref_wall_s"] > 0, row.to_dict()
        assert str(row["ref_agrees"]) == "True", row.to_dict()
    others = table[~table["layer"].isin(payload["config"]["reference_layers"])]
    assert others["ref_wall_s"].isna().all()


@pytest.mark.slow
def test_geometric_means_are_those_of_the_columns(quick_run):
    _, _, table, payload = quick_run
    rows = table[table["in_geomean"]]
    geomeans = payload["summary"]["geomeans"]
    for column in bench_config.SPEEDUP_COLUMNS:
        values = rows[column].tolist()
        expected = math.prod(values) ** (1 / len(values))
        assert geomeans[column] == pytest.approx(expected, rel=1e-9), column


@pytest.mark.slow
def test_json_records_machine_config_and_targets(quick_run):
    _, _, _, payload = quick_run
    assert payload["schema_version"] == bench_config.SCHEMA_VERSION
    assert payload["command"].startswith("python -m benchmarks ")
    assert "--quick" in payload["command"]
    machine = payload["machine"]
    for key in ("cpu_model", "logical_cores", "numpy", "numba", "eiesim", "date_utc",
                "python", "git_revision"):
        assert machine[key], key
    assert payload["config"]["quick"] is True and payload["config"]["scale"] == 1 / 16
    targets = {target["name"]: target for target in payload["summary"]["targets"]}
    assert set(targets) == set(bench_config.TARGETS)
    # Targets defined at the paper's sizes (or the full sweep grid): not judged in quick mode.
    for name in bench_config.FULL_SIZE_ONLY:
        assert targets[name]["met"] is None
    for name in ("fast_engine_alexnet_fc8_ms", "cli_example_s", "cli_help_s"):
        target = targets[name]
        assert target["measured"] > 0
        assert target["met"] == (target["measured"] < target["limit"])
        assert 0 < target["best_run"] <= target["measured"]  # the fastest run vs the median
    assert payload["machine"]["date_utc"].startswith("20")
    memory = payload["summary"]["encode_memory"]
    assert memory["layer"] == "VGG-6"
    assert memory["tracemalloc_peak_bytes"] > 0
    assert memory["peak_rss_bytes"] >= memory["rss_before_bytes"] > 0


@pytest.mark.slow
def test_json_records_cli_startup_and_sweep_throughput(quick_run):
    _, _, _, payload = quick_run
    startup = payload["summary"]["cli_startup"]
    assert startup["help"]["command"].endswith("--help")
    assert startup["run_example"]["command"].endswith("run --example alexnet-fc8")
    assert startup["imports"]["command"].endswith("import numpy, numba")
    assert startup["bytecode"]["compiled"] and startup["bytecode"]["package"].endswith("eiesim")
    ratio = {target["name"]: target for target in payload["summary"]["targets"]}[
        "cli_example_vs_imports"]
    assert ratio["measured"] == pytest.approx(startup["run_example"]["median_s"]
                                              / startup["imports"]["median_s"])
    assert ratio["met"] == (ratio["measured"] < ratio["limit"])
    for measured in (startup[name] for name in ("help", "run_example", "imports")):
        assert "error" not in measured, measured
        assert measured["runs"] == payload["config"]["cli_runs"]
        assert 0 < measured["min_s"] <= measured["median_s"] <= measured["max_s"]
    sweep = payload["summary"]["sweep"]
    assert sweep["layer"] == "alexnet-fc8" and sweep["workers"] == 2
    assert sweep["points"] == math.prod(len(v) for v in payload["config"]["sweep_axes"].values())
    assert sweep["points_with_error"] == 0
    assert sweep["runs"] == payload["config"]["sweep_runs"]
    assert sweep["points_per_min"] == pytest.approx(sweep["points"] / sweep["median_s"] * 60)


def test_full_sweep_grid_has_at_least_256_points():
    assert bench_config.BenchConfig.full().sweep_points >= 256
    assert bench_config.BenchConfig.full().sweep_workers == 2


def test_run_is_an_alias_of_the_package_command():
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "--quick" in done.stdout and "python -m benchmarks.run" in done.stdout


def test_the_package_runs_no_subprocess_and_reads_no_proc():
    """Process timing and /proc parsing belong to the harness, not to the simulator package."""
    imports_subprocess = re.compile(r"^\s*(import|from)\s+subprocess\b", re.MULTILINE)
    opens_proc = re.compile(r"[\'\"]/proc/")
    for path in (ROOT / "eiesim").rglob("*.py"):
        text = path.read_text()
        assert not imports_subprocess.search(text), path
        assert not opens_proc.search(text), path


# --- helpers ---------------------------------------------------------------------------------


def test_geomean():
    assert bench_config.geomean([1.0, 100.0]) == pytest.approx(10.0)
    assert bench_config.geomean([3.0]) == pytest.approx(3.0)
    for bad in ([], [1.0, 0.0], [2.0, -1.0], [1.0, math.nan], [math.inf]):
        assert math.isnan(bench_config.geomean(bad)), bad


def test_dense_accelerator_cycles():
    assert dense_accelerator_cycles(1000, 4096, 64) == 16 * 4096
    assert dense_accelerator_cycles(64, 10, 64) == 10
    assert dense_accelerator_cycles(65, 10, 64) == 20


def _encoded(out_features, in_features):
    codes = np.ones((out_features, in_features), dtype=np.uint8)
    # Encoded for the default design point, whose memories it may exceed (fitted below).
    return eiesim.encode(codes, np.array([0.0, 1.0], dtype=np.float32), check_capacity=False)


def test_fitting_spec_leaves_a_fitting_layer_alone():
    spec, note = fitting_spec(_encoded(64, 100), eiesim.DEFAULT_SPEC)
    assert spec == eiesim.DEFAULT_SPEC and note == "none"


def test_fitting_spec_enlarges_the_pointer_sram_for_many_columns():
    layer = _encoded(64, 20_000)  # 20 001 pointers > 16 384; 20 000 entries per PE fit 16 bits
    with pytest.raises(CapacityError):
        layer.check_fits(eiesim.DEFAULT_SPEC)
    spec, note = fitting_spec(layer, eiesim.DEFAULT_SPEC)
    assert spec.pointer_bits == 16 and spec.ptr_sram_bytes == 65536
    assert spec.replace(ptr_sram_bytes=65536, pointer_bits=16) == spec
    assert note == "ptr_sram_bytes 32768->65536"
    layer.check_fits(spec)


def test_fitting_spec_widens_pointers_for_many_entries():
    layer = _encoded(128, 35_000)  # 2 rows per PE: 70 000 entries per PE > 65 535
    spec, note = fitting_spec(layer, eiesim.DEFAULT_SPEC)
    assert spec.pointer_bits == 17
    assert spec.ptr_sram_bytes == 131072  # 35 001 x 17 bits = 74 378 B -> next power of two
    assert note == "pointer_bits 16->17, ptr_sram_bytes 32768->131072"
    assert {k: v for k, v in spec.to_dict().items() if eiesim.DEFAULT_SPEC.to_dict()[k] != v} \
        == {"pointer_bits": 17, "ptr_sram_bytes": 131072}
    layer.check_fits(spec)
