"""``jitprop bench``: jitprop and its peers on the same workloads, side by side.

The command runs every workload (:mod:`.bench_workloads`) with every
installed engine (:mod:`.bench_engines`), timed as :mod:`.bench_timing`
says, then measures the machine's limits (:mod:`.bench_limits`) and what a
first use costs (:mod:`.bench_first_use`); ``--inference`` times prediction
instead (:mod:`.bench_inference`), ``--fit-call`` what a ``fit`` call costs
beyond its epochs (:mod:`.bench_fit_call`). Its report is one JSON-compatible dict,
printed as tables (:func:`format_report`) or as JSON.
"""

import json
import sys

from .. import _checks
from .._machine import describe
from .._threading import thread_count
from .bench_engines import ENGINES, ENGINES_BY_NAME
from .bench_fit_call import fit_call_in_processes, format_fit_call
from .bench_first_use import first_cnn_fit, first_fit_and_memory, first_run, format_first_run
from .bench_inference import INFERENCE_ENGINES, format_inference, inference_in_processes
from .bench_limits import format_limits, matmul_kernels, single_thread_limit, thread_scaling
from .bench_timing import PROCESS_EPOCHS, compare_in_processes, compare_workload
from .bench_workloads import WORKLOADS

_ALL_WORKLOADS = ",".join(WORKLOADS)


def run_benchmark(
    workloads=tuple(WORKLOADS), threads=None, quick=False, repeats=None, log=print, engines=ENGINES, processes=False
):
    """Run the whole benchmark with ``threads`` Numba threads (default: as set); return one JSON-compatible dict.

    ``engines`` are the engine classes to run (default all); with
    ``processes``, each engine trains in processes of its own
    (:func:`~.bench_timing.compare_in_processes`, ``repeats`` rounds)
    instead of in this one.
    """
    with thread_count(threads):
        return _run(workloads, quick, repeats or (3 if quick else 5), log, engines, processes)


