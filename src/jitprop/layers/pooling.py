"""Pooling layers over examples of one or two spatial axes, channels last: max, average and global average."""

import math

from ..kernels import kinds
from ..kernels import pooling as pooling_kernels
from ..kernels import windows as window_geometry
from .base import Layer
from .windows import full, output_hw, per_axis, spatial


class _Pooling(Layer):
    """What the pooling layers share; ``rank`` is their number of spatial axes. No parameters, no activation."""

    rank = None
    maximum = False
    kernel_kind = kinds.AVERAGE_POOLING

    def __init__(self, pool_size, strides=None):
        name = type(self).__name__
        self.pool_size = per_axis(pool_size, self.rank, "pool_size", name)
        self.strides = self.pool_size if strides is None else per_axis(strides, self.rank, "strides", name)

    def kernel_code(self, input_shape):
        """Max pooling's kinds: by vectors of channels where there are enough (:func:`.kinds.max_pooling_kind`)."""
        return kinds.max_pooling_kind(input_shape[-1]) if self.maximum else self.kernel_kind

    def config(self):
        """The arguments that rebuild this layer."""
        return {"type": self.kind, "pool_size": list(self.pool_size), "strides": list(self.strides)}

    def _shapes(self, input_shape):
        """``(hw, channels, out_hw)`` of the kernels' two axes (H = 1 for one axis)."""
        hw, channels = spatial(input_shape, self.rank, self)
        window, strides = full(self.pool_size, self.rank, 1), full(self.strides, self.rank, 1)
        out_hw, _ = output_hw(self, input_shape, hw, window, strides, ("valid", "valid"))
        return hw, channels, out_hw

    def output_shape(self, input_shape):
        _, channels, out_hw = self._shapes(input_shape)
        return (*out_hw[2 - self.rank :], channels)

    def geometry(self, input_shape):
        hw, channels, out_hw = self._shapes(input_shape)
        window, strides = full(self.pool_size, self.rank, 1), full(self.strides, self.rank, 1)
        return window_geometry.geometry_row(hw, channels, out_hw, channels, window, strides, (0, 0))

    def flops(self, input_shape, first, output):
        outputs = math.prod(self.output_shape(input_shape))
        return pooling_kernels.flops(math.prod(self.pool_size), outputs, self.maximum, first)

    def describe(self):
        return "x".join(map(str, self.pool_size)) + (
            "" if self.strides == self.pool_size else f", strides {'x'.join(map(str, self.strides))}"
        )

    def __repr__(self):
        size = self.pool_size[0] if self.rank == 1 else self.pool_size
        strides = self.strides[0] if self.rank == 1 else self.strides
        return f"{type(self).__name__}({size}, strides={strides})"


class MaxPool2D(_Pooling):
    """The maximum of each window of each channel, over examples of shape (height, width, channels).

    ``z[i, j, c] = max_{u < kh, v < kw} x[i·sh + u, j·sw + v, c]``, windows
    inside the input ("valid": ``floor((H − kh) / sh) + 1`` output rows). In
    training, each output's gradient goes to the first maximum of its
    window (in the order of ``u``, then ``v``).

    Parameters
    ----------
    pool_size : int or tuple of 2 ints
        The window ``(kh, kw)``.
    strides : int or tuple of 2 ints, optional
        ``(sh, sw)``; default ``pool_size`` (windows side by side).
    """

    rank = 2
    kind = "max_pooling2d"
    maximum = True
    kernel_kind = kinds.MAX_POOLING


class AvgPool2D(_Pooling):
    """The mean of each window of each channel, over examples of shape (height, width, channels).

    ``z[i, j, c] = Σ_{u < kh, v < kw} x[i·sh + u, j·sw + v, c] / (kh·kw)``,
    windows inside the input. Arguments as for :class:`MaxPool2D`.
    """

    rank = 2
    kind = "average_pooling2d"


class MaxPool1D(_Pooling):
    """The maximum of each window of each channel, over examples of shape (steps, channels).

    ``z[i, c] = max_{u < k} x[i·s + u, c]``; arguments as for
    :class:`MaxPool2D`, with one axis.
    """

    rank = 1
    kind = "max_pooling1d"
    maximum = True
    kernel_kind = kinds.MAX_POOLING


class AvgPool1D(_Pooling):
    """The mean of each window of each channel, over examples of shape (steps, channels).

    ``z[i, c] = Σ_{u < k} x[i·s + u, c] / k``; arguments as for
    :class:`MaxPool2D`, with one axis.
    """

    rank = 1
    kind = "average_pooling1d"


class _GlobalPooling(Layer):
    """The mean of each channel over every position: average pooling with one window, the whole example."""

    rank = None
    kernel_kind = kinds.AVERAGE_POOLING

    def config(self):
        """The arguments that rebuild this layer (none)."""
        return {"type": self.kind}

    def output_shape(self, input_shape):
        _, channels = spatial(input_shape, self.rank, self)
        return (channels,)

    def geometry(self, input_shape):
        hw, channels = spatial(input_shape, self.rank, self)
        return window_geometry.geometry_row(hw, channels, (1, 1), channels, hw, (1, 1), (0, 0))

    def flops(self, input_shape, first, output):
        hw, channels = spatial(input_shape, self.rank, self)
        return pooling_kernels.flops(hw[0] * hw[1], channels, False, first)

    def __repr__(self):
        return f"{type(self).__name__}()"


class GlobalAvgPool2D(_GlobalPooling):
    """The mean of each channel over all positions: (height, width, channels) to (channels,).

    ``z[c] = Σ_{i, j} x[i, j, c] / (H·W)``.
    """

    rank = 2
    kind = "global_average_pooling2d"


class GlobalAvgPool1D(_GlobalPooling):
    """The mean of each channel over all steps: (steps, channels) to (channels,).

    ``z[c] = Σ_i x[i, c] / T``.
    """

    rank = 1
    kind = "global_average_pooling1d"
