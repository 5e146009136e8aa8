"""The convolution kind (one or two spatial axes): its forward and backward kernels over a tile of rows, and its counts.

A layer maps an example ``x`` of shape (H, W, C) to ``z`` of shape (H_out,
W_out, C_out) (the geometry of :mod:`.windows`; one spatial axis is H = 1)::

    z[i, j, o] = b[o] + Σ_{u, v, c} W[u, v, c, o] · x[i·sh + u − ph, j·sw + v − pw, c]

with zeros outside ``x``, and ``a = f(z)``. The weights are stored as Keras
lays them out, ``W`` of shape (kh, kw, C, C_out), then ``b``: the flat
weight block is the matrix ``Wm`` (K, C_out) with ``K = kh·kw·C``, which is
the layer's :attr:`~.layout.Layout.weight_shapes` entry (what the L2
penalty counts).

Each tile lowers the windows of a few examples at a time (``CHUNK_ROWS``
positions or one example, whichever is more) into its own scratch, the rows
``P`` (positions, K) of the matrix of windows, so that every product is one
of the matrix kernels (:mod:`.panels`), on a chunk of examples:

* forward:          ``Z = P Wm``     (from the packed panels of ``Wm``'s columns)
* weight gradient:  ``dWm = Pᵀ D``   (summed over the chunks of the tile, in order)
* input gradient:   ``dP = D Wmᵀ``   (from the packed panels of ``Wm``'s rows), then
  each row of ``dP`` added back at the input positions its window read.

``Wm`` is stored (K, C_out), the transpose of a dense layer's ``Wt``
(outputs, inputs): the panels :func:`.kinds.panel_offsets` packs *by
columns* (at ``backward_panels``) are the ones the forward product reads, and
those packed *by rows* (at ``forward_panels``) the input gradient's. The
first layer passes no gradient back and has none of the latter. No copy of
the windows of a whole batch is made: the scratch is sized by the chunk.

Layers of up to 32 filters are of a kind of their own (:data:`POSITION_KERNELS`,
chosen by :func:`by_positions`), whose products run with the output
positions along the vectors instead (:mod:`.position_panels`).
"""

from numba import njit

from ._numba.linking import call
from ._numba.options import INLINED_KERNEL, KERNEL
from .activations import IDENTITY, RELU
from .layout import LayerKernels, untracked, view2d
from .panels import MAX_PANEL_COLUMNS, PANEL_ROWS, matmul_packed_b, matmul_tn, round_up
from . import position_panels
from .tuning import CHUNK_ROWS, POSITION_PANEL_FILTERS
from .windows import C, H, H_OUT, KH, KW, PH, PW, SH, SW, W, W_OUT


def parameter_count(window, channels, filters):
    """Weights and biases of a convolution: ``W`` (kh·kw·C, C_out) and ``b`` (C_out,)."""
    return window * channels * filters + filters


def flops(window, channels, filters, positions, activation_flops, first, output):
    """Forward and backward FLOPs per example, as :func:`forward` and :func:`backward` run them.

    With ``K = kh·kw·C`` (``window·channels``) and ``n = positions·C_out``
    outputs: forward ``2·K·n`` for the product, ``n`` for the bias and
    ``c_f·n`` for the activation; backward ``2·K·n`` for ``dW``, ``n`` for
    ``db``, ``2·K·n`` for the input gradient (none for the ``first`` layer)
    and ``c_d·n`` for the activation's derivative (none at the ``output``).
    The lowering of the windows and the adding back of ``dP`` are copies and
    additions of O(K·positions), not counted, as a dense layer's packing is not.
    """
    outputs = positions * filters
    product = 2 * window * channels * outputs
    forward = product + outputs + activation_flops[0] * outputs
    backward = product + outputs + (0 if first else product) + (0 if output else activation_flops[1] * outputs)
    return forward, backward


def panels(weight_shape, first, training=True):
    """Which panels of ``Wm`` (K, C_out) the products read: by rows for the input gradient, by columns forward.

    See :func:`.kinds.panel_offsets` (the first layer has no input gradient).
    """
    return not first, True


def panels_by_positions(weight_shape, first, training=True):
    """A layer by positions packs the panels of its weights itself, at each call: none."""
    return False, False


