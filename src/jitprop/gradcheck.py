"""Checking analytic gradients against finite differences."""

import numpy as np

_EPS = np.finfo(np.float64).eps
# Halvings of the step tried when the stencil straddles a kink (ReLU at 0).
_MAX_HALVINGS = 12


def gradcheck(net, X, y, step=1e-3):
    """Largest relative difference between :meth:`Network.loss_and_grads` and finite differences.

    Both are computed on a float64 copy of ``net``. For every parameter the
    numerical derivative is the fourth-order central difference

        n(h) = (−L(p + 2h) + 8 L(p + h) − 8 L(p − h) + L(p − 2h)) / 12h,

    which rounding makes uncertain by about ``δ(h) = 1.5 ε max|L| / h``.
    Where ``n(h)`` and ``n(h/2)`` disagree by more than that, the stencil
    straddles a point where the loss is not smooth (a ReLU unit switching on),
    and ``h`` is halved until they agree. The result is

        max_i max(|a_i − n_i| − δ_i, 0) / max(|a_i|, |n_i|)

    i.e. the relative difference beyond what the finite differences can
    resolve (components that are zero up to rounding count as equal).

    Where the loss is not differentiable at the point itself — a ReLU
    pre-activation exactly 0, as when every unit of a layer is off for an
    example and the next layer's bias is still 0 — no finite difference
    applies and the result is large; check at a point where all
    pre-activations are non-zero.

    Parameters
    ----------
    net : Network
    X, y : array-like
        As for :meth:`Network.fit`.
    step : float, default 1e-3
        Initial ``h``.

    Returns
    -------
    float
    """
    ref = net.copy(dtype="float64")
    _, grads = ref.loss_and_grads(X, y)
    # Each layer's gradients put where its parameters are: element i is ∂loss/∂params[i].
    analytic = np.zeros(ref.n_params)
    for views, targets in zip(grads, ref._unflatten(analytic), strict=True):
        for view, target in zip(views, targets, strict=True):
            target[...] = view
    data = ref.prepare_data(X, y)
    params = ref.params

    def derivative(i, h):
        original = params[i]
        values = []
        for offset in (2 * h, h, -h, -2 * h):
            params[i] = original + offset
            values.append(ref.evaluate_data(data)["loss"])
        params[i] = original
        noise = 1.5 * _EPS * max(abs(v) for v in values) / h
        return (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * h), noise

    worst = 0.0
    for i in range(params.shape[0]):
        h = step
        coarse, coarse_noise = derivative(i, h)
        for _ in range(_MAX_HALVINGS):
            fine, noise = derivative(i, h / 2)
            if abs(fine - coarse) <= 2 * (noise + coarse_noise):
                break
            h, coarse, coarse_noise = h / 2, fine, noise
        excess = abs(analytic[i] - fine) - noise
        if excess > 0:
            worst = max(worst, excess / max(abs(analytic[i]), abs(fine)))
    return float(worst)
