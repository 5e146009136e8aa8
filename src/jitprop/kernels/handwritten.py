"""A two-layer sigmoid network trained by SGD, written out by hand: the limit ``jitprop bench`` shows beside W4.

The seed's worked example (the 2-2-2 network of W4) trained the way one
would write it for that one network: forward pass, backward pass and update
of a mean squared error loss spelled out as loops over the few units, no
buffers of layers, no tiles, no entries, no checks. jitprop's general engine
does the same arithmetic; the gap between the two is what generality costs
on a tiny network (``jitprop bench``'s ``hand-written`` engine). Not used
for training by the library.
"""

import math

import numpy as np
from numba import njit

from ._numba.options import KERNEL


@njit(**KERNEL)
def sigmoid_mse_epoch(X, Y, order, W1, b1, W2, b2, lr, batch_size):
    """One epoch of mini-batch SGD on ``mean((σ(σ(x W1 + b1) W2 + b2) − y)²)``, in place.

    Parameters
    ----------
    X : ndarray of shape (n, inputs)
    Y : ndarray of shape (n, outputs)
    order : int64 ndarray of shape (n,)
        The examples in the order they are visited (shuffled by the caller).
    W1, b1, W2, b2 : ndarray
        ``W1`` (inputs, hidden) and ``W2`` (hidden, outputs), updated in place.
    lr : float
    batch_size : int
        Examples per update; the loss is the mean over a batch's examples and outputs.
    """
    n_in, hidden = W1.shape
    outputs = W2.shape[1]
    h = np.empty(hidden, dtype=X.dtype)
    dh = np.empty(hidden, dtype=X.dtype)
    gW1 = np.zeros_like(W1)
    gb1 = np.zeros_like(b1)
    gW2 = np.zeros_like(W2)
    gb2 = np.zeros_like(b2)
    n = order.shape[0]
    for start in range(0, n, batch_size):
        end = min(n, start + batch_size)
        scale = 2.0 / ((end - start) * outputs)
        for i in range(start, end):
            x = X[order[i]]
            y = Y[order[i]]
            for j in range(hidden):
                z = b1[j]
                for k in range(n_in):
                    z += x[k] * W1[k, j]
                h[j] = 1.0 / (1.0 + math.exp(-z))
                dh[j] = 0.0
            for o in range(outputs):
                z = b2[o]
                for j in range(hidden):
                    z += h[j] * W2[j, o]
                a = 1.0 / (1.0 + math.exp(-z))
                delta = scale * (a - y[o]) * a * (1.0 - a)
                gb2[o] += delta
                for j in range(hidden):
                    gW2[j, o] += h[j] * delta
                    dh[j] += W2[j, o] * delta
            for j in range(hidden):
                delta = dh[j] * h[j] * (1.0 - h[j])
                gb1[j] += delta
                for k in range(n_in):
                    gW1[k, j] += x[k] * delta
        for j in range(hidden):
            b1[j] -= lr * gb1[j]
            gb1[j] = 0.0
            for k in range(n_in):
                W1[k, j] -= lr * gW1[k, j]
                gW1[k, j] = 0.0
        for o in range(outputs):
            b2[o] -= lr * gb2[o]
            gb2[o] = 0.0
            for j in range(hidden):
                W2[j, o] -= lr * gW2[j, o]
                gW2[j, o] = 0.0
