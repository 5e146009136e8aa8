"""A tile of a batch through the whole network, and the entries of the kernels it calls.

:func:`run_tile` gathers the tile's examples, runs each layer's kind forward
(see :mod:`.kinds`), the loss, and each layer's kind backward, applying
each layer's activation (and its derivative) and dropout between them. It
calls every layer, activation and loss through the entries of a
:class:`~.layout.Kernels`, which :func:`network_kernels` makes for one
network: only the kinds, activations and loss that network has are
compiled, and the tile itself serves every network of the same buffer types.

One kind is written into the tile instead: dense, the kind of nearly every
layer. A call through an entry passes the network's buffers (some 200
machine words) and cost a network of 2-2-2 trained on batches of one about
a fifth of its speed; the tile runs a dense layer as it runs the rest of
its own code.
"""

import numpy as np
from numba import njit

from . import activations
from ._numba.background import compiling_in_background
from ._numba.arrays import rows_in_place
from ._numba.linking import NO_KERNEL, argument_types, call_entry, entry, type_key
from ._numba.options import INLINED_KERNEL, KERNEL
from ._numba.references import Reference, dereference
from .dropout import apply_dropout, undo_dropout
from .dense import backward as dense_backward
from .dense import forward as dense_forward
from .kinds import DENSE, LAYER_KERNELS, applies_activation
from .layout import Kernels, rows, untracked
from .losses import MSE, loss_kernel
from .matmul import parallel_columns_matmul_nt
from .tuning import SPLIT_COLUMNS_WORK

#: What a tile (and :func:`~.batch.run_batch`) computes.
FORWARD = 0
LOSS = 1
GRADIENT = 2


@njit(**KERNEL)
def run_tile(shared, mode, index, scale, dropout_key, tile):
    """Run tile ``tile`` of the batch ``index``: what :func:`~.batch.run_batch` does for each tile.

    ``shared`` is :func:`~._numba.references.reference` of ``(kernels,
    model, data, ws)``, what every tile of every batch shares (see
    :func:`~.batch.run_tiles`), made once by an epoch for all its batches.
    The tile's loss and count of correct predictions go to
    ``ws.tile_stats[tile]``, its gradient (``GRADIENT`` mode) to
    ``ws.tile_gradients[tile]``; the batch's totals are
    :func:`~.batch.batch_totals` of all tiles.
    """
    kernels, model, data, ws = dereference(shared)
    # Arguments stay alive for the call: no need to count references to them.
    index = untracked(index)
    layout = model.layout
    r0 = tile * ws.tile_rows
    r1 = min(index.shape[0], r0 + ws.tile_rows)
    forward_pass(kernels, model, data.inputs, index, ws, r0, r1, dropout_key, mode == GRADIENT)
    if mode == FORWARD:
        return
    last = layout.kinds.shape[0]
    out_z = rows(ws, ws.preactivations, layout, last, r0, r1)
    out_a = rows(ws, ws.activations, layout, last, r0, r1)
    if mode == GRADIENT:
        delta = rows(ws, ws.deltas, layout, last, r0, r1)
    else:
        delta = rows(ws, ws.deltas, layout, last, np.int64(0), np.int64(0))
    loss_sum, correct = call_entry(kernels.loss, (out_z, out_a, data, index[r0:r1], scale, delta), (0.0, 0.0))
    ws.tile_stats[tile, 0] = loss_sum
    ws.tile_stats[tile, 1] = correct
    if mode == GRADIENT:
        backward_pass(kernels, model, ws, index, r0, r1, ws.tile_gradients[tile], dropout_key)


@njit(**INLINED_KERNEL)
def forward_pass(kernels, model, inputs, index, ws, r0, r1, dropout_key, backward_follows=True):
    """Gather inputs ``index[r0:r1]`` into the first block and run every layer's forward kernel and activation.

    With ``dropout_key >= 0`` (training), the activation blocks that have a
    dropout rate are masked with the key's masks. Without
    ``backward_follows``, a dense first layer reads rows that lie in order
    (a prediction's) where they are, uncopied, and the layers' kinds run
    their inference kernels, which keep nothing for a backward pass.
    """
    layout = model.layout
    block = rows(ws, ws.activations, layout, np.int64(0), r0, r1)
    masked = dropout_key >= 0 and layout.dropout[0] > 0
    if backward_follows or masked or layout.kinds[0] != DENSE:
        x, in_place = block, False
    else:
        # (Copied, they were written by this thread and read by every thread a split product runs on: one
        # example through W1's network took a tenth longer.)
        x, in_place = rows_in_place(inputs, index, r0, r1, block)
    if not in_place:
        gather_rows(inputs, index, r0, r1, block)
    if masked:
        call_entry(kernels.dropout_masks, (block, index[r0:r1], dropout_key, np.int64(0), layout.dropout[0]), None)
    # The batch's only tile runs in the calling thread (see .batch.run_tiles): its large products may use the others.
    alone = ws.split_alone and index.shape[0] <= ws.tile_rows
    for layer in range(layout.kinds.shape[0]):
        if layout.kinds[layer] == DENSE:
            dense_forward(kernels, model, ws, np.int64(layer), r0, r1, x, alone)
        else:
            arguments = (kernels, model, ws, np.int64(layer), r0, r1)
            kernel = kernels.layer_forward[layer] if backward_follows else kernels.layer_inference[layer]
            call_entry(kernel, arguments, None)
        z = rows(ws, ws.preactivations, layout, layer + 1, r0, r1)
        a = rows(ws, ws.activations, layout, layer + 1, r0, r1)
        call_entry(kernels.forward[layer], (z, a, layout.alphas[layer]), None)
        if dropout_key >= 0 and layout.dropout[layer + 1] > 0:
            rate = layout.dropout[layer + 1]
            call_entry(kernels.dropout_masks, (a, index[r0:r1], dropout_key, layer + 1, rate), None)
        x = a  # (the next layer's inputs)


