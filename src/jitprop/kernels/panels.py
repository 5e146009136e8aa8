"""Matrix products from packed panels: the form BLAS libraries use.

A layer's three products all sum over one index ``p`` of
``out[i, j] = Σ_p A[i, p] · B[p, j]``:

* forward:          ``Z   = X Wtᵀ``  (sum over the layer's inputs)
* input gradient:   ``G   = D Wt``   (sum over its outputs)
* weight gradient:  ``dWt = Dᵀ X``   (sum over the rows of a tile, as few as 64)

Each operand is first *packed* into panels: ``A`` into panels of
``PANEL_ROWS`` of its rows ``i`` (8 with AVX-512's 32 vector registers, else
6), ``B`` into panels of ``panel_columns`` of its columns ``j`` (two vector
registers: 32 float32 or 16 float64 with AVX-512, else 16 or 8). A panel
holds its slice for every ``p``, one after another, zero-padded to full
width, so that the micro-kernel reads both front to back whatever the
operand's layout. The weights' panels are packed once per update
(:func:`pack_weights` in :mod:`.dense`) and shared by every tile.

The micro-kernel :func:`outer_product_block` keeps a ``PANEL_ROWS`` x C
block of the output in two vector registers a row and adds one outer
product per ``p``: a broadcast from the ``A`` panel per row, two vector
loads from the ``B`` panel, two multiply-adds per row. Each output element
is summed over ``p`` in order.
LLVM's loop vectorizer does not find this form (it vectorizes the sum over
``p`` instead, with gathers) and Numba leaves the SLP vectorizer off, so the
micro-kernel is written directly as LLVM vector instructions (:mod:`._numba.microkernel`).

A small ``A`` whose rows lie apart in memory (a recurrent step's rows of
every example) is read in place instead (:func:`matmul_rows_packed_b`):
packing it would cost as much as the product saves. The forward product of
a layer with long rows of weights swaps the roles (:func:`matmul_nt_reading_b`):
the micro-kernel's broadcasts read ``Wt``'s rows where they lie, so no packed
copy of the weights is made after each update, and the tile's examples are
packed as its vectors.

The form needs no transposed copies and no reductions across a vector
register, which is what makes short sums (the weight gradient over a tile)
and narrow inputs (a first layer of 13 features) fast.
"""

import numpy as np
from numba import njit

from ._numba.microkernel import (
    PANEL_ROWS,
    VECTOR_BYTES,
    outer_product_block,
    outer_product_block_onto,
    outer_product_strided_block,
    outer_product_strided_block_transposed,
)
from ._numba.options import INLINED_KERNEL, KERNEL
from ._numba.parallel import run_tasks
from .layout import view2d
from .tuning import DEPTH_BLOCK, PARALLEL_ROWS


def columns_for_itemsize(itemsize):
    """Output columns of the micro-kernel's block (two vectors) for elements of ``itemsize`` bytes."""
    return 2 * VECTOR_BYTES // itemsize


#: The widest panel of any dtype (float32's).
MAX_PANEL_COLUMNS = columns_for_itemsize(4)
#: One vector of float32: half the widest panel (the micro-kernel's half block, or a float64 block).
VECTOR_COLUMNS = MAX_PANEL_COLUMNS // 2


@njit(**INLINED_KERNEL)
def panel_columns(dtype_example):
    """:func:`columns_for_itemsize` for arrays like ``dtype_example``, in compiled code."""
    return 2 * VECTOR_BYTES // dtype_example.itemsize


