"""The hostile audit of the newer surfaces (outputs through links and devices, read-only files,
model, data, network and energy-table files, resource limits, seeds), each case as a subprocess
through a real command, or as a Python API call raising EiesimError.

A failing command must exit with 2, print one line on stderr without a traceback, and leave
every file as it was: its content, its modification time, and a link stays a link.
"""

from __future__ import annotations

import io as bytes_io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from eiesim.errors import EiesimError

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "digits_data.npz"
SEARCH = ("--objective", "cycles", "--max-accuracy-drop", "0.5", "--pes", "4", "--workers", "1",
          "--method", "magnitude", "--no-progress")


def run_cli(*args: str, cwd: Path, stdout: object = subprocess.PIPE
            ) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-m", "eiesim.cli", *args], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, cwd=cwd, timeout=600, env=env)


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder``: a link's text, a file's bytes and modification time."""
    entries: dict[str, tuple] = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_symlink():
            entries[name] = ("link", os.readlink(path))
        elif path.is_file():
            entries[name] = ("file", path.read_bytes(), path.stat().st_mtime_ns)
    return entries


def assert_clean_failure(done: subprocess.CompletedProcess, folder: Path, before: dict,
                         message: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eiesim: error:"), done.stderr
    assert re.search(message, lines[0]), lines[0]
    assert snapshot(folder) == before


def fails_cleanly(folder: Path, message: str, *args: str) -> None:
    before = snapshot(folder)
    assert_clean_failure(run_cli(*args, cwd=folder), folder, before, message)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """A read-only store of inputs; each test copies what it needs into its own folder."""
    from eiesim.search.model import Dataset, load_data, save_data, save_model
    from eiesim.search.train import init_mlp, train

    store = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 16, (24, 40)) * (rng.random((24, 40)) < 0.3)
    codebook = np.linspace(-1, 1, 16).astype(np.float32)
    codebook[0] = 0
    np.savez(store / "layer.npz", codes=codes.astype(np.uint8), codebook=codebook,
             activations=rng.random(40).astype(np.float32))
    np.savez(store / "float.npz", weights=rng.normal(size=(24, 40)), activations=rng.random(40))
    digits = load_data(DATA)
    small = Dataset(digits.train_inputs[:200], digits.train_labels[:200],
                    digits.test_inputs[:100], digits.test_labels[:100],
                    val_inputs=digits.val_inputs[:100], val_labels=digits.val_labels[:100])
    save_data(store / "data.npz", small)
    model = train(init_mlp([64, 8, 10], seed=0), small.train_inputs, small.train_labels,
                  epochs=3, seed=1)
    save_model(store / "model.npz", model)
    return store


def copy_inputs(files: Path, folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_bytes((files / name).read_bytes())


def arrays_of(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def header_only_npz(path: Path, name: str, shape: tuple[int, ...], extra: dict | None = None
                    ) -> None:
    """An intact-looking .npz whose array ``name`` claims ``shape`` in its header (the data is
    never reached: too-large arrays are refused from the header)."""
    from numpy.lib import format as npy_format

    header = bytes_io.BytesIO()
    npy_format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                               "shape": shape})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}.npy", header.getvalue() + bytes(64))
        for other, values in (extra or {}).items():
            buffer = bytes_io.BytesIO()
            np.save(buffer, values)
            archive.writestr(f"{other}.npy", buffer.getvalue())


# --- 1. symlinked outputs are written through; the link stays a link ------------------------
@pytest.mark.parametrize("command", ["run", "sweep", "compress", "search"])
def test_a_symlink_output_is_written_through(files, tmp_path, command):
    copy_inputs(files, tmp_path, "layer.npz", "float.npz", "model.npz", "data.npz")
    (tmp_path / "results").mkdir()
    suffix = {"run": ".npy", "sweep": ".csv", "compress": ".npz", "search": ".npz"}[command]
    target = tmp_path / "results" / f"real{suffix}"
    target.write_bytes(b"old results")
    link = tmp_path / f"link{suffix}"
    link.symlink_to(Path("results") / target.name)
    args = {"run": ["run", "layer.npz", "--output", link.name],
            "sweep": ["sweep", "layer.npz", "--pes", "1,2", "--out", link.name, "--no-progress"],
            "compress": ["compress", "float.npz", "--method", "magnitude", "--density", "0.5",
                         "-o", link.name],
            "search": ["search", "model.npz", "--data", "data.npz", *SEARCH, "-o", link.name,
                       "--report", "front.csv"]}[command]
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and os.readlink(link) == str(Path("results") / target.name)
    assert target.read_bytes() != b"old results" and target.stat().st_size > 20
    leftovers = [p.name for p in tmp_path.rglob("*") if ".partial" in p.name
                 or p.name.endswith(".replaced")]
    assert leftovers == []


def test_dev_stdout_stays_a_link_and_gets_the_table_then_the_summary(files, tmp_path):
    copy_inputs(files, tmp_path, "layer.npz")
    was_link = os.path.islink("/dev/stdout")
    with open(tmp_path / "captured.txt", "w") as captured:
        done = run_cli("sweep", "layer.npz", "--pes", "1,2", "--out", "/dev/stdout",
                       "--no-progress", cwd=tmp_path, stdout=captured)
    assert done.returncode == 0, done.stderr
    assert os.path.islink("/dev/stdout") == was_link
    lines = (tmp_path / "captured.txt").read_text().splitlines()
    assert lines[0].startswith("pes,cycles")
    # the table (header and two rows), then the summary: the count and the best point per metric
    assert lines[3].startswith("eiesim sweep: 2 points")
    assert all(line.startswith("  best ") for line in lines[4:]) and len(lines) > 4


# --- 2. all outputs or none: a failing device leaves every regular output untouched ----------
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", [
    ["run", "layer.npz", "--output", "kept.npy", "--engine", "reference", "--trace",
     "/dev/full"],
    ["run", "layer.npz", "--output", "/dev/full", "--engine", "reference", "--trace",
     "kept.json"],
    ["sweep", "layer.npz", "--pes", "1,2", "--out", "kept.csv", "--plot", "/dev/full",
     "--no-progress"],
    ["compress", "float.npz", "--method", "magnitude", "--density", "0.5", "-o", "/dev/full"],
    ["search", "model.npz", "--data", "data.npz", *SEARCH, "-o", "kept.npz", "--report",
     "/dev/full"],
])
def test_a_failing_device_replaces_no_file(files, tmp_path, args):
    copy_inputs(files, tmp_path, "layer.npz", "float.npz", "model.npz", "data.npz")
    for name in ("kept.npy", "kept.json", "kept.csv", "kept.npz"):
        (tmp_path / name).write_bytes(b"earlier results")
    if "--plot" in args:
        pytest.importorskip("matplotlib")
    fails_cleanly(tmp_path, r"'/dev/full': writing failed \(No space left on device\)", *args)


# --- 3. read-only outputs are refused before any work ----------------------------------------
@pytest.mark.parametrize("args", [
    ["run", "layer.npz", "--output", "ro.npy"],
    ["sweep", "layer.npz", "--pes", "1,2", "--out", "ro.csv"],
    ["compress", "float.npz", "--method", "magnitude", "--density", "0.5", "-o", "ro.npz"],
    ["search", "model.npz", "--data", "data.npz", *SEARCH, "-o", "ro.npz", "--report", "r.csv"],
])
def test_a_read_only_output_is_refused(files, tmp_path, args):
    copy_inputs(files, tmp_path, "layer.npz", "float.npz", "model.npz", "data.npz")
    name = next(arg for arg in args if arg.startswith("ro."))
    (tmp_path / name).write_bytes(b"do not replace")
    (tmp_path / name).chmod(0o444)
    fails_cleanly(tmp_path, rf"'{name}' exists and is read-only \(mode -r--r--r--\); make it "
                            r"writable", *args)


# --- 4. model, data, network and layer files ---------------------------------------------------
def _data_variant(files: Path, folder: Path, **changes: object) -> None:
    arrays = arrays_of(files / "data.npz")
    for name, change in changes.items():
        if change is None:
            arrays.pop(name)
        elif callable(change):
            arrays[name] = change(arrays)
        else:
            arrays[name] = change
    np.savez(folder / "data.npz", **arrays)


def _set(name: str, index: tuple, value: float):
    def change(arrays):
        values = arrays[name].astype(np.float64 if isinstance(value, float) else np.int64)
        values[index] = value
        return values
    return change


@pytest.mark.parametrize("changes, message", [
    ({"extra": np.ones(3)}, r"unknown array\(s\) 'extra'; a data file holds train_inputs, "
                            r"train_labels, test_inputs, test_labels and optionally val_inputs "
                            r"and val_labels"),
    ({"val_input": np.ones((2, 64))}, r"'val_input' \(did you mean 'val_inputs'\?\)"),
    ({"train_inputs": _set("train_inputs", (3, 4), 1e39)},
     r"train_inputs\[3, 4\] = 1e\+39 is outside float32's range"),
    ({"test_inputs": _set("test_inputs", (2, 1), float("nan"))},
     r"test_inputs\[2, 1\] = nan is not finite"),
    ({"train_labels": _set("train_labels", (5,), -2)}, r"train_labels\[5\] = -2 is below 0"),
    ({"train_labels": lambda a: a["train_labels"] + 0.5},
     r"train_labels has dtype float64 \(train_labels\[0\] = \d+\.5\)"),
    ({"train_inputs": lambda a: a["train_inputs"][:1], "train_labels":
      lambda a: a["train_labels"][:1], "val_inputs": None, "val_labels": None,
      "--validation-from-train": "0.2"},
     r"train_inputs has 1 row; the search holds out 1 for validation .* needs at least 2 "
     r"training rows"),
    ({"train_inputs": lambda a: a["train_inputs"][0]},
     r"train_inputs has shape \(64,\); .*a single row is still 2-D: shape \(1, 64\)"),
    ({"val_inputs": np.zeros((3, 64)), "val_labels": None},
     "val_inputs is given without val_labels"),
    ({"val_inputs": np.zeros((3, 5)), "val_labels": np.zeros(3, dtype=int)},
     "train_inputs has 64 columns but val_inputs 5"),
    ({"val_inputs": np.zeros((3, 64)), "val_labels": np.array([0, 1, 99])},
     r"val_labels\[2\] = 99 is above the largest class 9"),
    ({"test_inputs": _set("test_inputs", (3, 7), 1e6)},
     r"test_inputs\[3, 7\] = 1e\+06 is outside the chip's fixed16 input range -128\.\.127\.996"),
])
def test_bad_data_files(files, tmp_path, changes, message):
    copy_inputs(files, tmp_path, "model.npz")
    options = [f"{name}={changes.pop(name)}" for name in list(changes) if name.startswith("--")]
    _data_variant(files, tmp_path, **changes)
    fails_cleanly(tmp_path, message, "search", "model.npz", "--data", "data.npz", *SEARCH,
                  *options, "-o", "net.npz", "--report", "front.csv")


def test_a_validation_split_is_loaded_and_carried(files, tmp_path):
    from eiesim.search.model import load_data, save_data

    arrays = arrays_of(files / "data.npz")
    del arrays["val_inputs"], arrays["val_labels"]
    np.savez(tmp_path / "without.npz", **arrays)
    np.savez(tmp_path / "d.npz", **arrays, val_inputs=arrays["test_inputs"][:5],
             val_labels=arrays["test_labels"][:5])
    data = load_data(tmp_path / "d.npz")
    assert data.val_inputs.shape == (5, 64) and data.val_inputs.dtype == np.float64
    assert data.val_labels.tolist() == arrays["test_labels"][:5].tolist()
    save_data(tmp_path / "again.npz", data)
    assert sorted(arrays_of(tmp_path / "again.npz")) == sorted([*arrays, "val_inputs",
                                                                "val_labels"])
    assert load_data(tmp_path / "without.npz").val_inputs is None


@pytest.mark.parametrize("change, message", [
    (_set("layer0_weights", (1, 2), 1e39),
     r"layer0_weights\[1, 2\] = 1e\+39 is outside float32's range"),
    (_set("layer0_weights", (0, 3), float("inf")), r"layer0_weights\[0, 3\] = inf is not finite"),
])
def test_bad_model_files(files, tmp_path, change, message):
    copy_inputs(files, tmp_path, "data.npz")
    arrays = arrays_of(files / "model.npz")
    arrays["layer0_weights"] = change(arrays)
    np.savez(tmp_path / "model.npz", **arrays)
    fails_cleanly(tmp_path, message, "search", "model.npz", "--data", "data.npz", *SEARCH,
                  "-o", "net.npz", "--report", "front.csv")


def test_a_huge_model_layer_is_refused_from_its_header(files, tmp_path):
    copy_inputs(files, tmp_path, "data.npz")
    header_only_npz(tmp_path / "model.npz", "layer0_weights", (100_000, 100_000))
    fails_cleanly(tmp_path, r"model file 'model.npz': array 'layer0_weights' has shape "
                            r"\(100000, 100000\) \(float32\): 10,000,000,000 values, 80\.0 GB as "
                            r"float64, above eiesim's limit .* intact but too large",
                  "search", "model.npz", "--data", "data.npz", *SEARCH, "-o", "net.npz",
                  "--report", "front.csv")


@pytest.mark.parametrize("make, message", [
    (lambda folder: header_only_npz(folder / "in.npz", "weights", (100_000, 100_000),
                                    {"activations": np.ones(100_000)}),
     r"layer file 'in.npz': array 'weights' .* intact but too large"),
    (lambda folder: zipfile.ZipFile(folder / "in.npz", "w").writestr("weights.npy",
                                                                     b"\x93NUMPY\x01\x00"),
     r"layer file 'in.npz': array 'weights' is damaged \(its header cannot be read"),
    (lambda folder: np.savez(folder / "in.npz", weights=np.array([[1e39, 1.0]]),
                             activations=np.ones(2)),
     r"in.npz: weights\[0, 0\] = 1e\+39 is outside float32's range"),
    (lambda folder: np.savez(folder / "in.npz", codes=np.ones((2, 2), np.uint8),
                             codebook=np.array([0.0, 1e39]), activations=np.ones(2)),
     r"in.npz: codebook\[1\] = 1e\+39 is outside float32's range"),
    (lambda folder: np.savez(folder / "in.npz", codes=np.ones((2, 2), np.uint8),
                             codebook=np.array([0.0, 1.0]), activations=np.array([1.0, 1e39])),
     r"in.npz: activations\[1\] = 1e\+39 is outside float32's range"),
    (lambda folder: np.savez(folder / "in.npz", layer1_codes=np.ones((2, 2), np.uint8),
                             layer1_codebook=np.array([0.0, 1.0]), activations=np.ones(2)),
     r"in.npz: layers must be numbered 0\.\.1 without gaps; layer 0 is missing \(no "
     r"layer0_codes or layer0_codebook\)"),
    (lambda folder: np.savez(folder / "in.npz", layer0_codes=np.ones((2, 2), np.uint8),
                             layer0_codebook=np.array([0.0, 1.0]),
                             activations=np.array([1e39, 1.0])),
     r"in.npz: activations\[0\] = 1e\+39 is outside float32's range"),
])
def test_bad_layer_and_network_files(tmp_path, make, message):
    make(tmp_path)
    fails_cleanly(tmp_path, message, "run", "in.npz", "--arith", "float32")


# --- 5. energy tables ------------------------------------------------------------------------
@pytest.mark.parametrize("name, text, message", [
    ("t.toml", "[events]\nmacs = 1" + "0" * 400 + "\n",
     r"events.macs = a 401-digit integer is larger than any number eiesim computes with"),
    ("t.yaml", "events:\n  macs: 1" + "0" * 400 + "\n", r"a 401-digit integer"),
    ("t.toml", b"[events]\nmacs = 1e-12 # \xff\xfe\n",
     r"energy table t.toml is not UTF-8 text \(byte 0xff at offset 24\); save it as UTF-8"),
    ("t.yaml", "events:\n  macs: '1e-12'\n", r"events.macs = '1e-12' is not a number"),
])
def test_bad_energy_tables(files, tmp_path, name, text, message):
    if name.endswith(".yaml"):
        pytest.importorskip("yaml")
    copy_inputs(files, tmp_path, "layer.npz")
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    fails_cleanly(tmp_path, message, "run", "layer.npz", "--energy-table", name)


def test_yaml_reads_1e_12_as_a_number_like_toml(files, tmp_path):
    pytest.importorskip("yaml")
    copy_inputs(files, tmp_path, "layer.npz")
    (tmp_path / "t.yaml").write_text("events:\n  macs: 1e-12\n")
    (tmp_path / "t.toml").write_text("[events]\nmacs = 1e-12\n")
    results = []
    for table in ("t.yaml", "t.toml"):
        done = run_cli("run", "layer.npz", "--energy-table", table, "--json", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        results.append(json.loads(done.stdout)["energy_j"])
    assert results[0] == results[1]


# --- 6. limits from counts; float32 ranges; seeds ---------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["run", "layer.npz", "--pes", "65536"],
     r"num_pes = 65536 \(--pes\) on a layer of 40 inputs: .* 4,294,967,296 \(PE, column\) "
     r"slices, .* above eiesim's limit of 134,217,728; use fewer PEs"),
    (["run", "layer.npz", "--pes", "65536", "--fit-memories"], r"num_pes = 65536"),
    (["compress", "float.npz", "--method", "random", "--density", "0.5", "--seed", "-1", "-o",
      "c.npz"], r"argument --seed: -1 is below the minimum 0"),
    (["run", "float.npz", "--seed", "-1"], r"argument --seed: -1 is below the minimum 0"),
    (["sweep", "layer.npz", "--pes", "1,2", "--seed", "-5", "--out", "a.csv"],
     r"argument --seed: -5 is below"),
    (["search", "model.npz", "--data", "data.npz", *SEARCH, "--seed", "-1", "-o", "n.npz",
      "--report", "f.csv"], r"argument --seed: -1 is below"),
    (["run", "layer.npz", "--seed", "1.5"], r"argument --seed: '1.5' is not a whole number"),
])
def test_limits_and_seeds(files, tmp_path, args, message):
    copy_inputs(files, tmp_path, "layer.npz", "float.npz", "model.npz", "data.npz")
    fails_cleanly(tmp_path, message, *args)


def test_a_float32_overflow_is_refused_and_json_never_has_nan(tmp_path):
    rng = np.random.default_rng(0)
    codes = rng.integers(1, 4, (6, 5)).astype(np.uint8)
    np.savez(tmp_path / "in.npz", codes=codes, codebook=np.array([0, 1e30, -1e30, 2e30]),
             activations=np.full(5, 1e30))
    fails_cleanly(tmp_path, r"output 0 = .*: accumulating W a in float32 went beyond float32's "
                            r"range", "run", "in.npz", "--arith", "float32", "--json")


# --- 7. the Python API -------------------------------------------------------------------------
def test_api_cases_raise_eiesim_errors(tmp_path):
    from eiesim import encode
    from eiesim.checks import json_text
    from eiesim.compress.prune import prune_weights
    from eiesim.compress.quantize import quantize_weights
    from eiesim.errors import CapacityError, LayerError
    from eiesim.format import files as io
    from eiesim.search import SearchSettings
    from eiesim.search.model import load_model
    from eiesim.search.train import init_mlp
    from eiesim.sim import simulate
    from eiesim.spec import HardwareSpec

    codes = np.ones((4, 40), dtype=np.uint8)
    with pytest.raises(CapacityError, match="limit of 134,217,728"):
        encode(codes, np.array([0.0, 0.5]), spec=HardwareSpec(num_pes=65536))
    spec = HardwareSpec(num_pes=4, arithmetic="float32")
    layer = encode(codes, np.array([0.0, 0.5]), spec=spec)
    with pytest.raises(LayerError, match=r"activations\[3\] = 1e\+39 is outside float32"):
        simulate(layer, np.array([0.0] * 3 + [1e39] + [0.0] * 36), spec)
    for call in (lambda: prune_weights(np.ones((4, 4)), 0.5, "random", seed=-1),
                 lambda: quantize_weights(np.ones((4, 4)), bits=4, seed=-1),
                 lambda: SearchSettings(seed=-1),
                 lambda: init_mlp([4, 2], seed=-1)):
        with pytest.raises(EiesimError, match="seed = -1 is below the minimum 0"):
            call()
    header_only_npz(tmp_path / "m.npz", "layer0_weights", (100_000, 100_000))
    with pytest.raises(EiesimError, match="intact but too large"):
        load_model(tmp_path / "m.npz")
    with pytest.raises(LayerError, match="intact but too large"):
        io.read_npz(tmp_path / "m.npz")
    with pytest.raises(EiesimError, match="result field energy_j = nan is not finite"):
        json_text({"energy_j": float("nan")})


def test_api_energy_tables(tmp_path):
    pytest.importorskip("yaml")
    from eiesim.energy import load_energy_table
    from eiesim.energy.table import EnergyTable, default_energy_table
    from eiesim.spec import DEFAULT_SPEC

    (tmp_path / "t.yaml").write_text("events:\n  macs: 1e-12\nscale:\n  macs: 2\n")
    table = load_energy_table(tmp_path / "t.yaml", DEFAULT_SPEC)
    assert table.event_j["macs"] == 2e-12
    base = default_energy_table(DEFAULT_SPEC)
    with pytest.raises(EiesimError, match="beyond float64"):
        EnergyTable(event_j={**base.event_j, "macs": 10 ** 5000}, clock_j=base.clock_j,
                    leakage_w=base.leakage_w, dram_j_per_bit=base.dram_j_per_bit,
                    provenance=base.provenance, spec=base.spec)