@njit(**INLINED_KERNEL)
def examples_per_chunk(positions, tile_rows):
    """Examples whose windows a tile lowers at a time: ``CHUNK_ROWS`` rows' worth, at least one, at most a tile."""
    return min(tile_rows, max(1, CHUNK_ROWS // positions))


def scratch_size(depth, filters, rows):
    """Elements of scratch for a chunk of ``rows`` windows of ``depth`` (K) values and ``filters`` outputs.

    ``dWm`` of a chunk (depth, filters), the windows (rows, depth), then the
    largest of what the three products pack of their other operands.
    """
    forward = depth * round_up(rows, PANEL_ROWS)
    weight_gradient = rows * (round_up(depth, PANEL_ROWS) + round_up(filters, MAX_PANEL_COLUMNS))
    input_gradient = filters * round_up(rows, PANEL_ROWS)
    return depth * filters + rows * depth + max(forward, weight_gradient, input_gradient)


def tile_scratch(layout, layer, tile_rows):
    """Elements of a tile's scratch the layer needs (:func:`scratch_size`, :func:`.position_panels.scratch_size`)."""
    geometry = layout.geometry[layer]
    positions = int(geometry[H_OUT] * geometry[W_OUT])
    depth, filters = (int(size) for size in layout.weight_shapes[layer])
    rows_ = examples_per_chunk.py_func(positions, tile_rows) * positions
    return scratch_size(depth, filters, rows_)


def tile_scratch_by_positions(layout, layer, tile_rows):
    """Elements of a tile's scratch a layer by positions needs (:func:`.position_panels.scratch_size`)."""
    depth, filters = (int(size) for size in layout.weight_shapes[layer])
    return position_panels.scratch_size(layout.geometry[layer], depth, filters, tile_rows)


def by_positions(filters):
    """Whether a layer of ``filters`` outputs is of the kind that runs its products by :mod:`.position_panels`.

    See :data:`.tuning.POSITION_PANEL_FILTERS`. The layer chooses its kind
    (``kernel_code``), so that a network compiles only the kernels it runs.
    """
    return filters <= POSITION_PANEL_FILTERS


def positions(layout, layer):
    """Output positions of an example: each weight applies at every one of them."""
    geometry = layout.geometry[layer]
    return int(geometry[H_OUT] * geometry[W_OUT])


@njit(**KERNEL)
def lower_windows(x, geometry, patches):
    """The windows of the examples ``x`` (rows of H·W·C) as the rows of ``patches`` (examples·positions, K).

    ``patches[e·P + i·W_out + j, (u·kw + v)·C + c] = x[e, i·sh + u − ph, j·sw + v − pw, c]``,
    0 outside the input (``P = H_out·W_out``).
    """
    height, width, channels = geometry[H], geometry[W], geometry[C]
    h_out, w_out, kh, kw = geometry[H_OUT], geometry[W_OUT], geometry[KH], geometry[KW]
    sh, sw, ph, pw = geometry[SH], geometry[SW], geometry[PH], geometry[PW]
    zero = patches.dtype.type(0)
    row = 0
    for e in range(x.shape[0]):
        xe = x[e]
        for i in range(h_out):
            for j in range(w_out):
                target = patches[row]
                row += 1
                # The window's columns inside the input: v0 <= v < v1, one contiguous run of each row.
                left = j * sw - pw
                v0 = max(0, -left)
                v1 = min(kw, width - left)
                for u in range(kh):
                    at = u * kw * channels
                    hh = i * sh + u - ph
                    if hh < 0 or hh >= height or v0 >= v1:
                        for k in range(kw * channels):
                            target[at + k] = zero
                        continue
                    for k in range(v0 * channels):
                        target[at + k] = zero
                    start = (hh * width + left + v0) * channels
                    run = (v1 - v0) * channels
                    source = xe[start : start + run]
                    to = at + v0 * channels
                    for k in range(run):
                        target[to + k] = source[k]
                    for k in range(v1 * channels, kw * channels):
                        target[at + k] = zero


@njit(**KERNEL)
def raise_windows(patches, geometry, x):
    """Add each row of ``patches`` back at the input positions its window reads: the transpose of :func:`lower_windows`.

    ``x`` (examples, H·W·C) is overwritten with the sums (zeros where no window reads).
    """
    height, width, channels = geometry[H], geometry[W], geometry[C]
    h_out, w_out, kh, kw = geometry[H_OUT], geometry[W_OUT], geometry[KH], geometry[KW]
    sh, sw, ph, pw = geometry[SH], geometry[SW], geometry[PH], geometry[PW]
    zero = x.dtype.type(0)
    row = 0
    for e in range(x.shape[0]):
        xe = x[e]
        for k in range(xe.shape[0]):
            xe[k] = zero
        for i in range(h_out):
            for j in range(w_out):
                source = patches[row]
                row += 1
                left = j * sw - pw
                v0 = max(0, -left)
                v1 = min(kw, width - left)
                if v0 >= v1:
                    continue
                for u in range(kh):
                    hh = i * sh + u - ph
                    if hh < 0 or hh >= height:
                        continue
                    start = (hh * width + left + v0) * channels
                    run = (v1 - v0) * channels
                    target = xe[start : start + run]
                    at = (u * kw + v0) * channels
                    for k in range(run):
                        target[k] += source[at + k]


@njit(**INLINED_KERNEL)
def _shape(layout, layer):
    """A convolution's window geometry, ``Wm``'s (depth, filters), its input and output widths and its start."""
    return (
        layout.geometry[layer],
        layout.weight_shapes[layer, 0],
        layout.weight_shapes[layer, 1],
        layout.sizes[layer],
        layout.sizes[layer + 1],
        layout.weight_offsets[layer],
    )


@njit(**KERNEL)
def forward(kernels, model, ws, layer, r0, r1):
    """``a = f(z)``, ``z = P Wm + b`` for rows ``r0:r1`` of ``layer`` (the forward kernel of :mod:`.kinds`)."""
    # Arguments stay alive for the call: no need to count references to them.
    kernels, model, ws = untracked((kernels, model, ws))
    layout, params, packed = model
    scratch = ws.panels[r0 // ws.tile_rows]
    geometry, depth, filters, width_in, width_out, start = _shape(layout, layer)
    positions = geometry[H_OUT] * geometry[W_OUT]
    chunk = examples_per_chunk(positions, ws.tile_rows)
    b = params[start + depth * filters : start + depth * filters + filters]
    weight_panels = packed[layout.backward_panels[layer] :]
    at = depth * filters  # past dWm's room (see scratch_size)
    for e0 in range(r0, r1, chunk):
        e1 = min(r1, e0 + chunk)
        m = (e1 - e0) * positions
        x = view2d(ws.activations, ws.row_offsets[layer] + e0 * width_in, e1 - e0, width_in)
        patches = view2d(scratch, at, m, depth)
        lower_windows(x, geometry, patches)
        z = view2d(ws.preactivations, ws.row_offsets[layer + 1] + e0 * width_out, m, filters)
        call(matmul_packed_b, (patches, weight_panels, scratch[at + m * depth :], z))
        for r in range(m):
            zr = z[r]
            for o in range(filters):
                zr[o] += b[o]


@njit(**KERNEL)
def backward(kernels, model, ws, layer, r0, r1, grad):
    """Gradient of ``layer`` from the delta of its outputs, rows ``r0:r1`` (the backward kernel of :mod:`.kinds`).

    With ``D = ∂loss/∂z``: ``dWm = Σ Pᵀ D`` over the tile's
    chunks and ``db = Σ D`` over rows and positions; then, except for the
    first layer, ``dP = D Wmᵀ`` added back at the windows' input positions.
    """
    kernels, model, ws, grad = untracked((kernels, model, ws, grad))
    layout, packed = model.layout, model.packed
    scratch = ws.panels[r0 // ws.tile_rows]
    geometry, depth, filters, width_in, width_out, start = _shape(layout, layer)
    positions = geometry[H_OUT] * geometry[W_OUT]
    chunk = examples_per_chunk(positions, ws.tile_rows)
    grad_w = view2d(grad, start, depth, filters)
    grad_b = grad[start + depth * filters : start + depth * filters + filters]
    chunk_w = view2d(scratch, 0, depth, filters)
    at = depth * filters
    zero = grad_w.dtype.type(0)
    for o in range(filters):
        grad_b[o] = zero
    # The rows of D, one per position of each example.
    dz = view2d(ws.deltas, ws.row_offsets[layer + 1] + r0 * width_out, (r1 - r0) * positions, filters)
    if r1 <= r0:  # (no chunk writes dWm)
        for k in range(depth):
            for o in range(filters):
                grad_w[k, o] = zero
    for r in range(dz.shape[0]):
        dr = dz[r]
        for o in range(filters):
            grad_b[o] += dr[o]
    for e0 in range(r0, r1, chunk):
        e1 = min(r1, e0 + chunk)
        m = (e1 - e0) * positions
        x = view2d(ws.activations, ws.row_offsets[layer] + e0 * width_in, e1 - e0, width_in)
        patches = view2d(scratch, at, m, depth)
        lower_windows(x, geometry, patches)
        dz = view2d(ws.deltas, ws.row_offsets[layer + 1] + e0 * width_out, m, filters)
        if e0 == r0:
            call(matmul_tn, (patches, dz, scratch[at + m * depth :], grad_w))
        else:
            call(matmul_tn, (patches, dz, scratch[at + m * depth :], chunk_w))
            for k in range(depth):
                target = grad_w[k]
                source = chunk_w[k]
                for o in range(filters):
                    target[o] += source[o]
    if layer == 0:
        return
    weight_panels = packed[layout.forward_panels[layer] :]
    for e0 in range(r0, r1, chunk):
        e1 = min(r1, e0 + chunk)
        m = (e1 - e0) * positions
        dz = view2d(ws.deltas, ws.row_offsets[layer + 1] + e0 * width_out, m, filters)
        d_patches = view2d(scratch, at, m, depth)
        call(matmul_packed_b, (dz, weight_panels, scratch[at + m * depth :], d_patches))
        d_prev = view2d(ws.deltas, ws.row_offsets[layer] + e0 * width_in, e1 - e0, width_in)
        raise_windows(d_patches, geometry, d_prev)


@njit(**KERNEL)
def forward_by_positions(kernels, model, ws, layer, r0, r1):
    """:func:`forward` by :func:`.position_panels.forward`: for layers :func:`by_positions`.

    Its ``identity`` or ``relu`` activation it applies itself, as the bias
    is added (see :data:`POSITION_KERNELS`): a pass over ``z`` the less.
    """
    kernels, model, ws = untracked((kernels, model, ws))
    layout, params = model.layout, model.params
    geometry, depth, filters, width_in, width_out, start = _shape(layout, layer)
    x = view2d(ws.activations, ws.row_offsets[layer] + r0 * width_in, r1 - r0, width_in)
    rows_ = (r1 - r0) * geometry[H_OUT] * geometry[W_OUT]
    z = view2d(ws.preactivations, ws.row_offsets[layer + 1] + r0 * width_out, rows_, filters)
    a = view2d(ws.activations, ws.row_offsets[layer + 1] + r0 * width_out, rows_, filters)
    wm = view2d(params, start, depth, filters)
    b = params[start + depth * filters : start + depth * filters + filters]
    rectified = layout.activations[layer] == RELU
    position_panels.forward(x, geometry, wm, b, ws.panels[r0 // ws.tile_rows], z, a, rectified)


@njit(**KERNEL)
def backward_by_positions(kernels, model, ws, layer, r0, r1, grad):
    """:func:`backward` by :func:`.position_panels.backward`: for layers :func:`by_positions`."""
    kernels, model, ws, grad = untracked((kernels, model, ws, grad))
    layout, params = model.layout, model.params
    geometry, depth, filters, width_in, width_out, start = _shape(layout, layer)
    grad_wb = view2d(grad, start, depth + 1, filters)  # (the bias's gradient follows the weights')
    zero = grad_wb.dtype.type(0)
    for k in range(depth + 1):
        for o in range(filters):
            grad_wb[k, o] = zero
    x = view2d(ws.activations, ws.row_offsets[layer] + r0 * width_in, r1 - r0, width_in)
    rows_ = (r1 - r0) * geometry[H_OUT] * geometry[W_OUT]
    dz = view2d(ws.deltas, ws.row_offsets[layer + 1] + r0 * width_out, rows_, filters)
    d_prev = view2d(ws.deltas, ws.row_offsets[layer] + r0 * width_in, r1 - r0, width_in)
    wm = view2d(params, start, depth, filters)
    scratch = ws.panels[r0 // ws.tile_rows]
    position_panels.backward(x, geometry, wm, dz, scratch, grad_wb, d_prev, layer == 0)


KERNELS = LayerKernels("conv", forward, backward, tile_scratch, panels, positions=positions, forward_packing="columns")
POSITION_KERNELS = LayerKernels(
    "conv_by_positions",
    forward_by_positions,
    backward_by_positions,
    tile_scratch_by_positions,
    panels_by_positions,
    positions=positions,
    activations=frozenset({IDENTITY, RELU}),
)
