"""How ``jitprop bench`` times the engines: epochs alternating between engines, in one process or in their own.

Each workload is trained by every engine in turn, one epoch at a time,
alternating engines (A B A B …), after one warm-up epoch each. The reported
speed is the median over the timed epochs, in examples per second. A ratio
is the median over rounds of the ratio of two engines' speeds in the same
round (epochs seconds apart), which is what survives a noisy shared machine:
a slow spell of the machine then slows both sides of a ratio, instead of the
median epoch of one engine and not the other's. Between two epochs the
bench pauses for ``SETTLE_SECONDS``: the engine that just ran leaves its
worker threads spinning for a while (OpenBLAS, under NumPy and
scikit-learn, for up to some 0.1 s), and on two cores that would slow
whichever engine came next. The pause costs the next engine too: its data,
code and worker threads have gone cold (on a virtual machine, a 1.1 ms
epoch of W2 then takes about 1.9 ms, the next one 1.4 ms, and the fifth is
back to speed). So an engine whose epoch is shorter than
``REWARM_BELOW_SECONDS`` runs untimed epochs after the pause, for at least
``REWARM_SECONDS``, before the timed one: what is timed is an epoch in the
middle of a training run, as ``fit(epochs=...)`` runs it.

In processes of their own (:func:`compare_in_processes`, ``jitprop bench
--processes``), each engine runs in a fresh process, one after the other in
every round (A B C A B C …): three engines' thread pools (Numba's,
PyTorch's, XLA's) then never share a process, at the cost of a warm-up
epoch (JAX's and PyTorch's compile or first-call costs included) per
process. Each process times ``PROCESS_EPOCHS`` epochs and reports their
median; the round's ratios pair these medians.
"""

import json
import os
import re
import subprocess
import sys
import time

import numpy as np

from .._threading import thread_count
from .bench_engines import ENGINES, ENGINES_BY_NAME, HandWrittenEngine, NumpyEngine, installed
from .bench_workloads import WORKLOADS

#: Pause before every timed epoch, so the previous engine's idle worker threads stop spinning.
SETTLE_SECONDS = 0.3
#: Engines whose warm-up epoch took less than this run untimed epochs
#: between the pause and each timed epoch (longer epochs lose well under 1%
#: to the pause, and some take tens of seconds)...
REWARM_BELOW_SECONDS = 1.0
#: ...for at least this long (one epoch at least).
REWARM_SECONDS = 0.02

#: Timed epochs of each engine's process in a round of :func:`compare_in_processes`.
PROCESS_EPOCHS = 3


def _skipped(engine, workload):
    """Why ``engine`` does not run ``workload`` (a note), or None."""
    if not installed(engine.name):
        return f"{engine.name} is not installed: skipped"
    if getattr(engine, "dense_only", False) and not workload.dense:
        return f"{engine.name}: skipped (dense networks only)"
    if engine is HandWrittenEngine and not engine.runs(workload):
        return f"{engine.name}: skipped (written for W4's two-layer sigmoid network only)"
    if engine is NumpyEngine and workload.batch_size == 1:
        return "numpy: skipped at batch size 1 (interpreter-bound, minutes per epoch)"
    return None


def compare_workload(workload, threads, repeats, quick=False, engines=ENGINES, log=print):
    """Median examples/s of each engine on ``workload``, epochs alternating between engines."""
    X, y = workload.data(quick)
    runners, notes, warmup = [], [], {}
    for engine in engines:
        note = _skipped(engine, workload)
        if note is not None:
            notes.append(note)
            continue
        runner = engine(workload, X, y, threads)
        warmup[engine.name] = runner.epoch()  # jitprop's includes compiling (or loading) its kernels
        runners.append(runner)
    times = {runner.name: [] for runner in runners}
    for _ in range(repeats):
        for runner in runners:
            times[runner.name].append(timed_epoch(runner, rewarm=warmup[runner.name] < REWARM_BELOW_SECONDS))
    return _result(workload, X.shape[0], times, warmup, notes)


def compare_in_processes(workload, threads, rounds, quick=False, engines=ENGINES, log=print, run_engine=None):
    """Median examples/s of each engine on ``workload``, each engine in a fresh process of its own, alternating.

    In each of ``rounds`` rounds every engine in turn trains in a new process
    (``run_engine``, default :func:`engine_process`): a warm-up epoch, then
    ``PROCESS_EPOCHS`` timed epochs as :func:`compare_workload` times them,
    whose median is the engine's time in that round. ``epoch_seconds`` lists
    these per-round medians, ``warmup_seconds`` each process's warm-up
    epoch; speeds and ratios are taken over rounds as in
    :func:`compare_workload`.
    """
    run_engine = engine_process if run_engine is None else run_engine
    n = workload.data(quick)[0].shape[0]
    notes, names = [], []
    for engine in engines:
        note = _skipped(engine, workload)
        if note is None:
            names.append(engine.name)
        else:
            notes.append(note)
    times = {name: [] for name in names}
    warmup = {name: [] for name in names}
    blas = {}
    for round_ in range(rounds):
        for name in names:
            log(f"… {workload.name} round {round_ + 1}/{rounds}: {name}")
            entry = run_engine(workload.name, name, threads, quick)
            times[name].append(float(np.median(entry["epoch_seconds"])))
            warmup[name].append(entry["warmup_seconds"])
            blas[name] = entry.get("blas", [])
    notes += [
        f"{name}'s BLAS: {'; '.join(libraries)}"
        for name, libraries in blas.items()
        if libraries and name not in _OWN_ENGINES
    ]
    result = _result(workload, n, times, warmup, notes)
    result["processes"] = {"rounds": rounds, "epochs_per_process": PROCESS_EPOCHS}
    return result


