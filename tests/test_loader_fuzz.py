"""Layer and network files that are not what they claim: every one gets an eiesim error that says
what the file is and how to make a good one; saving checks exactly as loading does and writes
all or nothing."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from eiesim.errors import EiesimError, LayerError, OutputError
from eiesim.format import files as io
from eiesim.format.quantized import QuantizedLayer
from eiesim.network import load_network, save_network

CODEBOOK = np.array([0.0, -0.5, 0.25, 1.0], dtype=np.float32)


def good_arrays() -> dict[str, np.ndarray]:
    return {"codes": np.array([[0, 1, 2], [3, 0, 1]], dtype=np.uint8), "codebook": CODEBOOK,
            "activations": np.array([1.0, 0.0, 2.0])}


def files_in(folder) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


# --- files that are not layer files -----------------------------------------------------------

@pytest.mark.parametrize("loader", [io.load_layer, load_network], ids=["layer", "network"])
@pytest.mark.parametrize("make, message", [
    (lambda p: np.save(p, np.ones((3, 4))), r"single numpy array \(a .npy file, as numpy.save"),
    (lambda p: p.write_text("codes,codebook\n1,2\n"), "is a text file"),
    (lambda p: p.write_bytes(b"\x00\xff\x10\x80garbage" * 10), "is not a numpy file"),
    (lambda p: p.write_bytes(b""), r"is empty \(0 bytes\)"),
    (lambda p: zipfile.ZipFile(p, "w").writestr("readme.txt", "hello"),
     "zip archive but not an .npz: member 'readme.txt'"),
    (lambda p: p.write_bytes(b"PK\x03\x04" + b"\x00" * 40), "damaged"),
    (lambda p: np.savez(p, codes=np.array([{"a": 1}], dtype=object)),
     "array 'codes' holds Python objects"),
])
def test_a_file_that_is_not_an_npz_archive_is_named_for_what_it_is(tmp_path, loader, make,
                                                                   message):
    path = tmp_path / "layer.npz"
    make(path)
    if not path.exists():  # np.save adds .npy: give the loader the file it wrote
        os.replace(tmp_path / "layer.npz.npy", path)
    with pytest.raises(LayerError, match=message) as error:
        loader(path)
    text = str(error.value)
    assert "allow_pickle" not in text and "unsafe" not in text
    assert "save_layer" in text or "save_network" in text


@pytest.mark.parametrize("name, value", [
    ("codebook", CODEBOOK.astype(np.complex64)),
    ("activations", np.array([True, False, True])),
    ("codes", np.array([[0, 1, 2], [3, 0, 1]], dtype=bool)),
    ("activations", np.array(["a", "b", "c"])),
])
def test_complex_boolean_and_text_arrays_are_rejected_by_name(tmp_path, name, value):
    arrays = good_arrays() | {name: value}
    np.savez(tmp_path / "layer.npz", **arrays)
    with pytest.raises(LayerError, match=rf"array '{name}' has dtype {value.dtype}; it must hold "
                                         r"real numbers"):
        io.load_layer(tmp_path / "layer.npz")


def test_complex_codebook_in_a_network_file_is_rejected(tmp_path):
    np.savez(tmp_path / "net.npz", layer0_codes=np.ones((2, 3), np.uint8),
             layer0_codebook=np.array([0, 1 + 1j]), layer0_relu=np.array(True),
             activations=np.ones(3))
    with pytest.raises(LayerError, match="'layer0_codebook' has dtype complex128"):
        load_network(tmp_path / "net.npz")


# --- saving checks as loading does, and writes all or nothing ---------------------------------

def test_save_layer_refuses_what_load_layer_refuses_and_writes_nothing(tmp_path):
    arrays = good_arrays()
    path = tmp_path / "layer.npz"
    with pytest.raises(LayerError, match="index -1, outside the codebook"):
        io.save_layer(path, np.array([[0, -1, 2], [3, 0, 1]]), arrays["codebook"],
                      arrays["activations"])
    with pytest.raises(LayerError, match="reserved for 0"):
        io.save_layer(path, arrays["codes"], np.array([0.5, 1.0, 2.0, 3.0]),
                      arrays["activations"])
    with pytest.raises(LayerError, match=r"activations\[1\] = nan is not finite"):
        io.save_layer(path, arrays["codes"], arrays["codebook"], np.array([1.0, np.nan, 0.0]))
    with pytest.raises(LayerError, match="'codebook' has dtype complex"):
        io.save_layer(path, arrays["codes"], CODEBOOK.astype(complex), arrays["activations"])
    assert list(tmp_path.iterdir()) == []


def test_save_layer_round_trips_exactly_to_the_path_given(tmp_path):
    arrays = good_arrays()
    arrays["activations"] = np.array([0.1, 0.0, 1 / 3])  # not float32-exact: kept float64
    path = tmp_path / "layer.data"  # no .npz suffix is added
    assert io.save_layer(path, arrays["codes"], arrays["codebook"], arrays["activations"],
                         np.array([1, 0])) == path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layer.data"]
    layer = io.load_layer(path)
    assert isinstance(layer, QuantizedLayer)
    assert np.array_equal(layer.codes, arrays["codes"])
    assert np.array_equal(layer.activations, arrays["activations"])
    assert layer.bias_codes.tolist() == [1, 0]
    again = tmp_path / "again.npz"
    io.save_layer(again, layer)  # the layer object itself, with its activations
    assert np.array_equal(io.load_layer(again).codes, layer.codes)


def test_a_failed_save_leaves_the_existing_file_untouched(tmp_path, monkeypatch):
    arrays = good_arrays()
    path = tmp_path / "layer.npz"
    io.save_layer(path, arrays["codes"], arrays["codebook"], arrays["activations"])
    before = files_in(tmp_path)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", disk_full)
    with pytest.raises(OutputError, match="No space left on device.*nothing was written"):
        io.save_layer(path, arrays["codes"], arrays["codebook"], np.zeros(3))
    with pytest.raises(OutputError, match="No space left"):
        save_network(tmp_path / "net.npz", [QuantizedLayer(arrays["codes"], CODEBOOK)],
                     np.ones(3))
    assert files_in(tmp_path) == before  # no temporary file left, the old file unchanged


def test_save_network_writes_atomically_and_loads_back(tmp_path):
    layers = [QuantizedLayer(np.array([[1, 0, 2], [0, 3, 1]]), CODEBOOK),
              QuantizedLayer(np.array([[1, 2]]), CODEBOOK, np.array([1]), relu=False)]
    path = tmp_path / "net.bin"
    save_network(path, layers, np.array([1.0, 2.0, 0.0]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.bin"]
    network = load_network(path)
    assert [layer.relu for layer in network.layers] == [True, False]
    assert isinstance(network.layers[0], QuantizedLayer)


# --- random files: eiesim's own errors or success, nothing else --------------------------------

NAMES = st.one_of(st.sampled_from(io.LAYER_ARRAYS),
                  st.sampled_from(["layer0_codes", "layer0_codebook", "layer0_bias_codes",
                                   "layer0_relu", "layer1_codes", "layer1_codebook"]),
                  st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=10))
DTYPES = st.sampled_from([np.uint8, np.int8, np.int16, np.int64, np.uint64, np.float16,
                          np.float32, np.float64, np.complex64, np.bool_])


@st.composite
def random_arrays(draw: st.DrawFn) -> dict[str, np.ndarray]:
    arrays = {}
    for name in draw(st.lists(NAMES, min_size=0, max_size=6, unique=True)):
        dtype = np.dtype(draw(DTYPES))
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
        arrays[name] = draw(hnp.arrays(dtype, shape))
    return arrays


@st.composite
def plausible_arrays(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """Layer or network files with the right names and mostly matching shapes, random dtypes
    and values (reaching the checks of values, codes and shapes)."""
    out, inp = draw(st.integers(0, 4)), draw(st.integers(0, 4))

    def array(shape: tuple[int, ...]) -> np.ndarray:
        if draw(st.integers(0, 9)) == 0:  # now and then a wrong shape
            shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
        return draw(hnp.arrays(np.dtype(draw(DTYPES)), shape))

    layer = {"activations": array((inp,))}
    if draw(st.booleans()):
        layer |= {"codes": array((out, inp)), "codebook": array((draw(st.integers(0, 20)),))}
        if draw(st.booleans()):
            layer["bias_codes"] = array((out,))
    else:
        layer["weights"] = array((out, inp))
        if draw(st.booleans()):
            layer["bias"] = array((out,))
    if not draw(st.booleans()):
        return layer
    network = {"activations": layer["activations"]}
    for index in range(draw(st.integers(1, 2))):
        for part in ("codes", "codebook", "bias_codes"):
            if part in layer:
                network[f"layer{index}_{part}"] = layer[part]
        if draw(st.booleans()):
            network[f"layer{index}_relu"] = array(())
    return network


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(arrays=st.one_of(random_arrays(), plausible_arrays()), bits=st.sampled_from([None, 2, 8]))
def test_random_npz_archives_load_or_raise_eiesim_errors(tmp_path, arrays, bits):
    path = tmp_path / "fuzz.npz"
    np.savez(path, **arrays)
    for load in (lambda: io.load_layer(path, weight_index_bits=bits), lambda: load_network(path)):
        try:
            load()
        except EiesimError:
            pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=300),
                      st.binary(max_size=300).map(lambda b: b"PK\x03\x04" + b),
                      st.binary(max_size=300).map(lambda b: b"\x93NUMPY" + b)),
       corrupt_at=st.integers(0, 10_000), byte=st.integers(0, 255))
def test_random_bytes_load_or_raise_eiesim_errors(tmp_path, data, corrupt_at, byte):
    path = tmp_path / "bytes.npz"
    path.write_bytes(data)
    for load in (io.load_layer, load_network):
        with pytest.raises(EiesimError):
            load(path)
    # A real layer file with one byte changed: it loads (the byte was in a value) or fails
    # with an eiesim error.
    np.savez(path, **good_arrays())
    raw = bytearray(path.read_bytes())
    raw[corrupt_at % len(raw)] = byte
    path.write_bytes(bytes(raw))
    try:
        io.load_layer(path)
    except EiesimError:
        pass
