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

# Numba caches the kernels by a hash of all of their sources (Numba checks only a function's own file).
install_cache_locator()
