"""Calls to kernels compiled on their own, through a symbol: each kernel's code is compiled once.

Numba compiles a function together with everything it calls: each callee's
LLVM module is linked into the caller's, which is then optimised and turned
into machine code whole, again at every level of the call tree. A large
kernel called from a tile, called from a batch, called from an epoch is
compiled four times over, and that is most of a first fit's wait.

:func:`call` compiles the callee on its own instead (or loads it from
Numba's cache), publishes its machine code under a name of jitprop's
(``llvmlite.binding.add_symbol``), and leaves the caller with a declaration
of that name, which the JIT linker resolves. Cached code that calls a kernel
this way records a reload hook (:class:`Publish`), which publishes the
callee again before the caller's machine code is loaded in a new process.

The price is a real call where LLVM could have inlined: use it for kernels
that do a loop's worth of work, not for small helpers. A kernel that calls
others through symbols (with :func:`call` or :func:`~.parallel.run_tasks`)
must itself be called through its symbol, never linked by a plain call:
Numba forgets the reload hooks of code it loaded from its cache, so a caller
compiled with such code linked into it would not publish the kernels that
code calls, and a process that loads that caller would jump to address 0.

Which kernel runs can also be decided at run time: :func:`entry` compiles a
kernel for given argument types and returns its address with a key of those
types, and :func:`call_entry` calls such an entry from compiled code. The
caller is compiled once for every kernel of that signature, and only the
kernels whose entries are made are compiled: a network's tile calls each
layer's activation through the layer's entry, so a network with ReLU and
softmax layers trained by Adam compiles those and no other activation, loss
or update rule, while its tile, batch and epoch serve every network.
"""

import importlib
import zlib

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .references import Reference

# symbol -> compile result of the kernel published under it
_published = {}


def signature_key(signature):
    """A hexadecimal CRC-32 of a signature's text: it tells the signatures of a function apart."""
    return f"{zlib.crc32(repr(signature).encode()):08x}"


def symbol_of(dispatcher, argtypes):
    """The name a kernel compiled for ``argtypes`` is published under (the same in every process)."""
    function = dispatcher.py_func
    return f"jitprop.{function.__module__}.{function.__qualname__}.{signature_key(tuple(argtypes))}"


def publish(dispatcher, argtypes):
    """Compile (or load) ``dispatcher`` for ``argtypes`` and publish its code; returns ``(symbol, compile result)``."""
    argtypes = tuple(argtypes)
    symbol = symbol_of(dispatcher, argtypes)
    result = _published.get(symbol)
    if result is None:
        result, address = _compiled(dispatcher, argtypes)
        llvm.add_symbol(symbol, address)
        _published[symbol] = result
    return symbol, result


def _compiled(dispatcher, argtypes):
    """``dispatcher`` compiled (or loaded from the cache) for ``argtypes``: its compile result and code's address."""
    dispatcher.compile(argtypes)
    result = dispatcher.overloads[argtypes]
    return result, result.library.get_pointer_to_function(result.fndesc.llvm_func_name)


class Publish:
    """Reload hook of cached code that calls a kernel through its symbol: publishes the kernel first.

    Numba pickles it with the caller's compiled code and calls it before
    loading that code in another process.
    """

    def __init__(self, dispatcher, argtypes):
        function = dispatcher.py_func
        self.key = (function.__module__, function.__qualname__, tuple(argtypes))

    def __call__(self):
        module, qualname, argtypes = self.key
        publish(_dispatcher((module, qualname)), argtypes)

    def __eq__(self, other):
        return isinstance(other, Publish) and other.key == self.key

    def __hash__(self):
        return hash(self.key)


def declare(context, builder, dispatcher, argtypes):
    """Declare the published kernel in the module being built; returns ``(function, compile result)``.

    Must be called while generating code (it records the reload hook in the
    library being compiled).
    """
    symbol, result = publish(dispatcher, argtypes)
    context.active_code_library._reload_init.add(Publish(dispatcher, argtypes))
    signature = result.signature
    function_type = context.call_conv.get_function_type(signature.return_type, signature.args)
    return cgutils.get_or_insert_function(builder.module, function_type, symbol), result


def _dispatcher(reference):
    """The compiled function named by ``(module, qualified name)``."""
    module, qualname = reference
    function = importlib.import_module(module)
    for name in qualname.split("."):
        function = getattr(function, name)
    return function


@intrinsic
def call(typingctx, kernel, args):
    """``kernel(*args)``, with ``kernel``'s code compiled on its own and called through its symbol.

    An exception raised by the kernel propagates as from a plain call.
    """
    if not isinstance(kernel, types.Dispatcher) or not isinstance(args, types.BaseTuple):
        return None
    dispatcher = kernel.dispatcher
    signature = typingctx.resolve_function_type(kernel, tuple(args.types), {})
    if signature is None:
        return None

    def codegen(context, builder, call_signature, llargs):
        function, result = declare(context, builder, dispatcher, signature.args)
        wanted = result.signature
        values = [
            context.cast(builder, builder.extract_value(llargs[1], i), given, kind)
            for i, (given, kind) in enumerate(zip(args.types, wanted.args))
        ]
        status, value = context.call_conv.call_function(builder, function, wanted.return_type, wanted.args, values)
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return context.cast(builder, value, wanted.return_type, signature.return_type)

    return signature.return_type(kernel, args), codegen


# (kernel, type_key of the arguments) -> entry
_entries = {}

