"""A whole epoch of mini-batches and updates in one compiled call.

Small networks would otherwise pay the interpreter's overhead on every batch;
here the only work per batch outside the kernels is a few integer operations.
An epoch may also be run in segments (``first_batch`` to ``last_batch``) so a
progress bar can move; the result is the same bit for bit.
"""

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from ._numba.options import INLINED_KERNEL, KERNEL
from .aligned import aligned_empty
from .batch import batch_scale, reduce_tiles, run_batch, run_tiles_sharing, tile_arguments, tile_totals, tiles_of
from .dense import pack_weights
from .layout import untracked
from ._numba.linking import NO_KERNEL, call
from .optimizers import RULES, SGD
from .prefetch import prefetch_examples
from .regularization import add_l2_penalty, clip_by_global_norm
from .step import step_range, sum_and_update
from .tile import GRADIENT, network_kernels, placeholder_kernels
from .tiny import tiny_batch


class EpochPlan(NamedTuple):
    """What one epoch (or segment of it) does, as a kernel reads it."""

    order: np.ndarray  # int64 (n,): the examples in the order this epoch visits them
    batch_size: int
    first_batch: int  # run batches first_batch .. last_batch - 1
    last_batch: int
    lrs: np.ndarray  # float64 (n_batches,): learning rate of each batch of the epoch
    step: int  # updates made before the epoch's first batch
    dropout_key: int  # key of this epoch's dropout masks
    pack_first: bool = False  # pack the weights' panels before the first batch (the parameters may have changed)


class GradientAdjustments(NamedTuple):
    """What changes a batch's summed gradient before the update."""

    penalised: bool  # some layer has an L2 penalty
    clip_norm: float  # largest global gradient norm; 0 for no clipping


def gradient_adjustments(layout, clip_norm):
    """The :class:`GradientAdjustments` of a network and clip norm (0 for none), or None when nothing adjusts."""
    penalised = np.count_nonzero(layout.l2) > 0  # (the strengths are >= 0; count_nonzero costs a fifth of any())
    if not penalised and clip_norm == 0.0:
        return None
    return GradientAdjustments(penalised, float(clip_norm))


def epoch_kernels(model, data, ws, grad, optimizer, adjustments, chunked, tiny, evaluates):
    """:func:`~.tile.network_kernels` for :func:`train_epoch`, which is compiled (or loaded) with them.

    Parameters
    ----------
    model, data, ws, grad, adjustments, chunked, tiny
        As :func:`train_epoch` will take them.
    optimizer : tuple (code, state, hyper)
        The update rule's code, state and hyper-parameters.
    evaluates : bool
        Also compile :func:`~.batch.run_batch`, which evaluation (of
        validation data, for example) calls.
    """
    code, state, hyper = optimizer
    int64 = np.int64(0)
    kernels = placeholder_kernels(model.layout, model.params.dtype, data)
    rows = np.zeros(1, dtype=np.int64)
    plan = EpochPlan(
        order=rows, batch_size=1, first_batch=0, last_batch=0, lrs=np.zeros(1), step=0, dropout_key=0, pack_first=False
    )
    update = (NO_KERNEL, state, hyper)
    backup = backup_buffers(model.params, state)
    epoch = (kernels, model, data, plan, ws, grad, backup, update, np.zeros((1, 2)), adjustments, chunked, tiny)
    rule = (RULES[code], (model.params, grad.reshape(1, -1), int64, grad, state, hyper, 0.0, int64, int64, int64))
    batch = (kernels, int64, model, data, rows, 0.0, ws, grad, False, -1, chunked)
    # The second process takes the tile; this one the rule, the epoch and the
    # evaluation's batch driver, which share callees (the tile alone is the
    # larger part: with the driver too, the second process was the one waited for;
    # with the rule, which sums the tiles' gradients itself, a first W1 fit took
    # some 2 s longer, 13.1 to 15.9 s against 10.6 to 12.5).
    meanwhile = [rule, (train_epoch, epoch)] + ([(run_batch, batch)] if evaluates else [])
    lone = ws.tile_stats.shape[0] == 1  # (every batch one tile: batches of one example, say)
    # (The epoch runs gradient passes only: no inference kernels.)
    return network_kernels(model, data, ws, meanwhile, lone_tiles=lone, inference=False)


