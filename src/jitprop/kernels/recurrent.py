"""The recurrent kind (SimpleRNN, GRU, LSTM, one direction or both): its kernels over a tile of rows, and its counts.

A layer reads an example ``x`` of shape (T, F) and runs a cell of ``u``
units over its steps from a zero state; ``g`` gates per cell (1, 3 or 4),
in Keras' order, with ``W`` (F, g·u), ``U`` (u, g·u) and the bias ``b``::

    SimpleRNN   h = f(x·W + h₋·U + b)
    LSTM        [i, f, c̃, o] = [σ, σ, tanh, σ](x·W + h₋·U + b)
                c = f⊙c₋ + i⊙c̃,   h = o⊙tanh(c)
    GRU         [z, r] = σ(x·W_zr + b⁰_zr + h₋·U_zr + b¹_zr)           (b = [b⁰; b¹], (2, 3u))
                h̃ = tanh(x·W_h + b⁰_h + r⊙(h₋·U_h + b¹_h)),   h = z⊙h₋ + (1−z)⊙h̃

The output is ``h`` at every step, (T, D·u), or at the last step the layer
reads, (D·u,); with two directions (``D = 2``, :class:`~jitprop.Bidirectional`)
the second reads the steps backwards and its outputs follow the first's on
the last axis (its "last" step is step 0). The parameters of a layer are
``[W; U]`` of each direction, one matrix (D·(F+u), g·u) (its
:attr:`~.layout.Layout.weight_shapes`, what the L2 penalty counts), then
each direction's bias. The tile applies no activation (``identity``).

Forward, per tile and direction: the input projection of every step of every
example, ``P = X W`` on the rows (examples·T, F), is one product from packed
panels (:mod:`.panels`), written into the layer's stash (see :mod:`.kinds`);
then the tile's examples run their steps together, each step one product
``H₋ U`` over the examples' states and the gates fused, overwriting ``P``
with the gates' activations and keeping ``h`` (and the LSTM's ``c``, the
GRU's ``h₋·U_h + b¹_h``). Backward (through time over the whole sequence),
the examples run their steps in reverse from the kept values, each step
one product ``G Uᵀ``, overwriting each step's gates with
``G = ∂loss/∂(gate pre-activations)``; then ``dW = Xᵀ G``,
``dU = H₋ᵀ G`` (``G`` with ``r⊙`` on the GRU's candidate part) and
``dX = G Wᵀ`` are products from panels over the tile's rows. With a
``TRUNCATE`` of k steps (what ``loss_and_grads`` computes inside
:func:`jitprop.training.truncated_backpropagation`), the gradient passes
through the state within segments of k steps only, in one pass.

With ``CARRY`` (one direction only: the chunks of ``fit(..., bptt_steps=k)``,
see :mod:`jitprop.truncation`), an example starts from the state in its
``initial`` block of the stash instead of zeros, and the forward kernel
leaves its state after the last step in its ``final`` block; the backward
kernel reads ``initial`` as a constant (``H₋`` of the first step), and no
gradient flows into it.

Stash of a tile's rows ``r0:r1`` (n of them), per direction, one block of
n·T rows each: the gates (g·u), ``h`` (u), and ``c`` or the GRU's recurrent
candidate (u) except for SimpleRNN; with ``CARRY``, then n ``initial`` and
n ``final`` states (``h``, and the LSTM's ``c``: :func:`~.cells.state_width`
each), where :func:`carry_blocks` finds them. The step loops are :mod:`.cells`'.
"""

import numpy as np
from numba import njit

from ._numba.linking import call
from ._numba.options import INLINED_KERNEL, KERNEL
from .layout import LayerKernels, untracked, view2d
from .panels import (
    MAX_PANEL_COLUMNS,
    PANEL_ROWS,
    matmul_packed_b,
    matmul_tn,
    matmul_tn_in_place,
    matmul_tn_packed_b,
    pack_columns,
    pack_rows,
    padded_width,
    panel_columns,
    round_up,
)
from .cells import (
    GRU,
    LSTM,
    SIMPLE,
    bias_rows,
    gate_count,
    run_steps,
    run_steps_back,
    state_width,
    step_width,
    steps_scratch_size,
)
from .tuning import CHUNK_ROWS

