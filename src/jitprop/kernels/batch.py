"""One batch: its tiles (:mod:`.tile`) in parallel, and their results summed.

The batch is cut into tiles of ``ws.tile_rows`` rows. Tile boundaries depend
on the batch alone, each tile writes its gradient into its own buffer, and
the buffers are summed in tile order afterwards, so the result is bitwise the
same whatever the number of threads. A batch of one tile runs serially and
never starts a parallel region.
"""

import numpy as np
from numba import njit

from ._numba.linking import call, call_entry
from ._numba.options import INLINED_KERNEL, KERNEL
from ._numba.parallel import run_tasks
from ._numba.references import reference
from .tile import FORWARD, LOSS, network_kernels, placeholder_kernels
from .tuning import CHUNK_GROUP, PARALLEL_REDUCE, REDUCE_CHUNK


def batch_kernels(model, data, ws, grad, lone_tiles=False):
    """:func:`~.tile.network_kernels` for :func:`run_batch`, which is compiled (or loaded) with them.

    ``model``, ``data``, ``ws`` and ``grad`` are those :func:`run_batch` will
    be called with (and ``chunked``, :func:`chunking` of the parameters);
    ``lone_tiles`` as :func:`~.tile.network_kernels` takes it.
    """
    index = np.zeros(1, dtype=np.int64)
    kernels = placeholder_kernels(model.layout, model.params.dtype, data)
    chunked = chunking(model.params.shape[0])
    batch = (kernels, np.int64(FORWARD), model, data, index, 0.0, ws, grad, False, -1, chunked)
    return network_kernels(model, data, ws, [(run_batch, batch)], lone_tiles=lone_tiles)


def chunking(n_params):
    """What kernels that sum, update or pack a network's parameters take as ``chunked``.

    True for a network of more than :data:`~.tuning.REDUCE_CHUNK`
    parameters, whose gradient is summed and applied in chunks (in parallel
    when there are many); None for a smaller one, for which Numba then
    compiles only the one-chunk, serial code of those kernels (it drops a
    branch on ``chunked is None`` before compiling): a first fit of a small
    network compiles some 1.5 s of CPU time less. The sums are the same
    either way: one chunk is what the chunked code does with so few.
    """
    return True if n_params > REDUCE_CHUNK else None


@njit(**KERNEL)
def run_batch(kernels, mode, model, data, index, scale, ws, grad, accumulate, dropout_key, chunked):
    """Run the examples ``index`` through the network.

    Parameters
    ----------
    kernels : Kernels
        :func:`~.tile.network_kernels` of the network and ``data``.
    mode : int
        ``FORWARD`` (outputs only), ``LOSS`` or ``GRADIENT``.
    model : Model
        The network; its ``packed`` panels as
        :func:`~jitprop.kernels.dense.pack_weights` last packed them from
        its ``params``.
    scale : float
        1/n for a loss that is a mean over n examples (1/(n·k) over outputs too).
    grad : ndarray of shape (n_params,)
        Receives ``scale · Σ ∂loss/∂params`` in ``GRADIENT`` mode; added to
        it when ``accumulate``.
    dropout_key : int
        Key of the dropout masks when training; -1 turns dropout off.
    chunked : True or None
        :func:`chunking` of the network's parameters.

    Returns
    -------
    loss_sum : float
        Loss summed over the examples (0 in ``FORWARD`` mode).
    correct : float
        Correct predictions (see :func:`~.losses.cross_entropy_loss`).
    grad_sq : float
        Squared norm of ``grad`` after the call (0 unless ``GRADIENT``).

    The outputs stay in the last layer's block of ``ws.activations``.
    """
    n_tiles = run_tiles(kernels, mode, model, data, index, scale, ws, dropout_key)
    return call(batch_totals, (mode, ws, n_tiles, grad, accumulate, chunked))


@njit(**INLINED_KERNEL)
def run_tiles(kernels, mode, model, data, index, scale, ws, dropout_key):
    """Run every tile of the batch ``index`` (:func:`~.tile.run_tile`, through ``kernels.tile``); return their number.

    For one batch: a loop over batches makes the tiles' shared arguments
    once, with :func:`tile_arguments`, and calls :func:`run_tiles_sharing`.
    """
    n_tiles = tiles_of(index, ws)
    run_tiles_sharing(kernels.tile, tile_arguments(kernels, model, data, ws), mode, index, scale, n_tiles, dropout_key)
    return n_tiles


@njit(**INLINED_KERNEL)
def tile_arguments(kernels, model, data, ws):
    """What every tile of every batch takes, passed to them by reference (see :func:`~.tile.run_tile`)."""
    return reference((kernels, model, data, ws))


@njit(**INLINED_KERNEL)
def run_tiles_sharing(tile, shared, mode, index, scale, n_tiles, dropout_key):
    """Run the ``n_tiles`` tiles of the batch ``index`` through the entry ``tile``, sharing :func:`tile_arguments`.

    The batch of :func:`run_batch` and of :func:`~.epoch.train_epoch` alike.
    A batch of one tile runs it in this thread, straight away: for a tiny
    network the way through the thread pool would be a large part of it.
    """
    arguments = (shared, mode, index, scale, dropout_key)
    if n_tiles == 1:
        call_entry(tile, arguments + (np.int64(0),), None)
    else:
        run_tasks(tile, n_tiles, arguments)


