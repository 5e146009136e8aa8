"""``jitprop bench``'s measures of the machine's limits: matrix products, thread scaling, one thread's ceiling.

Beside the engines' speeds (:mod:`.bench`), three figures say how close
jitprop's training comes to what the machine can do:

* :func:`matmul_kernels`: jitprop's two forms of a parallel matrix product
  (dot products, and the micro-kernel as wide layers train with it)
  against NumPy's sgemm, in this process, alternating bursts;
* :func:`thread_scaling`: a workload's training speed with one thread and
  with two, alternating epochs (W1 and W3), and each CPU's own speed
  meanwhile (:func:`core_speeds`), which bounds what two threads can gain;
* :func:`single_thread_limit`: a wide network (W3) trained on one thread
  against the fastest single-thread matrix product of any library at hand
  (NumPy's, PyTorch's, jitprop's own), on the product W3's batches make
  (:data:`LIMIT_PRODUCT`): a training step is three such products a layer,
  so its GFLOP/s can approach the product's but not pass it. The training
  and each peer's product run in processes of their own, one after the
  other in every round, a peer's with its own best choice of kernels
  (:func:`~.bench_timing.engine_environment`); jitprop's product is timed
  beside each of them, alternating, and the ratio is a chain of the ratios
  measured in each process (the machine's speed moves between processes).
"""

import os
import time

import numpy as np

from .._threading import thread_count
from . import bench_timing
from .bench_engines import JitpropEngine, installed

#: ``(m, k, n)`` of the product training on one thread is measured against: a batch of W3 (256 rows)
#: through one of its 1024-wide layers, ``(256 x 1024) @ (1024 x 1024)``.
LIMIT_PRODUCT = (256, 1024, 1024)

#: Libraries whose single-thread product :func:`single_thread_limit` times; one not installed is skipped.
PRODUCT_LIBRARIES = ("numpy", "pytorch", "jitprop")

#: Calls of a product per timed burst, and bursts per process (their median is the process's figure).
PRODUCT_CALLS = 20
PRODUCT_BURSTS = 9


def matmul_kernels(repeats=5, burst=20):
    """GFLOP/s of jitprop's parallel matrix products against NumPy's sgemm, alternating bursts.

    jitprop's two forms of ``a bᵀ``, each over blocks of rows on every
    thread: dot products (:func:`~jitprop.kernels.matmul.parallel_matmul_nt`,
    ``jitprop_gflops``) and the micro-kernel reading ``b`` where it lies, as
    a wide layer's forward product runs in training
    (:func:`~jitprop.kernels.panels.parallel_matmul_nt_reading_b`,
    ``micro_kernel_gflops``); each ratio is NumPy's time over jitprop's.
    Each repeat settles, then times ``burst`` consecutive calls of one library
    and keeps their median: the first calls after a pause wait for the
    library's sleeping worker threads (on a virtual machine, up to a few
    milliseconds each), which is not the speed of the product.
    """
    from ..kernels.matmul import parallel_matmul_nt
    from ..kernels.panels import parallel_matmul_nt_reading_b, parallel_reading_b_scratch

    def median_call(product):
        time.sleep(bench_timing.SETTLE_SECONDS)  # the other library's threads stop spinning
        seconds = []
        for _ in range(burst):
            started = time.perf_counter()
            product()
            seconds.append(time.perf_counter() - started)
        return float(np.median(seconds))

    rows = []
    for m, k, n in ((128, 784, 256), (256, 1024, 1024)):
        a, b_t = _operands(m, k, n)  # (jitprop's operand: b stored transposed)
        b = np.ascontiguousarray(b_t.T)
        out = np.empty((m, n), np.float32)
        scratch = np.empty(parallel_reading_b_scratch(m, k, a.itemsize), np.float32)
        ours, micro, theirs = [], [], []
        for _ in range(repeats):
            ours.append(median_call(lambda: parallel_matmul_nt(a, b_t, out)))
            micro.append(median_call(lambda: parallel_matmul_nt_reading_b(a, b_t, scratch, out)))
            theirs.append(median_call(lambda: np.matmul(a, b)))
        flops = 2.0 * m * n * k
        rows.append(
            {
                "shape": [m, k, n],
                "jitprop_gflops": flops / np.median(ours) / 1e9,
                "micro_kernel_gflops": flops / np.median(micro) / 1e9,
                "numpy_gflops": flops / np.median(theirs) / 1e9,
                "ratio": float(np.median(theirs) / np.median(ours)),
                "micro_kernel_ratio": float(np.median(theirs) / np.median(micro)),
            }
        )
    return rows


