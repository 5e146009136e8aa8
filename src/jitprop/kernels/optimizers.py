"""Parameter updates over the flat parameter buffer: a kernel each, found by an integer code.

Each rule is one kernel that updates a range of parameters,
``rule(params, grad, state, hyper, lr, step, lo, hi)`` (see :func:`adam_update`),
which :mod:`.step` runs per chunk of parameters (in parallel for large
networks), between summing the chunk's gradient and checking it. :data:`RULES`
maps the codes to them; training passes its rule as an entry
(:func:`rule_entry`), so only that rule is compiled. Updates are
element-wise, so the result never depends on the chunking or the thread
count. Hyper-parameters arrive in a
float64 array whose meaning each rule documents; per-parameter state (such as
momentum) in rows of a 2-D array of the parameters' dtype. Arithmetic is done
on float64 scalars and stored in the parameters' dtype, so one source serves
float32 and float64 networks. The user-facing classes live in
:mod:`jitprop.optimizers`.

=========  ====  ==============================================  =========================
rule       code  hyper                                           state rows
=========  ====  ==============================================  =========================
SGD        0     momentum, nesterov, weight_decay                velocity
ADAM       1     beta_1, beta_2, epsilon, weight_decay, amsgrad  m, v, [max v]
ADAMW      2     as ADAM (weight decay decoupled)                as ADAM
RMSPROP    3     rho, epsilon, momentum, centered, weight_decay  E[g²], [E[g]], [buffer]
ADAGRAD    4     epsilon, weight_decay, lr_decay                 sum of g²
=========  ====  ==============================================  =========================

Flags (nesterov, amsgrad, centered) are 0.0 or 1.0. Rows in brackets exist
only when their option is on, in the order listed.
"""

import math

import numpy as np
from numba import njit

from ._numba.options import INLINED_KERNEL, KERNEL
from ._numba.linking import entry
from .finite import finite_row

SGD = 0
ADAM = 1
ADAMW = 2
RMSPROP = 3
ADAGRAD = 4


@njit(**KERNEL)
def sgd_update(params, grad, state, hyper, lr, step, lo, hi):
    """Update ``params[lo:hi]`` in place from ``grad[lo:hi]`` by SGD; every rule takes these arguments.

    Parameters
    ----------
    params, grad : ndarray of shape (n_params,)
        The flat parameter buffer and its gradient, of one dtype.
    state : ndarray of shape (n_slots, n_params)
        Per-parameter state of the rule, updated in place.
    hyper : float64 ndarray
        The rule's hyper-parameters (see the table in the module docstring).
    lr : float
        Learning rate of this step.
    step : int
        1-based count of updates including this one.
    lo, hi : int
        The range of parameters updated.

    Returns
    -------
    bool
        Whether the state it keeps for this range is finite.
    """
    return sgd_step(params, grad, state, hyper, lr, step, lo, hi)


@njit(**INLINED_KERNEL)
def sgd_step(params, grad, state, hyper, lr, step, lo, hi):
    """:func:`sgd_update`, written into its caller (a tiny network's epoch, see :func:`~.step.step_range`)."""
    _sgd(params[lo:hi], grad[lo:hi], state[0, lo:hi], hyper[0], hyper[1] != 0.0, hyper[2], lr)
    # Plain SGD keeps no state (its row stays as it was).
    return hyper[0] == 0.0 or finite_row(state[0, lo:hi])


@njit(**KERNEL)
def adam_update(params, grad, state, hyper, lr, step, lo, hi):
    """:func:`sgd_update` for Adam."""
    # Without amsgrad there is no third row; row 1 stands in and is never written through it.
    v_max = state[2 if hyper[4] != 0.0 else 1, lo:hi]
    _adam(params[lo:hi], grad[lo:hi], state[0, lo:hi], state[1, lo:hi], v_max, hyper, False, lr, step)
    return _state_finite(state, lo, hi)


@njit(**KERNEL)
def adamw_update(params, grad, state, hyper, lr, step, lo, hi):
    """:func:`sgd_update` for AdamW (Adam with decoupled weight decay)."""
    v_max = state[2 if hyper[4] != 0.0 else 1, lo:hi]
    _adam(params[lo:hi], grad[lo:hi], state[0, lo:hi], state[1, lo:hi], v_max, hyper, True, lr, step)
    return _state_finite(state, lo, hi)


@njit(**KERNEL)
def rmsprop_update(params, grad, state, hyper, lr, step, lo, hi):
    """:func:`sgd_update` for RMSprop."""
    # Optional rows follow E[g²] in order; an absent row's stand-in is never written.
    centered = hyper[3] != 0.0
    g_mean = state[1 if centered else 0, lo:hi]
    buffer = state[(2 if centered else 1) if hyper[2] != 0.0 else 0, lo:hi]
    _rmsprop(params[lo:hi], grad[lo:hi], state[0, lo:hi], g_mean, buffer, hyper, lr)
    return _state_finite(state, lo, hi)


