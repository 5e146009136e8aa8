"""The weight-gradient product, ``out = aᵀ b``, from packed panels.

The weight gradient of a layer is ``dWt = Dᵀ A``: a sum over the rows of a
tile (as few as 64) of outer products of a delta row and an activation row.
Written as dot products over those short rows it needs both operands
transposed first and spends much of its time reducing vector registers; the
form used here, the one BLAS libraries use, needs neither:

1. *Pack.* The columns of ``a`` are cut into panels of ``PANEL_ROWS`` (6)
   and those of ``b`` into panels of ``panel_columns`` (two vector
   registers: 16 float32 or 8 float64). A panel holds its slice of every row
   of the operand, one after another, zero-padded to full width, so the
   micro-kernel reads both operands front to back.
2. *Multiply.* The micro-kernel :func:`outer_product_block` keeps a 6 x 16
   block of the output in twelve vector registers and adds one outer product
   per row: one broadcast from the ``a`` panel, two vector loads from the
   ``b`` panel, twelve multiply-adds. Each output element is summed over the
   rows in order.

LLVM's loop vectorizer cannot find this form (it vectorizes the sum over
rows instead, with gathers) and Numba leaves the SLP vectorizer off, so the
micro-kernel is written directly as LLVM vector instructions.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

from .._numba_options import KERNEL
from .layout import view2d

#: Output rows of the micro-kernel's block: columns of ``a`` per panel.
PANEL_ROWS = 6
# Bytes of one vector register the micro-kernel targets (AVX).
_VECTOR_BYTES = 32


@njit(**KERNEL)
def panel_columns(dtype_example):
    """Output columns of the micro-kernel's block (two vectors) for arrays like ``dtype_example``."""
    return 2 * _VECTOR_BYTES // dtype_example.itemsize


def padded_width(width):
    """Columns an operand of ``width`` columns takes once packed, with either panel width."""
    return max(-(-width // PANEL_ROWS) * PANEL_ROWS, -(-width // 16) * 16)


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
            x = builder.shuffle_vector(x, ir.Constant(vector, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), lanes), None))
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


@njit(**KERNEL)
def pack_panels(x, width, buffer):
    """Cut the columns of ``x`` (K, n) into zero-padded panels of ``width``.

    Panel ``p`` is ``buffer[p·K·width : (p + 1)·K·width]``, shaped (K, width),
    and holds ``x[:, p·width : (p + 1)·width]``. Returns the number of panels.
    """
    n_rows, n = x.shape
    n_full = n // width
    for p in range(n_full):
        panel = view2d(buffer, p * n_rows * width, n_rows, width)
        for k in range(n_rows):
            source = x[k, p * width : (p + 1) * width]
            target = panel[k]
            for c in range(width):
                target[c] = source[c]
    rest = n - n_full * width
    if rest == 0:
        return n_full
    panel = view2d(buffer, n_full * n_rows * width, n_rows, width)
    zero = buffer.dtype.type(0)
    for k in range(n_rows):
        source = x[k, n_full * width :]
        target = panel[k]
        for c in range(rest):
            target[c] = source[c]
        for c in range(rest, width):
            target[c] = zero
    return n_full + 1


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
    n = b.shape[1]
    columns = panel_columns(out)
    a_size = n_rows * (-(-m // PANEL_ROWS) * PANEL_ROWS)
    a_panels = pack_panels(a, PANEL_ROWS, buffer[:a_size])
    b_panels = pack_panels(b, columns, buffer[a_size:])
    block = np.empty((PANEL_ROWS, columns), dtype=out.dtype)
    b_buffer = buffer[a_size:]
    for q in range(b_panels):
        # One b panel (K x C, a few KiB) stays in L1 while every a panel passes it.
        b_panel = view2d(b_buffer, q * n_rows * columns, n_rows, columns)
        j0 = q * columns
        width = min(columns, n - j0)
        for p in range(a_panels):
            a_panel = view2d(buffer, p * n_rows * PANEL_ROWS, n_rows, PANEL_ROWS)
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
