"""Weight importers: npz/npy, safetensors, ONNX (when installed), the missing-package messages."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from eiesim.errors import EiesimError
from eiesim.search.importers import fully_connected_layers, load_tensors

RNG = np.random.default_rng(0)
FC1_W = RNG.standard_normal((4, 6)).astype(np.float32)
FC1_B = RNG.standard_normal(4).astype(np.float32)
FC2_W = RNG.standard_normal((3, 4)).astype(np.float32)
FC2_B = RNG.standard_normal(3).astype(np.float32)

has_torch = importlib.util.find_spec("torch") is not None


def test_npz_keeps_order_and_floats_only(tmp_path: Path) -> None:
    path = tmp_path / "net.npz"
    np.savez(path, **{"fc2.weight": FC2_W, "fc2.bias": FC2_B, "steps": np.arange(3),
                      "fc1.weight": FC1_W, "half": np.ones(2, np.float16),
                      "fc1.bias": FC1_B})
    tensors = load_tensors(path)
    assert list(tensors) == ["fc2.weight", "fc2.bias", "fc1.weight", "half", "fc1.bias"]
    assert np.array_equal(tensors["fc1.weight"], FC1_W)
    assert tensors["half"].dtype == np.float32  # half precision widened, ints dropped
    layers = fully_connected_layers(tensors)
    assert [(fc.name, fc.bias_name) for fc in layers] == [("fc2.weight", "fc2.bias"),
                                                       ("fc1.weight", "fc1.bias")]
    assert np.array_equal(layers[1].bias, FC1_B) and layers[1].shape == (4, 6)


def test_npy_single_array_and_pickled_dict(tmp_path: Path) -> None:
    single = tmp_path / "fc6.npy"
    np.save(single, FC1_W)
    assert list(load_tensors(single)) == ["fc6"]

    pickled = tmp_path / "state.npy"
    np.save(pickled, {"a.weight": FC1_W, "a.bias": FC1_B}, allow_pickle=True)
    with pytest.raises(EiesimError, match="pickled Python objects.*allow_pickle=True.*np.savez"):
        load_tensors(pickled)
    tensors = load_tensors(pickled, allow_pickle=True)
    assert list(tensors) == ["a.weight", "a.bias"]
    assert fully_connected_layers(tensors)[0].bias_name == "a.bias"


def test_bias_matching_rules() -> None:
    tensors = {
        "lstm.weight_ih_l0": np.ones((8, 3)), "lstm.bias_ih_l0": np.ones(8),
        "dense/weights": np.ones((2, 5)), "dense/biases": np.ones(2),
        "proj_weight": np.ones((4, 4)), "proj_bias": np.ones(5),  # wrong length: not a bias
        "conv.weight": np.ones((2, 3, 3, 3)), "conv.bias": np.ones(2),  # 4-D: not FC
        "embedding": np.ones((10, 2)),
    }
    found = [(fc.name, fc.bias_name) for fc in fully_connected_layers(tensors)]
    assert found == [("lstm.weight_ih_l0", "lstm.bias_ih_l0"), ("dense/weights", "dense/biases"),
                     ("proj_weight", None), ("embedding", None)]


def test_safetensors(tmp_path: Path) -> None:
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "model.safetensors"
    safetensors_numpy.save_file({"fc1.weight": FC1_W, "fc1.bias": FC1_B,
                                 "ids": np.arange(4, dtype=np.int64),
                                 "fc2.weight": FC2_W.astype(np.float16)}, str(path))
    tensors = load_tensors(path)
    assert set(tensors) == {"fc1.weight", "fc1.bias", "fc2.weight"}
    assert np.array_equal(tensors["fc1.weight"], FC1_W)
    assert tensors["fc2.weight"].dtype == np.float32
    assert np.array_equal(tensors["fc2.weight"], FC2_W.astype(np.float16).astype(np.float32))


def test_safetensors_bfloat16(tmp_path: Path) -> None:
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    ml_dtypes = pytest.importorskip("ml_dtypes")
    path = tmp_path / "bf16.safetensors"
    values = np.array([[1.0, -2.5], [0.0, 3.0]], dtype=ml_dtypes.bfloat16)
    safetensors_numpy.save_file({"w": values}, str(path))
    loaded = load_tensors(path)["w"]
    assert loaded.dtype == np.float32 and loaded.tolist() == [[1.0, -2.5], [0.0, 3.0]]


def make_onnx_model(path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    # fc1: Gemm with transB=1 stores (out, in) like PyTorch; fc2: MatMul stores (in, out).
    initializers = [
        numpy_helper.from_array(FC1_W, "fc1.weight"),
        numpy_helper.from_array(FC1_B, "fc1.bias"),
        numpy_helper.from_array(np.ascontiguousarray(FC2_W.T), "fc2.weight"),
        numpy_helper.from_array(FC2_B, "fc2.bias"),
        numpy_helper.from_array(np.array([1, 3], dtype=np.int64), "shape"),
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("MatMul", ["r", "fc2.weight"], ["m"]),
        helper.make_node("Add", ["m", "fc2.bias"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], initializers)
    model = helper.make_model(graph)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_onnx_initializers_in_out_orientation(tmp_path: Path) -> None:
    path = tmp_path / "tiny.onnx"
    make_onnx_model(path)
    tensors = load_tensors(path)
    assert list(tensors) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert np.array_equal(tensors["fc1.weight"], FC1_W)
    assert np.array_equal(tensors["fc2.weight"], FC2_W)  # MatMul's (in, out) transposed
    layers = fully_connected_layers(tensors)
    assert [(fc.name, fc.shape, fc.bias_name) for fc in layers] == [
        ("fc1.weight", (4, 6), "fc1.bias"), ("fc2.weight", (3, 4), "fc2.bias")]
    # The loaded layers compute what the ONNX graph computes.
    x = RNG.standard_normal(6).astype(np.float32)
    hidden = np.maximum(layers[0].weight @ x + layers[0].bias, 0)
    expected = np.maximum(FC1_W @ x + FC1_B, 0) @ FC2_W.T + FC2_B
    assert np.allclose(layers[1].weight @ hidden + layers[1].bias, expected, atol=1e-5)


def test_gemm_without_trans_b_is_transposed(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W", "b"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(np.ascontiguousarray(FC1_W.T), "W"),
         numpy_helper.from_array(FC1_B, "b")])
    path = tmp_path / "gemm.onnx"
    onnx.save(helper.make_model(graph), str(path))
    assert np.array_equal(load_tensors(path)["W"], FC1_W)


@pytest.mark.parametrize("module, suffix", [("safetensors", ".safetensors"), ("onnx", ".onnx")])
def test_missing_optional_package_says_how_to_install(tmp_path: Path, module: str, suffix: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(EiesimError, match=rf"optional package '{module}'.*pip install "
                                          r"'eiesim\[import\]'"):
        load_tensors(path)


@pytest.mark.skipif(has_torch, reason="checks the message shown when torch is missing")
@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin"])
def test_torch_missing_message(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(EiesimError, match="needs PyTorch, which is not installed; pip install "
                                          "torch.*safetensors.torch.save_file"):
        load_tensors(path)


def test_path_and_format_errors(tmp_path: Path) -> None:
    with pytest.raises(EiesimError, match=r"suffix '\.h5'.*pass format="):
        load_tensors(tmp_path / "model.h5")
    with pytest.raises(EiesimError, match="format = 'keras' is unknown"):
        load_tensors(tmp_path / "model.npz", format="keras")
    with pytest.raises(EiesimError, match="does not exist"):
        load_tensors(tmp_path / "missing.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"garbage")
    with pytest.raises(EiesimError, match="corrupt.npz' is a text file.*numpy.savez") as error:
        load_tensors(corrupt)
    assert "allow_pickle" not in str(error.value)
    np.save(tmp_path / "one.npy", FC1_W)
    (tmp_path / "one.npy").rename(tmp_path / "one.npz")
    with pytest.raises(EiesimError, match="single numpy array"):
        load_tensors(tmp_path / "one.npz")
    text = tmp_path / "text.npy"
    text.write_text("1, 2, 3")
    with pytest.raises(EiesimError, match="not a .npy file.*numpy.save") as error:
        load_tensors(text)
    assert "allow_pickle" not in str(error.value)
    renamed = tmp_path / "weights.dat"
    np.savez(renamed, w=FC1_W)  # np.savez appends .npz
    assert list(load_tensors(tmp_path / "weights.dat.npz")) == ["w"]
    raw = tmp_path / "weights.dat"
    raw.write_bytes((tmp_path / "weights.dat.npz").read_bytes())
    assert list(load_tensors(raw, format="npz")) == ["w"]


def test_importers_feed_the_compression_pipeline(tmp_path: Path) -> None:
    from eiesim.compress import prune_weights, quantize_weights

    path = tmp_path / "net.npz"
    np.savez(path, **{"fc1.weight": FC1_W, "fc1.bias": FC1_B})
    layer = fully_connected_layers(load_tensors(path))[0]
    q = quantize_weights(prune_weights(layer.weight, 0.5), 4, bias=layer.bias)
    assert q.codes.shape == (4, 6) and np.count_nonzero(q.codes) == 12
    assert np.all(q.bias_codes != 0)


def test_npy_too_large_is_refused_from_its_header(tmp_path: Path) -> None:
    # The header claims 10^12 values and no data follows: refused before numpy allocates.
    from numpy.lib import format as npy_format

    path = tmp_path / "huge.npy"
    with open(path, "wb") as handle:
        npy_format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False,
                                                   "shape": (1_000_000, 1_000_000)})
    with pytest.raises(EiesimError, match=r"'huge' has shape \(1000000, 1000000\).*limit"):
        load_tensors(path)
    damaged = tmp_path / "damaged.npy"
    damaged.write_bytes(b"\x93NUMPY\x01\x00\xff")
    with pytest.raises(EiesimError, match="damaged.*header cannot be read"):
        load_tensors(damaged)


def test_safetensors_above_the_limit_are_refused_before_loading(tmp_path: Path,
                                                               monkeypatch) -> None:
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    import eiesim.limits

    path = tmp_path / "model.safetensors"
    safetensors_numpy.save_file({"fc1.weight": FC1_W, "fc1.bias": FC1_B}, str(path))
    monkeypatch.setattr(eiesim.limits, "MAX_FILE_ARRAY_VALUES", 10)
    with pytest.raises(EiesimError, match=r"'fc1.weight' has shape \(4, 6\) \(F32\).*limit"):
        load_tensors(path)
