"""Design-space sweeps: points, determinism, local processes, Dask with a dying worker, CLI."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from eiesim import HardwareSpec, SpecError, encode, simulate
from eiesim.errors import EiesimError
from eiesim.explore import workloads
from eiesim.explore.sweep import design_points, sweep


@pytest.fixture(scope="module")
def small_layer():
    return workloads.synthetic_layer("Alex-8", seed=3, scale=0.06)


def test_cartesian_points_in_order():
    points = design_points({"pes": [1, 2], "fifo": [4, 8, 16]})
    assert points[0] == {"num_pes": 1, "act_queue_depth": 4}
    assert points[-1] == {"num_pes": 2, "act_queue_depth": 16}
    assert len(points) == 6


def test_explicit_points_and_bad_axes():
    assert design_points(points=[{"pes": 4, "sram_width": 128}]) == [
        {"num_pes": 4, "spmat_sram_width_bits": 128}]
    with pytest.raises(SpecError, match="unknown hardware parameter 'pez' .did you mean 'pes'"):
        design_points({"pez": [1]})
    with pytest.raises(SpecError, match="has no values"):
        design_points({"pes": []})


def test_rows_match_single_runs(small_layer):
    table = sweep(small_layer, pes=[2, 8], fifo=[1, 8], workers=1, progress=False)
    assert list(table[["pes", "fifo"]].itertuples(index=False, name=None)) == [
        (2, 1), (2, 8), (8, 1), (8, 8)]
    for row in table.itertuples():
        spec = HardwareSpec(num_pes=row.pes, act_queue_depth=row.fifo)
        layer = encode(small_layer.codes, small_layer.codebook, small_layer.bias_codes,
                       spec=spec)
        result = simulate(layer, small_layer.activations, spec)
        assert row.cycles == result.cycles
        assert row.load_efficiency == pytest.approx(result.load_efficiency)
    # More queue depth never hurts; more PEs help on this layer.
    assert table.loc[1, "cycles"] <= table.loc[0, "cycles"]
    assert table.loc[3, "cycles"] < table.loc[1, "cycles"]


def test_local_processes_equal_serial(small_layer):
    kwargs = dict(pes=[1, 4, 16], index_bits=[2, 4], progress=False)
    serial = sweep(small_layer, workers=1, **kwargs)
    parallel = sweep(small_layer, workers=2, **kwargs)
    columns = [c for c in serial.columns if c != "wall_time_s"]
    pd.testing.assert_frame_equal(serial[columns], parallel[columns])


def test_point_that_does_not_fit_reports_error(small_layer):
    base = HardwareSpec(spmat_sram_bytes=512)  # 512 one-byte entries per PE
    table = sweep(small_layer, base, pes=[1, 64], workers=1, progress=False)
    assert "sparse-matrix SRAM holds 512" in table.loc[0, "error"]
    assert np.isnan(table.loc[0, "cycles"])
    assert table.loc[1, "error"] is None and table.loc[1, "cycles"] > 0


def _worker_pids(client):
    return client.run(os.getpid)


@pytest.mark.slow  # starts a local Dask cluster and kills a worker
def test_dask_sweep_survives_a_killed_worker(small_layer):
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None,
                                       silence_logs=40)
    client = distributed.Client(cluster)
    try:
        kwargs = dict(pes=[1, 2, 3, 4, 6, 8], fifo=[1, 2, 4, 8], progress=False)
        result: dict = {}

        def run():
            try:
                result["table"] = sweep(small_layer, client=client, **kwargs)
            except BaseException as error:  # reported by the main thread below
                result["error"] = error

        thread = threading.Thread(target=run)
        thread.start()
        # Kill one worker process as soon as the scheduler has handed out work.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(client.processing().values()):
            time.sleep(0.05)
        pids = _worker_pids(client)
        victim = sorted(pids)[0]
        assert "table" not in result, "the sweep ended before a worker could be killed"
        os.kill(pids[victim], signal.SIGKILL)
        thread.join(timeout=300)
        assert pids[victim] not in _worker_pids(client).values()  # the worker really died
        assert not thread.is_alive()
        assert "error" not in result, repr(result.get("error"))
        table = result["table"]
        assert len(table) == 24 and table["error"].isna().all()
        serial = sweep(small_layer, workers=1, **kwargs)
        assert table["cycles"].tolist() == serial["cycles"].tolist()
    finally:
        client.close()
        cluster.close()


def test_sweep_cli_writes_csv_and_plot(tmp_path, small_layer):
    layer_path = tmp_path / "layer.npz"
    np.savez(layer_path, codes=small_layer.codes, codebook=small_layer.codebook,
             activations=small_layer.activations, bias_codes=small_layer.bias_codes)
    out, plot = tmp_path / "sweep.csv", tmp_path / "sweep.png"
    done = subprocess.run(
        [sys.executable, "-m", "eiesim.cli", "sweep", str(layer_path), "--pes", "1,2,4",
         "--fifo", "1,8", "--out", str(out), "--workers", "1", "--plot", str(plot)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    for column in ("pes", "fifo", "cycles", "load_efficiency", "macs", "error"):
        assert column in table.columns
    assert len(table) == 6
    assert plot.stat().st_size > 1000


def test_sweep_cli_bad_list_exits_2(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "eiesim.cli", "sweep", "--example", "alexnet-fc8", "--pes",
         "1,x", "--out", str(tmp_path / "a.csv")], capture_output=True, text=True)
    assert done.returncode == 2
    assert "comma-separated list" in done.stderr
    assert not (tmp_path / "a.csv").exists()


def test_network_sweep_rows_sum_their_layers():
    from eiesim.explore.workloads import synthetic_layer
    from eiesim.network import NetworkData, simulate_network

    layers = tuple(synthetic_layer(name, seed=0, scale=0.05) for name in ("Alex-7", "Alex-8"))
    network = NetworkData(layers=layers, activations=None, source="two layers",
                          layer_inputs=tuple(layer.activations for layer in layers))
    table = sweep(network, pes=[2, 8], fifo=[1, 8], workers=1, progress=False)
    assert table["error"].isna().all() and len(table) == 4
    for row in table.itertuples():
        spec = HardwareSpec(num_pes=row.pes, act_queue_depth=row.fifo)
        result = simulate_network(layers, None, spec, layer_inputs=network.layer_inputs)
        assert row.cycles == result.cycles == row.layer0_cycles + row.layer1_cycles
        assert row.energy_j == pytest.approx(row.layer0_energy_j + row.layer1_energy_j)
        assert row.edp_js == pytest.approx(result.energy_j * result.time_s)
        assert row.edap_jsm2 == pytest.approx(row.edp_js * row.area_mm2 * 1e-6)
    # The best energy-delay point is one row of the table, found without summing by hand.
    assert table.loc[table["edp_js"].idxmin(), "pes"] in (2, 8)


def test_sweep_table_is_tidy_after_a_csv_round_trip(tmp_path, small_layer):
    base = HardwareSpec(spmat_sram_bytes=512)
    table = sweep(small_layer, base, pes=[1, 64], workers=1, progress=False)
    assert table["error"].isna().tolist() == [False, True]
    assert table["cycles"].dtype.kind == "f" and table["pes"].dtype.kind == "i"
    table.to_csv(tmp_path / "t.csv", index=False)
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["error"].isna().tolist() == [False, True]
    assert back["pes"].dtype.kind == "i" and back["cycles"].dtype.kind == "f"
    assert "edp_js" in table.columns and table.loc[1, "edp_js"] > 0


def test_examples_catalog_from_the_command_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "eiesim.cli", "run", "--list-examples"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    for name in ("alexnet-fc8", "alex-6", "vgg-8", "nt-lstm", "alexnet-fc", "neuraltalk"):
        assert name in done.stdout
    assert "8791 x 600" in done.stdout  # NT-Wd's shape
    done = subprocess.run([sys.executable, "-m", "eiesim.cli", "run", "--example", "nt-we",
                           "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    import json

    payload = json.loads(done.stdout)
    assert payload["shape"] == {"out": 600, "in": 4096}
    out = tmp_path / "net.csv"
    done = subprocess.run([sys.executable, "-m", "eiesim.cli", "sweep", "--example",
                           "neuraltalk", "--fifo", "2,8", "--out", str(out), "--workers", "1"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    assert {"edp_js", "edap_jsm2", "layer2_cycles"} <= set(table.columns)
    assert (table["cycles"] == table[[f"layer{k}_cycles" for k in range(3)]].sum(axis=1)).all()


def test_points_sharing_an_encoding_check_their_own_memories(small_layer):
    # One encoding (same PEs and index bits) serves both points; only the larger SRAM fits.
    table = sweep(small_layer, HardwareSpec(num_pes=1), spmat_sram_bytes=[64, 1 << 17],
                  workers=1, progress=False)
    assert "sparse-matrix SRAM" in table.loc[0, "error"] and np.isnan(table.loc[0, "cycles"])
    assert table.loc[1, "error"] is None
    spec = HardwareSpec(num_pes=1, spmat_sram_bytes=1 << 17)
    alone = simulate(encode(small_layer, spec=spec), small_layer.activations, spec)
    assert table.loc[1, "cycles"] == alone.cycles


def test_named_workloads_compare_in_one_table():
    from eiesim.compress import prune_weights, quantize_weights
    from eiesim.network import NetworkData

    rng = np.random.default_rng(3)
    weights = [rng.normal(size=(10, 40)), rng.normal(size=(40, 10))[:10]]
    inputs = (rng.uniform(0, 1, 40), rng.uniform(0, 1, 10))
    networks = {}
    for method in ("magnitude", "balanced"):
        layers = tuple(quantize_weights(prune_weights(w, 0.3, method=method, num_pes=4), bits=4)
                       for w in weights)
        networks[method] = NetworkData(layers, None, method, layer_inputs=inputs)
    table = sweep(networks, pes=[4], fifo=[2, 8], workers=1, progress=False)
    assert table["workload"].tolist() == ["magnitude", "magnitude", "balanced", "balanced"]
    alone = sweep(networks["balanced"], pes=[4], fifo=[2, 8], workers=1, progress=False)
    assert table["cycles"].tolist()[2:] == alone["cycles"].tolist()


# --- streamed, resumable sweeps (eiesim.explore.sweep_file) ---------------------------------------
def _cells(path, drop=("wall_time_s",)):
    """A CSV file's rows as lists of cells, without the columns that measure this machine."""
    import csv

    with open(path, newline="") as stream:
        rows = list(csv.reader(stream))
    keep = [index for index, name in enumerate(rows[0]) if name not in drop]
    return [[row[index] for index in keep] for row in rows]


