"""The workloads of ``jitprop bench``: what each engine trains, described once for all of them.

:data:`WORKLOADS` is the one place that defines them: a dense network by its
widths (``sizes``), a convolutional or recurrent one by its input shape and
its layers (:class:`Conv`, :class:`MaxPool`, :class:`Flatten`,
:class:`Recurrent`, :class:`Dense`), with its data, loss and batch size;
every engine (:mod:`.bench_engines`) builds its network from that
description.
"""

from dataclasses import dataclass

import numpy as np

from ..io.datasets import load_digits


@dataclass(frozen=True)
class Conv:
    """A 2-D convolution of a workload: ``filters`` windows of ``kernel`` x ``kernel``, stride 1.

    Its activation is the workload's ``activation``.
    """

    filters: int
    kernel: int
    padding: str = "valid"  # or "same"


@dataclass(frozen=True)
class MaxPool:
    """Max pooling over ``size`` x ``size`` windows at stride ``size``."""

    size: int


@dataclass(frozen=True)
class Flatten:
    """Flattens an example's (H, W, C) channels last, as ``jitprop.Flatten`` does."""


@dataclass(frozen=True)
class Recurrent:
    """A recurrent layer of ``units`` over the time steps of an example (T, F), its last output only.

    ``cell`` is ``"lstm"`` (4 gates) or ``"gru"`` (3 gates, the reset
    applied after the recurrent product), with the gate nonlinearities of
    :class:`jitprop.LSTM` and :class:`jitprop.GRU`, not the workload's
    ``activation``.
    """

    cell: str
    units: int

    @property
    def gates(self):
        return {"lstm": 4, "gru": 3}[self.cell]


@dataclass(frozen=True)
class Dense:
    """A dense layer of ``units``: the workload's ``activation``, or the loss's output activation at the end."""

    units: int


