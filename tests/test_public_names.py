"""Every public name documents itself: no function shadows its module, nothing lacks a docstring."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types

import pytest

import eiesim

PACKAGES = ["eiesim", "eiesim.compress", "eiesim.energy", "eiesim.network", "eiesim.sim",
            "eiesim.sim.fast", "eiesim.cli", "eiesim.search", "eiesim.explore",
            "eiesim.explore.formats"]


@pytest.mark.parametrize("package_name", PACKAGES)
def test_no_attribute_shadows_a_submodule(package_name):
    package = importlib.import_module(package_name)
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.name == "__main__":
            continue
        submodule = importlib.import_module(f"{package_name}.{info.name}")
        attribute = getattr(package, info.name)
        assert attribute is submodule, (
            f"{package_name}.{info.name} is a {type(attribute).__name__}, not the module "
            f"{submodule.__name__}: help() would show the wrong documentation")


@pytest.mark.parametrize("package_name", PACKAGES)
def test_every_public_name_has_its_own_documentation(package_name):
    package = importlib.import_module(package_name)
    names = getattr(package, "__all__", [n for n in dir(package) if not n.startswith("_")])
    for name in names:
        value = getattr(package, name)
        if not (inspect.isfunction(value) or inspect.isclass(value)
                or isinstance(value, types.ModuleType)):
            continue
        doc = inspect.getdoc(value) or ""
        assert len(doc) > 20, f"{package_name}.{name} has no documentation of its own"
        summary = doc.splitlines()[0].lower()
        assert "see the module" not in summary, f"{package_name}.{name}: {summary}"


def test_the_prune_and_quantize_modules_document_their_methods():
    from eiesim.compress import prune, quantize

    assert isinstance(prune, types.ModuleType) and isinstance(quantize, types.ModuleType)
    assert "magnitude" in (prune.__doc__ or "")
    assert eiesim.encode.__module__ == "eiesim.format.encoder"
