"""Multi-layer networks on one simulated EIE chip: layer after layer, outputs feeding inputs.

EIE runs a network one fully connected layer at a time. Each PE has two activation register
files, source and destination (docs/hardware.md §3.5): a layer reads its input from the source
file and
accumulates its outputs in the destination file; after ReLU and write-back (rule T10, already
counted in each layer's cycles) the two files swap roles, so the next layer's LNZD scans the
previous layer's outputs where they are. No cycle is spent moving data between layers: the
network's cycles are the sum of its layers' cycles, and its energy the sum of their energies.

Exactness: in fixed point the outputs are the destination accumulators (after ReLU) and they
*are* the next layer's input registers. ``SimResult.outputs`` holds them as acc / 2**F_a, which
the next layer's rule A1 turns back into exactly the same integers (the same spec, so the same
F_a); in float32 the outputs are float32 values that convert to float32 exactly. So a network
run equals running its layers one by one, each on the previous one's output.

Long vectors: a layer whose outputs exceed the destination registers (more than
``act_regs_per_file`` rows per PE) writes them to the activation SRAM in output batches (rule
T13), and the next layer, whose input then exceeds the source registers, loads it back in input
batches (rule T12); both engines count those cycles and accesses, so a network's totals include
them.

Network file (``.npz``), for layers K = 0 .. L-1:

=======================  ======================  =================================================
array                    shape / dtype           meaning
=======================  ======================  =================================================
``layer{K}_codes``       (out_K, in_K) integer   codebook indices, 0 = pruned
``layer{K}_codebook``    (C,) float              shared values, ``codebook[0] == 0``
``layer{K}_bias_codes``  (out_K,) int, optional  bias as codebook indices (the extra bias column)
``layer{K}_relu``        () bool, optional       apply ReLU to layer K's output (default True)
``activations``          (in_0,) float           the input of layer 0 (chained network)
``layer{K}_activations`` (in_K,) float           *or* each layer's own input (independent layers)
=======================  ======================  =================================================

A file holds either ``activations`` or ``layer{K}_activations`` for every layer. With
``activations`` the layers chain: layer K's output is layer K+1's input, so the shapes must chain
(``out_K == in_(K+1)``). With one input per layer, every layer runs on its own input, as the
paper benchmarks AlexNet's, VGG's and NeuralTalk's layers (each with its measured activation
density), and the shapes need not chain; cycles and energy still add up over the layers. Whatever
``relu`` says, the last layer's output is also reported before ReLU
(:attr:`NetworkResult.pre_activations`), for classification.

>>> import numpy as np
>>> import eiesim
>>> from eiesim.format.quantized import QuantizedLayer
>>> rng = np.random.default_rng(0)
>>> codebook = np.linspace(-1, 1, 16).astype(np.float32); codebook[0] = 0
>>> layers = [QuantizedLayer(rng.integers(0, 16, (32, 16)).astype(np.uint8), codebook),
...           QuantizedLayer(rng.integers(0, 16, (10, 32)).astype(np.uint8), codebook)]
>>> result = simulate_network(layers, rng.random(16), eiesim.HardwareSpec(num_pes=4))
>>> result.num_layers, result.cycles == sum(r.cycles for r in result.layers)
(2, True)
"""

from __future__ import annotations

from eiesim.network.files import (
    HOW_TO_MAKE_A_NETWORK_FILE,
    NetworkData,
    is_network_file,
    load_network,
    save_network,
)
from eiesim.network.run import (
    EncodedNetwork,
    NetworkResult,
    encode_network,
    fit_workload,
    is_network,
    simulate_network,
)

__all__ = ["HOW_TO_MAKE_A_NETWORK_FILE", "EncodedNetwork", "NetworkData",
           "NetworkResult", "encode_network", "fit_workload", "is_network", "is_network_file",
           "load_network", "save_network", "simulate_network"]
