"""Exploring the design space: the workloads at hand and the machinery that runs many points.

=================  ==========================================================================
module             holds
=================  ==========================================================================
``workloads``      the paper's benchmark layers and the one seeded synthetic generator of them
``catalog``        named examples (``--example``): the real fc8 layer, the paper's layers and
                   networks of them
``sweep``          design-space sweeps over layers, networks and named workloads -> a tidy
                   DataFrame
``executor``       many independent tasks on local processes or a Dask cluster (the shared
                   object shipped once, tasks in batches, results in task order)
``sweep_file``     a sweep streamed to a CSV file, resumable after a crash or Ctrl-C
``calibration``    the measurement of the energy table's calibration activity
``formats``        EIE's storage format weighed against the other sparse formats (exact bit
                   counts, crossover densities, per-layer tables; docs/formats.md)
=================  ==========================================================================

Above the simulator, the energy model and networks; below the compression search and the
command line, which use it.
"""
