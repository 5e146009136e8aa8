"""Loss functions fused with the output layer: a kernel each, found by an integer code.

Every loss kernel takes ``(z, a, data, index, scale, delta)`` (see
:func:`cross_entropy_loss`); :func:`loss_kernel` finds a network's, which
its tile calls through an entry (see :func:`~.linking.entry`): only that
loss is compiled. Each loss returns the summed loss of a tile of examples
and writes the gradient of the *mean* loss with respect to the output
pre-activation ``z``
(``scale`` is 1/n, or 1/(n·k) for losses averaged over outputs too).
The stable fused forms are used where they exist:

* cross-entropy with softmax: ``−Σ t·log p = Σ t·(lse(z) − z)``, delta ``p·Σt − t``
  (cross-entropy always has a softmax output, ``a`` here);
* binary cross-entropy with sigmoid, from logits:
  ``max(z, 0) − t·z + log1p(exp(−|z|))``, delta ``σ(z) − t``;
* Poisson with an exponential output, from the logits:
  ``exp(z) − t·z + t·log t − t``, delta ``exp(z) − t``.

Names and formulas for users live in :mod:`jitprop.losses`.
"""

import math

import numpy as np
from numba import njit

from ._numba.options import AS_WRITTEN, INLINED_KERNEL, KERNEL
from .activations import SOFTMAX

MSE = 0
CROSS_ENTROPY = 1
BINARY_CROSS_ENTROPY = 2
POISSON = 3


