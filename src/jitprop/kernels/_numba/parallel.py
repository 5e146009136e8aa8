"""Independent tasks of a kernel, run on Numba's thread pool without ``prange``.

A ``prange`` loop is compiled as three functions of its own besides the one
it sits in — the loop body, and two wrappers that hand it to the threads —
each through Numba's whole pipeline: a second or more on first use for every
loop, most of it for code that only passes arguments along.
:func:`run_tasks` hands the thread pool the kernel's code directly. It writes
one small function (in LLVM, without going through Numba's compiler) that
unpacks the arguments and calls the kernel for task after task, and passes
it to ``numba_parallel_for``, the entry point of Numba's threading layer
(tbb, omp or workqueue) that ``prange`` loops use too, once for each thread.
Each thread runs a share of the tasks, then takes those left in the others'
shares (see :func:`_task_taker_function`).

Tasks must not depend on each other: which thread runs which task is
decided as they run, so that a thread on a slower core runs fewer. Each
task's work is the same whatever the thread count and whichever thread runs
it, so results are too.
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
        # The tasks' function: the kernel, arguments before the task number, a flag a failing task sets,
        # the number of tasks and of takers, and each taker's next task.
        payload_type = ir.LiteralStructType(
            [ir.IntType(32), arguments.type, cgutils.voidptr_t, _I64, _I64, ir.ArrayType(_I64, MAX_TAKERS)]
        )
        payload = cgutils.alloca_once(builder, payload_type)
        failed = cgutils.gep_inbounds(builder, payload, 0, 0)
        builder.store(ir.Constant(ir.IntType(32), 0), failed)
        builder.store(arguments, cgutils.gep_inbounds(builder, payload, 0, 1))
        builder.store(builder.bitcast(callee, cgutils.voidptr_t), cgutils.gep_inbounds(builder, payload, 0, 2))
        builder.store(count, cgutils.gep_inbounds(builder, payload, 0, 3))
        task_taker = _task_taker_function(context, builder.module, payload_type, callee_signature)

        data = builder.bitcast(payload, cgutils.voidptr_t)
        # The threading layer hands each call the array pointers advanced by
        # step x (its iteration): one "array" at the payload's address with a
        # step of one byte tells each call which taker it is.
        array_bases = cgutils.alloca_once_value(builder, data)
        steps = cgutils.alloca_once_value(builder, ir.Constant(_I64, 1))
        with builder.if_then(builder.icmp_signed(">", count, count.type(0))):
            get_num_threads = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(_I64, []), "get_num_threads"
            )
            # (Declared as Numba's parallel loops declare it; the C function returns an int.)
            threads = builder.sext(builder.trunc(builder.call(get_num_threads, []), ir.IntType(32)), _I64)
            # A taker a thread (at least one), no more takers than tasks (nor than MAX_TAKERS); each starts at
            # its share.
            takers = _smallest(builder, _smallest(builder, threads, count), ir.Constant(_I64, MAX_TAKERS))
            takers = builder.select(builder.icmp_signed("<", takers, takers.type(1)), takers.type(1), takers)
            builder.store(takers, cgutils.gep_inbounds(builder, payload, 0, 4))
            with cgutils.for_range(builder, takers) as loop:
                first = _share_start(builder, loop.index, count, takers)
                builder.store(first, cgutils.gep_inbounds(builder, payload, 0, 5, loop.index))
            dimensions = cgutils.alloca_once_value(builder, takers)
            with builder.if_else(builder.icmp_signed("==", takers, takers.type(1))) as (in_this_thread, on_the_pool):
                with in_this_thread:
                    builder.call(task_taker, [array_bases, dimensions, steps, data])
                with on_the_pool:
                    parallel_for = cgutils.get_or_insert_function(
                        builder.module,
                        ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t] * 5 + [_I64] * 3),
                        "numba_parallel_for",
                    )
                    builder.call(
                        parallel_for,
                        [
                            builder.bitcast(task_taker, cgutils.voidptr_t),
                            builder.bitcast(array_bases, cgutils.voidptr_t),
                            builder.bitcast(dimensions, cgutils.voidptr_t),
                            builder.bitcast(steps, cgutils.voidptr_t),
                            data,
                            ir.Constant(_I64, 0),  # no inner dimensions
                            ir.Constant(_I64, 1),  # one "array"
                            threads,
                        ],
                    )
        with cgutils.if_unlikely(builder, cgutils.is_not_null(builder, builder.load(failed))):
            context.call_conv.return_user_exc(
                builder, RuntimeError, ("a task of a parallel kernel raised an exception",)
            )
        return context.get_dummy_value()

    return types.none(kernel, n_tasks, args), codegen


#: Most threads that take tasks in one call of :func:`run_tasks` (the others, if any, take none).
MAX_TAKERS = 256

_I64 = ir.IntType(64)


def _smallest(builder, a, b):
    return builder.select(builder.icmp_signed("<", a, b), a, b)


def _share_start(builder, taker, n_tasks, takers):
    """The first task of ``taker``'s share: ``n_tasks`` in ``takers`` runs, the first ``n_tasks % takers`` longer."""
    quotient = builder.sdiv(n_tasks, takers)
    longer = _smallest(builder, taker, builder.srem(n_tasks, takers))
    return builder.add(builder.mul(taker, quotient), longer)


