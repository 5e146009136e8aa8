"""Clocks, the check of a thread count and the kernel-level benches of the experiment.

:class:`BatchBench` times :func:`jitprop.kernels.batch.run_batch` in its
``FORWARD`` and ``GRADIENT`` modes on the batches of an epoch, with the
workspace and tile plan training allocates; :func:`layer_parts` times one
layer's three matrix products on a tile.
"""

import os
import time

import numpy as np

from ..kernels import workspace
from .._machine import describe
from .._threading import parallel_region
from ..kernels.batch import batch_kernels, chunking, run_batch
from ..kernels.tile import FORWARD, GRADIENT
from ..kernels.dense import FROM_PANELS, READS_IN_PLACE, forward_from_panels, forward_product, tile_panel_size
from ..kernels.layout import Data
from ..kernels.matmul import matmul_nt
from ..kernels.panels import (
    columns_for_itemsize,
    matmul_nt_reading_b,
    matmul_packed_b,
    matmul_tn,
    pack_columns,
    pack_rows,
    round_up,
)

#: FLOPs of work per timed sample of :func:`layer_parts`, so that short calls are repeated.
_PART_FLOPS = 20_000_000


def resolve_clock(clock, threads):
    """``(threads, timer)`` for a clock name: the CPU clock needs (and implies) one thread."""
    if clock == "wall":
        return threads, time.perf_counter
    if clock == "cpu":
        if threads not in (None, 1):
            raise ValueError(f"clock='cpu' times one thread, so threads must be 1 or None, got {threads!r}.")
        return 1, time.thread_time
    raise ValueError(f"clock must be 'wall' or 'cpu', got {clock!r}.")


def check_threads(threads):
    """``threads`` if it is None or a thread count Numba accepts (1..``NUMBA_NUM_THREADS``), else a ValueError."""
    if threads is not None:
        import numba

        most = numba.config.NUMBA_NUM_THREADS
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= most:
            raise ValueError(f"threads must be an integer in 1..{most}, got {threads!r}.")
    return threads


def timed(timer, fn):
    """Seconds ``fn()`` takes on ``timer``."""
    start = timer()
    fn()
    return timer() - start


class BatchBench:
    """``run_batch`` on the batches of an epoch, with the workspace and tile plan training allocates.

    Parameters
    ----------
    net : Network
    X : ndarray of shape (n, input_dim)
        ``n`` a multiple of ``batch_size``, so every batch does the same work.
    labels : int ndarray of shape (n,)
    batch_size : int
    timer : callable
        The clock, e.g. ``time.perf_counter``.
    """

    def __init__(self, net, X, labels, batch_size, timer):
        self.net = net
        self.timer = timer
        n = X.shape[0]
        X = np.ascontiguousarray(X, dtype=net.dtype)
        no_targets = np.zeros((0, net.n_outputs), dtype=net.dtype)
        self.data = Data(X, no_targets, np.ascontiguousarray(labels, dtype=np.int64), np.zeros(0))
        # Rows in a shuffled order, as training gathers them.
        self.index = np.random.default_rng(n).permutation(n).astype(np.int64)
        self.batch_size = batch_size
        self.ws = workspace.allocate(net.layout, batch_size, net.n_params, net.dtype)
        self.grad = np.zeros(net.n_params, dtype=net.dtype)
        self.no_grad = np.zeros(0, dtype=net.dtype)
        with parallel_region():
            net.pack_weights()
        self.kernels = batch_kernels(net.model, self.data, self.ws, self.grad)

    def run(self, rep):
        """Seconds of each batch's forward pass and of its gradient pass, alternating which runs first."""
        net, ws, data = self.net, self.ws, self.data
        forward, gradient = [], []
        for b, lo in enumerate(range(0, self.index.shape[0], self.batch_size)):
            index = self.index[lo : lo + self.batch_size]
            scale = 1.0 / index.shape[0]
            for mode in (FORWARD, GRADIENT) if (b + rep) % 2 == 0 else (GRADIENT, FORWARD):
                grad = self.grad if mode == GRADIENT else self.no_grad
                start = self.timer()
                arguments = (net.model, data, index, scale, ws, grad, False, -1)
                run_batch(self.kernels, mode, *arguments, chunking(net.n_params))
                (forward if mode == FORWARD else gradient).append(self.timer() - start)
        return forward, gradient