_ENGINE_SCRIPT = """
import json, sys
from jitprop.cli.bench_timing import one_engine
workload, engine, threads, quick = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
print(json.dumps(one_engine(workload, engine, threads, quick)))
"""


#: Variables set on some machines for old OpenBLAS builds, with which a current one runs slower kernels
#: (``OPENBLAS_CORETYPE=Haswell`` gives an AVX-512 CPU Haswell's): unset in the peers' own processes, so
#: that NumPy, scikit-learn and PyTorch run with their own best choice (never in jitprop's, the tests' or CI's).
PEER_UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

#: Engines that run no BLAS of their own: their processes keep the environment as it is.
_OWN_ENGINES = ("jitprop", "hand-written")


def engine_environment(engine):
    """The environment of ``engine``'s own process: this one's, a peer's without the variables of :data:`PEER_UNSET`."""
    env = dict(os.environ)
    if engine not in _OWN_ENGINES:
        for name in PEER_UNSET:
            env.pop(name, None)
    return env


def json_from_process(script, arguments, engine, what, variables=None):
    """Run ``script`` with ``arguments`` in a fresh Python process of ``engine``'s; the JSON of its last line.

    ``variables`` are set in the process's environment beside :func:`engine_environment`'s.
    """
    env = {**engine_environment(engine), **(variables or {})}
    out = subprocess.run([sys.executable, "-c", script, *arguments], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed in its process:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def engine_process(workload, engine, threads, quick=False):
    """Run :func:`one_engine` in a fresh Python process; return its result.

    A peer's process runs without the variables of :data:`PEER_UNSET`.
    """
    arguments = (workload, engine, str(threads), "1" if quick else "0")
    return json_from_process(_ENGINE_SCRIPT, arguments, engine, f"{engine} on {workload}")


def one_engine(workload, engine, threads, quick=False, epochs=None):
    """A warm-up epoch and ``epochs`` (default ``PROCESS_EPOCHS``) timed ones of one engine, in this process.

    Returns
    -------
    dict
        ``epoch_seconds`` (the timed epochs) and ``warmup_seconds``.
    """
    engine_class = ENGINES_BY_NAME[engine]
    with thread_count(threads):
        result = compare_workload(WORKLOADS[workload], threads, epochs or PROCESS_EPOCHS, quick, (engine_class,))
    entry = result["engines"][engine]
    return {"epoch_seconds": entry["epoch_seconds"], "warmup_seconds": entry["warmup_seconds"], "blas": blas_kernels()}


def blas_kernels():
    """The BLAS libraries loaded in this process and the kernels each chose, as ``threadpoolctl`` reports them.

    One line per library, e.g. ``openblas 0.3.29, SkylakeX kernels, 2 threads``;
    empty without ``threadpoolctl`` (scikit-learn brings it) or a BLAS. Where
    PyTorch is imported, a line for the BLAS its wheel links in, which
    ``threadpoolctl`` does not see (:func:`_torch_blas`).
    """
    lines = []
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        pass
    else:
        for library in threadpool_info():
            if library.get("user_api") != "blas":
                continue
            kernels = f", {library['architecture']} kernels" if library.get("architecture") else ""
            threads = f"{library['num_threads']} threads"
            lines.append(f"{library['internal_api']} {library.get('version')}{kernels}, {threads}")
    torch = sys.modules.get("torch")
    if torch is not None:
        lines.append(_torch_blas(torch))
    return lines


def _torch_blas(torch):
    """PyTorch's own BLAS as its build reports it, e.g. ``pytorch's own mkl 2024.2, 2 threads``.

    PyTorch's wheels link their BLAS (MKL on x86-64) into the library
    itself, where ``threadpoolctl`` finds no library to name; its build
    settings (``torch.__config__.show()``) say which, and which version.
    """
    config = torch.__config__.show()
    name = re.search(r"BLAS_INFO=(\w+)", config)
    version = re.search(r"Math Kernel Library Version (\d[\w.]*)", config)
    described = (name.group(1) if name else "BLAS (unnamed)") + (f" {version.group(1)}" if version else "")
    return f"pytorch's own {described}, {torch.get_num_threads()} threads"


def _result(workload, n, times, warmup, notes):
    """The report of one workload from each engine's epoch times (per round, aligned)."""
    flops = workload.flops_per_example()
    result = {"workload": workload.name, "description": workload.description, "examples": n, "engines": {}}
    for name, seconds in times.items():
        median = float(np.median(seconds))
        result["engines"][name] = {
            "examples_per_second": n / median,
            "gflops": flops * n / median / 1e9,
            "epoch_seconds": seconds,
            "warmup_seconds": warmup[name],
        }
    result["ratios"] = {}
    if "jitprop" in times:
        ours = np.array(times["jitprop"])
        result["ratios"] = {
            name: float(np.median(np.array(seconds) / ours)) for name, seconds in times.items() if name != "jitprop"
        }
    result["notes"] = notes
    return result


def timed_epoch(runner, rewarm):
    """Settle, bring the engine back to speed if ``rewarm``, then time one epoch."""
    time.sleep(SETTLE_SECONDS)
    if rewarm:
        rewarmed = 0.0
        while rewarmed < REWARM_SECONDS:
            rewarmed += runner.epoch()
    return runner.epoch()
