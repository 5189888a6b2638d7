"""Packaging: what the core install needs, the optional extras, the licence, and a YAML energy
table without PyYAML."""

import sys
import tomllib
from pathlib import Path

import pytest

from eiesim import DEFAULT_SPEC
from eiesim.energy.table import EnergyTableError
from eiesim.energy.user import load_energy_table

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_core_dependencies_are_minimal():
    names = [requirement.split(">")[0].split("=")[0] for requirement in
             PROJECT["project"]["dependencies"]]
    assert names == ["numpy", "numba", "simpy", "pandas", "tqdm"]


def test_extras_cover_every_optional_part_and_all_includes_them():
    extras = PROJECT["project"]["optional-dependencies"]
    assert sorted(extras) == ["all", "bench", "dask", "import", "models", "plot", "test", "yaml"]
    for name in extras:
        assert extras[name], name
    assert extras["all"] == ["eiesim[bench,models,dask,plot,import,yaml]"]
    assert "eiesim[all]" in extras["test"]
    assert not any("torch" in requirement for values in extras.values()
                   for requirement in values)


def test_benchmarks_are_not_in_the_wheel_and_the_licence_is_mit():
    assert PROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["eiesim*"]
    assert PROJECT["project"]["license"] == "MIT"
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License")
    assert "Copyright (c) 2026 the eiesim developers" in licence


def test_pytest_needs_no_optional_plugin():
    assert "--nbmake" not in PROJECT["tool"]["pytest"]["ini_options"]["addopts"]


def test_yaml_table_without_pyyaml_names_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "table.yaml"
    path.write_text("scale:\n  arith: 2\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now raises ImportError
    with pytest.raises(EnergyTableError, match=r"needs PyYAML.*eiesim\[yaml\].*\.toml"):
        load_energy_table(path, DEFAULT_SPEC)
    toml_path = tmp_path / "table.toml"
    toml_path.write_text("[scale]\narith = 2\n")
    assert load_energy_table(toml_path, DEFAULT_SPEC).name
