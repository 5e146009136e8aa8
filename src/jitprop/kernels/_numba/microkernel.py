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


def _targets_avx512():
    """Whether the CPU Numba compiles for has AVX-512 (32 vector registers of 64 bytes, against AVX's 16 of 32).

    Read from the features Numba targets (``NUMBA_CPU_FEATURES``, else the
    host's), which key its cache: cached code and this process agree.
    """
    features = config.CPU_FEATURES if config.CPU_FEATURES is not None else get_host_cpu_features()
    return "+avx512f" in features.split(",")


#: Whether the CPU Numba targets has AVX-512.
AVX512 = _targets_avx512()
#: Output rows of the micro-kernel's block, columns of ``a`` per panel: as many as the vector registers
#: hold, two accumulators a row beside two vectors of ``b`` and one of ``a`` (8·2 + 3 of 32 with
#: AVX-512, else 6·2 + 3 of 16). Each sum runs over ``k`` in the same order whatever the height.
PANEL_ROWS = 8 if AVX512 else 6
#: Bytes of one vector register the micro-kernel uses: AVX-512's 64 (Zen 4 splits them in two halves,
#: and still ran W7's tile 10% faster with them than with 32), else AVX's 32.
VECTOR_BYTES = 64 if AVX512 else 32


@intrinsic
def outer_product_block(typingctx, a_panel, b_panel, out, i0, j0):
    """``out[i0 + r, j0 + c] = Σ_k a_panel[k, r] · b_panel[k, c]`` for a whole block.

    ``a_panel`` has shape (K, PANEL_ROWS), ``b_panel`` (K, C) with C the
    panel width of the dtype, or (K, n) with n >= C of which the first C
    columns are read (a block of columns of a wider matrix); ``out`` is 2-D, C-contiguous, and must
    hold the whole block. All of one floating dtype. Nothing is checked.
    """
    return _whole_block(a_panel, b_panel, out, i0, j0, vectors=2)


@intrinsic
def outer_product_block_onto(typingctx, a_panel, b_panel, out, i0, j0):
    """:func:`outer_product_block` added onto the block: ``out[i0 + r, j0 + c] += Σ_k a_panel[k, r] · b_panel[k, c]``.

    Each sum goes on from the value in ``out``, one multiply-add per ``k``
    as before: a sum over ``k`` cut into consecutive parts, the first by
    :func:`outer_product_block` and the rest by this, gives the same bits
    as one call over all of ``k``.
    """
    return _whole_block(a_panel, b_panel, out, i0, j0, vectors=2, onto=True)


@intrinsic
def outer_product_half_block(typingctx, a_panel, b_panel, out, i0, j0):
    """:func:`outer_product_block` of the block's first C/2 columns (one vector a row, not two), each sum the same.

    For the last columns of a product whose width is a whole number of
    vectors but not of blocks.
    """
    return _whole_block(a_panel, b_panel, out, i0, j0, vectors=1)


def _whole_block(a_panel, b_panel, out, i0, j0, vectors, onto=False):
    """The typing and code of :func:`outer_product_block` ``vectors`` vectors wide."""
    if not all(isinstance(x, types.Array) and x.layout == "C" for x in (a_panel, b_panel)):
        return None
    dtype = _block_dtype(a_panel, b_panel, out)
    if dtype is None:
        return None

    def codegen(context, builder, signature, args):
        a, b = (make_array(t)(context, builder, v) for t, v in zip(signature.args[:2], args[:2]))
        intp = context.get_value_type(types.intp)
        i0, j0 = (context.cast(builder, v, t, types.intp) for v, t in zip(args[3:], signature.args[3:]))
        zero, one, rows = (ir.Constant(intp, v) for v in (0, 1, PANEL_ROWS))
        depth = builder.extract_value(a.shape, 0)
        b_k = builder.extract_value(b.shape, 1)
        geometry = (zero, rows, one, rows, zero, b_k, depth, one, zero, zero, i0, j0)
        _block_code(context, builder, signature.args[2], args[2], dtype, a.data, b.data, geometry, vectors, onto)
        return context.get_dummy_value()

    return types.void(a_panel, b_panel, out, i0, j0), codegen


#: What :func:`outer_product_strided_block`'s ``geometry`` holds, in this order.
GEOMETRY = ("a_start", "a_k", "a_r", "height", "b_start", "b_k", "depth", "segments", "a_segment", "b_segment",
            "i0", "j0")  # fmt: skip


