"""Calling parallel kernels safely under each of Numba's threading layers.

Numba runs parallel work (jitprop's tasks, ``prange`` loops) on one
threading layer per process, chosen by ``NUMBA_THREADING_LAYER`` (default:
the first of ``tbb``, ``omp``, ``workqueue`` that loads). They differ in
what they survive:

=========  ==========================================  ===============================================
layer      parallel kernels from several threads       after ``os.fork()`` of a process that used it
=========  ==========================================  ===============================================
tbb        yes                                         yes
omp        yes                                         GNU OpenMP: the child is terminated (SIGTERM)
workqueue  no: the process aborts ("Concurrent access  yes
           has been detected")
=========  ==========================================  ===============================================

Every call into a parallel kernel goes through :func:`parallel_region` (or,
where a ``with`` costs more than the call, :func:`region_guard`), which
turns both failures into something better than a dead process:

* under ``workqueue`` it holds one process-wide lock, so that calls from
  several threads take turns instead of aborting (results are the same, the
  calls simply do not overlap);
* in a child forked from a process that had started GNU OpenMP's threads it
  raises :class:`ThreadingLayerError` saying what to do instead;
* if the requested layer cannot be loaded (``tbb`` without the ``tbb``
  package), it raises :class:`ThreadingLayerError` naming the layer.

Under ``tbb`` and ``omp`` in the process that started them it costs one
comparison and takes no lock.

Parallel code of the user's own running in another thread at the same time
is outside jitprop's reach: under ``workqueue`` that still aborts.
"""

import os
import threading
from contextlib import contextmanager, nullcontext

import numba

from .errors import ThreadingLayerError

#: Serialises parallel kernels under the workqueue layer; re-entrant, so a
#: thread that holds it may call another parallel kernel.
_WORKQUEUE_LOCK = threading.RLock()

_layer = None  # the layer of this process, once known
_layer_pid = None  # the process that started it
_forked_after_openmp = False  # this process was forked from one running GNU OpenMP threads


def threading_layer():
    """Name of the Numba threading layer of this process (``"tbb"``, ``"omp"`` or ``"workqueue"``).

    Starts Numba's thread pool if nothing has yet, which is what fixes the layer.

    Raises
    ------
    ThreadingLayerError
        The layer asked for with ``NUMBA_THREADING_LAYER`` cannot be loaded.
    """
    global _layer, _layer_pid
    if _layer is None:
        try:
            numba.get_num_threads()  # launches the thread pool, choosing the layer
            layer = numba.threading_layer()
        except ValueError as exc:  # "No threading layer could be loaded."
            wanted = numba.config.THREADING_LAYER
            raise ThreadingLayerError(
                f"Numba could not load a threading layer for NUMBA_THREADING_LAYER={wanted!r}: "
                f"{' '.join(str(exc).split())} Install what it needs (tbb: pip install tbb) or set "
                f"NUMBA_THREADING_LAYER to one of 'omp', 'workqueue'."
            ) from exc
        _layer, _layer_pid = layer, os.getpid()
    return _layer


def parallel_region():
    """Context for a call into a parallel kernel: serialised under workqueue, refused where it would abort.

    Use it around every call from Python into a kernel that runs tasks on
    the threads (:func:`~jitprop.kernels._numba.parallel.run_tasks`, directly or
    further down)::

        with parallel_region():
            run_batch(...)

    Under tbb and omp it is a context that does nothing, made once.
    """
    guard = region_guard()
    return _NOTHING if guard is None else guard


def region_guard():
    """What :func:`parallel_region` holds a call in: the workqueue layer's lock, or None under tbb and omp.

    For a path where a ``with`` costs more than the call it guards (a
    prediction of one example calls it every time, and entering and leaving
    a context that does nothing took about 0.4 µs)::

        guard = region_guard()
        if guard is None:
            run_batch(...)
        else:
            with guard:
                run_batch(...)

    Raises where :func:`parallel_region` does.
    """
    layer = threading_layer()
    if _forked_after_openmp:
        raise ThreadingLayerError(
            "This process was forked from one that had started Numba's GNU OpenMP threads; a parallel "
            "kernel here would be terminated by OpenMP. Start worker processes with "
            "multiprocessing's 'spawn' or 'forkserver' method (or joblib's default 'loky'), or set "
            "NUMBA_THREADING_LAYER=tbb or workqueue before importing jitprop."
        )
    return _WORKQUEUE_LOCK if layer == "workqueue" else None


_NOTHING = nullcontext()


def _after_fork_in_child():
    """Reset the lock (its holder may be a thread the child lacks); note inherited GNU OpenMP threads."""
    global _WORKQUEUE_LOCK, _forked_after_openmp
    _WORKQUEUE_LOCK = threading.RLock()
    try:
        layer = numba.threading_layer()  # raises ValueError when no layer was started
    except ValueError:
        return
    if layer == "omp" and _openmp_is_gnu():
        _forked_after_openmp = True


def _openmp_is_gnu():
    from .kernels._numba.parallel import openmp_vendor

    return openmp_vendor() == "GNU"


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def thread_count(threads):
    """Run the block with Numba using ``threads`` threads (``None``: as it is), then restore the count.

    Numba's thread count belongs to the calling thread, so blocks in several
    threads at once do not disturb each other.
    """
    if threads is None:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        yield
    finally:
        numba.set_num_threads(before)
