"""Analyses built on the simulator and its formats: questions a researcher asks of a layer or a
design, answered with tidy tables and plots.

:mod:`eiesim.explore.formats` weighs EIE's storage format against the other sparse formats
(exact bit counts, crossover densities, per-layer tables; docs/formats.md).
"""
