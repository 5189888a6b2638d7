"""Multi-layer networks (eiesim.network) and the compression pipeline (eiesim.compress.pipeline).

Values are checked against the dense oracle of tests/naive.py, chained by hand; timing against
single-layer runs of eiesim.simulate.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from naive import oracle_accumulators

import eiesim
from eiesim.compress import pipeline
from eiesim.compress.pipeline import CompressionError, compress_arrays, compress_file
from eiesim.errors import EiesimError, LayerError
from eiesim.format import files as io
from eiesim.format.quantized import QuantizedLayer
from eiesim.network import (
    EncodedNetwork,
    encode_network,
    is_network_file,
    load_network,
    save_network,
    simulate_network,
)
from eiesim.sim.prepare import prepare_inputs
from eiesim.testing import assert_results_equal


def random_network(seed: int, sizes=(20, 24, 16, 6), density: float = 0.4,
                   bias: bool = True) -> tuple[list[QuantizedLayer], np.ndarray]:
    rng = np.random.default_rng(seed)
    layers = []
    for inp, out in zip(sizes[:-1], sizes[1:]):
        codebook = np.zeros(16, dtype=np.float32)
        codebook[1:] = np.sort(rng.uniform(-0.6, 0.6, 15))
        codes = np.where(rng.random((out, inp)) < density, rng.integers(1, 16, (out, inp)), 0)
        bias_codes = rng.integers(0, 16, out).astype(np.uint8) if bias else None
        layers.append(QuantizedLayer(codes.astype(np.uint8), codebook, bias_codes))
    activations = np.where(rng.random(sizes[0]) < 0.6, rng.uniform(0, 2, sizes[0]), 0.0)
    return layers, activations


SPECS = [eiesim.HardwareSpec(num_pes=4), eiesim.HardwareSpec(num_pes=3, act_queue_depth=2),
         eiesim.HardwareSpec(num_pes=4, arithmetic="float32")]


@pytest.mark.parametrize("spec", SPECS, ids=["fixed16-4pe", "fixed16-3pe-d2", "float32"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_network_equals_layers_run_one_by_one(spec, seed):
    layers, x = random_network(seed)
    result = simulate_network(layers, x, spec)
    current = x
    for k, layer in enumerate(layers):
        single = eiesim.simulate(layer.encode(spec), current, spec)
        assert_results_equal(result.layers[k], single, names=("network", "single"))
        np.testing.assert_array_equal(result.layers[k].outputs, single.outputs)
        current = single.outputs
    assert result.cycles == sum(r.cycles for r in result.layers)
    assert result.time_s == pytest.approx(result.cycles / spec.clock_hz)
    np.testing.assert_array_equal(result.outputs, result.layers[-1].outputs)
    np.testing.assert_array_equal(result.pre_activations, result.layers[-1].pre_activations)
    assert result.predicted_class == int(np.argmax(result.layers[-1].pre_activations))


@pytest.mark.parametrize("spec", SPECS, ids=["fixed16-4pe", "fixed16-3pe-d2", "float32"])
def test_values_match_the_dense_oracle_chained(spec):
    """Layer K's accumulators after ReLU are layer K + 1's inputs, exactly (A1-A5)."""
    layers, x = random_network(5)
    result = simulate_network(layers, x, spec)
    current = x
    for k, layer in enumerate(layers):
        encoded = layer.encode(spec)
        acc = oracle_accumulators(encoded, current, spec)
        if spec.is_fixed_point:
            scale = 1 << spec.act_frac_bits_effective
            np.testing.assert_array_equal(result.layers[k].pre_activations * scale, acc)
            current = np.maximum(acc, 0) / scale
        else:
            np.testing.assert_array_equal(result.layers[k].pre_activations.astype(np.float32),
                                          acc)
            current = np.maximum(acc.astype(np.float64), 0.0)


def test_fixed_point_outputs_are_the_next_layers_input_registers():
    spec = eiesim.HardwareSpec(num_pes=4)
    layers, x = random_network(3)
    result = simulate_network(layers, x, spec)
    scale = 1 << spec.act_frac_bits_effective
    for k in range(len(layers) - 1):
        outputs = result.layers[k].outputs
        registers = outputs * scale
        assert np.array_equal(registers, np.round(registers))  # whole fixed-point numbers
        prepared = prepare_inputs(layers[k + 1].encode(spec), outputs, spec)
        np.testing.assert_array_equal(prepared.act_fixed[: outputs.size],
                                      registers.astype(np.int64))
        # ReLU outputs: zeros are not broadcast by the next layer's LNZD (T2).
        assert result.layers[k + 1].broadcasts == int(np.count_nonzero(registers)) + 1  # + bias


def test_relu_flag_off_passes_negative_values_on():
    spec = eiesim.HardwareSpec(num_pes=4)
    layers, x = random_network(4)
    layers[0] = QuantizedLayer(layers[0].codes, layers[0].codebook, layers[0].bias_codes,
                             relu=False)
    result = simulate_network(layers, x, spec)
    assert np.any(result.layers[0].pre_activations < 0)  # the case is meaningful
    single = eiesim.simulate(layers[1].encode(spec), result.layers[0].pre_activations, spec)
    assert_results_equal(result.layers[1], single)
    last = QuantizedLayer(layers[-1].codes, layers[-1].codebook, layers[-1].bias_codes,
                        relu=False)
    result = simulate_network(layers[:-1] + [last], x, spec)
    np.testing.assert_array_equal(result.outputs, result.pre_activations)


def test_encoded_network_and_encoded_layers_give_the_same_result():
    spec = eiesim.HardwareSpec(num_pes=4)
    layers, x = random_network(6)
    network = encode_network(layers, spec)
    a = simulate_network(network, x)
    b = simulate_network([layer.encode(spec) for layer in layers], x, spec)
    c = simulate_network(layers, x, spec)
    for ra, rb, rc in zip(a.layers, b.layers, c.layers):
        assert_results_equal(ra, rb)
        assert_results_equal(ra, rc)
    with pytest.raises(LayerError, match="another spec"):
        simulate_network(network, x, eiesim.HardwareSpec(num_pes=2))


def test_shape_mismatch_is_an_error_naming_both_layers():
    layers, x = random_network(0, sizes=(20, 24, 16, 6))
    bad = QuantizedLayer(np.ones((6, 15), dtype=np.uint8), layers[2].codebook)
    with pytest.raises(LayerError, match=r"layer 1 has 16 outputs but layer 2 has 15 inputs"):
        simulate_network(layers[:2] + [bad], x, eiesim.HardwareSpec(num_pes=4))
    with pytest.raises(LayerError, match="layer 1 has 16 outputs"):
        encode_network(layers[:2] + [bad], eiesim.HardwareSpec(num_pes=4))
    with pytest.raises(LayerError, match="shapes must chain"):
        EncodedNetwork((layers[0].encode(eiesim.DEFAULT_SPEC),) * 2, (True, True),
                       eiesim.DEFAULT_SPEC)
    with pytest.raises(LayerError, match=r"layer 0 has 20 inputs|shape \(20,\)"):
        simulate_network(layers, np.ones(19), eiesim.HardwareSpec(num_pes=4))
    with pytest.raises(LayerError, match="non-empty list"):
        simulate_network([], x)


def test_totals_table_and_dict():
    spec = eiesim.HardwareSpec(num_pes=4)
    layers, x = random_network(7)
    result = simulate_network(layers, x, spec)
    busy = sum(int(r.busy_cycles.sum()) for r in result.layers)
    assert result.load_efficiency == pytest.approx(busy / (4 * result.cycles))
    assert result.macs == sum(r.macs for r in result.layers)
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["cycles"] == result.cycles
    assert [layer["cycles"] for layer in payload["layers"]] == [r.cycles for r in result.layers]
    assert payload["predicted_class"] == result.predicted_class
    table = result.format_table()
    assert "total" in table and f"{result.cycles:,}" in table
    assert len(table.splitlines()) == 1 + 1 + 1 + len(layers) + 1 + 1  # title, header, rules
    if result.energy is not None:
        assert result.energy_j == pytest.approx(sum(e.energy_j for e in result.energy))
        assert result.energy_j > 0 and "nJ" in table
        assert simulate_network(layers, x, spec, energy=False).energy_j is None


# --- files -----------------------------------------------------------------------------------

def test_network_file_round_trip(tmp_path):
    layers, x = random_network(8)
    layers[1] = QuantizedLayer(layers[1].codes, layers[1].codebook, None, relu=False)
    path = save_network(tmp_path / "net.npz", layers, x)
    assert is_network_file(path)
    loaded = load_network(path)
    assert len(loaded.layers) == len(layers)
    for a, b in zip(loaded.layers, layers):
        np.testing.assert_array_equal(a.codes, b.codes)
        np.testing.assert_array_equal(a.codebook, b.codebook)
        assert (a.bias_codes is None) == (b.bias_codes is None)
        if a.bias_codes is not None:
            np.testing.assert_array_equal(a.bias_codes, b.bias_codes)
        assert a.relu == b.relu
    np.testing.assert_array_equal(loaded.activations, x)
    spec = eiesim.HardwareSpec(num_pes=4)
    a = simulate_network(loaded.layers, loaded.activations, spec)
    b = simulate_network(layers, x, spec)
    np.testing.assert_array_equal(a.pre_activations, b.pre_activations)
    assert a.cycles == b.cycles


def test_relu_defaults_to_true_and_layer_files_are_not_networks(tmp_path):
    layers, x = random_network(9)
    arrays = {"activations": x}
    for k, layer in enumerate(layers):
        arrays[f"layer{k}_codes"] = layer.codes
        arrays[f"layer{k}_codebook"] = layer.codebook
    np.savez(tmp_path / "plain.npz", **arrays)
    assert all(layer.relu for layer in load_network(tmp_path / "plain.npz").layers)
    io.save_layer(tmp_path / "layer.npz", layers[0].codes, layers[0].codebook, x)
    assert not is_network_file(tmp_path / "layer.npz")
    assert not is_network_file(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    assert not is_network_file(tmp_path / "junk.npz")


@pytest.mark.parametrize("change, message", [
    (lambda a: a.update(layer0_codez=a.pop("layer0_codes")), "did you mean 'layer0_codes'"),
    (lambda a: a.pop("layer1_codes"), "layer 1 has no 'layer1_codes'"),
    (lambda a: [a.pop(k) for k in list(a) if k.startswith("layer1_")], "layer 1 is missing"),
    (lambda a: a.pop("activations"), "'activations'.*missing"),
    (lambda a: a.update(layer0_relu=np.array([1, 0])), "layer0_relu .* bool scalar"),
    (lambda a: a.update(layer1_codes=a["layer1_codes"][:, :5]), "layer 0 has 24 outputs"),
    (lambda a: a.update(layer2_codebook=np.array([1.0, 2.0])), "reserved for 0"),
    (lambda a: a.update(activations=np.full(20, np.nan)), "finite"),
])
def test_bad_network_files_name_the_problem(tmp_path, change, message):
    layers, x = random_network(10)
    path = save_network(tmp_path / "net.npz", layers, x)
    with np.load(path) as data:
        arrays = dict(data)
    change(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(LayerError, match=message):
        load_network(tmp_path / "bad.npz")


def test_save_network_checks_before_writing(tmp_path):
    layers, x = random_network(11)
    with pytest.raises(LayerError, match="shapes must chain"):
        save_network(tmp_path / "net.npz", [layers[0], layers[2]], x)
    with pytest.raises(LayerError, match=r"shape \(20,\)"):
        save_network(tmp_path / "net.npz", layers, x[:-1])
    assert not (tmp_path / "net.npz").exists()


# --- the compression pipeline ---------------------------------------------------------------

def float_layer(seed: int, out: int = 48, inp: int = 40):
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 0.3, (out, inp)), rng.normal(0, 0.1, out),
            np.where(rng.random(inp) < 0.5, rng.uniform(0, 1, inp), 0.0))


def test_layers_with_their_own_inputs_need_not_chain(tmp_path):
    first, _ = random_network(5, sizes=(20, 12))
    second, _ = random_network(6, sizes=(30, 8))
    layers = first + second  # 20 -> 12, then 30 -> 8: no chain
    rng = np.random.default_rng(1)
    inputs = [rng.uniform(0, 1, 20), rng.uniform(0, 1, 30)]
    spec = eiesim.HardwareSpec(num_pes=4)
    with pytest.raises(LayerError, match="shapes must chain"):
        simulate_network(layers, inputs[0], spec)
    result = simulate_network(layers, None, spec, layer_inputs=inputs)
    assert not result.chained and result.num_layers == 2
    for layer, values, layer_result in zip(layers, inputs, result.layers):
        alone = eiesim.simulate(layer.encode(spec), values, spec)
        assert_results_equal(layer_result, alone)
    assert result.cycles == sum(r.cycles for r in result.layers)
    assert result.edp_js == pytest.approx(result.energy_j * result.time_s)
    assert result.edap_jsm2 == pytest.approx(result.edp_js * result.area_mm2 * 1e-6)
    payload = result.to_dict()
    assert payload["power_w"] == pytest.approx(result.power_w)
    assert "average_power_w" not in payload

    path = tmp_path / "net.npz"
    save_network(path, layers, layer_inputs=inputs)
    loaded = load_network(path)
    assert loaded.activations is None and not loaded.chained
    for values, back in zip(inputs, loaded.layer_inputs):
        np.testing.assert_array_equal(values, back)
    again = simulate_network(loaded.layers, None, spec, layer_inputs=loaded.layer_inputs)
    assert again.cycles == result.cycles


@pytest.mark.parametrize("extra, message", [
    ({"activations": np.ones(20)}, "both 'activations'.*layer\\{K\\}_activations"),
    ({"layer1_activations": None}, "layer 1 has no 'layer1_activations'"),
])
def test_per_layer_inputs_are_all_or_nothing(tmp_path, extra, message):
    layers, _ = random_network(7, sizes=(20, 12, 6))
    arrays = {"layer0_codes": layers[0].codes, "layer0_codebook": layers[0].codebook,
              "layer1_codes": layers[1].codes, "layer1_codebook": layers[1].codebook,
              "layer0_activations": np.ones(20), "layer1_activations": np.ones(12)}
    arrays.update(extra)
    np.savez(tmp_path / "net.npz", **{k: v for k, v in arrays.items() if v is not None})
    with pytest.raises(LayerError, match=message):
        load_network(tmp_path / "net.npz")
    with pytest.raises(LayerError, match="either activations .* or layer_inputs"):
        simulate_network(layers, np.ones(20), layer_inputs=[np.ones(20), np.ones(12)])


@pytest.mark.parametrize("method", ["magnitude", "random", "gradient", "rows", "columns",
                                    "blocks", "balanced"])
def test_compress_file_output_loads_and_runs(tmp_path, method):
    w, b, x = float_layer(1)
    arrays = {"weights": w, "bias": b, "activations": x}
    if method == "gradient":
        arrays["gradients"] = np.random.default_rng(2).normal(size=w.shape)
    np.savez(tmp_path / "in.npz", **arrays)
    summary = compress_file(tmp_path / "in.npz", tmp_path / "out.npz", method=method,
                            density=0.25, num_pes=8, bits=4, seed=3)
    data = io.load_layer(tmp_path / "out.npz")
    assert not data.quantized_on_load
    assert abs(summary.density - 0.25) < 0.03
    assert summary.density == np.count_nonzero(data.codes) / data.codes.size
    assert summary.kept_weights == np.count_nonzero(data.codes)
    np.testing.assert_array_equal(data.activations, x)  # stored exactly (float64 if needed)
    assert data.bias_codes is not None and data.codebook[0] == 0
    expected = compress_arrays(w, b, method=method, density=0.25, num_pes=8, bits=4, seed=3,
                               gradients=arrays.get("gradients"))
    np.testing.assert_array_equal(data.codes, expected["codes"])
    spec = eiesim.HardwareSpec(num_pes=8)
    result = eiesim.simulate(eiesim.encode(data.codes, data.codebook, data.bias_codes,
                                           spec=spec), data.activations, spec)
    assert result.max_abs_error < 0.05
    assert 0 < summary.relative_error < 0.5
    assert "density" in summary.format() and summary.to_dict()["shape"] == [48, 40]


def test_compress_arrays_prunes_then_shares_weights():
    w, b, _ = float_layer(4)
    arrays = compress_arrays(w, b, method="magnitude", density=0.5, bits=3)
    assert arrays["codebook"].shape == (8,) and arrays["codebook"][0] == 0
    kept = arrays["codes"] != 0
    assert kept.sum() == w.size // 2
    assert np.abs(w[kept]).min() >= np.abs(w[~kept]).max()  # magnitude pruning
    assert arrays["bias_codes"].shape == (48,)
    assert "bias_codes" not in compress_arrays(w, method="random", density=0.5)


def test_compress_file_without_activations_fails_and_writes_nothing(tmp_path):
    w, b, x = float_layer(5)
    np.savez(tmp_path / "in.npz", weights=w, bias=b)
    with pytest.raises(CompressionError, match="activations.*eiesim run"):
        compress_file(tmp_path / "in.npz", tmp_path / "out.npz", method="magnitude",
                      density=0.5)
    assert not (tmp_path / "out.npz").exists()
    compress_file(tmp_path / "in.npz", tmp_path / "out.npz", method="magnitude", density=0.5,
                  activations=x)
    np.testing.assert_array_equal(io.load_layer(tmp_path / "out.npz").activations, x)


@pytest.mark.parametrize("arrays, options, message", [
    ({"weights": "w", "activations": "x"}, {"method": "gradient"}, "needs an array 'gradients'"),
    ({"weights": "w", "activations": "x", "bais": "b"}, {}, "did you mean 'bias'"),
    ({"activations": "x"}, {}, "'weights'.*missing"),
    ({"weights": "w", "activations": "x"}, {"method": "biggest"}, "not a pruning method"),
    ({"weights": "w", "activations": "x"}, {"density": 1.5}, r"density = 1.5 must be in \(0, 1\]"),
    ({"weights": "w", "activations": "x"}, {"bits": 9}, "bits = 9"),
    ({"weights": "w", "activations": "x[:-1]"}, {}, r"shape \(39,\).*\(40,\)"),
    ({"weights": "w", "activations": "x", "bias": "b[:3]"}, {}, r"bias has shape \(3,\)"),
    ({"weights": "w * np.nan", "activations": "x"}, {}, "not finite"),
    ({"codes": "w", "activations": "x"}, {}, "'codes' needs a 'codebook'"),
])
def test_compress_file_errors(tmp_path, arrays, options, message):
    w, b, x = float_layer(6)
    values = {name: eval(expr, {"np": np, "w": w, "b": b, "x": x})  # noqa: S307 - test table
              for name, expr in arrays.items()}
    np.savez(tmp_path / "in.npz", **values)
    kwargs = {"method": "magnitude", "density": 0.5}
    kwargs.update(options)
    with pytest.raises(CompressionError, match=message) as caught:
        compress_file(tmp_path / "in.npz", tmp_path / "out.npz", **kwargs)
    assert isinstance(caught.value, EiesimError)
    assert not (tmp_path / "out.npz").exists()


def test_compress_file_path_errors(tmp_path):
    w, b, x = float_layer(7)
    np.savez(tmp_path / "in.npz", weights=w, activations=x)
    common = {"method": "magnitude", "density": 0.5}
    with pytest.raises(CompressionError, match="does not exist"):
        compress_file(tmp_path / "nope.npz", tmp_path / "out.npz", **common)
    with pytest.raises(CompressionError, match="must end in .npz"):
        compress_file(tmp_path / "in.npz", tmp_path / "out.bin", **common)
    with pytest.raises(CompressionError, match="is the input file"):
        compress_file(tmp_path / "in.npz", tmp_path / "in.npz", **common)
    with pytest.raises(CompressionError, match="directory .* does not exist"):
        compress_file(tmp_path / "in.npz", tmp_path / "no" / "out.npz", **common)
    np.save(tmp_path / "single.npy", w)
    with pytest.raises(CompressionError, match="single numpy array.*numpy.savez"):
        compress_file(tmp_path / "single.npy", tmp_path / "out.npz", **common)
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(CompressionError, match="is a text file.*not an .npz archive"):
        compress_file(tmp_path / "junk.npz", tmp_path / "out.npz", **common)
    assert pipeline.INPUT_ARRAYS == ("weights", "bias", "activations", "gradients", "inputs")


def test_fit_workload_enlarges_what_any_layer_of_a_network_needs():
    from eiesim.format.capacity import fit_memories
    from eiesim.network import NetworkData, fit_workload, is_network

    first, _ = random_network(8, sizes=(200, 64), density=0.9)   # many entries per PE
    second, _ = random_network(9, sizes=(64, 600), density=0.9)  # many rows per PE
    layers = first + second
    network = NetworkData(tuple(layers), None, "two", layer_inputs=(np.ones(200), np.ones(64)))
    spec = eiesim.HardwareSpec(num_pes=1)
    assert is_network(network) and not is_network(layers[0])
    fitted, changes = fit_workload(network, spec)
    for layer in layers:
        _, alone = fit_memories(layer, spec)
        for name, value in alone.items():  # every layer's needs, the largest of them kept
            assert getattr(fitted, name) >= value and name in changes
        layer.encode(fitted)  # every layer fits the fitted spec
    assert fit_workload(layers[0], spec) == fit_memories(layers[0], spec)
