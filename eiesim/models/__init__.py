"""Real models run end to end: train, prune, quantize, then simulate every input on EIE.

* :mod:`eiesim.models.digits`: a small MLP on scikit-learn's bundled 8x8 digits (no download),
  pruned with each method of :mod:`eiesim.compress.prune`, 4-bit weight sharing, every test
  image through the simulated fixed-point chip.
"""
