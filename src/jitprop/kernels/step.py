"""The step after a batch's tiles: sum their gradients, update, check, in one pass.

Done one after another, summing the tiles' gradients (:func:`reduce_tiles`),
applying the update rule (:mod:`.optimizers`) and checking that the
parameters and the optimizer state stayed finite are three passes over every
parameter and, for a large network, three parallel regions. Here each chunk
of parameters goes through all three while it is in cache, and the chunks
are the tasks of one parallel region. The sums and the update are those of
the three passes, bit for bit: the same chunks, each element summed in tile
order. (SGD sums a chunk's gradient as it updates it, in one pass: see
:func:`~.optimizers.sgd_update`.)
"""

import numpy as np
from numba import njit

from ._numba.options import INLINED_KERNEL, KERNEL
from ._numba.linking import call_entry
from .finite import finite_row
from .optimizers import sgd_step
from .batch import chunk_bounds, chunk_count
from .tuning import PARALLEL_STEP
from ._numba.parallel import run_tasks


@njit(**KERNEL)
def sum_and_update(tile_gradients, n_tiles, grad, rule, params, state, hyper, lr, step, chunked):
    """The batch's gradient ``Σ_t tile_gradients[t]`` (tile order), then the update ``rule`` from it.

    Parameters
    ----------
    tile_gradients : ndarray of shape (tiles, n_params)
        The tiles' gradients; the first ``n_tiles`` are summed, into
        ``grad``, or onto the first for ``SUM_ONTO_FIRST_TILE`` parameters or
        more (``grad`` is then neither written nor read); a single tile's is
        used as it is. With ``n_tiles`` 0, ``grad`` already holds the batch's
        gradient and is used as it is (after a weight penalty or clipping
        changed it).
    grad : ndarray of shape (n_params,)
    rule : ndarray
        :func:`~.optimizers.rule_entry` of the update rule.
    params, state, hyper, lr, step
        As the rule takes them.
    chunked : True or None
        :func:`~.batch.chunking` of the parameters: with None, only the
        one-chunk code is compiled.

    Returns
    -------
    grad_sq : float
        The batch's gradient's squared norm, summed by the chunks of
        :func:`~jitprop.kernels.batch.reduce_tiles` (equal to its result up to
        rounding: the compiler may vectorise the sums differently); with
        ``n_tiles`` 0, of ``grad`` as given. SGD leaves it out: 0 (see
        :func:`~.optimizers.sgd_update`).
    finite : bool
        Whether every parameter and every state element the rule keeps is
        finite after the update: False too where the gradient is not finite,
        which makes one of them not finite under every rule.
    """
    n = params.shape[0]
    n_chunks = chunk_count(n)
    if chunked is None or n_chunks == 1:
        # (No arrays of partial results: on a tiny network their allocation is a large part of a batch.)
        return step_range(tile_gradients, n_tiles, grad, rule, params, state, hyper, lr, step, np.int64(0), n, None)
    partial = np.empty(n_chunks)
    finite = np.empty(n_chunks, dtype=np.bool_)
    arguments = (tile_gradients, n_tiles, grad, rule, params, state, hyper, lr, step, partial, finite)
    if n < PARALLEL_STEP:
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
def _step_chunk(tile_gradients, n_tiles, grad, rule, params, state, hyper, lr, step, partial, finite, chunk):
    """Chunk ``chunk`` of :func:`sum_and_update`: its results go to ``partial[chunk]`` and ``finite[chunk]``."""
    lo, hi = chunk_bounds(params.shape[0], partial.shape[0], chunk)
    partial[chunk], finite[chunk] = step_range(
        tile_gradients, n_tiles, grad, rule, params, state, hyper, lr, step, lo, hi, None
    )


@njit(**INLINED_KERNEL)
def step_range(tile_gradients, n_tiles, grad, rule, params, state, hyper, lr, step, lo, hi, sgd):
    """Sum, update and check parameters ``lo:hi``; return their ``‖grad‖²`` (0 for SGD) and whether they are finite.

    Written into its callers, as are the reduction's and the rules' helpers:
    a tiny network's step is otherwise mostly calls. ``train_epoch`` writes
    it in for a network of one chunk (``chunked`` None) rather than call
    :func:`sum_and_update`, whose call passes every buffer again: W4 in
    batches of one ran 1.09 to 1.18 times as fast with that and the
    prefetch written in too (4 alternating rounds, Intel Xeon of the
    Sapphire Rapids class). The rule sums the tiles' gradients (see
    :func:`~.optimizers.summed_gradient`). With ``sgd`` True (else None),
    for a batch of one tile, the rule is SGD, written in too
    (:func:`~.optimizers.sgd_step`, reading the tile's gradient, or
    ``grad`` with ``n_tiles`` 0) rather than called through its entry
    ``rule``, a call that passes every buffer again.
    """
    if sgd is None:
        arguments = (params, tile_gradients, np.int64(n_tiles), grad, state, hyper, lr, step, lo, hi)
        grad_sq, state_finite = call_entry(rule, arguments, (0.0, True))
    else:
        g = tile_gradients[0, lo:hi] if n_tiles > 0 else grad[lo:hi]
        grad_sq, state_finite = sgd_step(params, g, g, False, state, hyper, lr, lo, hi)
    return grad_sq, finite_row(params[lo:hi]) and state_finite