@intrinsic
def outer_product_strided_block(typingctx, a, b, out, geometry):
    """:func:`outer_product_block` with both operands read where they lie, the sum over ``k`` in segments.

    ``out[i0 + r, j0 + c] = Σ_s Σ_k A[s, k, r] · B[s, k, c]`` for the
    PANEL_ROWS x C block, segments ``s`` in order, each ``k`` in order, where

    * ``A[s, k, r] = a.flat[a_start + s·a_segment + k·a_k + min(r, height - 1)·a_r]``
    * ``B[s, k, c] = b.flat[b_start + s·b_segment + k·b_k + c]``

    counting elements from each array's first, ``k`` below ``depth`` and
    ``s`` below ``segments``: ``geometry`` holds these twelve integers in
    the order of :data:`GEOMETRY`. The block's rows past ``height`` repeat
    the last (``out`` must hold them all the same). ``a`` and ``b`` are
    arrays of any layout, ``out`` 2-D with contiguous rows. Nothing is checked.
    """
    return _strided_block(a, b, out, geometry)


@intrinsic
def outer_product_strided_half_block(typingctx, a, b, out, geometry):
    """:func:`outer_product_strided_block` of the block's first C/2 columns (one vector a row)."""
    return _strided_block(a, b, out, geometry, vectors=1)


@intrinsic
def outer_product_strided_block_transposed(typingctx, a, b, out, geometry):
    """:func:`outer_product_strided_block` stored transposed: ``out[j0 + c, i0 + r]`` for every ``r`` and ``c``.

    The same sums, bit for bit. Every row is read (``a`` must hold
    ``PANEL_ROWS`` of them), but those past ``height`` are not stored: the
    ``PANEL_ROWS`` elements of each ``c`` are read and written back, those
    past ``height`` as they were (``out`` must hold them). With 8
    rows, the block is transposed in the vector registers and each ``c``
    stored as one vector of 8; otherwise element by element.
    """
    return _strided_block(a, b, out, geometry, transposed=True)


@intrinsic
def outer_product_strided_half_block_transposed(typingctx, a, b, out, geometry):
    """:func:`outer_product_strided_block_transposed` of the block's first C/2 columns (one vector a row)."""
    return _strided_block(a, b, out, geometry, transposed=True, vectors=1)


@intrinsic
def outer_product_strided_block_onto(typingctx, a, b, out, geometry):
    """:func:`outer_product_strided_block` added onto the block, each sum going on from its value (see
    :func:`outer_product_block_onto`)."""
    return _strided_block(a, b, out, geometry, onto=True)


@intrinsic
def outer_product_strided_half_block_onto(typingctx, a, b, out, geometry):
    """:func:`outer_product_strided_block_onto` of the block's first C/2 columns (one vector a row)."""
    return _strided_block(a, b, out, geometry, vectors=1, onto=True)


@intrinsic(prefer_literal=True)
def outer_product_strided_short_block_onto(typingctx, a, b, out, geometry, rows):
    """:func:`outer_product_strided_block_onto` of a block of ``rows`` rows, a constant below PANEL_ROWS.

    For the last rows of a sum whose rows are no whole number of panels:
    the multiply-adds of the rows a full block would repeat are not made.
    Rows past ``height`` repeat the last, as there.
    """
    return _short_block(a, b, out, geometry, rows, vectors=2)


@intrinsic(prefer_literal=True)
def outer_product_strided_short_half_block_onto(typingctx, a, b, out, geometry, rows):
    """:func:`outer_product_strided_short_block_onto` of the block's first C/2 columns (one vector a row)."""
    return _short_block(a, b, out, geometry, rows, vectors=1)


def _short_block(a, b, out, geometry, rows, vectors):
    """The typing and code of the short blocks, ``rows`` an integer literal."""
    if not (isinstance(rows, types.IntegerLiteral) and 0 < rows.literal_value < PANEL_ROWS):
        return None
    typed = _strided_block(a, b, out, geometry, vectors=vectors, onto=True, rows=rows.literal_value)
    if typed is None:
        return None
    _, codegen = typed
    return types.void(a, b, out, geometry, rows), codegen


def _strided_block(a, b, out, geometry, transposed=False, vectors=2, onto=False, rows=PANEL_ROWS):
    """The typing and code of the strided block products, ``vectors`` vectors wide and ``rows`` high."""
    # (A tuple of constants may come typed as literals, one type each.)
    if not (isinstance(a, types.Array) and isinstance(geometry, types.BaseTuple) and len(geometry) == len(GEOMETRY)):
        return None
    if not all(isinstance(t, types.Integer) for t in geometry.types):
        return None
    dtype = _block_dtype(a, b, out, any_layout=True)
    if dtype is None:
        return None

    def codegen(context, builder, signature, args):
        a_data, b_data = (make_array(t)(context, builder, v).data for t, v in zip(signature.args[:2], args[:2]))
        values = [
            context.cast(builder, builder.extract_value(args[3], i), geometry.types[i], types.intp)
            for i in range(len(GEOMETRY))
        ]
        out = (signature.args[2], args[2])
        _block_code(context, builder, *out, dtype, a_data, b_data, values, vectors, onto, transposed, rows)
        return context.get_dummy_value()

    return types.void(a, b, out, geometry), codegen


