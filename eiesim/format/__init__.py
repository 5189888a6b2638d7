"""EIE's storage format: what the compression front end produces and the simulator consumes.

=================  ==========================================================================
module             holds
=================  ==========================================================================
``quantized``      :class:`QuantizedLayer`: codebook indices, codebook, bias codes (one type
                   from loading, quantizing, the synthetic generator and the tests)
``encoded``        :class:`EncodedLayer`: the per-PE interleaved CSC as the chip stores it
                   (docs/hardware.md §2), its storage statistics and output batches (T13)
``codes``          validation of code matrices, shared by the encoder and the layer files
``capacity``       what a layer needs from the memories, counted without encoding, and
                   :func:`fit_memories` (``--fit-memories``)
``encoder``        :func:`encode`: codes -> EncodedLayer (numba passes in ``encode_kernels``)
``files``          layer files (.npz) in and out, and the shipped real layer
=================  ==========================================================================

Below everything but the spec: this package imports only :mod:`eiesim.spec`,
:mod:`eiesim.errors`, :mod:`eiesim.checks` and :mod:`eiesim.safe_output` (and, once, the weight
sharing of :mod:`eiesim.compress.quantize`; see :func:`eiesim.format.files.layer_from_arrays`).
"""
