"""``eiesim search`` end to end as a subprocess: files, exit codes, nothing left on failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from eiesim.search.model import load_data, save_model
from eiesim.search.train import init_mlp, train

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "digits_data.npz"


def eiesim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "eiesim.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    data = load_data(DATA)
    model = train(init_mlp([64, 16, 10], seed=0), data.train_inputs, data.train_labels,
                  epochs=15, seed=1)
    return save_model(tmp_path_factory.mktemp("model") / "small.npz", model)


@pytest.mark.slow
def test_search_writes_a_network_that_eiesim_run_reproduces(model_path, tmp_path):
    done = eiesim("search", str(model_path), "--data", str(DATA), "--objective", "energy",
                  "--max-accuracy-drop", "0.03", "--pes", "8", "-o", "net.npz", "--report",
                  "front.csv", "--plot", "front.svg", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # no progress bar when stderr is not a terminal; the files written are announced
    assert done.stderr.splitlines() == [f"eiesim: wrote {name}" for name in
                                        ("net.npz", "front.csv", "front.svg")]
    assert "chosen:" in done.stdout
    front = pd.read_csv(tmp_path / "front.csv")
    chosen = front[front["chosen"]].iloc[0]
    assert chosen["energy_j"] == front[front["meets_bound"]]["energy_j"].min()
    run = eiesim("run", "net.npz", "--pes", "8", "--json", cwd=tmp_path)
    payload = json.loads(run.stdout)
    assert payload["cycles"] == chosen["cycles"]
    assert payload["energy_j"] == pytest.approx(chosen["energy_j"], rel=1e-9)
    assert (tmp_path / "front.svg").read_text().startswith("<?xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["front.csv", "front.svg", "net.npz"]


@pytest.mark.parametrize("change, words", [
    (["--data", "missing.npz"], "missing.npz"),
    (["--max-accuracy-drop", "2"], "max_accuracy_drop = 2.0"),
    (["--plot", "front.gif"], "front.gif"),
    (["--bits", "9"], "weight_index_bits = 9"),
    (["--workers", "0"], "--workers 0"),
    (["-o", "net.txt"], "must end in .npz"),
    (["--report", "front.txt"], "must end in .csv"),
    (["--fifo", "0"], "act_queue_depth = 0"),
    (["--validation-from-train", "0.7"], "(--validation-from-train) = 0.7"),
    (["--margin", "-1"], "margin = -1.0"),
    (["--fine-tune-lr", "0"], "fine_tune_lr = 0.0"),
    (["--fine-tune-epochs", "0"], "long_epochs = 0"),
    (["--fine-tune-batch", "0"], "fine_tune_batch = 0"),
])
def test_bad_input_is_one_line_exit_2_and_no_file(model_path, tmp_path, change, words):
    args = {"--data": str(DATA), "--objective": "cycles", "--max-accuracy-drop": "0.01",
            "-o": "net.npz", "--report": "front.csv"}
    extra = []
    for option, value in zip(change[::2], change[1::2]):
        if option in args:
            args[option] = value
        else:
            extra += [option, value]
    flat = [item for pair in args.items() for item in pair]
    done = eiesim("search", str(model_path), *flat, *extra, "--pes", "8", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], done.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_output_over_an_input_is_refused(model_path, tmp_path):
    copy = tmp_path / "model.npz"
    copy.write_bytes(Path(model_path).read_bytes())
    done = eiesim("search", "model.npz", "--data", str(DATA), "--objective", "cycles",
                  "--max-accuracy-drop", "0.01", "-o", "model.npz", "--report", "f.csv",
                  cwd=tmp_path)
    assert done.returncode == 2 and "is the input file" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]
    assert copy.read_bytes() == Path(model_path).read_bytes()


def test_data_without_a_validation_split_is_refused_unless_asked(model_path, tmp_path):
    from eiesim.search.model import Dataset, save_data

    data = load_data(DATA)
    save_data(tmp_path / "noval.npz", Dataset(data.train_inputs, data.train_labels,
                                              data.test_inputs, data.test_labels))
    done = eiesim("search", str(model_path), "--data", "noval.npz", "--objective", "cycles",
                  "--max-accuracy-drop", "0.01", "-o", "net.npz", "--report", "front.csv",
                  cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--validation-from-train F" in lines[0], done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noval.npz"]
