"""Calls to a compiled kernel through the address of its machine code.

Numba compiles a function together with everything it calls: each callee's
code is linked into the caller's and optimised and turned into machine code
again, once per level of the call tree, and a ``prange`` loop adds three
levels of its own (the loop body, and two wrappers that run it on the
threads). The tile of a batch — forward pass, loss and backward pass, most of
jitprop's code — sat under five such levels in a training epoch. Called with
:func:`call_compiled` instead, it is compiled once: the caller receives the
address of the tile's machine code as an argument and jumps to it, so its own
code stays small, and Numba's cache of it on disk stays valid (it holds no
address).

The address must be that of the kernel compiled for exactly the argument
types of the call. :func:`compiled` returns it with a key of those types,
which the call checks: a mismatch raises ``RuntimeError`` instead of running
code on arguments of another layout.
"""

import zlib

import numba
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

try:  # what Numba's dispatchers use to tell argument types apart quickly
    from numba._dispatcher import compute_fingerprint
except ImportError:  # pragma: no cover - an internal of Numba; typeof does the same, slower
    compute_fingerprint = None

# (kernel, fingerprints or else types of the arguments) -> handle
_compiled = {}


def compiled(kernel, *args):
    """``(address, key)`` of ``kernel`` compiled for the types of ``args``, for :func:`call_compiled`.

    Compiles (or loads from the cache) that version of ``kernel`` if need be;
    later calls with arguments of the same types take a few microseconds.
    """
    key = (kernel, _fingerprints(args) or tuple(numba.typeof(arg) for arg in args))
    handle = _compiled.get(key)
    if handle is None:
        argtypes = tuple(numba.typeof(arg) for arg in args)
        kernel.compile(argtypes)
        result = kernel.overloads[argtypes]
        address = result.library.get_pointer_to_function(result.fndesc.llvm_func_name)
        handle = _compiled[key] = (address, signature_key(argtypes))
    return handle


def _fingerprints(args):
    """Numba's type fingerprints of ``args`` (equal fingerprints, equal types), or None."""
    if compute_fingerprint is None:
        return None
    try:
        return tuple(compute_fingerprint(arg) for arg in args)
    except (TypeError, ValueError, NotImplementedError):
        return None


def signature_key(argtypes):
    """A number that tells argument types apart (a CRC-32 of their names)."""
    return zlib.crc32(repr(tuple(argtypes)).encode())


@intrinsic
def call_compiled(typingctx, handle, args):
    """Call the kernel ``handle`` (from :func:`compiled`) with the tuple ``args``; it returns nothing.

    An exception the kernel raises propagates to the caller.
    """
    if not isinstance(args, types.BaseTuple):
        return None
    argtypes = list(args.types)
    key = signature_key(argtypes)

    def codegen(context, builder, signature, llargs):
        address = builder.extract_value(llargs[0], 0)
        given_key = builder.extract_value(llargs[0], 1)
        expected = context.get_constant(types.int64, key)
        with cgutils.if_unlikely(builder, builder.icmp_signed("!=", given_key, expected)):
            context.call_conv.return_user_exc(
                builder, RuntimeError, ("call_compiled: the kernel was compiled for other argument types",)
            )
        values = [builder.extract_value(llargs[1], i) for i in range(len(argtypes))]
        function_type = context.call_conv.get_function_type(types.none, argtypes)
        function = builder.inttoptr(address, function_type.as_pointer())
        status, _ = context.call_conv.call_function(builder, function, types.none, argtypes, values)
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return context.get_dummy_value()

    return types.none(handle, args), codegen
