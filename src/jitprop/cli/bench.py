"""``jitprop bench``: jitprop and its peers on the same workloads, side by side.

Each workload is trained by every available engine in turn — jitprop,
PyTorch (CPU, a plain training loop), scikit-learn's MLP and a plain NumPy
implementation — one epoch at a time, alternating engines (A B A B …), after
one warm-up epoch each. The reported speed is the median over the timed
epochs, in examples per second. A ratio is the median over rounds of the
ratio of two engines' speeds in the same round (epochs seconds apart), which
is what survives a noisy shared machine: a slow spell of the machine then
slows both sides of a ratio, instead of the median epoch of one engine and
not the other's. Between two epochs the
bench pauses for ``SETTLE_SECONDS``: the engine that just ran leaves its
worker threads spinning for a while (OpenBLAS, under NumPy and scikit-learn,
for up to some 0.1 s), and on two cores that would slow whichever engine
came next. The pause costs the next engine too: its data, code and worker
threads have gone cold (on a virtual machine, a 1.1 ms epoch of W2 then
takes about 1.9 ms, the next one 1.4 ms, and the fifth is back to speed).
So an engine whose epoch is shorter than ``REWARM_BELOW_SECONDS`` runs
untimed epochs after the pause, for at least ``REWARM_SECONDS``, before the
timed one: what is timed is an epoch in the middle of a training run, as
``fit(epochs=...)`` runs it. Peers that are not installed are skipped with a note
(``pip install "jitprop[bench]"``).

The peers are imported by their engines, when they run, and only this
command imports the engines: ``import jitprop`` never imports PyTorch or
scikit-learn.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np

from .. import _checks
from .._machine import describe
from .._threading import thread_count
from ..io.datasets import load_digits
from ..losses import LOSSES

#: Pause before every timed epoch, so the previous engine's idle worker threads stop spinning.
SETTLE_SECONDS = 0.3
#: Engines whose warm-up epoch took less than this run untimed epochs
#: between the pause and each timed epoch (longer epochs lose well under 1%
#: to the pause, and some take tens of seconds)...
REWARM_BELOW_SECONDS = 1.0
#: ...for at least this long (one epoch at least).
REWARM_SECONDS = 0.02


@dataclass(frozen=True)
class Workload:
    """A training task: data shape, network, loss and batch size."""

    name: str
    description: str
    n: int
    sizes: tuple  # layer widths, inputs first
    activation: str
    loss: str
    batch_size: int
    lr: float = 0.01

    def data(self, quick=False):
        """``(X, y)`` in float32, from a fixed seed (the digits set for W2)."""
        rng = np.random.default_rng(0)
        n = self.n if not quick else min(self.n, max(2000, self.n // 5))
        if self.name == "W2":
            X, y = load_digits()
            return X.astype(np.float32), y
        X = rng.random((n, self.sizes[0]), dtype=np.float32)
        if self.loss == "cross_entropy":
            return X, rng.integers(0, self.sizes[-1], n)
        # The textbook task: outputs are smooth functions of the inputs, in (0, 1).
        y = np.stack([X[:, 0] * X[:, 1], 0.5 * (X[:, 0] + X[:, 1])], axis=1).astype(np.float32)
        return X, y

    def flops_per_example(self):
        """Training FLOPs per example: forward, weight gradient and input gradient products."""
        products = [2 * a * b for a, b in zip(self.sizes[:-1], self.sizes[1:])]
        return 2 * sum(products) + sum(products[1:])


WORKLOADS = {
    w.name: w
    for w in (
        Workload("W1", "MNIST-shaped 784-256-128-10", 60_000, (784, 256, 128, 10), "relu", "cross_entropy", 128),
        Workload("W2", "digits 64-32-10", 1_797, (64, 32, 10), "relu", "cross_entropy", 32),
        Workload("W3", "wide 1024-1024-1024-10", 20_000, (1024, 1024, 1024, 10), "relu", "cross_entropy", 256),
        Workload("W4b1", "textbook 2-2-2, batch 1", 100_000, (2, 2, 2), "sigmoid", "mse", 1, 0.1),
        Workload("W4b64", "textbook 2-2-2, batch 64", 100_000, (2, 2, 2), "sigmoid", "mse", 64, 0.1),
    )
}


# --------------------------------------------------------------------------- engines
class JitpropEngine:
    name = "jitprop"

    def __init__(self, workload, X, y, threads):
        import jitprop as jp

        self.X, self.y, self.workload = X, y, workload
        hidden = [jp.Dense(width, workload.activation) for width in workload.sizes[1:-1]]
        output = LOSSES[workload.loss].output_activation or workload.activation  # mse: the hidden layers'
        layers = hidden + [jp.Dense(workload.sizes[-1], output)]
        self.net = jp.Network(layers, input_dim=workload.sizes[0], loss=workload.loss, seed=0)
        self.optimizer = jp.SGD(lr=workload.lr)

    def epoch(self):
        started = time.perf_counter()
        self.net.fit(self.X, self.y, epochs=1, batch_size=self.workload.batch_size, optimizer=self.optimizer, verbose=0)
        return time.perf_counter() - started


class TorchEngine:
    name = "pytorch"

    def __init__(self, workload, X, y, threads):
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        self.torch = torch
        act = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid}[workload.activation]
        modules = []
        for i, (a, b) in enumerate(zip(workload.sizes[:-1], workload.sizes[1:])):
            modules.append(torch.nn.Linear(a, b))
            if i < len(workload.sizes) - 2 or workload.loss == "mse":
                modules.append(act())
        self.model = torch.nn.Sequential(*modules)
        self.loss = torch.nn.CrossEntropyLoss() if workload.loss == "cross_entropy" else torch.nn.MSELoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=workload.lr)
        self.X = torch.from_numpy(X)
        self.y = torch.from_numpy(y.astype(np.int64) if workload.loss == "cross_entropy" else y)
        self.batch_size = workload.batch_size

    def epoch(self):
        torch = self.torch
        started = time.perf_counter()
        order = torch.randperm(self.X.shape[0])
        for start in range(0, self.X.shape[0], self.batch_size):
            index = order[start : start + self.batch_size]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss(self.model(self.X[index]), self.y[index])
            loss.backward()
            self.optimizer.step()
        return time.perf_counter() - started


class SklearnEngine:
    name = "scikit-learn"

    def __init__(self, workload, X, y, threads):
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        common = dict(
            hidden_layer_sizes=workload.sizes[1:-1],
            activation={"relu": "relu", "sigmoid": "logistic"}[workload.activation],
            solver="sgd",
            momentum=0.0,
            learning_rate_init=workload.lr,
            batch_size=workload.batch_size,
            shuffle=True,
            random_state=0,
        )
        self.model = MLPClassifier(**common) if workload.loss == "cross_entropy" else MLPRegressor(**common)
        self.X, self.y = X, y
        self.classes = np.unique(y) if workload.loss == "cross_entropy" else None

    def epoch(self):
        started = time.perf_counter()
        if self.classes is not None:
            self.model.partial_fit(self.X, self.y, classes=self.classes)
        else:
            self.model.partial_fit(self.X, self.y)
        return time.perf_counter() - started


class NumpyEngine:
    """A plain NumPy MLP trained by SGD: the textbook algorithm on BLAS matrix products."""

    name = "numpy"

    def __init__(self, workload, X, y, threads):
        rng = np.random.default_rng(0)
        self.w = workload
        self.X, self.y = X, y
        shapes = zip(workload.sizes, workload.sizes[1:])
        self.W = [rng.normal(0, np.sqrt(2 / a), (a, b)).astype(np.float32) for a, b in shapes]
        self.b = [np.zeros(b, np.float32) for b in workload.sizes[1:]]
        self.rng = rng

    def _act(self, z):
        return np.maximum(z, 0) if self.w.activation == "relu" else 1 / (1 + np.exp(-z))

    def _dact(self, a):
        return (a > 0).astype(a.dtype) if self.w.activation == "relu" else a * (1 - a)

    def epoch(self):
        started = time.perf_counter()
        n = self.X.shape[0]
        order = self.rng.permutation(n)
        last = len(self.W) - 1
        for start in range(0, n, self.w.batch_size):
            index = order[start : start + self.w.batch_size]
            acts = [self.X[index]]
            for i, (W, b) in enumerate(zip(self.W, self.b)):
                z = acts[-1] @ W + b
                if i == last and self.w.loss == "cross_entropy":
                    z = np.exp(z - z.max(axis=1, keepdims=True))
                    acts.append(z / z.sum(axis=1, keepdims=True))
                else:
                    acts.append(self._act(z))
            rows = index.shape[0]
            if self.w.loss == "cross_entropy":
                delta = acts[-1].copy()
                delta[np.arange(rows), self.y[index]] -= 1
                delta /= rows
            else:
                delta = 2 * (acts[-1] - self.y[index]) / acts[-1].size * self._dact(acts[-1])
            for i in range(last, -1, -1):
                grad_W = acts[i].T @ delta
                grad_b = delta.sum(axis=0)
                if i:
                    delta = (delta @ self.W[i].T) * self._dact(acts[i])
                self.W[i] -= self.w.lr * grad_W
                self.b[i] -= self.w.lr * grad_b
        return time.perf_counter() - started


ENGINES = (JitpropEngine, TorchEngine, SklearnEngine, NumpyEngine)
_PEER_MODULES = {"pytorch": "torch", "scikit-learn": "sklearn"}


def _available(engine):
    module = _PEER_MODULES.get(engine.name)
    if module is None:
        return True
    import importlib.util

    return importlib.util.find_spec(module) is not None


# ------------------------------------------------------------------------ measurements
def compare_workload(workload, threads, repeats, quick=False, engines=ENGINES, log=print):
    """Median examples/s of each engine on ``workload``, epochs alternating between engines."""
    X, y = workload.data(quick)
    runners, notes, warmup = [], [], {}
    for engine in engines:
        if not _available(engine):
            notes.append(f"{engine.name} is not installed: skipped")
            continue
        if engine is NumpyEngine and workload.batch_size == 1:
            notes.append("numpy: skipped at batch size 1 (interpreter-bound, minutes per epoch)")
            continue
        runner = engine(workload, X, y, threads)
        warmup[engine.name] = runner.epoch()  # jitprop's includes compiling (or loading) its kernels
        runners.append(runner)
    times = {runner.name: [] for runner in runners}
    for _ in range(repeats):
        for runner in runners:
            times[runner.name].append(_timed_epoch(runner, rewarm=warmup[runner.name] < REWARM_BELOW_SECONDS))
    flops = workload.flops_per_example()
    result = {"workload": workload.name, "description": workload.description, "examples": X.shape[0], "engines": {}}
    for name, seconds in times.items():
        median = float(np.median(seconds))
        result["engines"][name] = {
            "examples_per_second": X.shape[0] / median,
            "gflops": flops * X.shape[0] / median / 1e9,
            "epoch_seconds": seconds,
            "warmup_seconds": warmup[name],
        }
    ours = np.array(times["jitprop"])
    result["ratios"] = {
        name: float(np.median(np.array(seconds) / ours)) for name, seconds in times.items() if name != "jitprop"
    }
    result["notes"] = notes
    return result


def _timed_epoch(runner, rewarm):
    """Settle, bring the engine back to speed if ``rewarm``, then time one epoch."""
    time.sleep(SETTLE_SECONDS)
    if rewarm:
        rewarmed = 0.0
        while rewarmed < REWARM_SECONDS:
            rewarmed += runner.epoch()
    return runner.epoch()


def matmul_kernels(repeats=5, burst=20):
    """GFLOP/s of jitprop's parallel matrix product against NumPy's sgemm, alternating bursts.

    Each repeat settles, then times ``burst`` consecutive calls of one library
    and keeps their median: the first calls after a pause wait for the
    library's sleeping worker threads (on a virtual machine, up to a few
    milliseconds each), which is not the speed of the product.
    """
    from ..kernels.matmul import parallel_matmul_nt

    def median_call(product):
        time.sleep(SETTLE_SECONDS)  # the other library's threads stop spinning
        seconds = []
        for _ in range(burst):
            started = time.perf_counter()
            product()
            seconds.append(time.perf_counter() - started)
        return float(np.median(seconds))

    rng = np.random.default_rng(0)
    rows = []
    for m, k, n in ((128, 784, 256), (256, 1024, 1024)):
        a = rng.random((m, k), dtype=np.float32)
        b_t = rng.random((n, k), dtype=np.float32)  # jitprop's operand: b stored transposed
        b = np.ascontiguousarray(b_t.T)
        out = np.empty((m, n), np.float32)
        ours, theirs = [], []
        for _ in range(repeats):
            ours.append(median_call(lambda: parallel_matmul_nt(a, b_t, out)))
            theirs.append(median_call(lambda: np.matmul(a, b)))
        flops = 2.0 * m * n * k
        rows.append(
            {
                "shape": [m, k, n],
                "jitprop_gflops": flops / np.median(ours) / 1e9,
                "numpy_gflops": flops / np.median(theirs) / 1e9,
                "ratio": float(np.median(theirs) / np.median(ours)),
            }
        )
    return rows


def thread_scaling(workload, repeats, quick=False):
    """jitprop's examples/s on ``workload`` with 1 and 2 threads, alternating epochs."""
    X, y = workload.data(quick)
    runner = JitpropEngine(workload, X, y, 2)
    rewarm = runner.epoch() < REWARM_BELOW_SECONDS
    times = {1: [], 2: []}
    for _ in range(repeats):
        for threads in (1, 2):
            with thread_count(threads):
                times[threads].append(_timed_epoch(runner, rewarm))
    # String keys, as JSON has them.
    speeds = {str(t): X.shape[0] / float(np.median(s)) for t, s in times.items()}
    return {"workload": workload.name, "examples_per_second": speeds, "speedup": speeds["2"] / speeds["1"]}


