"""Handles to a compiled kernel: the address of its machine code, for calls through it.

Numba compiles a function together with everything it calls: each callee's
code is linked into the caller's and optimised and turned into machine code
again, once per level of the call tree. The tile of a batch — forward pass,
loss and backward pass, most of jitprop's code — would be compiled again in
every function on the way from a training epoch down to it. Called through a
handle instead (see :func:`~.parallel.run_tasks`), it is compiled once: the
caller receives the address of the tile's machine code as an argument and
jumps to it, so its own code stays small, and Numba's cache of it on disk
stays valid (it holds no address).

The address must be that of the kernel compiled for exactly the argument
types of the call. :func:`compiled` returns it with a key of those types,
which the call checks: a mismatch raises ``RuntimeError`` instead of running
code on arguments of another layout.
"""

import zlib

import numba

try:  # what Numba's dispatchers use to tell argument types apart quickly
    from numba._dispatcher import compute_fingerprint
except ImportError:  # pragma: no cover - an internal of Numba; typeof does the same, slower
    compute_fingerprint = None

# (kernel, fingerprints or else types of the arguments) -> handle
_compiled = {}


def compiled(kernel, *args):
    """``(address, key)`` of ``kernel`` compiled for the types of ``args``: a handle for :func:`~.parallel.run_tasks`.

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
