"""The one place that decides how kernels are compiled.

Every ``@njit`` in :mod:`jitprop.kernels` takes its options from here, so the
cache and the fastmath flags cannot drift apart. No kernel is compiled with
``parallel=True``: :mod:`jitprop.kernels._numba.parallel` runs tasks on the threads.

The fastmath flags allow reassociation and contraction (so LLVM can vectorize
dot products and fuse multiply-adds) but deliberately leave out ``nnan`` and
``ninf``: NaN and inf keep their meaning, so a diverging run is detected
instead of silently producing garbage.
"""

from .cache import install as install_cache_locator

FASTMATH_FLAGS = {"nsz", "arcp", "contract", "afn", "reassoc"}

#: Options of a serial kernel. (Kernels are called from Python or through
#: their native code, never as C callbacks: Numba need not write a C wrapper
#: for each.)
KERNEL = dict(cache=True, nogil=True, fastmath=FASTMATH_FLAGS, error_model="numpy", no_cfunc_wrapper=True)

#: Options of a kernel whose code is written into its callers' (Numba inlines
#: it before compiling them): for the parts of a tile, each called from one
#: place, so that the network's buffers (some 180 machine words of arguments)
#: are not passed down once more on every call, and for helpers of a few
#: lines (views, stores, hashing), which would otherwise each be compiled as
#: a function of their own.
INLINED_KERNEL = dict(KERNEL, inline="always")

#: Options of code that must round as written wherever it is compiled: the
#: functions of one element of the activations (a value, or a derivative
#: times a delta) and of the mean squared error's delta, which the tile's
#: kernels call and a tiny network's batch writes in (see ``.tiny``). Under
#: the fast-math flags above, LLVM may regroup a product of three factors or
#: a sum, or fuse a multiplication into an addition, differently in each
#: place, by where the operands come from. Compiled without them, as a
#: function of its own (LLVM inlines it and each instruction keeps its own
#: flags; Numba's inlining would give it its caller's), each operation
#: rounds as written. Loops without reductions vectorize without them.
AS_WRITTEN = dict(cache=True, nogil=True, fastmath=False, error_model="numpy", no_cfunc_wrapper=True)

# Numba caches the kernels by a hash of all of their sources (Numba checks only a function's own file).
install_cache_locator()
