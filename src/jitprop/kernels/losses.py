"""Loss functions fused with the output layer, selected by an integer code.

Each loss returns the summed loss of a tile of examples and writes the
gradient of the *mean* loss with respect to the output pre-activation ``z``
(``scale`` is 1/n, or 1/(n·k) for losses averaged over outputs too).
The stable fused forms are used where they exist:

* cross-entropy with softmax: ``−Σ t·log p = Σ t·(lse(z) − z)``, delta ``p·Σt − t``
  (cross-entropy always has a softmax output, ``a`` here);
* binary cross-entropy with sigmoid, from logits:
  ``max(z, 0) − t·z + log1p(exp(−|z|))``, delta ``σ(z) − t``.

Names and formulas for users live in :mod:`jitprop.losses`.
"""

import math

import numpy as np
from numba import njit

from .._numba_options import INLINED_KERNEL, KERNEL
from .activations import SOFTMAX, multiply_by_derivative

MSE = 0
CROSS_ENTROPY = 1
BINARY_CROSS_ENTROPY = 2


@njit(**INLINED_KERNEL)
def output_loss(z, a, data, index, loss_code, act_code, alpha, scale, delta):
    """Summed loss over the rows of a tile and the output delta.

    Parameters
    ----------
    z, a : ndarray of shape (rows, k)
        Pre-activation and activation of the output layer for the tile.
    data : Data
        The whole data set: ``targets`` rows, or class ``labels`` for
        cross-entropy, and optional per-example ``weights``.
    index : int64 ndarray of shape (rows,)
        Which example of the data set each row of the tile is.
    scale : float
        Factor turning a (weighted) sum into the mean the loss is defined as.
    delta : ndarray of shape (rows, k) or (0, k)
        Receives ``scale · ∂loss/∂z``; pass an empty array to skip it.

    Returns
    -------
    loss_sum : float
        The loss summed over the tile, each example times its weight (not yet
        multiplied by ``scale``).
    correct : float
        Correct predictions: examples whose largest output is the target class
        (cross-entropy), outputs on the right side of 0.5 (binary
        cross-entropy); 0 for ``mse``.
    """
    rows, k = z.shape
    targets = data.targets
    labels = data.labels
    use_labels = labels.shape[0] > 0
    weighted = data.weights.shape[0] > 0
    want_delta = delta.shape[0] > 0
    total = 0.0
    correct = 0.0
    for r in range(rows):
        zr = z[r]
        ar = a[r]
        weight = data.weights[index[r]] if weighted else 1.0
        row_scale = scale * weight
        row_loss = 0.0
        if loss_code == CROSS_ENTROPY:
            # log-sum-exp of z, read off the softmax output: at the largest
            # z, p = 1 / Σ exp(z - max z), so lse = max z - log p there, and
            # that p is at least 1/k (it never underflows). No exponentials.
            guess = _argmax(zr)
            lse = np.float64(zr[guess]) - math.log(np.float64(ar[guess]))
            if use_labels:
                c = labels[index[r]]
                correct += guess == c
                row_loss += lse - zr[c]
                if want_delta:
                    dr = delta[r]
                    for j in range(k):
                        dr[j] = row_scale * ar[j]
                    dr[c] = row_scale * (ar[c] - 1.0)
            else:
                tr = targets[index[r]]
                correct += guess == _argmax(tr)
                t_sum = 0.0
                for j in range(k):
                    t_sum += tr[j]
                    row_loss += tr[j] * (lse - zr[j])
                if want_delta:
                    dr = delta[r]
                    for j in range(k):
                        dr[j] = row_scale * (ar[j] * t_sum - tr[j])
        elif loss_code == BINARY_CROSS_ENTROPY:
            tr = targets[index[r]]
            for j in range(k):
                x = np.float64(zr[j])
                row_loss += max(x, 0.0) - tr[j] * x + math.log1p(math.exp(-abs(x)))
                correct += (x > 0.0) == (tr[j] > 0.5)
            if want_delta:
                dr = delta[r]
                for j in range(k):
                    dr[j] = row_scale * (ar[j] - tr[j])
        else:  # MSE on any output activation
            tr = targets[index[r]]
            for j in range(k):
                d = np.float64(ar[j]) - tr[j]
                row_loss += d * d
            if want_delta:
                dr = delta[r]
                for j in range(k):
                    dr[j] = 2.0 * row_scale * (ar[j] - tr[j])
                if act_code == SOFTMAX:
                    # Jacobian-vector product of softmax: a ⊙ (δ − Σ δ·a).
                    dot = 0.0
                    for j in range(k):
                        dot += dr[j] * ar[j]
                    for j in range(k):
                        dr[j] = ar[j] * (dr[j] - dot)
        total += weight * row_loss
    if loss_code == MSE and want_delta and act_code != SOFTMAX:
        multiply_by_derivative(delta, z, a, act_code, alpha)
    return total, correct


@njit(**KERNEL)
def _argmax(row):
    best = 0
    for j in range(1, row.shape[0]):
        if row[j] > row[best]:
            best = j
    return best
