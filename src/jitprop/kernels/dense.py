"""The dense layer kind: its forward and backward kernels over a tile of rows, its counts and its packing.

The two kernels (the contract of :mod:`.kinds`) work on rows ``r0:r1`` of a
batch and touch only those rows of the workspace (and the tile's own panel
scratch), so tiles can run in parallel. The backward kernel writes the
layer's ``dWt`` and ``db`` into the tile's gradient buffer.

Products run from packed panels (:mod:`.panels`) where their output rows are
wide enough to fill most of a block (16 columns, or 32 with AVX-512):
``MIN_PANEL_INPUTS`` inputs for the two gradient products, whose plain-loop
fallbacks are slow. The forward product runs from panels only for layers
with at least ``MIN_PANEL_OUTPUTS`` outputs and fewer than
``MAX_DOT_INPUTS`` inputs: a packed copy of longer rows would cost a pass
over them after every update. Those run by the micro-kernel too, reading the
weights where they lie (:func:`~.panels.matmul_nt_reading_b`), where a tile
fills a panel of rows (:func:`forward_product`); smaller ones as dot
products (``matmul_nt``). Panels of weights are packed by
:func:`pack_weights` after every update.
"""

from numba import njit

from ._numba.options import INLINED_KERNEL, KERNEL
from .layout import LayerKernels, bias, rows, view2d, weights
from .matmul import matmul_nn, matmul_nt, small_matmul_nn, small_matmul_nt
from ._numba.linking import call, call_entry
from ._numba.parallel import run_tasks
from .panels import (
    MAX_PANEL_COLUMNS,
    PANEL_ROWS,
    matmul_nt_reading_b,
    matmul_packed_b,
    matmul_tn,
    pack_column_panel,
    pack_row_panel,
    panel_columns,
    round_up,
)
from .tuning import (
    MAX_DOT_INPUTS,
    MIN_PANEL_INPUTS,
    MIN_PANEL_OUTPUTS,
    PACK_PANELS_PER_TASK,
    PACK_TASKS,
    PARALLEL_PACK,
    SMALL_PRODUCT,
    SPLIT_COLUMNS_WORK,
)


def parameter_count(fan_in, fan_out):
    """Weights and biases of a dense layer: ``Wt`` (fan_out, fan_in) and ``b`` (fan_out,)."""
    return fan_out * fan_in + fan_out