def thread_scaling(workload, repeats, quick=False):
    """jitprop's examples/s on ``workload`` with 1 and 2 threads, alternating epochs, and each CPU's speed meanwhile.

    ``speedup`` is the median over the pairs of epochs (one thread, then
    two) of the one's time over the other's: the machine's speed drifts
    between pairs (by half within minutes on a shared virtual machine),
    and a ratio of medians taken over different moments would carry it.
    Before each pair every CPU times a product on its own
    (:func:`core_speeds`); ``core_gflops`` holds each CPU's median. A
    batch's tiles run one a thread and the batch waits for the slower, so
    where one CPU runs slower than the other (on a virtual machine, while
    the host gives its core to other work) two threads gain less than twice.
    """
    X, y = workload.data(quick)
    runner = JitpropEngine(workload, X, y, 2)
    rewarm = runner.epoch() < bench_timing.REWARM_BELOW_SECONDS
    times = {1: [], 2: []}
    cores = []
    for _ in range(repeats):
        cores.append(core_speeds())
        for threads in (1, 2):
            with thread_count(threads):
                times[threads].append(bench_timing.timed_epoch(runner, rewarm))
    # String keys, as JSON has them.
    speeds = {str(t): X.shape[0] / float(np.median(s)) for t, s in times.items()}
    core_gflops = {cpu: float(np.median([speeds_[cpu] for speeds_ in cores])) for cpu in cores[0]} if cores else {}
    return {
        "workload": workload.name,
        "examples_per_second": speeds,
        "speedup": float(np.median(np.divide(times[1], times[2]))),
        "core_gflops": core_gflops,
    }


#: ``(m, k, n)`` of the product :func:`core_speeds` times on each CPU: a tile of W1 (64 rows) through its first layer.
CORE_PRODUCT = (64, 784, 256)


def core_speeds(calls=40):
    """GFLOP/s of jitprop's micro-kernel on :data:`CORE_PRODUCT` on each CPU this process may use, one at a time.

    After a pause (:data:`~.bench_timing.SETTLE_SECONDS`: idle worker threads
    spin for a while) the calling thread is pinned to each CPU in turn (then
    let free again) and times ``calls`` products after one untimed. Returns ``{cpu: GFLOP/s}``
    with the CPUs' numbers as strings; empty where a thread cannot be
    pinned (no ``os.sched_setaffinity``).
    """
    if not hasattr(os, "sched_setaffinity"):
        return {}
    m, k, n = CORE_PRODUCT
    product = _micro_kernel_product(*_operands(m, k, n))
    allowed = os.sched_getaffinity(0)
    speeds = {}
    time.sleep(bench_timing.SETTLE_SECONDS)  # (the threads of the last parallel region stop spinning on their CPUs)
    try:
        for cpu in sorted(allowed):
            os.sched_setaffinity(0, {cpu})
            product()
            speeds[str(cpu)] = _burst_gflops(product, calls, 2.0 * m * k * n)
    finally:
        os.sched_setaffinity(0, allowed)
    return speeds


