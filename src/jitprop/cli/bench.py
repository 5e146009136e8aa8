"""``jitprop bench``: jitprop and its peers on the same workloads, side by side.

Each workload is trained by every available engine in turn — jitprop,
PyTorch (CPU, a plain training loop), JAX (CPU; the step under ``jax.jit``,
the whole epoch under ``jax.lax.scan``), scikit-learn's MLP and a plain NumPy
implementation (the last two for dense networks only), and for W4 a
hand-written loop for that one network (the limit a general engine is
measured against, :class:`HandWrittenEngine`) — one epoch at a time,
alternating engines (A B A B …), after
one warm-up epoch each. The reported speed is the median over the timed
epochs, in examples per second. A ratio is the median over rounds of the
ratio of two engines' speeds in the same round (epochs seconds apart), which
is what survives a noisy shared machine: a slow spell of the machine then
slows both sides of a ratio, instead of the median epoch of one engine and
not the other's. Between two epochs the
bench pauses for ``SETTLE_SECONDS``: the engine that just ran leaves its
worker threads spinning for a while (OpenBLAS, under NumPy and scikit-learn,
for up to some 0.1 s), and on two cores that would slow whichever engine
came next. The pause costs the next engine too: its data, code and worker
threads have gone cold (on a virtual machine, a 1.1 ms epoch of W2 then
takes about 1.9 ms, the next one 1.4 ms, and the fifth is back to speed).
So an engine whose epoch is shorter than ``REWARM_BELOW_SECONDS`` runs
untimed epochs after the pause, for at least ``REWARM_SECONDS``, before the
timed one: what is timed is an epoch in the middle of a training run, as
``fit(epochs=...)`` runs it. Peers that are not installed are skipped with a note
(``pip install "jitprop[bench]"``).

With ``--processes`` each engine runs in a process of its own instead, one
after the other in every round (A B C A B C …): three engines' thread pools
(Numba's, PyTorch's, XLA's) then never share a process, at the cost of a
warm-up epoch (JAX's and PyTorch's compile or first-call costs included) per
process. Each process times ``PROCESS_EPOCHS`` epochs and reports their
median; the round's ratios pair these medians.

:data:`WORKLOADS` is the one place that defines the workloads: a dense
network by its widths (``sizes``), a convolutional or recurrent one by its
input shape and its layers (:class:`Conv`, :class:`MaxPool`,
:class:`Flatten`, :class:`Recurrent`, :class:`Dense`); every engine builds
its network from that description.

The peers are imported by their engines, when they run, and only this
command imports the engines: ``import jitprop`` never imports PyTorch, JAX or
scikit-learn.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

from .. import _checks
from .._machine import describe
from .._threading import thread_count
from ..io.datasets import load_digits
from ..losses import LOSSES

#: Pause before every timed epoch, so the previous engine's idle worker threads stop spinning.
SETTLE_SECONDS = 0.3
#: Engines whose warm-up epoch took less than this run untimed epochs
#: between the pause and each timed epoch (longer epochs lose well under 1%
#: to the pause, and some take tens of seconds)...
REWARM_BELOW_SECONDS = 1.0
#: ...for at least this long (one epoch at least).
REWARM_SECONDS = 0.02


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


# --------------------------------------------------------------------------- engines
class JitpropEngine:
    name = "jitprop"

    def __init__(self, workload, X, y, threads):
        import jitprop as jp

        self.X, self.y, self.workload = X, y, workload
        shape, specs = workload.architecture()
        output = LOSSES[workload.loss].output_activation or workload.activation  # mse: the hidden layers'
        layers = []
        for i, spec in enumerate(specs):
            activation = output if i == len(specs) - 1 else workload.activation
            if isinstance(spec, Conv):
                layers.append(jp.Conv2D(spec.filters, spec.kernel, padding=spec.padding, activation=activation))
            elif isinstance(spec, MaxPool):
                layers.append(jp.MaxPool2D(spec.size))
            elif isinstance(spec, Flatten):
                layers.append(jp.Flatten())
            elif isinstance(spec, Recurrent):
                layers.append({"lstm": jp.LSTM, "gru": jp.GRU}[spec.cell](spec.units))
            else:
                layers.append(jp.Dense(spec.units, activation))
        if workload.dense:
            self.net = jp.Network(layers, input_dim=shape[0], loss=workload.loss, seed=0)
        else:
            self.net = jp.Network(layers, input_shape=shape, loss=workload.loss, seed=0)
        self.optimizer = jp.SGD(lr=workload.lr)

    def weights(self):
        """``(W, b)`` of each layer with weights, ``(W, U, b)`` of a recurrent one, in Keras' layout.

        As the peers' ``set_weights`` take them.
        """
        layers = [layer for layer in self.net.kernel_layers if hasattr(layer, "W")]
        names = ("W", "U", "b")
        return [tuple(getattr(layer, name).copy() for name in names if hasattr(layer, name)) for layer in layers]

    def loss(self, X, y):
        """The mean loss on ``(X, y)``."""
        return self.net.evaluate(X, y)["loss"]

    def epoch(self):
        started = time.perf_counter()
        self.net.fit(self.X, self.y, epochs=1, batch_size=self.workload.batch_size, optimizer=self.optimizer, verbose=0)
        return time.perf_counter() - started

    def predict(self, X):
        """The network's outputs (probabilities for a softmax) for the NumPy array ``X``."""
        return self.net.predict(X)


