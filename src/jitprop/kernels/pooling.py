"""The pooling kinds (one or two spatial axes): max and average over windows, each channel on its own.

For an example ``x`` of shape (H, W, C) and windows of ``kh x kw`` at
strides ``(sh, sw)`` inside the input (no padding; see :mod:`.windows`)::

    max:      z[i, j, c] = max_{u, v} x[i·sh + u, j·sw + v, c]
    average:  z[i, j, c] = Σ_{u, v} x[i·sh + u, j·sw + v, c] / (kh·kw)

Global average pooling is average pooling with one window, the whole input.
The layers have no parameters and no activation (identity): ``a = z``.

The backward kernels pass ``∂loss/∂z`` back to the window elements: all of
it to the largest element of a max window, a ``1/(kh·kw)`` share to each
element of an average window, summed where windows overlap. Max pooling's
forward kernel keeps where each window's maximum is, in the layer's stash
(one value per output, see :mod:`.kinds`): the first maximum (in the order
of ``u``, then ``v``), so ties go to it, deterministically.

Max pooling is two kinds (see :func:`~.kinds.max_pooling_kind`): with
:data:`VECTOR_CHANNELS` channels or more, a window and a vector of channels
at a time (:func:`max_forward_by_vectors`); with fewer, rows of windows
first (:func:`max_forward`). Their backward kernel is the same.
"""

import numpy as np
from numba import njit

from ._numba.options import INLINED_KERNEL, KERNEL
from ._numba.window_vectors import window_maximum
from .layout import LayerKernels, rows, untracked, view2d
from .panels import VECTOR_COLUMNS, panel_columns
from .windows import C, H_OUT, KH, KW, SH, SW, W, W_OUT


def flops(window, outputs, maximum, first):
    """Forward and backward FLOPs per example of a pooling layer with ``outputs`` values of windows of ``window``.

    Forward: ``window − 1`` comparisons (max) or additions and a division
    (average) per output. Backward (none for the ``first`` layer): up to
    ``window`` comparisons and an addition (max), or a division and
    ``window`` additions (average), per output.
    """
    if maximum:
        forward, backward = (window - 1) * outputs, (window + 1) * outputs
    else:
        forward, backward = window * outputs, (window + 1) * outputs
    return forward, 0 if first else backward


def panels(weight_shape, first, training=True):
    """Pooling reads no weights: no panels."""
    return False, False


def tile_scratch(layout, layer, tile_rows):
    """Pooling needs no scratch."""
    return 0


def max_stash(layout, layer):
    """Max pooling keeps, for each output, where in the example its window's first maximum is (see :func:`max_forward`).

    The place is stored in the network's dtype, exactly while it is below
    2^24 (float32's integers): a larger example is refused.
    """
    if int(layout.sizes[layer]) > 1 << 24:
        raise ValueError(f"max pooling takes examples of up to 2^24 values; layer {layer} has {layout.sizes[layer]}")
    return int(layout.sizes[layer + 1])


@njit(**INLINED_KERNEL)
def first_maximum_block(ws, layout, layer, r0, r1):
    """The tile's rows of the layer's stash: each output's first maximum's place in its example's input."""
    width = layout.sizes[layer + 1]
    return view2d(ws.stash, ws.stash_offsets[layer] + r0 * width, r1 - r0, width)


@njit(**INLINED_KERNEL)
def _max_operands(layout, ws, layer, r0, r1):
    """A max pooling tile's input, output and stash rows, and its geometry: (W, C, H_out, W_out, kh, kw, sh, sw)."""
    g = layout.geometry[layer]
    x = rows(ws, ws.activations, layout, layer, r0, r1)
    z = rows(ws, ws.preactivations, layout, layer + 1, r0, r1)
    places = first_maximum_block(ws, layout, layer, r0, r1)
    return x, z, places, (g[W], g[C], g[H_OUT], g[W_OUT], g[KH], g[KW], g[SH], g[SW])