#: Columns of a layer's row of :attr:`~.layout.Layout.geometry`.
CELL = 0
STEPS = 1
FEATURES = 2
UNITS = 3
SEQUENCES = 4  # 1: the output is h at every step
DIRECTIONS = 5
ACTIVATION = 6  # SimpleRNN's activation code (see .activations)
TRUNCATE = 7  # k > 0: back-propagation through time truncated to segments of k steps (0: the whole sequence)
CARRY = 8  # 1: start from the state in the stash and leave the last state there (one direction; see carry_blocks)


def parameter_count(cell, features, units, directions):
    """``W`` (F, g·u), ``U`` (u, g·u) and the bias of each direction."""
    gates = gate_count.py_func(cell) * units
    return directions * ((features + units) * gates + bias_rows.py_func(cell) * gates)


#: Arithmetic of a float32 tanh and logistic function as :mod:`.cells` evaluates them (Eigen's rational
#: approximation: the clamp 2, ``y²`` 1, numerator 13, denominator 6, the division 1; the logistic
#: function ``0.5 + 0.5·tanh(0.5·x)`` 3 more).
TANH_FLOPS = 23
SIGMOID_FLOPS = 26

#: Elementwise arithmetic per unit and step of each cell, forward and backward, as :mod:`.cells` runs it
#: (a division counted as one operation). Forward: each gate's ``(P + b⁰) + H₋U`` (2), its sigmoid or
#: tanh, and the state update (LSTM ``c`` 3 and ``h = o·tanh(c)`` 1 + tanh; GRU ``b¹`` 3, ``r⊙(…)`` 1 and
#: ``h`` 4). Backward: ``dh`` (1), the gates' ``G`` (SimpleRNN 3; LSTM ``tanh(c)`` again and 23; GRU 16),
#: ``db`` (a sum per bias element) and the recurrent product's addition into ``dh`` (1).
ELEMENTWISE_FLOPS = {
    SIMPLE: (2 + TANH_FLOPS, 1 + 3 + 1 + 1),
    LSTM: (4 * 2 + 3 * SIGMOID_FLOPS + TANH_FLOPS + 3 + 1 + TANH_FLOPS, 1 + TANH_FLOPS + 23 + 4 + 1),
    GRU: (3 + 3 * 2 + 2 * SIGMOID_FLOPS + 1 + TANH_FLOPS + 4, 1 + 16 + 6 + 1),
}


def flops(cell, steps, features, units, directions, first):
    """Forward and backward FLOPs per example, as :func:`forward` and :func:`backward` run them.

    Per step and direction with ``G = g·u`` gate pre-activations: forward
    ``2·F·G`` (input projection) and ``2·u·G`` (recurrent product);
    backward ``2·F·G`` (``dW``), ``2·u·G`` (``dU``), ``2·u·G`` (the state's
    gradient) and ``2·F·G`` for ``dX`` (none for the ``first`` layer); both
    the cell's elementwise work, :data:`ELEMENTWISE_FLOPS` per unit (a tanh
    or logistic function is a rational function of some twenty operations,
    not one).
    """
    gates = gate_count.py_func(cell) * units
    elementwise_forward, elementwise_backward = ELEMENTWISE_FLOPS[cell]
    per_step_forward = 2 * features * gates + 2 * units * gates + elementwise_forward * units
    per_step_backward = 2 * features * gates + 4 * units * gates + elementwise_backward * units
    if not first:
        per_step_backward += 2 * features * gates
    return directions * steps * per_step_forward, directions * steps * per_step_backward


def panels(weight_shape, first, training=True):
    """No products read the network's packed panels: a tile packs ``W`` itself (see :func:`forward`)."""
    return False, False


def stash(layout, layer):
    """Elements per example kept from the forward to the backward kernel (see the module's docstring)."""
    g = layout.geometry[layer]
    steps = int(g[DIRECTIONS] * g[STEPS] * step_width.py_func(int(g[CELL]), int(g[UNITS])))
    return steps + _carry_size.py_func(g[CELL], g[UNITS], g[CARRY])


