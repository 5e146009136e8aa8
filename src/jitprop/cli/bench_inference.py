"""Prediction by jitprop and its peers (``jitprop bench --inference``): throughput and one example's latency.

Each engine predicts in a process of its own, alternating, through a
workload's network: a large batch's examples per second, and the latency of
one example at a time, as someone serving requests one by one sees it.
"""

import time

import numpy as np

from .._threading import thread_count
from .bench_engines import ENGINES_BY_NAME, installed
from .bench_timing import json_from_process


#: Examples of the throughput measurement of :func:`inference`, and calls of its one-example latency.
INFERENCE_ROWS = 10_000
INFERENCE_CALLS = 2_000

#: Engines whose prediction :func:`inference` times.
INFERENCE_ENGINES = ("jitprop", "pytorch", "jax")


def inference(workload, engine, threads):
    """Prediction by ``engine`` in this process: throughput on a large batch and the latency of one example.

    A warm-up call of each size first (compiling, for jitprop and JAX);
    then the median of 7 predictions of ``INFERENCE_ROWS`` examples and of
    ``INFERENCE_CALLS`` one-example predictions, each call from a NumPy
    array to a NumPy array, as a user calls it.

    Returns
    -------
    dict
        ``examples_per_second`` and ``one_example_us`` (median), ``one_example_p90_us``.
    """
    engine_class = ENGINES_BY_NAME[engine]
    X, y = workload.data()
    rows = np.resize(X, (INFERENCE_ROWS, *X.shape[1:])).astype(np.float32)
    one = np.ascontiguousarray(rows[:1])
    with thread_count(threads):
        runner = engine_class(workload, X[:256], y[:256], threads)
        runner.predict(rows)
        runner.predict(one)
        batch = []
        for _ in range(7):
            started = time.perf_counter()
            runner.predict(rows)
            batch.append(time.perf_counter() - started)
        single = np.empty(INFERENCE_CALLS)
        for i in range(INFERENCE_CALLS):
            started = time.perf_counter()
            runner.predict(one)
            single[i] = time.perf_counter() - started
    return {
        "examples_per_second": INFERENCE_ROWS / float(np.median(batch)),
        "one_example_us": float(np.median(single)) * 1e6,
        "one_example_p90_us": float(np.percentile(single, 90)) * 1e6,
    }


_INFERENCE_SCRIPT = """
import json, sys
from jitprop.cli.bench_inference import inference
from jitprop.cli.bench_workloads import WORKLOADS
print(json.dumps(inference(WORKLOADS[sys.argv[1]], sys.argv[2], int(sys.argv[3]))))
"""


def inference_in_processes(workload, threads, rounds, engines=INFERENCE_ENGINES, log=print):
    """:func:`inference` of each engine in a fresh process of its own, alternating, ``rounds`` times.

    Peers' processes run without :data:`~.bench_timing.PEER_UNSET`. Returns, for each
    engine that is installed, every round's figures and their medians.
    """
    names = [name for name in engines if installed(name)]
    rounds_ = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names:
            log(f"… inference on {workload.name}'s network, round {round_ + 1}/{rounds}: {name}")
            arguments = (workload.name, name, str(threads))
            rounds_[name].append(json_from_process(_INFERENCE_SCRIPT, arguments, name, f"{name}'s prediction"))
    report = {"workload": workload.name, "threads": threads, "rounds": rounds, "engines": {}}
    for name, figures in rounds_.items():
        report["engines"][name] = {
            "rounds": figures,
            **{key: float(np.median([f[key] for f in figures])) for key in figures[0]},
        }
    return report


def format_inference(report):
    """The lines of an :func:`inference_in_processes` report."""
    lines = [
        f"prediction through {report['workload']}'s network, {report['threads']} threads, each engine in its own "
        f"process, medians of {report['rounds']} rounds:",
        f"{'engine':<10} {'examples/s':>12} {'one example':>12} {'p90':>9}",
    ]
    for name, entry in report["engines"].items():
        lines.append(
            f"{name:<10} {entry['examples_per_second']:>12,.0f} {entry['one_example_us']:>9.1f} µs "
            f"{entry['one_example_p90_us']:>6.1f} µs"
        )
    return "\n".join(lines)
