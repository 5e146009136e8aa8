"""The dense (fully connected) layer."""

import numbers

from ..activations import get_activation
from ..initializers import INITIALIZERS, initial_weights
from ..kernels import dense as dense_kernels
from ..kernels import kinds
from .base import Layer, features, non_negative


class Dense(Layer):
    """A fully connected layer: ``a = f(x @ W + b)``, examples as rows.

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
        until the layer is part of a :class:`~jitprop.Network`.
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

    def output_shape(self, input_shape):
        features(input_shape, self)
        return (self.units,)

    def parameter_count(self, input_shape):
        return dense_kernels.parameter_count(features(input_shape, self), self.units)

    def weight_shape(self, input_shape):
        return (self.units, features(input_shape, self))  # stored transposed: Wt

    def flops(self, input_shape, first, output):
        fan_in = features(input_shape, self)
        return dense_kernels.flops(fan_in, self.units, get_activation(self.activation).flops, first, output)

    def describe(self):
        return self.activation

    def parameter_views(self, buffer, offset, input_shape):
        """``(W, b)``; the kernels store the weights transposed, (fan_out, fan_in): ``W`` is a Fortran-ordered view."""
        fan_in = features(input_shape, self)
        size = self.units * fan_in
        return (
            buffer[offset : offset + size].reshape(self.units, fan_in).T,
            buffer[offset + size : offset + size + self.units],
        )

    def bind(self, params, offset, input_shape):
        if self.W is not None:
            raise ValueError("This Dense layer already belongs to a network; create a new layer for each network.")
        self.W, self.b = self.parameter_views(params, offset, input_shape)

    def initialize(self, rng, input_shape):
        self.W[...] = initial_weights(self.init, rng, features(input_shape, self), self.units)
        self.b[...] = 0

    def __repr__(self):
        extra = f", alpha={self.alpha}" if get_activation(self.activation).default_alpha is not None else ""
        return f"Dense({self.units}, activation={self.activation!r}{extra})"