def test_sweep_to_file_matches_the_in_memory_sweep(tmp_path, small_layer):
    from eiesim.explore.sweep_file import sweep_to_file

    out = tmp_path / "s.csv"
    base = HardwareSpec(spmat_sram_bytes=512)
    summary = sweep_to_file(small_layer, out, base, pes=[64, 1], fifo=[2, 8], workers=1,
                            progress=False)
    table = sweep(small_layer, base, pes=[64, 1], fifo=[2, 8], workers=1, progress=False)
    back = pd.read_csv(out)
    assert list(back.columns) == list(table.columns)
    assert back[["pes", "fifo"]].values.tolist() == [[64, 2], [64, 8], [1, 2], [1, 8]]
    assert back["cycles"].tolist()[:2] == table["cycles"].tolist()[:2]
    assert back["error"].notna().tolist() == [False, False, True, True]
    assert (summary.points, summary.ran, summary.failed) == (4, 2, 2)
    best = table.loc[table["cycles"].idxmin()]  # the first point of the lowest cycles
    assert summary.best["cycles"] == (best["cycles"], {"pes": str(best["pes"]),
                                                       "fifo": str(best["fifo"])})
    meta = json.loads((tmp_path / "s.meta.json").read_text())
    assert meta["settings"] == {"spmat_sram_bytes": 512}
    assert meta["input_checksum"] and meta["axes"] == {"pes": [64, 1], "fifo": [2, 8]}
    assert not (tmp_path / "s.csv.partial").exists()


