"""A whole epoch of mini-batches and updates in one compiled call.

Small networks would otherwise pay the interpreter's overhead on every batch;
here the only work per batch outside the kernels is a few integer operations.
"""

import math

import numpy as np
from numba import njit

from .._numba_options import KERNEL
from .batch import GRADIENT, run_batch
from .dense import refresh_mirror
from .optimizers import apply_update


@njit(**KERNEL)
def train_epoch(layout, params, mirror, data, order, batch_size, ws, grad, optimizer, lrs, step, batch_stats):
    """Train on the examples ``order`` in batches of ``batch_size``.

    Parameters
    ----------
    optimizer : tuple (code, state, hyper)
        The update rule, as :func:`apply_update` takes it.
    lrs : float64 ndarray of shape (n_batches,)
        Learning rate of each batch.
    step : int
        Updates made before this epoch.
    batch_stats : float64 ndarray of shape (n_batches, 2)
        Receives the mean loss and the correct predictions of each batch.

    Returns
    -------
    int
        Batches completed. Fewer than ``n_batches`` means the loss or gradient
        of the next batch was not finite; that batch made no update, so the
        parameters are the last finite ones.
    """
    n = order.shape[0]
    n_batches = (n + batch_size - 1) // batch_size
    k = layout.sizes[layout.sizes.shape[0] - 1]
    code, state, hyper = optimizer
    for b in range(n_batches):
        index = order[b * batch_size : min(n, (b + 1) * batch_size)]
        rows = index.shape[0]
        scale = 1.0 / (rows * k) if layout.loss_over_outputs else 1.0 / rows
        # Plain (non-literal) mode and flag, so that this call and the Python
        # callers of run_batch share one compiled version.
        loss_sum, correct, grad_sq = run_batch(
            np.int64(GRADIENT), layout, params, mirror, data, index, scale, ws, grad, np.bool_(False)
        )
        batch_stats[b, 0] = loss_sum * scale
        batch_stats[b, 1] = correct
        if not (math.isfinite(batch_stats[b, 0]) and math.isfinite(grad_sq)):
            return b
        apply_update(code, params, grad, state, hyper, lrs[b], step + b + 1)
        refresh_mirror(layout, params, mirror)
    return n_batches
