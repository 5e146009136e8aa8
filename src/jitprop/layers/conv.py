"""Convolution layers over examples of one or two spatial axes, channels last."""

import numbers

from ..activations import get_activation
from ..initializers import INITIALIZERS, initial_weights
from ..kernels import conv as conv_kernels
from ..kernels import kinds
from ..kernels import windows as window_geometry
from .base import Layer, non_negative
from .windows import full, output_hw, padding_of, per_axis, spatial


class _Convolution(Layer):
    """What :class:`Conv1D` and :class:`Conv2D` share; ``rank`` is their number of spatial axes."""

    rank = None
    kernel_kind = kinds.CONV

    def kernel_code(self, input_shape):
        """The convolution kinds: by positions for few filters, by filters otherwise (:func:`.kinds.conv_kind`)."""
        return kinds.conv_kind(self.filters)

    def __init__(
        self, filters, kernel_size, strides=1, padding="valid", activation="identity", *, alpha=None, init=None, l2=None
    ):
        name = type(self).__name__
        if isinstance(filters, bool) or not isinstance(filters, numbers.Integral) or filters < 1:
            raise ValueError(f"{name} filters must be a positive integer, got {filters!r}.")
        self.filters = int(filters)
        self.kernel_size = per_axis(kernel_size, self.rank, "kernel_size", name)
        self.strides = per_axis(strides, self.rank, "strides", name)
        self.padding = padding_of(padding, self.rank, name)
        spec = get_activation(activation)
        if alpha is None:
            alpha = 0.0 if spec.default_alpha is None else spec.default_alpha
        self.alpha = non_negative(alpha, "alpha")
        if init is None:
            init = spec.default_init
        if init not in INITIALIZERS:
            raise ValueError(f"Unknown init {init!r}; expected one of {', '.join(sorted(INITIALIZERS))}.")
        self.activation = spec.name
        self.init = init
        self.l2 = None if l2 is None else non_negative(l2, "l2")
        self.W = None
        self.b = None

    def config(self):
        """The arguments that rebuild this layer (without its weights)."""
        return {
            "type": self.kind,
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding if isinstance(self.padding, str) else list(self.padding),
            "activation": self.activation,
            "alpha": self.alpha,
            "init": self.init,
            "l2": self.l2,
        }

    def _shapes(self, input_shape):
        """``(hw, channels, out_hw, before)`` of the kernels' two axes (H = 1 for one axis)."""
        hw, channels = spatial(input_shape, self.rank, self)
        kernel = full(self.kernel_size, self.rank, 1)
        strides = full(self.strides, self.rank, 1)
        padding = (self.padding,) * 2 if isinstance(self.padding, str) else full(self.padding, self.rank, 0)
        out_hw, before = output_hw(self, input_shape, hw, kernel, strides, padding)
        return hw, channels, out_hw, before

    def _window(self):
        window = 1
        for size in self.kernel_size:
            window *= size
        return window

    def output_shape(self, input_shape):
        _, _, out_hw, _ = self._shapes(input_shape)
        return (*out_hw[2 - self.rank :], self.filters)

    def parameter_count(self, input_shape):
        _, channels, _, _ = self._shapes(input_shape)
        return conv_kernels.parameter_count(self._window(), channels, self.filters)

    def weight_shape(self, input_shape):
        """``(kh·kw·c_in, c_out)``: the weights, stored as Keras lays them out."""
        _, channels, _, _ = self._shapes(input_shape)
        return (self._window() * channels, self.filters)

    def geometry(self, input_shape):
        hw, channels, out_hw, before = self._shapes(input_shape)
        kernel = full(self.kernel_size, self.rank, 1)
        strides = full(self.strides, self.rank, 1)
        return window_geometry.geometry_row(hw, channels, out_hw, self.filters, kernel, strides, before)

    def flops(self, input_shape, first, output):
        _, channels, out_hw, _ = self._shapes(input_shape)
        positions = out_hw[0] * out_hw[1]
        activation = get_activation(self.activation).flops
        return conv_kernels.flops(self._window(), channels, self.filters, positions, activation, first, output)

    def describe(self):
        return self.activation

    def parameter_views(self, buffer, offset, input_shape):
        """``(W, b)``: ``W`` of shape (*kernel_size, c_in, c_out) (Keras' layout), ``b`` of shape (c_out,)."""
        _, channels, _, _ = self._shapes(input_shape)
        size = self._window() * channels * self.filters
        return (
            buffer[offset : offset + size].reshape(*self.kernel_size, channels, self.filters),
            buffer[offset + size : offset + size + self.filters],
        )

    def bind(self, params, offset, input_shape):
        if self.W is not None:
            raise ValueError(
                f"This {type(self).__name__} layer already belongs to a network; create a new layer for each network."
            )
        self.W, self.b = self.parameter_views(params, offset, input_shape)

    def initialize(self, rng, input_shape):
        # Keras' fans: the window times the input channels, and times the filters.
        _, channels, _, _ = self._shapes(input_shape)
        window = self._window()
        self.W[...] = initial_weights(self.init, rng, window * channels, window * self.filters, self.W.shape)
        self.b[...] = 0

    def __repr__(self):
        size = self.kernel_size[0] if self.rank == 1 else self.kernel_size
        strides = self.strides[0] if self.rank == 1 else self.strides
        padding = self.padding[0] if self.rank == 1 and not isinstance(self.padding, str) else self.padding
        extra = f", alpha={self.alpha}" if get_activation(self.activation).default_alpha is not None else ""
        return (
            f"{type(self).__name__}({self.filters}, {size}, strides={strides}, padding={padding!r}, "
            f"activation={self.activation!r}{extra})"
        )