def backup_buffers(params, state):
    """Arrays for :func:`train_epoch`'s ``backup`` of ``params`` and an optimizer ``state``.

    Made once and passed to every epoch: a copy made inside each epoch had
    its pages mapped and zeroed by the operating system every time (W3's
    2.1 million parameters: 4.7% of an epoch's time, in page faults).
    """
    return aligned_empty(params.shape, params.dtype), aligned_empty(state.size, state.dtype)


@njit(**KERNEL)
def train_epoch(kernels, model, data, plan, ws, grad, backup, optimizer, batch_stats, adjustments, chunked, tiny):
    """Train on the batches ``plan.first_batch`` to ``plan.last_batch - 1``.

    Batch ``b`` holds the examples ``plan.order[b·batch_size : (b+1)·batch_size]``;
    its loss is their mean loss (weighted by ``data.weights`` if given) plus
    the L2 penalty, its update the optimizer's rule with ``plan.lrs[b]``.

    Parameters
    ----------
    kernels : Kernels
        :func:`~.tile.network_kernels` of the network and ``data``.
    model : Model
        The network (see :class:`~.layout.Model`); its parameters are
        updated and its panels packed again after every batch, and before
        the first with ``plan.pack_first`` (which saves a call of its own:
        a small network's ``fit`` would spend microseconds on it).
    backup : tuple (ndarray, ndarray)
        :func:`backup_buffers`: receive the parameters and the optimizer
        state of the segment's start.
    optimizer : tuple (rule, state, hyper)
        :func:`~.optimizers.rule_entry` of the update rule, the rule's state
        and its hyper-parameters (see :mod:`.optimizers`).
    batch_stats : float64 ndarray of shape (n_batches, 2)
        Receives each batch's loss and its count of correct predictions.
    adjustments : GradientAdjustments or None
        :func:`gradient_adjustments`. None (no L2 penalty, no clipping) sums
        each batch's gradient in the update's pass and leaves out the code of
        both (Numba drops the branch before compiling it).
    chunked : True or None
        :func:`~.batch.chunking` of the parameters.
    tiny : int or None
        For a network that :func:`~.tiny.trains_tiny` at these batches, the
        code of the update rule (see :mod:`.optimizers`): each batch's tile
        is then written into this loop (:func:`~.tiny.tiny_batch`), and the
        update too where the rule is SGD (on W4, one example an update, its
        call through the rule's entry took a tenth of the epoch). With None,
        only the tiles' code is compiled.

    Returns
    -------
    int
        The first batch not completed: ``plan.last_batch`` unless the loss
        (in the parameters' precision) or gradient of that batch was not
        finite, or its update made a parameter or an optimizer state
        non-finite. That batch made no update, so the parameters and the
        optimizer state are the last finite ones.

    Notes
    -----
    A batch's gradient is summed and applied chunk by chunk
    (:func:`~jitprop.kernels.step.sum_and_update`), so a gradient that is not
    finite, or an update that overflows (a finite gradient times a huge
    learning rate), has already been written when it is detected. The
    parameters and state from before it are then rebuilt by restoring those
    of the segment's start and replaying its earlier batches, which give the
    same bits again (the computation is deterministic): no copy is made per
    batch.
    """
    # Arguments stay alive for the call: no need to count references to them.
    kernels, model, data, plan, ws, grad, backup, optimizer, batch_stats = untracked(
        (kernels, model, data, plan, ws, grad, backup, optimizer, batch_stats)
    )
    layout, params, packed = model
    rule, state, hyper = optimizer
    flat_state = state.ravel()
    start_params, start_state = backup
    _copy(params, start_params)
    _copy(flat_state, start_state)
    n = plan.order.shape[0]
    k = layout.sizes[layout.sizes.shape[0] - 1]
    outputs = k if layout.loss_over_outputs else 1
    # Calls a tiny network has no use for are skipped (each passes the
    # layout down, which costs more than its work there).
    has_panels = packed.shape[0] > 0
    if has_panels and plan.pack_first:
        call(pack_weights, (model, chunked))
    shared = tile_arguments(kernels, model, data, ws)  # (made once: every tile of every batch takes them)
    # (Replays of batches use the same loop.)
    b = plan.first_batch
    end = plan.last_batch
    failed = -1
    while b < end:
        index = plan.order[b * plan.batch_size : min(n, (b + 1) * plan.batch_size)]
        prefetch_examples(data, plan.order, (b + 1) * plan.batch_size, min(n, (b + 2) * plan.batch_size))
        scale = batch_scale(data.weights, index, outputs)
        if tiny is not None:
            n_tiles = 1
            tiny_batch(kernels, model, data, ws, index, scale)
        else:
            mode = np.int64(GRADIENT)  # (the tile's mode argument is an int64)
            n_tiles = tiles_of(index, ws)
            run_tiles_sharing(kernels.tile, shared, mode, index, scale, n_tiles, plan.dropout_key)
        loss_sum, correct = tile_totals(ws, n_tiles)
        # A weight penalty or clipping changes the summed gradient before the
        # update: the tiles are summed first. Otherwise summing, updating and
        # checking go together, chunk by chunk (see sum_and_update).
        summed_tiles = n_tiles
        penalty = 0.0
        grad_sq = 0.0
        if adjustments is not None:
            grad_sq = call(reduce_tiles, (ws.tile_gradients, n_tiles, grad, np.bool_(False), chunked))
            summed_tiles = 0
            if adjustments.penalised:
                penalty = add_l2_penalty(layout, params, grad)
        batch_stats[b, 0] = loss_sum * scale + penalty
        batch_stats[b, 1] = correct
        # The loss must be finite in the network's own precision: a float32
        # network whose loss exceeds float32's range has diverged. (Never
        # while replaying: those batches gave the same bits before.)
        if not math.isfinite(params.dtype.type(batch_stats[b, 0])):
            return b
        if adjustments is not None and adjustments.clip_norm > 0:
            clip_by_global_norm(grad, adjustments.clip_norm)
        lr, step = plan.lrs[b], plan.step + b + 1
        if chunked is None:
            # One chunk (a small network): the step is written in here, its call would pass every buffer again.
            tiles, lo, hi = ws.tile_gradients, np.int64(0), params.shape[0]
            # (Two calls: sgd, True or None, decides what step_range compiles, so it is a constant in each.)
            if tiny is not None and tiny == SGD:
                summed_sq, finite = step_range(
                    tiles, summed_tiles, grad, rule, params, state, hyper, lr, step, lo, hi, True
                )
            else:
                summed_sq, finite = step_range(
                    tiles, summed_tiles, grad, rule, params, state, hyper, lr, step, lo, hi, None
                )
        else:
            arguments = (ws.tile_gradients, summed_tiles, grad, rule, params, state, hyper, lr, step, chunked)
            summed_sq, finite = call(sum_and_update, arguments)
        b += 1
        if failed < 0 and not (finite and math.isfinite(grad_sq + summed_sq)):
            # A gradient that was not finite, or an update that overflowed,
            # has been applied: restore the segment's start and replay the
            # batches before this one.
            failed = b - 1
            _copy(start_params, params)
            _copy(start_state, flat_state)
            b = plan.first_batch
            end = failed
        if has_panels:
            call(pack_weights, (model, chunked))
    return failed if failed >= 0 else end


@njit(**KERNEL)
def epoch_totals(batch_stats, batch_size, n):
    """An epoch's loss summed over its ``n`` examples, and its correct predictions, from ``batch_stats``.

    Each batch's mean loss counts for its examples (``batch_size``, fewer in
    the last batch), summed in the batches' order. (NumPy would make an
    array of each batch's examples and another of the products: for an
    epoch of 100,000 updates of one example, half a millisecond.)
    """
    loss_sum = 0.0
    correct = 0.0
    for b in range(batch_stats.shape[0]):
        loss_sum += batch_stats[b, 0] * min(batch_size, n - b * batch_size)
        correct += batch_stats[b, 1]
    return loss_sum, correct


@njit(**INLINED_KERNEL)
def _copy(source, target):
    """``target[:] = source`` for 1-D arrays, as a loop that vectorizes."""
    for i in range(source.shape[0]):
        target[i] = source[i]
