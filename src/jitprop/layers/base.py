"""What every layer kind provides (:class:`Layer`), and the checks of arguments layers share."""

import math
import numbers


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

    def kernel_alpha(self, input_shape):
        """The ``alpha`` the layer's activation kernel reads on examples of ``input_shape`` (its :attr:`alpha`)."""
        return self.alpha

    def kernel_code(self, input_shape):
        """The code of the kernels that run the layer on examples of ``input_shape`` (its :attr:`kernel_kind`)."""
        return self.kernel_kind

    def weight_shape(self, input_shape):
        """Rows and columns of the weight matrix the kernels store first among its parameters; (0, 0) for none."""
        return (0, 0)

    def weight_positions(self, input_shape):
        """Places each weight applies at in one example: 1 for a dense layer, the output positions of a
        convolution, the steps of a recurrent layer (the ``P`` of the cost model's weight uses w·P)."""
        return math.prod(self.output_shape(input_shape)[:-1])

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


def features(input_shape, layer):
    """The number of input features of a layer that takes examples of one axis."""
    if len(input_shape) != 1:
        shape = ", ".join(map(str, input_shape))
        raise ValueError(
            f"{layer!r} takes examples of one axis of features, got examples of shape ({shape}); "
            "flatten them first (with a Flatten layer)."
        )
    return int(input_shape[0])


def non_negative(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) < float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
    return float(value)
