"""Parameter updates over the flat parameter buffer: a kernel each, found by an integer code.

Each rule is one kernel that updates a range of parameters from the
batch's tiles' gradients, ``rule(params, tiles, n_tiles, grad, state, hyper,
lr, step, lo, hi)`` (see :func:`adam_update`), which :mod:`.step` runs per
chunk of parameters (in parallel for large networks) before checking them.
Every rule reads the gradient as :func:`summed_gradient` gives it, but SGD
sums two tiles as it updates, in one pass (:func:`sgd_update`). :data:`RULES`
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

from ._numba.options import AS_WRITTEN, INLINED_KERNEL, KERNEL
from ._numba.linking import entry
from .batch import _reduce_chunk, add_later_tiles, squared_norm
from .finite import finite_row
from .tuning import SUM_ONTO_FIRST_TILE

SGD = 0
ADAM = 1
ADAMW = 2
RMSPROP = 3
ADAGRAD = 4


@njit(**KERNEL)
def sgd_update(params, tiles, n_tiles, grad, state, hyper, lr, step, lo, hi):
    """Update ``params[lo:hi]`` in place by SGD from the batch's gradient; every rule takes these arguments.

    Parameters
    ----------
    params : ndarray of shape (n_params,)
        The flat parameter buffer.
    tiles : ndarray of shape (tiles, n_params)
        The tiles' gradients, of the parameters' dtype: the batch's gradient
        is the sum of the first ``n_tiles`` in tile order (see
        :func:`summed_gradient`).
    n_tiles : int
        0 when ``grad`` holds the batch's gradient already.
    grad : ndarray of shape (n_params,)
        Room for the sum of the tiles (see :func:`summed_gradient`).
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
    grad_sq : float
        ``‖g‖²`` over the range, in float64; SGD leaves it out (0).
    finite : bool
        Whether the state the rule keeps for this range is finite. A
        gradient that is not finite makes a parameter or a state element
        not finite in every rule, SGD's parameters included (``p − lr·g``,
        ``0·∞`` being NaN where ``lr`` is 0): the step's check of the
        parameters and this one find it.
    """
    # Up to two tiles' gradients are summed in the update's pass, element by element, as summed_gradient would
    # sum them: on W1's network (235,146 parameters, two tiles a batch) the step took half as long as summing
    # into grad and then updating (229 µs against 110, one thread, alternating calls; the same bits).
    if n_tiles == 2:
        return sgd_step(params, tiles[0, lo:hi], tiles[1, lo:hi], True, state, hyper, lr, lo, hi)
    if n_tiles > 2:
        _, g = summed_gradient(tiles, n_tiles, grad, lo, hi)
    else:
        g = tiles[0, lo:hi] if n_tiles == 1 else grad[lo:hi]  # (read where it lies)
    return sgd_step(params, g, g, False, state, hyper, lr, lo, hi)


@njit(**INLINED_KERNEL)
def sgd_step(params, first, second, two, state, hyper, lr, lo, hi):
    """:func:`sgd_update` of ``params[lo:hi]`` from the gradient ``first`` (plus ``second`` with ``two``).

    Returns ``(0.0, state finite)``. Written into its callers, ``two`` a
    constant in each: :func:`sgd_update`, and a tiny network's epoch (see
    :func:`~.step.step_range`), where a batch is one tile.
    """
    momentum, nesterov, weight_decay = hyper[0], hyper[1] != 0.0, hyper[2]
    velocity = state[0, lo:hi]
    _sgd(params[lo:hi], first, second, two, velocity, momentum, nesterov, weight_decay, lr)
    # Plain SGD keeps no state (its row stays as it was).
    return 0.0, momentum == 0.0 or finite_row(velocity)


@njit(**INLINED_KERNEL)
def summed_gradient(tiles, n_tiles, grad, lo, hi):
    """The batch's gradient over ``lo:hi``, the first ``n_tiles`` tiles' summed in tile order, and its ``‖g‖²``.

    Returns ``(grad_sq, g)``, ``g`` a view: of the first tile's buffer, onto
    which the others are added, for a single tile or ``SUM_ONTO_FIRST_TILE``
    parameters or more; else of ``grad``, which receives the sum; with
    ``n_tiles`` 0, of ``grad`` as it is (the batch's gradient, summed
    elsewhere).
    """
    if n_tiles == 1 or (n_tiles > 1 and tiles.shape[1] >= SUM_ONTO_FIRST_TILE):
        # The tiles' gradients are summed onto the first tile's, whose lines the tile has just written: a sum
        # written into grad instead was a pass of stores to memory more (W3: 8.4 MB a batch), read by the
        # rule and never again. (A single tile's gradient is read where it lies.)
        summed = tiles[0, lo:hi]
        add_later_tiles(tiles, n_tiles, summed, lo, hi)
        return squared_norm(summed), summed
    if n_tiles > 0:
        # Gradients that stay in the cores' caches: the first tile's lines are another thread's, and adding
        # onto them would take them over; grad's lines of this chunk are this thread's from the batch before.
        return _reduce_chunk(tiles, n_tiles, grad, False, lo, hi), grad[lo:hi]
    # (The gradient was summed elsewhere: its norm comes from this pass, while the chunk is in cache.)
    return squared_norm(grad[lo:hi]), grad[lo:hi]


@njit(**KERNEL)
def adam_update(params, tiles, n_tiles, grad, state, hyper, lr, step, lo, hi):
    """:func:`sgd_update` for Adam."""
    grad_sq, g = summed_gradient(tiles, n_tiles, grad, lo, hi)
    # Without amsgrad there is no third row; row 1 stands in and is never written through it.
    v_max = state[2 if hyper[4] != 0.0 else 1, lo:hi]
    _adam(params[lo:hi], g, state[0, lo:hi], state[1, lo:hi], v_max, hyper, False, lr, step)
    return grad_sq, _state_finite(state, lo, hi)


@njit(**KERNEL)
def adamw_update(params, tiles, n_tiles, grad, state, hyper, lr, step, lo, hi):
    """:func:`sgd_update` for AdamW (Adam with decoupled weight decay)."""
    grad_sq, g = summed_gradient(tiles, n_tiles, grad, lo, hi)
    v_max = state[2 if hyper[4] != 0.0 else 1, lo:hi]
    _adam(params[lo:hi], g, state[0, lo:hi], state[1, lo:hi], v_max, hyper, True, lr, step)
    return grad_sq, _state_finite(state, lo, hi)


@njit(**KERNEL)
def rmsprop_update(params, tiles, n_tiles, grad, state, hyper, lr, step, lo, hi):
    """:func:`sgd_update` for RMSprop."""
    grad_sq, g = summed_gradient(tiles, n_tiles, grad, lo, hi)
    # Optional rows follow E[g²] in order; an absent row's stand-in is never written.
    centered = hyper[3] != 0.0
    g_mean = state[1 if centered else 0, lo:hi]
    buffer = state[(2 if centered else 1) if hyper[2] != 0.0 else 0, lo:hi]
    _rmsprop(params[lo:hi], g, state[0, lo:hi], g_mean, buffer, hyper, lr)
    return grad_sq, _state_finite(state, lo, hi)


@njit(**KERNEL)
def adagrad_update(params, tiles, n_tiles, grad, state, hyper, lr, step, lo, hi):
    """:func:`sgd_update` for Adagrad."""
    grad_sq, g = summed_gradient(tiles, n_tiles, grad, lo, hi)
    _adagrad(params[lo:hi], g, state[0, lo:hi], hyper, lr, step)
    return grad_sq, _state_finite(state, lo, hi)


#: Update kernel of each rule code.
RULES = {SGD: sgd_update, ADAM: adam_update, ADAMW: adamw_update, RMSPROP: rmsprop_update, ADAGRAD: adagrad_update}


def rule_entry(code, params, grad, state, hyper):
    """The entry (see :func:`~.linking.entry`) of rule ``code`` for these buffers, as :mod:`.step` calls it.

    (Its tiles are of ``grad``'s type, one row of them.)
    """
    int64 = np.int64(0)
    tiles = grad.reshape(1, -1)
    return entry(RULES[code], params, tiles, int64, grad, state, hyper, 0.0, int64, int64, int64)


@njit(**INLINED_KERNEL)
def _state_finite(state, lo, hi):
    finite = True
    for row in range(state.shape[0]):
        finite = finite and finite_row(state[row, lo:hi])
    return finite


@njit(**INLINED_KERNEL)
def _sgd(p, first, second, two, velocity, momentum, nesterov, weight_decay, lr):
    """SGD with momentum, as in PyTorch (hyper = [momentum, nesterov, weight_decay]).

    ``g ← g + λp``; ``v ← μv + g``; ``p ← p − lr·(g + μv)`` with Nesterov,
    else ``p ← p − lr·v``. With ``μ = 0``: ``p ← p − lr·g``. The gradient
    ``g`` is ``first``, or with ``two`` the sum of ``first`` and ``second``
    (:func:`_tile_sum`).
    """
    if momentum == 0.0:
        for i in range(p.shape[0]):
            g = _tile_sum(first[i], second[i]) if two else first[i]
            p[i] -= lr * (g + weight_decay * p[i])
        return
    for i in range(p.shape[0]):
        gi = (_tile_sum(first[i], second[i]) if two else first[i]) + weight_decay * p[i]
        v = momentum * velocity[i] + gi
        velocity[i] = v
        p[i] -= lr * (gi + momentum * v) if nesterov else lr * v


@njit(**AS_WRITTEN)
def _tile_sum(a, b):
    """``a + b``, rounded as written: two tiles' gradients, as :func:`summed_gradient` adds them.

    (Under the fast-math flags LLVM could regroup it with the update's
    additions in a float64 network.)
    """
    return a + b


# (A kernel of its own, as _rmsprop: written into adamw_update beside the tiles' sum, its loop gave some
# elements other last bits by where a chunk starts.)
@njit(**KERNEL)
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