def _task_taker_function(context, module, payload_type, callee_signature):
    """The function each thread calls: it runs the tasks of its share, then takes the others' that are left.

    Its signature is the one the threading layer calls (that of a gufunc
    kernel): ``void (char **arrays, intp *count, intp *steps, void *data)``;
    ``arrays`` tells which taker it is. Each taker has a share of the tasks,
    a run as OpenMP's static schedule gives a thread, and runs them in order,
    taking each from its share's counter; a taker whose share is done takes
    the next task of another's share, the next taker's first. With threads
    of equal speed each runs its own share, whose data stays in its core's
    caches from one call to the next (a prediction of one example reads its
    share of the weights there); a thread on a slower or busier core no
    longer holds the others up at the end of every region. One serves every
    kernel of a signature: the payload holds the kernel.
    """
    function_type = ir.FunctionType(
        ir.VoidType(), [cgutils.voidptr_t.as_pointer(), _I64.as_pointer(), _I64.as_pointer(), cgutils.voidptr_t]
    )
    name = f"jitprop.task_taker.{signature_key(callee_signature)}"
    function = cgutils.get_or_insert_function(module, function_type, name)
    if not function.is_declaration:
        return function
    function.linkage = "internal"
    arrays, _, _, data = function.args
    builder = ir.IRBuilder(function.append_basic_block("entry"))
    taker = builder.sub(builder.ptrtoint(builder.load(arrays), _I64), builder.ptrtoint(data, _I64))
    payload = builder.bitcast(data, payload_type.as_pointer())
    arguments = builder.load(cgutils.gep_inbounds(builder, payload, 0, 1))
    argtypes = list(callee_signature.args)
    callee_type = context.call_conv.get_function_type(callee_signature.return_type, argtypes)
    callee = builder.bitcast(builder.load(cgutils.gep_inbounds(builder, payload, 0, 2)), callee_type.as_pointer())
    values = [builder.extract_value(arguments, i) for i in range(len(argtypes) - 1)]
    n_tasks = builder.load(cgutils.gep_inbounds(builder, payload, 0, 3))
    takers = builder.load(cgutils.gep_inbounds(builder, payload, 0, 4))
    with cgutils.for_range(builder, takers) as shares:
        # Shares in turn from this taker's own: the taker after it, and so on round.
        owner = builder.add(taker, shares.index)
        owner = builder.select(builder.icmp_signed(">=", owner, takers), builder.sub(owner, takers), owner)
        end = _share_start(builder, builder.add(owner, ir.Constant(_I64, 1)), n_tasks, takers)
        counter = cgutils.gep_inbounds(builder, payload, 0, 5, owner)
        take = builder.append_basic_block("take")
        run = builder.append_basic_block("run")
        done = builder.append_basic_block("done")
        builder.branch(take)
        builder.position_at_end(take)
        task = builder.atomic_rmw("add", counter, ir.Constant(_I64, 1), "monotonic")
        builder.cbranch(builder.icmp_signed("<", task, end), run, done)
        builder.position_at_end(run)
        status, _ = context.call_conv.call_function(
            builder, callee, callee_signature.return_type, argtypes, values + [task]
        )
        with cgutils.if_unlikely(builder, status.is_error):
            # (Atomic: tasks on several threads may fail at once.)
            flag = cgutils.gep_inbounds(builder, payload, 0, 0)
            builder.store_atomic(ir.Constant(ir.IntType(32), 1), flag, "monotonic", 4)
        builder.branch(take)
        builder.position_at_end(done)
    builder.ret_void()
    return function