@dataclass(frozen=True)
class Workload:
    """A training task: data shape, network, loss and batch size.

    A dense network is given by ``sizes`` (its widths, inputs first); a
    convolutional one by ``input_shape`` (one example's (H, W, C)) and
    ``layers`` (:class:`Conv`, :class:`MaxPool`, :class:`Flatten` and
    :class:`Dense`, the output last), with ``sizes`` empty; a recurrent one
    likewise, by an example's (T, F) and :class:`Recurrent` layers.
    :meth:`architecture` gives either as an input shape and layers, which
    the engines build from. ``dataset`` is ``"random"`` (seeded uniform
    inputs and labels or smooth targets) or ``"digits"`` (the 1,797 built-in
    digits, as 64 features or 8x8x1 images, whatever ``n`` says).
    """

    name: str
    description: str
    n: int
    sizes: tuple  # dense: layer widths, inputs first; () when input_shape and layers describe the network
    activation: str
    loss: str
    batch_size: int
    lr: float = 0.01
    input_shape: tuple = ()
    layers: tuple = ()
    dataset: str = "random"

    @property
    def dense(self):
        """Whether the network is dense (a multilayer perceptron, which every engine runs)."""
        return not self.layers

    def architecture(self):
        """``(input_shape, layers)``: one example's shape and the layers after it, the output last."""
        if self.dense:
            return (self.sizes[0],), tuple(Dense(width) for width in self.sizes[1:])
        return tuple(self.input_shape), tuple(self.layers)

    def shapes(self):
        """One example's shape at the input and after each layer of :meth:`architecture`."""
        shape, layers = self.architecture()
        shapes = [shape]
        for layer in layers:
            shapes.append(_output_shape(layer, shapes[-1]))
        return shapes

    @property
    def n_outputs(self):
        """Units of the output layer (classes for cross-entropy)."""
        return self.architecture()[1][-1].units

    def data(self, quick=False):
        """``(X, y)`` in float32, from a fixed seed (the digits set for W2 and W6), ``X`` of shape (n, *input)."""
        rng = np.random.default_rng(0)
        n = self.n if not quick else min(self.n, max(2000, self.n // 5))
        shape = self.architecture()[0]
        if self.dataset == "digits":
            X, y = load_digits()
            return X.astype(np.float32).reshape(-1, *shape), y
        X = rng.random((n, *shape), dtype=np.float32)
        if self.loss == "cross_entropy":
            return X, rng.integers(0, self.n_outputs, n)
        # The textbook task: outputs are smooth functions of the inputs, in (0, 1).
        y = np.stack([X[:, 0] * X[:, 1], 0.5 * (X[:, 0] + X[:, 1])], axis=1).astype(np.float32)
        return X, y

    def flops_per_example(self):
        """Training FLOPs per example: forward, weight gradient and input gradient products.

        A layer with weights of ``K`` inputs (a window: kh·kw·C) and ``units``
        outputs at ``P`` positions (1 for a dense layer) has a product of
        ``2·K·units·P`` FLOPs forward, the same for its weight gradient and,
        but for the first such layer, for its input gradient. A recurrent
        layer of ``g`` gates over ``T`` steps of ``F`` features has the
        products of the inputs (``K = F``) and of the state (``K = units``)
        with ``g·units`` outputs at each step; the state's gradient passes
        back through every step, in the first layer too. Pooling, biases,
        activations and gates' element-wise operations are not counted.
        """
        total = 0
        first = True
        for layer, before, after in zip(self.architecture()[1], self.shapes(), self.shapes()[1:]):
            if isinstance(layer, Conv):
                inputs, state = 2 * layer.kernel**2 * before[-1] * int(np.prod(after)), 0
            elif isinstance(layer, Recurrent):
                steps, outputs = before[0], layer.gates * layer.units
                inputs, state = 2 * steps * before[-1] * outputs, 2 * steps * layer.units * outputs
            elif isinstance(layer, Dense):
                inputs, state = 2 * int(np.prod(before)) * layer.units, 0
            else:
                continue
            total += 3 * state + (2 if first else 3) * inputs
            first = False
        return total


def _output_shape(layer, shape):
    """One example's shape after ``layer`` (of :class:`Workload`'s layers), from ``shape`` before it."""
    if isinstance(layer, Conv):
        lost = 0 if layer.padding == "same" else layer.kernel - 1
        return (shape[0] - lost, shape[1] - lost, layer.filters)
    if isinstance(layer, MaxPool):
        return (shape[0] // layer.size, shape[1] // layer.size, shape[2])
    if isinstance(layer, Flatten):
        return (int(np.prod(shape)),)
    return (layer.units,)  # Dense, and Recurrent (its last output)


#: LeNet-5's layers, with ReLU and max pooling: W5.
LENET5 = (Conv(6, 5, "same"), MaxPool(2), Conv(16, 5), MaxPool(2), Flatten(), Dense(120), Dense(84), Dense(10))

WORKLOADS = {
    w.name: w
    for w in (
        Workload("W1", "MNIST-shaped 784-256-128-10", 60_000, (784, 256, 128, 10), "relu", "cross_entropy", 128),
        Workload("W2", "digits 64-32-10", 1_797, (64, 32, 10), "relu", "cross_entropy", 32, dataset="digits"),
        Workload("W3", "wide 1024-1024-1024-10", 20_000, (1024, 1024, 1024, 10), "relu", "cross_entropy", 256),
        Workload("W4b1", "textbook 2-2-2, batch 1", 100_000, (2, 2, 2), "sigmoid", "mse", 1, 0.1),
        Workload("W4b64", "textbook 2-2-2, batch 64", 100_000, (2, 2, 2), "sigmoid", "mse", 64, 0.1),
        Workload(
            "W5",
            "LeNet-5-like CNN, 28x28x1",
            10_000,
            (),
            "relu",
            "cross_entropy",
            64,
            input_shape=(28, 28, 1),
            layers=LENET5,
        ),
        Workload(
            "W6",
            "digits CNN 8x8x1, conv 16@3x3",
            1_797,
            (),
            "relu",
            "cross_entropy",
            32,
            input_shape=(8, 8, 1),
            layers=(Conv(16, 3, "same"), MaxPool(2), Flatten(), Dense(10)),
            dataset="digits",
        ),
        Workload(
            "W7",
            "LSTM(64) on T=50, F=16",
            8_192,
            (),
            "relu",
            "cross_entropy",
            32,
            input_shape=(50, 16),
            layers=(Recurrent("lstm", 64), Dense(10)),
        ),
        Workload(
            "W8",
            "GRU(128) on T=100, F=32",
            4_096,
            (),
            "relu",
            "cross_entropy",
            64,
            input_shape=(100, 32),
            layers=(Recurrent("gru", 128), Dense(10)),
        ),
    )
}


def _weight_layers(workload):
    """The layers of ``workload`` that have weights, each with the example's shape before it.

    For a dense layer straight after :class:`Flatten`, the shape is the one
    before the flattening: (H, W, C), the order of its weights' rows.
    """
    _, layers = workload.architecture()
    shapes = workload.shapes()
    found = []
    for i, layer in enumerate(layers):
        if isinstance(layer, (Conv, Dense, Recurrent)):
            found.append((layer, shapes[i - 1] if i and isinstance(layers[i - 1], Flatten) else shapes[i]))
    return found