def carry_blocks(ws, layout, layer, batch_rows):
    """Views of ``ws.stash``: each tile's ``(initial, final)`` states of a carrying layer, batches of ``batch_rows``.

    A layer with ``CARRY`` set starts each example from its ``initial``
    state (``h``, then the LSTM's ``c``: (rows, :func:`~.cells.state_width`))
    and leaves its state after the last step in ``final``; where they lie
    depends on the tile plan, so the caller reads and writes them here, in
    the tiles' order: ``np.concatenate`` of the ``final`` blocks is the
    batch's states, row by row.
    """
    g = layout.geometry[layer]
    width = state_width.py_func(int(g[CELL]), int(g[UNITS]))
    blocks = []
    for r0 in range(0, batch_rows, ws.tile_rows):
        r1 = min(batch_rows, r0 + ws.tile_rows)
        start = _carry_start(ws, layout, layer, r0, r1)
        n = r1 - r0
        initial = ws.stash[start : start + n * width].reshape(n, width)
        final = ws.stash[start + n * width : start + 2 * n * width].reshape(n, width)
        blocks.append((initial, final))
    return blocks


def positions(layout, layer):
    """Steps of a sequence: each weight applies at every step (in each direction, to its own weights)."""
    return int(layout.geometry[layer][STEPS])


