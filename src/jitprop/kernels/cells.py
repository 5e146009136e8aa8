"""The recurrent cells step by step: each example's steps forward, and back through them.

What the recurrent kind (:mod:`.recurrent`) runs for one direction of a
tile, after the input projection ``P = X W`` and before the products of the
gradient. Per step, with ``G = g·u`` gate values (see :mod:`.recurrent` for
the formulas): the recurrent product ``h₋·U`` (a row of ``U`` at a time,
over contiguous gate values), then the gates' nonlinearities and the state
update, fused. Going back, each step's gate pre-activations' gradient
overwrites its gate activations, from which it is computed, and
``∂loss/∂h₋ = G Uᵀ`` (dot products over contiguous rows of ``U``).
"""

import math

from numba import njit

from . import activations
from ._numba.options import INLINED_KERNEL, KERNEL

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


@njit(**KERNEL)
def run_steps(cell, code, reverse, steps, u, b, gates, h, kept, vectors):
    """Each example's steps forward from a zero state (see the module's docstring).

    ``gates`` (n·T, g·u) holds ``P = X W`` and is overwritten with the gates'
    activations; ``h`` (n·T, u) receives ``h`` of each step, ``kept`` (n·T,
    u) ``c`` (LSTM) or ``h₋·U_h + b¹_h`` (GRU). ``vectors`` is scratch of
    at least 2·u + g·u elements.
    """
    units = u.shape[0]
    width = u.shape[1]
    n = gates.shape[0] // steps
    zero = gates.dtype.type(0)
    h_prev = vectors[:units]
    c_prev = vectors[units : 2 * units]
    acc = vectors[2 * units : 2 * units + width]
    input_bias = b[:width]
    for e in range(n):
        for k in range(units):
            h_prev[k] = zero
            c_prev[k] = zero
        for s in range(steps):
            t = steps - 1 - s if reverse else s
            row = e * steps + t
            # acc = h₋·U (+ b¹ for the GRU), one row of U after another.
            if cell == GRU:
                for k in range(width):
                    acc[k] = b[width + k]
            else:
                for k in range(width):
                    acc[k] = zero
            if s > 0:
                for j in range(units):
                    hj = h_prev[j]
                    uj = u[j]
                    for k in range(width):
                        acc[k] += hj * uj[k]
            gr = gates[row]
            hr = h[row]
            if cell == SIMPLE:
                for k in range(units):
                    value = _activate(code, gr[k] + input_bias[k] + acc[k])
                    gr[k] = value
                    hr[k] = value
                    h_prev[k] = value
            elif cell == LSTM:
                cr = kept[row]
                for k in range(units):
                    i = _sigmoid(gr[k] + input_bias[k] + acc[k])
                    f = _sigmoid(gr[units + k] + input_bias[units + k] + acc[units + k])
                    candidate = math.tanh(gr[2 * units + k] + input_bias[2 * units + k] + acc[2 * units + k])
                    o = _sigmoid(gr[3 * units + k] + input_bias[3 * units + k] + acc[3 * units + k])
                    c = f * c_prev[k] + i * candidate
                    value = o * math.tanh(c)
                    gr[k] = i
                    gr[units + k] = f
                    gr[2 * units + k] = candidate
                    gr[3 * units + k] = o
                    cr[k] = c
                    c_prev[k] = c
                    hr[k] = value
                    h_prev[k] = value
            else:
                rr = kept[row]
                for k in range(units):
                    z = _sigmoid(gr[k] + input_bias[k] + acc[k])
                    r = _sigmoid(gr[units + k] + input_bias[units + k] + acc[units + k])
                    product = acc[2 * units + k]
                    candidate = math.tanh(gr[2 * units + k] + input_bias[2 * units + k] + r * product)
                    value = z * h_prev[k] + (1.0 - z) * candidate
                    gr[k] = z
                    gr[units + k] = r
                    gr[2 * units + k] = candidate
                    rr[k] = product
                    hr[k] = value
                    h_prev[k] = value


@njit(**KERNEL)
def run_steps_back(cell, code, reverse, truncate, steps, directions, direction, sequences, u, gates, h, kept, dout,
                   vectors):  # fmt: skip
    """Each example's steps in reverse: ``G`` of every step over its gates (see the module's docstring).

    With ``truncate`` = k > 0, no gradient passes through the state into
    the step before one whose place in the order of reading is a multiple
    of k: each segment of k steps is differentiated on its own, its first
    state taken as a constant.

    ``dout`` (n, width_out) is ∂loss/∂(the layer's output). Overwrites
    ``gates`` with ``G``, and the GRU's ``kept`` with ``r⊙G_h`` (the part
    of ``G`` the recurrent product sees). ``vectors`` is scratch of at
    least 3·u elements.
    """
    units = u.shape[0]
    width = u.shape[1]
    n = gates.shape[0] // steps
    zero = gates.dtype.type(0)
    dh = vectors[:units]
    dh_next = vectors[units : 2 * units]
    dc_next = vectors[2 * units : 3 * units]
    for e in range(n):
        for k in range(units):
            dh_next[k] = zero
            dc_next[k] = zero
        de = dout[e]
        for s in range(steps - 1, -1, -1):
            t = steps - 1 - s if reverse else s
            row = e * steps + t
            previous = row + 1 if reverse else row - 1
            if sequences:
                at = (t * directions + direction) * units
                for k in range(units):
                    dh[k] = dh_next[k] + de[at + k]
            elif s == steps - 1:
                for k in range(units):
                    dh[k] = dh_next[k] + de[direction * units + k]
            else:
                for k in range(units):
                    dh[k] = dh_next[k]
            gr = gates[row]
            if cell == SIMPLE:
                for k in range(units):
                    gr[k] = dh[k] * _slope(code, gr[k])
                    dh_next[k] = zero
            elif cell == LSTM:
                cr = kept[row]
                for k in range(units):
                    i = gr[k]
                    f = gr[units + k]
                    candidate = gr[2 * units + k]
                    o = gr[3 * units + k]
                    tc = math.tanh(cr[k])
                    c_prev = kept[previous, k] if s > 0 else zero
                    dc = dc_next[k] + dh[k] * o * (1.0 - tc * tc)
                    gr[k] = dc * candidate * i * (1.0 - i)
                    gr[units + k] = dc * c_prev * f * (1.0 - f)
                    gr[2 * units + k] = dc * i * (1.0 - candidate * candidate)
                    gr[3 * units + k] = dh[k] * tc * o * (1.0 - o)
                    dc_next[k] = dc * f
                    dh_next[k] = zero
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
                    dh_next[k] = dh[k] * z
            if s == 0:
                continue
            if truncate > 0 and s % truncate == 0:
                for k in range(units):
                    dh_next[k] = zero
                    dc_next[k] = zero
                continue
            # ∂loss/∂h₋ through the recurrent product: G Uᵀ (the GRU's candidate part from kept).
            recurrent = width - units if cell == GRU else width
            for j in range(units):
                uj = u[j]
                total = zero
                for k in range(recurrent):
                    total += gr[k] * uj[k]
                if cell == GRU:
                    rr = kept[row]
                    for k in range(units):
                        total += rr[k] * uj[recurrent + k]
                dh_next[j] += total