@njit(**KERNEL)
def max_forward(kernels, model, ws, layer, r0, r1):
    """``z = a`` = the maximum of each window, rows ``r0:r1`` (the forward kernel of :mod:`.kinds`).

    For each row of outputs, the maximum over the window's rows (``u``) is
    taken first, element by element over the input rows in one long loop,
    then over its columns (``v``) for each output, channels innermost. Both
    take a select (``max``), not a compare-and-branch: over data in random
    order the branch is mispredicted about once a window, which made the
    kernel several times slower. Measured (AMD EPYC Zen 4, 1 thread, tiles
    of 16, µs an example, medians of 50 calls, three rounds in one process):
    28x28x6 windows of 2x2, 4.0/6.8/7.3 with the select per window element,
    3.5/3.8/3.5 by rows first (and 14-21 with branches, alternating
    processes); 10x10x16 1.1 either way (2-3 with branches). In the layer
    (three rounds of alternating processes): 5.0/9.7/5.4 -> 2.7/2.8/2.8 for
    W5's 28x28x6, 1.1/1.6/1.5 -> 1.0/1.1/1.2 for its 10x10x16. The maximum is
    the same value whichever way.

    Each output's first maximum (in the order of ``u``, then ``v``: the
    smallest place in the example among the window's maxima) is kept in the
    stash for :func:`max_backward`, found by the same selects alongside.
    """
    kernels, model, ws = untracked((kernels, model, ws))
    x, z, places, window = _max_operands(model.layout, ws, layer, r0, r1)
    _maxima_by_rows(x, z, places, window)


@njit(**KERNEL)
def max_inference(kernels, model, ws, layer, r0, r1):
    """:func:`max_forward`'s maxima without their places: its kind's kernel for a pass without a backward pass.

    (See :mod:`.kinds`.) The same values, but where a window's largest
    elements are zeros of both signs, which of them (with places, the first).
    """
    kernels, model, ws = untracked((kernels, model, ws))
    x, z, _, window = _max_operands(model.layout, ws, layer, r0, r1)
    _maxima_by_rows(x, z, None, window)


@njit(**INLINED_KERNEL)
def _maxima_by_rows(x, z, places, window):
    """:func:`max_forward` of the rows ``x`` into ``z``, and each maximum's place into ``places`` unless None."""
    width, channels = window[0], window[1]
    # The maxima of a row of windows over their rows, and where they are.
    columns = np.empty(width * channels, dtype=z.dtype)
    where = np.empty(width * channels if places is not None else 0, dtype=z.dtype)
    for r in range(x.shape[0]):
        # (Two calls: Numba leaves out the code of places for None passed as an argument, not for a variable.)
        if places is None:
            _example_maxima_by_rows(x[r], z[r], None, columns, where, window)
        else:
            _example_maxima_by_rows(x[r], z[r], places[r], columns, where, window)


@njit(**INLINED_KERNEL)
def _example_maxima_by_rows(xr, zr, pr, columns, where, window):
    """One example of :func:`_maxima_by_rows`; ``pr`` its places, or None."""
    width, channels, h_out, w_out, kh, kw, sh, sw = window
    span = ((w_out - 1) * sw + kw) * channels  # (the elements a row of windows spans)
    for i in range(h_out):
        start = i * sh * width * channels
        source = xr[start:]
        if pr is None:
            for k in range(span):
                columns[k] = source[k]
            for u in range(1, kh):
                source = xr[(i * sh + u) * width * channels :]
                for k in range(span):
                    columns[k] = source[k] if source[k] > columns[k] else columns[k]
            _columns_top(columns, zr, i, channels, w_out, kw, sw)
            continue
        for k in range(span):
            columns[k] = source[k]
            where[k] = start + k
        for u in range(1, kh):
            start = (i * sh + u) * width * channels
            source = xr[start:]
            for k in range(span):
                value = source[k]
                larger = value > columns[k]  # (a tie keeps the earlier row)
                columns[k] = value if larger else columns[k]
                where[k] = start + k if larger else where[k]
        if channels >= _VECTOR_CHANNELS:
            _columns_max_by_views(columns, where, zr, pr, i, channels, w_out, kw, sw)
        else:
            _columns_max(columns, where, zr, pr, i, channels, w_out, kw, sw)


