"""Functions whose code is chosen by the precision of an argument, when the caller is compiled.

:func:`by_precision` stands on ``numba.extending.overload`` (behind this
package's fence, see :mod:`jitprop.kernels._numba`): a kernel calls the
function it returns as ``f(x, like)`` and gets ``single(x)`` where ``like``
is a float32 and ``double(x)`` otherwise, with no branch left at run time.
"""

from numba import types
from numba.extending import overload

from .options import INLINED_KERNEL


def by_precision(single, double, name):
    """``f(x, like)``: ``single(x)`` (a jitted function) where ``like`` is a float32, else ``double(x)``.

    ``name`` names the function returned (its ``__name__``, for tracebacks
    and compile events).
    """

    def chosen(x, like):
        return double(x)

    chosen.__name__ = chosen.__qualname__ = name

    @overload(chosen, jit_options=INLINED_KERNEL)
    def _typed(x, like):
        if like == types.float32:
            return lambda x, like: single(x)
        return lambda x, like: double(x)

    return chosen
