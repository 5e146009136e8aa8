"""Independent tasks of a kernel, run on Numba's thread pool without ``prange``.

A ``prange`` loop is compiled as three functions of its own besides the one
it sits in — the loop body, and two wrappers that hand it to the threads —
each through Numba's whole pipeline: a second or more on first use for every
loop, most of it for code that only passes arguments along.
:func:`run_tasks` hands the thread pool the kernel's code directly. It writes
one small function (in LLVM, without going through Numba's compiler) that
unpacks the arguments and calls the kernel for a range of task numbers, and
passes it to ``numba_parallel_for``, the entry point of Numba's threading
layer (tbb, omp or workqueue) that ``prange`` loops use too.

Tasks must not depend on each other: which thread runs which task, and in
what order, is up to the threading layer. Each task's work is the same
whatever the thread count, so results are too.
"""

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .linking import declare, entry_function, is_entry_type, signature_key


def openmp_vendor():
    """The OpenMP runtime of Numba's ``omp`` threading layer: ``"GNU"``, ``"Intel"`` or ``"LLVM"``.

    ``"GNU"`` (GNU's runtime, whose threads do not survive a fork) when the
    layer cannot say.
    """
    try:
        from numba.np.ufunc import omppool
    except ImportError:  # (the omp layer is not built in this Numba)
        return "GNU"
    return getattr(omppool, "openmp_vendor", "GNU")


def _start_thread_pool():
    """Start Numba's thread pool, which makes its entry points known to the JIT linker."""
    numba.get_num_threads()


def cheap_regions():
    """Whether a parallel region costs a microsecond or two (the tbb and omp layers) rather than about a hundred.

    False under the workqueue layer, and where no layer loads (whoever
    starts a parallel region then says why).
    """
    try:
        _start_thread_pool()
        return numba.threading_layer() != "workqueue"
    except ValueError:  # (no threading layer could be loaded)
        return False


@intrinsic
def run_tasks(typingctx, kernel, n_tasks, args):
    """Call ``kernel(*args, task)`` for every ``task`` in ``range(n_tasks)``, spread over Numba's threads.

    Parameters
    ----------
    kernel : compiled function or entry
        A function compiled with ``@njit``: it is compiled on its own for
        ``(*args, int64)`` and called through its symbol (see :mod:`.linking`),
        its code is not compiled into the caller's. Or the entry (see
        :func:`~.linking.entry`) of a kernel compiled for those types that
        returns nothing: which kernel runs is then decided at run time, and
        ``RuntimeError`` is raised if the entry's kernel takes other types.
    n_tasks : int
        Number of tasks; none run if it is 0 or less.
    args : tuple
        The arguments before the task number, the same for every task.

    With one task, or a thread count of 1, the tasks run in the calling
    thread. A task that raises makes the call raise ``RuntimeError`` after
    all tasks have run (the kernel's own exception cannot cross threads).
    """
    if not isinstance(args, types.BaseTuple) or not isinstance(n_tasks, types.Integer):
        return None
    argtypes = tuple(args.types) + (types.int64,)
    if isinstance(kernel, types.Dispatcher):
        kernel_signature = typingctx.resolve_function_type(kernel, argtypes, {})
        if kernel_signature is None:
            return None
    elif not is_entry_type(kernel):
        return None
    _start_thread_pool()  # this compilation needs the pool's entry points...

    def codegen(context, builder, signature, llargs):
        # ...and so does loading the compiled code from Numba's cache.
        context.active_code_library._reload_init.add(_start_thread_pool)
        kernel_value, count, arguments = llargs
        count = context.cast(builder, count, signature.args[1], types.int64)
        if isinstance(kernel, types.Dispatcher):
            callee, compiled = declare(context, builder, kernel.dispatcher, kernel_signature.args)
            callee_signature = compiled.signature
        else:
            callee_signature = types.none(*argtypes)
            callee = entry_function(context, builder, kernel, kernel_value, callee_signature)
        # The tasks' function: the kernel, arguments before the task number and a flag a failing task sets.
        payload_type = ir.LiteralStructType([ir.IntType(32), arguments.type, cgutils.voidptr_t])
        payload = cgutils.alloca_once(builder, payload_type)
        failed = cgutils.gep_inbounds(builder, payload, 0, 0)
        builder.store(ir.Constant(ir.IntType(32), 0), failed)
        builder.store(arguments, cgutils.gep_inbounds(builder, payload, 0, 1))
        builder.store(builder.bitcast(callee, cgutils.voidptr_t), cgutils.gep_inbounds(builder, payload, 0, 2))
        task_range = _task_range_function(context, builder.module, payload_type, callee_signature)

        data = builder.bitcast(payload, cgutils.voidptr_t)
        # The threading layer hands each call the array pointers advanced by
        # step x (first task): one "array" at the payload's address with a
        # step of one byte tells the function its first task.
        array_bases = cgutils.alloca_once(builder, cgutils.voidptr_t)
        builder.store(data, array_bases)
        steps = cgutils.alloca_once_value(builder, ir.Constant(ir.IntType(64), 1))
        dimensions = cgutils.alloca_once_value(builder, count)
        with builder.if_then(builder.icmp_signed(">", count, count.type(0))):
            get_num_threads = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.IntType(64), []), "get_num_threads"
            )
            # (Declared as Numba's parallel loops declare it; the C function returns an int.)
            threads = builder.sext(builder.trunc(builder.call(get_num_threads, []), ir.IntType(32)), ir.IntType(64))
            serial = builder.or_(
                builder.icmp_signed("<=", threads, threads.type(1)), builder.icmp_signed("==", count, count.type(1))
            )
            with builder.if_else(serial) as (in_this_thread, on_the_pool):
                with in_this_thread:
                    builder.call(task_range, [array_bases, dimensions, steps, data])
                with on_the_pool:
                    parallel_for = cgutils.get_or_insert_function(
                        builder.module,
                        ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t] * 5 + [ir.IntType(64)] * 3),
                        "numba_parallel_for",
                    )
                    builder.call(
                        parallel_for,
                        [
                            builder.bitcast(task_range, cgutils.voidptr_t),
                            builder.bitcast(array_bases, cgutils.voidptr_t),
                            builder.bitcast(dimensions, cgutils.voidptr_t),
                            builder.bitcast(steps, cgutils.voidptr_t),
                            data,
                            ir.Constant(ir.IntType(64), 0),  # no inner dimensions
                            ir.Constant(ir.IntType(64), 1),  # one "array"
                            threads,
                        ],
                    )
        with cgutils.if_unlikely(builder, cgutils.is_not_null(builder, builder.load(failed))):
            context.call_conv.return_user_exc(
                builder, RuntimeError, ("a task of a parallel kernel raised an exception",)
            )
        return context.get_dummy_value()

    return types.none(kernel, n_tasks, args), codegen


