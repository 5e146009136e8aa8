"""Parameter updates over the flat parameter buffer, selected by an integer code.

Each rule is one loop over a contiguous chunk of parameters; chunks run in
parallel for large networks. Updates are element-wise, so the result never
depends on the chunking or the thread count. Hyper-parameters arrive in a
float64 array whose meaning each rule documents; per-parameter state (such as
momentum) in rows of a 2-D array. The user-facing classes live in
:mod:`jitprop.optimizers`.
"""

from numba import njit, prange

from .._numba_options import KERNEL, PARALLEL_KERNEL

SGD = 0

# Parameters updated per parallel iteration; smaller networks update serially.
_UPDATE_CHUNK = 16384


@njit(**PARALLEL_KERNEL)
def apply_update(code, params, grad, state, hyper, lr, step):
    """Update ``params`` in place from ``grad``.

    Parameters
    ----------
    code : int
        Which rule.
    state : ndarray of shape (n_slots, n_params)
        Per-parameter state of the rule, updated in place.
    hyper : float64 ndarray
        The rule's hyper-parameters (see each rule).
    lr : float
        Learning rate of this step.
    step : int
        1-based count of updates including this one.
    """
    n = params.shape[0]
    n_chunks = (n + _UPDATE_CHUNK - 1) // _UPDATE_CHUNK
    if n_chunks == 1:
        _update_chunk(code, params, grad, state, hyper, lr, step, 0, n)
    else:
        for c in prange(n_chunks):
            lo = c * _UPDATE_CHUNK
            _update_chunk(code, params, grad, state, hyper, lr, step, lo, min(n, lo + _UPDATE_CHUNK))


@njit(**KERNEL)
def _update_chunk(code, params, grad, state, hyper, lr, step, lo, hi):
    p = params[lo:hi]
    g = grad[lo:hi]
    if code == SGD:
        _sgd(p, g, state[0, lo:hi], hyper[0], hyper[1] != 0.0, hyper[2], lr)


@njit(**KERNEL)
def _sgd(p, g, velocity, momentum, nesterov, weight_decay, lr):
    """SGD with momentum, as in PyTorch (hyper = [momentum, nesterov, weight_decay]).

    ``g ← g + λp``; ``v ← μv + g``; ``p ← p − lr·(g + μv)`` with Nesterov,
    else ``p ← p − lr·v``. With ``μ = 0``: ``p ← p − lr·g``.
    """
    if momentum == 0.0:
        for i in range(p.shape[0]):
            p[i] -= lr * (g[i] + weight_decay * p[i])
        return
    for i in range(p.shape[0]):
        gi = g[i] + weight_decay * p[i]
        v = momentum * velocity[i] + gi
        velocity[i] = v
        p[i] -= lr * (gi + momentum * v) if nesterov else lr * v