class Conv2D(_Convolution):
    """A 2-D convolution: ``a = f(z)`` over examples of shape (height, width, channels).

    Output position ``(i, j)`` of filter ``o``::

        z[i, j, o] = b[o] + Σ_{u, v, c} W[u, v, c, o] · x[i·sh + u − ph, j·sw + v − pw, c]

    summed over the window (``u < kh``, ``v < kw``) and the input channels,
    with zeros outside the input (``ph``, ``pw``: the zeros before each axis).

    Parameters
    ----------
    filters : int
        Output channels ``c_out``.
    kernel_size : int or tuple of 2 ints
        The window ``(kh, kw)``.
    strides : int or tuple of 2 ints, default 1
        ``(sh, sw)``.
    padding : {"valid", "same"} or int or tuple of 2 ints, default "valid"
        ``"valid"``: no zeros, ``floor((H − kh) / sh) + 1`` output rows.
        ``"same"``: Keras' rule, ``ceil(H / sh)`` output rows from
        ``max((H_out − 1)·sh + kh − H, 0)`` zeros, the smaller half before.
        An int or a pair: that many zeros on each side of each axis
        (PyTorch's rule), ``floor((H + 2·ph − kh) / sh) + 1`` rows.
    activation : str, default "identity"
        As for :class:`~jitprop.Dense` (``softmax`` only for an output layer).
    alpha : float, optional
        As for :class:`~jitprop.Dense`.
    init : str, optional
        Weight initialiser (see :mod:`jitprop.initializers`), with Keras'
        fans: ``fan_in = kh·kw·c_in``, ``fan_out = kh·kw·c_out``. Default:
        He for the ReLU family, Glorot otherwise. Biases start at zero.
    l2 : float, optional
        L2 penalty ``l2 · ΣW²`` (biases are not penalised); default the network's.

    Attributes
    ----------
    W : ndarray of shape (kh, kw, c_in, c_out)
        Weights (Keras' layout), a writable view into the network's
        parameter buffer; ``None`` until the layer is part of a network.
    b : ndarray of shape (c_out,)
        Biases, likewise.
    """

    rank = 2
    kind = "conv2d"


class Conv1D(_Convolution):
    """A 1-D convolution: ``a = f(z)`` over examples of shape (steps, channels).

    Output step ``i`` of filter ``o``::

        z[i, o] = b[o] + Σ_{u, c} W[u, c, o] · x[i·s + u − p, c]

    with zeros outside the input. The arguments are those of
    :class:`Conv2D`, with one axis: ``kernel_size``, ``strides`` and an
    integer ``padding`` are ints (or tuples of one).

    Attributes
    ----------
    W : ndarray of shape (k, c_in, c_out)
        Weights (Keras' layout), a writable view into the network's
        parameter buffer; ``None`` until the layer is part of a network.
    b : ndarray of shape (c_out,)
        Biases, likewise.
    """

    rank = 1
    kind = "conv1d"