@pytest.mark.parametrize("cut", [0.3, 0.77])
def test_resume_after_a_crash_mid_row_gives_the_uninterrupted_file(tmp_path, small_layer, cut):
    from eiesim.explore.sweep_file import StreamingSweep, sweep_to_file

    kwargs = dict(pes=[2, 4, 8], fifo=[1, 2, 4, 8], workers=1, progress=False)
    sweep_to_file(small_layer, tmp_path / "whole.csv", **kwargs)
    # A crash: the partial file holds some rows, the last one cut short mid-line.
    crashed = StreamingSweep(small_layer, tmp_path / "r.csv",
                             axes={"pes": [2, 4, 8], "fifo": [1, 2, 4, 8]})
    crashed.run()
    partial = tmp_path / "r.csv.partial"
    data = partial.read_bytes()
    header_end = data.index(b"\n", data.index(b"\n") + 1) + 1
    partial.write_bytes(data[:header_end + int((len(data) - header_end) * cut)])
    assert not partial.read_bytes().endswith(b"\n")
    with pytest.raises(EiesimError, match="add --resume"):
        sweep_to_file(small_layer, tmp_path / "r.csv", **kwargs)
    summary = sweep_to_file(small_layer, tmp_path / "r.csv", resume=True, **kwargs)
    assert 0 < summary.resumed < 12
    assert _cells(tmp_path / "r.csv") == _cells(tmp_path / "whole.csv")
    assert not partial.exists()