def layer_parts(fan_in, fan_out, tile_rows, dtype, samples, statistic, timer, seed=0):
    """Time one dense layer's three matrix products on a tile, relative to its forward product.

    As :func:`~jitprop.kernels.dense.forward` and
    :func:`~jitprop.kernels.dense.backward` run them: the input-gradient
    product packs the tile's rows and reads weights packed beforehand; the
    forward product as :func:`~jitprop.kernels.dense.forward_product` says
    (from packed panels likewise, or packing the tile's rows and reading the
    stored weights, or as dot products over them: the tiles of the
    experiment are never small enough to be written out); the weight gradient packs both of its operands, and its
    sum runs over the tile's rows rather than over ``fan_in``. FLOPs predict 1
    for both ratios.

    Returns
    -------
    list of dict
        Per entry of ``tile_rows``: the forward product's seconds and GFLOP/s,
        and ``input_gradient_over_forward``, ``weight_gradient_over_forward``.
    """
    rng = np.random.default_rng(seed)
    n, k = fan_in, fan_out
    columns = columns_for_itemsize(np.dtype(dtype).itemsize)
    benches = []
    for rows in tile_rows:
        x, d, w_t = (rng.random(shape).astype(dtype) for shape in ((rows, n), (rows, k), (k, n)))
        forward_panels = np.empty(n * round_up(k, columns), dtype)
        backward_panels = np.empty(k * round_up(n, columns), dtype)
        pack_rows(w_t, columns, forward_panels)
        pack_columns(w_t, columns, backward_panels)
        scratch = np.empty(tile_panel_size((n, k), rows), dtype)
        z, g, grad_w = np.empty((rows, k), dtype), np.empty((rows, n), dtype), np.empty((k, n), dtype)
        calls = max(3, -(-_PART_FLOPS // (2 * rows * n * k)))
        product = forward_product.py_func(forward_from_panels(n, k), rows, n, k, columns)
        if product == FROM_PANELS:
            forward = lambda x=x, p=forward_panels, s=scratch, z=z: matmul_packed_b(x, p, s, z)  # noqa: E731
        elif product == READS_IN_PLACE:
            forward = lambda x=x, w_t=w_t, s=scratch, z=z: matmul_nt_reading_b(x, w_t, s, z)  # noqa: E731
        else:
            forward = lambda x=x, w_t=w_t, z=z: matmul_nt(x, w_t, z)  # noqa: E731
        parts = (
            forward,
            lambda d=d, p=backward_panels, s=scratch, g=g: matmul_packed_b(d, p, s, g),
            lambda d=d, x=x, s=scratch, grad_w=grad_w: matmul_tn(d, x, s, grad_w),
        )
        benches.append((parts, calls))
    for parts, _ in benches:  # compile (or load) and touch every buffer
        for part in parts:
            part()
    times = np.zeros((len(benches), 3, samples))
    for rep in range(samples):
        for i, (parts, calls) in enumerate(benches):
            for p in (0, 1, 2) if rep % 2 == 0 else (2, 1, 0):
                times[i, p, rep] = timed(timer, lambda: [parts[p]() for _ in range(calls)]) / calls
    results = []
    for rows, per_part in zip(tile_rows, times):
        forward, input_gradient, weight_gradient = (float(statistic(t)) for t in per_part)
        results.append(
            {
                "fan_in": n,
                "fan_out": k,
                "tile_rows": rows,
                "forward_product_seconds": forward,
                "forward_gflops": 2 * rows * n * k / forward / 1e9,
                "input_gradient_over_forward": input_gradient / forward,
                "weight_gradient_over_forward": weight_gradient / forward,
            }
        )
    return results


def load_average():
    """The 1, 5 and 15-minute load averages, or None where the platform has none."""
    try:
        return list(os.getloadavg())
    except (AttributeError, OSError):
        return None


def machine(load_before):
    """What the figures were measured on (see :func:`jitprop._machine.describe`), and the load around them."""
    described = describe()
    return {
        **{key: described[key] for key in ("cpu", "machine", "cpus", "threads", "threading_layer")},
        "numba": described["versions"]["numba"],
        "numpy": described["versions"]["numpy"],
        "python": described["python"],
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }
