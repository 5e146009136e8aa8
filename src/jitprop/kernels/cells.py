"""The recurrent cells step by step: the examples' steps forward, and back through them.

What the recurrent kind (:mod:`.recurrent`) runs for one direction of a
tile, after the input projection ``P = X W`` and before the products of the
gradient. The n examples of the tile take each step together. Per step,
with ``G = g·u`` gate values (see :mod:`.recurrent` for the formulas): the
recurrent product ``H₋ U`` of the examples' states gathered into an (n, u)
block, one product from packed panels (:mod:`.panels`, ``U`` packed once
per call), then per example the gates' nonlinearities and the state
update, fused. Going back, each step's gate pre-activations' gradient
overwrites its gate activations, from which it is computed, and
``∂loss/∂H₋ = G Uᵀ`` is one product from panels over the examples' rows
of ``G``. Each sum of a product runs over ``k`` in order, one example's
independent of the others', so that the results do not depend on ``n``.
"""

import math

from numba import njit

from . import activations
from ._numba.linking import call
from ._numba.microkernel import PANEL_ROWS
from ._numba.options import INLINED_KERNEL, KERNEL
from .layout import view2d
from .panels import MAX_PANEL_COLUMNS, matmul_packed_b, pack_columns, pack_rows, panel_columns

#: Cells.
SIMPLE = 0
GRU = 1
LSTM = 2

#: Activations a SimpleRNN may have.
SIMPLE_ACTIVATIONS = (activations.TANH, activations.SIGMOID, activations.RELU, activations.IDENTITY)


@njit(**INLINED_KERNEL)
def gate_count(cell):
    """Gates per unit: 1 (SimpleRNN), 3 (GRU), 4 (LSTM)."""
    if cell == SIMPLE:
        return 1
    return 3 if cell == GRU else 4


@njit(**INLINED_KERNEL)
def bias_rows(cell):
    """Rows of a direction's bias: 2 for the GRU (input and recurrent), else 1."""
    return 2 if cell == GRU else 1


@njit(**INLINED_KERNEL)
def step_width(cell, units):
    """Elements of stash per step and direction: the gates, ``h``, and ``c`` or the GRU's candidate product."""
    return (gate_count(cell) + 1 + (0 if cell == SIMPLE else 1)) * units


@njit(**INLINED_KERNEL)
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@njit(**INLINED_KERNEL)
def _activate(code, x):
    """A SimpleRNN's activation of one value."""
    if code == activations.TANH:
        return math.tanh(x)
    if code == activations.SIGMOID:
        return _sigmoid(x)
    if code == activations.RELU:
        return max(x, 0.0)
    return x


@njit(**INLINED_KERNEL)
def _slope(code, h):
    """The derivative of a SimpleRNN's activation, from its output ``h``."""
    if code == activations.TANH:
        return 1.0 - h * h
    if code == activations.SIGMOID:
        return h * (1.0 - h)
    if code == activations.RELU:
        return 1.0 if h > 0.0 else 0.0
    return 1.0


