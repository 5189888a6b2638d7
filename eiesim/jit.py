"""The one place that holds the numba options of every compiled kernel: the fast engine's
(:mod:`eiesim.sim.fast.kernel`), the encoder's (:mod:`eiesim.format.encode_kernels`), the
float reference's (:mod:`eiesim.format.decode_kernels`), k-means'
(:mod:`eiesim.compress.kmeans_kernel`) and the search's (:mod:`eiesim.search.chip_arithmetic`,
:mod:`eiesim.search.train_kernels`).

``cache=True`` keeps the compiled kernels on disk, so only the first run on a machine pays the
compile time. ``nogil=True`` lets sweeps run engines and encoders in threads. No ``fastmath``:
rule A5 forbids fused multiply-add and reassociation, and float results must match the
reference bit for bit. Small helpers called once per column are inlined into their callers
(``INLINE_OPTIONS``): a numba call with a dozen array arguments costs more than the few entries
of a typical column.
"""

NUMBA_OPTIONS = dict(cache=True, nogil=True)
INLINE_OPTIONS = dict(NUMBA_OPTIONS, inline="always")
VECTOR_DIVISION_OPTIONS = dict(NUMBA_OPTIONS, error_model="numpy")
"""For kernels that divide inside a loop: IEEE division instead of a Python ZeroDivisionError
check per element, which is what lets LLVM vectorise the loop. Only for kernels whose every
divisor is provably non-zero, so that the values are the same."""
