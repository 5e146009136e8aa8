"""The network: layers over one contiguous parameter buffer."""

import numbers

import numpy as np

from . import _checks, workspace
from .activations import get_activation
from .initializers import initial_weights
from .kernels.batch import FORWARD, GRADIENT, LOSS, run_batch
from .kernels.dense import refresh_mirror
from .kernels.layout import Data, Layout
from .layers import Dense
from .losses import get_loss

_DTYPES = ("float32", "float64")

#: Elements of one per-row scratch buffer when data is processed in chunks
#: (predict, evaluate, loss_and_grads): bounds their memory whatever ``n``.
_CHUNK_ELEMENTS = 1 << 21


class Network:
    """A feed-forward network of dense layers trained by back-propagation.

    Parameters
    ----------
    layers : list of Dense
        The layers, input side first. Each layer belongs to one network.
    input_dim : int
        Number of input features.
    loss : {"mse", "cross_entropy", "binary_cross_entropy"}, default "mse"
        The loss minimised by :meth:`fit` (see :mod:`jitprop.losses`).
        ``cross_entropy`` needs a ``softmax`` output layer and
        ``binary_cross_entropy`` a ``sigmoid`` one.
    dtype : {"float32", "float64"}, default "float32"
        Precision of parameters and computation.
    seed : int, optional
        Seeds weight initialisation and shuffling: the same seed gives the
        same weights after training, bit for bit, whatever the thread count.

    Attributes
    ----------
    layers : list of Dense
        ``layers[i].W`` (fan_in, fan_out) and ``layers[i].b`` (fan_out,) are
        writable views into :attr:`params`.
    params : ndarray of shape (n_params,)
        Every parameter of the network in one buffer.
    optimizer : Optimizer or None
        The optimizer of the last :meth:`fit`.
    """

    def __init__(self, layers, input_dim, loss="mse", dtype="float32", seed=None):
        layers = list(layers)
        if not layers or not all(isinstance(layer, Dense) for layer in layers):
            raise TypeError(f"layers must be a non-empty list of Dense layers, got {layers!r}.")
        self.input_dim = _checks.positive_int(input_dim, "input_dim")
        self.loss = get_loss(loss).name
        self.dtype = _network_dtype(dtype)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise TypeError(f"seed must be an integer or None, got {seed!r}.")
        self.seed = seed
        _check_architecture(layers, get_loss(loss))
        self.layers = layers
        self.optimizer = None
        self.rng = np.random.default_rng(seed)

        sizes = np.array([self.input_dim] + [layer.units for layer in layers], dtype=np.int64)
        per_layer = sizes[1:] * (sizes[:-1] + 1)
        weight_offsets = np.concatenate([[0], np.cumsum(per_layer)[:-1]]).astype(np.int64)
        mirror_sizes = sizes[1:] * sizes[:-1]
        mirror_sizes[0] = 0  # the first layer needs no input gradient
        mirror_offsets = np.concatenate([[0], np.cumsum(mirror_sizes)[:-1]]).astype(np.int64)
        spec = get_loss(loss)
        self.layout = Layout(
            sizes=sizes,
            weight_offsets=weight_offsets,
            mirror_offsets=mirror_offsets,
            activations=np.array([get_activation(layer.activation).code for layer in layers], dtype=np.int64),
            alphas=np.array([layer.alpha for layer in layers], dtype=np.float64),
            loss=spec.code,
            loss_over_outputs=spec.over_outputs,
        )
        self.params = np.zeros(int(per_layer.sum()), dtype=self.dtype)
        self._mirror = np.zeros(int(mirror_sizes.sum()), dtype=self.dtype)
        for layer, offset, fan_in in zip(layers, weight_offsets, sizes[:-1]):
            layer._bind(self.params, int(offset), int(fan_in))
            layer.W[...] = initial_weights(layer.init, self.rng, int(fan_in), layer.units)
            layer.b[...] = 0

    # ------------------------------------------------------------------ sizes
    @property
    def n_params(self):
        """Number of parameters (weights and biases)."""
        return self.params.shape[0]

    @property
    def n_outputs(self):
        """Width of the output layer."""
        return self.layers[-1].units

    def __repr__(self):
        return (
            f"Network({self.layers!r}, input_dim={self.input_dim}, loss={self.loss!r}, "
            f"dtype={self.dtype.name!r}, seed={self.seed!r})"
        )

    def config(self):
        """The architecture as JSON-compatible values; :meth:`from_config` rebuilds it."""
        return {
            "layers": [layer.config() for layer in self.layers],
            "input_dim": self.input_dim,
            "loss": self.loss,
            "dtype": self.dtype.name,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        """A new network with the architecture :meth:`config` describes (fresh weights)."""
        return cls(
            [Dense(**layer) for layer in config["layers"]],
            config["input_dim"],
            loss=config["loss"],
            dtype=config["dtype"],
            seed=config["seed"],
        )

    def copy(self, dtype=None):
        """A new network with the same architecture and parameters.

        Parameters
        ----------
        dtype : {"float32", "float64"}, optional
            Precision of the copy; default that of this network.
        """
        config = self.config()
        if dtype is not None:
            config["dtype"] = dtype
        twin = Network.from_config(config)
        twin.params[...] = self.params
        twin.rng.bit_generator.state = self.rng.bit_generator.state
        return twin

    # -------------------------------------------------------------- inference
    def predict(self, X):
        """Network outputs for ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, input_dim)

        Returns
        -------
        ndarray of shape (n_samples, n_outputs)
            Activations of the output layer (probabilities for softmax and
            sigmoid outputs), in the network's dtype.
        """
        X = _checks.as_float_matrix(X, self.dtype, "X", self.input_dim)
        empty = np.zeros((0, self.n_outputs), dtype=self.dtype)
        data = Data(X, empty, np.zeros(0, dtype=np.int64))
        outputs = np.empty((X.shape[0], self.n_outputs), dtype=self.dtype)
        self._run(FORWARD, data, outputs=outputs)
        return outputs

    def evaluate(self, X, y):
        """Loss (and accuracy, for classification losses) on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, input_dim)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            As for :meth:`fit`.

        Returns
        -------
        dict
            ``{"loss": float}``, plus ``"accuracy"`` for ``cross_entropy``
            (fraction of examples whose largest output is the target class)
            and ``binary_cross_entropy`` (fraction of outputs on the right
            side of 0.5).
        """
        data = self._data(X, y)
        n = data.inputs.shape[0]
        loss_sum, correct = self._run(LOSS, data)
        return self._metrics(loss_sum * self._scale(n), correct, n)

    def loss_and_grads(self, X, y):
        """The loss on ``(X, y)`` and its exact gradient.

        Returns
        -------
        loss : float
        grads : list of (dW, db)
            One pair per layer, with the shapes of ``(W, b)``.
        """
        data = self._data(X, y)
        grad = np.zeros(self.n_params, dtype=self.dtype)
        loss_sum, _ = self._run(GRADIENT, data, grad=grad)
        return loss_sum * self._scale(data.inputs.shape[0]), self._unflatten(grad)

    # --------------------------------------------------------------- training
    def fit(self, X, y, epochs=1, batch_size=32, optimizer=None, shuffle=True, verbose=0):
        """Train by mini-batch back-propagation.

        Parameters
        ----------
        X : array-like of shape (n_samples, input_dim)
        y : array-like
            ``cross_entropy``: class indices of shape (n_samples,) or rows of
            probabilities (n_samples, n_outputs). ``binary_cross_entropy``:
            values in [0, 1] of shape (n_samples,) or (n_samples, n_outputs).
            ``mse``: shape (n_samples,) for one output or (n_samples, n_outputs).
        epochs : int, default 1
        batch_size : int, default 32
            Examples per update; the last batch of an epoch may be smaller.
        optimizer : Optimizer, optional
            Default ``SGD(lr=0.01)``. Its state carries over between calls.
        shuffle : bool, default True
            Visit the examples in a new random order each epoch.
        verbose : int, default 0
            1 prints one line per epoch.

        Returns
        -------
        History
            Per-epoch loss (and accuracy for classification losses).
        """
        from .training import train

        return train(self, X, y, epochs, batch_size, optimizer, shuffle, verbose)

    # ---------------------------------------------------------------- helpers
    def _data(self, X, y):
        X = _checks.as_float_matrix(X, self.dtype, "X", self.input_dim)
        targets, labels = _checks.prepare_targets(y, get_loss(self.loss), self.n_outputs, X.shape[0], self.dtype)
        return Data(X, targets, labels)

    def _scale(self, n):
        """Factor turning a loss summed over ``n`` examples into its mean."""
        return 1.0 / (n * self.n_outputs) if self.layout.loss_over_outputs else 1.0 / n

    def _metrics(self, mean_loss, correct, n):
        """``{"loss": ..., "accuracy": ...}`` from a mean loss and a count of correct predictions."""
        metrics = {"loss": float(mean_loss)}
        spec = get_loss(self.loss)
        if spec.classification:
            counted = n * self.n_outputs if spec.over_outputs else n
            metrics["accuracy"] = float(correct / counted)
        return metrics

    def _run(self, mode, data, grad=None, outputs=None):
        """Run ``data`` through :func:`run_batch` in chunks of bounded memory.

        Chunk boundaries depend on ``n`` and the network only; gradients of
        the chunks are summed in order into ``grad``.
        """
        n = data.inputs.shape[0]
        capacity = max(1, min(n, _CHUNK_ELEMENTS // int(self.layout.sizes.sum())))
        ws = workspace.allocate(self.layout, capacity, self.n_params, self.dtype, mode == GRADIENT)
        scale = self._scale(n)
        if grad is None:
            grad = np.zeros(0, dtype=self.dtype)
        if mode == GRADIENT:
            refresh_mirror(self.layout, self.params, self._mirror)
        last = len(self.layers)
        k = self.n_outputs
        start = ws.row_offsets[last]
        loss_sum = correct = 0.0
        for lo in range(0, n, capacity):
            hi = min(n, lo + capacity)
            index = np.arange(lo, hi, dtype=np.int64)
            chunk_loss, chunk_correct, _ = run_batch(
                mode, self.layout, self.params, self._mirror, data, index, scale, ws, grad, lo > 0
            )
            loss_sum += chunk_loss
            correct += chunk_correct
            if outputs is not None:
                outputs[lo:hi] = ws.activations[start : start + (hi - lo) * k].reshape(hi - lo, k)
        return loss_sum, correct

    def _unflatten(self, flat):
        """Per-layer ``(dW, db)`` views of a flat gradient, shaped like ``(W, b)``."""
        pairs = []
        for layer, offset, fan_in in zip(self.layers, self.layout.weight_offsets, self.layout.sizes[:-1]):
            size = layer.units * int(fan_in)
            pairs.append(
                (
                    flat[offset : offset + size].reshape(layer.units, int(fan_in)).T,
                    flat[offset + size : offset + size + layer.units],
                )
            )
        return pairs


def _network_dtype(dtype):
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.name not in _DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}.")
    return resolved


def _check_architecture(layers, loss):
    for i, layer in enumerate(layers[:-1]):
        if layer.activation == "softmax":
            raise ValueError(f"softmax is only allowed on the output layer, but layer {i} uses it.")
    output = layers[-1].activation
    if loss.output_activation is not None and output != loss.output_activation:
        raise ValueError(
            f"loss={loss.name!r} needs a {loss.output_activation!r} output layer, "
            f"but the last layer uses {output!r}."
        )