class TorchEngine:
    """PyTorch on the CPU, a plain training loop.

    A CNN runs channels first, as PyTorch lays images out; a recurrent
    layer is ``nn.LSTM`` or ``nn.GRU`` (``batch_first``), of which the next
    layer takes the last step's output.
    """

    name = "pytorch"

    def __init__(self, workload, X, y, threads):
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        self.torch, self.workload = torch, workload
        act = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid}[workload.activation]
        _, specs = workload.architecture()
        modules = []
        for i, (spec, before) in enumerate(zip(specs, workload.shapes())):
            if isinstance(spec, Conv):
                modules.append(torch.nn.Conv2d(before[-1], spec.filters, spec.kernel, padding=spec.padding))
            elif isinstance(spec, MaxPool):
                modules.append(torch.nn.MaxPool2d(spec.size))
            elif isinstance(spec, Flatten):
                modules.append(torch.nn.Flatten())
            elif isinstance(spec, Recurrent):
                modules.append(_last_output(torch, spec, before[-1]))
            else:
                modules.append(torch.nn.Linear(int(np.prod(before)), spec.units))
            if isinstance(spec, (Conv, Dense)) and (i < len(specs) - 1 or workload.loss == "mse"):
                modules.append(act())
        self.model = torch.nn.Sequential(*modules)
        self.loss_function = torch.nn.CrossEntropyLoss() if workload.loss == "cross_entropy" else torch.nn.MSELoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=workload.lr)
        self.X = self._inputs(X)
        self.y = self._targets(y)
        self.batch_size = workload.batch_size

    def _inputs(self, X):
        X = self.torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        return X if X.ndim != 4 else X.permute(0, 3, 1, 2).contiguous()  # (n, H, W, C) -> (n, C, H, W)

    def _targets(self, y):
        return self.torch.from_numpy(y.astype(np.int64) if self.workload.loss == "cross_entropy" else y)

    def set_weights(self, weights):
        """Take jitprop's weights (Keras' layout, channels last) into the channels-first modules."""
        torch = self.torch
        kinds = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.LSTM, torch.nn.GRU)
        modules = [m.recurrent if hasattr(m, "recurrent") else m for m in self.model]
        modules = [m for m in modules if isinstance(m, kinds)]
        with torch.no_grad():
            for module, arrays, (spec, before) in zip(modules, weights, _weight_layers(self.workload)):
                if isinstance(spec, Recurrent):
                    _set_recurrent_weights(torch, module, spec, *arrays)
                    continue
                W, b = arrays
                if isinstance(spec, Conv):
                    W = W.transpose(3, 2, 0, 1)  # (kh, kw, C, C_out) -> (C_out, C, kh, kw)
                elif len(before) == 3:  # after Flatten: rows in (H, W, C) order, PyTorch flattens (C, H, W)
                    W = W.reshape(*before, -1).transpose(2, 0, 1, 3).reshape(-1, W.shape[-1])
                if isinstance(spec, Dense):
                    W = W.T
                module.weight.copy_(torch.from_numpy(np.ascontiguousarray(W)))
                module.bias.copy_(torch.from_numpy(b))

    def loss(self, X, y):
        """The mean loss on ``(X, y)``."""
        with self.torch.no_grad():
            return float(self.loss_function(self.model(self._inputs(X)), self._targets(y)))

    def predict(self, X):
        """The network's outputs for the NumPy array ``X``, as a NumPy array (softmax applied for cross-entropy)."""
        with self.torch.no_grad():
            out = self.model(self._inputs(X))
            return (self.torch.softmax(out, 1) if self.workload.loss == "cross_entropy" else out).numpy()

    def epoch(self):
        torch = self.torch
        started = time.perf_counter()
        order = torch.randperm(self.X.shape[0])
        for start in range(0, self.X.shape[0], self.batch_size):
            index = order[start : start + self.batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_function(self.model(self.X[index]), self.y[index])
            loss.backward()
            self.optimizer.step()
        return time.perf_counter() - started


def _last_output(torch, spec, features):
    """A module running ``nn.LSTM`` or ``nn.GRU`` over (n, T, F) and giving the last step's output (n, units)."""

    class LastOutput(torch.nn.Module):
        def __init__(self):
            super().__init__()
            kind = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[spec.cell]
            self.recurrent = kind(features, spec.units, batch_first=True)

        def forward(self, x):
            return self.recurrent(x)[0][:, -1]

    return LastOutput()


def _set_recurrent_weights(torch, module, spec, W, U, b):
    """Keras' ``W`` (F, g·u), ``U`` (u, g·u) and ``b`` into PyTorch's (g·u, F), (g·u, u) and two biases.

    An LSTM's gates are in the same order in both ([i, f, c, o]); a GRU's
    are [z, r, h] in Keras and [r, z, n] in PyTorch, and its ``b`` holds the
    input and the recurrent biases.
    """
    u = spec.units
    order = [1, 0, 2] if spec.cell == "gru" else [0, 1, 2, 3]

    def gates(a):  # the gate blocks of the last axis, in PyTorch's order
        return np.concatenate([a[..., g * u : (g + 1) * u] for g in order], axis=-1)

    b_input, b_recurrent = (b[0], b[1]) if spec.cell == "gru" else (b, np.zeros_like(b))
    for name, value in (
        ("weight_ih_l0", gates(W).T),
        ("weight_hh_l0", gates(U).T),
        ("bias_ih_l0", gates(b_input)),
        ("bias_hh_l0", gates(b_recurrent)),
    ):
        getattr(module, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))


