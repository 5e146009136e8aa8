"""Compiling the kernels ahead of time."""

import time

import numpy as np


def warmup(dtypes=("float32", "float64"), network=None, batch_size=32, optimizer=None, clip_norm=None):
    """Compile (or load from the on-disk cache) the kernels training uses.

    Kernels are compiled once per process, for the kinds of layers,
    activations, loss and update rule a network uses, on first use; the
    compiled code is cached on disk, so later processes only load it. Call
    this at start-up to keep that cost out of the first ``fit``.

    Parameters
    ----------
    dtypes : iterable of {"float32", "float64"}
        Without ``network``: compile for a small ReLU network with a softmax
        output and SGD in each of these precisions.
    network : Network, optional
        Compile exactly what ``network.fit(X, y, batch_size=batch_size,
        optimizer=optimizer, clip_norm=clip_norm)`` and its ``evaluate`` and
        ``predict`` use (on a copy: ``network`` is not changed).
    batch_size : int
    optimizer : Optimizer, optional
        Its kind counts, not its state; default SGD.
    clip_norm : float, optional

    Returns
    -------
    float
        Seconds spent.
    """
    from .layers import Dense
    from .network import Network
    from .optimizers import SGD, optimizer_from_config

    started = time.perf_counter()
    if network is None:
        for dtype in dtypes:
            net = Network([Dense(256, "relu"), Dense(3, "softmax")], input_dim=4, loss="cross_entropy", dtype=dtype)
            warmup(network=net, batch_size=batch_size)
        return time.perf_counter() - started
    net = network.copy()
    optimizer = SGD() if optimizer is None else optimizer_from_config(type(optimizer).__name__, optimizer.config())
    rows = max(1, int(batch_size))
    X = np.zeros((rows, *net.input_shape), dtype=net.dtype)
    if net._softmax_per_step:
        y = np.zeros((rows, net.output_shape[0]), dtype=np.int64)  # a class label per step
    elif net.loss == "cross_entropy":
        y = np.zeros(rows, dtype=np.int64)
    else:
        y = np.zeros((rows, *net.output_shape))
    # (With validation data, a fit compiles what evaluation needs along with its own kernels.)
    fit = dict(epochs=1, batch_size=rows, optimizer=optimizer, clip_norm=clip_norm, verbose=0)
    net.fit(X, y, validation_data=(X, y), **fit)
    net.evaluate(X, y)
    net.predict(X)
    return time.perf_counter() - started
