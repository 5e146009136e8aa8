"""Matrix products from packed panels: the form BLAS libraries use.

A layer's three products all sum over one index ``p`` of
``out[i, j] = Σ_p A[i, p] · B[p, j]``:

* forward:          ``Z   = X Wtᵀ``  (sum over the layer's inputs)
* input gradient:   ``G   = D Wt``   (sum over its outputs)
* weight gradient:  ``dWt = Dᵀ X``   (sum over the rows of a tile, as few as 64)

Each operand is first *packed* into panels: ``A`` into panels of
``PANEL_ROWS`` (6) of its rows ``i``, ``B`` into panels of
``panel_columns`` (two vector registers: 16 float32 or 8 float64) of its
columns ``j``. A panel holds its slice for every ``p``, one after another,
zero-padded to full width, so that the micro-kernel reads both front to back
whatever the operand's layout. The weights' panels are packed once per
update (:func:`pack_weights` in :mod:`.dense`) and shared by every tile.

The micro-kernel :func:`outer_product_block` keeps a 6 x 16 block of the
output in twelve vector registers and adds one outer product per ``p``: one
broadcast from the ``A`` panel, two vector loads from the ``B`` panel,
twelve multiply-adds. Each output element is summed over ``p`` in order.
LLVM's loop vectorizer does not find this form (it vectorizes the sum over
``p`` instead, with gathers) and Numba leaves the SLP vectorizer off, so the
micro-kernel is written directly as LLVM vector instructions.

The form needs no transposed copies and no reductions across a vector
register, which is what makes short sums (the weight gradient over a tile)
and narrow inputs (a first layer of 13 features) fast.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

from .._numba_options import INLINED_KERNEL, KERNEL
from .layout import view2d

#: Output rows of the micro-kernel's block: columns of ``a`` per panel.
PANEL_ROWS = 6
# Bytes of one vector register the micro-kernel targets (AVX).
_VECTOR_BYTES = 32


def columns_for_itemsize(itemsize):
    """Output columns of the micro-kernel's block (two vectors) for elements of ``itemsize`` bytes."""
    return 2 * _VECTOR_BYTES // itemsize


#: The widest panel of any dtype (float32's).
MAX_PANEL_COLUMNS = columns_for_itemsize(4)


@njit(**INLINED_KERNEL)
def panel_columns(dtype_example):
    """:func:`columns_for_itemsize` for arrays like ``dtype_example``, in compiled code."""
    return 2 * _VECTOR_BYTES // dtype_example.itemsize