class JaxEngine:
    """JAX on the CPU: the SGD step under ``jax.jit``, the whole epoch (shuffle included) under ``jax.lax.scan``.

    Images stay channels last (``lax.conv_general_dilated`` with NHWC inputs
    and HWIO weights, Keras' layout). A recurrent layer projects the inputs
    of all steps at once and runs its cell, written out from the formulas of
    :class:`jitprop.LSTM` and :class:`jitprop.GRU`, under a ``lax.scan`` over
    the steps. The full batches of an epoch are one ``lax.scan``; a last,
    smaller batch is one more step in the same compiled epoch.
    """

    name = "jax"

    def __init__(self, workload, X, y, threads):
        if threads == 1 and "jax" not in sys.modules:
            # XLA reads its flags when it starts: one thread for its products and its own pool.
            flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
        import jax
        import jax.numpy as jnp
        from jax import lax

        self.jax, self.jnp, self.workload = jax, jnp, workload
        _, specs = workload.architecture()
        rng = np.random.default_rng(0)
        params = []
        for spec, before in _weight_layers(workload):
            if isinstance(spec, Recurrent):
                params.append(_recurrent_parameters(jnp, rng, spec, before[-1]))
                continue
            if isinstance(spec, Conv):
                fan_in, shape = spec.kernel**2 * before[-1], (spec.kernel, spec.kernel, before[-1], spec.filters)
            else:
                fan_in = int(np.prod(before))
                shape = (fan_in, spec.units)
            W = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)
            params.append((jnp.asarray(W), jnp.zeros(shape[-1], jnp.float32)))
        self.params = params
        last = len(specs) - 1
        hidden = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid}[workload.activation]
        cross_entropy = workload.loss == "cross_entropy"

        def logits(params, x):
            weights = iter(params)
            for i, spec in enumerate(specs):
                if isinstance(spec, Conv):
                    W, b = next(weights)
                    padding = spec.padding.upper()
                    x = lax.conv_general_dilated(x, W, (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC")) + b
                elif isinstance(spec, MaxPool):
                    window = (1, spec.size, spec.size, 1)
                    x = lax.reduce_window(x, -jnp.inf, lax.max, window, window, "VALID")
                elif isinstance(spec, Flatten):
                    x = x.reshape(x.shape[0], -1)
                elif isinstance(spec, Recurrent):
                    x = _recurrent_last_output(jax, jnp, lax, spec, next(weights), x)
                else:
                    W, b = next(weights)
                    x = x @ W + b
                if isinstance(spec, (Conv, Dense)) and (i < last or not cross_entropy):
                    x = hidden(x)
            return x

        def loss(params, x, y):
            out = logits(params, x)
            if cross_entropy:
                return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(out), y[:, None], axis=1))
            return jnp.mean((out - y) ** 2)

        lr, batch = workload.lr, workload.batch_size
        gradient = jax.grad(loss)

        def step(params, x, y):
            return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, gradient(params, x, y))

        def epoch(params, X, y, key):
            n = X.shape[0]
            order = jax.random.permutation(key, n)
            full = n // batch * batch
            batches = (
                X[order[:full]].reshape(-1, batch, *X.shape[1:]),
                y[order[:full]].reshape(-1, batch, *y.shape[1:]),
            )
            params, _ = lax.scan(lambda p, xy: (step(p, *xy), None), params, batches)
            if full < n:
                params = step(params, X[order[full:]], y[order[full:]])
            return params

        self._loss = jax.jit(loss)
        self._epoch = jax.jit(epoch)
        self._outputs = jax.jit(
            lambda params, x: jax.nn.softmax(logits(params, x)) if cross_entropy else logits(params, x)
        )
        self.X = jnp.asarray(X)
        self.y = jnp.asarray(y.astype(np.int32) if cross_entropy else y)
        self.key = jax.random.PRNGKey(0)

    def set_weights(self, weights):
        """Take jitprop's weights (Keras' layout: the layout this engine computes in)."""
        self.params = [tuple(self.jnp.asarray(array) for array in arrays) for arrays in weights]

    def loss(self, X, y):
        """The mean loss on ``(X, y)``."""
        targets = y.astype(np.int32) if self.workload.loss == "cross_entropy" else y
        return float(self._loss(self.params, self.jnp.asarray(X), self.jnp.asarray(targets)))

    def predict(self, X):
        """The network's outputs for the NumPy array ``X``, as a NumPy array (a jitted forward pass)."""
        return np.asarray(self.jax.block_until_ready(self._outputs(self.params, self.jnp.asarray(X))))

    def epoch(self):
        started = time.perf_counter()
        self.key, key = self.jax.random.split(self.key)
        self.params = self.jax.block_until_ready(self._epoch(self.params, self.X, self.y, key))
        return time.perf_counter() - started


def _recurrent_parameters(jnp, rng, spec, features):
    """``(W, U, b)`` of a recurrent layer in Keras' layout, drawn as :class:`jitprop.LSTM` and GRU draw them."""
    outputs = spec.gates * spec.units
    W = rng.uniform(-1, 1, (features, outputs)) * np.sqrt(6.0 / (features + outputs))
    U = np.linalg.qr(rng.normal(size=(outputs, spec.units)))[0].T  # orthogonal rows
    if spec.cell == "lstm":
        b = np.zeros(outputs)
        b[spec.units : 2 * spec.units] = 1.0  # the forget gate's
    else:
        b = np.zeros((2, outputs))
    return tuple(jnp.asarray(a.astype(np.float32)) for a in (W, U, b))


def _recurrent_last_output(jax, jnp, lax, spec, weights, x):
    """The last step's output ``h`` (n, units) of a recurrent layer over ``x`` (n, T, F), zero initial state."""
    W, U, b = weights
    sigmoid = jax.nn.sigmoid
    zeros = jnp.zeros((x.shape[0], spec.units), x.dtype)
    if spec.cell == "lstm":
        steps = jnp.swapaxes(x @ W + b, 0, 1)  # (T, n, 4u): every step's input projection at once

        def cell(state, projected):
            h, c = state
            i, f, g, o = jnp.split(projected + h @ U, 4, axis=-1)
            c = sigmoid(f) * c + sigmoid(i) * jnp.tanh(g)
            return (sigmoid(o) * jnp.tanh(c), c), None

        (h, _), _ = lax.scan(cell, (zeros, zeros), steps)
        return h
    steps = jnp.swapaxes(x @ W + b[0], 0, 1)  # (T, n, 3u)

    def cell(h, projected):
        xz, xr, xh = jnp.split(projected, 3, axis=-1)
        hz, hr, hh = jnp.split(h @ U + b[1], 3, axis=-1)
        z, r = sigmoid(xz + hz), sigmoid(xr + hr)
        return z * h + (1 - z) * jnp.tanh(xh + r * hh), None

    h, _ = lax.scan(cell, zeros, steps)
    return h


