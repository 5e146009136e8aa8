"""Convolution products with the output positions along the vectors: for layers of few filters.

The micro-kernel (:mod:`.panels`) adds outer products into a block of
``PANEL_ROWS`` rows by ``C`` columns (two vectors: 16 float32 with AVX,
32 with AVX-512). A convolution whose products put its filters along the
columns (:mod:`.conv`'s ``Z = P Wm``) fills 6 of them with 6 filters, and
copies each window twice (into the rows of ``P``, then into panels), a few
elements at a time. Here the positions run along the vectors instead.

An example is copied channels-first with its zeros added, ``xp[c, y, x]``
(``H_p x W_p``, as far as the windows read), and read as one flat row. The
window of output ``(i, j)`` starts at ``q = i·sh·W_p + j·sw`` of it, and its
element ``(u, v, c)`` lies ``off = c·H_p·W_p + u·W_p + v`` further on. So
the matrix ``Pᵀ`` of the windows, taken over every ``q < L`` (the last
window's start, plus one), is ``K`` shifted copies of the example::

    pt[(u·kw + v)·C + c, q] = xp[q + off]

made by long contiguous copies. The columns ``q`` that are no output
position (``x`` past the last window of a row, or between strides) are
computed and dropped: ``W_p / W_out`` times the work of the positions at
stride 1 (32/28 for a 28-wide "same" 5x5), ``sh·sw`` times as much at larger
strides. Then

* forward:          ``Zᵀ = Wmᵀ Pᵀ``: the micro-kernel reads blocks of ``C``
  columns of ``pt`` in place (the last may be half a block:
  :func:`columns_of_pt`), the filters packed in panels of 6 (8 with
  AVX-512), each block transposed into rows of filters; or, where the
  filters fill whole vectors, ``Z = P Wm`` with ``pt``'s elements at the
  output positions broadcast and ``Wm``'s rows read in place, the blocks
  ``z``'s rows as they lie (:func:`_forward_by_filter_vectors`);
* weight gradient:  ``dWm = P D``, by the micro-kernel too
  (:func:`weight_gradient`): the rows ``k`` of ``pt`` read in place at the
  output positions' columns, ``D``'s rows of filters as its vectors, the
  bias's gradient with them (a row of ones under ``pt``).

:func:`.conv.by_positions` decides which layers take these products.
"""

import numpy as np
from numba import njit

from ._numba.microkernel import (
    PANEL_ROWS,
    outer_product_block,
    outer_product_half_block,
    outer_product_strided_block,
    outer_product_strided_block_onto,
    outer_product_strided_block_transposed,
    outer_product_strided_half_block,
    outer_product_strided_half_block_onto,
    outer_product_strided_half_block_transposed,
    outer_product_strided_short_block_onto,
    outer_product_strided_short_half_block_onto,
)
from ._numba.options import INLINED_KERNEL, KERNEL
from .layout import view2d
from .panels import MAX_PANEL_COLUMNS, VECTOR_COLUMNS, panel_columns, round_up
from .windows import C, H, H_OUT, KH, KW, PH, PW, SH, SW, W, W_OUT


@njit(**INLINED_KERNEL)
def padded_shape(geometry):
    """``(H_p, W_p)``: an example with its zeros added, as far as the windows read."""
    hp = (geometry[H_OUT] - 1) * geometry[SH] + geometry[KH]
    wp = (geometry[W_OUT] - 1) * geometry[SW] + geometry[KW]
    return hp, wp


@njit(**INLINED_KERNEL)
def starts(geometry):
    """``L``: the columns of ``pt``, one past the last window's start."""
    hp, wp = padded_shape(geometry)
    return (geometry[H_OUT] - 1) * geometry[SH] * wp + (geometry[W_OUT] - 1) * geometry[SW] + 1


@njit(**INLINED_KERNEL)
def padded_elements(geometry):
    """Elements of the padded example, with room for reads of a block past its end (zeros)."""
    hp, wp = padded_shape(geometry)
    return hp * wp * geometry[C] + geometry[KW] + MAX_PANEL_COLUMNS


