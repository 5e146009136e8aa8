"""The step after a batch's tiles: sum their gradients, update, check, in one pass.

Done one after another, summing the tiles' gradients (:func:`reduce_tiles`),
applying the update rule (:func:`~.optimizers.apply_rule`) and checking that the
parameters and the optimizer state stayed finite are three passes over every
parameter and, for a large network, three parallel regions. Here each chunk
of parameters goes through all three while it is in cache, and the chunks
are the tasks of one parallel region. The sums and the update are those of
the three passes, bit for bit: the same chunks, each element summed in tile
order.
"""

import math

import numpy as np
from numba import njit

from .._numba_options import KERNEL
from .batch import _REDUCE_CHUNK, _reduce_chunk
from .optimizers import SGD, apply_rule
from .parallel import run_tasks

# Networks with fewer parameters step serially: a parallel region costs more
# than it saves on so little memory traffic.
_PARALLEL_STEP = 1 << 17


@njit(**KERNEL)
def sum_and_update(tile_gradients, n_tiles, grad, code, params, state, hyper, lr, step):
    """``grad = Σ_t tile_gradients[t]`` (tile order), then the update rule ``code`` from ``grad``.

    Parameters
    ----------
    tile_gradients : ndarray of shape (tiles, n_params)
        The tiles' gradients; the first ``n_tiles`` are summed. With
        ``n_tiles`` 0, ``grad`` already holds the batch's gradient and is used
        as it is (after a weight penalty or clipping changed it).
    grad : ndarray of shape (n_params,)
    code, params, state, hyper, lr, step
        As :func:`~jitprop.kernels.optimizers.apply_rule` takes them.

    Returns
    -------
    grad_sq : float
        ``‖grad‖²``, summed by the chunks of
        :func:`~jitprop.kernels.batch.reduce_tiles` (equal to its result up to
        rounding: the compiler may vectorise the sums differently), or 0 with
        ``n_tiles`` 0.
    finite : bool
        Whether every parameter and every state element the rule keeps is
        finite after the update.
    """
    n = params.shape[0]
    n_chunks = (n + _REDUCE_CHUNK - 1) // _REDUCE_CHUNK
    if n_chunks == 1:
        # (No arrays of partial results: on a tiny network their allocation is a large part of a batch.)
        return _step_range(tile_gradients, n_tiles, grad, code, params, state, hyper, lr, step, np.int64(0), n)
    partial = np.empty(n_chunks)
    finite = np.empty(n_chunks, dtype=np.bool_)
    arguments = (tile_gradients, n_tiles, grad, code, params, state, hyper, lr, step, partial, finite)
    if n < _PARALLEL_STEP:
        for chunk in range(n_chunks):
            _step_chunk(*arguments, np.int64(chunk))
    else:
        run_tasks(_step_chunk, n_chunks, arguments)
    grad_sq = 0.0
    every_chunk_finite = True
    for chunk in range(n_chunks):
        grad_sq += partial[chunk]
        every_chunk_finite = every_chunk_finite and finite[chunk]
    return grad_sq, every_chunk_finite


@njit(**KERNEL)
def _step_chunk(tile_gradients, n_tiles, grad, code, params, state, hyper, lr, step, partial, finite, chunk):
    """Chunk ``chunk`` of :func:`sum_and_update`: its results go to ``partial[chunk]`` and ``finite[chunk]``."""
    lo = chunk * _REDUCE_CHUNK
    hi = min(params.shape[0], lo + _REDUCE_CHUNK)
    partial[chunk], finite[chunk] = _step_range(
        tile_gradients, n_tiles, grad, code, params, state, hyper, lr, step, lo, hi
    )


@njit(**KERNEL)
def _step_range(tile_gradients, n_tiles, grad, code, params, state, hyper, lr, step, lo, hi):
    """Sum, update and check parameters ``lo:hi``; return their ``‖grad‖²`` and whether they are finite."""
    grad_sq = _reduce_chunk(tile_gradients, n_tiles, grad, False, lo, hi) if n_tiles > 0 else 0.0
    apply_rule(code, params, grad, state, hyper, lr, step, lo, hi)
    finite = all_finite(params[lo:hi])
    # Plain SGD keeps no state (its row stays as it was).
    if not (code == SGD and hyper[0] == 0.0):
        for row in range(state.shape[0]):
            finite = finite and all_finite(state[row, lo:hi])
    return grad_sq, finite


@njit(**KERNEL)
def all_finite(a):
    """Whether every element of ``a`` (1-D) is finite.

    A count rather than an early exit, so that the loop vectorizes. (A sum
    of ``x - x`` would not do: with reassociation allowed, the compiler may
    rewrite ``t + (x - x)`` as ``t``.)
    """
    finite = 0
    for i in range(a.shape[0]):
        finite += math.isfinite(a[i])
    return finite == a.shape[0]
