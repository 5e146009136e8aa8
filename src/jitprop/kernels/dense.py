"""Forward and backward passes of a stack of dense layers over a tile of rows.

Both functions work on rows ``r0:r1`` of a batch and touch only those rows of
the workspace (and the tile's own panel scratch), so tiles can run in
parallel. The backward pass writes the tile's whole gradient (every layer's
``dWt`` and ``db``) into the buffer it is given.

Products run from packed panels (:mod:`.panels`) where their output rows are
wide enough to fill most of a 16-wide block: ``MIN_PANEL_INPUTS`` inputs for
the two gradient products, whose plain-loop fallbacks are slow. The forward
product runs from panels only for layers with at least ``MIN_PANEL_OUTPUTS``
outputs and fewer than ``MAX_DOT_INPUTS`` inputs: over longer rows the
dot-product kernel (``matmul_nt``) runs as fast and needs no packed copy of
the weights, which would cost a pass over them after every update. Panels of
weights are packed by :func:`pack_weights` after every update.
"""

import numpy as np
from numba import njit

from ._numba.options import INLINED_KERNEL, KERNEL
from .layout import bias, rows, view2d, weights
from .matmul import matmul_nn, matmul_nt
from ._numba.linking import call, call_entry
from ._numba.parallel import run_tasks
from .panels import (
    MAX_PANEL_COLUMNS,
    PANEL_ROWS,
    columns_for_itemsize,
    matmul_packed_b,
    matmul_tn,
    pack_column_panel,
    pack_row_panel,
    panel_columns,
    round_up,
)
from .tuning import MAX_DOT_INPUTS, MIN_PANEL_INPUTS, MIN_PANEL_OUTPUTS, PACK_TASKS, PARALLEL_PACK


def parameter_count(fan_in, fan_out):
    """Weights and biases of a dense layer: ``Wt`` (fan_out, fan_in) and ``b`` (fan_out,)."""
    return fan_out * fan_in + fan_out


def flops(fan_in, fan_out, activation_flops, first, output):
    """Forward and backward FLOPs per example of a dense layer, as :func:`dense_forward` and :func:`dense_backward` run.

    Forward: ``2·fan_in·fan_out`` for the product, ``fan_out`` for the bias,
    ``c_f·fan_out`` for the activation. Backward: ``2·fan_in·fan_out`` for
    ``dWt``, ``fan_out`` for ``db``, ``2·fan_in·fan_out`` for the delta of
    the layer before (none for the ``first`` layer) and ``c_d·fan_out`` for
    the activation's derivative (none at the ``output``, whose delta the loss
    gives).

    Parameters
    ----------
    activation_flops : tuple (c_f, c_d)
        FLOPs per unit of the activation and of its derivative.
    """
    product = 2 * fan_in * fan_out
    forward = product + fan_out + activation_flops[0] * fan_out
    backward = product + fan_out + (0 if first else product) + (0 if output else activation_flops[1] * fan_out)
    return forward, backward


def forward_from_panels(fan_in, fan_out):
    """Whether the forward product of a layer runs from packed panels (else as dot products)."""
    return fan_out >= MIN_PANEL_OUTPUTS and fan_in < MAX_DOT_INPUTS


def weight_panel_offsets(sizes, itemsize):
    """Where :func:`pack_weights` puts each layer's panels, and how much room they take.

    Returns ``(forward, backward, total)``: per layer, the start of its
    forward panels (``Wt`` packed by rows) and of its input-gradient panels
    (``Wt`` packed by columns) in the packed buffer, or -1 where the product
    runs as a plain loop instead (and the first layer, which needs no input
    gradient).
    """
    columns = columns_for_itemsize(itemsize)
    forward = np.full(len(sizes) - 1, -1, dtype=np.int64)
    backward = np.full(len(sizes) - 1, -1, dtype=np.int64)
    total = 0
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        fan_in, fan_out = int(fan_in), int(fan_out)
        if forward_from_panels(fan_in, fan_out):
            forward[layer] = total
            total += fan_in * round_up(fan_out, columns)
        if layer > 0 and fan_in >= MIN_PANEL_INPUTS:
            backward[layer] = total
            total += fan_out * round_up(fan_in, columns)
    return forward, backward, total


