"""Errors raised for bad user input. Each message names the value, the limit and a fix.

The CLI turns any :class:`EiesimError` into one line on stderr and exit code 2.
"""


class EiesimError(ValueError):
    """Base class of every user-facing error in eiesim."""


class SpecError(EiesimError):
    """A hardware parameter is out of range or unknown."""


class LayerError(EiesimError):
    """A layer file or array is malformed (missing arrays, shapes, values, codes)."""


class CapacityError(EiesimError):
    """A layer does not fit the memories or pointer width of the chosen hardware."""


class OutputError(EiesimError):
    """An output destination that cannot or must not be written (an input, a directory, a
    folder that does not exist, a device that refuses the data)."""


class CompressionError(LayerError):
    """An input of compression (a file, an array, a method, a density or an option) that cannot
    be used, for one layer (eiesim compress) or a whole network (eiesim search)."""


class UsageError(EiesimError):
    """A command-line value or combination of options that cannot be used."""


class MissingDependencyError(EiesimError):
    """An optional library that a requested feature needs is not installed."""
