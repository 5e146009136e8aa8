"""The recurrent cells step by step: the examples' steps forward, and back through them.

What the recurrent kind (:mod:`.recurrent`) runs for one direction of a
tile, after the input projection ``P = X W`` and before the products of the
gradient. The n examples of the tile take each step together. Per step,
with ``G = g·u`` gate values (see :mod:`.recurrent` for the formulas): the
recurrent product ``H₋ U`` of the examples' states, one product from packed
panels that reads each example's ``h₋`` where it lies (:mod:`.panels`,
``U`` packed once per call), then per example the gates' nonlinearities and
the state update, fused (for the LSTM and GRU in a kernel of its own, its
arrays declared apart: :func:`_lstm_step`). Going back, each step's gate pre-activations'
gradient overwrites its gate activations, from which it is computed, and
``∂loss/∂H₋ = G Uᵀ`` is one product from panels over the examples' rows
of ``G``. Each sum of a product runs over ``k`` in order, one example's
independent of the others', so that the results do not depend on ``n``.

In float32 networks the gates' tanh and logistic function are Eigen's
rational approximation of tanh, the one XLA uses, evaluated in float32
(:func:`_tanh`: within 7 float32 ulps of tanh; the logistic function
``(1 + tanh(x/2)) / 2``, within 2e-7 of it, its least value about 1.3e-7):
arithmetic that LLVM vectorizes over a step's units where calls into libm
would not vectorize; float64 networks call ``math.tanh`` and ``math.exp``."""

import math

import numpy as np
from numba import njit

from . import activations
from ._numba.linking import call
from ._numba.arrays import arguments_apart
from ._numba.options import INLINED_KERNEL, KERNEL
from ._numba.precision import by_precision
from ._numba.vector_width import use_register_width
from .layout import untracked, view2d
from .panels import MAX_PANEL_COLUMNS, matmul_rows_packed_b, pack_columns, pack_rows, panel_columns

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
def state_width(cell, units):
    """Elements of a cell's state: ``h``, and the LSTM's ``c`` after it."""
    return (2 if cell == LSTM else 1) * units


#: Eigen's rational approximation of tanh on [-TANH_CLAMP, TANH_CLAMP] (within 7 float32 ulps of tanh):
#: odd numerator coefficients of x¹ … x¹³, even denominator ones of x⁰ … x⁶.
TANH_NUMERATOR = (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08,
                  -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16)  # fmt: skip
TANH_DENOMINATOR = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06)
TANH_CLAMP = 7.90531110763549805


_A1, _A3, _A5, _A7, _A9, _A11, _A13 = (np.float32(a) for a in TANH_NUMERATOR)
_B0, _B2, _B4, _B6 = (np.float32(b) for b in TANH_DENOMINATOR)
_CLAMP = np.float32(TANH_CLAMP)
_SMALL = np.float32(0.0004)
_HALF = np.float32(0.5)


@njit(**INLINED_KERNEL)
def _rational_tanh(x):
    """Eigen's rational tanh, in float32: arithmetic only, so that loops over a step's units vectorize."""
    y = min(max(x, -_CLAMP), _CLAMP)
    y2 = y * y
    p = y * (_A1 + y2 * (_A3 + y2 * (_A5 + y2 * (_A7 + y2 * (_A9 + y2 * (_A11 + y2 * _A13))))))
    q = _B0 + y2 * (_B2 + y2 * (_B4 + y2 * _B6))
    return y if abs(y) < _SMALL else p / q


@njit(**INLINED_KERNEL)
def _libm_tanh(x):
    return math.tanh(x)


@njit(**INLINED_KERNEL)
def _rational_sigmoid(x):
    """``(1 + tanh(x/2)) / 2`` with :func:`_rational_tanh`."""
    return _HALF + _HALF * _rational_tanh(_HALF * x)


@njit(**INLINED_KERNEL)
def _libm_sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


