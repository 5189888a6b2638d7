"""Modules that are callable as their main function, for names that used to be functions.

``eiesim.compress.prune`` and ``eiesim.compress.quantize`` were once functions that shadowed
their modules, so ``help()`` showed a one-line function doc instead of how each method works.
They are the modules now; to keep ``eiesim.compress.prune(w, 0.1)`` working, each module is
callable as its function.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any


def call_module_as(module_name: str, function: Callable[..., Any]) -> None:
    """Make the module ``module_name`` callable: calling it calls ``function``."""

    class CallableModule(types.ModuleType):
        __doc__ = f"A module callable as {function.__name__}()."

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return function(*args, **kwargs)

    sys.modules[module_name].__class__ = CallableModule
