"""The vector width of the loops LLVM vectorizes in a kernel: the micro-kernel's registers, where it helps.

The micro-kernel (:mod:`.microkernel`) is written in vectors of
``VECTOR_BYTES``: 64 bytes wherever the CPU has AVX-512. Plain loops (a
recurrent cell's gates, dot products, elementwise passes) are vectorized by
LLVM at the width its model of the host prefers, and for Intel's cores with
AVX-512 (Skylake-SP to Sapphire Rapids, tuning ``prefer-256-bit``) that is
32 bytes: half the registers' width, in code that runs beside 64-byte FMAs
anyway. AMD's Zen 4 and Zen 5 prefer 64 bytes already.

A kernel that calls :func:`use_register_width` is compiled with LLVM's
``prefer-vector-width`` set to ``VECTOR_BYTES`` (in bits): its loops, and
those of the kernels written into it (``INLINED_KERNEL``), vectorize at the
full width. An elementwise loop computes the same values at any width; a
sum that LLVM splits over the lanes of a vector (``reassoc`` allows it) is
split over twice as many, which rounds differently but no less
deterministically: a kernel whose sums must equal another's bit for bit
calls it in both or in neither.
"""

from numba import types
from numba.extending import intrinsic

from .microkernel import VECTOR_BYTES

#: LLVM's function attribute, as it appears in the IR.
_ATTRIBUTE = f'"prefer-vector-width"="{VECTOR_BYTES * 8}"'


@intrinsic
def use_register_width(typingctx):
    """Mark the calling kernel's function so that LLVM vectorizes its loops ``VECTOR_BYTES`` wide.

    Call it first in a kernel's body; it emits no instruction. Its effect
    is on the whole function the call lands in (its caller's, for a kernel
    inlined by Numba) and on what LLVM inlines into it.
    """

    def codegen(context, builder, signature, args):
        # llvmlite's FunctionAttributes accepts only attributes without a value
        # and refuses the rest in add(); the set prints this one as written.
        set.add(builder.function.attributes, _ATTRIBUTE)
        return context.get_dummy_value()

    return types.none(), codegen
