"""Bad and unusual input through every command, each run as a subprocess.

Every case checks the exit code, that stderr is one line without a traceback, and that the work
folder is unchanged (every file's size and modification time, and no file added): no command
overwrites an input, leaves a partial file, or writes anything when it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eiesim.explore import catalog

EXAMPLE = str(catalog.example_path("alexnet-fc8"))


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eiesim.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600, env=env)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*")) if path.is_file() or path.is_symlink()}


def assert_clean_failure(done: subprocess.CompletedProcess, folder: Path,
                         before: dict[str, tuple[int, int]], message: str) -> None:
    import re

    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eiesim: error:"), done.stderr
    assert re.search(message, lines[0]), lines[0]
    assert snapshot(folder) == before


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A work folder with a small layer file, a float layer file and a network-free setup."""
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 16, (24, 40)) * (rng.random((24, 40)) < 0.3)
    codebook = np.linspace(-1, 1, 16).astype(np.float32)
    codebook[0] = 0
    np.savez(tmp_path / "layer.npz", codes=codes.astype(np.uint8), codebook=codebook,
             activations=rng.random(40).astype(np.float32))
    np.savez(tmp_path / "float.npz", weights=rng.normal(size=(24, 40)),
             activations=rng.random(40))
    return tmp_path


# --- 1. outputs never destroy inputs ---------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["run", "layer.npz", "--output", "layer.npz"], "--output 'layer.npz' is the input file"),
    (["run", "layer.npz", "--output", "./layer.npz"], "is the input file"),
    (["run", "layer.npz", "--output", "link.npy"], "is the input file"),
    (["run", "layer.npz", "--output", "hard.npy"], "is the input file"),
    (["run", "layer.npz", "--engine", "reference", "--trace", "layer.npz"], "is the input file"),
    (["run", "layer.npz", "--output", "t.toml", "--energy-table", "t.toml"], "is the input"),
    (["run", "layer.npz", "--output", "o.npy", "--engine", "reference", "--trace", "o.npy"],
     "also the destination of --output"),
    (["sweep", "layer.npz", "--pes", "1,2", "--out", "layer.npz"], "is the input file"),
    (["sweep", "layer.npz", "--pes", "1,2", "--out", "link.npy"], "is the input file"),
    (["sweep", "layer.npz", "--pes", "1,2", "--out", "a.csv", "--plot", "layer.npz"],
     "is the input file"),
    (["compress", "float.npz", "--method", "magnitude", "--density", "0.5", "-o", "float.npz"],
     "is the input file"),
])
def test_outputs_never_destroy_inputs(work, args, message):
    (work / "link.npy").symlink_to(work / "layer.npz")
    os.link(work / "layer.npz", work / "hard.npy")
    (work / "t.toml").write_text("[scale]\nspmat_read = 1.0\n")
    before = snapshot(work)
    assert_clean_failure(run_cli(*args, cwd=work), work, before, message)


# --- 2. write exactly what was asked, all or nothing -----------------------------------------
def test_output_written_exactly_to_the_given_name(work):
    done = run_cli("run", "layer.npz", "--output", "result.npz", cwd=work)
    assert done.returncode == 0, done.stderr
    assert not (work / "result.npz.npy").exists()
    saved = np.load(work / "result.npz")  # an .npy payload, under exactly the name asked for
    assert saved.shape == (24,)
    assert "wrote result.npz" in done.stderr
    assert not [p for p in work.iterdir() if ".partial" in p.name]


def test_existing_output_replaced_only_on_success(work):
    target = work / "out.npy"
    target.write_bytes(b"precious")
    before = snapshot(work)
    # --trace with the fast engine asked for explicitly fails before anything is written.
    done = run_cli("run", "layer.npz", "--output", "out.npy", "--trace", "t.json", "--engine",
                   "fast", cwd=work)
    assert_clean_failure(done, work, before, "implies --engine reference")
    assert target.read_bytes() == b"precious"
    # Alone, --trace implies the reference engine, the one that records events.
    done = run_cli("run", "layer.npz", "--output", "out.npy", "--trace", "t.json", "--json",
                   cwd=work)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["engine"] == "reference"
    assert target.read_bytes() != b"precious" and (work / "t.json").exists()


def test_device_destinations(work):
    before = snapshot(work)
    done = run_cli("run", "layer.npz", "--output", "/dev/null", cwd=work)
    assert done.returncode == 0, done.stderr
    assert snapshot(work) == before
    if Path("/dev/full").exists():
        done = run_cli("run", "layer.npz", "--output", "/dev/full", cwd=work)
        assert_clean_failure(done, work, before, "writing failed")
        assert not Path("/dev/full.npy").exists()


def test_fifo_destination_is_written_in_place(work):
    fifo = work / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    done = run_cli("run", "layer.npz", "--output", "pipe", cwd=work)
    data = reader.communicate(timeout=60)[0]
    assert done.returncode == 0, done.stderr
    assert data.startswith(b"\x93NUMPY") and fifo.is_fifo()