class SklearnEngine:
    name = "scikit-learn"
    dense_only = True

    def __init__(self, workload, X, y, threads):
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        common = dict(
            hidden_layer_sizes=workload.sizes[1:-1],
            activation={"relu": "relu", "sigmoid": "logistic"}[workload.activation],
            solver="sgd",
            momentum=0.0,
            learning_rate_init=workload.lr,
            batch_size=workload.batch_size,
            shuffle=True,
            random_state=0,
        )
        self.model = MLPClassifier(**common) if workload.loss == "cross_entropy" else MLPRegressor(**common)
        self.X, self.y = X, y
        self.classes = np.unique(y) if workload.loss == "cross_entropy" else None

    def epoch(self):
        started = time.perf_counter()
        if self.classes is not None:
            self.model.partial_fit(self.X, self.y, classes=self.classes)
        else:
            self.model.partial_fit(self.X, self.y)
        return time.perf_counter() - started


class NumpyEngine:
    """A plain NumPy MLP trained by SGD: the textbook algorithm on BLAS matrix products."""

    name = "numpy"
    dense_only = True

    def __init__(self, workload, X, y, threads):
        rng = np.random.default_rng(0)
        self.w = workload
        self.X, self.y = X, y
        shapes = zip(workload.sizes, workload.sizes[1:])
        self.W = [rng.normal(0, np.sqrt(2 / a), (a, b)).astype(np.float32) for a, b in shapes]
        self.b = [np.zeros(b, np.float32) for b in workload.sizes[1:]]
        self.rng = rng

    def _act(self, z):
        return np.maximum(z, 0) if self.w.activation == "relu" else 1 / (1 + np.exp(-z))

    def _dact(self, a):
        return (a > 0).astype(a.dtype) if self.w.activation == "relu" else a * (1 - a)

    def epoch(self):
        started = time.perf_counter()
        n = self.X.shape[0]
        order = self.rng.permutation(n)
        last = len(self.W) - 1
        for start in range(0, n, self.w.batch_size):
            index = order[start : start + self.w.batch_size]
            acts = [self.X[index]]
            for i, (W, b) in enumerate(zip(self.W, self.b)):
                z = acts[-1] @ W + b
                if i == last and self.w.loss == "cross_entropy":
                    z = np.exp(z - z.max(axis=1, keepdims=True))
                    acts.append(z / z.sum(axis=1, keepdims=True))
                else:
                    acts.append(self._act(z))
            rows = index.shape[0]
            if self.w.loss == "cross_entropy":
                delta = acts[-1].copy()
                delta[np.arange(rows), self.y[index]] -= 1
                delta /= rows
            else:
                delta = 2 * (acts[-1] - self.y[index]) / acts[-1].size * self._dact(acts[-1])
            for i in range(last, -1, -1):
                grad_W = acts[i].T @ delta
                grad_b = delta.sum(axis=0)
                if i:
                    delta = (delta @ self.W[i].T) * self._dact(acts[i])
                self.W[i] -= self.w.lr * grad_W
                self.b[i] -= self.w.lr * grad_b
        return time.perf_counter() - started


class HandWrittenEngine:
    """W4's network written out by hand for that one network (:mod:`jitprop.kernels.handwritten`): the limit.

    Forward pass, backward pass and SGD update of a two-layer sigmoid
    network with a mean squared error, as loops over its few units in one
    compiled function; the epoch's shuffle (a NumPy permutation) is timed
    with it, as every engine's is. Runs W4's kind of network only.
    """

    name = "hand-written"
    dense_only = True

    @staticmethod
    def runs(workload):
        """Whether the hand-written loop is of ``workload``'s network: two layers, sigmoid, mean squared error."""
        return (
            workload.dense and len(workload.sizes) == 3 and workload.activation == "sigmoid" and workload.loss == "mse"
        )

    def __init__(self, workload, X, y, threads):
        from ..kernels.handwritten import sigmoid_mse_epoch

        rng = np.random.default_rng(0)
        n_in, hidden, outputs = workload.sizes
        self.W1 = rng.normal(0, np.sqrt(1 / n_in), (n_in, hidden)).astype(np.float32)
        self.W2 = rng.normal(0, np.sqrt(1 / hidden), (hidden, outputs)).astype(np.float32)
        self.b1, self.b2 = np.zeros(hidden, np.float32), np.zeros(outputs, np.float32)
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        self.Y = np.ascontiguousarray(np.reshape(y, (X.shape[0], outputs)), dtype=np.float32)
        self.epoch_kernel, self.workload, self.rng = sigmoid_mse_epoch, workload, rng

    def epoch(self):
        started = time.perf_counter()
        order = self.rng.permutation(self.X.shape[0])
        weights = (self.W1, self.b1, self.W2, self.b2)
        self.epoch_kernel(self.X, self.Y, order, *weights, np.float32(self.workload.lr), self.workload.batch_size)
        return time.perf_counter() - started


ENGINES = (JitpropEngine, TorchEngine, JaxEngine, SklearnEngine, NumpyEngine, HandWrittenEngine)
_PEER_MODULES = {"pytorch": "torch", "jax": "jax", "scikit-learn": "sklearn"}


def installed(name):
    """Whether the engine or library ``name`` can run here: a peer's module is installed (jitprop's always is)."""
    module = _PEER_MODULES.get(name)
    if module is None:
        return True
    import importlib.util

    return importlib.util.find_spec(module) is not None


# ------------------------------------------------------------------------ measurements
#: Timed epochs of each engine's process in a round of :func:`compare_in_processes`.
PROCESS_EPOCHS = 3


