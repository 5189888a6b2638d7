"""Model and data files for network-level compression, and atomic writing of outputs.

Model file (``.npz``), for layers K = 0 .. L-1 (an MLP classifier: ReLU between layers, the
class the argmax of the last layer's output):

=====================  ===================  ====================================================
array                  shape / dtype        meaning
=====================  ===================  ====================================================
``layer{K}_weights``   (out_K, in_K) float  weights, EIE's (out, in) orientation
``layer{K}_bias``      (out_K,) float       optional bias
=====================  ===================  ====================================================

Shapes must chain (``out_K == in_(K+1)``). :func:`load_model` also reads every weights file
that :mod:`eiesim.search.importers` reads (safetensors, ONNX, PyTorch state dicts, other ``.npz``):
its fully connected layers, in file order, become the model's layers.

Data file (``.npz``): ``train_inputs`` (n, in) float, ``train_labels`` (n,) integer in
0 .. classes-1, ``test_inputs`` (m, in) float, ``test_labels`` (m,) integer; optionally a
validation split, ``val_inputs`` (v, in) and ``val_labels`` (v,) (both or neither, labels among
the classes of the other splits): a split the model was not trained on, on which the search takes
every decision (the test set then only reports). Any other array is an error naming it and the
accepted names.
Every value must be finite and inside float32's range (the chip's widest arithmetic); an error
names the array, the index and the value. Arrays too large to load are refused from their
headers before any data is read (:mod:`eiesim.limits`).

Both writers go through :func:`eiesim.safe_output.write_file`: all or nothing, so an
interrupted or failed write leaves no half-written file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eiesim.checks import check_finite_values, unknown_names_hint
from eiesim.errors import EiesimError
from eiesim.safe_output import write_file
from eiesim.search.train import MLP, TrainError

__all__ = ["Dataset", "ModelFileError", "load_data", "load_model", "save_data", "save_model"]

_MODEL_KEY = re.compile(r"^layer(0|[1-9][0-9]*)_(weights|bias)$")
DATA_KEYS = ("train_inputs", "train_labels", "test_inputs", "test_labels")
VALIDATION_KEYS = ("val_inputs", "val_labels")


class ModelFileError(EiesimError):
    """A model or data file that cannot be used (missing, unreadable, wrong arrays)."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Training, test and optional validation split of a classification data set."""

    train_inputs: np.ndarray  # float64 (n, in)
    train_labels: np.ndarray  # int64 (n,)
    test_inputs: np.ndarray  # float64 (m, in)
    test_labels: np.ndarray  # int64 (m,)
    source: str = "<arrays>"
    val_inputs: np.ndarray | None = None  # float64 (v, in), data the model was not trained on
    val_labels: np.ndarray | None = None  # int64 (v,)

    def __post_init__(self) -> None:
        if (self.val_inputs is None) != (self.val_labels is None):
            given, absent = (("val_inputs", "val_labels") if self.val_labels is None
                             else ("val_labels", "val_inputs"))
            raise ModelFileError(f"{self.source}: {given} is given without {absent}; a "
                                 f"validation split needs both (or neither)")
        arrays = {}
        splits = ("train", "test")
        if self.val_inputs is not None:
            splits += ("val",)
        for split in splits:
            x = _checked_inputs(getattr(self, f"{split}_inputs"), f"{split}_inputs",
                                self.source)
            arrays[f"{split}_inputs"] = x
            arrays[f"{split}_labels"] = _checked_labels(getattr(self, f"{split}_labels"),
                                                        f"{split}_labels", x.shape[0],
                                                        self.source)
        for split in splits[1:]:
            if arrays[f"{split}_inputs"].shape[1] != arrays["train_inputs"].shape[1]:
                raise ModelFileError(f"{self.source}: train_inputs has "
                                     f"{arrays['train_inputs'].shape[1]} columns but "
                                     f"{split}_inputs {arrays[f'{split}_inputs'].shape[1]}; "
                                     f"every split needs the model's input width")
        if "val_labels" in arrays:
            largest = int(max(arrays["train_labels"].max(), arrays["test_labels"].max()))
            above = np.flatnonzero(arrays["val_labels"] > largest)
            if above.size:
                raise ModelFileError(f"{self.source}: val_labels[{int(above[0])}] = "
                                     f"{int(arrays['val_labels'][above[0]])} is above the "
                                     f"largest class {largest} of train_labels and test_labels; "
                                     f"validation labels must be classes the data has")
        for name, value in arrays.items():
            object.__setattr__(self, name, value)

    @property
    def in_features(self) -> int:
        return int(self.train_inputs.shape[1])

    @property
    def has_validation(self) -> bool:
        """True when the data holds its own validation split (``val_inputs``)."""
        return self.val_inputs is not None

    @property
    def num_classes(self) -> int:
        labels = [self.train_labels.max(), self.test_labels.max()]
        if self.val_labels is not None:
            labels.append(self.val_labels.max())
        return int(max(labels)) + 1

    def check_model(self, model: MLP) -> None:
        """Raise unless ``model`` takes these inputs and has a class for every label."""
        if model.in_features != self.in_features:
            raise ModelFileError(f"the model takes {model.in_features} inputs but the data has "
                                 f"{self.in_features} columns ({self.source}); give data of "
                                 f"the model's input width")
        if model.num_classes < self.num_classes:
            raise ModelFileError(f"labels go up to {self.num_classes - 1} but the model has "
                                 f"{model.num_classes} outputs ({self.source}); give labels "
                                 f"0..{model.num_classes - 1}")