def test_resume_refuses_another_input_or_settings_and_extends_a_grid(tmp_path, small_layer):
    from eiesim.explore.sweep_file import sweep_to_file

    out = tmp_path / "g.csv"
    sweep_to_file(small_layer, out, pes=[2, 4], workers=1, progress=False)
    other = workloads.synthetic_layer("Alex-8", seed=4, scale=0.06)
    with pytest.raises(EiesimError, match="input_checksum"):
        sweep_to_file(other, out, pes=[2, 4, 8], resume=True, workers=1, progress=False)
    with pytest.raises(EiesimError, match="act_queue_depth 8 there, 2 now"):
        sweep_to_file(small_layer, out, HardwareSpec(act_queue_depth=2), pes=[2, 4, 8],
                      resume=True, workers=1, progress=False)
    with pytest.raises(EiesimError, match="not a point of this sweep"):
        sweep_to_file(small_layer, out, pes=[4, 8], resume=True, workers=1, progress=False)
    summary = sweep_to_file(small_layer, out, pes=[2, 4, 8], resume=True, workers=1,
                            progress=False)
    assert (summary.resumed, summary.points) == (2, 3)
    sweep_to_file(small_layer, tmp_path / "fresh.csv", pes=[2, 4, 8], workers=1,
                  progress=False)
    assert _cells(out) == _cells(tmp_path / "fresh.csv")


def test_a_single_value_or_a_repeated_value_where_a_list_belongs_is_refused(small_layer):
    with pytest.raises(SpecError, match=r"pes=4 is a single value; give a list.*pes=\[4\]"):
        sweep(small_layer, pes=4, workers=1, progress=False)
    with pytest.raises(SpecError, match="single value"):
        sweep(small_layer, arith="fixed16", workers=1, progress=False)
    with pytest.raises(SpecError, match="lists 4 twice"):
        sweep(small_layer, pes=[4, 2, 4], workers=1, progress=False)
    with pytest.raises(SpecError, match="both set num_pes"):
        sweep(small_layer, pes=[4], num_pes=[2], workers=1, progress=False)


def _pow_after(shared, task):
    return shared ** task


@pytest.mark.parametrize("workers", [1, 2])
def test_the_executor_never_holds_more_than_max_pending_batches(workers):
    from eiesim.explore.executor import iter_batches

    taken = []

    def batches():
        for index in range(60):
            taken.append(index)
            yield index, [index, index + 1]

    seen = []
    for key, results in iter_batches(_pow_after, batches(), shared=2, workers=workers,
                                     max_pending=3):
        seen.append(key)
        assert results == [2 ** key, 2 ** (key + 1)]
        # Only batches already yielded or in flight have been taken from the generator.
        assert len(taken) - len(seen) <= 3
    assert sorted(seen) == list(range(60))


def _layer_file(tmp_path, layer):
    path = tmp_path / "layer.npz"
    np.savez(path, codes=layer.codes, codebook=layer.codebook,
             activations=layer.activations, bias_codes=layer.bias_codes)
    return path