@njit(**KERNEL)
def max_forward_by_vectors(kernels, model, ws, layer, r0, r1):
    """What :func:`max_forward` computes, a window and a vector of its channels at a time (:func:`window_maximum`).

    For layers of :data:`VECTOR_CHANNELS` channels or more (see
    :func:`~.kinds.max_pooling_kind`); the channels past the last whole
    vector are taken one by one. W6's 8x8x16 layer on its own (one thread,
    rows of 256 examples): 0.14 µs an example against 0.41 by rows first;
    8x8x32 0.39 against 0.56. (A kind of its own: with the choice made in
    one kernel, LLVM knew the other path's channels to be fewer than a
    vector, and its loops over them ran three times slower.)
    """
    kernels, model, ws = untracked((kernels, model, ws))
    x, z, places, window = _max_operands(model.layout, ws, layer, r0, r1)
    _maxima_by_vectors(x, z, places, window)


@njit(**KERNEL)
def max_inference_by_vectors(kernels, model, ws, layer, r0, r1):
    """:func:`max_forward_by_vectors`'s maxima without their places (see :func:`max_inference`)."""
    kernels, model, ws = untracked((kernels, model, ws))
    x, z, _, window = _max_operands(model.layout, ws, layer, r0, r1)
    _maxima_by_vectors(x, z, None, window)


@njit(**INLINED_KERNEL)
def _maxima_by_vectors(x, z, places, window):
    """:func:`max_forward_by_vectors` of the rows ``x`` into ``z``, and the places into ``places`` unless None."""
    for r in range(x.shape[0]):
        # (See _maxima_by_rows.)
        if places is None:
            _example_maxima_by_vectors(x[r], z[r], None, window)
        else:
            _example_maxima_by_vectors(x[r], z[r], places[r], window)


@njit(**INLINED_KERNEL)
def _example_maxima_by_vectors(xr, zr, pr, window):
    """One example of :func:`_maxima_by_vectors`; ``pr`` its places, or None."""
    width, channels, h_out, w_out, kh, kw, sh, sw = window
    lanes = panel_columns(zr) // 2  # (a vector's)
    whole = channels - channels % lanes
    row_step = width * channels
    for i in range(h_out):
        for j in range(w_out):
            first = (i * w_out + j) * channels
            corner = (i * sh * width + j * sw) * channels
            for c in range(0, whole, lanes):
                window_maximum(xr, corner + c, row_step, kh, kw, channels, zr, pr, first + c)
            for c in range(whole, channels):
                top = xr[corner + c]
                at = corner + c
                for u in range(kh):
                    for v in range(kw):
                        place = corner + u * row_step + v * channels + c
                        better = xr[place] > top
                        top = xr[place] if better else top
                        at = place if better else at
                zr[first + c] = top
                if pr is not None:
                    pr[first + c] = at


#: Fewest channels of max pooling by vectors: a vector of float32 (of float64, two or more).
VECTOR_CHANNELS = VECTOR_COLUMNS

#: Fewest channels whose window maxima are taken a window at a time over views of its channels (see
#: :func:`_columns_max_by_views`): fewer than a vector of float32 spend more on the views than the vectors
#: save. Measured (Intel Xeon of the Sapphire Rapids class, W5-like LeNet, 2 threads, alternating processes):
#: with views for every layer, W5 ran at 0.95 of the code before (median of 4 rounds, each slower) and its
#: max pooling took 13.2% of its time against 6.4%, while its 10x10x16 layer alone, predicting, ran faster
#: (2.27 against 2.90 to 3.05 µs an example); with views from 8 channels, W5 at 0.99 to 1.02 (3 rounds) and
#: W6 (8x8x16) at 1.14 (median of 5 rounds).
_VECTOR_CHANNELS = 8