# --- 3. check before working ------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["sweep", "layer.npz", "--pes", "1,2", "--out", "no_such_dir/x.csv"],
     "folder 'no_such_dir' does not exist"),
    (["sweep", "layer.npz", "--pes", "1,2", "--out", "."], "is empty|is a directory"),
    (["sweep", "layer.npz", "--pes", "1,2", "--out", "sub"], "is a directory"),
    (["sweep", "layer.npz", "--pes", "1,2", "--out", "a.csv", "--plot", "fig.gif"],
     r"must end in \.png or \.pdf or \.svg"),
    (["sweep", "layer.npz", "--pes", "1,2", "--out", "a.csv", "--plot", "fig.png",
      "--plot-metrics", "cycles,warp"], "unknown metric.*warp"),
    (["run", "layer.npz", "--output", "no_such_dir/o.npy"], "does not exist"),
    (["run", "layer.npz", "--engine", "reference", "--trace", "sub"], "is a directory"),
    (["compress", "float.npz", "--method", "magnitude", "--density", "0.5", "-o",
      "missing/out.npz"], "does not exist"),
])
def test_destinations_checked_before_work(work, args, message):
    (work / "sub").mkdir()
    before = snapshot(work)
    assert_clean_failure(run_cli(*args, cwd=work), work, before, message)


def test_plot_without_matplotlib_fails_before_the_sweep(work):
    blocker = work / "blocker"
    (blocker / "matplotlib").mkdir(parents=True)
    (blocker / "matplotlib" / "__init__.py").write_text("raise ImportError('blocked')\n")
    before = snapshot(work)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(blocker), *filter(None, [os.environ.get("PYTHONPATH")])]))
    done = run_cli("sweep", "layer.npz", "--pes", "1,2", "--out", "a.csv", "--plot", "f.png",
                   cwd=work, env=env)
    assert_clean_failure(done, work, before, r"needs matplotlib.*eiesim\[plot\]")


# --- 4. strict sweeps -----------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--pes", "0"], r"num_pes = 0 \(--pes\) is below the minimum 1"),
    (["--pes", "-1"], r"num_pes = -1 \(--pes\) is below the minimum 1"),
    (["--pes", "4,0"], r"sweep point num_pes=0"),
    (["--fifo", "0"], r"act_queue_depth = 0 \(--fifo\)"),
    (["--arith", "fixed3"], r"'fixed3' \(--arith\) has 3 bits"),
    (["--index-bits", "0"], r"rel_index_bits = 0 \(--index-bits\)"),
    (["--vary", "warp=1,2"], "unknown hardware parameter 'warp'"),
    (["--pes", "1,2", "--set", "spmat_sram_bytes=64"], "none of the 2 points ran"),
    (["--pes", "1,2", "--workers", "0"], "--workers 0 is below the minimum 1"),
])
def test_strict_sweeps(work, args, message):
    before = snapshot(work)
    done = run_cli("sweep", "layer.npz", *args, "--out", "a.csv", cwd=work)
    assert_clean_failure(done, work, before, message)


def test_sweep_input_outside_the_arithmetic_range(work):
    codes = np.ones((4, 3), dtype=np.uint8)
    np.savez(work / "big.npz", codes=codes, codebook=np.array([0, 0.5], np.float32),
             activations=np.array([1.0, 300.0, 0.0]))
    before = snapshot(work)
    done = run_cli("sweep", "big.npz", "--pes", "1,2", "--out", "a.csv", cwd=work)
    assert_clean_failure(done, work, before, r"activation 1 = 300.* fixed16 range")


def test_sweep_runs_what_fits_and_counts_the_rest(work):
    done = run_cli("sweep", "layer.npz", "--pes", "1,8", "--set", "spmat_sram_bytes=128",
                   "--out", "a.csv", cwd=work)
    assert done.returncode == 0, done.stderr
    assert "2 points, 1 ran, 1 did not fit" in done.stdout


# --- 7. one command line ----------------------------------------------------------------------
def test_sweep_takes_set_vary_engine_and_energy_table(work):
    import pandas as pd

    (work / "t.toml").write_text("[scale]\nspmat_read = 2.0\n")
    done = run_cli("sweep", "layer.npz", "--vary", "act_regs_per_file=8,64", "--set",
                   "num_pes=4", "--engine", "reference", "--energy-table", "t.toml",
                   "--out", "a.csv", "--workers", "1", cwd=work)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(work / "a.csv")
    assert table["act_regs_per_file"].tolist() == [8, 64]
    assert table["error"].isna().all()
    plain = run_cli("sweep", "layer.npz", "--vary", "act_regs_per_file=8,64", "--set",
                    "num_pes=4", "--out", "b.csv", "--workers", "1", cwd=work)
    assert plain.returncode == 0, plain.stderr
    baseline = pd.read_csv(work / "b.csv")
    assert table["cycles"].tolist() == baseline["cycles"].tolist()  # engines agree
    np.testing.assert_allclose(table["spmat_read_energy_j"],
                               2 * baseline["spmat_read_energy_j"], rtol=1e-12)


def test_flag_and_set_of_one_field_must_agree(work):
    before = snapshot(work)
    done = run_cli("run", "layer.npz", "--pes", "4", "--set", "num_pes=8", cwd=work)
    assert_clean_failure(done, work, before, "--pes and --set num_pes give different values")


@pytest.mark.parametrize("args, message", [
    (["run", "layer.npz", "--clock", "1e30"], r"clock_hz = 1e\+30 \(--clock\) is above"),
    (["run", "layer.npz", "--pes", "x"], "--pes 'x' is not a whole number"),
    (["run", "layer.npz", "--set", "num_pes"], "expected NAME=VALUE"),
    (["run"], "one of the arguments"),
    (["frobnicate"], "invalid choice"),
    (["compress", "float.npz", "--method", "magnitude", "--density", "0.5", "-o", "c.npz",
      "--pes", "0"], r"num_pes = 0 \(--pes\)"),
])
def test_usage_errors_are_one_line(work, args, message):
    before = snapshot(work)
    assert_clean_failure(run_cli(*args, cwd=work), work, before, message)
