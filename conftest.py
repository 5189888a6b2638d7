"""Test-session setup shared by the whole suite.

Notebooks. The notebooks in ``notebooks/`` run under pytest when the nbmake plugin is installed
(``pip install -e ".[test]"`` installs it): :func:`pytest_configure` switches its collection on,
so ``python3 -m pytest -q`` runs them without ``--nbmake`` on the command line, and pytest still
starts when the plugin is missing (the notebooks are then not collected). Each notebook reads
``EIESIM_NOTEBOOK_QUICK`` in its first cell and, when it is "1", uses small layers and few sweep
points. The variable is set here, at import, before nbmake starts any kernel (kernels inherit
this process's environment); a value already set by the caller wins, so
``EIESIM_NOTEBOOK_QUICK=0 python3 -m pytest`` runs them at full size.

The ``slow`` marker (declared in pyproject.toml) marks tests that take seconds to minutes;
``python3 -m pytest -m "not slow"`` is the fast inner loop. Every notebook counts as slow.
"""

import os

import pytest

os.environ.setdefault("EIESIM_NOTEBOOK_QUICK", "1")


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("nbmake"):
        config.option.nbmake = True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)
