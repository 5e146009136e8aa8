"""What a ``fit`` call costs beyond its epochs (``jitprop bench --fit-call``).

Someone who calls ``fit(epochs=1)`` or ``partial_fit`` in a loop pays, on
every call, for what a fit does once: checking and converting the data,
finding the kernels it compiled before, making its plan and history. That
cost is measured as the difference between a call of one epoch and a tenth
of a call of ten, the two alternating in one process (pairs a few
milliseconds apart, so that a slow spell of the machine slows both), on a
workload's network and data; each round runs in a fresh process.
"""

import time

import numpy as np

from .._threading import thread_count
from .bench_engines import JitpropEngine
from .bench_timing import json_from_process

#: Pairs of calls (one epoch, then ten) that :func:`fit_call` times.
FIT_CALL_PAIRS = 200
#: Epochs of the longer call of each pair.
LONG_CALL_EPOCHS = 10


def fit_call(workload, threads, pairs=None):
    """The cost of a ``fit`` call beyond its epochs, in this process: medians over ``pairs`` pairs of calls.

    Returns
    -------
    dict
        ``beyond_epochs_us`` (the median over the pairs of one epoch's call
        less a tenth of ten epochs' call), ``one_epoch_call_us`` and
        ``epoch_us`` (a tenth of the ten epochs' call), medians.
    """
    pairs = FIT_CALL_PAIRS if pairs is None else pairs
    X, y = workload.data()
    with thread_count(threads):
        engine = JitpropEngine(workload, X, y, threads)

        def call(epochs):
            started = time.perf_counter()
            engine.net.fit(X, y, epochs=epochs, batch_size=workload.batch_size, optimizer=engine.optimizer, verbose=0)
            return time.perf_counter() - started

        call(1)
        call(LONG_CALL_EPOCHS)  # (warm: compiled, the workspace's memory mapped)
        one = np.empty(pairs)
        long = np.empty(pairs)
        for i in range(pairs):
            one[i] = call(1)
            long[i] = call(LONG_CALL_EPOCHS) / LONG_CALL_EPOCHS
    return {
        "beyond_epochs_us": float(np.median(one - long)) * 1e6,
        "one_epoch_call_us": float(np.median(one)) * 1e6,
        "epoch_us": float(np.median(long)) * 1e6,
    }


_FIT_CALL_SCRIPT = """
import json, sys
from jitprop.cli.bench_fit_call import fit_call
from jitprop.cli.bench_workloads import WORKLOADS
print(json.dumps(fit_call(WORKLOADS[sys.argv[1]], int(sys.argv[2]), int(sys.argv[3]))))
"""


def fit_call_in_processes(workload, threads, rounds, log=print, pairs=None):
    """:func:`fit_call` in ``rounds`` fresh processes, one after the other; every round's figures and their medians."""
    pairs = FIT_CALL_PAIRS if pairs is None else pairs
    figures = []
    for round_ in range(rounds):
        log(f"… a fit call's cost on {workload.name}, round {round_ + 1}/{rounds}")
        arguments = (workload.name, str(threads), str(pairs))
        figures.append(json_from_process(_FIT_CALL_SCRIPT, arguments, "jitprop", "jitprop's fit calls"))
    return {
        "workload": workload.name,
        "threads": threads,
        "pairs": pairs,
        "rounds": figures,
        **{key: float(np.median([f[key] for f in figures])) for key in figures[0]},
    }


def format_fit_call(report):
    """The lines of a :func:`fit_call_in_processes` report."""
    rounds = ", ".join(f"{f['beyond_epochs_us']:.1f}" for f in report["rounds"])
    return "\n".join(
        [
            f"a fit call on {report['workload']}, {report['threads']} threads: fit(epochs=1) against "
            f"fit(epochs={LONG_CALL_EPOCHS}) / {LONG_CALL_EPOCHS}, {report['pairs']} pairs a process, "
            f"medians of {len(report['rounds'])} processes:",
            f"beyond its epochs {report['beyond_epochs_us']:.1f} µs (rounds: {rounds} µs); "
            f"a call of one epoch {report['one_epoch_call_us']:.1f} µs, an epoch {report['epoch_us']:.1f} µs",
        ]
    )