def _eiesim(*arguments, **kwargs):
    return subprocess.run([sys.executable, "-m", "eiesim.cli", *map(str, arguments)],
                          capture_output=True, text=True, timeout=600, **kwargs)


@pytest.mark.slow  # several command-line runs
def test_sweep_cli_refuses_before_any_work(tmp_path, small_layer):
    layer = _layer_file(tmp_path, small_layer)
    out = tmp_path / "o.csv"
    many = ",".join(str(value) for value in range(1, 502))
    cases = [
        (["--pes", "2,4", "--scheduler", "bogus"], "not a Dask scheduler address"),
        (["--pes", "2,4", "--scheduler", "http://127.0.0.1:8787"], "web address"),
        (["--pes", "2,4", "--plot", tmp_path / "p.png", "--plot-metrics", "layer9_cycles"],
         "unknown metric(s) layer9_cycles for this layer"),
        (["--pes", "2,4", "--set", "num_pes=4"], "--set num_pes=4 and the axis --pes"),
        (["--pes", "2,4,2"], "--pes lists 2 twice"),
        (["--fifo", many, "--vary", f"act_regs_per_file={many}"], "add --yes"),
        (["--pes", "2,4", "--plot", tmp_path / "p.png", "--plot-x", "fifo"],
         "--plot-x 'fifo' is not a swept axis"),
    ]
    for options, message in cases:
        # one local worker, unless the case names a scheduler (the two exclude each other)
        workers = [] if "--scheduler" in options else ["--workers", "1"]
        done = _eiesim("sweep", layer, "-o", out, *workers, *options)
        assert done.returncode == 2, (options, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert sorted(path.name for path in tmp_path.iterdir()) == ["layer.npz"]


@pytest.mark.slow  # two sweeps of the real layer on two worker processes
def test_ctrl_c_on_a_two_worker_sweep_stops_its_workers_and_resumes(tmp_path):
    psutil = pytest.importorskip("psutil")
    clocks = ",".join(f"{100 + index}M" for index in range(400))
    arguments = ["sweep", "--example", "alexnet-fc8", "--pes", "32,64", "--clock", clocks,
                 "--workers", "2", "--no-progress"]
    partial = tmp_path / "cut.csv.partial"
    process = subprocess.Popen([sys.executable, "-m", "eiesim.cli", *arguments, "-o",
                                tmp_path / "cut.csv"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    workers = {}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        # The pool starts its workers as batches arrive: collect every child seen.
        workers |= {child.pid: child for child in psutil.Process(process.pid).children()}
        if partial.exists() and partial.read_text().count("\n") > 60 and len(workers) == 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the sweep ended before it could be interrupted"
    workers = list(workers.values())
    assert len(workers) == 2
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    psutil.wait_procs(workers, timeout=30)
    assert not [worker for worker in workers if worker.is_running()
                and worker.status() != psutil.STATUS_ZOMBIE]
    assert not (tmp_path / "cut.csv").exists()
    rows = partial.read_text().count("\n") - 2
    assert 0 < rows < 800
    done = _eiesim(*arguments, "-o", tmp_path / "cut.csv", "--resume")
    assert done.returncode == 0, done.stderr
    whole = _eiesim(*arguments, "-o", tmp_path / "whole.csv")
    assert whole.returncode == 0, whole.stderr
    assert "800 points; estimated" in whole.stderr and "best cycles" in whole.stdout
    assert _cells(tmp_path / "cut.csv") == _cells(tmp_path / "whole.csv")
    assert not partial.exists()


@pytest.mark.slow  # starts a Dask cluster in this process
def test_a_streamed_sweep_on_dask_writes_the_same_file(tmp_path, small_layer):
    distributed = pytest.importorskip("dask.distributed")
    from eiesim.explore.sweep_file import sweep_to_file

    kwargs = dict(pes=[2, 4, 8], fifo=[1, 2, 8], progress=False)
    sweep_to_file(small_layer, tmp_path / "serial.csv", workers=1, **kwargs)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        summary = sweep_to_file(small_layer, tmp_path / "dask.csv", client=client, **kwargs)
    assert summary.ran == 9
    assert _cells(tmp_path / "dask.csv") == _cells(tmp_path / "serial.csv")
