"""Checking analytic gradients against finite differences."""

import numpy as np

from .kernels.batch import LOSS


def gradcheck(net, X, y, step=1e-4, floor=1e-8):
    """Largest relative difference between :meth:`Network.loss_and_grads` and finite differences.

    Both are computed on a float64 copy of ``net``. The numerical gradient
    uses the fourth-order central difference

        g ≈ (−L(p + 2h) + 8 L(p + h) − 8 L(p − h) + L(p − 2h)) / 12h

    for every parameter ``p``, and the result is

        max_i |a_i − n_i| / max(|a_i|, |n_i|, floor · max_j |n_j|)

    where the floor keeps components that are zero up to rounding from
    dominating.

    Parameters
    ----------
    net : Network
    X, y : array-like
        As for :meth:`Network.fit`.
    step : float, default 1e-4
        ``h``.
    floor : float, default 1e-8
        Relative to the largest gradient component.

    Returns
    -------
    float
    """
    ref = net.copy(dtype="float64")
    _, grads = ref.loss_and_grads(X, y)
    analytic = np.concatenate([np.concatenate([dW.T.ravel(), db]) for dW, db in grads])
    data = ref._data(X, y)
    scale = ref._scale(data.inputs.shape[0])

    def loss():
        return ref._run(LOSS, data)[0] * scale

    numeric = np.empty_like(analytic)
    params = ref.params
    for i in range(params.shape[0]):
        original = params[i]
        values = []
        for offset in (2 * step, step, -step, -2 * step):
            params[i] = original + offset
            values.append(loss())
        params[i] = original
        numeric[i] = (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * step)
    denominator = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor * np.abs(numeric).max())
    denominator[denominator == 0] = 1.0
    return float(np.max(np.abs(analytic - numeric) / denominator))
