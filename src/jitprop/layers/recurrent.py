"""Recurrent layers over examples of shape (steps, features): SimpleRNN, GRU, LSTM, and Bidirectional."""

import numbers

import numpy as np

from ..activations import get_activation
from ..initializers import initial_weights
from ..kernels import cells, kinds
from ..kernels import recurrent as rnn
from .base import Layer, non_negative


def _sequence_shape(input_shape, layer):
    """``(steps, features)`` of examples of ``input_shape``, or a ValueError naming the layer."""
    if len(input_shape) != 2:
        shape = ", ".join(map(str, input_shape))
        raise ValueError(
            f"{layer!r} takes examples of shape (steps, features), got examples of shape ({shape}); "
            "give the network input_shape=(steps, features) and X of shape (n_samples, steps, features)."
        )
    return int(input_shape[0]), int(input_shape[1])


def _orthogonal(rng, shape):
    """A random matrix of ``shape`` with orthonormal rows or columns (Keras' ``orthogonal``, gain 1)."""
    rows, cols = shape
    flat = rng.normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    return q if rows >= cols else q.T


class _Recurrent(Layer):
    """What :class:`SimpleRNN`, :class:`GRU` and :class:`LSTM` share; ``cell`` is their code in the kernels."""

    cell = None
    kernel_kind = kinds.RECURRENT
    directions = 1  # 2 inside a Bidirectional (its kernels run both)

    def __init__(self, units, return_sequences=False, *, l2=None):
        name = type(self).__name__
        if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units < 1:
            raise ValueError(f"{name} units must be a positive integer, got {units!r}.")
        if not isinstance(return_sequences, (bool, np.bool_)):
            raise ValueError(f"{name} return_sequences must be True or False, got {return_sequences!r}.")
        self.units = int(units)
        self.return_sequences = bool(return_sequences)
        if l2 is not None:
            l2 = non_negative(l2, "l2")
        self.l2 = l2
        self.go_backwards = False
        self.W = self.U = self.b = None

    @property
    def gates(self):
        """Gates per unit: 1, 3 or 4."""
        return cells.gate_count.py_func(self.cell)

    def _activation_code(self):
        return 0

    def config(self):
        """The arguments that rebuild this layer (without its weights)."""
        return {"type": self.kind, "units": self.units, "return_sequences": self.return_sequences, "l2": self.l2}

    def output_shape(self, input_shape):
        steps, _ = _sequence_shape(input_shape, self)
        width = self.directions * self.units
        return (steps, width) if self.return_sequences else (width,)

    def parameter_count(self, input_shape):
        _, features = _sequence_shape(input_shape, self)
        return rnn.parameter_count(self.cell, features, self.units, self.directions)

    def weight_shape(self, input_shape):
        """``[W; U]`` of each direction, stacked: (directions·(features + units), gates·units)."""
        _, features = _sequence_shape(input_shape, self)
        return (self.directions * (features + self.units), self.gates * self.units)

    def geometry(self, input_shape):
        steps, features = _sequence_shape(input_shape, self)
        row = [0] * 9  # (TRUNCATE and CARRY 0: fit and its bptt_steps set them while they train)
        row[rnn.CELL] = self.cell
        row[rnn.STEPS] = steps
        row[rnn.FEATURES] = features
        row[rnn.UNITS] = self.units
        row[rnn.SEQUENCES] = int(self.return_sequences)
        row[rnn.DIRECTIONS] = self.directions
        row[rnn.ACTIVATION] = self._activation_code()
        return tuple(row)

    def weight_positions(self, input_shape):
        """Steps: every weight applies at each step, whatever the layer returns."""
        return _sequence_shape(input_shape, self)[0]

    def flops(self, input_shape, first, output):
        steps, features = _sequence_shape(input_shape, self)
        return rnn.flops(self.cell, steps, features, self.units, self.directions, first)

    def describe(self):
        return "return_sequences" if self.return_sequences else ""

    def direction_views(self, buffer, offset, input_shape, direction=0, directions=1):
        """``(W, U, b)`` of one direction of a layer of ``directions``, as views of ``buffer`` from ``offset``."""
        _, features = _sequence_shape(input_shape, self)
        gates = self.gates * self.units
        start = offset + direction * (features + self.units) * gates
        bias_rows = cells.bias_rows.py_func(self.cell)
        bias_start = offset + directions * (features + self.units) * gates + direction * bias_rows * gates
        b = buffer[bias_start : bias_start + bias_rows * gates]
        return (
            buffer[start : start + features * gates].reshape(features, gates),
            buffer[start + features * gates : start + (features + self.units) * gates].reshape(self.units, gates),
            b.reshape(2, gates) if bias_rows == 2 else b,
        )

    def parameter_views(self, buffer, offset, input_shape):
        """``(W, U, b)``: ``W`` (features, gates·units), ``U`` (units, gates·units), ``b`` as Keras lays them out."""
        return self.direction_views(buffer, offset, input_shape)

    def bind(self, params, offset, input_shape, direction=0, directions=1):
        if self.W is not None:
            raise ValueError(
                f"This {type(self).__name__} layer already belongs to a network; create a new layer for each network."
            )
        self.W, self.U, self.b = self.direction_views(params, offset, input_shape, direction, directions)

    def initialize(self, rng, input_shape):
        # Keras' defaults: Glorot uniform W, orthogonal U, zero biases (the LSTM's forget gate at 1).
        _, features = _sequence_shape(input_shape, self)
        gates = self.gates * self.units
        self.W[...] = initial_weights("glorot_uniform", rng, features, gates)
        self.U[...] = _orthogonal(rng, (self.units, gates))
        self.b[...] = 0
        if self.cell == cells.LSTM:
            self.b[self.units : 2 * self.units] = 1

    def _copy(self):
        return type(self)(**{key: value for key, value in self.config().items() if key != "type"})

    def __repr__(self):
        extra = ", return_sequences=True" if self.return_sequences else ""
        return f"{type(self).__name__}({self.units}{extra})"