# ------------------------------------------------------------------ one thread's ceiling
def one_product(library, m, k, n):
    """``library``'s ``(m x k) @ (k x n)`` in float32 on one thread beside jitprop's, bursts alternating, here.

    ``PRODUCT_BURSTS`` bursts of ``PRODUCT_CALLS`` calls of each, one
    after the other, after as many calls of each untimed; each burst's
    GFLOP/s from its total time. jitprop's product is the one its training
    runs forward through a wide layer,
    :func:`~jitprop.kernels.panels.matmul_nt_reading_b` (the micro-kernel
    reading the weights where they lie, the rows packed), on one thread
    without starting any thread pool: it times the machine's speed of the
    moment beside the library's, which a ratio cancels.

    Returns
    -------
    dict
        ``gflops`` and ``jitprop_gflops`` (medians over bursts), ``ratio``
        (the median over the pairs of bursts of the library's GFLOP/s over
        jitprop's; 1 for jitprop itself) and ``blas``, as
        :func:`~.bench_timing.blas_kernels` reports the process's BLAS libraries.
    """
    a, b_t = _operands(m, k, n)
    ours = _micro_kernel_product(a, b_t)
    if library == "numpy":
        b = np.ascontiguousarray(b_t.T)

        def product():
            return np.matmul(a, b)

    elif library == "pytorch":
        import torch

        torch.set_num_threads(1)
        ta, tb = torch.from_numpy(a), torch.from_numpy(np.ascontiguousarray(b_t.T))

        def product():
            return torch.matmul(ta, tb)

    elif library == "jitprop":
        product = ours
    else:
        raise ValueError(f"Unknown library {library!r}; expected one of {', '.join(PRODUCT_LIBRARIES)}.")
    for _ in range(PRODUCT_CALLS):
        product()
        ours()
    theirs, mine = [], []
    for _ in range(PRODUCT_BURSTS):
        theirs.append(_burst_gflops(product, PRODUCT_CALLS, 2.0 * m * k * n))
        mine.append(_burst_gflops(ours, PRODUCT_CALLS, 2.0 * m * k * n))
    return {
        "gflops": float(np.median(theirs)),
        "jitprop_gflops": float(np.median(mine)),
        "ratio": float(np.median(np.divide(theirs, mine))),
        "blas": bench_timing.blas_kernels(),
    }


def training_against_product(workload, quick=False, epochs=None):
    """jitprop training ``workload`` on one thread, each epoch followed by a burst of its own product, in this process.

    A warm-up epoch, then ``epochs`` (default
    :data:`~.bench_timing.PROCESS_EPOCHS`) pairs of a timed epoch (as
    :func:`~.bench_timing.timed_epoch` times them) and a burst of
    ``PRODUCT_CALLS`` calls of jitprop's product on :data:`LIMIT_PRODUCT`
    (as :func:`one_product`'s).

    Returns
    -------
    dict
        ``training_gflops`` and ``product_gflops`` (medians), ``ratio`` (the
        median over the pairs of the epoch's GFLOP/s over the burst's).
    """
    m, k, n = LIMIT_PRODUCT
    product = _micro_kernel_product(*_operands(m, k, n))
    X, y = workload.data(quick)
    flops = workload.flops_per_example() * X.shape[0]
    with thread_count(1):
        runner = JitpropEngine(workload, X, y, 1)
        rewarm = runner.epoch() < bench_timing.REWARM_BELOW_SECONDS
        for _ in range(PRODUCT_CALLS):
            product()
        training, products = [], []
        for _ in range(epochs or bench_timing.PROCESS_EPOCHS):
            training.append(flops / bench_timing.timed_epoch(runner, rewarm) / 1e9)
            products.append(_burst_gflops(product, PRODUCT_CALLS, 2.0 * m * k * n))
    return {
        "training_gflops": float(np.median(training)),
        "product_gflops": float(np.median(products)),
        "ratio": float(np.median(np.divide(training, products))),
    }


def _operands(m, k, n):
    """``(a, b_t)``, float32 of shapes (m, k) and (n, k) from a fixed seed: the product is ``a @ b_t.T``."""
    rng = np.random.default_rng(0)
    return rng.random((m, k), dtype=np.float32), rng.random((n, k), dtype=np.float32)