@njit(**INLINED_KERNEL)
def gather_rows(inputs, index, r0, r1, block):
    """Copy the rows ``inputs[index[r0:r1]]`` into ``block``, the tile's first block."""
    for r in range(r1 - r0):
        source = inputs[index[r0 + r]]
        target = block[r]
        for j in range(block.shape[1]):
            target[j] = source[j]


@njit(**INLINED_KERNEL)
def backward_pass(kernels, model, ws, index, r0, r1, grad, dropout_key):
    """Back-propagate the output delta of rows ``r0:r1`` through every layer; write their gradient into ``grad``.

    ``ws.deltas`` must hold the loss's delta for these rows. Each layer's
    delta is multiplied by its activation's derivative before its kind's
    backward kernel runs; the delta passed back is multiplied by the dropout
    mask of the forward pass, if any.
    """
    layout = model.layout
    for layer in range(layout.kinds.shape[0] - 1, -1, -1):
        # ∂loss/∂a of the layer's outputs (the loss's delta for the last) times f': ∂loss/∂z.
        d = rows(ws, ws.deltas, layout, layer + 1, r0, r1)
        z = rows(ws, ws.preactivations, layout, layer + 1, r0, r1)
        a = rows(ws, ws.activations, layout, layer + 1, r0, r1)
        call_entry(kernels.derivative[layer], (d, z, a, layout.alphas[layer]), None)
        if layout.kinds[layer] == DENSE:
            dense_backward(kernels, model, ws, np.int64(layer), r0, r1, grad)
        else:
            arguments = (kernels, model, ws, np.int64(layer), r0, r1, grad)
            call_entry(kernels.layer_backward[layer], arguments, None)
        if layer > 0 and dropout_key >= 0 and layout.dropout[layer] > 0:
            d_prev = rows(ws, ws.deltas, layout, layer, r0, r1)
            a_prev = rows(ws, ws.activations, layout, layer, r0, r1)
            rate = layout.dropout[layer]
            call_entry(kernels.dropout_undo, (d_prev, a_prev, index[r0:r1], dropout_key, layer, rate), None)


def network_kernels(model, data, ws, meanwhile=(), also_in_background=(), lone_tiles=False, inference=True):
    """The :class:`~.layout.Kernels` of a network for ``data``: compiles (or loads) those kernels and no others.

    The tile and the layers' kernels, the largest of them, are compiled in
    a second process (see
    :func:`~._numba.background.compiling_in_background`) while this one
    compiles the others and ``meanwhile``: on a first fit the two largest
    parts of the work run at once.

    Parameters
    ----------
    model, data, ws
        The network (a :class:`~.layout.Model`), its data and a workspace,
        as the tile will take them (only their types count).
    meanwhile : list of (kernel, args)
        Kernels to compile (or load) here for the types of ``args`` while
        the tile is compiled.
    also_in_background : list of (kernel, args)
        Kernels to compile in the second process after the tile.
    lone_tiles : bool
        Whether batches of one tile are what the kernels will mostly run
        (predictions of one example, training with batches of one): then a
        network with a dense product of ``SPLIT_COLUMNS_WORK`` multiply-adds
        a row gets the kernel that spreads it over the threads.
    inference : bool
        Whether passes without a backward pass will run on the kernels
        (predictions, evaluations, a loss alone): the layers' inference
        kernels are compiled for them (see :mod:`.kinds`). Without, the
        forward kernels stand in for them: training runs gradient passes
        only, and a first fit then compiles nothing it does not run.
    """
    layout = model.layout
    split = lone_tiles and ws.split_alone and _splits_products(layout)
    key = (
        split,
        type_key((model, data, ws)),
        layout.kinds.tobytes(),
        layout.activations.tobytes(),
        int(layout.loss),
        per_step_output(layout),
        bool(layout.dropout.any()),
        inference,
        tuple((kernel, type_key(args)) for kernel, args in (*meanwhile, *also_in_background)),
    )
    kernels = _made.get(key)
    if kernels is None:
        placeholder = placeholder_kernels(layout, model.params.dtype, data)
        index = np.zeros(1, dtype=np.int64)
        tile = (Reference((placeholder, model, data, ws)), np.int64(GRADIENT), index, 0.0, 0, 0)
        forward, inference_jobs, backward = _layer_jobs(placeholder, model, ws)
        if not inference:
            inference_jobs = forward
        own_inference = [job for job, twin in zip(inference_jobs, forward) if job[0] is not twin[0]]
        layers = [job for job in forward + own_inference + backward if job[0] is not None]
        with compiling_in_background([(run_tile, tile), *layers, *also_in_background]):
            kernels = _kernels(layout, model.params.dtype, data, entry, split)
            for kernel, args in meanwhile:
                compile_for(kernel, *args)
        kernels = _made[key] = kernels._replace(
            tile=entry(run_tile, *tile),
            layer_forward=np.stack([entry(kernel, *args) for kernel, args in forward]),
            layer_inference=np.stack([entry(kernel, *args) for kernel, args in inference_jobs]),
            layer_backward=np.stack([entry(kernel, *args) for kernel, args in backward]),
        )
    return kernels


