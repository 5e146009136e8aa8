"""Array views, reference counts, aliasing and prefetches that Numba's own operations do not offer, in LLVM IR.

And :func:`rows_in_place`, a view chosen by the types of its arguments when its caller is compiled.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_untracked
from numba.extending import intrinsic, overload
from numba.np.arrayobj import make_array, populate_array

from .options import INLINED_KERNEL


@intrinsic
def view2d(typingctx, buffer, start, rows, cols):
    """A C-contiguous (rows, cols) view of ``buffer[start : start + rows·cols]``.

    What ``buffer[start:stop].reshape((rows, cols))`` gives, without the call
    into Numba's general reshape routine (some 25 ns, paid dozens of times per
    batch). There is no bounds check: callers compute offsets from the layout.
    The view is not reference-counted (see below), so it must not outlive
    ``buffer`` nor be returned to Python: kernels only use it within a call.
    """
    if not (isinstance(buffer, types.Array) and buffer.ndim == 1 and buffer.layout == "C"):
        return None
    result = buffer.copy(ndim=2, layout="C", readonly=False)

    def codegen(context, builder, signature, args):
        source = make_array(signature.args[0])(context, builder, args[0])
        view = make_array(signature.return_type)(context, builder)
        start_, rows_, cols_ = (
            context.cast(builder, value, kind, types.intp) for value, kind in zip(args[1:], signature.args[1:])
        )
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(context.get_data_type(buffer.dtype)))
        populate_array(
            view,
            data=cgutils.gep_inbounds(builder, source.data, start_),
            shape=cgutils.pack_array(builder, [rows_, cols_]),
            strides=cgutils.pack_array(builder, [builder.mul(cols_, itemsize), itemsize]),
            itemsize=itemsize,
            # No owner: the view is not reference-counted, so creating and
            # dropping one costs no atomic operations (dozens per batch). It
            # must not outlive ``buffer``, which kernels never let happen.
            meminfo=None,
            parent=source.parent,
        )
        return impl_ret_untracked(context, builder, signature.return_type, view._getvalue())

    return result(buffer, start, rows, cols), codegen


@intrinsic
def untracked(typingctx, value):
    """``value`` with the arrays in it (in tuples too, nested) no longer reference-counted.

    Every array a kernel reads out of a tuple such as a :class:`~jitprop.kernels.layout.Layout` is
    reference-counted while in use: an atomic increment and decrement per
    read, which on a tiny network cost more than the arithmetic. The copies
    returned here share the arrays' memory but carry no reference count, so
    those operations find nothing to count. The caller's arguments keep the
    memory alive; the copies must not outlive the call (kernels never return
    them).
    """

    def codegen(context, builder, signature, args):
        result = untracked_value(context, builder, value, args[0])
        return impl_ret_untracked(context, builder, signature.return_type, result)

    return value(value), codegen


def untracked_value(context, builder, kind, value):
    """The LLVM value ``value`` of Numba type ``kind`` with every array's reference count (meminfo) cleared."""
    if isinstance(kind, types.Array):
        array = make_array(kind)(context, builder, value)
        array.meminfo = cgutils.get_null_value(array.meminfo.type)
        return array._getvalue()
    if isinstance(kind, types.BaseTuple):
        for i, member in enumerate(kind):
            untracked_member = untracked_value(context, builder, member, builder.extract_value(value, i))
            value = builder.insert_value(value, untracked_member, i)
    return value


@intrinsic
def arguments_apart(typingctx):
    """Tell LLVM that the calling kernel's arrays do not overlap: its loops need no run-time aliasing checks.

    Marks every pointer argument of the function the call lands in
    ``noalias``, as Numba's own ``noalias`` compilation flag does (which its
    ``jit`` does not offer). LLVM vectorizes a loop that writes some arrays
    and reads others only after checking at run time that their ranges do
    not overlap, pair by pair: before each entry into the loop, some
    hundred comparisons for a recurrent cell's gates, as much time as the
    arithmetic of 64 units. With the arguments apart it checks nothing.

    A promise, not a check. Call it first in the body of a kernel that
    is compiled on its own (called through :func:`~.linking.call`, never
    inlined into another) and whose arrays, as given, share no memory where
    one of them is written, and carry no reference count
    (:func:`untracked`), so that nothing else reaches them through their
    owner during the call. Arrays only read may overlap.
    """

    def codegen(context, builder, signature, args):
        for argument in context.call_conv.get_arguments(builder.function):
            if isinstance(argument.type, ir.PointerType):
                argument.add_attribute("noalias")
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def prefetch(typingctx, array, i):
    """Hint that ``array[i]`` (its first element, for a row of a 2-D array) will be read soon.

    Compiles to a prefetch instruction: no effect on results, no fault on any
    address.
    """
    if not (isinstance(array, types.Array) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        kind = signature.args[0]
        source = make_array(kind)(context, builder, args[0])
        zero = context.get_constant(types.intp, 0)
        indices = [context.cast(builder, args[1], signature.args[1], types.intp)] + [zero] * (kind.ndim - 1)
        pointer = cgutils.get_item_pointer2(
            context,
            builder,
            source.data,
            cgutils.unpack_tuple(builder, source.shape),
            cgutils.unpack_tuple(builder, source.strides),
            kind.layout,
            indices,
            wraparound=False,
            boundscheck=False,
        )
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        llvm_prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]), "llvm.prefetch.p0i8"
        )
        # Read access, keep in all cache levels, data (not instruction) cache.
        builder.call(llvm_prefetch, [builder.bitcast(pointer, byte_pointer), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.none(array, i), codegen


def rows_in_place(table, index, r0, r1, like):
    """``(view, True)``: rows ``index[r0:r1]`` of ``table`` where they lie, or ``(like, False)``.

    The view where those rows are consecutive (``index[r0] + r`` for each
    ``r``) and a view of ``table`` has the type of ``like``, a block the
    caller would otherwise copy the rows into. The types are compared when
    the caller is compiled (kernels that took a view of another type would
    be compiled again for it), the rows when it runs. In compiled code only.
    """
    raise NotImplementedError("rows_in_place is called from compiled code only")


@overload(rows_in_place, jit_options=INLINED_KERNEL)
def _rows_in_place(table, index, r0, r1, like):
    # (A C-contiguous table's rows lo:hi are a view of the table's own type.)
    if not (isinstance(table, types.Array) and table.layout == "C" and table == like):
        return lambda table, index, r0, r1, like: (like, False)

    def in_place(table, index, r0, r1, like):
        if r1 <= r0:
            return like, False
        first = index[r0]
        for r in range(1, r1 - r0):
            if index[r0 + r] != first + r:
                return like, False
        return table[first : first + (r1 - r0)], True

    return in_place