@intrinsic
def outer_product_block(typingctx, a_panel, b_panel, out, i0, j0):
    """``out[i0 + r, j0 + c] = Σ_k a_panel[k, r] · b_panel[k, c]`` for a whole block.

    ``a_panel`` has shape (K, PANEL_ROWS), ``b_panel`` (K, C) with C the
    panel width of the dtype; ``out`` is 2-D, C-contiguous, and must
    hold the whole block. All of one floating dtype. Nothing is checked.
    """
    if not all(isinstance(x, types.Array) and x.layout == "C" for x in (a_panel, b_panel)):
        return None
    if not (isinstance(out, types.Array) and out.ndim == 2 and out.layout == "C"):
        return None
    dtype = out.dtype
    if dtype not in (types.float32, types.float64) or a_panel.dtype != dtype or b_panel.dtype != dtype:
        return None
    rows = PANEL_ROWS
    lanes = _VECTOR_BYTES // (4 if dtype == types.float32 else 8)
    vectors = 2
    columns = lanes * vectors

    def codegen(context, builder, signature, args):
        a, b, target = (make_array(t)(context, builder, v) for t, v in zip(signature.args[:3], args[:3]))
        row0, column0 = (context.cast(builder, v, t, types.intp) for v, t in zip(args[3:], signature.args[3:]))
        element = context.get_data_type(dtype)
        vector = ir.VectorType(element, lanes)
        align = context.get_abi_sizeof(element)
        intp = context.get_value_type(types.intp)
        n_rows = builder.extract_value(a.shape, 0)
        flags = ("contract",)

        def vector_at(pointer, offset):
            return builder.bitcast(cgutils.gep_inbounds(builder, pointer, offset), vector.as_pointer())

        start = builder.basic_block
        head = builder.append_basic_block("outer.head")
        body = builder.append_basic_block("outer.body")
        done = builder.append_basic_block("outer.done")
        builder.branch(head)

        builder.position_at_end(head)
        k = builder.phi(intp, name="k")
        k.add_incoming(ir.Constant(intp, 0), start)
        sums = []
        for _ in range(rows * vectors):
            s = builder.phi(vector)
            s.add_incoming(ir.Constant(vector, None), start)
            sums.append(s)
        builder.cbranch(builder.icmp_signed("<", k, n_rows), body, done)

        builder.position_at_end(body)
        a_row = cgutils.gep_inbounds(builder, a.data, builder.mul(k, ir.Constant(intp, rows)))
        b_row = cgutils.gep_inbounds(builder, b.data, builder.mul(k, ir.Constant(intp, columns)))
        b_vectors = [builder.load(vector_at(b_row, v * lanes), align=align) for v in range(vectors)]
        updated = []
        for r in range(rows):
            x = builder.load(cgutils.gep_inbounds(builder, a_row, r), align=align)
            x = builder.insert_element(ir.Constant(vector, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
            zeros = ir.Constant(ir.VectorType(ir.IntType(32), lanes), None)
            x = builder.shuffle_vector(x, ir.Constant(vector, ir.Undefined), zeros)
            for v in range(vectors):
                product = builder.fmul(x, b_vectors[v], flags=flags)
                updated.append(builder.fadd(sums[r * vectors + v], product, flags=flags))
        for s, u in zip(sums, updated):
            s.add_incoming(u, body)
        k.add_incoming(builder.add(k, ir.Constant(intp, 1)), body)
        builder.branch(head)

        builder.position_at_end(done)
        row_stride = builder.extract_value(target.strides, 0)
        for r in range(rows):
            row = builder.add(row0, ir.Constant(intp, r))
            address = builder.add(builder.ptrtoint(target.data, intp), builder.mul(row, row_stride))
            row_start = cgutils.gep_inbounds(builder, builder.inttoptr(address, target.data.type), column0)
            for v in range(vectors):
                builder.store(sums[r * vectors + v], vector_at(row_start, v * lanes), align=align)
        return context.get_dummy_value()

    return types.void(a_panel, b_panel, out, i0, j0), codegen


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
    for c in range(count):
        source = x[i0 + c]
        for j in range(n):
            panel[j, c] = source[j]
    zero = panel.dtype.type(0)
    for j in range(n):
        target = panel[j]
        for c in range(count, width):
            target[c] = zero


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
    ``out`` is C-contiguous and overwritten.
    """
    m, n = out.shape
    columns = panel_columns(out)
    block = np.empty((PANEL_ROWS, columns), dtype=out.dtype)
    for q in range(-(-n // columns)):
        # One B panel stays in cache while every A panel passes it.
        b_panel = view2d(b_buffer, q * depth * columns, depth, columns)
        j0 = q * columns
        width = min(columns, n - j0)
        for p in range(-(-m // PANEL_ROWS)):
            a_panel = view2d(a_buffer, p * depth * PANEL_ROWS, depth, PANEL_ROWS)
            i0 = p * PANEL_ROWS
            height = min(PANEL_ROWS, m - i0)
            if height == PANEL_ROWS and width == columns:
                outer_product_block(a_panel, b_panel, out, i0, j0)
                continue
            # A block on the ragged edge goes through scratch.
            outer_product_block(a_panel, b_panel, block, 0, 0)
            for r in range(height):
                target = out[i0 + r, j0 : j0 + width]
                source = block[r]
                for c in range(width):
                    target[c] = source[c]


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
    n_rows, m = a.shape
    a_size = n_rows * (-(-m // PANEL_ROWS) * PANEL_ROWS)
    # (np.int64: the literal would compile second copies of the packers.)
    pack_columns(a, np.int64(PANEL_ROWS), buffer[:a_size])
    pack_columns(b, panel_columns(out), buffer[a_size:])
    multiply_panels(buffer, buffer[a_size:], n_rows, out)


@njit(**KERNEL)
def matmul_packed_b(a, b_buffer, buffer, out):
    """``out = a B`` for ``a`` (m, depth) and ``B`` already packed in ``b_buffer``.

    ``buffer`` is scratch of at least ``depth · round_up(m, PANEL_ROWS)`` elements.
    """
    pack_rows(a, np.int64(PANEL_ROWS), buffer)
    multiply_panels(buffer, b_buffer, a.shape[1], out)