def save_model(path: str | Path, model: MLP) -> Path:
    """Write ``model`` as a model file (module doc), atomically."""
    arrays = {}
    for k, (w, b) in enumerate(zip(model.weights, model.biases)):
        arrays[f"layer{k}_weights"] = w
        if b is not None:
            arrays[f"layer{k}_bias"] = b
    return _save_npz(path, arrays)


def save_data(path: str | Path, data: Dataset) -> Path:
    """Write ``data`` as a data file (module doc), atomically."""
    keys = DATA_KEYS + (VALIDATION_KEYS if data.has_validation else ())
    return _save_npz(path, {name: getattr(data, name) for name in keys})


def load_model(path: str | Path) -> MLP:
    """Read a model file, or the fully connected layers of any file :mod:`eiesim.search.importers`
    reads (module doc)."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ModelFileError(f"model file {source!r} does not exist; give an .npz with "
                             f"layer0_weights, layer1_weights, ... (or a safetensors, ONNX or "
                             f"PyTorch weights file)")
    arrays = _read_npz(path, "model file") if path.suffix.lower() == ".npz" else None
    if arrays is not None and any(_MODEL_KEY.match(name) for name in arrays):
        return _model_from_arrays(arrays, source)
    from eiesim.search.importers import fully_connected_layers, load_tensors

    layers = fully_connected_layers(load_tensors(path))
    if not layers:
        raise ModelFileError(f"{source}: no 2-D weight matrix found; a model file holds "
                             f"layer{{K}}_weights (out, in) and optional layer{{K}}_bias")
    for layer in layers:
        for kind, values in (("weights", layer.weight), ("bias", layer.bias)):
            if values is not None:
                _check_values(values, f"{layer.name} ({kind})", source)
    try:
        return MLP([layer.weight for layer in layers], [layer.bias for layer in layers])
    except TrainError as error:
        raise ModelFileError(f"{source}: the fully connected layers "
                             f"{[layer.name for layer in layers]} do not form an MLP: "
                             f"{error}") from None


def load_data(path: str | Path) -> Dataset:
    """Read and check a data file (module doc)."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ModelFileError(f"data file {source!r} does not exist; give an .npz with "
                             f"{', '.join(DATA_KEYS)}")
    arrays = _read_npz(path, "data file")
    accepted = DATA_KEYS + VALIDATION_KEYS
    unknown = sorted(set(arrays) - set(accepted))
    if unknown:
        raise ModelFileError(f"{source}: unknown array(s) {unknown_names_hint(unknown, accepted)}"
                             f"; a data file holds {', '.join(DATA_KEYS)} and optionally "
                             f"{' and '.join(VALIDATION_KEYS)}")
    missing = [name for name in DATA_KEYS if name not in arrays]
    if missing:
        raise ModelFileError(f"{source}: missing array(s) {', '.join(missing)}; a data file "
                             f"holds {', '.join(DATA_KEYS)}")
    return Dataset(*(arrays[name] for name in DATA_KEYS), source=source,
                   val_inputs=arrays.get("val_inputs"), val_labels=arrays.get("val_labels"))


