"""Compiling kernels in a second process while this one compiles others.

Numba compiles under one lock per process, so a first fit would keep one
core busy however many the machine has. :func:`compiling_in_background`
hands some kernels to a child process, which compiles them into Numba's
on-disk cache while this process compiles the rest; when both are done,
this process loads the child's kernels from the cache (a few milliseconds
each) instead of compiling them. The caller chooses kernels that call no
kernel this process compiles meanwhile, so that no work is done twice: a
network's tile and its update rule in the child; its epoch (with the
packing and the update's pass) and evaluation driver here.

Nothing depends on the child: if it cannot start or fails, this process
compiles what it would have loaded, as it does without it. It does not
start when every kernel handed to it is cached already, when the process
may use one core only, when the cache lies in a temporary directory of this
process's own (no directory to share was writable), or when
``JITPROP_COMPILE_PROCESSES`` is ``1``.
"""

import os
import pickle
import subprocess
import sys
from contextlib import contextmanager

import numba
from numba.core.compiler_lock import global_compiler_lock

from . import cache
from .linking import argument_types

# Set in the child, so that it starts no child of its own.
_CHILD = "JITPROP_COMPILING_CHILD"


@contextmanager
def compiling_in_background(jobs):
    """Compile ``jobs`` in a child process while the body of the ``with`` runs; wait for it on leaving.

    Parameters
    ----------
    jobs : list of (Dispatcher, tuple)
        Kernels and example arguments (only their types count) to compile
        them for. Those already compiled in this process or cached on disk
        are loaded here and not handed to the child.
    """
    pending = [(kernel, argument_types(args)) for kernel, args in jobs]
    pending = [(kernel, argtypes) for kernel, argtypes in pending if not load_cached(kernel, argtypes)]
    child = _start(pending) if pending and _may_start() else None
    try:
        yield
    except BaseException:
        if child is not None:  # (interrupted, or failed: nobody waits for what it compiles)
            child.kill()
            child.wait()
        raise
    if child is not None:
        child.wait()


def load_cached(kernel, argtypes):
    """Whether ``kernel`` is compiled here for ``argtypes``, after loading it from Numba's cache if it is there.

    What :meth:`Dispatcher.compile` does first, without compiling on a miss.
    """
    with global_compiler_lock:
        if argtypes in kernel.overloads:
            return True
        result = kernel._cache.load_overload(argtypes, kernel.targetctx)
        if result is None:
            return False
        kernel.targetctx.insert_user_function(result.entry_point, result.fndesc, [result.library])
        kernel.add_overload(result)
        return True


def _may_start():
    if os.environ.get(_CHILD) or os.environ.get("JITPROP_COMPILE_PROCESSES") == "1":
        return False
    if numba.config.DISABLE_JIT or not cache.is_shared():  # (a child's cache would be its own)
        return False
    if getattr(sys, "frozen", False):  # (a frozen application's executable is the application)
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # (not on every platform)
        cores = os.cpu_count() or 1
    return cores > 1


def _start(pending):
    """The child process compiling ``pending``, or None if it could not start."""
    names = [(kernel.py_func.__module__, kernel.py_func.__qualname__) for kernel, _ in pending]
    work = pickle.dumps([(name, argtypes) for name, (_, argtypes) in zip(names, pending)])
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # (The child imports the jitprop this process runs, wherever it was found.)
            env={**os.environ, _CHILD: "1", "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)},
        )
        child.stdin.write(work)
        child.stdin.close()
    except OSError:
        return None
    return child


def _compile(work):
    """In the child: compile each ``((module, qualified name), argument types)`` of ``work`` into the cache."""
    import importlib

    for (module, qualname), argtypes in work:
        kernel = importlib.import_module(module)
        for name in qualname.split("."):
            kernel = getattr(kernel, name)
        kernel.compile(argtypes)


if __name__ == "__main__":
    _compile(pickle.loads(sys.stdin.buffer.read()))
