"""Loading the compiled kernels from numba's on-disk cache without numba's compiler set-up.

Before numba loads a cached kernel it refreshes its compiler's context: it imports and
registers the implementations of everything numba can compile (linear algebra, random
numbers, typed containers, jitclasses, datetimes, ...), about half as long again as importing
numpy and numba, and more than the ``eiesim run`` of the shipped layer takes besides; and
before it looks at a call's arguments it reads the entry points of every installed package
for numba extensions. A kernel loaded from the cache is machine code already: all it needs of
the context is numba's runtime (its memory management, which the kernels' arrays use), and
extensions only add types and functions to compile with. So the command's own process loads
cached kernels with the runtime alone and leaves the extensions for later, and a kernel that
is not in the cache (the first run on a machine, or after an upgrade) is compiled exactly as
before: the extensions are loaded first, and numba's compiler refreshes the whole context
itself before it compiles anything.

Only the ``eiesim`` command installs this (in its own process, like
:class:`eiesim.cli._SkipNumbaBlasProbe`); importing eiesim never changes numba. If numba's
internals are not the ones this was written against, it leaves numba alone.
"""

from __future__ import annotations

import gc
import importlib.machinery
import sys
from typing import Any

_MODULE = "numba.core.caching"


class LightCachedKernelLoads:
    """A meta-path finder that waits for numba's caching module to be imported (so that
    commands which never load numba never import it) and then changes how it loads cached
    kernels; it steps aside after that one import."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != _MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            execute(module)
            _install(module)

        spec.loader.exec_module = exec_module  # this module's loader only
        return spec


def _install(caching: Any) -> None:
    cache, no_cache = getattr(caching, "Cache", None), getattr(caching, "NullCache", None)
    load = getattr(cache, "load_overload", None)
    load_nothing = getattr(no_cache, "load_overload", None)
    if load is None or load_nothing is None or not all(
            hasattr(cache, name) for name in ("_load_overload",
                                              "_guard_against_spurious_io_errors")):
        return
    try:
        from numba.core import entrypoints
        from numba.core.runtime import rtsys
    except ImportError:
        return
    load_extensions = getattr(entrypoints, "init_all", None)
    if load_extensions is None:
        return

    def compile_as_usual() -> None:
        gc.enable()  # numba's compiler makes garbage in cycles (eiesim.cli.BOUNDED_COMMANDS)
        entrypoints.init_all = load_extensions
        load_extensions()

    def load_overload(self: Any, sig: Any, target_context: Any) -> Any:
        try:
            rtsys.initialize(target_context)
            with self._guard_against_spurious_io_errors():
                loaded = self._load_overload(sig, target_context)
        except Exception:  # noqa: BLE001 - anything unexpected: numba's own way, in full
            compile_as_usual()
            return load(self, sig, target_context)
        if loaded is None:  # not in the cache: numba compiles it next
            compile_as_usual()
        return loaded

    def load_from_no_cache(self: Any, sig: Any, target_context: Any) -> Any:
        compile_as_usual()  # a function without a cache is always compiled
        return load_nothing(self, sig, target_context)

    entrypoints.init_all = _later
    cache.load_overload = load_overload
    no_cache.load_overload = load_from_no_cache


def _later() -> None:
    """Numba's extensions, until something has to be compiled (see the module docstring)."""