@njit(**INLINED_KERNEL)
def examples_per_chunk(steps, tile_rows):
    """Examples whose steps a product takes at a time: ``CHUNK_ROWS`` rows' worth, at least one, at most a tile."""
    return min(tile_rows, max(1, CHUNK_ROWS // steps))


def scratch_size(cell, steps, features, units, rows, examples):
    """Elements of a tile's scratch for chunks of ``rows`` rows (examples·T) and tiles of ``examples`` examples.

    The steps' (:func:`~.cells.steps_scratch_size`), or the products':
    the packed ``W`` (or ``Wᵀ``), a chunk's ``dW`` and ``dU``, its ``H₋``,
    the GRU's recurrent ``G`` and the second direction's ``dX``, then what
    the products pack of their other operands.
    """
    gates = gate_count.py_func(cell) * units
    weight_panels = _weight_panels_size.py_func(features, gates)
    chunk_gradients = (features + units) * gates
    chunk_rows = rows * (units + gates + features)
    packing = max(
        features * round_up(rows, PANEL_ROWS),
        rows * (padded_width(features) + padded_width(gates)),
        rows * (padded_width(units) + padded_width(gates)),
        gates * round_up(rows, PANEL_ROWS),
    )
    products = weight_panels + chunk_gradients + chunk_rows + packing
    return max(products, steps_scratch_size.py_func(units, gates, examples))


def tile_scratch(layout, layer, tile_rows):
    """Elements of a tile's scratch the layer needs (see :func:`scratch_size`)."""
    g = layout.geometry[layer]
    steps = int(g[STEPS])
    rows = examples_per_chunk.py_func(steps, tile_rows) * steps
    return scratch_size(int(g[CELL]), steps, int(g[FEATURES]), int(g[UNITS]), rows, tile_rows)


# ------------------------------------------------------------------ helpers
@njit(**INLINED_KERNEL)
def _weight_panels_size(features, gates):
    """Room for ``W`` (features, gates) packed by columns, or by rows (``Wᵀ``'s panels), with either panel width."""
    by_columns = features * (-(-gates // MAX_PANEL_COLUMNS) * MAX_PANEL_COLUMNS)
    by_rows = gates * (-(-features // MAX_PANEL_COLUMNS) * MAX_PANEL_COLUMNS)
    return max(by_columns, by_rows)


@njit(**INLINED_KERNEL)
def _direction_weights(layout, params, layer, direction):
    """``W`` (F, g·u), ``U`` (u, g·u) and the bias (rows·g·u,) of one direction, as views of ``params``."""
    g = layout.geometry[layer]
    cell, features, units, directions = g[CELL], g[FEATURES], g[UNITS], g[DIRECTIONS]
    gates = gate_count(cell) * units
    start = layout.weight_offsets[layer] + direction * (features + units) * gates
    w = view2d(params, start, features, gates)
    u = view2d(params, start + features * gates, units, gates)
    size = bias_rows(cell) * gates
    b0 = layout.weight_offsets[layer] + directions * (features + units) * gates + direction * size
    return w, u, params[b0 : b0 + size]


@njit(**INLINED_KERNEL)
def _carry_size(cell, units, carry):
    """Elements of stash per example for the carried state: ``initial`` and ``final`` (none without ``CARRY``)."""
    return 2 * state_width(cell, units) if carry else 0


@njit(**INLINED_KERNEL)
def _stash_total(g):
    """Elements of stash per example: the steps' of each direction, then the carried states."""
    return g[DIRECTIONS] * g[STEPS] * step_width(g[CELL], g[UNITS]) + _carry_size(g[CELL], g[UNITS], g[CARRY])


@njit(**INLINED_KERNEL)
def _stash_block(ws, layout, layer, r0, r1, direction):
    """The tile's stash of one direction: n·T rows of one step's gates, ``h`` and ``c`` (or the candidate product)."""
    g = layout.geometry[layer]
    width = step_width(g[CELL], g[UNITS])
    rows = (r1 - r0) * g[STEPS]
    start = ws.stash_offsets[layer] + r0 * _stash_total(g) + direction * rows * width
    return ws.stash[start : start + rows * width]


@njit(**INLINED_KERNEL)
def _carry_start(ws, layout, layer, r0, r1):
    """Where the tile's carried states start in ``ws.stash``: after its steps' blocks (n ``initial``, n ``final``)."""
    g = layout.geometry[layer]
    steps_part = g[DIRECTIONS] * g[STEPS] * step_width(g[CELL], g[UNITS])
    return ws.stash_offsets[layer] + r0 * _stash_total(g) + (r1 - r0) * steps_part


@njit(**INLINED_KERNEL)
def _initial_state(ws, layout, layer, r0, r1):
    """The tile's ``initial`` states (n, state width) with ``CARRY``, else a view of no rows (a zero state)."""
    g = layout.geometry[layer]
    width = state_width(g[CELL], g[UNITS])
    rows = (r1 - r0) if g[CARRY] else 0
    return view2d(ws.stash, _carry_start(ws, layout, layer, r0, r1), rows, width)


# ------------------------------------------------------------------ kernels
@njit(**KERNEL)
def forward(kernels, model, ws, layer, r0, r1):
    """``h`` of every step (or the last) for rows ``r0:r1`` of ``layer`` (the forward kernel of :mod:`.kinds`)."""
    kernels, model, ws = untracked((kernels, model, ws))
    layout, params = model.layout, model.params
    scratch = ws.panels[r0 // ws.tile_rows]
    g = layout.geometry[layer]
    cell, steps, features, units = g[CELL], g[STEPS], g[FEATURES], g[UNITS]
    sequences, directions, code = g[SEQUENCES], g[DIRECTIONS], g[ACTIVATION]
    width = gate_count(cell) * units
    n = r1 - r0
    rows = n * steps
    width_out = layout.sizes[layer + 1]
    chunk = examples_per_chunk(steps, ws.tile_rows)
    weight_panels = scratch
    x_start = ws.row_offsets[layer] + r0 * steps * features
    out = view2d(ws.preactivations, ws.row_offsets[layer + 1] + r0 * width_out, n, width_out)
    for d in range(directions):
        w, u, b = _direction_weights(layout, params, layer, d)
        block = _stash_block(ws, layout, layer, r0, r1, d)
        gates = view2d(block, 0, rows, width)
        h = view2d(block, rows * width, rows, units)
        kept = view2d(block, rows * (width + units), rows if cell != SIMPLE else 0, units)
        # The input projection P = X W, a chunk of examples at a time.
        size = pack_columns(w, panel_columns(w), weight_panels) * features * panel_columns(w)
        buffer = weight_panels[size:]
        for e0 in range(0, n, chunk):
            e1 = min(n, e0 + chunk)
            x = view2d(ws.activations, x_start + e0 * steps * features, (e1 - e0) * steps, features)
            p = view2d(block, e0 * steps * width, (e1 - e0) * steps, width)
            call(matmul_packed_b, (x, weight_panels, buffer, p))
        initial = _initial_state(ws, layout, layer, r0, r1)
        call(run_steps, (cell, code, d == 1, steps, u, b, gates, h, kept, initial, scratch))
        if initial.shape[0] > 0:
            # The state after the last step, where the next chunk of the sequences starts (see carry_blocks).
            final = view2d(
                ws.stash, _carry_start(ws, layout, layer, r0, r1) + n * initial.shape[1], n, initial.shape[1]
            )
            for e in range(n):
                row = e * steps + steps - 1
                for k in range(units):
                    final[e, k] = h[row, k]
                if cell == LSTM:
                    for k in range(units):
                        final[e, units + k] = kept[row, k]
        for e in range(n):
            target = out[e]
            if sequences:
                for t in range(steps):
                    source = h[e * steps + t]
                    at = (t * directions + d) * units
                    for k in range(units):
                        target[at + k] = source[k]
            else:
                source = h[e * steps + (0 if d == 1 else steps - 1)]
                for k in range(units):
                    target[d * units + k] = source[k]


@njit(**KERNEL)
def backward(kernels, model, ws, layer, r0, r1, grad):
    """Gradient of ``layer`` through time from the delta of its outputs, rows ``r0:r1`` (see :mod:`.kinds`).

    Writes ``dW``, ``dU`` and the bias's gradient of each direction into
    ``grad`` and, except for the first layer, ``∂loss/∂x`` into the deltas
    of its input.
    """
    kernels, model, ws, grad = untracked((kernels, model, ws, grad))
    layout, params = model.layout, model.params
    scratch = ws.panels[r0 // ws.tile_rows]
    g = layout.geometry[layer]
    cell, steps, features, units = g[CELL], g[STEPS], g[FEATURES], g[UNITS]
    sequences, directions, code = g[SEQUENCES], g[DIRECTIONS], g[ACTIVATION]
    width = gate_count(cell) * units
    n = r1 - r0
    width_out = layout.sizes[layer + 1]
    chunk = examples_per_chunk(steps, ws.tile_rows)
    most = chunk * steps
    weight_panels = scratch
    at = _weight_panels_size(features, width)
    chunk_w = view2d(scratch, at, features, width)
    chunk_u = view2d(scratch, at + features * width, units, width)
    at += (features + units) * width
    shifted_all = scratch[at : at + most * units]
    recurrent_all = scratch[at + most * units : at + most * (units + width)]
    dx_all = scratch[at + most * (units + width) : at + most * (units + width + features)]
    buffer = scratch[at + most * (units + width + features) :]
    x_start = ws.row_offsets[layer] + r0 * steps * features
    dout = view2d(ws.deltas, ws.row_offsets[layer + 1] + r0 * width_out, n, width_out)
    zero = grad.dtype.type(0)
    for d in range(directions):
        w, u, b = _direction_weights(layout, params, layer, d)
        start = layout.weight_offsets[layer] + d * (features + units) * width
        grad_w = view2d(grad, start, features, width)
        grad_u = view2d(grad, start + features * width, units, width)
        size = bias_rows(cell) * width
        b0 = layout.weight_offsets[layer] + directions * (features + units) * width + d * size
        grad_b = grad[b0 : b0 + size]
        block = _stash_block(ws, layout, layer, r0, r1, d)
        gates = view2d(block, 0, n * steps, width)
        h = view2d(block, n * steps * width, n * steps, units)
        kept = view2d(block, n * steps * (width + units), n * steps if cell != SIMPLE else 0, units)
        truncate = g[TRUNCATE]
        initial = _initial_state(ws, layout, layer, r0, r1)
        arguments = (cell, code, d == 1, truncate, steps, directions, d, sequences, u, gates, h, kept, dout, initial)
        call(run_steps_back, arguments + (grad_b, scratch))
        x_all = view2d(ws.activations, x_start, n * steps, features)
        if initial.shape[0] == 0 and (units if cell == GRU else width) % panel_columns(gates) == 0:
            _weight_gradients_in_place(cell, d == 1, steps, x_all, gates, h, kept, grad_w, grad_u)
        else:
            if n == 0:
                for k in range(features):
                    for j in range(width):
                        grad_w[k, j] = zero
                for k in range(units):
                    for j in range(width):
                        grad_u[k, j] = zero
            # dW = Xᵀ G and dU = H₋ᵀ G from copies, summed over the chunks in order.
            for e0 in range(0, n, chunk):
                e1 = min(n, e0 + chunk)
                m = (e1 - e0) * steps
                x = view2d(ws.activations, x_start + e0 * steps * features, m, features)
                gc = view2d(block, e0 * steps * width, m, width)
                shifted = view2d(shifted_all, 0, m, units)
                for e in range(e1 - e0):
                    for t in range(steps):
                        target = shifted[e * steps + t]
                        source_t = t + 1 if d == 1 else t - 1
                        if source_t < 0 and initial.shape[0] > 0:
                            for k in range(units):
                                target[k] = initial[e0 + e, k]
                        elif source_t < 0 or source_t >= steps:
                            for k in range(units):
                                target[k] = zero
                        else:
                            source = h[(e0 + e) * steps + source_t]
                            for k in range(units):
                                target[k] = source[k]
                recurrent = gc
                if cell == GRU:
                    recurrent = view2d(recurrent_all, 0, m, width)
                    for row in range(m):
                        target = recurrent[row]
                        source = gc[row]
                        candidate = kept[e0 * steps + row]
                        for k in range(width - units):
                            target[k] = source[k]
                        for k in range(units):
                            target[width - units + k] = candidate[k]
                target_w = grad_w if e0 == 0 else chunk_w
                target_u = grad_u if e0 == 0 else chunk_u
                # G is packed once for both products (the GRU's dU reads a G of its own).
                g_size = pack_columns(gc, panel_columns(gc), buffer) * m * panel_columns(gc)
                call(matmul_tn_packed_b, (x, buffer[:g_size], buffer[g_size:], target_w))
                if cell == GRU:
                    call(matmul_tn, (shifted, recurrent, buffer, target_u))
                else:
                    call(matmul_tn_packed_b, (shifted, buffer[:g_size], buffer[g_size:], target_u))
                if e0 > 0:
                    _add_into(grad_w, chunk_w)
                    _add_into(grad_u, chunk_u)
        if layer == 0:
            continue
        # dX = G Wᵀ (the second direction's added to the first's).
        pack_rows(w, panel_columns(w), weight_panels)
        for e0 in range(0, n, chunk):
            e1 = min(n, e0 + chunk)
            m = (e1 - e0) * steps
            gc = view2d(block, e0 * steps * width, m, width)
            dx = view2d(ws.deltas, x_start + e0 * steps * features, m, features)
            if d == 0:
                call(matmul_packed_b, (gc, weight_panels, buffer, dx))
            else:
                part = view2d(dx_all, 0, m, features)
                call(matmul_packed_b, (gc, weight_panels, buffer, part))
                _add_into(dx, part)


@njit(**INLINED_KERNEL)
def _weight_gradients_in_place(cell, reverse, steps, x, gates, h, kept, grad_w, grad_u):
    """``dW = Xᵀ G`` and ``dU = H₋ᵀ G`` of one direction, each a product that reads its operands where they lie.

    ``H₋`` pairs each step's ``G`` with ``h`` of the step before in the
    direction's order (zero before the first step, so that step adds
    nothing): per example, one segment of T - 1 rows of ``h`` and of ``G``,
    one row apart. The GRU's recurrent product sees ``r⊙G_h`` (in ``kept``)
    in place of its candidate's part of ``G``. Every operand is passed as a
    view of any layout, so that one compiled product serves all of them.
    """
    n = gates.shape[0] // steps
    width = gates.shape[1]
    units = h.shape[1]
    zero, one = np.int64(0), np.int64(1)  # (literals would compile second copies)
    every_row = (zero, zero, n * steps, one, zero)  # firsts, rows, one segment, period
    call(matmul_tn_in_place, (_columns(x, zero, x.shape[1]), _columns(gates, zero, width)) + every_row
         + (_columns(grad_w, zero, width),))  # fmt: skip
    h_first, g_first = (one, zero) if reverse else (zero, one)
    h_all = _columns(h, zero, units)
    if cell == GRU:
        shared = width - units
        call(matmul_tn_in_place, (h_all, _columns(gates, zero, shared), h_first, g_first, steps - 1, n, steps,
                                  _columns(grad_u, zero, shared)))  # fmt: skip
        call(matmul_tn_in_place, (h_all, _columns(kept, zero, units), h_first, g_first, steps - 1, n, steps,
                                  _columns(grad_u, shared, width)))  # fmt: skip
    else:
        call(matmul_tn_in_place, (h_all, _columns(gates, zero, width), h_first, g_first, steps - 1, n, steps,
                                  _columns(grad_u, zero, width)))  # fmt: skip


@njit(**INLINED_KERNEL)
def _columns(x, start, stop):
    """``x[:, start:stop]``: a view of any layout (``A``), whatever ``x``'s."""
    return x[:, start:stop]


@njit(**INLINED_KERNEL)
def _add_into(target, source):
    for i in range(target.shape[0]):
        t = target[i]
        s = source[i]
        for j in range(target.shape[1]):
            t[j] += s[j]


KERNELS = LayerKernels("recurrent", forward, backward, tile_scratch, panels, stash, positions)