def _task_range_function(context, module, payload_type, callee_signature):
    """The function the threads call: tasks ``first .. first + count - 1`` of the payload.

    Its signature is the one the threading layer calls (that of a gufunc
    kernel): ``void (char **arrays, intp *count, intp *steps, void *data)``.
    One serves every kernel of a signature: the payload holds the kernel.
    """
    function_type = ir.FunctionType(
        ir.VoidType(),
        [cgutils.voidptr_t.as_pointer(), ir.IntType(64).as_pointer(), ir.IntType(64).as_pointer(), cgutils.voidptr_t],
    )
    name = f"jitprop.tasks.{signature_key(callee_signature)}"
    function = cgutils.get_or_insert_function(module, function_type, name)
    if not function.is_declaration:
        return function
    function.linkage = "internal"
    arrays, counts, _, data = function.args
    builder = ir.IRBuilder(function.append_basic_block("entry"))
    first = builder.sub(builder.ptrtoint(builder.load(arrays), ir.IntType(64)), builder.ptrtoint(data, ir.IntType(64)))
    payload = builder.bitcast(data, payload_type.as_pointer())
    arguments = builder.load(cgutils.gep_inbounds(builder, payload, 0, 1))
    argtypes = list(callee_signature.args)
    callee_type = context.call_conv.get_function_type(callee_signature.return_type, argtypes)
    callee = builder.bitcast(builder.load(cgutils.gep_inbounds(builder, payload, 0, 2)), callee_type.as_pointer())
    values = [builder.extract_value(arguments, i) for i in range(len(argtypes) - 1)]
    with cgutils.for_range(builder, builder.load(counts)) as loop:
        task = builder.add(first, loop.index)
        status, _ = context.call_conv.call_function(
            builder, callee, callee_signature.return_type, argtypes, values + [task]
        )
        with cgutils.if_unlikely(builder, status.is_error):
            # (Atomic: tasks on several threads may fail at once.)
            flag = cgutils.gep_inbounds(builder, payload, 0, 0)
            builder.store_atomic(ir.Constant(ir.IntType(32), 1), flag, "monotonic", 4)
    builder.ret_void()
    return function