@njit(**INLINED_KERNEL)
def _columns_max(columns, where, zr, pr, i, channels, w_out, kw, sw):
    """Output row ``i`` of :func:`max_forward`: each window's maximum over its columns, from its rows' maxima.

    Channels innermost, indexing the row of maxima directly: for a few
    channels, where a vector of them would not fill a register.
    """
    out = zr[i * w_out * channels : (i + 1) * w_out * channels]
    kept = pr[i * w_out * channels : (i + 1) * w_out * channels]
    for j in range(w_out):
        for c in range(channels):
            top = columns[j * sw * channels + c]
            at = where[j * sw * channels + c]
            for v in range(1, kw):
                value = columns[(j * sw + v) * channels + c]
                place = where[(j * sw + v) * channels + c]
                # (| and &, not or and and: Python's short-circuit compiles to branches, mispredicted on
                # random data: the layer took 9 µs an example on W5's 28x28x6 against 1.5.)
                better = (value > top) | ((value == top) & (place < at))
                top = value if better else top
                at = place if better else at
            out[j * channels + c] = top
            kept[j * channels + c] = at


@njit(**INLINED_KERNEL)
def _columns_max_by_views(columns, where, zr, pr, i, channels, w_out, kw, sw):
    """What :func:`_columns_max` computes, a window at a time, each of its columns read through a view of its channels.

    An index such as ``j·sw·C + c`` might be negative as far as LLVM knows,
    and Numba's wraparound of negative indices then keeps the loop over
    channels from vectorizing; through views, the index is ``c`` alone.
    W6's 8x8x16 pooling, on its own, 2.2 times as fast (0.83 against 0.38
    µs an example, one thread), W6 1.14 times.
    """
    for j in range(w_out):
        first = (i * w_out + j) * channels
        out = zr[first : first + channels]
        kept = pr[first : first + channels]
        left = j * sw * channels
        top = columns[left : left + channels]
        at = where[left : left + channels]
        for c in range(channels):
            out[c] = top[c]
            kept[c] = at[c]
        for v in range(1, kw):
            value = columns[left + v * channels : left + (v + 1) * channels]
            place = where[left + v * channels : left + (v + 1) * channels]
            for c in range(channels):
                better = (value[c] > out[c]) | ((value[c] == out[c]) & (place[c] < kept[c]))
                out[c] = value[c] if better else out[c]
                kept[c] = place[c] if better else kept[c]


@njit(**INLINED_KERNEL)
def _columns_top(columns, zr, i, channels, w_out, kw, sw):
    """Output row ``i`` of :func:`max_inference`: each window's maximum over its columns, from its rows' maxima.

    Through views of the channels from ``_VECTOR_CHANNELS`` channels (see
    :func:`_columns_max_by_views`), indexing the row directly below.
    """
    for j in range(w_out):
        first = (i * w_out + j) * channels
        left = j * sw * channels
        if channels >= _VECTOR_CHANNELS:
            out = zr[first : first + channels]
            top = columns[left : left + channels]
            for c in range(channels):
                out[c] = top[c]
            for v in range(1, kw):
                value = columns[left + v * channels : left + (v + 1) * channels]
                for c in range(channels):
                    out[c] = value[c] if value[c] > out[c] else out[c]
        else:
            for c in range(channels):
                top = columns[left + c]
                for v in range(1, kw):
                    value = columns[left + v * channels + c]
                    top = value if value > top else top
                zr[first + c] = top


