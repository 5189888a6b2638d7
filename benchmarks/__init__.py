"""eiesim's benchmark harness: ``python -m benchmarks [--quick]`` (see README.md here).

Not part of the installed package: it runs from a checkout of the repository and uses only
eiesim's public API. Modules: :mod:`~benchmarks.config` (what runs, the result type, targets),
:mod:`~benchmarks.suite` (the layers against dense baselines and the simulator's speed),
:mod:`~benchmarks.baselines` (dense accelerator and CPU), :mod:`~benchmarks.processes` (CLI
start-up, sweep throughput, encoding memory), :mod:`~benchmarks.machine` (what it ran on),
:mod:`~benchmarks.results_io` and :mod:`~benchmarks.plots` (the files it writes).
"""
