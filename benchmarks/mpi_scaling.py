"""Data-parallel training on this machine: allreduce times, and epochs on 2 ranks against 1 process.

    python benchmarks/mpi_scaling.py rounds 3         # everything, alternating, every round printed
    mpiexec -n 2 python benchmarks/mpi_scaling.py allreduce
    mpiexec -n 2 python benchmarks/mpi_scaling.py epoch W1 tiles
    NUMBA_NUM_THREADS=2 python benchmarks/mpi_scaling.py epoch W1 none

``allreduce`` times (median of 50, after 5 untimed) an in-place ``Allreduce``
of W1's and W3's float32 gradient, the ``Allgatherv`` that ``combine="tiles"``
makes of their tiles, and an 8-byte allreduce (the latency). ``epoch`` trains
one untimed epoch (loading the kernels), then one timed epoch, of the
workload (W1, W3 of ``jitprop bench``) on random data, and prints its
seconds. ``rounds`` runs, in each round and in separate processes, the
allreduce timing, then for W1 and W3: 1 process × 2 threads, 2 ranks × 1
thread (tiles, then allreduce) and 1 process × 1 thread (the throughput the
scaling model divides by the ranks), and prints each figure as it comes,
then the model's prediction of that round (:func:`predict`).
"""

import json
import os
import subprocess
import sys
import time

import numpy as np

import jitprop as jp
from jitprop.cli.bench import WORKLOADS
from jitprop.complexity import costs
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
    rng = np.random.default_rng(0)
    X = rng.random((workload.n, workload.sizes[0]), dtype=np.float32)
    y = rng.integers(0, workload.sizes[-1], workload.n)
    net = network(name)
    keywords = {} if comm is None else {"comm": comm, "combine": combine}
    fit = dict(batch_size=workload.batch_size, optimizer=jp.SGD(lr=1e-3), verbose=0, **keywords)
    net.fit(X, y, epochs=1, **fit)
    seconds = net.fit(X, y, epochs=1, **fit)["seconds"][0]
    if comm is None or comm.Get_rank() == 0:
        print(json.dumps({"workload": name, "combine": combine, "seconds": seconds}))


def allreduce():
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    results = {}

    def median(operation, repeats=50):
        for _ in range(5):
            operation()
        times = []
        for _ in range(repeats):
            comm.Barrier()
            started = time.perf_counter()
            operation()
            times.append(time.perf_counter() - started)
        return float(np.median(times))

    tiny = np.zeros(2, dtype=np.float32)
    results["latency_8_bytes"] = median(lambda: comm.Allreduce(MPI.IN_PLACE, tiny, op=MPI.SUM), 500)
    for name in ("W1", "W3"):
        net = network(name)
        w = net.n_params
        gradient = np.ones(w, dtype=np.float32)
        results[f"{name}_allreduce"] = median(lambda: comm.Allreduce(MPI.IN_PLACE, gradient, op=MPI.SUM))
        batch = WORKLOADS[name].batch_size
        tiles = -(-batch // plan_tile_rows(batch, net.layout, w))
        buffer = np.ones(tiles * w, dtype=np.float32).view(np.uint8)
        share = [(tiles // 2 + (r < tiles % 2)) * w * 4 for r in range(2)]
        places = [0, share[0]]
        results[f"{name}_tiles_gather"] = median(
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
    print(f"CPU: {_cpu()}; {os.cpu_count()} cores", flush=True)
    for name in ("W1", "W3"):
        cost = costs(network(name), WORKLOADS[name].batch_size)
        print(f"{name}: {cost.params:,} parameters, batch {cost.batch_size}, {cost.tiles} tiles", flush=True)
    for r in range(1, n + 1):
        talk = run(two_ranks + ["allreduce"], {"NUMBA_NUM_THREADS": "1"})
        print(f"round {r}: allreduce {json.dumps(talk)}")
        for name in ("W1", "W3"):
            figures = {
                "1 process x 2 threads": run(one + ["epoch", name, "none"], {"NUMBA_NUM_THREADS": "2"}),
                "2 ranks x 1 thread, tiles": run(two_ranks + ["epoch", name, "tiles"], {"NUMBA_NUM_THREADS": "1"}),
                "2 ranks x 1 thread, allreduce": run(
                    two_ranks + ["epoch", name, "allreduce"], {"NUMBA_NUM_THREADS": "1"}
                ),
                "1 process x 1 thread": run(one + ["epoch", name, "none"], {"NUMBA_NUM_THREADS": "1"}),
            }
            shown = ", ".join(f"{key} {value['seconds']:.2f} s" for key, value in figures.items())
            print(f"round {r}: {name} epoch: {shown}", flush=True)
            print(f"round {r}: {name} model: {predict(name, figures['1 process x 1 thread']['seconds'], talk)}")


def predict(name, one_thread, talk):
    """The scaling model's 2-rank epochs (tiles, allreduce) from this round's 1-thread epoch and exchange times.

    One rank's throughput S is the epoch's FLOPs over the 1-thread time; a
    step costs B·F/(2S) + U/S plus the measured exchange of that round.
    """
    workload = WORKLOADS[name]
    cost = costs(network(name), workload.batch_size)
    steps = -(-workload.n // workload.batch_size)
    speed = cost.epoch_flops(workload.n) / one_thread
    compute = workload.batch_size * cost.training_flops_per_example / (2 * speed) + cost.step_flops / speed
    tiles = steps * (compute + talk[f"{name}_tiles_gather"])
    allreduce = steps * (compute + talk[f"{name}_allreduce"])
    return (
        f"S {speed / 1e9:.1f} GFLOP/s; 2 ranks x 1 thread, tiles {tiles:.2f} s, allreduce {allreduce:.2f} s; "
        f"1 process x 2 threads (ideal) {one_thread / 2:.2f} s"
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
    elif what == "epoch":
        epoch(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
