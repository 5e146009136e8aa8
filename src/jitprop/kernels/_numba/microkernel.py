"""The micro-kernel of the packed-panel products (see :mod:`jitprop.kernels.panels`), in LLVM vector instructions.

LLVM's loop vectorizer does not find the outer-product form (it vectorizes
the sum over ``p`` instead, with gathers) and Numba leaves the SLP
vectorizer off, so the block is written directly as vector instructions.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils, config
from numba.core.codegen import get_host_cpu_features
from numba.extending import intrinsic
from numba.np.arrayobj import make_array


def _vector_registers():
    """Vector registers of the CPU Numba compiles for: 32 with AVX-512, else 16.

    Read from the features Numba targets (``NUMBA_CPU_FEATURES``, else the
    host's), which key its cache: cached code and this process agree.
    """
    features = config.CPU_FEATURES if config.CPU_FEATURES is not None else get_host_cpu_features()
    return 32 if "+avx512f" in features.split(",") else 16


#: Output rows of the micro-kernel's block, columns of ``a`` per panel: as many as the vector registers
#: hold, two accumulators a row beside two vectors of ``b`` and one of ``a`` (8·2 + 3 of 32 with
#: AVX-512, else 6·2 + 3 of 16). Each sum runs over ``k`` in the same order whatever the height.
PANEL_ROWS = 8 if _vector_registers() == 32 else 6
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
    if not (isinstance(a_panel, types.Array) and a_panel.layout == "C"):
        return None
    dtype = _block_dtype(a_panel, b_panel, out)
    if dtype is None:
        return None

    def codegen(context, builder, signature, args):
        a = make_array(signature.args[0])(context, builder, args[0])
        intp = context.get_value_type(types.intp)
        n_rows = builder.extract_value(a.shape, 0)

        def a_element(k, r):
            return cgutils.gep_inbounds(
                builder, a.data, builder.add(builder.mul(k, ir.Constant(intp, PANEL_ROWS)), ir.Constant(intp, r))
            )

        _outer_product(context, builder, signature, args, dtype, n_rows, a_element)
        return context.get_dummy_value()

    return types.void(a_panel, b_panel, out, i0, j0), codegen


@intrinsic
def outer_product_rows_block(typingctx, a, a0, height, b_panel, out, i0, j0):
    """``out[i0 + r, j0 + c] = Σ_k a[a0 + r, k] · b_panel[k, c]``: :func:`outer_product_block` reading ``a`` in place.

    ``a`` is 2-D with contiguous rows, any distance apart (a column of a
    3-D array's blocks, say); rows ``a0`` to ``a0 + height - 1`` are read,
    and the block's rows past ``height`` repeat the last (``out`` must hold
    them all the same). ``b_panel`` and ``out`` as for
    :func:`outer_product_block`. Nothing is checked.
    """
    if not (isinstance(a, types.Array) and a.ndim == 2):
        return None
    dtype = _block_dtype(a, b_panel, out)
    if dtype is None:
        return None

    def codegen(context, builder, signature, args):
        array = make_array(signature.args[0])(context, builder, args[0])
        intp = context.get_value_type(types.intp)
        first, count = (context.cast(builder, v, t, types.intp) for v, t in zip(args[1:3], signature.args[1:3]))
        row_stride = builder.extract_value(array.strides, 0)
        base = builder.ptrtoint(array.data, intp)
        last = builder.sub(count, ir.Constant(intp, 1))
        rows = []
        for r in range(PANEL_ROWS):
            offset = builder.select(builder.icmp_signed("<", ir.Constant(intp, r), count), ir.Constant(intp, r), last)
            address = builder.add(base, builder.mul(builder.add(first, offset), row_stride))
            rows.append(builder.inttoptr(address, array.data.type))

        def a_element(k, r):
            return cgutils.gep_inbounds(builder, rows[r], k)

        _outer_product(context, builder, signature, args, dtype, builder.extract_value(array.shape, 1), a_element)
        return context.get_dummy_value()

    return types.void(a, a0, height, b_panel, out, i0, j0), codegen


def _block_dtype(a, b_panel, out):
    """The dtype shared by a micro-kernel's operands, or None where they do not fit it."""
    if not (isinstance(b_panel, types.Array) and b_panel.layout == "C"):
        return None
    if not (isinstance(out, types.Array) and out.ndim == 2 and out.layout == "C"):
        return None
    dtype = out.dtype
    if dtype not in (types.float32, types.float64) or a.dtype != dtype or b_panel.dtype != dtype:
        return None
    return dtype


def _outer_product(context, builder, signature, args, dtype, depth, a_element):
    """Code of a block product: ``a_element(k, r)`` points at ``a``'s element ``(r, k)`` (``r`` an int);
    ``b_panel, out, i0, j0`` are the last four arguments."""
    b, target = (make_array(t)(context, builder, v) for t, v in zip(signature.args[-4:-2], args[-4:-2]))
    row0, column0 = (context.cast(builder, v, t, types.intp) for v, t in zip(args[-2:], signature.args[-2:]))
    rows = PANEL_ROWS
    lanes = VECTOR_BYTES // (4 if dtype == types.float32 else 8)
    vectors = 2
    element = context.get_data_type(dtype)
    vector = ir.VectorType(element, lanes)
    align = context.get_abi_sizeof(element)
    intp = context.get_value_type(types.intp)
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
    builder.cbranch(builder.icmp_signed("<", k, depth), body, done)

    builder.position_at_end(body)
    b_row = cgutils.gep_inbounds(builder, b.data, builder.mul(k, b_width))
    b_vectors = [builder.load(vector_at(b_row, v * lanes), align=align) for v in range(vectors)]
    updated = []
    for r in range(rows):
        x = builder.load(a_element(k, r), align=align)
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
