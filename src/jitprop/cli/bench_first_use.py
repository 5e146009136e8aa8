"""What a first use of jitprop costs: compiling on a first fit, a first ``jitprop train``, and peak memory.

Each measured in fresh processes, with a compile cache of its own, empty
(cold) or filled by the process before (warm): what ``jitprop bench``
reports beside the speeds, and ``jitprop bench --first-run`` alone.
"""

import os
import statistics
import subprocess
import sys
import time

from .._machine import describe
from .bench_engines import TorchEngine, installed


_FIT_SCRIPT = """
import resource, sys, time
started = time.perf_counter()
import numpy as np
engine = sys.argv[1]
rng = np.random.default_rng(0)
X = rng.random((int(sys.argv[2]), 784), dtype=np.float32); y = rng.integers(0, 10, X.shape[0])
if engine == "jitprop-w6":  # the bench's own W6 network, on the digits
    from jitprop.cli.bench_engines import JitpropEngine
    from jitprop.cli.bench_workloads import WORKLOADS
    w6 = WORKLOADS["W6"]
    JitpropEngine(w6, *w6.data(), 1).epoch()
elif engine == "jitprop":
    import jitprop as jp
    layers = [jp.Dense(256, "relu"), jp.Dense(128, "relu"), jp.Dense(10, "softmax")]
    net = jp.Network(layers, 784, "cross_entropy", seed=0)
    net.fit(X, y, epochs=1, batch_size=128, optimizer=jp.SGD(0.01), verbose=0)
else:
    import torch
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                                torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01); loss = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for i in range(0, X.shape[0], 128):
        opt.zero_grad(); loss(model(Xt[i:i+128]), yt[i:i+128]).backward(); opt.step()
seconds = time.perf_counter() - started
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:  # ru_maxrss survives exec: it would report the parent's peak if that was higher
    with open("/proc/self/status") as status:
        peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    pass
print(seconds, peak_kib)
"""


def _fresh_process(engine, n, env=None):
    out = subprocess.run(
        [sys.executable, "-c", _FIT_SCRIPT, engine, str(n)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout.split()
    return float(out[0]), int(out[1]) * 1024  # seconds, peak bytes


def first_fit_and_memory(quick=False):
    """Wall time of a first W1 fit in fresh processes (cold and warm compile cache) and peak memory."""
    import tempfile

    n = 12_000 if quick else 60_000
    with tempfile.TemporaryDirectory() as cache:
        cold, _ = _fresh_process("jitprop", 2_000, {"NUMBA_CACHE_DIR": cache})
        warm, _ = _fresh_process("jitprop", 2_000, {"NUMBA_CACHE_DIR": cache})
    result = {"first_fit_cold_seconds": cold, "first_fit_warm_seconds": warm, "w1_examples": n}
    result["peak_memory_bytes"] = {"jitprop": _fresh_process("jitprop", n)[1]}
    if installed(TorchEngine.name):
        result["peak_memory_bytes"]["pytorch"] = _fresh_process("torch", n)[1]
    return result


def first_cnn_fit():
    """Wall time of a first fit of W6's CNN (one epoch, the digits) in fresh processes, cold and warm cache.

    The process imports jitprop, builds the network and trains it one
    epoch: with an empty compile cache that is mostly compiling the
    convolution, pooling and dense kernels; with the cache filled, loading
    them. The difference is the compile time a first CNN fit adds.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as cache:
        cold, _ = _fresh_process("jitprop-w6", 0, {"NUMBA_CACHE_DIR": cache})
        warm, _ = _fresh_process("jitprop-w6", 0, {"NUMBA_CACHE_DIR": cache})
    return {"first_cnn_fit_cold_seconds": cold, "first_cnn_fit_warm_seconds": warm}


def first_run(rounds=3):
    """What a new user waits for, in fresh processes with an empty compile cache, ``rounds`` times.

    Each round times, in a scratch directory with a cache of its own, the
    whole ``jitprop train`` process (the built-in data set) with the cache
    empty, then again with it filled, and then a first W1 fit (2,000
    examples, ``import jitprop`` included) in another empty cache. The
    README's and docs' first-run figures are this report's
    (``docs/first_run.json``, checked by ``tests/test_docs_figures.py``).

    Returns
    -------
    dict
        ``train_cold_seconds``, ``train_warm_seconds`` and
        ``fit_cold_seconds``: one value per round; ``medians`` of each;
        ``machine``: :func:`jitprop._machine.describe`.
    """
    import tempfile

    report = {"train_cold_seconds": [], "train_warm_seconds": [], "fit_cold_seconds": []}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as scratch:
            env = {**os.environ, "NUMBA_CACHE_DIR": os.path.join(scratch, "cache")}
            for key in ("train_cold_seconds", "train_warm_seconds"):
                started = time.perf_counter()
                train = [sys.executable, "-m", "jitprop", "train"]
                subprocess.run(train, cwd=scratch, env=env, check=True, capture_output=True)
                report[key].append(round(time.perf_counter() - started, 2))
            seconds, _ = _fresh_process("jitprop", 2_000, {"NUMBA_CACHE_DIR": os.path.join(scratch, "fit-cache")})
            report["fit_cold_seconds"].append(round(seconds, 2))
    report["medians"] = {key: statistics.median(values) for key, values in report.items()}
    report["machine"] = describe()
    return report


def format_first_run(report):
    """The lines of a :func:`first_run` report."""
    medians = report["medians"]
    return "\n".join(
        [
            f"first jitprop train, empty compile cache: {_seconds(report['train_cold_seconds'])} s "
            f"(median {medians['train_cold_seconds']:.1f} s)",
            f"second jitprop train, cache filled: {_seconds(report['train_warm_seconds'])} s "
            f"(median {medians['train_warm_seconds']:.2f} s)",
            f"first W1 fit, empty compile cache: {_seconds(report['fit_cold_seconds'])} s "
            f"(median {medians['fit_cold_seconds']:.1f} s)",
            f"on {report['machine']['cpu']}, {report['machine']['cpus']} CPUs",
        ]
    )


def _seconds(values):
    return ", ".join(f"{value:.2f}" for value in values)
