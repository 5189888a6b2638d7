"""Load trained weights from the files people have, and pick out the fully connected layers.

:func:`load_tensors` reads one file into a dict (in file order) of name -> float numpy array:

=================  ==========================================  ===============================
suffix             format                                      needs
=================  ==========================================  ===============================
``.npz``           numpy archive, one array per name           numpy
``.npy``           one array (named after the file), or a      numpy (a dict needs
                   pickled dict of arrays                      ``allow_pickle=True``)
``.safetensors``   safetensors                                 ``pip install eiesim[import]``
``.onnx``          the initializers of an ONNX model           ``pip install eiesim[import]``
``.pt .pth .bin``  a PyTorch state dict (or a checkpoint       ``pip install torch``
                   holding one under "state_dict"/"model")
=================  ==========================================  ===============================

Only floating-point tensors are returned (integer tensors such as ONNX shape constants or
batch-norm counters are not weights); float16 and bfloat16 become float32, float32 and float64
stay as they are.

Orientation: eiesim's weight matrices are (out, in), as PyTorch stores ``Linear.weight``. ONNX
graphs often store a matrix (in, out) and multiply with ``MatMul`` or ``Gemm(transB=0)``; those
initializers are transposed to (out, in) on load, so every format gives the same matrices.

:func:`fully_connected_layers` then picks the 2-D matrices, each with its bias: the tensor whose
name is the weight's name with its last "weight" replaced by "bias" (``fc6.weight`` /
``fc6.bias``, ``fc_weight`` / ``fc_bias``, ``weight_ih_l0`` / ``bias_ih_l0``), when that tensor
has shape (out,) ("weights" / "biases" are matched too).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eiesim.errors import EiesimError

FORMATS = {
    ".npz": "npz",
    ".npy": "npy",
    ".safetensors": "safetensors",
    ".onnx": "onnx",
    ".pt": "torch",
    ".pth": "torch",
    ".bin": "torch",
}
"""File suffix -> format name accepted by ``load_tensors(format=...)``."""

_FORMATS_EXTRA = "pip install 'eiesim[import]'"


@dataclass(frozen=True, eq=False)
class FullyConnectedLayer:
    """One fully connected layer found in a set of tensors."""

    name: str
    """Name of the weight tensor (e.g. ``"classifier.6.weight"``)."""
    weight: np.ndarray
    """(out, in) float matrix."""
    bias: np.ndarray | None
    """(out,) float vector, or None when no matching bias was found."""
    bias_name: str | None = None
    """Name of the bias tensor, or None."""

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.weight.shape)  # type: ignore[return-value]


def load_tensors(path: str | os.PathLike[str], format: str | None = None, *,
                 allow_pickle: bool = False) -> dict[str, np.ndarray]:
    """Read the floating-point tensors of a weights file, in file order (see the module doc).

    ``format`` overrides the guess from the suffix: one of "npz", "npy", "safetensors", "onnx",
    "torch". ``allow_pickle`` lets a ``.npy`` holding a pickled dict load; pickles can run code,
    so only set it for files you trust.
    """
    path = Path(path)
    if format is None:
        format = FORMATS.get(path.suffix.lower())
        if format is None:
            raise EiesimError(f"cannot tell the format of {str(path)!r} from its suffix "
                              f"{path.suffix!r}; known suffixes are {', '.join(FORMATS)}; "
                              f"rename the file or pass format= one of "
                              f"{', '.join(sorted(set(FORMATS.values())))}")
    elif format not in set(FORMATS.values()):
        raise EiesimError(f"format = {format!r} is unknown; use one of "
                          f"{', '.join(sorted(set(FORMATS.values())))}")
    if not path.is_file():
        raise EiesimError(f"weights file {str(path)!r} does not exist or is not a file; check "
                          f"the path")
    loader = {"npz": _load_npz, "npy": _load_npy, "safetensors": _load_safetensors,
              "onnx": _load_onnx, "torch": _load_torch}[format]
    try:
        raw = loader(path, allow_pickle) if format == "npy" else loader(path)
    except EiesimError:
        raise
    except Exception as error:  # a corrupt or mislabelled file: say which and why
        raise EiesimError(f"could not read {str(path)!r} as {format}: "
                          f"{type(error).__name__}: {error}; check the file and its format"
                          ) from error
    return _floats(raw)


def fully_connected_layers(tensors: Mapping[str, Any]) -> list[FullyConnectedLayer]:
    """The 2-D weight matrices of ``tensors`` in order, each with its matching bias.

    >>> tensors = {"fc1.weight": np.ones((3, 4)), "fc1.bias": np.zeros(3),
    ...            "norm.bias": np.zeros(4), "head_weight": np.ones((2, 3))}
    >>> [(l.name, l.shape, l.bias_name) for l in fully_connected_layers(tensors)]
    [('fc1.weight', (3, 4), 'fc1.bias'), ('head_weight', (2, 3), None)]
    """
    layers = []
    for name, value in tensors.items():
        weight = np.asarray(value)
        if weight.ndim != 2:
            continue
        bias, bias_name = None, None
        for candidate_name in _bias_names(name):
            candidate = tensors.get(candidate_name)
            if candidate is not None and np.shape(candidate) == (weight.shape[0],):
                bias, bias_name = np.asarray(candidate), candidate_name
                break
        layers.append(FullyConnectedLayer(name=name, weight=weight, bias=bias,
                                          bias_name=bias_name))
    return layers


# --- readers --------------------------------------------------------------------------------------

def _load_npz(path: Path) -> dict[str, Any]:
    from eiesim.format.files import read_npz

    return read_npz(path, what="weights file",
                    how="save the weights with numpy.savez(path, name=array, ...)")


def _load_npy(path: Path, allow_pickle: bool) -> dict[str, Any]:
    from eiesim.format.files import check_array_header

    how = "save one array with numpy.save(path, array), or several with numpy.savez"
    with open(path, "rb") as handle:
        if not handle.read(6) == b"\x93NUMPY":
            raise EiesimError(f"{str(path)!r} is not a .npy file (it does not start with numpy's "
                              f"header); {how}")
        handle.seek(0)
        check_array_header(handle, name=path.stem, what=f"weights file {str(path)!r}", how=how)
    try:
        array = np.load(path, allow_pickle=allow_pickle)
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise EiesimError(f"{str(path)!r} holds pickled Python objects (e.g. a dict saved "
                              f"with np.save); pass allow_pickle=True if you trust the file, or "
                              f"save the arrays with np.savez instead") from error
        raise
    if array.dtype == object:
        content = array.item() if array.shape == () else None
        if not isinstance(content, Mapping):
            raise EiesimError(f"{str(path)!r} holds an object array, not a dict of arrays; save "
                              f"the weights with np.savez(path, name=array, ...)")
        return dict(content)
    return {path.stem: array}


def _load_safetensors(path: Path) -> dict[str, Any]:
    from eiesim.limits import check_file_array

    safetensors = _optional("safetensors", "safetensors")
    with safetensors.safe_open(str(path), framework="numpy") as handle:
        names = list(handle.keys())
        for name in names:  # every tensor's size from the header, before any data is read
            header = handle.get_slice(name)
            check_file_array(tuple(header.get_shape()), str(header.get_dtype()), name=name,
                             what=f"weights file {str(path)!r}", error=EiesimError)
        return {name: handle.get_tensor(name) for name in names}


def _load_onnx(path: Path) -> dict[str, Any]:
    onnx = _optional("onnx", "ONNX")
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    stored_in_out = set()  # initializers the graph multiplies as (in, out)
    for node in graph.node:
        if len(node.input) < 2:
            continue
        if node.op_type == "MatMul":
            stored_in_out.add(node.input[1])
        elif node.op_type == "Gemm":
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            if not trans_b:
                stored_in_out.add(node.input[1])
    tensors = {}
    for initializer in graph.initializer:
        array = numpy_helper.to_array(initializer)
        if initializer.name in stored_in_out and array.ndim == 2:
            array = np.ascontiguousarray(array.T)
        tensors[initializer.name] = array
    return tensors


def _load_torch(path: Path) -> dict[str, Any]:
    try:
        torch = importlib.import_module("torch")
    except ImportError as error:
        raise EiesimError(f"reading {str(path)!r} needs PyTorch, which is not installed; "
                          f"pip install torch, or export the weights where torch is installed, "
                          f"e.g. safetensors.torch.save_file(model.state_dict(), "
                          f"'weights.safetensors') or np.savez('weights.npz', **{{k: "
                          f"v.numpy() for k, v in model.state_dict().items()}})") from error
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
            break
    if not isinstance(state, Mapping):
        raise EiesimError(f"{str(path)!r} holds a {type(state).__name__}, not a state dict; "
                          f"save model.state_dict() rather than the model")
    tensors = {}
    for name, value in state.items():
        if isinstance(value, torch.Tensor):
            if value.is_floating_point():
                value = value.detach().to(torch.float32 if value.dtype != torch.float64
                                          else torch.float64)
            tensors[str(name)] = value.cpu().numpy()
    return tensors


def _optional(module: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise EiesimError(f"reading {what} files needs the optional package {module!r}, which "
                          f"is not installed; {_FORMATS_EXTRA}") from error


# --- helpers --------------------------------------------------------------------------------------

_LOW_PRECISION_FLOATS = ("bfloat16", "float8")


def _floats(raw: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Keep the floating-point arrays; widen half precision to float32."""
    tensors = {}
    for name, value in raw.items():
        array = np.asarray(value)
        if array.dtype.kind == "f":
            if array.dtype.itemsize < 4:
                array = array.astype(np.float32)
        elif array.dtype.name.startswith(_LOW_PRECISION_FLOATS):  # ml_dtypes' bfloat16, float8
            array = array.astype(np.float32)
        else:
            continue
        tensors[str(name)] = array
    return tensors


def _bias_names(name: str) -> list[str]:
    """Names the bias of weight tensor ``name`` may have: its last "weights" -> "biases",
    or its last "weight" -> "bias"."""
    names = []
    for weight, bias in (("weights", "biases"), ("weight", "bias"), ("Weights", "Biases"),
                         ("Weight", "Bias")):
        at = name.rfind(weight)
        if at >= 0:
            names.append(name[:at] + bias + name[at + len(weight):])
    return names


__all__ = ["FORMATS", "FullyConnectedLayer", "fully_connected_layers", "load_tensors"]
