"""Dropout masks from a counter-based generator.

Whether unit ``j`` of layer ``l`` is dropped for example ``i`` is a hash of
``(key, l, i, j)``, where ``key`` derives from the seed and the epoch. The
mask therefore depends on which example a row is, never on the batch, tile
or thread that processes it, and the backward pass recomputes it instead of
storing it.
"""

from numba import njit, uint64

from ._numba.options import INLINED_KERNEL, KERNEL


def flops(width):
    """Forward and backward FLOPs per example of dropout on ``width`` units in training: one scaling each way."""
    return width, width


_GOLDEN = uint64(0x9E3779B97F4A7C15)
_MIX1 = uint64(0xBF58476D1CE4E5B9)
_MIX2 = uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


@njit(**INLINED_KERNEL)
def _splitmix(x):
    x = x + _GOLDEN
    x = (x ^ (x >> uint64(30))) * _MIX1
    x = (x ^ (x >> uint64(27))) * _MIX2
    return x ^ (x >> uint64(31))


@njit(**INLINED_KERNEL)
def uniform(key, layer, example, unit):
    """A number in [0, 1) determined by its four integer arguments."""
    x = _splitmix(uint64(key) ^ _splitmix(uint64(layer)))
    x = _splitmix(x ^ uint64(example))
    x = _splitmix(x ^ uint64(unit))
    return (x >> uint64(11)) * _TO_UNIT


@njit(**KERNEL)
def apply_dropout(a, index, key, layer, rate):
    """Inverted dropout in place: zero each unit with probability ``rate``, scale the rest by 1/(1 − rate).

    ``a`` holds the rows of examples ``index`` (same length).
    """
    keep = 1.0 / (1.0 - rate)
    for r in range(a.shape[0]):
        ar = a[r]
        example = index[r]
        for j in range(ar.shape[0]):
            ar[j] = ar[j] * keep if uniform(key, layer, example, j) >= rate else 0.0


@njit(**KERNEL)
def undo_dropout(delta, a, index, key, layer, rate):
    """Back-propagate through the mask of :func:`apply_dropout`.

    Multiplies ``delta`` by the mask (0 or 1/(1 − rate)) and turns the masked
    activations back into the layer's own outputs (dropped units stay 0), so
    that derivatives written in terms of the output see the right values.
    """
    keep = 1.0 / (1.0 - rate)
    for r in range(a.shape[0]):
        ar = a[r]
        dr = delta[r]
        example = index[r]
        for j in range(ar.shape[0]):
            if uniform(key, layer, example, j) >= rate:
                dr[j] = dr[j] * keep
                ar[j] = ar[j] * (1.0 - rate)
            else:
                dr[j] = 0.0
