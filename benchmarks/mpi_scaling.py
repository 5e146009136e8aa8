"""Data-parallel training on this machine: the parts of a step, and epochs on 2 ranks against 1 process.

    python benchmarks/mpi_scaling.py rounds 3         # everything, alternating, every round printed
    mpiexec -n 2 python benchmarks/mpi_scaling.py allreduce
    mpiexec -n 2 python benchmarks/mpi_scaling.py terms W1 tiles
    NUMBA_NUM_THREADS=2 python benchmarks/mpi_scaling.py thread-terms W1
    mpiexec -n 2 python benchmarks/mpi_scaling.py epoch W1 tiles
    NUMBA_NUM_THREADS=2 python benchmarks/mpi_scaling.py epoch W1 none

``allreduce`` times (mean of 50, after 5 untimed) an in-place ``Allreduce``
of W1's and W3's float32 gradient and the ``Allgatherv`` that
``combine="tiles"`` makes of their tiles, and (median of 500) an 8-byte
allreduce: the latency. Every other part is a mean too: an epoch is the sum
of its steps. ``terms``
measures, on the 2 ranks of a job (both cores busy, as in training), the
parts of a step of :class:`~jitprop.complexity.scaling.MeasuredStep` and one
core's throughput: the rank loop without its update (each rank's tiles of a
batch, then the exchange, whose mean past that of the exchange after a
barrier is the wait for the slower rank), then the step after the exchange
(summing, the update with a learning rate of 0, packing). The
interpreter's work per batch of the rank loop comes from ``thread-terms``:
the same batches trained by the rank loop on one rank (``COMM_SELF``) and by
the compiled epoch, one thread, alternating; it also times the step after the
exchange on the process's threads. ``epoch`` trains one untimed epoch
(loading the kernels), then one timed epoch, of the workload (W1, W3 of
``jitprop bench``) on random data, and prints its seconds. ``rounds`` runs,
in each round and in separate processes, all of these, for W1 and W3: 1
process × 2 threads, 2 ranks × 1 thread (tiles, then allreduce) and 1
process × 1 thread, and prints each figure as it comes, then the model's
prediction from that round's measured parts (:func:`predict`).
"""

import json
import os
import subprocess
import sys
import time

import numpy as np

import jitprop as jp
from jitprop import _threading, distributed
from jitprop.cli.bench_workloads import WORKLOADS
from jitprop.complexity import costs
from jitprop.complexity.scaling import Link, MeasuredStep, scaling, thread_epoch_seconds
from jitprop.kernels import workspace
from jitprop.kernels.batch import batch_scale, reduce_tiles
from jitprop.kernels.workspace import plan_tile_rows


def network(name):
    sizes = WORKLOADS[name].sizes
    layers = [jp.Dense(width, "relu") for width in sizes[1:-1]] + [jp.Dense(sizes[-1], "softmax")]
    return jp.Network(layers, input_dim=sizes[0], loss="cross_entropy", dtype="float32", seed=0)


def epoch(name, combine):
    comm = None
    if combine != "none":
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    workload = WORKLOADS[name]
    X, y = data(name)
    net = network(name)
    keywords = {} if comm is None else {"comm": comm, "combine": combine}
    fit = dict(batch_size=workload.batch_size, optimizer=jp.SGD(lr=1e-3), verbose=0, **keywords)
    net.fit(X, y, epochs=1, **fit)
    seconds = net.fit(X, y, epochs=1, **fit)["seconds"][0]
    if comm is None or comm.Get_rank() == 0:
        print(json.dumps({"workload": name, "combine": combine, "seconds": seconds}))


def data(name):
    """Random examples and labels of the workload's shape: ``(X, y)``."""
    workload = WORKLOADS[name]
    rng = np.random.default_rng(0)
    X = rng.random((workload.n, workload.sizes[0]), dtype=np.float32)
    return X, rng.integers(0, workload.sizes[-1], workload.n)


def session(name, comm, combine):
    """The workload's :class:`~jitprop.distributed.Session`, prepared as ``fit`` does: ``(session, net, data, ws)``."""
    net = network(name)
    X, y = data(name)
    prepared = net.prepare_data(X, y)
    optimizer = jp.SGD(lr=1e-3)
    optimizer.attach(net)
    net.optimizer = optimizer
    batch = WORKLOADS[name].batch_size
    ws = workspace.allocate(net.layout, batch, net.n_params, net.dtype)
    grad = np.zeros(net.n_params, dtype=net.dtype)
    rank = distributed.Session(comm, combine)
    rank.prepare(net, prepared, ws, grad, optimizer)
    with _threading.parallel_region():
        net.pack_weights()
    return rank, net, prepared, ws