def round_up(n, multiple):
    """``n`` rounded up to a multiple of ``multiple``."""
    return -(-n // multiple) * multiple


def padded_width(width):
    """Columns an operand of ``width`` columns takes once packed, with either panel width."""
    return max(round_up(width, PANEL_ROWS), round_up(width, MAX_PANEL_COLUMNS))


@njit(**KERNEL)
def pack_column_panel(x, width, p, panel):
    """Panel ``p`` of ``x``'s columns: ``panel[k, c] = x[k, p·width + c]``, zero past the last column."""
    n_rows, n = x.shape
    j0 = p * width
    count = min(width, n - j0)
    zero = panel.dtype.type(0)
    for k in range(n_rows):
        source = x[k, j0 : j0 + count]
        target = panel[k]
        for c in range(count):
            target[c] = source[c]
        for c in range(count, width):
            target[c] = zero


@njit(**KERNEL)
def pack_row_panel(x, width, p, panel):
    """Panel ``p`` of ``x``'s rows, transposed: ``panel[j, c] = x[p·width + c, j]``, zero past the last row."""
    n_rows, n = x.shape
    i0 = p * width
    count = min(width, n_rows - i0)
    zero = panel.dtype.type(0)
    if width > PANEL_ROWS:
        # A wide panel (the weights', by outputs) is written row by row: read
        # by rows of x, each store of a wide panel lands on a line of its own,
        # and the panel (128 KiB for 1,024 inputs) leaves the L1 cache before
        # the next row of x comes back to it. Measured (Intel Xeon, Sapphire
        # Rapids class, one thread, float32, 32-column panels): a 1024 x 1024
        # Wt packed in 864 µs against 1,853, 256 x 784 in 116 against 348,
        # 128 x 256 in 23 against 26; the 8-column panels of a tile's
        # activations pack faster by rows (46 µs against 75 for 128 x 1024).
        # A full panel of the widths the weights have copies a constant number
        # of elements a row, which the compiler unrolls: 485 µs for the
        # 1024 x 1024 Wt, 56 for 256 x 784 (the loop below: 764 and 111).
        if count == width and width == MAX_PANEL_COLUMNS:
            _gather_rows(x, i0, panel, MAX_PANEL_COLUMNS)
            return
        if count == width and width == MAX_PANEL_COLUMNS // 2:
            _gather_rows(x, i0, panel, MAX_PANEL_COLUMNS // 2)
            return
        for j in range(n):
            target = panel[j]
            for c in range(count):
                target[c] = x[i0 + c, j]
            for c in range(count, width):
                target[c] = zero
        return
    for c in range(count):
        source = x[i0 + c]
        for j in range(n):
            panel[j, c] = source[j]
    for j in range(n):
        target = panel[j]
        for c in range(count, width):
            target[c] = zero


@njit(**INLINED_KERNEL)
def _gather_rows(x, i0, panel, width):
    """``panel[j, c] = x[i0 + c, j]`` for every ``j`` and ``c < width``, ``width`` a constant of the caller."""
    for j in range(panel.shape[0]):
        target = panel[j]
        for c in range(width):
            target[c] = x[i0 + c, j]


@njit(**KERNEL)
def pack_columns(x, width, buffer):
    """Pack the columns of ``x`` (K, n) into panels of ``width``; returns their number.

    Panel ``q`` is ``buffer[q·K·width : (q + 1)·K·width]``, shaped (K, width).
    """
    n_rows, n = x.shape
    count = -(-n // width)
    for q in range(count):
        pack_column_panel(x, width, q, view2d(buffer, q * n_rows * width, n_rows, width))
    return count


@njit(**KERNEL)
def pack_rows(x, width, buffer):
    """Pack the rows of ``x`` (m, n) into transposed panels of ``width``; returns their number.

    Panel ``q`` is ``buffer[q·n·width : (q + 1)·n·width]``, shaped (n, width).
    """
    n_rows, n = x.shape
    count = -(-n_rows // width)
    for q in range(count):
        pack_row_panel(x, width, q, view2d(buffer, q * n * width, n, width))
    return count


@njit(**KERNEL)
def multiply_panels(a_buffer, b_buffer, depth, out):
    """``out[i, j] = Σ_p A[i, p] · B[p, j]`` from packed panels of ``A`` and ``B``.

    ``a_buffer`` holds ``ceil(m / PANEL_ROWS)`` panels (depth, PANEL_ROWS) of
    ``A``, ``b_buffer`` ``ceil(n / C)`` panels (depth, C) of ``B``, where
    (m, n) is ``out``'s shape and C its dtype's :func:`panel_columns`.
    ``out`` is C-contiguous and overwritten. The sums over ``p`` of whole
    blocks run ``DEPTH_BLOCK`` terms at a time (each going on from the
    last), the same bits as in one go: 256 x 1,024 x 1,024 ran 1.02, 1.07
    and 1.18 times as fast as in one go (one thread, Intel Xeon of the
    Sapphire Rapids class, 3 alternating rounds).
    """
    m, n = out.shape
    columns = panel_columns(out)
    block = np.empty((PANEL_ROWS, columns), dtype=out.dtype)
    whole_rows = m // PANEL_ROWS
    for q in range(-(-n // columns)):
        j0 = q * columns
        width = min(columns, n - j0)
        if width == columns:
            # Whole blocks: one part of the B panel (DEPTH_BLOCK of its k) stays
            # in the L1 cache while every A panel's part passes it; each sum goes
            # on from one part to the next.
            for k0 in range(0, max(depth, 1), DEPTH_BLOCK):  # (with no k at all, once: the block is zeros)
                part = min(DEPTH_BLOCK, depth - k0)
                b_part = view2d(b_buffer, (q * depth + k0) * columns, part, columns)
                for p in range(whole_rows):
                    a_part = view2d(a_buffer, (p * depth + k0) * PANEL_ROWS, part, PANEL_ROWS)
                    if k0 == 0:
                        outer_product_block(a_part, b_part, out, p * PANEL_ROWS, j0)
                    else:
                        outer_product_block_onto(a_part, b_part, out, p * PANEL_ROWS, j0)
            first_ragged = whole_rows
        else:
            first_ragged = 0
        # Blocks on the ragged edge go through scratch, over all of k at once.
        b_panel = view2d(b_buffer, q * depth * columns, depth, columns)
        for p in range(first_ragged, -(-m // PANEL_ROWS)):
            a_panel = view2d(a_buffer, p * depth * PANEL_ROWS, depth, PANEL_ROWS)
            i0 = p * PANEL_ROWS
            outer_product_block(a_panel, b_panel, block, 0, 0)
            _copy_corner(block, min(PANEL_ROWS, m - i0), width, out, i0, j0)


@njit(**KERNEL)
def matmul_tn(a, b, buffer, out):
    """``out = aᵀ b``: ``out[i, j] = Σ_k a[k, i] · b[k, j]``, each sum in the order of ``k``.

    Parameters
    ----------
    a : ndarray of shape (K, m)
    b : ndarray of shape (K, n)
        C-contiguous, of one floating dtype.
    buffer : ndarray
        Scratch of at least ``K · (padded_width(m) + padded_width(n))`` elements.
    out : ndarray of shape (m, n)
        Overwritten.
    """
    n_rows = b.shape[0]
    b_size = pack_columns(b, panel_columns(out), buffer) * n_rows * panel_columns(out)
    matmul_tn_packed_b(a, buffer[:b_size], buffer[b_size:], out)


@njit(**KERNEL)
def matmul_tn_packed_b(a, b_buffer, buffer, out):
    """``out = aᵀ B`` for ``a`` (K, m) and ``B`` (K, n) already packed by columns in ``b_buffer``.

    What :func:`matmul_tn` computes, for products that share their right
    operand (a recurrent layer's ``Xᵀ G`` and ``H₋ᵀ G``): it is packed once.
    ``buffer`` is scratch of at least ``K · round_up(m, PANEL_ROWS)`` elements.
    """
    # (np.int64: the literal would compile second copies of the packers.)
    pack_columns(a, np.int64(PANEL_ROWS), buffer)
    multiply_panels(buffer, b_buffer, a.shape[0], out)


@njit(**KERNEL)
def matmul_rows_packed_b(a, b_buffer, out):
    """``out = a B`` for ``B`` packed in ``b_buffer``, reading the rows of ``a`` (m, depth) where they lie.

    What :func:`matmul_packed_b` computes, each sum in the same order, for
    an ``a`` whose rows are contiguous but any distance apart (``x[:, t]``
    of a 3-D ``x``): no copy, no packing.
    """
    depth = a.shape[1]
    columns = panel_columns(out)
    row = a.strides[0] // a.itemsize
    zero, one = np.int64(0), np.int64(1)  # (literals would compile second copies)
    _multiply_in_place(a, zero, one, row, b_buffer, zero, columns, depth * columns, depth, one, zero, zero, out)


@njit(**KERNEL)
def matmul_tn_in_place(a, b, a_first, b_first, rows, segments, period, out):
    """``out = Σ_s a[a_s : a_s + rows]ᵀ b[b_s : b_s + rows]`` with ``a_s = a_first + s·period`` (``b_s`` alike).

    ``out[i, j] = Σ_s Σ_k a[a_s + k, i] · b[b_s + k, j]``, over ``s`` below
    ``segments`` then ``k`` below ``rows``, in order, both operands read
    where they lie: a recurrent layer's ``dU = H₋ᵀ G``, whose rows pair
    each step's ``G`` with ``h`` of the step before, example by example,
    and its ``dW = Xᵀ G`` (one segment). ``a``, ``b`` and ``out`` are 2-D
    with contiguous rows, ``out``'s width (``b``'s) a multiple of
    :func:`panel_columns`.
    """
    size = a.itemsize
    a_row, b_row = a.strides[0] // size, b.strides[0] // size
    columns = panel_columns(out)
    _multiply_in_place(a, a_first * a_row, a_row, np.int64(1), b, b_first * b_row, b_row, columns, rows, segments,
                       period * a_row, period * b_row, out)  # fmt: skip


@njit(**INLINED_KERNEL)
def _multiply_in_place(a, a_start, a_k, a_r, b, b_start, b_k, b_step, depth, segments, a_segment, b_segment, out):
    """Every block of ``out`` by :func:`~._numba.microkernel.outer_product_strided_block`.

    ``out[i, j] = Σ_s Σ_k A[s, k, i] · B[s, k, j]`` with ``A`` and ``B`` as
    the micro-kernel reads them (offsets in elements, ``b_step`` from one
    panel of ``B``'s columns to the next: ``depth·C`` packed, ``C`` in place).
    """
    m, n = out.shape
    columns = panel_columns(out)
    block = np.empty((PANEL_ROWS, columns), dtype=out.dtype)
    for q in range(-(-n // columns)):
        j0 = q * columns
        width = min(columns, n - j0)
        b_panel = b_start + q * b_step
        for i0 in range(0, m, PANEL_ROWS):
            height = min(PANEL_ROWS, m - i0)
            a_panel = a_start + i0 * a_r
            if height == PANEL_ROWS and width == columns:
                geometry = (a_panel, a_k, a_r, height, b_panel, b_k, depth, segments, a_segment, b_segment, i0, j0)
                outer_product_strided_block(a, b, out, geometry)
                continue
            # A block on the ragged edge goes through scratch.
            geometry = (a_panel, a_k, a_r, height, b_panel, b_k, depth, segments, a_segment, b_segment, 0, 0)
            outer_product_strided_block(a, b, block, geometry)
            _copy_corner(block, height, width, out, i0, j0)


@njit(**KERNEL)
def matmul_nt_reading_b(a, b, buffer, out):
    """``out = a bᵀ`` (``out[i, j] = Σ_k a[i, k] · b[j, k]``) by the micro-kernel, ``b`` read where it lies.

    The forward product ``Z = X Wtᵀ`` without a packed copy of the weights:
    the block's rows are outputs ``j``, whose weights the micro-kernel reads
    in place, a row of ``Wt`` for each (its broadcasts), and its columns are
    examples ``i``, from ``a``'s rows packed into a panel of ``C`` (the
    vectors), one panel at a time; each whole block is transposed in the
    vector registers and written into ``out`` a row of outputs at a time
    (copied element by element, 256 x 256 x 256 ran 1.03 to 1.15 times
    slower; same machine).
    Each sum runs over ``k`` in order. (Taking the rows of ``b``
    by groups that stay in the L2 cache through all of a tile's panels was
    slower: W1 1.04 against 1.09, W3 1.10 against 1.14, over dot products.)

    Parameters
    ----------
    a : ndarray of shape (m, depth)
    b : ndarray of shape (n, depth)
        2-D with contiguous rows, of one floating dtype.
    buffer : ndarray
        Scratch of at least ``depth · C`` elements (one panel of ``a``).
    out : ndarray of shape (m, n)
        Overwritten.
    """
    m, depth = a.shape
    n = b.shape[0]
    columns = panel_columns(out)
    panel = view2d(buffer, 0, depth, columns)
    block = np.empty((PANEL_ROWS, columns), dtype=out.dtype)
    b_row = b.strides[0] // b.itemsize
    one, zero = np.int64(1), np.int64(0)
    for q in range(-(-m // columns)):
        pack_row_panel(a, columns, q, panel)
        i0 = q * columns
        width = min(columns, m - i0)
        for j0 in range(0, n, PANEL_ROWS):
            height = min(PANEL_ROWS, n - j0)
            if height == PANEL_ROWS and width == columns:
                geometry = (j0 * b_row, one, b_row, height, zero, columns, depth, one, zero, zero, j0, i0)
                outer_product_strided_block_transposed(b, buffer, out, geometry)
                continue
            # A block on the ragged edge goes through scratch.
            geometry = (j0 * b_row, one, b_row, height, zero, columns, depth, one, zero, zero, zero, zero)
            outer_product_strided_block(b, buffer, block, geometry)
            for c in range(width):
                target = out[i0 + c]
                for r in range(height):
                    target[j0 + r] = block[r, c]


def parallel_reading_b_scratch(rows, depth, itemsize):
    """Elements of scratch :func:`parallel_matmul_nt_reading_b` needs for ``a`` of (rows, depth): a panel a task."""
    return -(-rows // PARALLEL_ROWS) * depth * columns_for_itemsize(itemsize)


@njit(**KERNEL)
def parallel_matmul_nt_reading_b(a, b, buffer, out):
    """:func:`matmul_nt_reading_b` with the rows of ``a`` cut into blocks of ``PARALLEL_ROWS`` that run in parallel.

    The forward product of a wide layer as training runs it on a tile of
    that many rows, over a whole batch on every thread: the form of
    jitprop's products that ``jitprop bench`` sets against BLAS beside
    :func:`~.matmul.parallel_matmul_nt`. Each task packs its own rows into
    its part of ``buffer`` (:func:`parallel_reading_b_scratch` elements);
    every output is the sum of one call over all of ``a``, bit for bit.
    """
    run_tasks(_matmul_rows_reading_b, -(-a.shape[0] // PARALLEL_ROWS), (a, b, buffer, out))


@njit(**KERNEL)
def _matmul_rows_reading_b(a, b, buffer, out, block):
    """Block ``block`` of rows of :func:`parallel_matmul_nt_reading_b`, in its own panel of ``buffer``."""
    lo = block * PARALLEL_ROWS
    hi = min(a.shape[0], lo + PARALLEL_ROWS)
    size = a.shape[1] * panel_columns(out)
    matmul_nt_reading_b(a[lo:hi], b, buffer[block * size : (block + 1) * size], out[lo:hi])


@njit(**INLINED_KERNEL)
def _copy_corner(block, height, width, out, i0, j0):
    """``out[i0 : i0 + height, j0 : j0 + width] = block[:height, :width]``: a ragged-edge block's valid part."""
    for r in range(height):
        target = out[i0 + r, j0 : j0 + width]
        source = block[r]
        for c in range(width):
            target[c] = source[c]


@njit(**KERNEL)
def matmul_packed_b(a, b_buffer, buffer, out):
    """``out = a B`` for ``a`` (m, depth) and ``B`` already packed in ``b_buffer``.

    ``buffer`` is scratch of at least ``depth · round_up(m, PANEL_ROWS)`` elements.
    """
    pack_rows(a, np.int64(PANEL_ROWS), buffer)
    multiply_panels(buffer, b_buffer, a.shape[1], out)
