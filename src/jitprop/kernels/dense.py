"""Forward and backward passes of a stack of dense layers over a tile of rows.

Both functions work on rows ``r0:r1`` of a batch and touch only those rows of
the workspace, so tiles can run in parallel. The backward pass writes the
tile's whole gradient (every layer's ``dWt`` and ``db``) into the buffer it is
given.
"""

from numba import njit, prange

from .._numba_options import KERNEL, PARALLEL_KERNEL
from .activations import activate, multiply_by_derivative
from .dropout import apply_dropout, undo_dropout
from .layout import bias, mirrored_weights, rows, view2d, weights
from .matmul import matmul_nt, transpose
from .panels import matmul_tn


@njit(**KERNEL)
def dense_forward(layout, params, inputs, index, ws, r0, r1, dropout_key):
    """Gather inputs ``index[r0:r1]`` and run every layer: ``a = f(a_prev @ W + b)``.

    With ``dropout_key >= 0`` (training), the activation blocks that have a
    dropout rate are masked with the key's masks.
    """
    x = rows(ws, ws.activations, layout, 0, r0, r1)
    for r in range(r1 - r0):
        source = inputs[index[r0 + r]]
        target = x[r]
        for j in range(x.shape[1]):
            target[j] = source[j]
    if dropout_key >= 0 and layout.dropout[0] > 0:
        apply_dropout(x, index[r0:r1], dropout_key, 0, layout.dropout[0])
    for layer in range(layout.activations.shape[0]):
        x = rows(ws, ws.activations, layout, layer, r0, r1)
        z = rows(ws, ws.preactivations, layout, layer + 1, r0, r1)
        a = rows(ws, ws.activations, layout, layer + 1, r0, r1)
        matmul_nt(x, weights(layout, params, layer), z, False)
        b = bias(layout, params, layer)
        for r in range(z.shape[0]):
            zr = z[r]
            for j in range(zr.shape[0]):
                zr[j] += b[j]
        activate(z, a, layout.activations[layer], layout.alphas[layer])
        if dropout_key >= 0 and layout.dropout[layer + 1] > 0:
            apply_dropout(a, index[r0:r1], dropout_key, layer + 1, layout.dropout[layer + 1])


@njit(**KERNEL)
def dense_backward(layout, params, mirror, ws, index, r0, r1, grad, dropout_key):
    """Back-propagate the output delta of rows ``r0:r1`` and write their gradient.

    ``ws.deltas`` must hold ``∂loss/∂z`` of the output layer for these rows.
    For each layer, from the last: ``dWt = Dᵀ A`` (from packed panels, see
    :mod:`.panels`) and ``db = Σ D`` over the rows, then (except for the first layer) ``D_prev = (D W) ⊙ mask ⊙ f'(z_prev)``
    where ``mask`` is the dropout mask of the forward pass, if any.
    """
    panels = ws.panels[r0 // ws.tile_rows]
    for layer in range(layout.activations.shape[0] - 1, -1, -1):
        fan_in = layout.sizes[layer]
        fan_out = layout.sizes[layer + 1]
        d = rows(ws, ws.deltas, layout, layer + 1, r0, r1)
        start = layout.weight_offsets[layer]
        grad_w = view2d(grad, start, fan_out, fan_in)
        matmul_tn(d, rows(ws, ws.activations, layout, layer, r0, r1), panels, grad_w)
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
            matmul_nt(d, mirrored_weights(layout, mirror, layer), d_prev, False)
            if dropout_key >= 0 and layout.dropout[layer] > 0:
                undo_dropout(d_prev, a_prev, index[r0:r1], dropout_key, layer, layout.dropout[layer])
            multiply_by_derivative(
                d_prev,
                rows(ws, ws.preactivations, layout, layer, r0, r1),
                a_prev,
                layout.activations[layer - 1],
                layout.alphas[layer - 1],
            )


# Mirrors smaller than this many weights are refreshed serially.
_PARALLEL_MIRROR = 1 << 16
# Rows of Wt transposed per parallel task.
_MIRROR_BAND = 64


@njit(**PARALLEL_KERNEL)
def refresh_mirror(layout, params, mirror):
    """Copy ``W = Wtᵀ`` of every layer but the first into the mirror.

    The first layer needs no input gradient, so it has no mirror. Large
    layers are transposed in bands of rows, in parallel.
    """
    for layer in range(1, layout.activations.shape[0]):
        wt = weights(layout, params, layer)
        w = mirrored_weights(layout, mirror, layer)
        if wt.size < _PARALLEL_MIRROR:
            transpose(wt, w)
            continue
        n_bands = (wt.shape[0] + _MIRROR_BAND - 1) // _MIRROR_BAND
        for band in prange(n_bands):
            lo = band * _MIRROR_BAND
            hi = min(wt.shape[0], lo + _MIRROR_BAND)
            transpose(wt[lo:hi], w[:, lo:hi])