def mean_of(operation, before=None, seconds=1.0, least=30):
    """Mean seconds of ``operation()`` (``before()`` untimed ahead of each), after 3 untimed calls.

    Called for at least ``seconds`` and ``least`` times: an epoch is the sum of
    its steps, so its mean, stalls included, is what it adds up to, and a
    stall (a core lent to other work) must have time to happen.
    """
    times = []
    k = 0
    while k < least + 3 or sum(times) < seconds:
        if before is not None:
            before()
        started = time.perf_counter()
        operation()
        if k >= 3:
            times.append(time.perf_counter() - started)
        k += 1
    return float(np.mean(times))


def after_exchange(rank, net, ws, batch, combine):
    """The step every rank repeats after the exchange (a learning rate of 0: the weights stay), as a function."""
    optimizer = net.optimizer
    _, state, hyper = optimizer.kernel_arguments()
    n = net.n_params
    tiles = rank.tile_ws.tile_gradients
    n_tiles = -(-batch // ws.tile_rows)
    first, end = distributed.rank_tiles(n_tiles, rank.size)[rank.rank]

    def step():
        if combine == "tiles":
            rank._update((tiles, np.int64(n_tiles), rank.grad, rank.rule, net.params, state, hyper, 0.0, np.int64(1)))
        else:
            grad = tiles[0, :n] if end - first == 1 else rank.flat[:n]  # (as Session._allreduce sums them)
            if end - first > 1:
                with _threading.parallel_region():
                    reduce_tiles(tiles, np.int64(end - first), grad, False, rank.chunked)
            rank._update((tiles, np.int64(0), grad, rank.rule, net.params, state, hyper, 0.0, np.int64(1)))
        with _threading.parallel_region():
            net.pack_weights()

    return step


def terms(name, combine):
    """On the ranks of a job: one core's seconds per example of its tiles, the wait, the step after the exchange."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, net, prepared, ws = session(name, comm, combine)
    batch = WORKLOADS[name].batch_size
    index = np.random.default_rng(1).permutation(prepared.inputs.shape[0])[:batch].astype(np.int64)
    scale = batch_scale(prepared.weights, index, np.int64(1))
    n_tiles = -(-batch // ws.tile_rows)
    first, end = distributed.rank_tiles(n_tiles, rank.size)[rank.rank]
    mine = rank.tile_ws._replace(tile_gradients=rank.tiles[first:]) if combine == "tiles" else rank.tile_ws
    examples = min(batch, end * ws.tile_rows) - first * ws.tile_rows
    _, _, counts, places = rank._share(n_tiles)
    row = rank.tiles[0] if end - first == 1 else rank.flat  # (what Session._allreduce adds up)

    def exchange():
        if combine == "tiles":
            comm.Allgatherv(MPI.IN_PLACE, [rank.tile_bytes, counts, places, MPI.BYTE])
        else:
            comm.Allreduce(MPI.IN_PLACE, row, op=MPI.SUM)

    # The rank loop without its update: its tiles, then the exchange, which ends when the slower rank has
    # arrived. Its mean past that of the same exchange after a barrier is the wait: the imbalance and jitter
    # of the ranks' computation, and the stalls while one lost its core to other work (a barrier between
    # tiles and exchange would hide them). As many steps as rank 0 computes in about a second.
    rank._local_tiles(net, prepared, 0, mine, index, scale, first, end)
    started = time.perf_counter()
    rank._local_tiles(net, prepared, 0, mine, index, scale, first, end)
    steps = comm.bcast(max(30, int(1.0 / (time.perf_counter() - started))), root=0)
    own, exchanges = [], []
    comm.Barrier()
    for k in range(steps + 3):
        started = time.perf_counter()
        rank._local_tiles(net, prepared, 0, mine, index, scale, first, end)
        computed = time.perf_counter()
        exchange()
        if k >= 3:
            own.append((computed - started) / examples)
            exchanges.append(time.perf_counter() - computed)
    alone = mean_of(exchange, comm.Barrier, seconds=0.0, least=30)
    step = after_exchange(rank, net, ws, batch, combine)
    update = mean_of(step, comm.Barrier, seconds=0.0, least=steps)  # (as many times on each rank: the barrier)
    wait = max(0.0, float(np.mean(exchanges)) - alone)
    results = comm.gather({"example": float(np.mean(own)), "wait": wait, "update": update})
    if comm.Get_rank() == 0:
        # One core's seconds per example and the step: the ranks' mean; the wait: the mean a rank waits.
        print(json.dumps({key: float(np.mean([r[key] for r in results])) for key in results[0]}))


def thread_terms(name):
    """One process: the step after the exchange on its threads, and the rank loop's interpreter work per batch."""
    import numba
    from mpi4py import MPI

    rank, net, prepared, ws = session(name, MPI.COMM_SELF, "tiles")
    batch = WORKLOADS[name].batch_size
    update = mean_of(after_exchange(rank, net, ws, batch, "tiles"))
    # A batch's tiles on the threads (the wait for the slower thread included): seconds per example per thread.
    index = np.random.default_rng(1).permutation(prepared.inputs.shape[0])[:batch].astype(np.int64)
    scale = batch_scale(prepared.weights, index, np.int64(1))
    n_tiles = -(-batch // ws.tile_rows)
    tiles = mean_of(lambda: rank._local_tiles(net, prepared, 0, rank.tile_ws, index, scale, 0, n_tiles))
    example = tiles * numba.get_num_threads() / batch
    # The same batches by the rank loop on one rank and by the compiled epoch, one thread, alternating, each
    # at two lengths: the difference of their CPU seconds per extra batch (this thread's: the time the
    # machine's other work takes the core away does not count, nor does each fit's setup).
    workload = WORKLOADS[name]
    X, y = data(name)
    short, long = 10, min(60, workload.n // workload.batch_size)
    fit = dict(batch_size=workload.batch_size, optimizer=jp.SGD(lr=1e-3), verbose=0, epochs=1)
    per_batch = {"loop": [], "compiled": []}
    with _threading.thread_count(1):
        for k in range(4):
            for way, keywords in (("loop", {"comm": MPI.COMM_SELF}), ("compiled", {})):
                seconds = []
                for batches in (short, long):
                    n = batches * workload.batch_size
                    started = time.thread_time()
                    network(name).fit(X[:n], y[:n], **fit, **keywords)
                    seconds.append(time.thread_time() - started)
                if k > 0:
                    per_batch[way].append((seconds[1] - seconds[0]) / (long - short))
    overhead = max(0.0, float(np.median(per_batch["loop"]) - np.median(per_batch["compiled"])))
    print(json.dumps({"example": example, "update": update, "loop": overhead, "threads": numba.get_num_threads()}))


def allreduce():
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    results = {}

    def timed(operation, repeats=50, average=np.mean):
        for _ in range(5):
            operation()
        times = []
        for _ in range(repeats):
            comm.Barrier()
            started = time.perf_counter()
            operation()
            times.append(time.perf_counter() - started)
        return float(average(times))

    tiny = np.zeros(2, dtype=np.float32)
    results["latency_8_bytes"] = timed(lambda: comm.Allreduce(MPI.IN_PLACE, tiny, op=MPI.SUM), 500, np.median)
    for name in ("W1", "W3"):
        net = network(name)
        w = net.n_params
        gradient = np.ones(w, dtype=np.float32)
        results[f"{name}_allreduce"] = timed(lambda: comm.Allreduce(MPI.IN_PLACE, gradient, op=MPI.SUM))
        batch = WORKLOADS[name].batch_size
        tiles = -(-batch // plan_tile_rows(batch, net.layout, w))
        buffer = np.ones(tiles * w, dtype=np.float32).view(np.uint8)
        share = [(tiles // 2 + (r < tiles % 2)) * w * 4 for r in range(2)]
        places = [0, share[0]]
        results[f"{name}_tiles_gather"] = timed(
            lambda: comm.Allgatherv(MPI.IN_PLACE, [buffer, share, places, MPI.BYTE])
        )
        results[f"{name}_params"] = w
        results[f"{name}_tiles"] = tiles
    if comm.Get_rank() == 0:
        print(json.dumps(results))


def run(command, env=None):
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, **(env or {})), timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rounds(n):
    here = os.path.abspath(__file__)
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    two_ranks = [mpiexec, "-n", "2", sys.executable, here]
    one = [sys.executable, here]
    single, double = {"NUMBA_NUM_THREADS": "1"}, {"NUMBA_NUM_THREADS": "2"}
    print(f"CPU: {_cpu()}; {os.cpu_count()} cores", flush=True)
    for name in ("W1", "W3"):
        cost = costs(network(name), WORKLOADS[name].batch_size)
        print(f"{name}: {cost.params:,} parameters, batch {cost.batch_size}, {cost.tiles} tiles", flush=True)
    for r in range(1, n + 1):
        talk = run(two_ranks + ["allreduce"], single)
        print(f"round {r}: allreduce {json.dumps(talk)}", flush=True)
        for name in ("W1", "W3"):
            parts = {
                "tiles": run(two_ranks + ["terms", name, "tiles"], single),
                "allreduce": run(two_ranks + ["terms", name, "allreduce"], single),
                "threads": run(one + ["thread-terms", name], double),
            }
            print(f"round {r}: {name} parts {json.dumps(parts)}", flush=True)
            figures = {
                "1 process x 2 threads": run(one + ["epoch", name, "none"], double),
                "2 ranks x 1 thread, tiles": run(two_ranks + ["epoch", name, "tiles"], single),
                "2 ranks x 1 thread, allreduce": run(two_ranks + ["epoch", name, "allreduce"], single),
                "1 process x 1 thread": run(one + ["epoch", name, "none"], single),
            }
            shown = ", ".join(f"{key} {value['seconds']:.2f} s" for key, value in figures.items())
            print(f"round {r}: {name} epoch: {shown}", flush=True)
            print(f"round {r}: {name} model: {predict(name, parts, talk)}", flush=True)


def link(talk, combine):
    """The :class:`Link` of a round's exchanges: α from the 8-byte allreduce, β from W3's (the largest).

    β of ``combine="tiles"`` comes from W3's gather, that of ``"allreduce"``
    from its allreduce: MPICH moves the same bytes per rank at different
    rates in the two (the gather is the slower here).
    """
    latency = talk["latency_8_bytes"] / 2  # (2·log₂2 rounds of latency)
    if combine == "tiles":
        volume = talk["W3_tiles"] * talk["W3_params"] * 4 / 2  # (P−1)/P · T·w·b
        return Link(bandwidth=volume / (talk["W3_tiles_gather"] - latency), latency=latency)
    return Link(bandwidth=talk["W3_params"] * 4 / (talk["W3_allreduce"] - 2 * latency), latency=latency)


def predict(name, parts, talk):
    """The model's epochs (2 ranks: tiles, allreduce; 1 process × 2 threads) from one round's measured parts.

    One core's throughput while both compute is S₂ = F / (seconds per
    example of a rank's tiles); the exchange is the ring allreduce or the
    gather over this round's :func:`link` of each; the rest is
    :class:`~jitprop.complexity.scaling.MeasuredStep`: the step after the
    exchange, the rank loop's interpreter work and the wait. For the
    threads, S₂ comes from a batch's tiles on them, which includes their
    wait for the slower thread.
    """
    workload = WORKLOADS[name]
    cost = costs(network(name), workload.batch_size)
    loop = parts["threads"]["loop"]
    epochs = {}
    for combine in ("tiles", "allreduce"):
        measured = parts[combine]
        speed = cost.training_flops_per_example / measured["example"]
        step = MeasuredStep(update=measured["update"], loop=loop, wait=measured["wait"])
        epochs[combine] = scaling(cost, workload.n, [2], link(talk, combine), speed, combine, step)[0].epoch_seconds
    threads = parts["threads"]
    speed = cost.training_flops_per_example / threads["example"]
    epochs["threads"] = thread_epoch_seconds(cost, workload.n, 2, speed, MeasuredStep(update=threads["update"]))
    speed = cost.training_flops_per_example / parts["tiles"]["example"]
    return (
        f"S2 {speed / 1e9:.1f} GFLOP/s, β allreduce {link(talk, 'allreduce').bandwidth / 1e9:.2f} GB/s, "
        f"gather {link(talk, 'tiles').bandwidth / 1e9:.2f} GB/s, α {link(talk, 'tiles').latency * 1e6:.1f} us; "
        f"2 ranks x 1 thread, tiles {epochs['tiles']:.2f} s, allreduce {epochs['allreduce']:.2f} s; "
        f"1 process x 2 threads {epochs['threads']:.2f} s"
    )


def _cpu():
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name"))
    except (OSError, StopIteration):
        return "unknown"


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "rounds":
        rounds(int(sys.argv[2]) if len(sys.argv) > 2 else 3)
    elif what == "allreduce":
        allreduce()
    elif what == "terms":
        terms(sys.argv[2], sys.argv[3])
    elif what == "thread-terms":
        thread_terms(sys.argv[2])
    elif what == "epoch":
        epoch(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