def _run(workloads, quick, repeats, log, engines=ENGINES, processes=False):
    import numba

    threads = numba.get_num_threads()
    report = {"machine": None, "versions": None, "workloads": []}  # the first two filled in at the end
    for name in workloads:
        log(f"… {name}")
        if processes:
            result = compare_in_processes(WORKLOADS[name], threads, repeats, quick, engines, log)
        else:
            result = compare_workload(WORKLOADS[name], threads, repeats, quick, engines)
        report["workloads"].append(result)
    log("… matrix-product kernels")
    report["matmul"] = matmul_kernels()
    scaled = [name for name in ("W1", "W3") if name in workloads]
    if scaled:
        log("… thread scaling")
        report["thread_scaling"] = [thread_scaling(WORKLOADS[name], repeats, quick) for name in scaled]
    if "W3" in workloads and any(engine.name == "jitprop" for engine in engines):
        report["single_thread_limit"] = single_thread_limit(WORKLOADS["W3"], repeats, quick, log)
    if "W1" in workloads:
        log("… first fit and peak memory")
        report.update(first_fit_and_memory(quick))
    if "W6" in workloads and any(engine.name == "jitprop" for engine in engines):
        log("… first CNN fit")
        report.update(first_cnn_fit())
    # Described after the runs, once Numba's threads have started and its threading layer is known.
    machine = describe(packages=("jitprop", "numba", "numpy", "torch", "jax", "scikit-learn"))
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
            ratio = f"{result['ratios'][name]:.2f}" if name in result["ratios"] else ""
            lines.append(
                f"{result['workload']:<8} {name:<13} {entry['examples_per_second']:>12,.0f} "
                f"{entry['gflops']:>8.1f} {ratio:>10}"
            )
        if "processes" in result:
            rounds = result["processes"]["rounds"]
            lines.append(f"{'':<8} note: each engine in its own process, {rounds} rounds (medians of rounds)")
        for note in result["notes"]:
            lines.append(f"{'':<8} note: {note}")
    lines += format_limits(report)
    if "first_fit_cold_seconds" in report:
        lines.append(
            f"first fit in a fresh process: {report['first_fit_cold_seconds']:.1f} s with a cold compile cache, "
            f"{report['first_fit_warm_seconds']:.2f} s with a warm one"
        )
        memory = ", ".join(f"{k} {v / 2**20:,.0f} MiB" for k, v in report["peak_memory_bytes"].items())
        lines.append(f"peak memory of a W1 fit ({report['w1_examples']:,} examples): {memory}")
    if "first_cnn_fit_cold_seconds" in report:
        lines.append(
            f"first W6 CNN fit in a fresh process: {report['first_cnn_fit_cold_seconds']:.1f} s with a cold "
            f"compile cache, {report['first_cnn_fit_warm_seconds']:.2f} s with a warm one"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------- command line
def register(commands, common):
    """Add the ``bench`` command to the ``jitprop`` parser."""
    parser = commands.add_parser(
        "bench", parents=[common], help="compare training speed with PyTorch, JAX, scikit-learn and NumPy"
    )
    parser.add_argument("--workloads", default=_ALL_WORKLOADS, help="comma-separated (default: all)")
    parser.add_argument(
        "--engines", default=",".join(e.name for e in ENGINES), help="comma-separated (default: all installed)"
    )
    parser.add_argument("--threads", type=int, default=None, help="threads for jitprop, PyTorch and JAX")
    parser.add_argument("--quick", action="store_true", help="smaller data sets and fewer epochs")
    parser.add_argument("--repeats", type=int, default=None, help="timed epochs per engine (default 5, quick 3)")
    parser.add_argument(
        "--processes",
        action="store_true",
        help=f"each engine in a fresh process per round ({PROCESS_EPOCHS} timed epochs each; --repeats: rounds)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument(
        "--first-run",
        type=int,
        metavar="ROUNDS",
        help="instead: time a first jitprop train and a first W1 fit with an empty compile cache, ROUNDS times",
    )
    parser.add_argument(
        "--inference",
        type=int,
        metavar="ROUNDS",
        help="instead: time prediction (10,000 examples, and one example) by jitprop, PyTorch and JAX, each in its "
        "own process, ROUNDS rounds, through W1's network (or the first of --workloads)",
    )
    parser.add_argument(
        "--fit-call",
        type=int,
        metavar="ROUNDS",
        help="instead: time what a jitprop fit call costs beyond its epochs (fit(epochs=1) against fit(epochs=10) / "
        "10), ROUNDS processes, on W2 (or the first of --workloads)",
    )
    parser.set_defaults(run=run)


def run(args):
    """Run ``jitprop bench`` with parsed ``args``; returns the exit status."""
    names = [name.strip() for name in args.workloads.split(",") if name.strip()]
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        raise ValueError(f"Unknown workload {unknown[0]!r}; expected some of {', '.join(WORKLOADS)}.")
    chosen = [name.strip() for name in args.engines.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in ENGINES_BY_NAME]
    if unknown:
        raise ValueError(f"Unknown engine {unknown[0]!r}; expected some of {', '.join(ENGINES_BY_NAME)}.")
    if args.first_run is not None:
        report = first_run(_checks.positive_int(args.first_run, "--first-run"))
        print(json.dumps(report, indent=1) if args.json else format_first_run(report))
        return 0
    log = (lambda message: print(message, file=sys.stderr)) if not args.json else (lambda message: None)

    def one(default):
        """The workload of a measure of one: the first of --workloads, else the measure's own."""
        return WORKLOADS[default if args.workloads == _ALL_WORKLOADS else names[0]]

    if args.inference is not None:
        rounds = _checks.positive_int(args.inference, "--inference")
        engines = [n for n in chosen if n in INFERENCE_ENGINES]
        report = inference_in_processes(one("W1"), _threads(args), rounds, engines, log)
        print(json.dumps(report, indent=1) if args.json else format_inference(report))
        return 0
    if args.fit_call is not None:
        rounds = _checks.positive_int(args.fit_call, "--fit-call")
        report = fit_call_in_processes(one("W2"), _threads(args), rounds, log)
        print(json.dumps(report, indent=1) if args.json else format_fit_call(report))
        return 0
    engines = tuple(ENGINES_BY_NAME[name] for name in chosen)
    report = run_benchmark(
        names, args.threads, args.quick, args.repeats, log, engines=engines, processes=args.processes
    )
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0


def _threads(args):
    """``--threads``, else Numba's thread count."""
    import numba

    return args.threads or numba.config.NUMBA_NUM_THREADS
