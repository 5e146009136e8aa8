"""Flatten: examples of several axes as one axis of features, for the dense layers after a convolution."""

import math

from .base import Layer


class Flatten(Layer):
    """Examples of any shape as one axis of ``prod(shape)`` features, in C order (the last axis fastest).

    Layers hold their examples flat already, channels last: ``Flatten``
    runs no kernel and copies nothing; it only changes the shape the next
    layer is given (a :class:`~jitprop.Dense` layer takes examples of one axis).
    """

    kind = "flatten"

    def config(self):
        """The arguments that rebuild this layer (none)."""
        return {"type": self.kind}

    def output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def flops(self, input_shape, first, output):
        return 0, 0

    def __repr__(self):
        return "Flatten()"