# What network_kernels made, by what decides it: a fit of a small network
# would otherwise spend longer finding the types of its buffers than training.
_made = {}


def _layer_jobs(kernels, model, ws):
    """``(kernel, args)`` of each layer's forward, inference and backward kernels: three lists.

    ``(None, args)`` for a dense layer, whose kernels are written into the
    tile (:func:`entry` makes :data:`NO_KERNEL` of them); a kind without an
    inference kernel has its forward kernel's job there too.
    """
    grad = ws.tile_gradients[0]
    kinds = [None if kind == DENSE else LAYER_KERNELS[int(kind)] for kind in model.layout.kinds]
    args = (kernels, model, ws, np.int64(0), 0, 0)
    forward = [(kind and kind.forward, args) for kind in kinds]
    inference = [(kind and (kind.inference or kind.forward), args) for kind in kinds]
    backward = [(kind and kind.backward, (*args, grad)) for kind in kinds]
    return forward, inference, backward


def placeholder_kernels(layout, dtype, data):
    """:class:`~.layout.Kernels` of the type of the network's, calling nothing: what kernels taking them compile for."""
    return _kernels(layout, dtype, data, lambda kernel, *args: NO_KERNEL)


def _splits_products(layout):
    """Whether a dense layer's dot-product forward takes ``SPLIT_COLUMNS_WORK`` multiply-adds or more a row."""
    dots = (layout.kinds == DENSE) & (layout.forward_panels < 0)
    return bool((np.prod(layout.weight_shapes[dots], axis=1) >= SPLIT_COLUMNS_WORK).any())


def _kernels(layout, dtype, data, entry, split=False):
    """The network's :class:`~.layout.Kernels`, each entry made by ``entry`` but the tile's and layers' (NO_KERNEL).

    With ``split``, the kernel that spreads a large dense product over the threads too.
    """
    codes = [int(code) for code in layout.activations]
    output = codes[-1]
    block = np.empty((1, 1), dtype=dtype)  # a block of rows of a layer, as the tile views it
    index = np.empty(1, dtype=np.int64)
    activation = (block, block, 0.0)
    derivative = (block, block, block, 0.0)
    int64 = np.int64(0)
    dropout = bool(layout.dropout.any())
    # The mean squared error's delta is with respect to the output; other
    # losses (and mse of a softmax output) give it with respect to z.
    output_derivative = activations.DERIVATIVE[output] if layout.loss == MSE and output != activations.SOFTMAX else None
    no_layers = np.stack([NO_KERNEL] * len(codes))
    return Kernels(
        tile=NO_KERNEL,
        layer_forward=no_layers,
        layer_inference=no_layers,
        layer_backward=no_layers,
        forward=np.stack(
            [
                NO_KERNEL if applies_activation(layout, layer) else entry(activations.FORWARD[code], *activation)
                for layer, code in enumerate(codes)
            ]
        ),
        derivative=np.stack(
            [entry(activations.DERIVATIVE[code], *derivative) for code in codes[:-1]]
            + [entry(output_derivative, *derivative)]
        ),
        loss=entry(loss_kernel(layout.loss, output, per_step_output(layout)), block, block, data, index, 0.0, block),
        dropout_masks=entry(apply_dropout, block, index, int64, int64, 0.0) if dropout else NO_KERNEL,
        dropout_undo=entry(undo_dropout, block, block, index, int64, int64, 0.0) if dropout else NO_KERNEL,
        split_product=entry(parallel_columns_matmul_nt, block, block, block) if split else NO_KERNEL,
    )


def per_step_output(layout):
    """Whether the output is a softmax per step (its alpha is minus the width of a step, see :mod:`.activations`)."""
    return bool(layout.activations[-1] == activations.SOFTMAX and layout.alphas[-1] < 0)


def compile_for(kernel, *args):
    """Compile (or load) ``kernel`` for the types of ``args``, as a call with them would."""
    kernel.compile(argument_types(args))