@njit(**KERNEL)
def max_backward(kernels, model, ws, layer, r0, r1, grad):
    """Each output's delta to the first maximum of its window, rows ``r0:r1`` (the backward kernel of :mod:`.kinds`).

    The place of the maximum is the one :func:`max_forward` kept: one
    addition per output. Measured (AMD EPYC Zen 4, 1 thread, tiles of 16,
    medians of 40 calls, three rounds of alternating processes, µs an
    example): W5's 28x28x6 input 1.4-2.0, against 4.9-8.6 when the maximum
    was found again by comparing the window's elements with the output.
    """
    kernels, model, ws, grad = untracked((kernels, model, ws, grad))
    layout = model.layout
    if layer == 0:
        return
    d = rows(ws, ws.deltas, layout, layer + 1, r0, r1)
    places = first_maximum_block(ws, layout, layer, r0, r1)
    d_prev = rows(ws, ws.deltas, layout, layer, r0, r1)
    zero = d_prev.dtype.type(0)
    for r in range(r1 - r0):
        dr = d[r]
        pr = places[r]
        target = d_prev[r]
        for k in range(target.shape[0]):
            target[k] = zero
        for o in range(dr.shape[0]):
            target[int(pr[o])] += dr[o]


@njit(**KERNEL)
def average_forward(kernels, model, ws, layer, r0, r1):
    """``z = a`` = the mean of each window, rows ``r0:r1`` (the forward kernel of :mod:`.kinds`)."""
    kernels, model, ws = untracked((kernels, model, ws))
    layout = model.layout
    g = layout.geometry[layer]
    width, channels = g[W], g[C]
    h_out, w_out, kh, kw, sh, sw = g[H_OUT], g[W_OUT], g[KH], g[KW], g[SH], g[SW]
    x = rows(ws, ws.activations, layout, layer, r0, r1)
    z = rows(ws, ws.preactivations, layout, layer + 1, r0, r1)
    count = z.dtype.type(kh * kw)
    zero = z.dtype.type(0)
    for r in range(r1 - r0):
        xr = x[r]
        zr = z[r]
        for i in range(h_out):
            for j in range(w_out):
                out = zr[(i * w_out + j) * channels : (i * w_out + j + 1) * channels]
                for c in range(channels):
                    out[c] = zero
                for u in range(kh):
                    for v in range(kw):
                        at = ((i * sh + u) * width + j * sw + v) * channels
                        for c in range(channels):
                            out[c] += xr[at + c]
                for c in range(channels):
                    out[c] = out[c] / count


@njit(**KERNEL)
def average_backward(kernels, model, ws, layer, r0, r1, grad):
    """Each output's delta shared out over its window, rows ``r0:r1`` (the backward kernel of :mod:`.kinds`)."""
    kernels, model, ws, grad = untracked((kernels, model, ws, grad))
    layout = model.layout
    d = rows(ws, ws.deltas, layout, layer + 1, r0, r1)
    if layer == 0:
        return
    g = layout.geometry[layer]
    width, channels = g[W], g[C]
    h_out, w_out, kh, kw, sh, sw = g[H_OUT], g[W_OUT], g[KH], g[KW], g[SH], g[SW]
    d_prev = rows(ws, ws.deltas, layout, layer, r0, r1)
    count = d_prev.dtype.type(kh * kw)
    zero = d_prev.dtype.type(0)
    for r in range(r1 - r0):
        dr = d[r]
        target = d_prev[r]
        for k in range(target.shape[0]):
            target[k] = zero
        for i in range(h_out):
            for j in range(w_out):
                share = dr[(i * w_out + j) * channels : (i * w_out + j + 1) * channels]
                for u in range(kh):
                    for v in range(kw):
                        at = ((i * sh + u) * width + j * sw + v) * channels
                        for c in range(channels):
                            target[at + c] += share[c] / count


MAX_KERNELS = LayerKernels(
    "max_pooling", max_forward, max_backward, tile_scratch, panels, stash=max_stash, inference=max_inference
)
#: Max pooling of :data:`VECTOR_CHANNELS` channels or more.
MAX_BY_VECTORS_KERNELS = LayerKernels(
    "max_pooling_by_vectors",
    max_forward_by_vectors,
    max_backward,
    tile_scratch,
    panels,
    stash=max_stash,
    inference=max_inference_by_vectors,
)
AVERAGE_KERNELS = LayerKernels("average_pooling", average_forward, average_backward, tile_scratch, panels)