@njit(**INLINED_KERNEL)
def batch_scale(weights, index, outputs):
    """``1 / (W · outputs)``, W the batch's total weight (its size without ``weights``); 0 when W is 0.

    What turns the batch's summed loss and gradient into their (weighted)
    mean; ``outputs`` is the number of outputs for a loss that is a mean
    over them too, else 1. The weights are added in batch order.
    """
    total_weight = float(index.shape[0])
    if weights.shape[0] > 0:
        total_weight = 0.0
        for i in range(index.shape[0]):
            total_weight += weights[index[i]]
    return 1.0 / (total_weight * outputs) if total_weight > 0 else 0.0


@njit(**INLINED_KERNEL)
def tiles_of(index, ws):
    """Number of tiles the batch ``index`` is cut into."""
    return (index.shape[0] + ws.tile_rows - 1) // ws.tile_rows


@njit(**KERNEL)
def batch_totals(mode, ws, n_tiles, grad, accumulate, chunked):
    """Sum the first ``n_tiles`` tiles' results in tile order: what :func:`run_batch` returns."""
    if mode == FORWARD:
        return 0.0, 0.0, 0.0
    loss_sum, correct = tile_totals(ws, n_tiles)
    if mode == LOSS:
        return loss_sum, correct, 0.0
    return loss_sum, correct, call(reduce_tiles, (ws.tile_gradients, n_tiles, grad, accumulate, chunked))


@njit(**INLINED_KERNEL)
def tile_totals(ws, n_tiles):
    """Loss and count of correct predictions of the first ``n_tiles`` tiles, summed in tile order."""
    loss_sum = 0.0
    correct = 0.0
    for tile in range(n_tiles):
        loss_sum += ws.tile_stats[tile, 0]
        correct += ws.tile_stats[tile, 1]
    return loss_sum, correct


@njit(**KERNEL)
def reduce_tiles(tile_gradients, n_tiles, grad, accumulate, chunked):
    """``grad (+)= Σ_t tile_gradients[t]`` in tile order; returns ``‖grad‖²``.

    The sum runs in parallel over fixed chunks of parameters; every element is
    summed in the same order whatever the thread count, and the chunks'
    squared norms are added in chunk order. ``chunked`` is :func:`chunking`
    of the parameters: with None, only the one-chunk code is compiled.
    """
    n = grad.shape[0]
    n_chunks = chunk_count(n)
    if chunked is None or n_chunks == 1:
        return _reduce_chunk(tile_gradients, n_tiles, grad, accumulate, np.int64(0), n)
    partial = np.empty(n_chunks)
    if n < PARALLEL_REDUCE:
        # The same chunks, one after another: identical sums, no parallel region.
        for c in range(n_chunks):
            _reduce_task(tile_gradients, n_tiles, grad, accumulate, partial, np.int64(c))
    else:
        run_tasks(_reduce_task, n_chunks, (tile_gradients, n_tiles, grad, accumulate, partial))
    total = 0.0
    for c in range(n_chunks):
        total += partial[c]
    return total


@njit(**KERNEL)
def _reduce_task(tile_gradients, n_tiles, grad, accumulate, partial, chunk):
    """Chunk ``chunk`` of :func:`reduce_tiles`: its squared norm goes to ``partial[chunk]``."""
    lo, hi = chunk_bounds(grad.shape[0], partial.shape[0], chunk)
    partial[chunk] = _reduce_chunk(tile_gradients, n_tiles, grad, accumulate, lo, hi)


@njit(**INLINED_KERNEL)
def chunk_count(n):
    """Chunks a batch's gradient of ``n`` parameters is cut into: about ``REDUCE_CHUNK`` each, ``CHUNK_GROUP``s of them.

    One for ``REDUCE_CHUNK`` parameters or fewer. The cuts depend on ``n``
    alone, never on the thread count.
    """
    n_chunks = (n + REDUCE_CHUNK - 1) // REDUCE_CHUNK
    if n_chunks > 1:
        n_chunks = (n_chunks + CHUNK_GROUP - 1) // CHUNK_GROUP * CHUNK_GROUP
    return n_chunks


@njit(**INLINED_KERNEL)
def chunk_bounds(n, n_chunks, chunk):
    """``(lo, hi)`` of chunk ``chunk`` of :func:`chunk_count`'s ``n_chunks``: all of one size but the last.

    The size is a multiple of 64 parameters, so that every chunk starts on
    a cache line (of the buffers' start).
    """
    size = ((n + n_chunks - 1) // n_chunks + 63) // 64 * 64
    lo = min(n, chunk * size)
    return lo, min(n, lo + size)


@njit(**INLINED_KERNEL)
def _reduce_chunk(tile_gradients, n_tiles, grad, accumulate, lo, hi):
    out = grad[lo:hi]
    first = tile_gradients[0, lo:hi]
    if accumulate:
        for i in range(out.shape[0]):
            out[i] += first[i]
    else:
        for i in range(out.shape[0]):
            out[i] = first[i]
    add_later_tiles(tile_gradients, n_tiles, out, lo, hi)
    return squared_norm(out)


@njit(**INLINED_KERNEL)
def add_later_tiles(tile_gradients, n_tiles, out, lo, hi):
    """``out += tile_gradients[t, lo:hi]`` for ``t = 1 .. n_tiles - 1`` in tile order, onto the first tile's values."""
    for t in range(1, n_tiles):
        g = tile_gradients[t, lo:hi]
        for i in range(out.shape[0]):
            out[i] += g[i]


@njit(**INLINED_KERNEL)
def squared_norm(values):
    """``Σ values²`` in float64."""
    sq = 0.0
    for i in range(values.shape[0]):
        sq += np.float64(values[i]) * np.float64(values[i])
    return sq
