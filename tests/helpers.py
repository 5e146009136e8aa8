"""Helpers shared by the test modules: networks, data, targets, tolerances, running the command.

Fixtures live in conftest.py; this module holds plain functions and constants.
"""

import csv
import subprocess
import sys

import numpy as np

import jitprop as jp
import reference as ref
from jitprop.activations import ACTIVATIONS
from jitprop.losses import LOSSES

#: The activations, from jitprop's registry: every one is tested against tests/reference.py.
ALL_ACTIVATIONS = list(ACTIVATIONS)
HIDDEN_ACTIVATIONS = [name for name, activation in ACTIVATIONS.items() if activation.hidden]

#: (loss, output activation) pairs a network may use: cross-entropy needs softmax,
#: binary cross-entropy sigmoid, poisson exp; mse takes any output activation.
LOSS_OUTPUTS = [(loss.name, loss.output_activation) for loss in LOSSES.values() if loss.output_activation] + [
    (loss.name, name) for loss in LOSSES.values() if not loss.output_activation for name in ALL_ACTIVATIONS
]

#: The dtypes a network computes in.
DTYPES = ["float32", "float64"]

#: rtol, atol for comparing a network of each dtype with the float64 reference.
TOLERANCE = {"float32": (1e-4, 1e-5), "float64": (1e-10, 1e-12)}


def compiled_llvm(kernel, *args):
    """The LLVM IR of the Numba ``kernel`` as compiled for ``args`` (it runs once on them)."""
    kernel(*args)
    return kernel.inspect_llvm(kernel.signatures[0])


def dot_tolerance(dtype, k=1):
    """rtol/atol for a dot product of length k of O(1) numbers in ``dtype``."""
    eps = np.finfo(dtype).eps
    return dict(rtol=8 * eps, atol=8 * eps * np.sqrt(k) * 4)


def make_targets(rng, loss, n, k, labels=False):
    """Random targets of shape (n, k) for ``loss`` (int labels of shape (n,) if ``labels``)."""
    if loss == "cross_entropy":
        classes = rng.integers(0, k, size=n)
        return classes if labels else np.eye(k)[classes]
    if loss == "binary_cross_entropy":
        return (rng.random((n, k)) > 0.5).astype(np.float64)
    if loss == "poisson":
        return rng.poisson(1.5, size=(n, k)).astype(np.float64)  # counts, zeros among them
    return rng.normal(size=(n, k))


def make_blobs(rng, n=240, features=6, classes=3):
    """Separable classes: ``n`` examples of ``features`` features, each class a Gaussian blob around its own centre."""
    centres = rng.normal(scale=3.0, size=(classes, features))
    labels = rng.integers(0, classes, n)
    return centres[labels] + rng.normal(size=(n, features)), labels


def make_classifier(features=6, classes=3, hidden=16, seed=0, **kwargs):
    """A Network: ``features`` inputs, ``hidden`` ReLU units, ``classes`` softmax outputs, cross-entropy."""
    layers = [jp.Dense(hidden, "relu"), jp.Dense(classes, "softmax")]
    return jp.Network(layers, input_dim=features, loss="cross_entropy", seed=seed, **kwargs)


def make_network(sizes, activations, loss, dtype, seed=0, alphas=None, init=None):
    """A Network of Dense layers of widths ``sizes[1:]`` on ``sizes[0]`` inputs."""
    alphas = alphas or [None] * len(activations)
    layers = [
        jp.Dense(units, activation=name, alpha=alpha, init=init)
        for units, name, alpha in zip(sizes[1:], activations, alphas)
    ]
    return jp.Network(layers, input_dim=sizes[0], loss=loss, dtype=dtype, seed=seed)


def dense_net(sizes, hidden="relu", output="softmax", loss="cross_entropy", dtype="float32"):
    """A Network with ``hidden`` layers of widths ``sizes[1:-1]`` and an ``output`` layer, on ``sizes[0]`` inputs."""
    layers = [jp.Dense(width, hidden) for width in sizes[1:-1]] + [jp.Dense(sizes[-1], output)]
    return jp.Network(layers, input_dim=sizes[0], loss=loss, dtype=dtype, seed=0)


def params_of(net):
    """The network's weights as the reference takes them: a list of float64 (W, b) copies."""
    return [(np.array(layer.W, dtype=np.float64), np.array(layer.b, dtype=np.float64)) for layer in net.layers]


def alphas_of(net):
    return [layer.alpha for layer in net.layers]


def activations_of(net):
    return [layer.activation for layer in net.layers]