def _skipped(engine, workload):
    """Why ``engine`` does not run ``workload`` (a note), or None."""
    if not installed(engine.name):
        return f"{engine.name} is not installed: skipped"
    if getattr(engine, "dense_only", False) and not workload.dense:
        return f"{engine.name}: skipped (dense networks only)"
    if engine is HandWrittenEngine and not engine.runs(workload):
        return f"{engine.name}: skipped (written for W4's two-layer sigmoid network only)"
    if engine is NumpyEngine and workload.batch_size == 1:
        return "numpy: skipped at batch size 1 (interpreter-bound, minutes per epoch)"
    return None


def compare_workload(workload, threads, repeats, quick=False, engines=ENGINES, log=print):
    """Median examples/s of each engine on ``workload``, epochs alternating between engines."""
    X, y = workload.data(quick)
    runners, notes, warmup = [], [], {}
    for engine in engines:
        note = _skipped(engine, workload)
        if note is not None:
            notes.append(note)
            continue
        runner = engine(workload, X, y, threads)
        warmup[engine.name] = runner.epoch()  # jitprop's includes compiling (or loading) its kernels
        runners.append(runner)
    times = {runner.name: [] for runner in runners}
    for _ in range(repeats):
        for runner in runners:
            times[runner.name].append(_timed_epoch(runner, rewarm=warmup[runner.name] < REWARM_BELOW_SECONDS))
    return _result(workload, X.shape[0], times, warmup, notes)


def compare_in_processes(workload, threads, rounds, quick=False, engines=ENGINES, log=print, run_engine=None):
    """Median examples/s of each engine on ``workload``, each engine in a fresh process of its own, alternating.

    In each of ``rounds`` rounds every engine in turn trains in a new process
    (``run_engine``, default :func:`engine_process`): a warm-up epoch, then
    ``PROCESS_EPOCHS`` timed epochs as :func:`compare_workload` times them,
    whose median is the engine's time in that round. ``epoch_seconds`` lists
    these per-round medians, ``warmup_seconds`` each process's warm-up
    epoch; speeds and ratios are taken over rounds as in
    :func:`compare_workload`.
    """
    run_engine = engine_process if run_engine is None else run_engine
    n = workload.data(quick)[0].shape[0]
    notes, names = [], []
    for engine in engines:
        note = _skipped(engine, workload)
        if note is None:
            names.append(engine.name)
        else:
            notes.append(note)
    times = {name: [] for name in names}
    warmup = {name: [] for name in names}
    blas = {}
    for round_ in range(rounds):
        for name in names:
            log(f"… {workload.name} round {round_ + 1}/{rounds}: {name}")
            entry = run_engine(workload.name, name, threads, quick)
            times[name].append(float(np.median(entry["epoch_seconds"])))
            warmup[name].append(entry["warmup_seconds"])
            blas[name] = entry.get("blas", [])
    notes += [
        f"{name}'s BLAS: {'; '.join(libraries)}"
        for name, libraries in blas.items()
        if libraries and name not in _OWN_ENGINES
    ]
    result = _result(workload, n, times, warmup, notes)
    result["processes"] = {"rounds": rounds, "epochs_per_process": PROCESS_EPOCHS}
    return result


_ENGINE_SCRIPT = """
import json, sys
from jitprop.cli import bench
workload, engine, threads, quick = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
print(json.dumps(bench.one_engine(workload, engine, threads, quick)))
"""


#: Variables set on some machines for old OpenBLAS builds, with which a current one runs slower kernels
#: (``OPENBLAS_CORETYPE=Haswell`` gives an AVX-512 CPU Haswell's): unset in the peers' own processes, so
#: that NumPy, scikit-learn and PyTorch run with their own best choice (never in jitprop's, the tests' or CI's).
PEER_UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

#: Engines that run no BLAS of their own: their processes keep the environment as it is.
_OWN_ENGINES = ("jitprop", "hand-written")


def engine_environment(engine):
    """The environment of ``engine``'s own process: this one's, a peer's without the variables of :data:`PEER_UNSET`."""
    env = dict(os.environ)
    if engine not in _OWN_ENGINES:
        for name in PEER_UNSET:
            env.pop(name, None)
    return env


