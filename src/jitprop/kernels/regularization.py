"""Weight penalties and gradient clipping, applied to a batch's whole gradient."""

import math

import numpy as np
from numba import njit

from ._numba.options import KERNEL
from .layout import weights


@njit(**KERNEL)
def add_l2_penalty(layout, params, grad):
    """Add ``2·l2·W`` to the weight gradients; return the penalty ``Σ l2·ΣW²``.

    Biases are not penalised. Pass an empty ``grad`` for the penalty alone.
    """
    penalty = 0.0
    for layer in range(layout.l2.shape[0]):
        strength = layout.l2[layer]
        if strength == 0.0:
            continue
        w = weights(layout, params, layer).ravel()
        squares = 0.0
        for i in range(w.shape[0]):
            squares += np.float64(w[i]) * np.float64(w[i])
        penalty += strength * squares
        if grad.shape[0] > 0:
            start = layout.weight_offsets[layer]
            g = grad[start : start + w.shape[0]]
            for i in range(w.shape[0]):
                g[i] += 2.0 * strength * w[i]
    return penalty


@njit(**KERNEL)
def clip_by_global_norm(grad, max_norm):
    """Scale ``grad`` down so that its Euclidean norm is at most ``max_norm``; return the norm before."""
    squares = 0.0
    for i in range(grad.shape[0]):
        squares += np.float64(grad[i]) * np.float64(grad[i])
    norm = math.sqrt(squares)
    if norm > max_norm:
        factor = max_norm / norm
        for i in range(grad.shape[0]):
            grad[i] = grad[i] * factor
    return norm
