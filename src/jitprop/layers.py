"""Layers a network is built from: one class per layer kind, and the registry of kinds.

A layer kind is a class here and a module of :mod:`jitprop.kernels` (its
forward and backward kernels, registered in :mod:`jitprop.kernels.kinds`,
and its parameter and FLOP counts), joined by an entry of
:data:`LAYER_KINDS`. What reads layers through that interface — the
network's layout and parameters (:class:`~jitprop.Network`), the tile that
runs them, rebuilding them from a model file's configuration
(:func:`layer_from_config`), the cost model and the command line's tables —
needs no change for a new kind.
"""

import math
import numbers

from .activations import get_activation
from .initializers import INITIALIZERS, initial_weights
from .kernels import dense as dense_kernels
from .kernels import dropout as dropout_kernels
from .kernels import kinds


class Layer:
    """What every layer kind provides.

    Attributes
    ----------
    kind : str
        The kind's name: its key in :data:`LAYER_KINDS` and the ``"type"``
        of its :meth:`config`.
    kernel_kind : int or None
        The code of the kind's kernels in :mod:`jitprop.kernels.kinds`; None
        for a layer the tile applies between the others (dropout).
    activation : str
        The activation a layer with kernels applies to its outputs
        (``"identity"`` for none).
    alpha : float
        The activation's ``alpha``.
    l2 : float or None
        The L2 penalty of its weights; None for the network's.
    """

    kind = None
    kernel_kind = None
    activation = "identity"
    alpha = 0.0
    l2 = None

    def config(self):
        """The arguments that rebuild this layer (without its weights), and ``"type"``: its kind."""
        raise NotImplementedError

    def output_shape(self, input_shape):
        """The shape of an example out of the layer (a tuple), for examples of ``input_shape`` in.

        Raises ``ValueError`` for an input the layer cannot take.
        """
        raise NotImplementedError

    def parameter_count(self, input_shape):
        """Parameters of the layer (weights and biases) for examples of ``input_shape``."""
        return 0

    def weight_count(self, input_shape):
        """The weights among :meth:`parameter_count` (what an L2 penalty counts)."""
        rows, columns = self.weight_shape(input_shape)
        return rows * columns

    def weight_shape(self, input_shape):
        """Rows and columns of the weight matrix the kernels store first among its parameters; (0, 0) for none."""
        return (0, 0)

    def geometry(self, input_shape):
        """The integers the kind's kernels read from ``layout.geometry`` (at most ``GEOMETRY``)."""
        return ()

    def parameter_views(self, buffer, offset, input_shape):
        """The layer's parameters as views of ``buffer`` from ``offset``, in the shapes users see them.

        Applied to the network's parameters, these are the layer's weights;
        applied to a gradient, its gradient.
        """
        return ()

    def bind(self, params, offset, input_shape):
        """Make the layer's parameter attributes views of the network's ``params`` starting at ``offset``."""

    def initialize(self, rng, input_shape):
        """Set the bound parameters to their initial values, drawing from ``rng``."""

    def flops(self, input_shape, first, output):
        """Forward and backward FLOPs per example, as the kernels do them.

        ``first``: no layer with parameters before it (no delta to pass
        back); ``output``: the network's last layer (its delta comes from
        the loss).
        """
        raise NotImplementedError

    def describe(self):
        """What a table of layers shows besides the kind: the activation, a rate, ..."""
        return ""


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
        alpha = _non_negative(alpha, "alpha")
        if init is None:
            init = spec.default_init
        if init not in INITIALIZERS:
            raise ValueError(f"Unknown init {init!r}; expected one of {', '.join(sorted(INITIALIZERS))}.")
        if l2 is not None:
            l2 = _non_negative(l2, "l2")
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
        _features(input_shape, self)
        return (self.units,)

    def parameter_count(self, input_shape):
        return dense_kernels.parameter_count(_features(input_shape, self), self.units)

    def weight_shape(self, input_shape):
        return (self.units, _features(input_shape, self))  # stored transposed: Wt

    def flops(self, input_shape, first, output):
        fan_in = _features(input_shape, self)
        return dense_kernels.flops(fan_in, self.units, get_activation(self.activation).flops, first, output)

    def describe(self):
        return self.activation

    def parameter_views(self, buffer, offset, input_shape):
        """``(W, b)``; the kernels store the weights transposed, (fan_out, fan_in): ``W`` is a Fortran-ordered view."""
        fan_in = _features(input_shape, self)
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
        self.W[...] = initial_weights(self.init, rng, _features(input_shape, self), self.units)
        self.b[...] = 0

    def __repr__(self):
        extra = f", alpha={self.alpha}" if get_activation(self.activation).default_alpha is not None else ""
        return f"Dense({self.units}, activation={self.activation!r}{extra})"


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


#: Every layer kind, by name: what a model file's ``"type"`` names.
LAYER_KINDS = {kind.kind: kind for kind in (Dense, Dropout)}


def layer_from_config(config):
    """Rebuild a layer from its :meth:`~Layer.config` dictionary (its kind from ``"type"``, dense by default)."""
    if not isinstance(config, dict):
        raise TypeError(f"A layer config must be a dict, got {config!r}.")
    config = dict(config)
    kind = config.pop("type", "dense")
    if kind not in LAYER_KINDS:
        names = [repr(name) for name in LAYER_KINDS]
        expected = ", ".join(names[:-1]) + " or " + names[-1]
        raise ValueError(f"Unknown layer type {kind!r}; expected {expected}.")
    return LAYER_KINDS[kind](**config)


def _features(input_shape, layer):
    """The number of input features of a layer that takes examples of one axis."""
    if len(input_shape) != 1:
        shape = ", ".join(map(str, input_shape))
        raise ValueError(
            f"{layer!r} takes examples of one axis of features, got examples of shape ({shape}); flatten them first."
        )
    return int(input_shape[0])


def _non_negative(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) < float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
    return float(value)