def _block_dtype(a, b, out, any_layout=False):
    """The dtype shared by a micro-kernel's operands, or None where they do not fit it."""
    if not (isinstance(b, types.Array) and (any_layout or b.layout == "C")):
        return None
    if not (isinstance(out, types.Array) and out.ndim == 2 and (any_layout or out.layout == "C")):
        return None
    dtype = out.dtype
    if dtype not in (types.float32, types.float64) or a.dtype != dtype or b.dtype != dtype:
        return None
    return dtype


def _block_code(
    context,
    builder,
    out_type,
    out_value,
    dtype,
    a_data,
    b_data,
    geometry,
    vectors=2,
    onto=False,
    transposed=False,
    rows=PANEL_ROWS,
):
    """The code of a block product ``vectors`` vectors wide and ``rows`` high (see :func:`_strided_block`).

    ``geometry`` holds LLVM values. The sums start at zero, or ``onto`` the
    values in the block; they are stored as the block, or ``transposed``.
    """
    a_start, a_k, a_r, height, b_start, b_k, depth, segments, a_segment, b_segment, row0, column0 = geometry
    target = make_array(out_type)(context, builder, out_value)
    lanes = VECTOR_BYTES // (4 if dtype == types.float32 else 8)
    element = context.get_data_type(dtype)
    vector = ir.VectorType(element, lanes)
    align = context.get_abi_sizeof(element)
    intp = context.get_value_type(types.intp)
    flags = ("contract",)
    zero, one = ir.Constant(intp, 0), ir.Constant(intp, 1)

    def vector_at(pointer, offset):
        return builder.bitcast(cgutils.gep_inbounds(builder, pointer, offset), vector.as_pointer())

    def phis(incoming, block):
        values = []
        for value in incoming:
            phi = builder.phi(vector)
            phi.add_incoming(value, block)
            values.append(phi)
        return values

    row_stride = builder.extract_value(target.strides, 0)
    row_starts = []  # (of the block's rows in the target; a transposed block's are not)
    for r in range(0 if transposed else rows):
        row = builder.add(row0, ir.Constant(intp, r))
        address = builder.add(builder.ptrtoint(target.data, intp), builder.mul(row, row_stride))
        row_starts.append(cgutils.gep_inbounds(builder, builder.inttoptr(address, target.data.type), column0))
    if onto:
        initial = [builder.load(vector_at(row_starts[i // vectors], i % vectors * lanes), align=align)
                   for i in range(rows * vectors)]  # fmt: skip
    else:
        initial = [ir.Constant(vector, None)] * (rows * vectors)

    start = builder.basic_block
    segment_head = builder.append_basic_block("outer.segment")
    segment_body = builder.append_basic_block("outer.segment.body")
    head = builder.append_basic_block("outer.head")
    body = builder.append_basic_block("outer.body")
    segment_end = builder.append_basic_block("outer.segment.end")
    done = builder.append_basic_block("outer.done")
    builder.branch(segment_head)

    # for s in range(segments): the sums run on from one segment into the next.
    builder.position_at_end(segment_head)
    s = builder.phi(intp, name="s")
    s.add_incoming(zero, start)
    outer_sums = phis(initial, start)
    builder.cbranch(builder.icmp_signed("<", s, segments), segment_body, done)

    builder.position_at_end(segment_body)
    a_first = builder.add(a_start, builder.mul(s, a_segment))
    # (A transposed block reads all its rows: its height only limits what is stored.)
    read = ir.Constant(intp, rows) if transposed else height
    last = builder.sub(read, one)
    a_rows = []
    for r in range(rows):
        row = builder.select(builder.icmp_signed("<", ir.Constant(intp, r), read), ir.Constant(intp, r), last)
        a_rows.append(cgutils.gep_inbounds(builder, a_data, builder.add(a_first, builder.mul(row, a_r))))
    b_first = cgutils.gep_inbounds(builder, b_data, builder.add(b_start, builder.mul(s, b_segment)))
    builder.branch(head)

    # for k in range(depth): one outer product.
    builder.position_at_end(head)
    k = builder.phi(intp, name="k")
    k.add_incoming(zero, segment_body)
    sums = phis(outer_sums, segment_body)
    builder.cbranch(builder.icmp_signed("<", k, depth), body, segment_end)

    builder.position_at_end(body)
    b_row = cgutils.gep_inbounds(builder, b_first, builder.mul(k, b_k))
    b_vectors = [builder.load(vector_at(b_row, v * lanes), align=align) for v in range(vectors)]
    a_offset = builder.mul(k, a_k)
    updated = []
    for r in range(rows):
        x = broadcast(builder, builder.load(cgutils.gep_inbounds(builder, a_rows[r], a_offset), align=align), vector)
        for v in range(vectors):
            product = builder.fmul(x, b_vectors[v], flags=flags)
            updated.append(builder.fadd(sums[r * vectors + v], product, flags=flags))
    for phi, value in zip(sums, updated):
        phi.add_incoming(value, body)
    k.add_incoming(builder.add(k, one), body)
    builder.branch(head)

    builder.position_at_end(segment_end)
    for phi, value in zip(outer_sums, sums):
        phi.add_incoming(value, segment_end)
    s.add_incoming(builder.add(s, one), segment_end)
    builder.branch(segment_head)

    builder.position_at_end(done)
    if transposed:
        _store_transposed(builder, target, outer_sums, row0, column0, height, rows, vectors, lanes, align)
        return
    for r in range(rows):
        for v in range(vectors):
            builder.store(outer_sums[r * vectors + v], vector_at(row_starts[r], v * lanes), align=align)


def _store_transposed(builder, target, sums, row0, column0, height, rows, vectors, lanes, align):
    """``target[column0 + c, row0 + r] = block[r, c]`` for ``r < height``, block row ``r`` being ``sums[r·vectors:]``.

    The ``rows`` elements of each ``c`` are read and written back whole,
    those past ``height`` as they were.
    """
    intp = row0.type
    element = target.data.type.pointee
    row_stride = builder.extract_value(target.strides, 0)
    kept = [builder.icmp_signed("<", ir.Constant(intp, r), height) for r in range(rows)]

    def at(c, r):  # (a pointer to target[column0 + c, row0 + r])
        row = builder.add(column0, ir.Constant(intp, c))
        address = builder.add(builder.ptrtoint(target.data, intp), builder.mul(row, row_stride))
        return cgutils.gep_inbounds(builder, builder.inttoptr(address, target.data.type), builder.add(row0, r))

    for v in range(vectors):
        block = [sums[r * vectors + v] for r in range(rows)]
        if rows != 8 or lanes % rows:
            for r in range(rows):
                for lane in range(lanes):
                    value = builder.extract_element(block[r], ir.Constant(ir.IntType(32), lane))
                    pointer = at(v * lanes + lane, ir.Constant(intp, r))
                    value = builder.select(kept[r], value, builder.load(pointer, align=align))
                    builder.store(value, pointer, align=align)
            continue
        # Three rounds of interleaving: units of 1, 2 then 4 elements of pairs of
        # vectors; each vector then holds lanes/8 whole columns of the block, in order.
        groups = [[row] for row in block]
        unit = 1
        while len(groups) > 1:
            merged = []
            for first, second in zip(groups[0::2], groups[1::2]):
                group = []
                for x, y in zip(first, second):
                    group += [_interleave(builder, x, y, unit, half, lanes) for half in (0, 1)]
                merged.append(group)
            groups, unit = merged, unit * 2
        column_type = ir.VectorType(element, rows)
        stored = ir.Constant(ir.VectorType(ir.IntType(1), rows), None)
        for r in range(rows):
            stored = builder.insert_element(stored, kept[r], ir.Constant(ir.IntType(32), r))
        for t, vector in enumerate(groups[0]):
            for part in range(lanes // rows):
                mask = _mask([part * rows + i for i in range(rows)])
                column = builder.shuffle_vector(vector, ir.Constant(vector.type, ir.Undefined), mask)
                c = v * lanes + t * (lanes // rows) + part
                pointer = builder.bitcast(at(c, ir.Constant(intp, 0)), column_type.as_pointer())
                column = builder.select(stored, column, builder.load(pointer, align=align))
                builder.store(column, pointer, align=align)


def broadcast(builder, value, vector_type):
    """A vector of ``vector_type`` holding ``value`` in every lane."""
    undefined = ir.Constant(vector_type, ir.Undefined)
    first = builder.insert_element(undefined, value, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(first, undefined, ir.Constant(ir.VectorType(ir.IntType(32), vector_type.count), None))


def _interleave(builder, x, y, unit, half, lanes):
    """Units of ``unit`` elements of ``x`` and ``y`` in turn, from the first (``half`` 0) or last half of each."""
    units = lanes // unit
    indices = []
    for k in range(half * units // 2, (half + 1) * units // 2):
        indices += [k * unit + i for i in range(unit)] + [lanes + k * unit + i for i in range(unit)]
    return builder.shuffle_vector(x, y, _mask(indices))


def _mask(indices):
    """A shuffle's mask: the elements ``indices`` of its two vectors, counted on from the first into the second."""
    return ir.Constant(ir.VectorType(ir.IntType(32), len(indices)), indices)