#: ``_tanh(x, like)``: in float32 networks (``like`` a float32) the rational approximation, else ``math.tanh``.
_tanh = by_precision(_rational_tanh, _libm_tanh, "_tanh")
#: ``_sigmoid(x, like)``: the logistic function; in float32 networks ``(1 + tanh(x/2)) / 2`` with ``_tanh``'s.
_sigmoid = by_precision(_rational_sigmoid, _libm_sigmoid, "_sigmoid")


@njit(**INLINED_KERNEL)
def _activate(code, x, zero):
    """A SimpleRNN's activation of one value (``zero``: 0 in its dtype, which also picks the precision)."""
    if code == activations.TANH:
        return _tanh(x, zero)
    if code == activations.SIGMOID:
        return _sigmoid(x, zero)
    if code == activations.RELU:
        return max(x, zero)
    return x


@njit(**INLINED_KERNEL)
def _slope(code, h, one):
    """The derivative of a SimpleRNN's activation, from its output ``h`` (``one``: 1 in its dtype)."""
    if code == activations.TANH:
        return one - h * h
    if code == activations.SIGMOID:
        return h * (one - h)
    if code == activations.RELU:
        return one if h > 0 else one - one
    return one


@njit(**INLINED_KERNEL)
def steps_scratch_size(units, gates, examples):
    """Elements of scratch :func:`run_steps` and :func:`run_steps_back` need for ``examples`` examples.

    ``U`` (or ``Uᵀ``) packed, a step's blocks of ``examples`` rows (``dh``,
    ``dc``, the recurrent product, the GRU's recurrent ``G``; forward only
    the recurrent product), one example's ``dh`` and a zero state.
    """
    panel_u = units * (-(-gates // MAX_PANEL_COLUMNS) * MAX_PANEL_COLUMNS)
    panel_ut = gates * (-(-units // MAX_PANEL_COLUMNS) * MAX_PANEL_COLUMNS)
    return max(panel_u, panel_ut) + examples * (3 * units + gates) + 2 * units


@njit(**INLINED_KERNEL)
def _first_h(initial, e, units, no_state):
    """Example ``e``'s ``h`` before its first step: from ``initial``, else ``no_state`` (zeros)."""
    if initial.shape[0] == 0:
        return no_state
    return initial[e, :units]


@njit(**INLINED_KERNEL)
def _first_c(initial, e, units, no_state):
    """Example ``e``'s LSTM ``c`` before its first step: from ``initial``, else ``no_state`` (zeros)."""
    if initial.shape[0] == 0:
        return no_state
    return initial[e, units : 2 * units]


@njit(**KERNEL)
def _lstm_step(gr, ar, b, cp, cr, hr):
    """One example's LSTM gates and state at one step, after the recurrent product.

    ``gr`` (4u,) holds ``P`` and receives the activations ``[i, f, c̃, o]``;
    ``ar`` (4u,) holds ``h₋U``, ``b`` the bias, ``cp`` the previous ``c``;
    ``cr`` and ``hr`` receive ``c`` and ``h``. Each gate sums ``(P + b) + h₋U``
    (the order of the formulas). A kernel of its own, called per example,
    so that its arrays are arguments apart (:func:`~._numba.arrays.arguments_apart`):
    with the checks LLVM would otherwise make before each example's loop,
    the gates of 64 units took twice as long.
    """
    arguments_apart()
    use_register_width()
    units = cp.shape[0]
    zero = gr.dtype.type(0)
    gi = view2d(gr, 0, 1, units)[0]
    gf = view2d(gr, units, 1, units)[0]
    gc = view2d(gr, 2 * units, 1, units)[0]
    go = view2d(gr, 3 * units, 1, units)[0]
    ai = view2d(ar, 0, 1, units)[0]
    af = view2d(ar, units, 1, units)[0]
    ac = view2d(ar, 2 * units, 1, units)[0]
    ao = view2d(ar, 3 * units, 1, units)[0]
    bi = view2d(b, 0, 1, units)[0]
    bf = view2d(b, units, 1, units)[0]
    bc = view2d(b, 2 * units, 1, units)[0]
    bo = view2d(b, 3 * units, 1, units)[0]
    for k in range(units):
        i = _sigmoid((gi[k] + bi[k]) + ai[k], zero)
        f = _sigmoid((gf[k] + bf[k]) + af[k], zero)
        candidate = _tanh((gc[k] + bc[k]) + ac[k], zero)
        o = _sigmoid((go[k] + bo[k]) + ao[k], zero)
        c = f * cp[k] + i * candidate
        gi[k] = i
        gf[k] = f
        gc[k] = candidate
        go[k] = o
        cr[k] = c
        hr[k] = o * _tanh(c, zero)


@njit(**KERNEL)
def _gru_step(gr, ar, b, hp, rr, hr):
    """One example's GRU gates and state at one step, after the recurrent product (as :func:`_lstm_step`).

    ``gr`` (3u,) holds ``P`` and receives ``[z, r, h̃]``; ``ar`` (3u,)
    holds ``h₋U``, ``b`` (6u,) is ``[b⁰, b¹]``, ``hp`` the previous ``h``;
    ``rr`` receives ``h₋U_h + b¹_h`` (the backward pass needs it) and
    ``hr`` the new ``h``.
    """
    arguments_apart()
    use_register_width()
    units = hp.shape[0]
    one = gr.dtype.type(1)
    zero = one - one
    gz = view2d(gr, 0, 1, units)[0]
    gs = view2d(gr, units, 1, units)[0]
    gc = view2d(gr, 2 * units, 1, units)[0]
    az = view2d(ar, 0, 1, units)[0]
    ar_ = view2d(ar, units, 1, units)[0]
    ac = view2d(ar, 2 * units, 1, units)[0]
    bz = view2d(b, 0, 1, units)[0]
    bs = view2d(b, units, 1, units)[0]
    bc = view2d(b, 2 * units, 1, units)[0]
    recurrent_bz = view2d(b, 3 * units, 1, units)[0]
    recurrent_bs = view2d(b, 4 * units, 1, units)[0]
    recurrent_bc = view2d(b, 5 * units, 1, units)[0]
    for k in range(units):
        z = _sigmoid((gz[k] + bz[k]) + (az[k] + recurrent_bz[k]), zero)
        r = _sigmoid((gs[k] + bs[k]) + (ar_[k] + recurrent_bs[k]), zero)
        product = ac[k] + recurrent_bc[k]
        candidate = _tanh((gc[k] + bc[k]) + r * product, zero)
        gz[k] = z
        gs[k] = r
        gc[k] = candidate
        rr[k] = product
        hr[k] = z * hp[k] + (one - z) * candidate


@njit(**KERNEL)
def run_steps(cell, code, reverse, steps, u, b, gates, h, kept, initial, scratch):
    """The examples' steps forward from a zero state (or ``initial``'s), all examples' step ``t`` at once.

    ``gates`` (n·T, g·u) holds ``P = X W`` and is overwritten with the gates'
    activations; ``h`` (n·T, u) receives ``h`` of each step, ``kept`` (n·T,
    u) ``c`` (LSTM) or ``h₋·U_h + b¹_h`` (GRU). Per step, the n examples'
    ``H₋`` (n, u) are gathered into a block and ``H₋ U`` is one product
    from packed panels (:mod:`.panels`, ``U`` packed once per call); then
    the gates, fused, a row at a time. ``initial`` (n, :func:`state_width`)
    holds each example's state before its first step (``h``, then the
    LSTM's ``c``), or has no rows for a zero state. ``scratch`` holds at
    least :func:`steps_scratch_size` elements.
    """
    use_register_width()  # (the SimpleRNN's loop; the LSTM's and GRU's gates are their step kernels')
    u, b, gates, h, kept, initial, scratch = untracked((u, b, gates, h, kept, initial, scratch))
    units = u.shape[0]
    width = u.shape[1]
    n = gates.shape[0] // steps
    carried = initial.shape[0] > 0
    zero = gates.dtype.type(0)
    size = pack_columns(u, panel_columns(u), scratch) * units * panel_columns(u)
    u_panels = scratch[:size]
    acc = view2d(scratch, size, n, width)
    no_state = view2d(scratch, size + n * width, 1, units)[0]  # the state before the first step
    by_step = h.reshape((n, steps, units))
    for k in range(units):
        no_state[k] = zero
    for s in range(steps):
        t = steps - 1 - s if reverse else s
        back = t + 1 if reverse else t - 1
        # acc = H₋ U, every example's h₋ at once, read where it lies.
        if s > 0 or carried:
            previous = by_step[:, back] if s > 0 else initial[:, :units]
            call(matmul_rows_packed_b, (previous, u_panels, acc))
        else:
            for e in range(n):
                target = acc[e]
                for k in range(width):
                    target[k] = zero
        for e in range(n):
            row = e * steps + t
            gr = gates[row]
            ar = acc[e]
            hr = h[row]
            if cell == SIMPLE:
                for k in range(units):
                    value = _activate(code, (gr[k] + b[k]) + ar[k], zero)
                    gr[k] = value
                    hr[k] = value
            elif cell == LSTM:
                cp = kept[e * steps + back] if s > 0 else _first_c(initial, e, units, no_state)
                call(_lstm_step, (gr, ar, b, cp, kept[row], hr))
            else:
                hp = h[e * steps + back] if s > 0 else _first_h(initial, e, units, no_state)
                call(_gru_step, (gr, ar, b, hp, kept[row], hr))


@njit(**KERNEL)
def run_steps_back(cell, code, reverse, truncate, steps, directions, direction, sequences, u, gates, h, kept, dout,
                   initial, grad_b, scratch):  # fmt: skip
    """The examples' steps in reverse, all examples' step ``t`` at once: ``G`` of every step over its gates.

    With ``truncate`` = k > 0, no gradient passes through the state into
    the step before one whose place in the order of reading is a multiple
    of k: each segment of k steps is differentiated on its own, its first
    state taken as a constant. ``initial`` is :func:`run_steps`'s: the
    state before the first step, a constant (no gradient flows into it).

    ``dout`` (n, width_out) is ∂loss/∂(the layer's output). Overwrites
    ``gates`` with ``G``, and the GRU's ``kept`` with ``r⊙G_h`` (the part
    of ``G`` the recurrent product sees). Per step, ``∂loss/∂H₋ = G Uᵀ``
    is one product from packed panels over the n examples' recurrent ``G``.
    ``grad_b`` receives the bias's gradient, ``Σ G`` over the rows (the
    GRU's recurrent row: of the ``G`` its recurrent product sees), summed
    as each step's ``G`` is made. ``scratch`` holds at least
    :func:`steps_scratch_size` elements.
    """
    units = u.shape[0]
    width = u.shape[1]
    n = gates.shape[0] // steps
    zero = gates.dtype.type(0)
    one = gates.dtype.type(1)  # (a float literal would make float32 arithmetic float64)
    size = pack_rows(u, panel_columns(u), scratch) * width * panel_columns(u)
    ut_panels = scratch[:size]
    dh_next = view2d(scratch, size, n, units)
    dc_next = view2d(scratch, size + n * units, n, units)
    product = view2d(scratch, size + 2 * n * units, n, units)
    recurrent = view2d(scratch, size + 3 * n * units, n, width)
    at = size + n * (3 * units + width)
    dh = view2d(scratch, at, 1, units)[0]
    no_state = view2d(scratch, at + units, 1, units)[0]  # the state before the first step
    by_step = gates.reshape((n, steps, width))
    for k in range(units):
        no_state[k] = zero
    for e in range(n):
        for k in range(units):
            dh_next[e, k] = zero
            dc_next[e, k] = zero
    for k in range(grad_b.shape[0]):
        grad_b[k] = zero
    # The GRU's recurrent row of the bias: its gates' part and its candidate's.
    recurrent_gates_b = grad_b[width : 2 * width - units] if cell == GRU else grad_b[:0]
    recurrent_candidate_b = grad_b[2 * width - units : 2 * width] if cell == GRU else grad_b[:0]
    for s in range(steps - 1, -1, -1):
        t = steps - 1 - s if reverse else s
        for e in range(n):
            row = e * steps + t
            previous = row + 1 if reverse else row - 1
            de = dout[e]
            dn = dh_next[e]
            dcn = dc_next[e]
            if sequences or s == steps - 1:
                # (Views, not de[offset + k]: an index LLVM cannot prove non-negative keeps a loop scalar.)
                offset = ((t * directions if sequences else 0) + direction) * units
                de_step = de[offset : offset + units]
                for k in range(units):
                    dh[k] = dn[k] + de_step[k]
            else:
                for k in range(units):
                    dh[k] = dn[k]
            gr = gates[row]
            if cell == SIMPLE:
                for k in range(units):
                    gr[k] = dh[k] * _slope(code, gr[k], one)
                    dn[k] = zero
            elif cell == LSTM:
                cr = kept[row]
                cp = kept[previous] if s > 0 else _first_c(initial, e, units, no_state)
                gi = view2d(gr, 0, 1, units)[0]
                gf = view2d(gr, units, 1, units)[0]
                gc = view2d(gr, 2 * units, 1, units)[0]
                go = view2d(gr, 3 * units, 1, units)[0]
                for k in range(units):
                    i = gi[k]
                    f = gf[k]
                    candidate = gc[k]
                    o = go[k]
                    tc = _tanh(cr[k], zero)
                    dc = dcn[k] + dh[k] * o * (one - tc * tc)
                    gi[k] = dc * candidate * i * (one - i)
                    gf[k] = dc * cp[k] * f * (one - f)
                    gc[k] = dc * i * (one - candidate * candidate)
                    go[k] = dh[k] * tc * o * (one - o)
                    dcn[k] = dc * f
                    dn[k] = zero
            else:
                rr = kept[row]
                hp = h[previous] if s > 0 else _first_h(initial, e, units, no_state)
                gz = view2d(gr, 0, 1, units)[0]
                gs = view2d(gr, units, 1, units)[0]
                gc = view2d(gr, 2 * units, 1, units)[0]
                for k in range(units):
                    z = gz[k]
                    r = gs[k]
                    candidate = gc[k]
                    d_candidate = dh[k] * (one - z) * (one - candidate * candidate)
                    gz[k] = dh[k] * (hp[k] - candidate) * z * (one - z)
                    gs[k] = d_candidate * rr[k] * r * (one - r)
                    gc[k] = d_candidate
                    rr[k] = d_candidate * r
                    dn[k] = dh[k] * z
            for k in range(width):
                grad_b[k] += gr[k]
            if cell == GRU:
                rr = kept[row]
                for k in range(width - units):
                    recurrent_gates_b[k] += gr[k]
                for k in range(units):
                    recurrent_candidate_b[k] += rr[k]
        if s == 0:
            continue
        if truncate > 0 and s % truncate == 0:
            for e in range(n):
                for k in range(units):
                    dh_next[e, k] = zero
                    dc_next[e, k] = zero
            continue
        # ∂loss/∂H₋ through the recurrent product: G Uᵀ, G read where it lies (the GRU's gathered: the
        # candidate's part of what the product sees is in kept).
        rows = by_step[:, t]
        if cell == GRU:
            for e in range(n):
                row = e * steps + t
                gr = gates[row]
                rr = kept[row]
                target = recurrent[e]
                candidate_part = target[width - units :]
                for k in range(width - units):
                    target[k] = gr[k]
                for k in range(units):
                    candidate_part[k] = rr[k]
            rows = recurrent
        call(matmul_rows_packed_b, (rows, ut_panels, product))
        for e in range(n):
            dn = dh_next[e]
            pr = product[e]
            for k in range(units):
                dn[k] += pr[k]