def _model_from_arrays(arrays: dict[str, np.ndarray], source: str) -> MLP:
    parts: dict[int, dict[str, np.ndarray]] = {}
    unknown = []
    for name, array in arrays.items():
        match = _MODEL_KEY.match(name)
        if match is None:
            unknown.append(name)
        else:
            parts.setdefault(int(match.group(1)), {})[match.group(2)] = array
    if unknown:
        raise ModelFileError(f"{source}: unknown array(s) {', '.join(sorted(unknown))}; a model "
                             f"file holds only layer{{K}}_weights and layer{{K}}_bias")
    count = max(parts) + 1
    for k in range(count):
        if "weights" not in parts.get(k, {}):
            raise ModelFileError(f"{source}: layers must be numbered 0..{count - 1} without "
                                 f"gaps; 'layer{k}_weights' is missing")
    for k in range(count):
        for kind, array in parts[k].items():
            if not np.issubdtype(array.dtype, np.floating) and \
                    not np.issubdtype(array.dtype, np.integer):
                raise ModelFileError(f"{source}: layer{k}_{kind} has dtype {array.dtype}; "
                                     f"give real numbers")
            _check_values(array, f"layer{k}_{kind}", source)
    try:
        return MLP([parts[k]["weights"] for k in range(count)],
                   [parts[k].get("bias") for k in range(count)])
    except TrainError as error:
        raise ModelFileError(f"{source}: {error}") from None


def _read_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    from eiesim.format.files import read_npz

    how = ("a model file is an .npz of layer{K}_weights (out, in) and layer{K}_bias; write one "
           "with eiesim.search.model.save_model") if what == "model file" else \
        (f"a data file is an .npz of {', '.join(DATA_KEYS)}; write one with "
         f"eiesim.search.model.save_data")
    return read_npz(path, what=what, how=how, error=ModelFileError)


def _check_values(values: np.ndarray, name: str, source: str) -> None:
    """Finite and inside float32's range, or an error with the array name, index and value."""
    check_finite_values(values, name, source=source, error=ModelFileError)


def _checked_inputs(values: object, name: str, source: str) -> np.ndarray:
    x = np.asarray(values)
    if x.dtype.kind not in "iuf":
        raise ModelFileError(f"{source}: {name} has dtype {x.dtype}; it must hold real numbers "
                             f"(integers or floats)")
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        hint = f" (a single row is still 2-D: shape (1, {x.shape[0]}))" if x.ndim == 1 else ""
        raise ModelFileError(f"{source}: {name} has shape {x.shape}; it must be a 2-D "
                             f"(rows, features) array with at least one row and one "
                             f"feature{hint}")
    _check_values(x, name, source)
    return x.astype(np.float64)


def _checked_labels(values: object, name: str, rows: int, source: str) -> np.ndarray:
    y = np.asarray(values)
    inputs = name.replace("_labels", "_inputs")
    if y.shape != (rows,):
        raise ModelFileError(f"{source}: {name} has shape {y.shape}; it must hold one class per "
                             f"row of {inputs}, shape ({rows},)")
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f":
            fractional = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
            where = f" ({name}[{int(fractional[0])}] = {y[fractional[0]]})" \
                if fractional.size else ""
        else:
            where = ""
        raise ModelFileError(f"{source}: {name} has dtype {y.dtype}{where}; classes must be "
                             f"whole numbers 0, 1, ... stored as integers")
    negative = np.flatnonzero(y < 0)
    if negative.size:
        raise ModelFileError(f"{source}: {name}[{int(negative[0])}] = "
                             f"{int(y[negative[0]])} is below 0; classes are numbered 0, 1, ...")
    return y.astype(np.int64)


def _save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    # A file object: numpy adds no ".npz" suffix to the temporary name.
    return write_file(path, lambda handle: np.savez_compressed(handle, **arrays))