@njit(**KERNEL)
def adagrad_update(params, grad, state, hyper, lr, step, lo, hi):
    """:func:`sgd_update` for Adagrad."""
    _adagrad(params[lo:hi], grad[lo:hi], state[0, lo:hi], hyper, lr, step)
    return _state_finite(state, lo, hi)


#: Update kernel of each rule code.
RULES = {SGD: sgd_update, ADAM: adam_update, ADAMW: adamw_update, RMSPROP: rmsprop_update, ADAGRAD: adagrad_update}


def rule_entry(code, params, grad, state, hyper):
    """The entry (see :func:`~.linking.entry`) of rule ``code`` for these buffers, as :mod:`.step` calls it."""
    int64 = np.int64(0)
    return entry(RULES[code], params, grad, state, hyper, 0.0, int64, int64, int64)


@njit(**INLINED_KERNEL)
def _state_finite(state, lo, hi):
    finite = True
    for row in range(state.shape[0]):
        finite = finite and finite_row(state[row, lo:hi])
    return finite


@njit(**INLINED_KERNEL)
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


@njit(**INLINED_KERNEL)
def _adam(p, g, m, v, v_max, hyper, decoupled, lr, step):
    """Adam / AdamW, as in PyTorch (hyper = [β₁, β₂, ε, λ, amsgrad]).

    Adam: ``g ← g + λp``; AdamW (``decoupled``): ``p ← p − lr·λ·p``. Then
    ``m ← β₁m + (1−β₁)g``; ``v ← β₂v + (1−β₂)g²``; with amsgrad
    ``v_max ← max(v_max, v)`` and ``v`` below reads ``v_max``;
    ``p ← p − lr/(1−β₁ᵗ) · m / (√v / √(1−β₂ᵗ) + ε)``.
    """
    beta_1, beta_2, epsilon, weight_decay, amsgrad = hyper[0], hyper[1], hyper[2], hyper[3], hyper[4] != 0.0
    step_size = lr / (1.0 - beta_1**step)
    root_correction = math.sqrt(1.0 - beta_2**step)
    shrink = 1.0 - lr * weight_decay if decoupled else 1.0
    coupled = 0.0 if decoupled else weight_decay
    for i in range(p.shape[0]):
        pi = shrink * p[i]
        gi = g[i] + coupled * pi
        mi = beta_1 * m[i] + (1.0 - beta_1) * gi
        vi = beta_2 * v[i] + (1.0 - beta_2) * gi * gi
        m[i] = mi
        v[i] = vi
        if amsgrad:
            vi = max(vi, v_max[i])
            v_max[i] = vi
        p[i] = pi - step_size * mi / (math.sqrt(vi) / root_correction + epsilon)


# (A kernel of its own: written into rmsprop_update, its loop gave some elements other last bits by
# where a chunk starts, which tests/test_optimizers.py's test_chunking_changes_nothing catches.)
@njit(**KERNEL)
def _rmsprop(p, g, square_mean, g_mean, buffer, hyper, lr):
    """RMSprop, as in PyTorch (hyper = [ρ, ε, μ, centered, λ]).

    ``g ← g + λp``; ``s ← ρs + (1−ρ)g²``; centered: ``ḡ ← ρḡ + (1−ρ)g`` and
    ``d = √(s − ḡ²) + ε``, else ``d = √s + ε``. With momentum
    ``b ← μb + g/d``; ``p ← p − lr·b``, else ``p ← p − lr·g/d``.
    """
    rho, epsilon, momentum, centered, weight_decay = hyper[0], hyper[1], hyper[2], hyper[3] != 0.0, hyper[4]
    for i in range(p.shape[0]):
        gi = g[i] + weight_decay * p[i]
        si = rho * square_mean[i] + (1.0 - rho) * gi * gi
        square_mean[i] = si
        if centered:
            ai = rho * g_mean[i] + (1.0 - rho) * gi
            g_mean[i] = ai
            # Stored in the parameters' dtype, s − ḡ² may round below zero.
            denom = math.sqrt(max(si - ai * ai, 0.0)) + epsilon
        else:
            denom = math.sqrt(si) + epsilon
        if momentum != 0.0:
            bi = momentum * buffer[i] + gi / denom
            buffer[i] = bi
            p[i] -= lr * bi
        else:
            p[i] -= lr * gi / denom


@njit(**INLINED_KERNEL)
def _adagrad(p, g, square_sum, hyper, lr, step):
    """Adagrad, as in PyTorch (hyper = [ε, λ, lr_decay]).

    ``g ← g + λp``; ``s ← s + g²``; ``p ← p − lr/(1 + (t−1)·lr_decay) · g/(√s + ε)``.
    """
    epsilon, weight_decay, lr_decay = hyper[0], hyper[1], hyper[2]
    step_size = lr / (1.0 + (step - 1) * lr_decay)
    for i in range(p.shape[0]):
        gi = g[i] + weight_decay * p[i]
        si = square_sum[i] + gi * gi
        square_sum[i] = si
        p[i] -= step_size * gi / (math.sqrt(si) + epsilon)