def flops(fan_in, fan_out, activation_flops, first, output):
    """Forward and backward FLOPs per example of a dense layer, as :func:`forward` and :func:`backward` run.

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


def forward_from_panels(fan_in, fan_out, training=True):
    """Whether the forward product of a layer runs from packed panels (else as dot products).

    Where its outputs fill most of a block. In ``training`` not over rows of
    ``MAX_DOT_INPUTS`` inputs or more, whose panels would be packed again
    after every update; a prediction packs them once for all its rows.
    """
    return fan_out >= MIN_PANEL_OUTPUTS and (fan_in < MAX_DOT_INPUTS or not training)


#: How a tile's forward product runs (see :func:`forward_product`).
FROM_PANELS, WRITTEN_OUT, READS_IN_PLACE, DOT_PRODUCTS = 0, 1, 2, 3


@njit(**INLINED_KERNEL)
def forward_product(from_panels, rows, fan_in, fan_out, columns):
    """How :func:`forward` computes ``rows`` rows of ``x @ Wtᵀ``: one of the codes above.

    ``FROM_PANELS`` where the layout packs the layer's forward panels
    (``from_panels``, see :func:`forward_from_panels`); ``WRITTEN_OUT``, the
    inlined loops of ``small_matmul_nt``, for at most ``SMALL_PRODUCT``
    multiply-adds; ``READS_IN_PLACE``, :func:`~.panels.matmul_nt_reading_b`,
    which reads the weights where they lie and packs ``rows`` into panels
    of ``columns`` examples, where the rows fill a panel and the outputs
    fill its blocks; else ``DOT_PRODUCTS`` (:func:`~.matmul.matmul_nt`).
    Measured (Intel Xeon of the Sapphire Rapids class, one thread, float32;
    the micro-kernel reading in place over the dot products): 1.35, 1.26,
    1.21 for 64, 128, 32 rows of 784 x 256, 1.38 for 128 rows of 1024 x
    1024, 1.37 for 64 of 256 x 128; 0.64 and 0.36 for 16 and 8 rows, 0.53
    for 10 outputs. (A batch's only tile may also spread a product that is
    not ``FROM_PANELS`` over the threads: see :func:`forward`.)
    """
    if from_panels:
        return FROM_PANELS
    if rows * fan_out * fan_in <= SMALL_PRODUCT:
        return WRITTEN_OUT
    if rows >= columns and fan_out >= MIN_PANEL_OUTPUTS:
        return READS_IN_PLACE
    return DOT_PRODUCTS


def panels(weight_shape, first, training=True):
    """Which of a dense layer's products read packed panels of its ``Wt`` (see :func:`.kinds.panel_offsets`).

    Returns ``(forward, backward)``: whether the forward product does
    (:func:`forward_from_panels`), and whether the input-gradient product
    does (never for the ``first`` layer, which has no input gradient).
    """
    fan_out, fan_in = weight_shape
    return forward_from_panels(fan_in, fan_out, training), not first and fan_in >= MIN_PANEL_INPUTS


def tile_panel_size(sizes, tile_rows):
    """Scratch a tile of ``tile_rows`` rows needs to pack its side of any product."""
    rows_packed = round_up(tile_rows, PANEL_ROWS)
    need = 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        fan_in, fan_out = int(fan_in), int(fan_out)
        need = max(need, max(fan_in, fan_out) * rows_packed)
        need = max(need, tile_rows * (round_up(fan_out, PANEL_ROWS) + round_up(fan_in, MAX_PANEL_COLUMNS)))
        need = max(need, fan_in * MAX_PANEL_COLUMNS)  # (a panel of rows, see matmul_nt_reading_b)
    return need


@njit(**INLINED_KERNEL)
def forward(kernels, model, ws, layer, r0, r1, x, alone=False):
    """``z = x @ W + b`` for rows ``r0:r1`` of ``layer``: the forward kernel of :mod:`.kinds`' contract, ``x`` given.

    ``x`` is the layer's block of the rows' inputs, or the rows where they
    lie (see :func:`.tile.forward_pass`).

    A tile that is its batch's only one (``alone``) spreads a dot-product
    forward of ``SPLIT_COLUMNS_WORK`` multiply-adds a row or more over the
    threads, by blocks of outputs, where the network's kernels include
    that (``kernels.split_product``, see :func:`.tile.network_kernels`);
    the sums are the same.
    """
    # (Written into the tile, whose arguments are already untracked: see .tile.run_tile.)
    layout, params, packed = model
    panels = ws.panels[r0 // ws.tile_rows]
    z = rows(ws, ws.preactivations, layout, layer + 1, r0, r1)
    start = layout.forward_panels[layer]
    product = forward_product(start >= 0, z.shape[0], x.shape[1], z.shape[1], panel_columns(z))
    if product == FROM_PANELS:
        call(matmul_packed_b, (x, packed[start:], panels, z))
    elif alone and kernels.split_product[0] != 0 and z.shape[1] * x.shape[1] >= SPLIT_COLUMNS_WORK:
        call_entry(kernels.split_product, (x, weights(layout, params, layer), z), None)
    elif product == WRITTEN_OUT:
        small_matmul_nt(x, weights(layout, params, layer), z)
    elif product == READS_IN_PLACE:
        call(matmul_nt_reading_b, (x, weights(layout, params, layer), panels, z))
    else:
        call(matmul_nt, (x, weights(layout, params, layer), z))
    _add_bias(layout, params, layer, z)


@njit(**INLINED_KERNEL)
def _add_bias(layout, params, layer, z):
    """``z += b`` row by row."""
    b = bias(layout, params, layer)
    for r in range(z.shape[0]):
        zr = z[r]
        for j in range(zr.shape[0]):
            zr[j] += b[j]


def writes_out(weight_shape, forward_panels, backward_panels, rows):
    """Whether :func:`forward` and :func:`backward` of a layer run only written-out products over ``rows`` rows.

    ``forward_panels`` and ``backward_panels`` are the layer's offsets in
    the layout (-1 for none). What :func:`written_out_forward` and
    :func:`written_out_backward` then compute: no packed panels, fewer than
    ``MIN_PANEL_INPUTS`` inputs and at most ``SMALL_PRODUCT`` multiply-adds
    a product.
    """
    fan_out, fan_in = weight_shape
    no_panels = forward_panels < 0 and backward_panels < 0
    return bool(no_panels and fan_in < MIN_PANEL_INPUTS and rows * fan_out * fan_in <= SMALL_PRODUCT)


@njit(**INLINED_KERNEL)
def written_out_forward(layout, params, ws, layer, r0, r1, x):
    """:func:`forward` of a product it writes out (``WRITTEN_OUT``), for a caller that compiles none of the others.

    A tiny network's batch (see :mod:`.tiny`): the product's loops and the
    bias, the same sums. Returns the rows' ``z``. For a layer that
    :func:`writes_out` its products.
    """
    z = rows(ws, ws.preactivations, layout, layer + 1, r0, r1)
    small_matmul_nt(x, weights(layout, params, layer), z)
    _add_bias(layout, params, layer, z)
    return z


@njit(**INLINED_KERNEL)
def backward(kernels, model, ws, layer, r0, r1, grad):
    """Gradient of ``layer`` from the delta of its outputs, rows ``r0:r1`` (the backward kernel of :mod:`.kinds`).

    With ``D = ∂loss/∂z``: ``dWt = Dᵀ A`` (from
    packed panels, see :mod:`.panels`) and ``db = Σ D`` over the rows, then
    (except for the first layer) ``∂loss/∂a_prev = D W``.
    """
    layout, params, packed = model
    panels = ws.panels[r0 // ws.tile_rows]
    d, a, grad_w, grad_b = _gradient_blocks(layout, ws, layer, r0, r1, grad)
    fan_out, fan_in = grad_w.shape
    small = d.shape[0] * fan_out * fan_in <= SMALL_PRODUCT  # (both products take this many multiply-adds)
    if fan_in >= MIN_PANEL_INPUTS:
        call(matmul_tn, (d, a, panels, grad_w))
    elif small:
        small_matmul_nn(d.T, a, grad_w)
    else:
        call(matmul_nn, (d.T, a, grad_w))
    _sum_rows(d, grad_b)
    if layer > 0:
        d_prev = rows(ws, ws.deltas, layout, layer, r0, r1)
        if layout.backward_panels[layer] >= 0:
            call(matmul_packed_b, (d, packed[layout.backward_panels[layer] :], panels, d_prev))
        elif small:
            small_matmul_nn(d, weights(layout, params, layer), d_prev)
        else:
            call(matmul_nn, (d, weights(layout, params, layer), d_prev))


@njit(**INLINED_KERNEL)
def written_out_backward(layout, params, ws, layer, r0, r1, grad):
    """:func:`backward` of products it writes out, for a caller that compiles none of the others (see :mod:`.tiny`).

    For a layer that :func:`writes_out` its products.
    """
    d, a, grad_w, grad_b = _gradient_blocks(layout, ws, layer, r0, r1, grad)
    small_matmul_nn(d.T, a, grad_w)
    _sum_rows(d, grad_b)
    if layer > 0:
        small_matmul_nn(d, weights(layout, params, layer), rows(ws, ws.deltas, layout, layer, r0, r1))


@njit(**INLINED_KERNEL)
def _gradient_blocks(layout, ws, layer, r0, r1, grad):
    """The rows' delta and inputs, and the layer's blocks of ``grad``: ``(D, A, dWt, db)``."""
    fan_in = layout.sizes[layer]
    fan_out = layout.sizes[layer + 1]
    start = layout.weight_offsets[layer]
    d = rows(ws, ws.deltas, layout, layer + 1, r0, r1)
    a = rows(ws, ws.activations, layout, layer, r0, r1)
    grad_w = view2d(grad, start, fan_out, fan_in)
    grad_b = grad[start + fan_out * fan_in : start + fan_out * (fan_in + 1)]
    return d, a, grad_w, grad_b


@njit(**INLINED_KERNEL)
def _sum_rows(d, total):
    """``total = Σ_r d[r]``, from the first row (as :func:`~.matmul.small_matmul_nn` starts from its first term).

    The same sums as from zeros (``0 + x`` is ``x``, but for the sign of a
    zero, which the kernels' fast-math flags leave open anyway). Cleared
    first, a few elements were a call to ``memset``, and each first addition
    waited on its store.
    """
    if d.shape[0] == 0:
        for j in range(total.shape[0]):
            total[j] = total.dtype.type(0)
        return
    first = d[0]
    for j in range(total.shape[0]):
        total[j] = first[j]
    for r in range(1, d.shape[0]):
        dr = d[r]
        for j in range(total.shape[0]):
            total[j] += dr[j]


def tile_scratch(layout, layer, tile_rows):
    """Elements of a tile's panel scratch the layer's products need (see :func:`tile_panel_size`)."""
    return tile_panel_size(layout.sizes[layer : layer + 2], tile_rows)


KERNELS = LayerKernels("dense", forward, backward, tile_scratch, panels)


@njit(**KERNEL)
def pack_weights(model, chunked):
    """Pack every layer's ``Wt`` into the panels its forward and input-gradient products read.

    Must run after every change to the parameters. The panels of large
    networks are packed in parallel, one panel per task (a single parallel
    loop over all layers' panels). ``chunked`` is
    :func:`~.batch.chunking` of the parameters: with None (a network too
    small for parallel packing), only the serial code is compiled.
    """
    layout, params, packed = model
    columns = panel_columns(packed)
    n_panels = 0
    for layer in range(layout.kinds.shape[0]):
        if layout.forward_panels[layer] >= 0:
            n_panels += -(-layout.weight_shapes[layer, 0] // columns)
        if layout.backward_panels[layer] >= 0:
            n_panels += -(-layout.weight_shapes[layer, 1] // columns)
    if chunked is None or packed.shape[0] < PARALLEL_PACK:
        for panel in range(n_panels):
            _pack_panel(layout, params, packed, columns, panel)
    else:
        # Each task packs every tasks-th panel: neighbouring panels are alike
        # in size, so the tasks' shares are too (contiguous ranges of panels
        # gave one of two threads a wide layer's panels and the other a
        # narrow one's, a hundred times smaller).
        tasks = max(1, min(PACK_TASKS, n_panels // PACK_PANELS_PER_TASK))
        run_tasks(_pack_every, tasks, (layout, params, packed, columns, n_panels, tasks))


@njit(**KERNEL)
def _pack_every(layout, params, packed, columns, n_panels, stride, first):
    """Pack panels ``first``, ``first + stride``, ... of :func:`pack_weights`."""
    for panel in range(first, n_panels, stride):
        _pack_panel(layout, params, packed, columns, panel)


@njit(**KERNEL)
def _pack_panel(layout, params, packed, columns, panel):
    """Pack panel number ``panel``, counting every layer's forward panels, then its input-gradient panels."""
    for layer in range(layout.kinds.shape[0]):
        wt = weights(layout, params, layer)
        fan_out, fan_in = wt.shape
        start = layout.forward_panels[layer]
        if start >= 0:
            count = -(-fan_out // columns)  # panels of `columns` outputs, (fan_in, columns) each
            if panel < count:
                _pack_row_panel_of(wt, columns, packed, start, panel)
                return
            panel -= count
        start = layout.backward_panels[layer]
        if start >= 0:
            count = -(-fan_in // columns)  # panels of `columns` inputs, (fan_out, columns) each
            if panel < count:
                _pack_column_panel_of(wt, columns, packed, start, panel)
                return
            panel -= count


@njit(**KERNEL)
def pack_some_weights(model, by_rows, by_columns):
    """Pack the panels of the layers marked in ``by_rows`` and ``by_columns`` (booleans per layer), serially.

    What :func:`pack_weights` does for some panels only: a forward pass of a
    few rows (see :mod:`.few_rows`) packs those its products read
    (:func:`.kinds.forward_panels`) and no input gradient's.
    """
    layout, params, packed = model
    columns = panel_columns(packed)
    for layer in range(layout.kinds.shape[0]):
        wt = weights(layout, params, layer)
        if by_rows[layer]:
            for panel in range(-(-wt.shape[0] // columns)):
                _pack_row_panel_of(wt, columns, packed, layout.forward_panels[layer], panel)
        if by_columns[layer]:
            for panel in range(-(-wt.shape[1] // columns)):
                _pack_column_panel_of(wt, columns, packed, layout.backward_panels[layer], panel)


@njit(**INLINED_KERNEL)
def _pack_row_panel_of(wt, columns, packed, start, panel):
    """Pack ``wt``'s row panel ``panel`` (``columns`` of its rows, (n_columns, columns)) where its panels start."""
    fan_out, fan_in = wt.shape
    pack_row_panel(wt, columns, panel, view2d(packed, start + panel * fan_in * columns, fan_in, columns))


@njit(**INLINED_KERNEL)
def _pack_column_panel_of(wt, columns, packed, start, panel):
    """Pack ``wt``'s column panel ``panel`` (``columns`` of its columns, (n_rows, columns)) where its panels start."""
    fan_out, fan_in = wt.shape
    pack_column_panel(wt, columns, panel, view2d(packed, start + panel * fan_out * columns, fan_out, columns))