@njit(**KERNEL)
def cross_entropy_loss(z, a, data, index, scale, delta):
    """Summed loss over the rows of a tile and the output delta: cross-entropy of a softmax output.

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
    use_labels = data.labels.shape[0] > 0
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
        # log-sum-exp of z, read off the softmax output: at the largest
        # z, p = 1 / Σ exp(z - max z), so lse = max z - log p there, and
        # that p is at least 1/k (it never underflows). No exponentials.
        guess = _argmax(zr)
        lse = np.float64(zr[guess]) - math.log(np.float64(ar[guess]))
        if use_labels:
            c = data.labels[index[r]]
            correct += guess == c
            row_loss += lse - zr[c]
            if want_delta:
                dr = delta[r]
                for j in range(k):
                    dr[j] = row_scale * ar[j]
                dr[c] = row_scale * (ar[c] - 1.0)
        else:
            tr = data.targets[index[r]]
            correct += guess == _argmax(tr)
            t_sum = 0.0
            for j in range(k):
                t_sum += tr[j]
                row_loss += tr[j] * (lse - zr[j])
            if want_delta:
                dr = delta[r]
                for j in range(k):
                    dr[j] = row_scale * (ar[j] * t_sum - tr[j])
        total += weight * row_loss
    return total, correct


@njit(**KERNEL)
def cross_entropy_per_step_loss(z, a, data, index, scale, delta):
    """:func:`cross_entropy_loss` of a softmax per step: a class label, or a row of targets, per step.

    A row holds the T steps of an example, k outputs each. ``data.labels``
    holds T labels per example (example ``e``'s step ``t`` at ``e·T + t``),
    or, without labels, ``data.targets`` T rows of k targets per example
    (shape (n·T, k), the same order). An example's loss is the mean over its
    steps, and so is its count of correct predictions (the fraction of its
    steps whose largest output is the label's, or the largest target's).
    One-hot targets give the bits of the equivalent labels.
    """
    rows, width = z.shape
    use_labels = data.labels.shape[0] > 0
    steps = (data.labels.shape[0] if use_labels else data.targets.shape[0]) // data.inputs.shape[0]
    k = width // steps
    weighted = data.weights.shape[0] > 0
    want_delta = delta.shape[0] > 0
    total = 0.0
    correct = 0.0
    for r in range(rows):
        weight = data.weights[index[r]] if weighted else 1.0
        step_scale = scale * weight / steps
        first = index[r] * steps
        row_loss = 0.0
        row_correct = 0.0
        for t in range(steps):
            zt = z[r, t * k : (t + 1) * k]
            at = a[r, t * k : (t + 1) * k]
            guess = _argmax(zt)
            lse = np.float64(zt[guess]) - math.log(np.float64(at[guess]))  # (see cross_entropy_loss)
            if use_labels:
                c = data.labels[first + t]
                row_correct += guess == c
                row_loss += lse - zt[c]
                if want_delta:
                    dt = delta[r, t * k : (t + 1) * k]
                    for j in range(k):
                        dt[j] = step_scale * at[j]
                    dt[c] = step_scale * (at[c] - 1.0)
            else:
                tt = data.targets[first + t]
                row_correct += guess == _argmax(tt)
                t_sum = 0.0
                step_loss = 0.0
                for j in range(k):
                    t_sum += tt[j]
                    step_loss += tt[j] * (lse - zt[j])
                row_loss += step_loss
                if want_delta:
                    dt = delta[r, t * k : (t + 1) * k]
                    for j in range(k):
                        dt[j] = step_scale * (at[j] * t_sum - tt[j])
        total += weight * row_loss / steps
        correct += row_correct / steps
    return total, correct


@njit(**KERNEL)
def binary_cross_entropy_loss(z, a, data, index, scale, delta):
    """:func:`cross_entropy_loss` for binary cross-entropy of a sigmoid output, from the logits."""
    rows, k = z.shape
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
        tr = data.targets[index[r]]
        for j in range(k):
            x = np.float64(zr[j])
            row_loss += max(x, 0.0) - tr[j] * x + math.log1p(math.exp(-abs(x)))
            correct += (x > 0.0) == (tr[j] > 0.5)
        if want_delta:
            dr = delta[r]
            for j in range(k):
                dr[j] = row_scale * (ar[j] - tr[j])
        total += weight * row_loss
    return total, correct


@njit(**KERNEL)
def poisson_loss(z, a, data, index, scale, delta):
    """:func:`cross_entropy_loss` for the Poisson deviance of an exponential output, from the logits.

    Per output ``exp(z) − t·z + t·log t − t`` (with ``0·log 0 = 0``): half
    the Poisson deviance of the mean ``exp(z)``, zero where it equals ``t``
    (scikit-learn's ``half_poisson`` loss). The delta is ``exp(z) − t``.
    """
    rows, k = z.shape
    weighted = data.weights.shape[0] > 0
    want_delta = delta.shape[0] > 0
    total = 0.0
    for r in range(rows):
        zr = z[r]
        ar = a[r]
        weight = data.weights[index[r]] if weighted else 1.0
        row_scale = scale * weight
        row_loss = 0.0
        tr = data.targets[index[r]]
        for j in range(k):
            x = np.float64(zr[j])
            t = np.float64(tr[j])
            row_loss += math.exp(x) - t * x
            if t > 0.0:  # the constant that makes the loss 0 at a perfect prediction
                row_loss += t * math.log(t) - t
        if want_delta:
            dr = delta[r]
            for j in range(k):
                dr[j] = row_scale * (ar[j] - tr[j])
        total += weight * row_loss
    return total, 0.0


@njit(**INLINED_KERNEL)
def mse_loss(z, a, data, index, scale, delta):
    """:func:`cross_entropy_loss` for the mean squared error.

    The delta is with respect to the output ``a``: the output layer multiplies
    it by its activation's derivative (the last of ``Kernels.derivative``).
    A tile calls it through its entry, compiled on its own; a tiny network's
    batch has it written in (see :mod:`.tiny`), where it must round as it
    does alone: the delta's product of three factors is a function compiled
    without fast-math flags (:func:`_squared_error_delta`), and the sums add
    one term at a time in both.
    """
    rows, k = z.shape
    weighted = data.weights.shape[0] > 0
    want_delta = delta.shape[0] > 0
    total = 0.0
    for r in range(rows):
        ar = a[r]
        weight = data.weights[index[r]] if weighted else 1.0
        row_scale = scale * weight
        row_loss = 0.0
        tr = data.targets[index[r]]
        for j in range(k):
            d = np.float64(ar[j]) - tr[j]
            row_loss += d * d
        if want_delta:
            dr = delta[r]
            for j in range(k):
                dr[j] = _squared_error_delta(ar[j], tr[j], row_scale)
        total += weight * row_loss
    return total, 0.0


@njit(**AS_WRITTEN)
def _squared_error_delta(a, t, scale):
    """``2·scale·(a − t)``: the mean squared error's delta at one output, rounded as written (see :func:`mse_loss`)."""
    return 2.0 * scale * (a - t)


@njit(**KERNEL)
def softmax_mse_loss(z, a, data, index, scale, delta):
    """:func:`mse_loss` of a softmax output, with the delta taken back through the softmax."""
    total, correct = mse_loss(z, a, data, index, scale, delta)
    if delta.shape[0] > 0:
        k = z.shape[1]
        for r in range(z.shape[0]):
            ar = a[r]
            dr = delta[r]
            # Jacobian-vector product of softmax: a ⊙ (δ − Σ δ·a).
            dot = 0.0
            for j in range(k):
                dot += dr[j] * ar[j]
            for j in range(k):
                dr[j] = ar[j] * (dr[j] - dot)
    return total, correct


#: Loss kernel of each loss code (for mse, on an output other than softmax).
LOSSES = {
    MSE: mse_loss,
    CROSS_ENTROPY: cross_entropy_loss,
    BINARY_CROSS_ENTROPY: binary_cross_entropy_loss,
    POISSON: poisson_loss,
}


def loss_kernel(loss, output_activation, per_step=False):
    """The loss kernel of loss code ``loss`` after an output layer of activation code ``output_activation``.

    ``per_step``: the output is a softmax per step (of a Dense layer over steps).
    """
    if loss == MSE and output_activation == SOFTMAX:
        return softmax_mse_loss
    if loss == CROSS_ENTROPY and per_step:
        return cross_entropy_per_step_loss
    return LOSSES[loss]


@njit(**INLINED_KERNEL)
def gives_mse_loss(layout):
    """Whether :func:`loss_kernel` gives a network of ``layout`` :func:`mse_loss`, asked in compiled code.

    The mean squared error of an output other than softmax: the loss a tiny
    network's batch writes in (see :mod:`.tiny`).
    """
    return layout.loss == MSE and layout.activations[layout.activations.shape[0] - 1] != SOFTMAX


@njit(**INLINED_KERNEL)
def _argmax(row):
    best = 0
    for j in range(1, row.shape[0]):
        if row[j] > row[best]:
            best = j
    return best
