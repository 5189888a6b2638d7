"""eiesim: a cycle-level simulator of EIE, the Efficient Inference Engine (Han et al., ISCA 2016).

The public names below are imported on first use (PEP 562), so that ``import eiesim`` and the
command line's ``--help`` do not pay for numpy and numba until a simulation needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from eiesim.version import __version__

_PUBLIC = {
    "DEFAULT_SPEC": "eiesim.spec", "HardwareSpec": "eiesim.spec",
    "CapacityError": "eiesim.errors", "EiesimError": "eiesim.errors",
    "LayerError": "eiesim.errors", "SpecError": "eiesim.errors",
    "EncodedLayer": "eiesim.format.encoded", "StorageStats": "eiesim.format.encoded",
    "SimResult": "eiesim.sim", "simulate": "eiesim.sim",
    "encode": "eiesim.format.encoder",
}

__all__ = [*sorted(_PUBLIC), "__version__"]

if TYPE_CHECKING:  # the names as type checkers see them (ruff: re-exports, not unused)
    from eiesim.errors import CapacityError, EiesimError, LayerError, SpecError  # noqa: F401
    from eiesim.format.encoded import EncodedLayer, StorageStats  # noqa: F401
    from eiesim.format.encoder import encode  # noqa: F401
    from eiesim.sim import SimResult, simulate  # noqa: F401
    from eiesim.spec import DEFAULT_SPEC, HardwareSpec  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'eiesim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
