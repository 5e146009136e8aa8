"""What this process runs on: the CPU, Numba's threads and threading layer, library versions.

:func:`describe` is the one place that gathers it, for ``jitprop info``, the
results of :func:`jitprop.complexity.measure` and ``jitprop bench``'s report.
"""

import importlib.metadata
import os
import platform

import numba

#: The vector extensions :func:`describe` looks for (x86 and Arm).
VECTOR_FEATURES = ("sse4.2", "avx", "avx2", "fma", "avx512f", "neon", "sve")


def describe(packages=("jitprop", "numba", "numpy")):
    """The machine and the software of this process, as JSON-compatible values.

    Parameters
    ----------
    packages : iterable of str
        Distributions whose installed versions to report.

    Returns
    -------
    dict
        ``cpu`` (LLVM's name of the host CPU, e.g. ``"znver4"``),
        ``cpu_features`` (those of :data:`VECTOR_FEATURES` it has),
        ``machine`` (e.g. ``"x86_64"``), ``cpus`` (logical CPUs),
        ``threads`` (Numba threads of the calling thread), ``max_threads``
        (``NUMBA_NUM_THREADS``), ``threading_layer`` (``"none started"``
        before any parallel kernel ran), ``python`` and ``versions``
        (package → version, ``None`` where not installed).
    """
    cpu, features = _cpu()
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel work has started the thread pool yet
        layer = "none started"
    return {
        "cpu": cpu,
        "cpu_features": features,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "threads": numba.get_num_threads(),
        "max_threads": numba.config.NUMBA_NUM_THREADS,
        "threading_layer": layer,
        "python": platform.python_version(),
        "versions": {package: _version(package) for package in packages},
    }


def _cpu():
    try:
        from llvmlite import binding

        available = binding.get_host_cpu_features()
        return binding.get_host_cpu_name(), [name for name in VECTOR_FEATURES if available.get(name)]
    except Exception:  # llvmlite always ships with numba, but be robust
        return numba.config.CPU_NAME or "unknown", []


def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