def json_from_process(script, arguments, engine, what, variables=None):
    """Run ``script`` with ``arguments`` in a fresh Python process of ``engine``'s; the JSON of its last line.

    ``variables`` are set in the process's environment beside :func:`engine_environment`'s.
    """
    env = {**engine_environment(engine), **(variables or {})}
    out = subprocess.run([sys.executable, "-c", script, *arguments], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed in its process:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def engine_process(workload, engine, threads, quick=False):
    """Run :func:`one_engine` in a fresh Python process; return its result.

    A peer's process runs without the variables of :data:`PEER_UNSET`.
    """
    arguments = (workload, engine, str(threads), "1" if quick else "0")
    return json_from_process(_ENGINE_SCRIPT, arguments, engine, f"{engine} on {workload}")


def one_engine(workload, engine, threads, quick=False, epochs=None):
    """A warm-up epoch and ``epochs`` (default ``PROCESS_EPOCHS``) timed ones of one engine, in this process.

    Returns
    -------
    dict
        ``epoch_seconds`` (the timed epochs) and ``warmup_seconds``.
    """
    (engine_class,) = [e for e in ENGINES if e.name == engine]
    with thread_count(threads):
        result = compare_workload(WORKLOADS[workload], threads, epochs or PROCESS_EPOCHS, quick, (engine_class,))
    entry = result["engines"][engine]
    return {"epoch_seconds": entry["epoch_seconds"], "warmup_seconds": entry["warmup_seconds"], "blas": blas_kernels()}


def blas_kernels():
    """The BLAS libraries loaded in this process and the kernels each chose, as ``threadpoolctl`` reports them.

    One line per library, e.g. ``openblas 0.3.29, SkylakeX kernels, 2 threads``;
    empty without ``threadpoolctl`` (scikit-learn brings it) or a BLAS.
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    lines = []
    for library in threadpool_info():
        if library.get("user_api") != "blas":
            continue
        kernels = f", {library['architecture']} kernels" if library.get("architecture") else ""
        lines.append(f"{library['internal_api']} {library.get('version')}{kernels}, {library['num_threads']} threads")
    return lines


def _result(workload, n, times, warmup, notes):
    """The report of one workload from each engine's epoch times (per round, aligned)."""
    flops = workload.flops_per_example()
    result = {"workload": workload.name, "description": workload.description, "examples": n, "engines": {}}
    for name, seconds in times.items():
        median = float(np.median(seconds))
        result["engines"][name] = {
            "examples_per_second": n / median,
            "gflops": flops * n / median / 1e9,
            "epoch_seconds": seconds,
            "warmup_seconds": warmup[name],
        }
    result["ratios"] = {}
    if "jitprop" in times:
        ours = np.array(times["jitprop"])
        result["ratios"] = {
            name: float(np.median(np.array(seconds) / ours)) for name, seconds in times.items() if name != "jitprop"
        }
    result["notes"] = notes
    return result


def _timed_epoch(runner, rewarm):
    """Settle, bring the engine back to speed if ``rewarm``, then time one epoch."""
    time.sleep(SETTLE_SECONDS)
    if rewarm:
        rewarmed = 0.0
        while rewarmed < REWARM_SECONDS:
            rewarmed += runner.epoch()
    return runner.epoch()


_FIT_SCRIPT = """
import resource, sys, time
started = time.perf_counter()
import numpy as np
engine = sys.argv[1]
rng = np.random.default_rng(0)
X = rng.random((int(sys.argv[2]), 784), dtype=np.float32); y = rng.integers(0, 10, X.shape[0])
if engine == "jitprop-w6":  # the bench's own W6 network, on the digits
    from jitprop.cli import bench
    w6 = bench.WORKLOADS["W6"]
    bench.JitpropEngine(w6, *w6.data(), 1).epoch()
elif engine == "jitprop":
    import jitprop as jp
    layers = [jp.Dense(256, "relu"), jp.Dense(128, "relu"), jp.Dense(10, "softmax")]
    net = jp.Network(layers, 784, "cross_entropy", seed=0)
    net.fit(X, y, epochs=1, batch_size=128, optimizer=jp.SGD(0.01), verbose=0)
else:
    import torch
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                                torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01); loss = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for i in range(0, X.shape[0], 128):
        opt.zero_grad(); loss(model(Xt[i:i+128]), yt[i:i+128]).backward(); opt.step()
seconds = time.perf_counter() - started
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:  # ru_maxrss survives exec: it would report the parent's peak if that was higher
    with open("/proc/self/status") as status:
        peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    pass
print(seconds, peak_kib)
"""


def _fresh_process(engine, n, env=None):
    out = subprocess.run(
        [sys.executable, "-c", _FIT_SCRIPT, engine, str(n)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout.split()
    return float(out[0]), int(out[1]) * 1024  # seconds, peak bytes


def first_fit_and_memory(quick=False):
    """Wall time of a first W1 fit in fresh processes (cold and warm compile cache) and peak memory."""
    import tempfile

    n = 12_000 if quick else 60_000
    with tempfile.TemporaryDirectory() as cache:
        cold, _ = _fresh_process("jitprop", 2_000, {"NUMBA_CACHE_DIR": cache})
        warm, _ = _fresh_process("jitprop", 2_000, {"NUMBA_CACHE_DIR": cache})
    result = {"first_fit_cold_seconds": cold, "first_fit_warm_seconds": warm, "w1_examples": n}
    result["peak_memory_bytes"] = {"jitprop": _fresh_process("jitprop", n)[1]}
    if installed(TorchEngine.name):
        result["peak_memory_bytes"]["pytorch"] = _fresh_process("torch", n)[1]
    return result


def first_cnn_fit():
    """Wall time of a first fit of W6's CNN (one epoch, the digits) in fresh processes, cold and warm cache.

    The process imports jitprop, builds the network and trains it one
    epoch: with an empty compile cache that is mostly compiling the
    convolution, pooling and dense kernels; with the cache filled, loading
    them. The difference is the compile time a first CNN fit adds.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as cache:
        cold, _ = _fresh_process("jitprop-w6", 0, {"NUMBA_CACHE_DIR": cache})
        warm, _ = _fresh_process("jitprop-w6", 0, {"NUMBA_CACHE_DIR": cache})
    return {"first_cnn_fit_cold_seconds": cold, "first_cnn_fit_warm_seconds": warm}


# ------------------------------------------------------------------------ inference
#: Examples of the throughput measurement of :func:`inference`, and calls of its one-example latency.
INFERENCE_ROWS = 10_000
INFERENCE_CALLS = 2_000

#: Engines whose prediction :func:`inference` times.
INFERENCE_ENGINES = ("jitprop", "pytorch", "jax")


_ALL_WORKLOADS = ",".join(WORKLOADS)


def inference(workload, engine, threads):
    """Prediction by ``engine`` in this process: throughput on a large batch and the latency of one example.

    A warm-up call of each size first (compiling, for jitprop and JAX);
    then the median of 7 predictions of ``INFERENCE_ROWS`` examples and of
    ``INFERENCE_CALLS`` one-example predictions, each call from a NumPy
    array to a NumPy array, as a user calls it.

    Returns
    -------
    dict
        ``examples_per_second`` and ``one_example_us`` (median), ``one_example_p90_us``.
    """
    (engine_class,) = [e for e in ENGINES if e.name == engine]
    X, y = workload.data()
    rows = np.resize(X, (INFERENCE_ROWS, *X.shape[1:])).astype(np.float32)
    one = np.ascontiguousarray(rows[:1])
    with thread_count(threads):
        runner = engine_class(workload, X[:256], y[:256], threads)
        runner.predict(rows)
        runner.predict(one)
        batch = []
        for _ in range(7):
            started = time.perf_counter()
            runner.predict(rows)
            batch.append(time.perf_counter() - started)
        single = np.empty(INFERENCE_CALLS)
        for i in range(INFERENCE_CALLS):
            started = time.perf_counter()
            runner.predict(one)
            single[i] = time.perf_counter() - started
    return {
        "examples_per_second": INFERENCE_ROWS / float(np.median(batch)),
        "one_example_us": float(np.median(single)) * 1e6,
        "one_example_p90_us": float(np.percentile(single, 90)) * 1e6,
    }


_INFERENCE_SCRIPT = """
import json, sys
from jitprop.cli import bench
print(json.dumps(bench.inference(bench.WORKLOADS[sys.argv[1]], sys.argv[2], int(sys.argv[3]))))
"""


def inference_in_processes(workload, threads, rounds, engines=INFERENCE_ENGINES, log=print):
    """:func:`inference` of each engine in a fresh process of its own, alternating, ``rounds`` times.

    Peers' processes run without :data:`PEER_UNSET`. Returns, for each
    engine that is installed, every round's figures and their medians.
    """
    names = [name for name in engines if installed(name)]
    rounds_ = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names:
            log(f"… inference on {workload.name}'s network, round {round_ + 1}/{rounds}: {name}")
            arguments = (workload.name, name, str(threads))
            rounds_[name].append(json_from_process(_INFERENCE_SCRIPT, arguments, name, f"{name}'s prediction"))
    report = {"workload": workload.name, "threads": threads, "rounds": rounds, "engines": {}}
    for name, figures in rounds_.items():
        report["engines"][name] = {
            "rounds": figures,
            **{key: float(np.median([f[key] for f in figures])) for key in figures[0]},
        }
    return report


def format_inference(report):
    """The lines of an :func:`inference_in_processes` report."""
    lines = [
        f"prediction through {report['workload']}'s network, {report['threads']} threads, each engine in its own "
        f"process, medians of {report['rounds']} rounds:",
        f"{'engine':<10} {'examples/s':>12} {'one example':>12} {'p90':>9}",
    ]
    for name, entry in report["engines"].items():
        lines.append(
            f"{name:<10} {entry['examples_per_second']:>12,.0f} {entry['one_example_us']:>9.1f} µs "
            f"{entry['one_example_p90_us']:>6.1f} µs"
        )
    return "\n".join(lines)


def first_run(rounds=3):
    """What a new user waits for, in fresh processes with an empty compile cache, ``rounds`` times.

    Each round times, in a scratch directory with a cache of its own, the
    whole ``jitprop train`` process (the built-in data set) with the cache
    empty, then again with it filled, and then a first W1 fit (2,000
    examples, ``import jitprop`` included) in another empty cache. The
    README's and docs' first-run figures are this report's
    (``docs/first_run.json``, checked by ``tests/test_docs_figures.py``).

    Returns
    -------
    dict
        ``train_cold_seconds``, ``train_warm_seconds`` and
        ``fit_cold_seconds``: one value per round; ``medians`` of each;
        ``machine``: :func:`jitprop._machine.describe`.
    """
    import tempfile

    report = {"train_cold_seconds": [], "train_warm_seconds": [], "fit_cold_seconds": []}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as scratch:
            env = {**os.environ, "NUMBA_CACHE_DIR": os.path.join(scratch, "cache")}
            for key in ("train_cold_seconds", "train_warm_seconds"):
                started = time.perf_counter()
                train = [sys.executable, "-m", "jitprop", "train"]
                subprocess.run(train, cwd=scratch, env=env, check=True, capture_output=True)
                report[key].append(round(time.perf_counter() - started, 2))
            seconds, _ = _fresh_process("jitprop", 2_000, {"NUMBA_CACHE_DIR": os.path.join(scratch, "fit-cache")})
            report["fit_cold_seconds"].append(round(seconds, 2))
    report["medians"] = {key: statistics.median(values) for key, values in report.items()}
    report["machine"] = describe()
    return report


def format_first_run(report):
    """The lines of a :func:`first_run` report."""
    medians = report["medians"]
    return "\n".join(
        [
            f"first jitprop train, empty compile cache: {_seconds(report['train_cold_seconds'])} s "
            f"(median {medians['train_cold_seconds']:.1f} s)",
            f"second jitprop train, cache filled: {_seconds(report['train_warm_seconds'])} s "
            f"(median {medians['train_warm_seconds']:.2f} s)",
            f"first W1 fit, empty compile cache: {_seconds(report['fit_cold_seconds'])} s "
            f"(median {medians['fit_cold_seconds']:.1f} s)",
            f"on {report['machine']['cpu']}, {report['machine']['cpus']} CPUs",
        ]
    )


def _seconds(values):
    return ", ".join(f"{value:.2f}" for value in values)


def run_benchmark(
    workloads=tuple(WORKLOADS), threads=None, quick=False, repeats=None, log=print, engines=ENGINES, processes=False
):
    """Run the whole benchmark with ``threads`` Numba threads (default: as set); return one JSON-compatible dict.

    ``engines`` are the engine classes to run (default all); with
    ``processes``, each engine trains in processes of its own
    (:func:`compare_in_processes`, ``repeats`` rounds) instead of in this one.
    """
    with thread_count(threads):
        return _run(workloads, quick, repeats or (3 if quick else 5), log, engines, processes)


def _run(workloads, quick, repeats, log, engines=ENGINES, processes=False):
    import numba

    threads = numba.get_num_threads()
    report = {"machine": None, "versions": None, "workloads": []}  # the first two filled in at the end
    for name in workloads:
        log(f"… {name}")
        if processes:
            result = compare_in_processes(WORKLOADS[name], threads, repeats, quick, engines, log)
        else:
            result = compare_workload(WORKLOADS[name], threads, repeats, quick, engines)
        report["workloads"].append(result)
    from .bench_limits import matmul_kernels, single_thread_limit, thread_scaling

    log("… matrix-product kernels")
    report["matmul"] = matmul_kernels()
    scaled = [name for name in ("W1", "W3") if name in workloads]
    if scaled:
        log("… thread scaling")
        report["thread_scaling"] = [thread_scaling(WORKLOADS[name], repeats, quick) for name in scaled]
    if "W3" in workloads and any(engine.name == "jitprop" for engine in engines):
        report["single_thread_limit"] = single_thread_limit(WORKLOADS["W3"], repeats, quick, log)
    if "W1" in workloads:
        log("… first fit and peak memory")
        report.update(first_fit_and_memory(quick))
    if "W6" in workloads and any(engine.name == "jitprop" for engine in engines):
        log("… first CNN fit")
        report.update(first_cnn_fit())
    # Described after the runs, once Numba's threads have started and its threading layer is known.
    machine = describe(packages=("jitprop", "numba", "numpy", "torch", "jax", "scikit-learn"))
    report["machine"] = {"cpu": machine["cpu"], "machine": machine["machine"], "threads": threads}
    report["versions"] = machine["versions"]
    report["threading_layer"] = machine["threading_layer"]
    return report


def format_report(report):
    """The report as readable text tables."""
    from .bench_limits import format_limits

    lines = [f"threads: {report['machine']['threads']} ({report['threading_layer']})", ""]
    header = f"{'workload':<8} {'engine':<13} {'examples/s':>12} {'GFLOP/s':>8} {'jitprop ×':>10}"
    lines += [header, "-" * len(header)]
    for result in report["workloads"]:
        for name, entry in result["engines"].items():
            ratio = f"{result['ratios'][name]:.2f}" if name in result["ratios"] else ""
            lines.append(
                f"{result['workload']:<8} {name:<13} {entry['examples_per_second']:>12,.0f} "
                f"{entry['gflops']:>8.1f} {ratio:>10}"
            )
        if "processes" in result:
            rounds = result["processes"]["rounds"]
            lines.append(f"{'':<8} note: each engine in its own process, {rounds} rounds (medians of rounds)")
        for note in result["notes"]:
            lines.append(f"{'':<8} note: {note}")
    lines += format_limits(report)
    if "first_fit_cold_seconds" in report:
        lines.append(
            f"first fit in a fresh process: {report['first_fit_cold_seconds']:.1f} s with a cold compile cache, "
            f"{report['first_fit_warm_seconds']:.2f} s with a warm one"
        )
        memory = ", ".join(f"{k} {v / 2**20:,.0f} MiB" for k, v in report["peak_memory_bytes"].items())
        lines.append(f"peak memory of a W1 fit ({report['w1_examples']:,} examples): {memory}")
    if "first_cnn_fit_cold_seconds" in report:
        lines.append(
            f"first W6 CNN fit in a fresh process: {report['first_cnn_fit_cold_seconds']:.1f} s with a cold "
            f"compile cache, {report['first_cnn_fit_warm_seconds']:.2f} s with a warm one"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------- command line
def register(commands, common):
    """Add the ``bench`` command to the ``jitprop`` parser."""
    parser = commands.add_parser(
        "bench", parents=[common], help="compare training speed with PyTorch, JAX, scikit-learn and NumPy"
    )
    parser.add_argument("--workloads", default=_ALL_WORKLOADS, help="comma-separated (default: all)")
    parser.add_argument(
        "--engines", default=",".join(e.name for e in ENGINES), help="comma-separated (default: all installed)"
    )
    parser.add_argument("--threads", type=int, default=None, help="threads for jitprop, PyTorch and JAX")
    parser.add_argument("--quick", action="store_true", help="smaller data sets and fewer epochs")
    parser.add_argument("--repeats", type=int, default=None, help="timed epochs per engine (default 5, quick 3)")
    parser.add_argument(
        "--processes",
        action="store_true",
        help=f"each engine in a fresh process per round ({PROCESS_EPOCHS} timed epochs each; --repeats: rounds)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument(
        "--first-run",
        type=int,
        metavar="ROUNDS",
        help="instead: time a first jitprop train and a first W1 fit with an empty compile cache, ROUNDS times",
    )
    parser.add_argument(
        "--inference",
        type=int,
        metavar="ROUNDS",
        help="instead: time prediction (10,000 examples, and one example) by jitprop, PyTorch and JAX, each in its "
        "own process, ROUNDS rounds, through W1's network (or the first of --workloads)",
    )
    parser.set_defaults(run=run)


def run(args):
    """Run ``jitprop bench`` with parsed ``args``; returns the exit status."""
    names = [name.strip() for name in args.workloads.split(",") if name.strip()]
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        raise ValueError(f"Unknown workload {unknown[0]!r}; expected some of {', '.join(WORKLOADS)}.")
    by_name = {engine.name: engine for engine in ENGINES}
    chosen = [name.strip() for name in args.engines.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in by_name]
    if unknown:
        raise ValueError(f"Unknown engine {unknown[0]!r}; expected some of {', '.join(by_name)}.")
    if args.first_run is not None:
        report = first_run(_checks.positive_int(args.first_run, "--first-run"))
        print(json.dumps(report, indent=1) if args.json else format_first_run(report))
        return 0
    if args.inference is not None:
        rounds = _checks.positive_int(args.inference, "--inference")
        import numba

        threads = args.threads or numba.config.NUMBA_NUM_THREADS
        log = (lambda message: print(message, file=sys.stderr)) if not args.json else (lambda message: None)
        workload = WORKLOADS["W1" if args.workloads == _ALL_WORKLOADS else names[0]]
        report = inference_in_processes(workload, threads, rounds, [n for n in chosen if n in INFERENCE_ENGINES], log)
        print(json.dumps(report, indent=1) if args.json else format_inference(report))
        return 0
    log = (lambda message: print(message, file=sys.stderr)) if not args.json else (lambda message: None)
    engines = tuple(by_name[name] for name in chosen)
    report = run_benchmark(
        names, args.threads, args.quick, args.repeats, log, engines=engines, processes=args.processes
    )
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0
