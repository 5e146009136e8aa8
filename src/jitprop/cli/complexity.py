"""``jitprop complexity``: the cost model of a network, or the experiment that measures it.

With ``--network`` it prints what :func:`jitprop.complexity.costs` counts for
one network (and with ``--calibrate`` the times this machine's throughput
predicts); otherwise it runs :func:`jitprop.complexity.measure` and prints
(and plots) its results.
"""

import json
import sys
from pathlib import Path

from ..complexity import calibrate, costs, format_results, measure, plot, summary
from ..complexity.experiment import relu_network


def register(commands, common):
    """Add the ``complexity`` command to the ``jitprop`` parser."""
    command = commands.add_parser(
        "complexity",
        parents=[common],
        help="what training by back-propagation costs: the cost model and measurements on this machine",
        description=(
            "Measure how training time scales with parameters, examples and epochs, the backward/forward "
            "ratio and inference against training, and compare with the FLOP model. With --network, print "
            "the cost model of one network instead."
        ),
    )
    add = command.add_argument
    add("--quick", action="store_true", help="a smaller run (under 15 s)")
    add("--repeats", type=int, default=None, help="timings per point (default 5, quick 2)")
    add("--statistic", choices=["median", "min"], default="median", help="how repeats become a time (median)")
    add("--threads", type=int, default=None, help="Numba threads while measuring (default: all)")
    add(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall: elapsed time (default); cpu: CPU time of the one working thread, "
        "which other processes cannot inflate (implies --threads 1)",
    )
    add("--seed", type=int, default=0)
    add("--json", action="store_true", help="print the results as one JSON object")
    add("--plot", metavar="FILE.png", help="draw the scaling plots (needs matplotlib)")
    add("--network", metavar="SIZES", help="print the cost model of this network instead, e.g. 784,256,256,10")
    add("--examples", type=int, default=60000, help="with --network: examples per epoch (60000)")
    add("--epochs", type=int, default=10, help="with --network: epochs (10)")
    add("--batch-size", type=int, default=128, help="with --network: batch size (128)")
    add("--calibrate", action="store_true", help="with --network: measure GFLOP/s and predict times")
    command.set_defaults(run=run)


def run(args):
    """Run ``jitprop complexity`` with parsed arguments; returns the exit code."""
    if args.network:
        return _model_only(args)
    if args.plot:  # fail before a minute of measuring, not after
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise ValueError("--plot needs matplotlib: pip install 'jitprop[plot]'.") from None
        folder = Path(args.plot).resolve().parent
        if not folder.is_dir():
            raise ValueError(f"--plot {args.plot}: the folder {folder} does not exist.")

    def progress(message):
        print(f"[complexity] {message}", file=sys.stderr, flush=True)

    results = measure(
        quick=args.quick,
        repeats=args.repeats,
        seed=args.seed,
        statistic=args.statistic,
        progress=progress,
        threads=args.threads,
        clock=args.clock,
    )
    if args.plot:
        plot(results, args.plot)
        results["plot"] = str(args.plot)
    if args.json:
        print(json.dumps(results))
    else:
        print(format_results(results))
        if args.plot:
            print(f"plot: {args.plot}")
    return 0


def _model_only(args):
    try:
        sizes = [int(s) for s in args.network.replace("-", ",").split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--network must be widths separated by commas, e.g. 784,256,10; got {args.network!r}.")
    net = relu_network(sizes, "float32", args.seed)
    cost = costs(net, args.batch_size)
    report = cost.as_dict()
    flops = cost.training_flops(args.examples, args.epochs)
    report["training"] = {
        "examples": args.examples,
        "epochs": args.epochs,
        "flops": flops,
        "inference_flops": cost.predict_flops(args.examples),
    }
    if args.calibrate:
        cal = calibrate(repeats=args.repeats or 3, seed=args.seed, threads=args.threads, clock=args.clock)
        report["calibration"] = cal
        speed = cal["flops_per_second"]
        report["training"]["predicted_seconds"] = flops / speed
        report["training"]["predicted_inference_seconds"] = cost.predict_flops(args.examples) / speed
    if args.json:
        print(json.dumps(report))
        return 0
    print(summary(net, args.batch_size))
    print(
        f"Training {args.epochs} epochs of {args.examples:,} examples, batch {args.batch_size}: {flops:.3e} FLOPs; "
        f"inference of {args.examples:,}: {cost.predict_flops(args.examples):.3e} FLOPs"
    )
    if args.calibrate:
        t = report["training"]
        print(
            f"At {report['calibration']['gflops']:.1f} GFLOP/s (calibrated): training {t['predicted_seconds']:.2f} s, "
            f"inference {t['predicted_inference_seconds']:.3f} s"
        )
    return 0