class SimpleRNN(_Recurrent):
    """A fully connected recurrent layer over examples of shape (steps, features), from a zero state.

    At each step ``t``::

        h_t = f(x_t·W + h_{t−1}·U + b),   h_{−1} = 0

    Parameters
    ----------
    units : int
        Units ``u``: the width of ``h``.
    activation : {"tanh", "sigmoid", "relu", "identity"}, default "tanh"
        ``f``.
    return_sequences : bool, default False
        Output ``h`` of every step, shape (steps, units), instead of the
        last step's, (units,).
    l2 : float, optional
        L2 penalty ``l2 · (ΣW² + ΣU²)`` (biases are not penalised); default the network's.

    Attributes
    ----------
    W : ndarray of shape (features, units)
        Input kernel (Keras' layout), a writable view into the network's
        parameter buffer; ``None`` until the layer is part of a network.
    U : ndarray of shape (units, units)
        Recurrent kernel, likewise.
    b : ndarray of shape (units,)
        Bias, likewise.
    """

    kind = "simple_rnn"
    cell = cells.SIMPLE

    def __init__(self, units, activation="tanh", return_sequences=False, *, l2=None):
        super().__init__(units, return_sequences, l2=l2)
        spec = get_activation(activation)
        if spec.code not in cells.SIMPLE_ACTIVATIONS:
            names = ", ".join(repr(get_activation(name).name) for name in ("tanh", "sigmoid", "relu", "identity"))
            raise ValueError(f"SimpleRNN activation must be one of {names}, got {activation!r}.")
        self.cell_activation = spec.name

    def _activation_code(self):
        return get_activation(self.cell_activation).code

    def config(self):
        return {**super().config(), "activation": self.cell_activation}

    def describe(self):
        return ", ".join(part for part in (self.cell_activation, super().describe()) if part)

    def __repr__(self):
        extra = ", return_sequences=True" if self.return_sequences else ""
        return f"SimpleRNN({self.units}, activation={self.cell_activation!r}{extra})"


class GRU(_Recurrent):
    """A gated recurrent unit layer over examples of shape (steps, features), from a zero state.

    Gates ``[z, r, h]`` in Keras' order, the reset gate applied after the
    recurrent product (Keras' ``reset_after=True``, as PyTorch and cuDNN)::

        z_t = σ(x_t·W_z + b⁰_z + h_{t−1}·U_z + b¹_z)
        r_t = σ(x_t·W_r + b⁰_r + h_{t−1}·U_r + b¹_r)
        h̃_t = tanh(x_t·W_h + b⁰_h + r_t ⊙ (h_{t−1}·U_h + b¹_h))
        h_t = z_t ⊙ h_{t−1} + (1 − z_t) ⊙ h̃_t,   h_{−1} = 0

    Parameters
    ----------
    units : int
        Units ``u``.
    return_sequences : bool, default False
        Output ``h`` of every step, (steps, units), instead of the last, (units,).
    l2 : float, optional
        L2 penalty on ``W`` and ``U``; default the network's.

    Attributes
    ----------
    W : ndarray of shape (features, 3·units)
        Input kernel ``[W_z, W_r, W_h]``, a writable view into the network's parameters.
    U : ndarray of shape (units, 3·units)
        Recurrent kernel ``[U_z, U_r, U_h]``, likewise.
    b : ndarray of shape (2, 3·units)
        ``[b⁰; b¹]``: the input and the recurrent bias, likewise.
    """

    kind = "gru"
    cell = cells.GRU


