"""Dropout: a layer the tile applies between the others, in training only."""

import math
import numbers

from ..kernels import dropout as dropout_kernels
from .base import Layer


class Dropout(Layer):
    """Inverted dropout on the activations of the layer before it (or the inputs, if first).

    In training, each unit is zeroed with probability ``rate`` and the others
    are scaled by ``1 / (1 - rate)``; in :meth:`~jitprop.Network.predict`,
    :meth:`~jitprop.Network.evaluate` and ``loss_and_grads`` it does nothing.
    Masks come from a counter-based generator keyed by (seed, epoch, example,
    unit), so they do not depend on batches, tiles or threads.

    Parameters
    ----------
    rate : float
        Probability of dropping a unit, in [0, 1).
    """

    def __init__(self, rate):
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate!r}.")
        self.rate = float(rate)

    kind = "dropout"

    def config(self):
        """The arguments that rebuild this layer."""
        return {"type": self.kind, "rate": self.rate}

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def flops(self, input_shape, first, output):
        return dropout_kernels.flops(math.prod(input_shape))

    def describe(self):
        return f"rate {self.rate:g}"

    def __repr__(self):
        return f"Dropout({self.rate})"
