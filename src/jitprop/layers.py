"""Layers a network is built from."""

import numbers

from .activations import get_activation
from .initializers import INITIALIZERS

# Default ``alpha`` by activation: the negative slope of leaky_relu, the scale of elu.
_DEFAULT_ALPHA = {"leaky_relu": 0.01, "elu": 1.0}


class Dense:
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

    Attributes
    ----------
    W : ndarray of shape (fan_in, fan_out)
        Weights, a writable view into the network's parameter buffer; ``None``
        until the layer is part of a :class:`~jitprop.Network`.
    b : ndarray of shape (fan_out,)
        Biases, likewise.
    """

    def __init__(self, units, activation="identity", *, alpha=None, init=None):
        if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units < 1:
            raise ValueError(f"units must be a positive integer, got {units!r}.")
        spec = get_activation(activation)
        if alpha is None:
            alpha = _DEFAULT_ALPHA.get(spec.name, 0.0)
        if not isinstance(alpha, numbers.Real) or not float(alpha) >= 0.0 or alpha == float("inf"):
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}.")
        if init is None:
            init = spec.default_init
        if init not in INITIALIZERS:
            raise ValueError(f"Unknown init {init!r}; expected one of {', '.join(sorted(INITIALIZERS))}.")
        self.units = int(units)
        self.activation = spec.name
        self.alpha = float(alpha)
        self.init = init
        self.W = None
        self.b = None

    def config(self):
        """The arguments that rebuild this layer (without its weights)."""
        return {"units": self.units, "activation": self.activation, "alpha": self.alpha, "init": self.init}

    def _bind(self, params, offset, fan_in):
        """Make ``W`` and ``b`` views of ``params`` starting at ``offset``.

        The kernels store the weights transposed, (fan_out, fan_in), so ``W``
        is the transpose of that block: a Fortran-ordered view.
        """
        if self.W is not None:
            raise ValueError("This Dense layer already belongs to a network; create a new layer for each network.")
        size = self.units * fan_in
        self.W = params[offset : offset + size].reshape(self.units, fan_in).T
        self.b = params[offset + size : offset + size + self.units]

    def __repr__(self):
        extra = f", alpha={self.alpha}" if self.activation in _DEFAULT_ALPHA else ""
        return f"Dense({self.units}, activation={self.activation!r}{extra})"
