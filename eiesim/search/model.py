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
0 .. classes-1, ``test_inputs`` (m, in) float, ``test_labels`` (m,) integer, and optionally
``val_inputs`` (v, in) float with ``val_labels`` (v,) integer: a validation split the model was
not trained on, on which the search takes every decision (the test set then only reports).
Any other array is an error, so a misspelt name is not silently ignored.

Both writers go through :func:`eiesim.safe_output.write_file`: all or nothing, so an
interrupted or failed write leaves no half-written file.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
        splits = ("train", "test") if self.val_inputs is None else ("train", "test", "val")
        for split in splits:
            x = np.asarray(getattr(self, f"{split}_inputs"))
            y = np.asarray(getattr(self, f"{split}_labels"))
            if x.ndim != 2 or x.shape[0] == 0 or not np.issubdtype(x.dtype, np.number) \
                    or np.iscomplexobj(x) or not np.all(np.isfinite(x)):
                raise ModelFileError(f"{self.source}: {split}_inputs has shape {x.shape} and "
                                     f"dtype {x.dtype}; it must be a finite real (n, in) "
                                     f"array with n >= 1")
            if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer) \
                    or y.min() < 0:
                raise ModelFileError(f"{self.source}: {split}_labels has shape {y.shape} and "
                                     f"dtype {y.dtype}; it must hold one integer class >= 0 "
                                     f"per row of {split}_inputs, shape ({x.shape[0]},)")
            arrays[f"{split}_inputs"] = x.astype(np.float64)
            arrays[f"{split}_labels"] = y.astype(np.int64)
        for split in splits[1:]:
            if arrays["train_inputs"].shape[1] != arrays[f"{split}_inputs"].shape[1]:
                raise ModelFileError(f"{self.source}: train_inputs has "
                                     f"{arrays['train_inputs'].shape[1]} columns but "
                                     f"{split}_inputs {arrays[f'{split}_inputs'].shape[1]}; "
                                     f"every split needs the model's input width")
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
    arrays = _read_npz(path) if path.suffix.lower() == ".npz" else None
    if arrays is not None and any(_MODEL_KEY.match(name) for name in arrays):
        return _model_from_arrays(arrays, source)
    from eiesim.search.importers import fully_connected_layers, load_tensors

    layers = fully_connected_layers(load_tensors(path))
    if not layers:
        raise ModelFileError(f"{source}: no 2-D weight matrix found; a model file holds "
                             f"layer{{K}}_weights (out, in) and optional layer{{K}}_bias")
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
    arrays = _read_npz(path)
    missing = [name for name in DATA_KEYS if name not in arrays]
    if missing:
        raise ModelFileError(f"{source}: missing array(s) {', '.join(missing)}; a data file "
                             f"holds {', '.join(DATA_KEYS)}")
    unknown = sorted(set(arrays) - set(DATA_KEYS) - set(VALIDATION_KEYS))
    if unknown:
        raise ModelFileError(f"{source}: unknown array(s) {', '.join(unknown)}; a data file "
                             f"holds only {', '.join(DATA_KEYS + VALIDATION_KEYS)} (the last "
                             f"two optional): rename or remove the others")
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
    try:
        return MLP([parts[k]["weights"] for k in range(count)],
                   [parts[k].get("bias") for k in range(count)])
    except TrainError as error:
        raise ModelFileError(f"{source}: {error}") from None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ModelFileError(f"{str(path)!r} holds a single array, not an .npz archive of "
                                 f"named arrays")
        with data:
            return {name: data[name] for name in data.files}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise ModelFileError(f"{str(path)!r} is not a readable .npz file ({error}); check the "
                             f"path and the file") from None


def _save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    # A file object: numpy adds no ".npz" suffix to the temporary name.
    return write_file(path, lambda handle: np.savez_compressed(handle, **arrays))