class LSTM(_Recurrent):
    """A long short-term memory layer over examples of shape (steps, features), from a zero state.

    Gates ``[i, f, c, o]`` in Keras' order::

        i_t = σ(x_t·W_i + h_{t−1}·U_i + b_i)     f_t = σ(x_t·W_f + h_{t−1}·U_f + b_f)
        c̃_t = tanh(x_t·W_c + h_{t−1}·U_c + b_c)  o_t = σ(x_t·W_o + h_{t−1}·U_o + b_o)
        c_t = f_t ⊙ c_{t−1} + i_t ⊙ c̃_t,  h_t = o_t ⊙ tanh(c_t),  h_{−1} = c_{−1} = 0

    Parameters
    ----------
    units : int
        Units ``u``.
    return_sequences : bool, default False
        Output ``h`` of every step, (steps, units), instead of the last, (units,).
    l2 : float, optional
        L2 penalty on ``W`` and ``U``; default the network's.

    Attributes
    ----------
    W : ndarray of shape (features, 4·units)
        Input kernel, a writable view into the network's parameters.
    U : ndarray of shape (units, 4·units)
        Recurrent kernel, likewise.
    b : ndarray of shape (4·units,)
        Bias, likewise; the forget gate's part starts at 1 (Keras' ``unit_forget_bias``).
    """

    kind = "lstm"
    cell = cells.LSTM


class Bidirectional(Layer):
    """A recurrent layer run over the steps forwards and, as a copy, backwards; outputs concatenated.

    ``[forward, backward]`` on the last axis: at every step, (steps,
    2·units), with ``return_sequences``; otherwise (2·units,), the forward
    layer's output after the last step and the backward layer's after step 0
    (the last it reads), as Keras' ``Bidirectional`` (``merge_mode="concat"``).

    Parameters
    ----------
    layer : SimpleRNN, GRU or LSTM
        The forward layer; the backward layer is a copy of its configuration
        with its own weights.

    Attributes
    ----------
    forward_layer, backward_layer : SimpleRNN, GRU or LSTM
        The two directions, each with its own ``W``, ``U`` and ``b``.
    """

    kind = "bidirectional"
    kernel_kind = kinds.RECURRENT

    def __init__(self, layer):
        if isinstance(layer, dict):
            from . import layer_from_config

            layer = layer_from_config(layer)
        if not isinstance(layer, _Recurrent):
            raise ValueError(f"Bidirectional takes a SimpleRNN, GRU or LSTM layer, got {layer!r}.")
        if layer.W is not None:
            raise ValueError(
                f"This {type(layer).__name__} layer already belongs to a network; create a new layer for each network."
            )
        self.forward_layer = layer
        self.backward_layer = layer._copy()
        self.backward_layer.go_backwards = True
        for inner in (self.forward_layer, self.backward_layer):
            inner.directions = 2

    @property
    def l2(self):
        return self.forward_layer.l2

    @property
    def return_sequences(self):
        return self.forward_layer.return_sequences

    def config(self):
        return {"type": self.kind, "layer": self.forward_layer.config()}

    def output_shape(self, input_shape):
        return self.forward_layer.output_shape(input_shape)

    def parameter_count(self, input_shape):
        return self.forward_layer.parameter_count(input_shape)

    def weight_shape(self, input_shape):
        return self.forward_layer.weight_shape(input_shape)

    def geometry(self, input_shape):
        return self.forward_layer.geometry(input_shape)

    def flops(self, input_shape, first, output):
        return self.forward_layer.flops(input_shape, first, output)

    def weight_positions(self, input_shape):
        return self.forward_layer.weight_positions(input_shape)

    def describe(self):
        return f"{type(self.forward_layer).__name__}, {self.forward_layer.describe()}".rstrip(", ")

    def parameter_views(self, buffer, offset, input_shape):
        """``(W, U, b)`` of the forward layer, then of the backward layer."""
        return (
            *self.forward_layer.direction_views(buffer, offset, input_shape, 0, 2),
            *self.backward_layer.direction_views(buffer, offset, input_shape, 1, 2),
        )

    def bind(self, params, offset, input_shape):
        self.forward_layer.bind(params, offset, input_shape, 0, 2)
        self.backward_layer.bind(params, offset, input_shape, 1, 2)

    def initialize(self, rng, input_shape):
        self.forward_layer.initialize(rng, input_shape)
        self.backward_layer.initialize(rng, input_shape)

    def __repr__(self):
        return f"Bidirectional({self.forward_layer!r})"