#: The entry of no kernel: :func:`call_entry` does nothing. Read-only, as
#: every entry is, so that a network's entries are of one type with or
#: without it (and code taking them is compiled once).
NO_KERNEL = np.zeros(2, dtype=np.int64)
NO_KERNEL.flags.writeable = False


def entry(kernel, *args):
    """``[address, key]`` of ``kernel`` compiled for the types of ``args``, for :func:`call_entry`.

    ``kernel`` None gives :data:`NO_KERNEL`. Compiles (or loads from the
    cache) that version of ``kernel`` once; later calls are a dictionary look-up.
    """
    if kernel is None:
        return NO_KERNEL
    cached = (kernel, type_key(args))
    found = _entries.get(cached)
    if found is None:
        argtypes = argument_types(args)
        result, address = _compiled(kernel, argtypes)
        key = _entry_key(result.signature.return_type, argtypes)
        found = _entries[cached] = np.array([address, key], dtype=np.int64)
        found.flags.writeable = False
    return found


def argument_types(args):
    """The Numba types of the example arguments ``args``: what a kernel called with them is compiled for."""
    return tuple(numba.typeof(arg) for arg in args)


def type_key(value):
    """What decides ``numba.typeof(value)``, for the kinds of values kernels take, without asking Numba.

    Equal keys give equal Numba types; it costs a fraction of ``typeof``
    (tens of microseconds for a tuple of arrays such as a workspace), which
    a ``fit`` of a small network would otherwise pay on every call.
    """
    if isinstance(value, np.ndarray):
        return (value.dtype, value.ndim, value.flags.num & _TYPE_FLAGS)
    if isinstance(value, tuple):
        return (type(value), *map(type_key, value))
    if isinstance(value, Reference):
        return (Reference, type_key(value.value))
    return type(value)


#: The bits of ``ndarray.flags.num`` that Numba's type of an array depends on: C-contiguous (0x1),
#: F-contiguous (0x2), aligned (0x100), writeable (0x400), as NumPy's C API numbers them. (One integer,
#: read at once: the flags one by one took three times as long.)
_TYPE_FLAGS = 0x1 | 0x2 | 0x100 | 0x400


def _entry_key(return_type, argtypes):
    """A number that tells signatures apart (a CRC-32 of their text), never 0."""
    return zlib.crc32(repr((return_type, tuple(argtypes))).encode()) | 1


def is_entry_type(typ):
    """Whether ``typ`` is the Numba type of an entry (a 1-D array of ``[address, key]``)."""
    return isinstance(typ, types.Array) and typ.ndim == 1 and typ.dtype == types.int64


def _address_and_key(context, builder, entry_type, value):
    array = context.make_array(entry_type)(context, builder, value)
    words = builder.bitcast(array.data, ir.IntType(64).as_pointer())
    return builder.load(words), builder.load(cgutils.gep_inbounds(builder, words, 1))


def _check_key(context, builder, given_key, signature):
    key = _entry_key(signature.return_type, signature.args)
    with cgutils.if_unlikely(builder, builder.icmp_signed("!=", given_key, given_key.type(key))):
        context.call_conv.return_user_exc(
            builder, RuntimeError, ("an entry's kernel was compiled for other argument types, or is no kernel",)
        )


def entry_function(context, builder, entry_type, value, signature):
    """The kernel of the entry ``value`` as a function of ``signature``, to call from generated code.

    The generated code raises ``RuntimeError`` if the entry's key is not that
    of ``signature`` (a kernel compiled for other types, or :data:`NO_KERNEL`).
    """
    address, given_key = _address_and_key(context, builder, entry_type, value)
    _check_key(context, builder, given_key, signature)
    function_type = context.call_conv.get_function_type(signature.return_type, signature.args)
    return builder.inttoptr(address, function_type.as_pointer())


@intrinsic
def call_entry(typingctx, kernel_entry, args, returns):
    """Call the kernel of ``kernel_entry`` (see :func:`entry`) with ``args``; it returns a value of ``returns``' type.

    ``returns`` is an example of what the kernel returns (``None`` for
    nothing, ``(0.0, 0.0)`` for two floats); only its type counts. The
    entry's key must match the types of ``args`` and ``returns``, otherwise
    ``RuntimeError`` is raised instead of calling code compiled for other
    types. :data:`NO_KERNEL` does nothing (and returns ``returns``).
    """
    if not (is_entry_type(kernel_entry) and isinstance(args, types.BaseTuple)):
        return None
    return_type = types.none if isinstance(returns, (types.NoneType, types.Omitted)) else returns
    argtypes = tuple(args.types)
    kernel_signature = return_type(*argtypes)

    def codegen(context, builder, signature, llargs):
        address, given_key = _address_and_key(context, builder, kernel_entry, llargs[0])
        result = cgutils.alloca_once(builder, context.get_value_type(return_type))
        builder.store(llargs[2] if return_type is not types.none else context.get_dummy_value(), result)
        with builder.if_then(builder.icmp_signed("!=", address, address.type(0))):
            _check_key(context, builder, given_key, kernel_signature)
            function_type = context.call_conv.get_function_type(return_type, argtypes)
            function = builder.inttoptr(address, function_type.as_pointer())
            values = [builder.extract_value(llargs[1], i) for i in range(len(argtypes))]
            status, value = context.call_conv.call_function(builder, function, return_type, argtypes, values)
            with cgutils.if_unlikely(builder, status.is_error):
                context.call_conv.return_status_propagate(builder, status)
            builder.store(value, result)
        return builder.load(result)

    return return_type(kernel_entry, args, returns), codegen
