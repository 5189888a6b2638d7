"""The package's version, in a module of its own so that the result writers low in the house
(layer files, traces) can record it without importing the package's public face."""

__version__ = "0.1.0"