def _micro_kernel_product(a, b_t):
    """``a @ b_t.T`` by :func:`~jitprop.kernels.panels.matmul_nt_reading_b`, as a function; its scratch made once."""
    from ..kernels.panels import columns_for_itemsize, matmul_nt_reading_b

    out = np.empty((a.shape[0], b_t.shape[0]), np.float32)
    panel = np.empty(a.shape[1] * columns_for_itemsize(4), np.float32)
    return lambda: matmul_nt_reading_b(a, b_t, panel, out)


def _burst_gflops(product, calls, flops_per_call):
    """GFLOP/s of ``calls`` consecutive calls of ``product``, from their total time."""
    started = time.perf_counter()
    for _ in range(calls):
        product()
    return flops_per_call * calls / (time.perf_counter() - started) / 1e9


_PRODUCT_SCRIPT = """
import json, sys
from jitprop.cli import bench_limits
library, m, k, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(json.dumps(bench_limits.one_product(library, m, k, n)))
"""

_TRAINING_SCRIPT = """
import json, sys
from jitprop.cli import bench_limits
from jitprop.cli.bench_workloads import WORKLOADS
print(json.dumps(bench_limits.training_against_product(WORKLOADS[sys.argv[1]], sys.argv[2] == "1")))
"""

#: Variables that hold every library's thread pool to one thread (Numba's, OpenMP's, OpenBLAS's, MKL's).
_ONE_THREAD = dict.fromkeys(("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")


def product_process(library, shape=LIMIT_PRODUCT):
    """:func:`one_product` of ``library`` in a fresh process on one thread.

    A peer's process runs without the variables of :data:`~.bench_timing.PEER_UNSET`.
    """
    arguments = (library, *map(str, shape))
    return bench_timing.json_from_process(_PRODUCT_SCRIPT, arguments, library, f"{library}'s product", _ONE_THREAD)


def training_process(workload, quick=False):
    """:func:`training_against_product` of the workload named ``workload`` in a fresh process on one thread."""
    arguments = (workload, "1" if quick else "0")
    return bench_timing.json_from_process(_TRAINING_SCRIPT, arguments, "jitprop", f"jitprop on {workload}", _ONE_THREAD)


def single_thread_limit(workload, rounds, quick=False, log=print, run_training=None, run_product=None):
    """``workload`` trained by jitprop on one thread against the best single-thread product, in processes of their own.

    The machine's speed changes from one process to the next (by half
    within minutes on a shared virtual machine), so no two figures of
    different processes are set against each other: jitprop's own product
    (:func:`~jitprop.kernels.panels.matmul_nt_reading_b` on
    :data:`LIMIT_PRODUCT`) is timed beside each of them, and the ratio is
    a chain of ratios each measured in one process. In each of ``rounds``
    rounds: jitprop trains ``workload`` on one thread in a fresh process,
    its epochs alternating with bursts of its product (``run_training``,
    default :func:`training_process`); then each other library of
    :data:`PRODUCT_LIBRARIES` that is installed times its product
    alternating with jitprop's, in one of its own (``run_product``,
    default :func:`product_process`).

    Returns
    -------
    dict
        ``training_gflops``; ``product_gflops``, each library's median
        GFLOP/s (jitprop's from the training's processes); ``relative``,
        each library's product over jitprop's in the same process (medians
        over rounds; 1 for jitprop); ``best``, the library of the highest
        ``relative``; ``ratio``, the median over rounds of the training's
        GFLOP/s over jitprop's product (same process) over ``best``'s
        product relative to jitprop's (same process); ``rounds`` and
        ``blas`` (each peer's kernels).
    """
    run_training = training_process if run_training is None else run_training
    run_product = product_process if run_product is None else run_product
    peers = [library for library in PRODUCT_LIBRARIES if library != "jitprop" and installed(library)]
    training, over_own = [], []
    products = {"jitprop": [], **{library: [] for library in peers}}
    relative = {library: [] for library in products}
    blas = {}
    for round_ in range(rounds):
        log(f"… one thread, round {round_ + 1}/{rounds}: {workload.name} against jitprop's product")
        entry = run_training(workload.name, quick)
        training.append(entry["training_gflops"])
        over_own.append(entry["ratio"])
        products["jitprop"].append(entry["product_gflops"])
        relative["jitprop"].append(1.0)
        for library in peers:
            log(f"… one thread, round {round_ + 1}/{rounds}: {library}'s product against jitprop's")
            result = run_product(library)
            products[library].append(result["gflops"])
            relative[library].append(result["ratio"])
            if result.get("blas"):
                blas[library] = result["blas"]
    relative_medians = {library: float(np.median(ratios)) for library, ratios in relative.items()}
    # (The best library by its medians, then paired round by round: the best of each round's noisy figures
    # would favour whichever library was luckiest in it.)
    best = max(relative_medians, key=relative_medians.get)
    ratios = [own / theirs for own, theirs in zip(over_own, relative[best])]
    return {
        "workload": workload.name,
        "shape": list(LIMIT_PRODUCT),
        "rounds": rounds,
        "training_gflops": float(np.median(training)),
        "training_over_own_product": float(np.median(over_own)),
        "product_gflops": {library: float(np.median(rates)) for library, rates in products.items()},
        "relative": relative_medians,
        "best": best,
        "ratio": float(np.median(ratios)),
        "blas": blas,
    }


# ------------------------------------------------------------------------------ report
def format_limits(report):
    """The lines of ``report``'s parts measured here, as :func:`~.bench.format_report` prints them."""
    lines = ["", "matrix products (float32, on every thread; jitprop's over numpy's matmul):"]
    for row in report["matmul"]:
        m, k, n = row["shape"]
        micro = ""
        if "micro_kernel_gflops" in row:  # (not in reports made before it was measured)
            micro = f"micro-kernel {row['micro_kernel_gflops']:.1f} GFLOP/s ({row['micro_kernel_ratio']:.2f}), "
        lines.append(
            f"  {m}x{k}x{n}: jitprop {micro}dot products {row['jitprop_gflops']:.1f} GFLOP/s ({row['ratio']:.2f}), "
            f"numpy {row['numpy_gflops']:.1f} GFLOP/s"
        )
    for scaling in report.get("thread_scaling", []):
        speeds = scaling["examples_per_second"]
        lines.append(
            f"thread scaling on {scaling['workload']}: {speeds['1']:,.0f} examples/s with 1 thread, "
            f"{speeds['2']:,.0f} with 2 ({scaling['speedup']:.2f}x)"
        )
        cores = scaling.get("core_gflops")
        if cores:
            each = ", ".join(f"{gflops:.0f}" for gflops in cores.values())
            lines.append(
                f"  each CPU meanwhile, a {'x'.join(map(str, CORE_PRODUCT))} product on its own: {each} GFLOP/s "
                f"(the slowest at {min(cores.values()) / max(cores.values()):.2f} of the fastest)"
            )
    limit = report.get("single_thread_limit")
    if limit is not None:
        m, k, n = limit["shape"]
        products = ", ".join(f"{library} {gflops:.1f}" for library, gflops in limit["product_gflops"].items())
        trains = (
            f"one thread, {limit['rounds']} rounds in processes of their own: {limit['workload']} trains at "
            f"{limit['training_gflops']:.1f} GFLOP/s"
        )
        best = f"training over the best product ({limit['best']}): {limit['ratio']:.2f}"
        if "relative" in limit:  # (reports made before the products were timed beside jitprop's have no "relative")
            relative = ", ".join(f"{library} {ratio:.2f}" for library, ratio in limit["relative"].items())
            lines.append(
                f"{trains}, {limit['training_over_own_product']:.2f} of jitprop's {m}x{k}x{n} product timed "
                f"between its epochs; each library's product over jitprop's in its process: {relative} "
                f"({products} GFLOP/s); {best}"
            )
        else:
            lines.append(f"{trains}; the {m}x{k}x{n} product: {products} GFLOP/s; {best}")
        for library, kernels in limit["blas"].items():
            lines.append(f"  {library}'s BLAS: {'; '.join(kernels)}")
    return lines