@njit(**INLINED_KERNEL)
def columns_of_pt(geometry):
    """Columns of ``pt`` as stored: ``L`` rounded up to a whole vector of float32.

    Not to whole blocks of the micro-kernel (two vectors; the last block
    may be half of one, see :func:`block_product`): for an 8x8 image
    ("same" 3x3, ``L`` = 78) those would be 96 columns for 64 positions,
    against 80 here, a waste that shrinks as images grow, so that time grew
    more slowly than the positions.
    """
    return -(-starts(geometry) // VECTOR_COLUMNS) * VECTOR_COLUMNS


@njit(**INLINED_KERNEL)
def block_product(panel, columns_block, out, i0, q0, columns, width):
    """The micro-kernel's block of ``out`` at ``(i0, q0)``: whole, or its first half if only that is in ``width``."""
    if q0 + columns <= width:
        outer_product_block(panel, columns_block, out, i0, q0)
    else:
        outer_product_half_block(panel, columns_block, out, i0, q0)


def scratch_size(geometry, depth, filters, rows):
    """Elements of a tile's scratch: the padded example, ``pt`` (K, L'), then the rest.

    ``pt`` has room for K rounded up to 6 rows: the backward writes ``dPt``
    there. Forward: the filters' panels, ``zq`` (L', C_out) with room for
    its last row's whole vector, and the bias repeated along an output row
    (or :func:`_forward_by_filter_vectors`' block and repeated bias);
    backward: ``pt``, a row of ones and ``Dᵀ`` ((K + 1 + C_out, L')), the
    panels of ``Wm``'s rows and :func:`weight_gradient`'s spare block and
    copy of the deltas. One example at a time: ``rows`` does not matter.
    """
    width = int(columns_of_pt.py_func(geometry))
    positions = int(geometry[H_OUT]) * int(geometry[W_OUT])
    forward = round_up(filters, PANEL_ROWS) * depth + filters * 2 * width + PANEL_ROWS
    by_filter_vectors = PANEL_ROWS * MAX_PANEL_COLUMNS + int(geometry[W_OUT]) * filters
    spare = PANEL_ROWS * MAX_PANEL_COLUMNS + positions * round_up(filters, VECTOR_COLUMNS)
    backward = (depth + 1 + filters) * width + round_up(depth, PANEL_ROWS) * filters + spare
    largest = max(forward, by_filter_vectors, backward)
    return int(padded_elements.py_func(geometry)) + round_up(depth, PANEL_ROWS) * width + largest


@njit(**KERNEL)
def window_offsets(geometry):
    """Where element ``(u·kw + v)·C + c`` of a window lies in the padded example from the window's start."""
    kh, kw, channels = geometry[KH], geometry[KW], geometry[C]
    hp, wp = padded_shape(geometry)
    offsets = np.empty(kh * kw * channels, dtype=np.int64)
    for u in range(kh):
        for v in range(kw):
            for c in range(channels):
                offsets[(u * kw + v) * channels + c] = (c * hp + u) * wp + v
    return offsets


@njit(**KERNEL)
def lower_transposed(xe, geometry, scratch, pt):
    """``pt`` (K, L') of the example ``xe`` (H·W·C): the first L' columns of the K rows of ``pt``.

    The padded example is made at ``scratch[:padded_elements]``.
    """
    height, width, channels = geometry[H], geometry[W], geometry[C]
    kh, kw, ph, pw = geometry[KH], geometry[KW], geometry[PH], geometry[PW]
    hp, wp = padded_shape(geometry)
    size = padded_elements(geometry)
    padded = scratch[:size]
    zero = padded.dtype.type(0)
    for k in range(size):
        padded[k] = zero
    # The columns x0 <= x < x1 come from the input.
    x0 = min(wp, pw)
    x1 = max(x0, min(wp, pw + width))
    for y in range(max(0, ph), min(hp, ph + height)):
        source = xe[((y - ph) * width + x0 - pw) * channels :]
        for c in range(channels):
            target = padded[(c * hp + y) * wp + x0 :]
            for x in range(x1 - x0):
                target[x] = source[x * channels + c]
    columns = columns_of_pt(geometry)
    for u in range(kh):
        for v in range(kw):
            for c in range(channels):
                source = padded[(c * hp + u) * wp + v :]
                target = pt[(u * kw + v) * channels + c]
                for q in range(columns):
                    target[q] = source[q]


@njit(**KERNEL)
def forward(x, geometry, wm, b, scratch, z, a, rectified):
    """``z = P Wm + b`` for the examples ``x`` (rows of H·W·C) into ``z`` (examples·positions, C_out), and ``a``.

    ``a`` (shaped as ``z``) receives ``max(z, 0)`` if ``rectified``, else
    ``z``, written with it: the layer's activation (relu, or identity).

    Each block of ``C`` columns of ``pt`` is multiplied by every panel of
    filters, the block of ``Zᵀ`` transposed in the vector registers into
    ``zq`` (L', C_out), a row of filters for each column ``q``; then each
    output position's row of ``zq``, with the bias, goes to ``z`` (at
    stride 1, an output row's positions at once). (Taken from a ``Zᵀ`` element by element instead, W6's layer
    took 1.06 to 1.13 times as long, a 16x16x1 image's 8 filters 1.22 to
    1.27: one thread, 32 examples, Intel Xeon of the Sapphire Rapids class.)
    """
    depth, filters = wm.shape
    columns = panel_columns(z)
    if filters % (columns // 2) == 0:
        _forward_by_filter_vectors(x, geometry, wm, b, scratch, z, a, rectified)
        return
    h_out, w_out, sh, sw = geometry[H_OUT], geometry[W_OUT], geometry[SH], geometry[SW]
    hp, wp = padded_shape(geometry)
    groups = -(-filters // PANEL_ROWS)
    width = columns_of_pt(geometry)
    start = padded_elements(geometry)  # (where pt is)
    at = start + -(-depth // PANEL_ROWS) * PANEL_ROWS * width
    filter_panels = scratch[at : at + groups * depth * PANEL_ROWS]
    zq_at = at + groups * depth * PANEL_ROWS
    zq = view2d(scratch, zq_at, width, filters)
    zq_flat = scratch[zq_at : zq_at + width * filters]
    runs = sw == 1
    run = w_out * filters
    # (After zq and the PANEL_ROWS elements its last row's store reads and writes back past its end.)
    bias_run = scratch[zq_at + width * filters + PANEL_ROWS : zq_at + width * filters + PANEL_ROWS + run]
    if runs:
        _repeat(b, bias_run)
    zero = wm.dtype.type(0)
    for g in range(groups):
        panel = view2d(filter_panels, g * depth * PANEL_ROWS, depth, PANEL_ROWS)
        count = min(PANEL_ROWS, filters - g * PANEL_ROWS)
        for k in range(depth):
            for r in range(PANEL_ROWS):
                panel[k, r] = wm[k, g * PANEL_ROWS + r] if r < count else zero
    positions = h_out * w_out
    one, zero_ = np.int64(1), np.int64(0)
    for e in range(x.shape[0]):
        lower_transposed(x[e], geometry, scratch, view2d(scratch, start, depth, width))
        for q0 in range(0, width, columns):
            for g in range(groups):
                # The filters' panel g (depth, 6) by pt's columns q0.. (rows of `width`), into zq[q0 + c, 6g + r],
                # the filters r < count only.
                count = min(PANEL_ROWS, filters - g * PANEL_ROWS)
                geometry_ = (g * depth * PANEL_ROWS, PANEL_ROWS, one, count, start + q0, width, depth)
                geometry_ = geometry_ + (one, zero_, zero_, g * PANEL_ROWS, q0)
                if q0 + columns <= width:
                    outer_product_strided_block_transposed(filter_panels, scratch, zq, geometry_)
                else:  # (the last columns may be half a block: see columns_of_pt)
                    outer_product_strided_half_block_transposed(filter_panels, scratch, zq, geometry_)
        if runs:
            # Each output row's positions are consecutive columns of pt, and rows of zq as long as z's: one run
            # each, with the bias repeated beside it (rows of a few filters one by one were not vectorized, nor
            # are loops with offsets inside: either took longer than the products).
            outputs = z[e * positions : (e + 1) * positions].reshape(positions * filters)
            activated = a[e * positions : (e + 1) * positions].reshape(positions * filters)
            for i in range(h_out):
                target = outputs[i * w_out * filters :]
                target_a = activated[i * w_out * filters :]
                source = zq_flat[i * sh * wp * filters :]
                _add_and_activate(source, bias_run, target, target_a, run, rectified)
            continue
        for i in range(h_out):
            for j in range(w_out):
                source = zq[i * sh * wp + j * sw]
                position = e * positions + i * w_out + j
                _add_and_activate(source, b, z[position], a[position], filters, rectified)


@njit(**INLINED_KERNEL)
def _repeat(b, run):
    """``run`` filled with ``b`` over and over: the bias along an output row's positions."""
    for t in range(run.shape[0]):
        run[t] = b[t % b.shape[0]]


@njit(**INLINED_KERNEL)
def _add_and_activate(source, bias, z, a, count, rectified):
    """``z[t] = source[t] + bias[t]`` and ``a[t]`` = its relu if ``rectified``, else itself, for ``t < count``.

    The layer's activation written with ``z`` while its values are in
    registers: the tile's own pass over ``z`` is left out (see
    :data:`~jitprop.kernels.conv.POSITION_KERNELS`).
    """
    zero = z.dtype.type(0)
    if rectified:
        for t in range(count):
            value = source[t] + bias[t]
            z[t] = value
            a[t] = max(value, zero)
    else:
        for t in range(count):
            value = source[t] + bias[t]
            z[t] = value
            a[t] = value


@njit(**KERNEL)
def _forward_by_filter_vectors(x, geometry, wm, b, scratch, z, a, rectified):
    """:func:`forward` of a layer whose filters fill whole vectors: the output positions along the block's rows.

    Blocks of ``PANEL_ROWS`` consecutive positions of an output row by one
    or two vectors of filters: the micro-kernel broadcasts ``pt``'s elements
    in place (a row ``k`` of ``pt`` for each term, the positions' columns
    ``q``) and reads ``Wm``'s rows of filters where they lie, and the block
    is ``z``'s rows as they are stored. The same sums as the other form, bit
    for bit, without its transposition of ``Zᵀ``, and no column ``q`` is
    computed that is no position. A block past the end of an output row goes
    through scratch.
    """
    depth, filters = wm.shape
    h_out, w_out, sh, sw = geometry[H_OUT], geometry[W_OUT], geometry[SH], geometry[SW]
    _, wp = padded_shape(geometry)
    columns = panel_columns(z)
    width = columns_of_pt(geometry)
    start = padded_elements(geometry)  # (where pt is)
    block_at = start + -(-depth // PANEL_ROWS) * PANEL_ROWS * width
    block = view2d(scratch, block_at, PANEL_ROWS, columns)
    positions = h_out * w_out
    run = w_out * filters
    bias_run = scratch[block_at + PANEL_ROWS * columns : block_at + PANEL_ROWS * columns + run]
    _repeat(b, bias_run)
    z_flat = z.reshape(z.size)
    a_flat = a.reshape(a.size)
    one, zero = np.int64(1), np.int64(0)
    for e in range(x.shape[0]):
        lower_transposed(x[e], geometry, scratch, view2d(scratch, start, depth, width))
        first_row = e * positions
        for i in range(h_out):
            for j0 in range(0, w_out, PANEL_ROWS):
                height = min(PANEL_ROWS, w_out - j0)
                row = first_row + i * w_out + j0
                a_start = start + i * sh * wp + j0 * sw
                for f0 in range(0, filters, columns):
                    count = min(columns, filters - f0)
                    direct = height == PANEL_ROWS
                    i0, j0_ = (row, f0) if direct else (zero, zero)
                    geometry_ = (a_start, width, sw, height, f0, filters, depth, one, zero, zero, i0, j0_)
                    target = z if direct else block
                    if count == columns:
                        outer_product_strided_block(scratch, wm, target, geometry_)
                    else:
                        outer_product_strided_half_block(scratch, wm, target, geometry_)
                    if not direct:
                        for r in range(height):
                            for c in range(count):
                                z[row + r, f0 + c] = block[r, c]
            # The bias and the activation, along the output row (a loop over a position's few filters is not
            # vectorized).
            z_run = z_flat[(first_row + i * w_out) * filters : (first_row + (i + 1) * w_out) * filters]
            a_run = a_flat[(first_row + i * w_out) * filters : (first_row + (i + 1) * w_out) * filters]
            _add_and_activate(z_run, bias_run, z_run, a_run, run, rectified)


@njit(**KERNEL)
def backward(x, geometry, wm, dz, scratch, grad_wb, dx, first):
    """``grad_wb += [Pᵀ D; Σ D]`` and, unless ``first``, ``dx`` = the input gradient of ``x``.

    ``grad_wb`` (K + 1, C_out) is the gradient of ``Wm`` (K, C_out) and, in
    its last row, of the bias: they lie so in the parameters.
    ``dz`` (examples·positions, C_out) holds ``D``. Example by example, both
    are the micro-kernel's (:func:`weight_gradient`), the bias's as the
    gradient of a weight whose input is always 1 (a row of ones under
    ``pt``), added onto ``grad_wb``. The input gradient is the adjoint of the lowering: ``dPᵀ = Wm
    Dᵀ`` (the micro-kernel, ``Wm``'s rows in panels of 6, blocks of ``Dᵀ``,
    ``D`` transposed into ``pt``'s columns, read in place), each row ``k``
    added to the padded example's gradient at its offset, whose inside is
    then ``dx`` (rows of H·W·C).
    """
    depth, filters = wm.shape
    height, width_in, channels = geometry[H], geometry[W], geometry[C]
    h_out, w_out, sh, sw = geometry[H_OUT], geometry[W_OUT], geometry[SH], geometry[SW]
    ph, pw = geometry[PH], geometry[PW]
    hp, wp = padded_shape(geometry)
    width = columns_of_pt(geometry)
    columns = panel_columns(dz)
    positions = h_out * w_out
    size = padded_elements(geometry)
    groups = -(-depth // PANEL_ROWS)
    d_pt = view2d(scratch, size, groups * PANEL_ROWS, width)
    pt_at = size + groups * PANEL_ROWS * width
    ones = scratch[pt_at + depth * width : pt_at + (depth + 1) * width]
    dt_at = pt_at + (depth + 1) * width
    dt = view2d(scratch, dt_at, filters, width)
    at = dt_at + filters * width
    # The input gradient's: Wm's rows in panels of 6.
    row_panels = scratch[at : at + groups * filters * PANEL_ROWS]
    spare = scratch[at + groups * filters * PANEL_ROWS :]
    zero = grad_wb.dtype.type(0)
    for q in range(width):
        ones[q] = 1
    offsets = window_offsets(geometry)
    if not first:
        for t in range(groups):
            panel = view2d(row_panels, t * filters * PANEL_ROWS, filters, PANEL_ROWS)
            for o in range(filters):
                for r in range(PANEL_ROWS):
                    k = t * PANEL_ROWS + r
                    panel[o, r] = wm[k, o] if k < depth else zero
    gradient = scratch[:size]  # (once pt is made, the padded example's place)
    for e in range(x.shape[0]):
        lower_transposed(x[e], geometry, scratch, view2d(scratch, pt_at, depth, width))
        deltas = dz[e * positions : (e + 1) * positions]
        weight_gradient(scratch, pt_at, geometry, deltas, spare, grad_wb)
        if first:
            continue
        for o in range(filters):
            target = dt[o]
            for q in range(width):
                target[q] = zero
        for i in range(h_out):
            for j in range(w_out):
                delta = deltas[i * w_out + j]
                q = i * sh * wp + j * sw
                for o in range(filters):
                    dt[o, q] = delta[o]
        for k in range(size):
            gradient[k] = zero
        # dPt, a block of 6 rows by C columns at a time, then each row added at its offset.
        for q0 in range(0, width, columns):  # (all of d_pt's columns: zeros past L)
            block = view2d(scratch, dt_at + q0, filters, width)
            for t in range(groups):
                panel = view2d(row_panels, t * filters * PANEL_ROWS, filters, PANEL_ROWS)
                block_product(panel, block, d_pt, t * PANEL_ROWS, q0, columns, width)
        for k in range(depth):
            target = gradient[offsets[k] :]
            source = d_pt[k]
            for q in range(width):
                target[q] += source[q]
        # The inside of the padded example's gradient, channels last (zeros where no window reads).
        xe = dx[e]
        for y in range(height):
            for xx in range(width_in):
                inside = y + ph < hp and xx + pw < wp
                for c in range(channels):
                    where = ((c * hp + y + ph) * wp + xx + pw) if inside else 0
                    xe[(y * width_in + xx) * channels + c] = gradient[where] if inside else zero


@njit(**KERNEL)
def weight_gradient(scratch, pt_at, geometry, deltas, spare, grad_w):
    """``grad_w[k, o] +=`` the sum over an example's positions ``p`` of ``pt[k, q] · deltas[p, o]``.

    ``pt`` (as many rows as ``grad_w``, L') lies at ``scratch[pt_at:]``; position ``p = i·W_out + j``
    reads its column ``q = i·sh·W_p + j·sw``. The micro-kernel takes blocks
    of ``PANEL_ROWS`` rows ``k`` by one or two vectors of filters, its sum
    over ``j`` in segments of one output row ``i`` each, reading ``pt`` and
    ``deltas`` where they lie (from a copy with zeros past C_out when C_out
    is no whole number of vectors), and adds each sum onto ``grad_w``'s
    element in the order of the positions: over a tile's examples, one chain
    of multiply-adds per element. A block on the ragged edge goes through
    ``spare``, which also holds that copy.
    """
    depth, filters = grad_w.shape
    h_out, w_out, sh, sw = geometry[H_OUT], geometry[W_OUT], geometry[SH], geometry[SW]
    _, wp = padded_shape(geometry)
    width = columns_of_pt(geometry)
    columns = panel_columns(grad_w)
    lanes = columns // 2
    padded = -(-filters // lanes) * lanes
    b = deltas
    if padded != filters:
        positions = deltas.shape[0]
        b = view2d(spare, PANEL_ROWS * columns, positions, padded)
        zero = b.dtype.type(0)
        for p in range(positions):
            for o in range(padded):
                b[p, o] = deltas[p, o] if o < filters else zero
    block = view2d(spare, 0, PANEL_ROWS, columns)
    for f0 in range(0, filters, columns):
        half = padded - f0 <= lanes
        count = min(lanes if half else columns, filters - f0)
        for k0 in range(0, depth, PANEL_ROWS):
            height = min(PANEL_ROWS, depth - k0)
            # (The last rows of K: a block of 2 or 4 rows, not one that repeats them to PANEL_ROWS.)
            rows = 2 if height <= 2 else 4 if height <= 4 else PANEL_ROWS
            direct = height == rows and count == (lanes if half else columns)
            i0, j0 = (k0, f0) if direct else (0, 0)
            a_start = pt_at + k0 * width
            geometry_ = (a_start, sw, width, height, f0, padded, w_out, h_out, sh * wp, w_out * padded, i0, j0)
            if not direct:
                for r in range(height):
                    for c in range(count):
                        block[r, c] = grad_w[k0 + r, f0 + c]
            target = grad_w if direct else block
            if rows == 2 and half:
                outer_product_strided_short_half_block_onto(scratch, b, target, geometry_, 2)
            elif rows == 2:
                outer_product_strided_short_block_onto(scratch, b, target, geometry_, 2)
            elif rows == 4 and half:
                outer_product_strided_short_half_block_onto(scratch, b, target, geometry_, 4)
            elif rows == 4:
                outer_product_strided_short_block_onto(scratch, b, target, geometry_, 4)
            elif half:
                outer_product_strided_half_block_onto(scratch, b, target, geometry_)
            else:
                outer_product_strided_block_onto(scratch, b, target, geometry_)
            if not direct:
                for r in range(height):
                    for c in range(count):
                        grad_w[k0 + r, f0 + c] = block[r, c]
