"""Max pooling's windows a vector of channels at a time, in LLVM vector instructions.

A window's elements are ``kh x kw`` vectors of consecutive channels at
``corner + u·row_step + v·column_step``. Written as a Numba loop over the
channels, each element's maximum and place are stored and read back at
every step of the window (the output may alias the input as far as LLVM
knows), and LLVM either checks the arrays' overlap at run time for each
vector or gives up vectorizing: W6's 8x8x16 pooling took 0.4 µs an example
that way. Here the window's running maximum and place stay in registers and
are stored once.

A place is the element's index in its example, as a float of the arrays'
dtype (exact below 2^24, which :func:`~jitprop.kernels.pooling.max_stash`
checks): a window's first maximum in the order of ``u`` then ``v`` (a later
element replaces it only when strictly larger), as the pooling kernels keep.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

from .microkernel import VECTOR_BYTES, broadcast


@intrinsic
def window_maximum(typingctx, x, corner, row_step, kh, kw, column_step, z, places, first):
    """``z[first + c]``, ``places[first + c]`` = the maximum of a window's vectors and where its first one is.

    For ``c`` below the lanes of one vector of ``VECTOR_BYTES``: the maximum
    over ``u < kh``, ``v < kw`` of ``x[corner + u·row_step + v·column_step + c]``
    and the first place that holds it. ``x``, ``z`` and ``places`` are 1-D
    C-contiguous arrays of one float dtype; the indices are not checked.
    With ``places`` None, the maxima alone.
    """
    tracks = not isinstance(places, types.NoneType)
    dtype = _dtype(x, z, places) if tracks else _dtype(x, z)
    if dtype is None:
        return None

    def codegen(context, builder, signature, args):
        x_data, z_data = (make_array(signature.args[i])(context, builder, args[i]).data for i in (0, 6))
        corner, row_step, kh, kw, column_step, first = (
            context.cast(builder, args[i], signature.args[i], types.intp) for i in (1, 2, 3, 4, 5, 8)
        )
        vectors = _Vectors(context, builder, dtype)
        carried = (vectors.load(x_data, corner),) + ((vectors.places(corner),) if tracks else ())

        def step(offset, carried):
            value = vectors.load(x_data, offset)
            better = builder.fcmp_ordered(">", value, carried[0])
            top = builder.select(better, value, carried[0])
            return (top, builder.select(better, vectors.places(offset), carried[1])) if tracks else (top,)

        carried = _over_window(builder, vectors, (corner, row_step, kh, kw, column_step), carried, step)
        vectors.store(carried[0], z_data, first)
        if tracks:
            places_data = make_array(signature.args[7])(context, builder, args[7]).data
            vectors.store(carried[1], places_data, first)
        return context.get_dummy_value()

    intp = types.intp
    return types.void(x, intp, intp, intp, intp, intp, z, places, intp), codegen


def _dtype(*arrays):
    """The float dtype of 1-D contiguous arrays that share it, or None."""
    if not all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" for a in arrays):
        return None
    dtype = arrays[0].dtype
    if dtype not in (types.float32, types.float64) or any(a.dtype != dtype for a in arrays):
        return None
    return dtype


class _Vectors:
    """Loads, stores and places of vectors of ``dtype`` in the code being built."""

    def __init__(self, context, builder, dtype):
        self.builder = builder
        self.element = context.get_data_type(dtype)
        self.lanes = VECTOR_BYTES // context.get_abi_sizeof(self.element)
        self.type = ir.VectorType(self.element, self.lanes)
        self.align = context.get_abi_sizeof(self.element)
        self.iota = ir.Constant(self.type, [float(i) for i in range(self.lanes)])

    def _pointer(self, data, offset):
        return self.builder.bitcast(cgutils.gep_inbounds(self.builder, data, offset), self.type.as_pointer())

    def load(self, data, offset):
        return self.builder.load(self._pointer(data, offset), align=self.align)

    def store(self, value, data, offset):
        self.builder.store(value, self._pointer(data, offset), align=self.align)

    def places(self, offset):
        """The vector ``offset + i`` of floats."""
        base = broadcast(self.builder, self.builder.sitofp(offset, self.element), self.type)
        return self.builder.fadd(base, self.iota)


def _over_window(builder, vectors, window, carried, step):
    """``carried = step(offset, carried)`` for the window's elements but its corner, in the order of ``u`` then ``v``.

    ``carried`` is a tuple of LLVM values, kept in registers.
    """
    corner, row_step, kh, kw, column_step = window
    intp = corner.type
    zero, one = ir.Constant(intp, 0), ir.Constant(intp, 1)
    start = builder.basic_block
    row_head = builder.append_basic_block("window.row")
    row_body = builder.append_basic_block("window.row.body")
    head = builder.append_basic_block("window.element")
    body = builder.append_basic_block("window.element.body")
    work = builder.append_basic_block("window.element.work")
    next_element = builder.append_basic_block("window.element.next")
    row_end = builder.append_basic_block("window.row.end")
    done = builder.append_basic_block("window.done")
    builder.branch(row_head)

    def phis(values, block):
        made = []
        for value in values:
            phi = builder.phi(value.type)
            phi.add_incoming(value, block)
            made.append(phi)
        return made

    builder.position_at_end(row_head)
    u = builder.phi(intp)
    u.add_incoming(zero, start)
    row_carried = phis(carried, start)
    builder.cbranch(builder.icmp_signed("<", u, kh), row_body, done)

    builder.position_at_end(row_body)
    row_start = builder.add(corner, builder.mul(u, row_step))
    builder.branch(head)

    builder.position_at_end(head)
    v = builder.phi(intp)
    v.add_incoming(zero, row_body)
    element_carried = phis(row_carried, row_body)
    builder.cbranch(builder.icmp_signed("<", v, kw), body, row_end)

    builder.position_at_end(body)
    is_corner = builder.icmp_signed("==", builder.or_(u, v), zero)
    builder.cbranch(is_corner, next_element, work)

    builder.position_at_end(work)
    stepped = step(builder.add(row_start, builder.mul(v, column_step)), tuple(element_carried))
    work_end = builder.basic_block
    builder.branch(next_element)

    builder.position_at_end(next_element)
    merged = []
    for before, after in zip(element_carried, stepped):
        phi = builder.phi(before.type)
        phi.add_incoming(after, work_end)
        phi.add_incoming(before, body)
        merged.append(phi)
    for phi, value in zip(element_carried, merged):
        phi.add_incoming(value, next_element)
    v.add_incoming(builder.add(v, one), next_element)
    builder.branch(head)

    builder.position_at_end(row_end)
    for phi, value in zip(row_carried, element_carried):
        phi.add_incoming(value, row_end)
    u.add_incoming(builder.add(u, one), row_end)
    builder.branch(row_head)

    builder.position_at_end(done)
    return tuple(row_carried)