def randomize(net, rng, scale=0.5):
    """Overwrite every weight and bias with N(0, scale²) values (biases non-zero, so they matter)."""
    for layer in net.layers:
        layer.W[...] = rng.normal(scale=scale, size=layer.W.shape)
        layer.b[...] = rng.normal(scale=scale, size=layer.b.shape)


#: Activations whose derivative jumps at z = 0 (elu only when alpha != 1).
KINKED = {"relu", "leaky_relu", "elu"}


def away_from_kinks(net, X, rng, margin=1e-3):
    """``X`` with rows redrawn until no kinked unit has a pre-activation within ``margin`` of 0.

    Near such a point a float32 network and the float64 reference may take the
    derivative from different sides; tests compare them away from it.
    """
    X = np.array(X, dtype=np.float64)
    kinked = [i for i, layer in enumerate(net.layers) if layer.activation in KINKED]
    for _ in range(100):
        seen = np.asarray(X, dtype=net.dtype).astype(np.float64)
        zs, _ = ref.forward(params_of(net), activations_of(net), seen, alphas_of(net))
        near = np.zeros(X.shape[0], dtype=bool)
        for i in kinked:
            near |= (np.abs(zs[i]) < margin).any(axis=1)
        if not near.any():
            return X
        X[near] = rng.normal(size=(int(near.sum()), X.shape[1]))
    raise RuntimeError("could not draw examples away from the kinks")


# ------------------------------------------------------------ command line
#: The digits' labels as text, for data files whose target column holds words.
DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def run_jitprop(*args, cwd, timeout=120):
    """Run ``python -m jitprop ARGS`` in ``cwd``; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "jitprop", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_csv(path, header, rows):
    """Write a CSV file with a header row; returns ``path``."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# ------------------------------------------------------- convolution and pooling
def reference_layers(net):
    """The layers of ``net`` (but Dropout) as :func:`reference.sequential_loss_and_grads` takes them.

    One spatial axis becomes two, the first of size 1: examples (T, C) are
    (1, T, C), a window k is (1, k).
    """
    layers = []
    for layer in net.layers:
        if isinstance(layer, (jp.Conv1D, jp.Conv2D)):
            one = isinstance(layer, jp.Conv1D)
            W = np.array(layer.W, dtype=np.float64)
            padding = layer.padding if isinstance(layer.padding, str) else list(layer.padding)
            padding = [padding, padding] if isinstance(padding, str) else padding
            layers.append(
                {
                    "kind": "conv",
                    "W": W[None] if one else W,
                    "b": np.array(layer.b, dtype=np.float64),
                    "strides": (1, *layer.strides) if one else layer.strides,
                    "padding": [0, padding[-1]] if one else padding,
                    "activation": layer.activation,
                    "alpha": layer.alpha,
                }
            )
        elif isinstance(layer, (jp.MaxPool1D, jp.MaxPool2D, jp.AvgPool1D, jp.AvgPool2D)):
            one = isinstance(layer, (jp.MaxPool1D, jp.AvgPool1D))
            layers.append(
                {
                    "kind": "max" if isinstance(layer, (jp.MaxPool1D, jp.MaxPool2D)) else "avg",
                    "pool": (1, *layer.pool_size) if one else layer.pool_size,
                    "strides": (1, *layer.strides) if one else layer.strides,
                }
            )
        elif isinstance(layer, (jp.GlobalAvgPool1D, jp.GlobalAvgPool2D)):
            layers.append({"kind": "global_avg"})
        elif isinstance(layer, jp.Flatten):
            layers.append({"kind": "flatten"})
        elif isinstance(layer, jp.Dense):
            W, b = np.array(layer.W, dtype=np.float64), np.array(layer.b, dtype=np.float64)
            layers.append({"kind": "dense", "W": W, "b": b, "activation": layer.activation, "alpha": layer.alpha})
    return layers


def reference_inputs(net, X):
    """``X`` as the reference reads it: rounded to the network's dtype, float64, with H = 1 for one spatial axis."""
    X = np.asarray(X, dtype=net.dtype).astype(np.float64)
    return X[:, None] if len(net.input_shape) == 2 else X


def reference_grads(net, grads):
    """The reference's ``[(dW, db)]`` in the shapes of the network's (one spatial axis: W without its H axis)."""
    shapes = [tuple(view.shape for view in views) for views in net._unflatten(net.params)]
    return [(dW.reshape(w_shape), db.reshape(b_shape)) for (dW, db), (w_shape, b_shape) in zip(grads, shapes)]


def cnn_data(rng, shape, n, outputs):
    """``n`` examples of ``shape`` (N(0, 1)) and mse targets of ``outputs`` values."""
    return rng.normal(size=(n, *shape)), rng.normal(size=(n, outputs))