_FIT_SCRIPT = """
import resource, sys, time
started = time.perf_counter()
import numpy as np
engine = sys.argv[1]
rng = np.random.default_rng(0)
X = rng.random((int(sys.argv[2]), 784), dtype=np.float32); y = rng.integers(0, 10, X.shape[0])
if engine == "jitprop":
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
    if _available(TorchEngine):
        result["peak_memory_bytes"]["pytorch"] = _fresh_process("torch", n)[1]
    return result


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


def run_benchmark(workloads=tuple(WORKLOADS), threads=None, quick=False, repeats=None, log=print):
    """Run the whole benchmark with ``threads`` Numba threads (default: as set); return one JSON-compatible dict."""
    with thread_count(threads):
        return _run(workloads, quick, repeats or (3 if quick else 5), log)


def _run(workloads, quick, repeats, log):
    import numba

    threads = numba.get_num_threads()
    report = {"machine": None, "versions": None, "workloads": []}  # the first two filled in at the end
    for name in workloads:
        log(f"… {name}")
        report["workloads"].append(compare_workload(WORKLOADS[name], threads, repeats, quick))
    log("… matrix-product kernels")
    report["matmul"] = matmul_kernels()
    if "W1" in workloads:
        log("… thread scaling")
        report["thread_scaling"] = thread_scaling(WORKLOADS["W1"], repeats, quick)
        log("… first fit and peak memory")
        report.update(first_fit_and_memory(quick))
    # Described after the runs, once Numba's threads have started and its threading layer is known.
    machine = describe(packages=("jitprop", "numba", "numpy", "torch", "scikit-learn"))
    report["machine"] = {"cpu": machine["cpu"], "machine": machine["machine"], "threads": threads}
    report["versions"] = machine["versions"]
    report["threading_layer"] = machine["threading_layer"]
    return report


def format_report(report):
    """The report as readable text tables."""
    lines = [f"threads: {report['machine']['threads']} ({report['threading_layer']})", ""]
    header = f"{'workload':<8} {'engine':<13} {'examples/s':>12} {'GFLOP/s':>8} {'jitprop ×':>10}"
    lines += [header, "-" * len(header)]
    for result in report["workloads"]:
        for name, entry in result["engines"].items():
            ratio = "" if name == "jitprop" else f"{result['ratios'][name]:.2f}"
            lines.append(
                f"{result['workload']:<8} {name:<13} {entry['examples_per_second']:>12,.0f} "
                f"{entry['gflops']:>8.1f} {ratio:>10}"
            )
        for note in result["notes"]:
            lines.append(f"{'':<8} note: {note}")
    lines += ["", "matrix products (float32, jitprop parallel_matmul_nt vs numpy matmul):"]
    for row in report["matmul"]:
        m, k, n = row["shape"]
        lines.append(
            f"  {m}x{k}x{n}: jitprop {row['jitprop_gflops']:.1f} GFLOP/s, numpy {row['numpy_gflops']:.1f} GFLOP/s, "
            f"ratio {row['ratio']:.2f}"
        )
    if "thread_scaling" in report:
        scaling = report["thread_scaling"]
        speeds = scaling["examples_per_second"]
        lines.append(
            f"thread scaling on W1: {speeds['1']:,.0f} examples/s with 1 thread, {speeds['2']:,.0f} with 2 "
            f"({scaling['speedup']:.2f}x)"
        )
    if "first_fit_cold_seconds" in report:
        lines.append(
            f"first fit in a fresh process: {report['first_fit_cold_seconds']:.1f} s with a cold compile cache, "
            f"{report['first_fit_warm_seconds']:.2f} s with a warm one"
        )
        memory = ", ".join(f"{k} {v / 2**20:,.0f} MiB" for k, v in report["peak_memory_bytes"].items())
        lines.append(f"peak memory of a W1 fit ({report['w1_examples']:,} examples): {memory}")
    return "\n".join(lines)


# ----------------------------------------------------------------------- command line
def register(commands, common):
    """Add the ``bench`` command to the ``jitprop`` parser."""
    parser = commands.add_parser(
        "bench", parents=[common], help="compare training speed with PyTorch, scikit-learn and NumPy"
    )
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="threads for jitprop and PyTorch")
    parser.add_argument("--quick", action="store_true", help="smaller data sets and fewer epochs")
    parser.add_argument("--repeats", type=int, default=None, help="timed epochs per engine (default 5, quick 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument(
        "--first-run",
        type=int,
        metavar="ROUNDS",
        help="instead: time a first jitprop train and a first W1 fit with an empty compile cache, ROUNDS times",
    )
    parser.set_defaults(run=run)


def run(args):
    """Run ``jitprop bench`` with parsed ``args``; returns the exit status."""
    names = [name.strip() for name in args.workloads.split(",") if name.strip()]
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        raise ValueError(f"Unknown workload {unknown[0]!r}; expected some of {', '.join(WORKLOADS)}.")
    if args.first_run is not None:
        report = first_run(_checks.positive_int(args.first_run, "--first-run"))
        print(json.dumps(report, indent=1) if args.json else format_first_run(report))
        return 0
    log = (lambda message: print(message, file=sys.stderr)) if not args.json else (lambda message: None)
    report = run_benchmark(names, threads=args.threads, quick=args.quick, repeats=args.repeats, log=log)
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0