def tile_panel_size(sizes, tile_rows):
    """Scratch a tile of ``tile_rows`` rows needs to pack its side of any product."""
    rows_packed = round_up(tile_rows, PANEL_ROWS)
    need = 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        fan_in, fan_out = int(fan_in), int(fan_out)
        need = max(need, max(fan_in, fan_out) * rows_packed)
        need = max(need, tile_rows * (round_up(fan_out, PANEL_ROWS) + round_up(fan_in, MAX_PANEL_COLUMNS)))
    return need


@njit(**INLINED_KERNEL)
def dense_forward(kernels, layout, params, packed, inputs, index, ws, r0, r1, dropout_key):
    """Gather inputs ``index[r0:r1]`` and run every layer: ``a = f(a_prev @ W + b)``.

    With ``dropout_key >= 0`` (training), the activation blocks that have a
    dropout rate are masked with the key's masks.
    """
    panels = ws.panels[r0 // ws.tile_rows]
    x = rows(ws, ws.activations, layout, np.int64(0), r0, r1)
    for r in range(r1 - r0):
        source = inputs[index[r0 + r]]
        target = x[r]
        for j in range(x.shape[1]):
            target[j] = source[j]
    if dropout_key >= 0 and layout.dropout[0] > 0:
        call_entry(kernels.dropout_masks, (x, index[r0:r1], dropout_key, np.int64(0), layout.dropout[0]), None)
    for layer in range(layout.activations.shape[0]):
        x = rows(ws, ws.activations, layout, layer, r0, r1)
        z = rows(ws, ws.preactivations, layout, layer + 1, r0, r1)
        a = rows(ws, ws.activations, layout, layer + 1, r0, r1)
        if layout.forward_panels[layer] >= 0:
            call(matmul_packed_b, (x, packed[layout.forward_panels[layer] :], panels, z))
        else:
            call(matmul_nt, (x, weights(layout, params, layer), z))
        b = bias(layout, params, layer)
        for r in range(z.shape[0]):
            zr = z[r]
            for j in range(zr.shape[0]):
                zr[j] += b[j]
        call_entry(kernels.forward[layer], (z, a, layout.alphas[layer]), None)
        if dropout_key >= 0 and layout.dropout[layer + 1] > 0:
            rate = layout.dropout[layer + 1]
            call_entry(kernels.dropout_masks, (a, index[r0:r1], dropout_key, layer + 1, rate), None)


@njit(**INLINED_KERNEL)
def dense_backward(kernels, layout, params, packed, ws, index, r0, r1, grad, dropout_key):
    """Back-propagate the output delta of rows ``r0:r1`` and write their gradient.

    ``ws.deltas`` must hold ``∂loss/∂z`` of the output layer for these rows.
    For each layer, from the last: ``dWt = Dᵀ A`` (from packed panels, see
    :mod:`.panels`) and ``db = Σ D`` over the rows, then (except for the first layer)
    ``D_prev = (D W) ⊙ mask ⊙ f'(z_prev)``
    where ``mask`` is the dropout mask of the forward pass, if any.
    """
    panels = ws.panels[r0 // ws.tile_rows]
    for layer in range(layout.activations.shape[0] - 1, -1, -1):
        fan_in = layout.sizes[layer]
        fan_out = layout.sizes[layer + 1]
        d = rows(ws, ws.deltas, layout, layer + 1, r0, r1)
        start = layout.weight_offsets[layer]
        grad_w = view2d(grad, start, fan_out, fan_in)
        a = rows(ws, ws.activations, layout, layer, r0, r1)
        if fan_in >= MIN_PANEL_INPUTS:
            call(matmul_tn, (d, a, panels, grad_w))
        else:
            call(matmul_nn, (d.T, a, grad_w))
        grad_b = grad[start + fan_out * fan_in : start + fan_out * (fan_in + 1)]
        zero = grad_b.dtype.type(0)
        for j in range(fan_out):
            grad_b[j] = zero
        for r in range(d.shape[0]):
            dr = d[r]
            for j in range(fan_out):
                grad_b[j] += dr[j]
        if layer > 0:
            d_prev = rows(ws, ws.deltas, layout, layer, r0, r1)
            a_prev = rows(ws, ws.activations, layout, layer, r0, r1)
            if layout.backward_panels[layer] >= 0:
                call(matmul_packed_b, (d, packed[layout.backward_panels[layer] :], panels, d_prev))
            else:
                call(matmul_nn, (d, weights(layout, params, layer), d_prev))
            if dropout_key >= 0 and layout.dropout[layer] > 0:
                rate = layout.dropout[layer]
                call_entry(kernels.dropout_undo, (d_prev, a_prev, index[r0:r1], dropout_key, layer, rate), None)
            z_prev = rows(ws, ws.preactivations, layout, layer, r0, r1)
            alpha = layout.alphas[layer - 1]
            call_entry(kernels.derivative[layer - 1], (d_prev, z_prev, a_prev, alpha), None)


@njit(**KERNEL)
def pack_weights(layout, params, packed, chunked):
    """Pack every layer's ``Wt`` into the panels its forward and input-gradient products read.

    Must run after every change to the parameters. The panels of large
    networks are packed in parallel, one panel per task (a single parallel
    loop over all layers' panels). ``chunked`` is
    :func:`~.batch.chunking` of the parameters: with None (a network too
    small for parallel packing), only the serial code is compiled.
    """
    columns = panel_columns(packed)
    n_panels = 0
    for layer in range(layout.activations.shape[0]):
        if layout.forward_panels[layer] >= 0:
            n_panels += -(-layout.sizes[layer + 1] // columns)
        if layout.backward_panels[layer] >= 0:
            n_panels += -(-layout.sizes[layer] // columns)
    if chunked is None or packed.shape[0] < PARALLEL_PACK:
        for panel in range(n_panels):
            _pack_panel(layout, params, packed, columns, panel)
    else:
        # Each task packs every tasks-th panel: neighbouring panels are alike
        # in size, so the tasks' shares are too (contiguous ranges of panels
        # gave one of two threads a wide layer's panels and the other a
        # narrow one's, a hundred times smaller).
        tasks = min(n_panels, PACK_TASKS)
        run_tasks(_pack_every, tasks, (layout, params, packed, columns, n_panels, tasks))


@njit(**KERNEL)
def _pack_every(layout, params, packed, columns, n_panels, stride, first):
    """Pack panels ``first``, ``first + stride``, ... of :func:`pack_weights`."""
    for panel in range(first, n_panels, stride):
        _pack_panel(layout, params, packed, columns, panel)


@njit(**KERNEL)
def _pack_panel(layout, params, packed, columns, panel):
    """Pack panel number ``panel``, counting every layer's forward panels, then its input-gradient panels."""
    for layer in range(layout.activations.shape[0]):
        wt = weights(layout, params, layer)
        fan_out, fan_in = wt.shape
        start = layout.forward_panels[layer]
        if start >= 0:
            count = -(-fan_out // columns)  # panels of `columns` outputs, (fan_in, columns) each
            if panel < count:
                pack_row_panel(wt, columns, panel, view2d(packed, start + panel * fan_in * columns, fan_in, columns))
                return
            panel -= count
        start = layout.backward_panels[layer]
        if start >= 0:
            count = -(-fan_in // columns)  # panels of `columns` inputs, (fan_out, columns) each
            if panel < count:
                target = view2d(packed, start + panel * fan_out * columns, fan_out, columns)
                pack_column_panel(wt, columns, panel, target)
                return
            panel -= count
