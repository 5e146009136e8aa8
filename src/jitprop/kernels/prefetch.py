"""Asking the processor to fetch the next batch's examples while this one runs.

Batches visit the examples in a shuffled order, so each batch starts by
reading rows from places in memory the processor cannot predict. On a small
network that wait is a large part of the batch (on the 2-2-2 network with
batches of one example, about a tenth of the time). Prefetching those rows
one batch ahead overlaps the wait with the current batch's work.
"""

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

from .._numba_options import KERNEL

#: Rows of the next batch prefetched; its later rows come while these are copied.
AHEAD_ROWS = 8


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


@njit(**KERNEL)
def prefetch_examples(data, order, start, stop):
    """Prefetch the inputs and targets (or labels) of the first examples of ``order[start:stop]``."""
    for i in range(start, min(stop, start + AHEAD_ROWS)):
        example = order[i]
        prefetch(data.inputs, example)
        if data.targets.shape[0] > 0:
            prefetch(data.targets, example)
        if data.labels.shape[0] > 0:
            prefetch(data.labels, example)