@njit(**INLINED_KERNEL)
def steps_scratch_size(units, gates, examples):
    """Elements of scratch :func:`run_steps` and :func:`run_steps_back` need for ``examples`` examples.

    ``U`` (or ``Uᵀ``) packed, a step's blocks of ``examples`` rows (``H₋``
    or ``dh``, ``dc``, the recurrent product, the recurrent ``G``), one
    example's ``dh`` and what the product packs of its left operand.
    """
    panel_u = units * (-(-gates // MAX_PANEL_COLUMNS) * MAX_PANEL_COLUMNS)
    panel_ut = gates * (-(-units // MAX_PANEL_COLUMNS) * MAX_PANEL_COLUMNS)
    packing = max(units, gates) * (-(-examples // PANEL_ROWS) * PANEL_ROWS)
    return max(panel_u, panel_ut) + examples * (3 * units + gates) + units + packing


@njit(**KERNEL)
def run_steps(cell, code, reverse, steps, u, b, gates, h, kept, scratch):
    """The examples' steps forward from a zero state, all examples' step ``t`` at once.

    ``gates`` (n·T, g·u) holds ``P = X W`` and is overwritten with the gates'
    activations; ``h`` (n·T, u) receives ``h`` of each step, ``kept`` (n·T,
    u) ``c`` (LSTM) or ``h₋·U_h + b¹_h`` (GRU). Per step, the n examples'
    ``H₋`` (n, u) are gathered into a block and ``H₋ U`` is one product
    from packed panels (:mod:`.panels`, ``U`` packed once per call); then
    the gates, fused, a row at a time. ``scratch`` holds at least
    :func:`steps_scratch_size` elements.
    """
    units = u.shape[0]
    width = u.shape[1]
    n = gates.shape[0] // steps
    zero = gates.dtype.type(0)
    size = pack_columns(u, panel_columns(u), scratch) * units * panel_columns(u)
    u_panels = scratch[:size]
    previous = view2d(scratch, size, n, units)
    acc = view2d(scratch, size + n * units, n, width)
    buffer = scratch[size + n * (units + width) :]
    input_bias = b[:width]
    recurrent_bias = b[width:]
    for s in range(steps):
        t = steps - 1 - s if reverse else s
        back = t + 1 if reverse else t - 1
        # acc = H₋ U, every example's h₋ at once.
        if s > 0:
            for e in range(n):
                source = h[e * steps + back]
                target = previous[e]
                for k in range(units):
                    target[k] = source[k]
            call(matmul_packed_b, (previous, u_panels, buffer, acc))
        else:
            for e in range(n):
                target = acc[e]
                for k in range(width):
                    target[k] = zero
        for e in range(n):
            row = e * steps + t
            ar = acc[e]
            gr = gates[row]
            hr = h[row]
            if cell == SIMPLE:
                for k in range(units):
                    value = _activate(code, gr[k] + input_bias[k] + ar[k])
                    gr[k] = value
                    hr[k] = value
            elif cell == LSTM:
                cr = kept[row]
                for k in range(units):
                    i = _sigmoid(gr[k] + input_bias[k] + ar[k])
                    f = _sigmoid(gr[units + k] + input_bias[units + k] + ar[units + k])
                    candidate = math.tanh(gr[2 * units + k] + input_bias[2 * units + k] + ar[2 * units + k])
                    o = _sigmoid(gr[3 * units + k] + input_bias[3 * units + k] + ar[3 * units + k])
                    c_prev = kept[e * steps + back, k] if s > 0 else zero
                    c = f * c_prev + i * candidate
                    gr[k] = i
                    gr[units + k] = f
                    gr[2 * units + k] = candidate
                    gr[3 * units + k] = o
                    cr[k] = c
                    hr[k] = o * math.tanh(c)
            else:
                rr = kept[row]
                for k in range(units):
                    z = _sigmoid(gr[k] + input_bias[k] + (ar[k] + recurrent_bias[k]))
                    r = _sigmoid(gr[units + k] + input_bias[units + k] + (ar[units + k] + recurrent_bias[units + k]))
                    product = ar[2 * units + k] + recurrent_bias[2 * units + k]
                    candidate = math.tanh(gr[2 * units + k] + input_bias[2 * units + k] + r * product)
                    h_prev = h[e * steps + back, k] if s > 0 else zero
                    gr[k] = z
                    gr[units + k] = r
                    gr[2 * units + k] = candidate
                    rr[k] = product
                    hr[k] = z * h_prev + (1.0 - z) * candidate


@njit(**KERNEL)
def run_steps_back(cell, code, reverse, truncate, steps, directions, direction, sequences, u, gates, h, kept, dout,
                   scratch):  # fmt: skip
    """The examples' steps in reverse, all examples' step ``t`` at once: ``G`` of every step over its gates.

    With ``truncate`` = k > 0, no gradient passes through the state into
    the step before one whose place in the order of reading is a multiple
    of k: each segment of k steps is differentiated on its own, its first
    state taken as a constant.

    ``dout`` (n, width_out) is ∂loss/∂(the layer's output). Overwrites
    ``gates`` with ``G``, and the GRU's ``kept`` with ``r⊙G_h`` (the part
    of ``G`` the recurrent product sees). Per step, ``∂loss/∂H₋ = G Uᵀ``
    is one product from packed panels over the n examples' recurrent ``G``
    gathered into a block. ``scratch`` holds at least
    :func:`steps_scratch_size` elements.
    """
    units = u.shape[0]
    width = u.shape[1]
    n = gates.shape[0] // steps
    zero = gates.dtype.type(0)
    size = pack_rows(u, panel_columns(u), scratch) * width * panel_columns(u)
    ut_panels = scratch[:size]
    dh_next = view2d(scratch, size, n, units)
    dc_next = view2d(scratch, size + n * units, n, units)
    product = view2d(scratch, size + 2 * n * units, n, units)
    recurrent = view2d(scratch, size + 3 * n * units, n, width)
    at = size + n * (3 * units + width)
    dh = scratch[at : at + units]
    buffer = scratch[at + units :]
    for e in range(n):
        for k in range(units):
            dh_next[e, k] = zero
            dc_next[e, k] = zero
    recurrent_width = width - units if cell == GRU else width
    for s in range(steps - 1, -1, -1):
        t = steps - 1 - s if reverse else s
        for e in range(n):
            row = e * steps + t
            previous = row + 1 if reverse else row - 1
            de = dout[e]
            dn = dh_next[e]
            dcn = dc_next[e]
            if sequences:
                offset = (t * directions + direction) * units
                for k in range(units):
                    dh[k] = dn[k] + de[offset + k]
            elif s == steps - 1:
                for k in range(units):
                    dh[k] = dn[k] + de[direction * units + k]
            else:
                for k in range(units):
                    dh[k] = dn[k]
            gr = gates[row]
            if cell == SIMPLE:
                for k in range(units):
                    gr[k] = dh[k] * _slope(code, gr[k])
                    dn[k] = zero
            elif cell == LSTM:
                cr = kept[row]
                for k in range(units):
                    i = gr[k]
                    f = gr[units + k]
                    candidate = gr[2 * units + k]
                    o = gr[3 * units + k]
                    tc = math.tanh(cr[k])
                    c_prev = kept[previous, k] if s > 0 else zero
                    dc = dcn[k] + dh[k] * o * (1.0 - tc * tc)
                    gr[k] = dc * candidate * i * (1.0 - i)
                    gr[units + k] = dc * c_prev * f * (1.0 - f)
                    gr[2 * units + k] = dc * i * (1.0 - candidate * candidate)
                    gr[3 * units + k] = dh[k] * tc * o * (1.0 - o)
                    dcn[k] = dc * f
                    dn[k] = zero
            else:
                rr = kept[row]
                for k in range(units):
                    z = gr[k]
                    r = gr[units + k]
                    candidate = gr[2 * units + k]
                    h_prev = h[previous, k] if s > 0 else zero
                    d_candidate = dh[k] * (1.0 - z) * (1.0 - candidate * candidate)
                    gr[k] = dh[k] * (h_prev - candidate) * z * (1.0 - z)
                    gr[units + k] = d_candidate * rr[k] * r * (1.0 - r)
                    gr[2 * units + k] = d_candidate
                    rr[k] = d_candidate * r
                    dn[k] = dh[k] * z
        if s == 0:
            continue
        if truncate > 0 and s % truncate == 0:
            for e in range(n):
                for k in range(units):
                    dh_next[e, k] = zero
                    dc_next[e, k] = zero
            continue
        # ∂loss/∂H₋ through the recurrent product: G Uᵀ (the GRU's candidate part from kept).
        for e in range(n):
            row = e * steps + t
            gr = gates[row]
            target = recurrent[e]
            for k in range(recurrent_width):
                target[k] = gr[k]
            if cell == GRU:
                rr = kept[row]
                for k in range(units):
                    target[recurrent_width + k] = rr[k]
        call(matmul_packed_b, (recurrent, ut_panels, buffer, product))
        for e in range(n):
            dn = dh_next[e]
            pr = product[e]
            for k in range(units):
                dn[k] += pr[k]
