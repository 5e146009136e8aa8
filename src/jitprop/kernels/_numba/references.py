"""Arguments passed by reference: a kernel called once per batch is not handed the network's buffers every time.

Numba passes every argument by value, a tuple as all of its members, one
machine word each: a tile takes the entries of its network's kernels, the
network, the data and the workspace, some 330 words pushed on the stack at
every call. For a network of 2-2-2 trained in batches of one, that was
three quarters of the epoch loop's time. :func:`reference` copies a value
once to its caller's stack and gives a pointer to the copy; the kernel takes
the pointer and :func:`dereference` reads, of all the members, those it uses
(LLVM drops the loads of the others).

The kernel still copies what it uses to its own stack, once per call: LLVM
keeps the members read at its start in stack slots across the calls it
makes, where arguments on the stack it read in place. W4 in batches of one
ran 1.04 to 1.05 times as fast by reference (3 alternating rounds, Intel
Xeon of the Sapphire Rapids class); batches of 64, as fast as before.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_untracked
from numba.core.typing.typeof import typeof_impl
from numba.extending import intrinsic

from .arrays import untracked_value


class Reference:
    """An example argument (see :func:`~.linking.entry`) for a kernel that takes :func:`reference` of ``value``.

    Its Numba type is the pointer type that :func:`reference` gives for a
    value of ``value``'s type.
    """

    def __init__(self, value):
        self.value = value


def reference_type(value_type):
    """The Numba type of a reference to a value of ``value_type``."""
    return types.CPointer(value_type)


@typeof_impl.register(Reference)
def _typeof_reference(example, context):
    return reference_type(typeof_impl(example.value, context))


@intrinsic
def reference(typingctx, value):
    """A pointer to a copy of ``value`` on the caller's stack, for a kernel that takes its arguments by reference.

    The copy is made where this is called and lives until the calling
    kernel returns: call it once before a loop of calls, not in the loop.
    Its arrays carry no reference count (see :func:`~.arrays.untracked`):
    the caller's own values keep their memory alive.
    """

    def codegen(context, builder, signature, args):
        model = context.data_model_manager[value]
        copy = cgutils.alloca_once(builder, model.get_data_type())
        builder.store(model.as_data(builder, untracked_value(context, builder, value, args[0])), copy)
        return copy

    return reference_type(value)(value), codegen


@intrinsic
def dereference(typingctx, pointer):
    """The value a :func:`reference` points to, its arrays untracked; only the members used are read."""
    if not isinstance(pointer, types.CPointer):
        return None

    def codegen(context, builder, signature, args):
        model = context.data_model_manager[pointer.dtype]
        value = model.from_data(builder, _load_members(builder, args[0]))
        # (Stored untracked; cleared here again so that LLVM sees no reference to count and drops those calls.)
        value = untracked_value(context, builder, pointer.dtype, value)
        return impl_ret_untracked(context, builder, signature.return_type, value)

    return pointer.dtype(pointer), codegen


def _load_members(builder, address):
    """The aggregate at ``address`` read member by member (loads of members never used are dead code)."""
    kind = address.type.pointee
    if isinstance(kind, (ir.LiteralStructType, ir.ArrayType)):
        count = len(kind.elements) if isinstance(kind, ir.LiteralStructType) else kind.count
        value = ir.Constant(kind, ir.Undefined)
        for i in range(count):
            member = _load_members(builder, cgutils.gep_inbounds(builder, address, 0, i))
            value = builder.insert_value(value, member, i)
        return value
    return builder.load(address)
