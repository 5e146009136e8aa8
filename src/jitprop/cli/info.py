"""``jitprop info``: versions, threads and threading layer, CPU features, compile cache."""

import os


def register(commands, common):
    """Add the ``info`` command to the ``jitprop`` parser."""
    info = commands.add_parser("info", parents=[common], help="versions, threads, CPU and compile cache")
    info.set_defaults(run=run)


def run(args):
    """Run ``jitprop info``; returns the exit status."""
    import jitprop

    from .._machine import describe
    from ..kernels._numba.cache import cache_directory
    from ._common import warm_kernels

    # Run the kernels once so that Numba starts, and reports, its threading layer.
    seconds = warm_kernels("float32")
    machine = describe()
    versions = machine["versions"]
    package = os.path.dirname(jitprop.__file__)
    cache = cache_directory() or "none writable"
    features = ", ".join(machine["cpu_features"]) or "no vector extensions found"
    print(f"jitprop {jitprop.__version__} ({package})")
    print(f"numba {versions['numba']}, numpy {versions['numpy']}, python {machine['python']}")
    print(
        f"threads: {machine['threads']} in use, at most {machine['max_threads']} "
        f"(NUMBA_NUM_THREADS); threading layer: {machine['threading_layer']}"
    )
    print(f"cpu: {machine['machine']}, {machine['cpu']} ({features})")
    print(f"compile cache: {cache} (kernels ready in {seconds:.2f} s)")
    return 0
