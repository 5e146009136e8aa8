"""The micro-kernel of the packed-panel products (see :mod:`jitprop.kernels.panels`), in LLVM vector instructions.

LLVM's loop vectorizer does not find the outer-product form (it vectorizes
the sum over ``p`` instead, with gathers) and Numba leaves the SLP
vectorizer off, so the block is written directly as vector instructions.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

#: Output rows of the micro-kernel's block: columns of ``a`` per panel.
PANEL_ROWS = 6
#: Bytes of one vector register the micro-kernel targets (AVX).
VECTOR_BYTES = 32


@intrinsic
def outer_product_block(typingctx, a_panel, b_panel, out, i0, j0):
    """``out[i0 + r, j0 + c] = Σ_k a_panel[k, r] · b_panel[k, c]`` for a whole block.

    ``a_panel`` has shape (K, PANEL_ROWS), ``b_panel`` (K, C) with C the
    panel width of the dtype, or (K, n) with n >= C of which the first C
    columns are read (a block of columns of a wider matrix); ``out`` is 2-D, C-contiguous, and must
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
    lanes = VECTOR_BYTES // (4 if dtype == types.float32 else 8)
    vectors = 2

    def codegen(context, builder, signature, args):
        a, b, target = (make_array(t)(context, builder, v) for t, v in zip(signature.args[:3], args[:3]))
        row0, column0 = (context.cast(builder, v, t, types.intp) for v, t in zip(args[3:], signature.args[3:]))
        element = context.get_data_type(dtype)
        vector = ir.VectorType(element, lanes)
        align = context.get_abi_sizeof(element)
        intp = context.get_value_type(types.intp)
        n_rows = builder.extract_value(a.shape, 0)
        b_width = builder.extract_value(b.shape, 1)
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
        b_row = cgutils.gep_inbounds(builder, b.data, builder.mul(k, b_width))
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
