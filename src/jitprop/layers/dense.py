"""The dense (fully connected) layer."""

import numbers

from ..activations import get_activation
from ..initializers import INITIALIZERS, initial_weights
from ..kernels import conv as conv_kernels
from ..kernels import dense as dense_kernels
from ..kernels import kinds
from ..kernels import windows as window_geometry
from .base import Layer, non_negative


class Dense(Layer):
    """A fully connected layer: ``a = f(x @ W + b)``, examples as rows.

    On examples of two axes, (steps, features) (the output of a recurrent
    layer with ``return_sequences``), the layer applies to every step:
    ``a[t] = f(x[t] @ W + b)``, an output of shape (steps, units) (run as a
    convolution of window 1); a ``softmax`` output is one per step, with
    ``cross_entropy`` on a class label per step, ``y`` of shape (n, steps).

    Parameters
    ----------
    units : int
        Number of outputs (``fan_out``).
    activation : str, default "identity"
        One of :data:`jitprop.activations.ACTIVATIONS`. ``softmax`` is for the
        output layer only.
    alpha : float, optional
        Negative slope of ``leaky_relu`` (default 0.01) or scale of ``elu``
        (default 1.0); ignored by other activations.
    init : str, optional
        Weight initialiser (see :mod:`jitprop.initializers`). Default: He for
        the ReLU family, Glorot otherwise. Biases start at zero.
    l2 : float, optional
        L2 penalty ``l2 · ΣW²`` added to the loss (biases are not penalised).
        Default: the network's ``l2``.

    Attributes
    ----------
    W : ndarray of shape (fan_in, fan_out)
        Weights, a writable view into the network's parameter buffer; ``None``
        until the layer is part of a :class:`~jitprop.Network`. (On examples
        of one axis the kernels store them transposed and ``W`` is a
        Fortran-ordered view; over steps, a C-ordered one.)
    b : ndarray of shape (fan_out,)
        Biases, likewise.
    """

    def __init__(self, units, activation="identity", *, alpha=None, init=None, l2=None):
        if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units < 1:
            raise ValueError(f"units must be a positive integer, got {units!r}.")
        spec = get_activation(activation)
        if alpha is None:
            alpha = 0.0 if spec.default_alpha is None else spec.default_alpha
        alpha = non_negative(alpha, "alpha")
        if init is None:
            init = spec.default_init
        if init not in INITIALIZERS:
            raise ValueError(f"Unknown init {init!r}; expected one of {', '.join(sorted(INITIALIZERS))}.")
        if l2 is not None:
            l2 = non_negative(l2, "l2")
        self.units = int(units)
        self.activation = spec.name
        self.alpha = float(alpha)
        self.init = init
        self.l2 = l2
        self.W = None
        self.b = None

    kind = "dense"
    kernel_kind = kinds.DENSE

    def config(self):
        """The arguments that rebuild this layer (without its weights)."""
        return {
            "type": self.kind,
            "units": self.units,
            "activation": self.activation,
            "alpha": self.alpha,
            "init": self.init,
            "l2": self.l2,
        }

    def _fan_in(self, input_shape):
        """Features of each example (or of each step, on examples of two axes)."""
        if len(input_shape) == 2:
            return int(input_shape[1])
        if len(input_shape) != 1:
            shape = ", ".join(map(str, input_shape))
            raise ValueError(
                f"{self!r} takes examples of one axis of features, or of two (steps, features), got examples of "
                f"shape ({shape}); flatten them first (with a Flatten layer)."
            )
        return int(input_shape[0])

    def kernel_alpha(self, input_shape):
        """A softmax over steps is one per step: an alpha of −units, the softmax kernel's groups of outputs."""
        if len(input_shape) == 2 and self.activation == "softmax":
            return -float(self.units)
        return self.alpha

    def kernel_code(self, input_shape):
        """Dense kernels on examples of one axis; over steps, those of a convolution of window 1."""
        return kinds.conv_kind(self.units) if len(input_shape) == 2 else kinds.DENSE

    def output_shape(self, input_shape):
        self._fan_in(input_shape)  # (a ValueError for examples it cannot take)
        if len(input_shape) == 2:
            return (int(input_shape[0]), self.units)
        return (self.units,)

    def parameter_count(self, input_shape):
        return dense_kernels.parameter_count(self._fan_in(input_shape), self.units)

    def weight_shape(self, input_shape):
        if len(input_shape) == 2:
            return (self._fan_in(input_shape), self.units)  # a convolution's Wm (window 1)
        return (self.units, self._fan_in(input_shape))  # stored transposed: Wt

    def geometry(self, input_shape):
        if len(input_shape) != 2:
            return ()
        steps, fan_in = int(input_shape[0]), int(input_shape[1])
        return window_geometry.geometry_row((1, steps), fan_in, (1, steps), self.units, (1, 1), (1, 1), (0, 0))

    def flops(self, input_shape, first, output):
        fan_in = self._fan_in(input_shape)
        activation = get_activation(self.activation).flops
        if len(input_shape) == 2:
            return conv_kernels.flops(1, fan_in, self.units, int(input_shape[0]), activation, first, output)
        return dense_kernels.flops(fan_in, self.units, activation, first, output)

    def describe(self):
        return self.activation

    def parameter_views(self, buffer, offset, input_shape):
        """``(W, b)``; the kernels store the weights transposed, (fan_out, fan_in): ``W`` is a Fortran-ordered view.

        Over steps (examples of two axes) they are stored as ``W`` (fan_in, fan_out).
        """
        fan_in = self._fan_in(input_shape)
        size = self.units * fan_in
        weights = buffer[offset : offset + size]
        return (
            weights.reshape(fan_in, self.units) if len(input_shape) == 2 else weights.reshape(self.units, fan_in).T,
            buffer[offset + size : offset + size + self.units],
        )

    def bind(self, params, offset, input_shape):
        if self.W is not None:
            raise ValueError("This Dense layer already belongs to a network; create a new layer for each network.")
        self.W, self.b = self.parameter_views(params, offset, input_shape)

    def initialize(self, rng, input_shape):
        self.W[...] = initial_weights(self.init, rng, self._fan_in(input_shape), self.units)
        self.b[...] = 0

    def __repr__(self):
        extra = f", alpha={self.alpha}" if get_activation(self.activation).default_alpha is not None else ""
        return f"Dense({self.units}, activation={self.activation!r}{extra})"
