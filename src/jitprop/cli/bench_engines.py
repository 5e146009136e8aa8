"""The engines ``jitprop bench`` compares, each training a workload one epoch at a time.

jitprop; PyTorch (CPU, a plain training loop); JAX (CPU; the step under
``jax.jit``, the whole epoch under ``jax.lax.scan``); scikit-learn's MLP and
a plain NumPy implementation (the last two for dense networks only); and for
W4 a hand-written loop for that one network (:class:`HandWrittenEngine`):
the limit a general engine is measured against. Each builds its network
from a :class:`~.bench_workloads.Workload` and times one epoch a call
(``epoch()``); the peers can also take jitprop's weights (``set_weights``),
which the tests use to check that they compute the same loss.

The peers are imported by their engines, when they run, and only the
``bench`` command imports the engines: ``import jitprop`` never imports
PyTorch, JAX or scikit-learn. Peers that are not installed are skipped with
a note (``pip install "jitprop[bench]"``).
"""

import os
import sys
import time

import numpy as np

from ..losses import LOSSES
from .bench_workloads import Conv, Dense, Flatten, MaxPool, Recurrent, _weight_layers


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
#: Each engine class by its name (``--engines`` and the engines' processes name them).
ENGINES_BY_NAME = {engine.name: engine for engine in ENGINES}
_PEER_MODULES = {"pytorch": "torch", "jax": "jax", "scikit-learn": "sklearn"}


def installed(name):
    """Whether the engine or library ``name`` can run here: a peer's module is installed (jitprop's always is)."""
    module = _PEER_MODULES.get(name)
    if module is None:
        return True
    import importlib.util

    return importlib.util.find_spec(module) is not None
