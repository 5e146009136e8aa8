"""A tiny network's batch, written into the epoch's loop: what the tile does, without its generality.

On a network of a few units trained in small batches (the 2-2-2 network
of W4, one example per update), the tile's own work is a few dozen
multiply-adds, and what surrounds it weighs more: the call through the
tile's entry, reading the network's buffers from their reference, each
activation called through an entry of its own. :func:`tiny_batch` does
the tile's work for such a network in the epoch's loop itself: the
layers' products by the dense kind's written-out loops (which are all a
tiny network's products use, and all that the epoch then compiles), every
element-wise activation and its derivative unit by unit where they are
used (each rounds the same there as in its kernel:
:data:`~._numba.options.AS_WRITTEN`), the mean squared error (the loss of
the seed's worked example) written in too, softmax and the other losses
through their entries, as the tile calls them. (The other losses written
in as well, a tiny network's first fit took 6.8 s longer to compile: the
epoch's code held all of them.) The sums, the order of every operation and
so the bits are those of :func:`~.tile.run_tile`.

A network trains this way (:func:`trains_tiny`) when every layer is dense
with products small enough to be written out (``SMALL_PRODUCT``
multiply-adds a batch, fewer than ``MIN_PANEL_INPUTS`` inputs), every
batch is one tile, and nothing between the layers needs the tile: no
dropout.
"""

import numpy as np
from numba import njit

from ._numba.linking import call_entry
from ._numba.options import INLINED_KERNEL
from .activations import SOFTMAX, activation_value, derivative_value
from .dense import writes_out, written_out_backward, written_out_forward
from .kinds import DENSE
from .losses import gives_mse_loss, mse_loss
from .layout import rows
from .tile import gather_rows


def trains_tiny(layout, batch_size, tile_rows):
    """Whether a network of ``layout`` trains batches of ``batch_size`` (tiles of ``tile_rows``) by :func:`tiny_batch`.

    Every layer dense and one that :func:`~.dense.writes_out` its products
    over a batch; every batch one tile; no dropout.
    """
    if batch_size > tile_rows or layout.dropout.any() or (layout.kinds != DENSE).any():
        return False
    return all(
        writes_out(shape, forward, backward, batch_size)
        for shape, forward, backward in zip(layout.weight_shapes, layout.forward_panels, layout.backward_panels)
    )


@njit(**INLINED_KERNEL)
def tiny_batch(kernels, model, data, ws, index, scale):
    """The gradient, loss and correct predictions of the batch ``index``: :func:`~.tile.run_tile` of its one tile.

    For a network that :func:`trains_tiny`. Writes ``ws.tile_stats[0]``
    and ``ws.tile_gradients[0]`` as the tile would.
    """
    layout, params, _ = model
    n_layers = layout.kinds.shape[0]
    r0 = np.int64(0)
    r1 = np.int64(index.shape[0])
    x = rows(ws, ws.activations, layout, r0, r0, r1)
    gather_rows(data.inputs, index, r0, r1, x)
    for layer in range(n_layers):
        z = written_out_forward(layout, params, ws, layer, r0, r1, x)
        a = rows(ws, ws.activations, layout, layer + 1, r0, r1)
        code = layout.activations[layer]
        alpha = layout.alphas[layer]
        if code != SOFTMAX:
            for r in range(r1):
                for j in range(z.shape[1]):
                    a[r, j] = activation_value(code, z[r, j], alpha)
        else:
            call_entry(kernels.forward[layer], (z, a, alpha), None)
        x = a
    out_z = rows(ws, ws.preactivations, layout, n_layers, r0, r1)
    out_a = rows(ws, ws.activations, layout, n_layers, r0, r1)
    delta = rows(ws, ws.deltas, layout, n_layers, r0, r1)
    if gives_mse_loss(layout):
        loss_sum, correct = mse_loss(out_z, out_a, data, index, scale, delta)
    else:
        loss_sum, correct = call_entry(kernels.loss, (out_z, out_a, data, index, scale, delta), (0.0, 0.0))
    ws.tile_stats[0, 0] = loss_sum
    ws.tile_stats[0, 1] = correct
    grad = ws.tile_gradients[0]
    for layer in range(n_layers - 1, -1, -1):
        # (None for an output whose loss gives ∂loss/∂z: see .tile._kernels.)
        if kernels.derivative[layer, 0] != 0:
            d = rows(ws, ws.deltas, layout, layer + 1, r0, r1)
            z = rows(ws, ws.preactivations, layout, layer + 1, r0, r1)
            a = rows(ws, ws.activations, layout, layer + 1, r0, r1)
            code = layout.activations[layer]
            alpha = layout.alphas[layer]
            for r in range(r1):
                for j in range(z.shape[1]):
                    d[r, j] = derivative_value(code, d[r, j], z[r, j], a[r, j], alpha)
        written_out_backward(layout, params, ws, layer, r0, r1, grad)
