"""One command-line vocabulary: the same flag for the same thing in every command, declared once
(eiesim/cli/options.py), and flags that say what is wrong with them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eiesim.cli import build_parser
from eiesim.cli.options import ArgumentParser, parse_hz

COMMANDS = ("run", "sweep", "compress", "search", "formats")


def options_of(command: str) -> dict[str, object]:
    """Every option string of ``command`` -> its argparse action."""
    parser = build_parser([command])
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return dict(sub.choices[command]._option_string_actions)


@pytest.mark.parametrize("command", COMMANDS)
def test_shared_options_have_one_spelling_and_meaning(command):
    options = options_of(command)
    if "--output" in options:
        assert options["-o"] is options["--output"], command  # -o/--output everywhere
    for flag in ("--json", "--seed"):
        assert flag in options, (command, flag)
    if "--scheduler" in options:
        assert "--workers" in options
    seed = options["--seed"]
    assert seed.default == 0 and seed.type("3") == 3, command


@pytest.mark.parametrize("command, flags", [
    ("run", ("-o", "--energy-table", "--engine", "--plot", "--json", "--seed")),
    ("sweep", ("-o", "--energy-table", "--engine", "--plot", "--plot-x", "--json", "--seed",
               "--workers", "--scheduler", "--no-progress", "--resume")),
    ("compress", ("-o", "--json", "--seed", "--example")),
    ("search", ("-o", "--energy-table", "--plot", "--json", "--seed", "--workers", "--scheduler",
                "--no-progress")),
    ("formats", ("--energy-table", "--plot", "--json", "--seed")),
])
def test_each_command_has_the_options_that_make_sense_for_it(command, flags):
    options = options_of(command)
    for flag in flags:
        assert flag in options, (command, flag)


def test_workers_and_scheduler_exclude_each_other_in_every_command(capsys):
    for argv in (["sweep", "--example", "alex-8", "--pes", "4", "-o", "x.csv"],
                 ["search", "m.npz", "--data", "d.npz", "--objective", "cycles",
                  "--max-accuracy-drop", "0.01", "-o", "n.npz", "--report", "r.csv"]):
        with pytest.raises(SystemExit) as stop:
            build_parser(argv).parse_args(argv + ["--workers", "2", "--scheduler",
                                                  "tcp://127.0.0.1:1"])
        assert stop.value.code == 2
        assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize("argv, expected", [
    (["run", "--example", "alexnet-fc8", "--pse", "4"],
     "unknown option --pse (did you mean --pes?)"),
    (["run", "--example", "alexnet-fc8", "--fifoo", "4"],
     "unknown option --fifoo (did you mean --fifo?)"),
    (["sweep", "--example", "alexnet-fc8", "--pe", "4,8"], "unknown option --pe"),
])
def test_a_misspelt_flag_is_named_not_read_as_a_positional(capsys, argv, expected):
    with pytest.raises(SystemExit) as stop:
        build_parser(argv).parse_args(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and "not allowed with" not in err and err.count("\n") == 1


def test_flags_are_never_abbreviated(capsys):
    parser = ArgumentParser(prog="t")
    parser.add_argument("--energy-table")
    with pytest.raises(SystemExit):
        parser.parse_args(["--energy", "x"])
    assert "unknown option --energy" in capsys.readouterr().err


def test_negative_numbers_and_attached_short_values_are_not_flags():
    parser = ArgumentParser(prog="t")
    parser.add_argument("-o", "--output")
    parser.add_argument("--value", type=float)
    args = parser.parse_args(["-oFILE", "--value", "-1.5"])
    assert (args.output, args.value) == ("FILE", -1.5)


@pytest.mark.parametrize("text, hertz", [("800mhz", 800e6), ("800MHz", 800e6), ("1.2 GHz", 1.2e9),
                                         ("1.2ghz", 1.2e9), ("500k", 500e3), ("800e6", 800e6)])
def test_clock_prefixes_ignore_case(text, hertz):
    assert parse_hz(text) == hertz


@pytest.mark.slow
def test_run_writes_its_output_with_dash_o_and_trace_implies_reference(tmp_path):
    from tests.test_cli import run_cli

    done = run_cli("run", "--example", "alexnet-fc8", "-o", "out.npy", "--clock", "800mhz",
                   "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["config"]["clock_hz"] == 800e6
    assert np.load(tmp_path / "out.npy").shape == (1000,)


@pytest.mark.slow
def test_sweep_json_summary_names_the_best_point(tmp_path):
    from tests.test_cli import run_cli

    done = run_cli("sweep", "--example", "alexnet-fc8", "--pes", "32,64", "-o", "s.csv",
                   "--json", "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["points"] == summary["ran"] == 2
    assert summary["best"]["cycles"]["point"] == {"pes": "64"}
    assert (tmp_path / "s.csv").exists()


@pytest.mark.slow
@pytest.mark.parametrize("command", [["run"], ["compress", "--method", "magnitude",
                                                "--density", "0.5", "-o", "out.npz"]])
def test_a_model_file_is_pointed_to_eiesim_search(tmp_path, command):
    from tests.test_cli import run_cli

    np.savez(tmp_path / "mlp.npz", layer0_weights=np.ones((4, 3)), layer0_bias=np.zeros(4))
    done = run_cli(command[0], "mlp.npz", *command[1:], cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "is a model file" in done.stderr and "eiesim search mlp.npz" in done.stderr
    assert "did you mean" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.npz"]


@pytest.mark.slow
def test_compress_takes_the_shipped_example_and_prunes_it_further(tmp_path):
    from tests.test_cli import run_cli

    done = run_cli("compress", "--example", "alexnet-fc8", "--method", "magnitude", "--density",
                   "0.1", "--weight-bits", "3", "-o", "fc8_10.npz", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["density"] == pytest.approx(0.1, abs=1e-3) and summary["codebook_size"] == 8
    ran = run_cli("run", "fc8_10.npz", "--json", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["cycles"] < 7894  # a tenth of the weights: fewer cycles
    generated = run_cli("compress", "--example", "alex-6", "--method", "magnitude",
                        "--density", "0.1", "-o", "x.npz", cwd=tmp_path)
    assert generated.returncode == 2 and "made by a generator" in generated.stderr


def test_the_search_measures_energy_with_the_users_table():
    from pathlib import Path

    from eiesim.search.compression import dense_network, evaluate_network
    from eiesim.search.model import load_data, load_model
    from eiesim.spec import HardwareSpec

    root = Path(__file__).resolve().parents[1]
    model = load_model(root / "examples" / "digits_mlp.npz")
    data = load_data(root / "examples" / "digits_data.npz")
    network, spec = dense_network(model, bits=4, seed=0), HardwareSpec(num_pes=16)
    default = evaluate_network(network, data, spec, timing_inputs=1)
    table = root / "eiesim" / "data" / "energy" / "example.toml"
    users = evaluate_network(network, data, spec, timing_inputs=1, energy_table=str(table))
    assert users.cycles == default.cycles and users.energy_j != default.energy_j


def test_the_command_lines_engines_are_the_simulators():
    from eiesim.cli.options import ENGINES
    from eiesim.sim import ENGINES as SIMULATOR_ENGINES

    assert ENGINES == SIMULATOR_ENGINES
